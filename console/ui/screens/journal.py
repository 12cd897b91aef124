"""The journal of one instance, newest first, and restoring a server to an entry's state.

Each line is one command the console sent (or refused): when, who, from where, the
command and HAProxy's answer. The selected entry is shown in full below, with the
state of its target before and after. ``r`` computes the changes that bring that
server (or frontend) back to the state it had *before* the entry
(:mod:`console.haproxy.actions.restore`) and hands them to ``on_restore``: the app plans
them like any other change (impact, the name typed when dangerous), confirms and sends.
Every field shown comes from a file: control characters are shown escaped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from console.haproxy.actions import FRONTEND_KINDS, SERVER_KINDS, Action
from console.haproxy.actions.restore import NoRestore, current_state, restore_actions
from console.haproxy.errors import HAProxyError
from console.haproxy.journal import read_entries
from console.haproxy.safe_text import visible
from console.ui.plain import plain

if TYPE_CHECKING:
    from console.haproxy.transport import RuntimeClient
    from console.instance import Target

log = logging.getLogger("haconsole.ui")

MAX_ROWS = 1000  # newest entries shown
RESTORE_KINDS = SERVER_KINDS | FRONTEND_KINDS
# (changes, summary, what they bring back): plans, confirms and sends them
OnRestore = Callable[[list[Action], str, str], Awaitable[None]]


def _brief(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{visible(k)}={_brief(v)}" for k, v in value.items())
    return visible(json.dumps(value, ensure_ascii=False) if isinstance(value, list)
                   else str(value))


def describe_entry(entry: Mapping[str, Any]) -> str:
    """The whole entry, as the detail pane shows it."""
    v = {k: visible(entry.get(k) if entry.get(k) is not None else "")
         for k in ("time", "user", "ssh_origin", "via", "socket", "command", "error", "answer")}
    lines = [f"{v['time'] or '?'}  by {v['user'] or '?'} from {v['ssh_origin'] or 'local'}  "
             f"via {v['via'] or '?'} {v['socket']}".rstrip(),
             f"command: {v['command']}"]
    if entry.get("error"):
        lines.append(f"FAILED: {v['error']}")
    else:
        lines.append("ok" + (f" — HAProxy said: {v['answer']}" if entry.get("answer")
                             else " (no answer: success)"))
    before, after = entry.get("before"), entry.get("after")
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changed = [f"{visible(k)} {_brief(before.get(k))} → {_brief(after.get(k))}"
                   for k in before if k in after and before.get(k) != after.get(k)
                   and k not in ("scur", "qcur")]
        lines.append("changed: " + ("; ".join(changed) if changed else "nothing visible"))
    lines.append(f"before: {_brief(before) if before is not None else '(not recorded)'}")
    lines.append(f"after:  {_brief(after) if after is not None else '(not recorded)'}")
    return "\n".join(lines)


def _when(text: str) -> str:
    text = visible(text)
    return f"{text[5:10]} {text[11:19]}" if len(text) >= 19 else text


def _clip(text: str, width: int) -> str:
    text = visible(" ".join(str(text).split()))
    return text if len(text) <= width else text[:width - 1] + "…"


class JournalScreen(ModalScreen[None]):
    """The journal of *target*'s instance (a full screen; escape closes it).

    Restore is offered when *on_restore* is given and *allowed* has the server or
    frontend action kinds it needs; *client* (optional) reads the current state so
    that only what differs is sent.
    """

    DEFAULT_CSS = """
    JournalScreen { background: $background; layout: vertical; }
    JournalScreen #journal-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    JournalScreen #journal-notice { height: auto; padding: 0 1; color: $warning; }
    JournalScreen #journal-table { height: 1fr; }
    JournalScreen #journal-detail { height: 9; border-top: solid $panel; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="journal.close"),
        Binding("r", "restore", "Restore state before", id="journal.restore"),
        Binding("ctrl+r,f5", "reload", "Reload", id="journal.reload"),
    ]

    def __init__(self, target: Target, client: RuntimeClient | None, allowed: frozenset[str],
                 on_restore: OnRestore | None) -> None:
        super().__init__()
        self.target, self.client, self.on_restore = target, client, on_restore
        self.allowed = frozenset(allowed)
        self.entries: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Static(f"{self.target.name} — journal of changes, newest first",
                     id="journal-title", markup=False)
        yield Static(self.notice() or "", id="journal-notice", markup=False)
        yield DataTable(id="journal-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="journal-detail"):
            yield Static("", id="journal-entry", markup=False)
        yield Footer()

    def notice(self) -> str | None:
        """Why restore is not offered, or None."""
        if self.on_restore is None:
            return "Restore is not offered here (nothing to send it with)."
        if not self.allowed & RESTORE_KINDS:
            why = ("started with --read-only" if self.target.read_only
                   else "this socket's level does not allow server changes (admin is needed)")
            return f"Restore is not offered: {why}."
        return None

    def on_mount(self) -> None:
        self.query_one("#journal-notice").display = bool(self.notice())
        self.query_one(DataTable).focus()
        self.run_worker(self._load(), group="load", exclusive=True, exit_on_error=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "restore" or self.notice() is None

    async def _load(self) -> None:
        try:
            entries = await asyncio.to_thread(read_entries, self.target.name)
        except (OSError, HAProxyError) as exc:
            self.notify(f"cannot read the journal: {exc}", severity="error", timeout=15)
            return
        table = self.query_one(DataTable)
        keep = self.selected_key()
        table.clear(columns=True)
        self.entries = {}
        numbered = list(enumerate(entries))[::-1][:MAX_ROWS]
        # Fixed widths from the terminal's: no re-measuring of 1,000 rows, no jumping.
        room = max(44, self.size.width - 36)  # what time, who and the cell padding leave
        result_width = 10 if room < 60 else room // 3  # in full in the pane below
        for label, width in (("time", 14), ("who", 12), ("command", room - result_width),
                             ("result", result_width)):
            table.add_column(label, width=width)
        for i, e in numbered:
            key = str(i)
            self.entries[key] = e
            result = ("refused" if e.get("via") == "refused" else "FAILED") if e.get("error") \
                else "ok"
            said = e.get("error") or e.get("answer") or ""
            who = (e.get("user") or "?") + (f"@{e['ssh_origin']}" if e.get("ssh_origin") else "")
            table.add_row(plain(_when(str(e.get("time", "")))), plain(_clip(who, 12)),
                          plain(_clip(e.get("command") or "", room - result_width)),
                          plain(_clip(result + (f": {said}" if said else ""), result_width)),
                          key=key)
        if keep in self.entries:
            table.move_cursor(row=list(self.entries).index(keep))
        more = f" (the newest {MAX_ROWS} of {len(entries)})" if len(entries) > MAX_ROWS else ""
        self.query_one("#journal-title", Static).update(
            f"{self.target.name} — journal of changes, newest first: {len(entries)} "
            f"entries{more}")
        self._show_detail()

    def selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value

    def selected(self) -> dict[str, Any] | None:
        key = self.selected_key()
        return self.entries.get(key) if key is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        entry = self.selected()
        self.query_one("#journal-entry", Static).update(
            describe_entry(entry) if entry else "The journal of this instance is empty.")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self.run_worker(self._load(), group="load", exclusive=True, exit_on_error=False)

    def action_restore(self) -> None:
        entry = self.selected()
        if entry is None:
            self.notify("select an entry first", severity="warning")
            return
        self.run_worker(self._restore(entry), group="restore", exclusive=True,
                        exit_on_error=False)

    async def _current(self, entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if self.client is None:
            return None
        try:
            return await current_state(self.client, entry)
        except NoRestore:
            raise
        except HAProxyError as exc:
            self.notify(f"cannot read the state now ({exc}): every value is restored",
                        severity="warning", timeout=10)
            return None

    async def _restore(self, entry: Mapping[str, Any]) -> None:
        try:
            restore = restore_actions(entry, await self._current(entry))
        except HAProxyError as exc:
            self.notify(f"cannot restore: {exc}", severity="warning", timeout=15)
            return
        missing = restore.kinds - self.allowed
        if missing:
            self.notify(f"not allowed here: {', '.join(sorted(missing))}", severity="error")
            return
        when = visible(entry.get("time", "?"))
        command, user = visible(entry.get("command", "")), visible(entry.get("user", "?"))
        summary = f"restore {restore.target} to its state before {when} ({command})"
        intro = (f"Brings {restore.target} back to its state before {command!r} "
                 f"({when}, by {user}):\n" + "\n".join(f"  {c}" for c in restore.changes))
        assert self.on_restore is not None
        try:
            await self.on_restore(restore.actions, summary, intro)
        except Exception as exc:  # noqa: BLE001 - no traceback reaches the screen
            log.exception("restore")
            self.notify(f"restore failed: {exc}", severity="error", timeout=20)
        await self._load()
