"""The sessions screen (``K``): the streams HAProxy serves (``show sess``), grouped, the
oldest first, to find the long-running and stuck ones (:mod:`console.haproxy.sessions`).

- The command depends on the version, as ``haconsole sessions`` sends it: ``older``
  from 2.9 (filtered here before), ``show-uri`` from 3.1.
- ``g`` cycles the grouping (backend, frontend, server, client); a group row gives its
  count and its oldest stream's age, its streams follow, the oldest first. Groups come
  the oldest first.
- ``o`` sets the "older than" threshold (``30s``, ``5m``; empty: every stream);
  ``r`` reads again; ``enter``/``d`` the detail of the selected stream.
- Opened on a backend or server of the main table, only its streams are listed (the
  status line says so); ``a`` shows all.
- ``k`` cuts the selected stream (``shutdown session``) through the console's one send
  path: planned, confirmed, sent, journaled. Offered at level admin, not read-only.

Bounded: the domain keeps the :data:`~console.haproxy.sessions.MAX_ROWS` oldest
streams (and counts every one); this screen lists at most :data:`MAX_SHOWN` of them.
Every text from HAProxy (a URI is the client's) goes through
:func:`~console.haproxy.safe_text.visible`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from console.haproxy.errors import HAProxyError, NoSuchObject, PermissionDenied
from console.haproxy.safe_text import visible
from console.haproxy.sessions import (
    GROUP_BY,
    Group,
    Session,
    Sessions,
    parse_older,
    parse_sessions,
    show_sess_command,
)
from console.ui.plain import plain
from console.ui.screens.help import HELP_BINDING
from console.ui.widgets.simple_table import add_columns

if TYPE_CHECKING:
    from console.haproxy.transport import RuntimeClient
    from console.instance import Target
    from console.ui.operations import Operations

log = logging.getLogger("haconsole.ui")

GROUPINGS = ("backend", "frontend", "server", "client")  # the order g cycles through
assert set(GROUPINGS) == set(GROUP_BY)
MAX_SHOWN = 2000  # stream rows in the table (the oldest)
COLUMNS = (("age", 6), ("count", 5), ("client", 21), ("backend/server", 20), ("id", 16),
           ("frontend", 12), ("uri", 0))
_GROUP_COLUMN = {"client": 2, "frontend": 5, "backend": 3, "server": 3}
NO_SOCKET = ("the streams are read over the stats socket (show sess), and this console "
             "has none: start it with -s SOCKET (or -i NAME), or run `haconsole sessions` "
             "from another terminal")


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


def _cut(text: str, width: int) -> str:
    return text if width <= 0 or len(text) <= width else text[:width - 1] + "…"


def filter_for_row(row: Any) -> tuple[str, str | None] | None:
    """``(backend, server)`` of a main-table server row, ``(backend, None)`` of a
    backend row; None for anything else."""
    if row is None:
        return None
    kind, proxy, name = getattr(row, "type", ""), getattr(row, "proxy", ""), \
        getattr(row, "name", "")
    if not proxy:
        return None
    if kind == "server" and name:
        return (proxy, name)
    if kind == "backend":
        return (proxy, None)
    return None


def stream_cells(s: Session) -> list[Text]:
    route = "/".join(x for x in (s.backend, s.server) if x) or "-"
    values = [age_text(s.age), "", s.client or "?", route, s.id, s.frontend or "?",
              s.uri or ""]
    return [plain(_cut(visible(v), width or 400)) for (_, width), v in zip(COLUMNS, values,
                                                                          strict=True)]


def group_cells(g: Group, by: str) -> list[Text]:
    values = [age_text(g.oldest), str(g.count), "", "", "", "", ""]
    col = _GROUP_COLUMN[by]
    values[col] = g.key
    return [plain(_cut(visible(v), width or 400), "bold")
            for (_, width), v in zip(COLUMNS, values, strict=True)]


def describe(s: Session) -> str:
    route = "/".join(x for x in (s.backend, s.server) if x) or "no backend yet"
    lines = [visible(f"stream {s.id} — client {s.client or '?'} ({s.proto or '?'})"),
             visible(f"frontend {s.frontend or '?'} → {route}"),
             f"age {age_text(s.age)}"
             + (f"; calls {s.calls}" if s.calls is not None else "")
             + (f"; cpu {s.cpu}" if s.cpu is not None else "")
             + (f"; lat {s.lat}" if s.lat is not None else "")
             + (f"; exp={visible(s.expires)}" if s.expires else "")]
    if s.uri is not None:
        lines.append(f"URI: {visible(s.uri)}")
    lines.append("k cuts this stream (shutdown session)")
    return "\n".join(lines)


def describe_group(g: Group, by: str) -> str:
    return (f"{by} {visible(g.key)}: {g.count} stream{'' if g.count == 1 else 's'}; "
            f"the oldest is {age_text(g.oldest)} old ({g.oldest_id or '-'})")


def _oldest_first(g: Group) -> tuple[float, int, str]:
    return (-(g.oldest or 0.0), -g.count, g.key)


def regroup(rows: list[Session], by: str) -> list[Group]:
    """The groups of *rows* by *by*, the oldest first."""
    groups: dict[str, Group] = {}
    for s in rows:
        k = s.key(by)
        g = groups.get(k)
        if g is None:
            g = groups[k] = Group(k)
        g.add(s)
    return sorted(groups.values(), key=_oldest_first)


class SessionsScreen(ModalScreen[None]):
    """The streams of *target* (a full screen; escape closes it).

    *client*: the stats socket (None: the screen says why nothing is shown);
    *operations*: the main screen's send path (None: ``k`` is not offered);
    *only*: ``(backend, server or None)`` to list only its streams at first;
    *level*, *read_only*: the socket's level and the console's read-only flag, for
    saying why ``k`` is refused.
    """

    DEFAULT_CSS = """
    SessionsScreen { background: $background; layout: vertical; }
    SessionsScreen #sessions-title { height: 1; padding: 0 1; text-style: bold;
                                     background: $panel; }
    SessionsScreen #sessions-status { height: auto; max-height: 2; padding: 0 1; }
    SessionsScreen #sessions-message { height: auto; padding: 0 1; color: $warning;
                                       display: none; }
    SessionsScreen #sessions-message.error { color: $error; text-style: bold; }
    SessionsScreen #sessions-older { display: none; }
    SessionsScreen #sessions-older.visible { display: block; }
    SessionsScreen #sessions-older-error { height: auto; padding: 0 1; color: $error;
                                           display: none; }
    SessionsScreen #sessions-table { height: 1fr; }
    SessionsScreen #sessions-detail { height: 7; border-top: solid $panel; padding: 0 1; }
    """
    BINDINGS = [
        HELP_BINDING,  # a modal screen: the app's keys do not reach it
        Binding("escape", "back", "Back", id="sessions.close"),
        Binding("r", "refresh", "Refresh", tooltip="Read show sess again",
                id="sessions.refresh"),
        Binding("g", "group", "Group", tooltip="Group by backend, frontend, server, client",
                id="sessions.group"),
        Binding("o", "older", "Older than", tooltip="Only streams at least this old (30s)",
                id="sessions.older"),
        Binding("a", "all", "All", tooltip="Every stream, not only the selected server's "
                "or backend's", id="sessions.all"),
        Binding("k", "kill", "Cut stream", tooltip="shutdown session: close the selected "
                "stream's connection (level admin; confirmed, journaled)",
                id="sessions.shutdown"),
        Binding("d", "toggle_detail", "Detail pane", show=False, id="sessions.detail"),
    ]
    HELP_KEYS = (("tab", "into the detail pane (and back)"),
                 ("g", "group by backend → frontend → server → client"),
                 ("o", "only streams at least this old: 30s, 5m, 1h; empty: all"),
                 ("a", "every stream (opened on a server or backend: only its streams)"),
                 ("k", "cut the selected stream: shutdown session (level admin, not "
                  "read-only; confirmed and journaled)"))

    def __init__(self, target: Target | None, client: RuntimeClient | None, *,
                 operations: Operations | None = None,
                 only: tuple[str, str | None] | None = None,
                 level: str | None = None, read_only: bool = False,
                 version: str | None = None) -> None:
        super().__init__()
        self.target, self.client, self.operations = target, client, operations
        self.only = only
        self.level, self.read_only = level, read_only
        self.version = version
        self.by = "backend"
        self.older: float | None = None
        self.older_text = ""
        self.result: Sessions | None = None
        self.command = ""
        self.state = "starting"  # reading, shown, failed
        self.message = ""
        self.rows: dict[str, Session | Group] = {}
        self.reads = 0  # answers shown so far
        self.read_at = ""  # when the answer shown was read (the ages are as of then)
        self.empty_said = False  # the message says there is no stream

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        name = visible(self.target.name) if self.target is not None else "HAProxy"
        yield Static(f"{name} — streams (show sess)", id="sessions-title", markup=False)
        yield Static("reading…", id="sessions-status", markup=False)
        yield Static("", id="sessions-message", markup=False)
        yield Input(placeholder="older than: 30s, 5m, 1h (no unit: seconds; empty: every "
                    "stream) — enter: apply, escape: cancel", id="sessions-older")
        yield Static("", id="sessions-older-error", markup=False)
        yield DataTable(id="sessions-table", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="sessions-detail"):
            yield Static("", id="sessions-entry", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sessions-table", DataTable)
        add_columns(table, COLUMNS)
        table.focus()
        self.action_refresh()

    # -- reading ----------------------------------------------------------------------------
    def action_refresh(self) -> None:
        if self.client is None:
            self._fail(NO_SOCKET)
            return
        self.state = "reading"
        self.run_worker(self._read(), group="sessions-read", exclusive=True,
                        exit_on_error=False)

    async def _read(self) -> None:
        from console.haproxy.actions import haproxy_version

        assert self.client is not None
        try:
            if self.version is None:
                self.version = await haproxy_version(self.client)
            command = show_sess_command(self.version, self.older)
            result = parse_sessions(await self.client.run(command), older=self.older)
        except PermissionDenied:
            self._fail("permission denied: 'show sess' needs a stats socket at level "
                       "operator or admin")
            return
        except HAProxyError as exc:
            self._fail(f"cannot read the streams: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - said on screen, logged in full
            log.exception("reading show sess")
            self._fail(f"cannot read the streams: internal error {type(exc).__name__}: "
                       f"{exc} (the log has the details)")
            return
        self.command = command
        self.read_at = time.strftime("%H:%M:%S")
        self.show(result)

    def _fail(self, message: str) -> None:
        self.state = "failed"
        self._say(message, error=True)
        self.query_one("#sessions-status", Static).update("not read")

    def _say(self, message: str, *, error: bool = False) -> None:
        self.message = visible(message)
        self.empty_said = False
        box = self.query_one("#sessions-message", Static)
        box.update(self.message)
        box.set_class(error, "error")
        box.display = bool(message)

    # -- the view ---------------------------------------------------------------------------
    def _rows(self) -> list[Session]:
        rows = self.result.rows if self.result is not None else []
        if self.only is not None:
            backend, server = self.only
            rows = [s for s in rows if s.backend == backend
                    and (server is None or s.server == server)]
        return rows

    def show(self, result: Sessions) -> None:
        """Show *result* (what ``show sess`` answered, parsed)."""
        self.result = result
        self.state = "shown"
        self.reads += 1
        if self.query_one("#sessions-message").has_class("error"):
            self._say("")  # a failed read before: this one worked
        self._rebuild()

    def _rebuild(self) -> None:
        table = self.query_one("#sessions-table", DataTable)
        old_key = self._cursor_key()
        old_row = table.cursor_row if table.row_count else 0
        table.clear()
        self.rows.clear()
        rows = self._rows()
        if self.only is None and self.result is not None:
            # every stream counted, those past MAX_ROWS included
            groups = sorted(self.result.groups.get(self.by, {}).values(), key=_oldest_first)
        else:
            groups = regroup(rows, self.by)
        members: dict[str, list[Session]] = {}
        for s in rows:  # the oldest first already
            members.setdefault(s.key(self.by), []).append(s)
        budget, listed, listed_groups = MAX_SHOWN, 0, 0
        for n, g in enumerate(groups):
            if budget <= 0:
                break
            key = f"g{n}"
            self.rows[key] = g
            table.add_row(*group_cells(g, self.by), key=key)
            budget -= 1
            listed_groups += 1
            for s in members.get(g.key, [])[:budget]:
                skey = f"s{s.id}"
                if skey in self.rows:
                    continue
                self.rows[skey] = s
                table.add_row(*stream_cells(s), key=skey)
                budget -= 1
                listed += 1
        self._show_status(len(rows), listed, len(groups), listed_groups)
        if table.row_count:
            row = min(old_row, table.row_count - 1)  # the row is gone: the one after
            if old_key is not None and old_key in self.rows:
                row = table.get_row_index(old_key)
            table.move_cursor(row=row, animate=False)
            if self.empty_said:
                self._say("")
        elif self.result is not None and (not self.message or self.empty_said):
            self._say(self._empty_text())
            self.empty_said = True
        self._show_detail()

    def _empty_text(self) -> str:
        where = f" on {self._only_text()}" if self.only is not None else ""
        if self.older is not None:
            return (f"no stream at least {visible(self.older_text)} old{where} (o changes "
                    "the threshold)")
        return f"no stream{where}: nothing is being served right now"

    def _only_text(self) -> str:
        if self.only is None:
            return ""
        backend, server = self.only
        return visible(f"server {backend}/{server}" if server else f"backend {backend}")

    def _show_status(self, matching: int, shown: int, groups: int, groups_shown: int
                     ) -> None:
        result = self.result
        if result is None:
            return
        parts = [f"{result.total} stream{'' if result.total == 1 else 's'}"
                 + (f" at least {visible(self.older_text)} old" if self.older is not None
                    else "")]
        if self.only is not None:
            parts.append(f"only {self._only_text()}: {matching} (a: all)")
        parts.append(f"{groups} group{'' if groups == 1 else 's'} by {self.by}")
        if result.left_out:
            parts.append(f"capped: the {len(result.rows)} oldest kept, {result.left_out} "
                         "left out")
        if shown < matching or groups_shown < groups:
            parts.append(f"listed: {shown} streams, {groups_shown} of {groups} groups (the "
                         "oldest)")
        if result.unparsed:
            parts.append(f"{result.unparsed} not read")
        parts.append(visible(self.command) + (f" at {self.read_at}" if self.read_at else "")
                     + " (r: again)")
        self.query_one("#sessions-status", Static).update(" · ".join(parts))

    @property
    def status_text(self) -> str:
        return str(self.query_one("#sessions-status", Static).render())

    @property
    def message_text(self) -> str:
        box = self.query_one("#sessions-message", Static)
        return str(box.render()) if box.display else ""

    @property
    def detail_text(self) -> str:
        pane = self.query_one("#sessions-detail")
        return str(self.query_one("#sessions-entry", Static).render()) if pane.display else ""

    def shown_streams(self) -> list[Session]:
        return [r for r in self.rows.values() if isinstance(r, Session)]

    def shown_groups(self) -> list[Group]:
        return [r for r in self.rows.values() if isinstance(r, Group)]

    # -- keys -------------------------------------------------------------------------------
    def action_group(self) -> None:
        self.by = GROUPINGS[(GROUPINGS.index(self.by) + 1) % len(GROUPINGS)]
        self._rebuild()

    def action_all(self) -> None:
        if self.only is None:
            self.notify("already listing every stream")
            return
        self.only = None
        self._say("")
        self._rebuild()

    def action_older(self) -> None:
        box = self.query_one("#sessions-older", Input)
        box.value = self.older_text
        box.add_class("visible")
        self.set_focus(box)

    def set_older(self, text: str) -> str | None:
        """Apply the threshold *text* (empty: none) and read again; the mistake in
        words, or None."""
        text = text.strip()
        error = self.query_one("#sessions-older-error", Static)
        if text:
            try:
                older: float | None = parse_older(text)
            except HAProxyError as exc:
                words = visible(str(exc))
                error.update(words)
                error.display = True
                return words
        else:
            older = None
        error.display = False
        self.older, self.older_text = older, text
        self._say("")
        self.action_refresh()
        return None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "sessions-older":
            return
        event.stop()
        if self.set_older(event.value) is None:
            self._close_older_box()

    def _close_older_box(self) -> None:
        self.query_one("#sessions-older", Input).remove_class("visible")
        self.query_one("#sessions-older-error", Static).display = False
        self.query_one("#sessions-table", DataTable).focus()

    # -- the selection ----------------------------------------------------------------------
    def _cursor_key(self) -> str | None:
        table = self.query_one("#sessions-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return str(key) if key is not None else None

    def selected(self) -> Session | Group | None:
        key = self._cursor_key()
        return self.rows.get(key) if key is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_toggle_detail(True)

    def action_toggle_detail(self, show: bool | None = None) -> None:
        pane = self.query_one("#sessions-detail")
        pane.display = (not pane.display) if show is None else show
        self._show_detail()

    def _show_detail(self) -> None:
        pane = self.query_one("#sessions-detail")
        if not pane.display:
            return
        row = self.selected()
        entry = self.query_one("#sessions-entry", Static)
        if isinstance(row, Session):
            entry.update(describe(row))
        elif isinstance(row, Group):
            entry.update(describe_group(row, self.by))
        else:
            entry.update("No stream selected.")

    # -- cutting a stream -------------------------------------------------------------------
    def refusal(self) -> str | None:
        """Why ``k`` is not offered here, or None."""
        if self.client is None:
            return "no stats socket"
        if self.read_only:
            return "the console is read-only (--read-only)"
        if self.level != "admin":
            return (f"the stats socket is at level {self.level or 'unknown'}: cutting a "
                    "stream needs level admin")
        if self.operations is None:
            return "no send path"
        return None

    def action_kill(self) -> None:
        why = self.refusal()
        if why is not None:
            self._say(f"cannot cut a stream: {why}", error=True)
            self.notify(f"cannot cut a stream: {why}", severity="warning")
            return
        row = self.selected()
        if not isinstance(row, Session):
            self.notify("select a stream (not a group row) to cut it", severity="warning")
            return
        self.run_worker(self._kill(row.id), group="sessions-kill", exclusive=True,
                        exit_on_error=False)

    async def _kill(self, sid: str) -> None:
        from console.haproxy import actions as act

        assert self.operations is not None
        client = self.client

        async def about(_client: Any) -> Mapping[str, Any] | None:
            assert client is not None
            command = show_sess_command(self.version, None)
            result = parse_sessions(await client.run(command))
            found = next((s for s in result.rows if s.id == sid), None)
            if found is None and not result.left_out:
                raise NoSuchObject(f"no stream {sid}: it may have ended already",
                                   hint="r reads the streams again")
            return found.to_json() if found else None

        action = act.Action("session_shutdown", (), {"id": sid})
        result = await self.operations.send_actions([action], record_undo=False, about=about)
        if result is not None:
            if result.ok:
                self._say(f"stream {sid} cut (journaled)")
            else:
                self._say(f"cutting stream {sid} failed: {result.error}", error=True)
        self.action_refresh()

    def action_back(self) -> None:
        box = self.query_one("#sessions-older", Input)
        if box.has_focus or box.has_class("visible"):
            self._close_older_box()
            return
        self.dismiss(None)
