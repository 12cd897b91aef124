"""The journal of one instance, newest first, and restoring a server to an entry's state.

Each line is one command the console sent (or refused): when, who, from where, the
command and HAProxy's answer. The selected entry is shown in full below, with the
state of its target before and after. ``r`` computes the commands that bring that
server (or frontend) back to the state it had *before* the entry, from the entry's
``before`` and the values checked by :mod:`console.haproxy.validate`; the app sends
them through ``on_restore``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from console.haproxy.actions import (
    FRONTEND_KINDS,
    MAX_MAXCONN,
    RUNTIME_ONLY,
    SERVER_KINDS,
    read_scope,
)
from console.haproxy.actions_impact import MAX_WEIGHT, check_addr
from console.haproxy.errors import HAProxyError
from console.haproxy.model import normalize_status
from console.haproxy.validate import build_command, check_int, check_name, check_server_ref
from console.journal import read_entries
from console.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from console.cli import Target
    from console.haproxy.transport import RuntimeClient

log = logging.getLogger("haconsole.ui")

MAX_ROWS = 1000  # newest entries shown
RESTORE_KINDS = SERVER_KINDS | FRONTEND_KINDS
FRONTEND_OP = {"OPEN": "enable", "FULL": "enable", "PAUSED": "disable"}  # STOP: shut down
HEALTH_WORD = {"running": "up", "starting": "up", "stopping": "stopping", "stopped": "down"}
OnRestore = Callable[[list[str], str], Awaitable[None]]


class NoRestore(Exception):
    """No commands can be derived for this entry; the message says why."""


@dataclass
class Restore:
    target: str  # "be_web/web1" or "frontend fe_api"
    commands: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)  # action kinds the commands need
    changes: list[str] = field(default_factory=list)  # "weight 3 → 1"


def _parse(command: str) -> tuple[str, str, str] | None:
    """``(scope, name, aspect)`` of a server or frontend command, else None."""
    w = command.split()
    if len(w) >= 4 and w[:2] == ["set", "server"]:
        return "server", w[2], w[3]
    if len(w) == 3 and w[0] in ("enable", "disable") and w[1] in ("health", "agent"):
        return "server", w[2], "health_check" if w[1] == "health" else "agent_check"
    if len(w) >= 4 and w[0] == "set" and w[1] == "maxconn" and w[2] in ("server", "frontend"):
        return w[2], w[3], "maxconn"
    if len(w) == 4 and w[:3] == ["shutdown", "sessions", "server"]:
        return "server", w[3], "sessions"
    if len(w) == 3 and w[0] in ("enable", "disable", "shutdown") and w[1] == "frontend":
        return "frontend", w[2], "shutdown" if w[0] == "shutdown" else "status"
    return None


def scope_of(entry: Mapping[str, Any]) -> tuple[str, ...] | None:
    """What :func:`console.haproxy.actions.read_scope` reads for this entry's target."""
    parsed = _parse(str(entry.get("command") or ""))
    if parsed is None:
        return None
    scope, name, _ = parsed
    if scope == "server":
        return ("server", *check_server_ref(name))
    return ("frontend", check_name(name, "frontend name"))


def restore_commands(entry: Mapping[str, Any],
                     current: Mapping[str, Any] | None = None) -> Restore:
    """The commands that bring the entry's server or frontend back to its ``before``.

    With *current* (the state now, as ``read_scope`` gives it) only what differs is
    sent; without it, every value ``before`` has. Raises :class:`NoRestore`.
    """
    command = str(entry.get("command") or "")
    parsed = _parse(command)
    if parsed is None:
        raise NoRestore(f"{command!r} is not a server or frontend change: restore brings "
                        "back servers and frontends only (undo map, ACL and table changes "
                        "from the tables screen)")
    scope, name, aspect = parsed
    before = entry.get("before")
    if not isinstance(before, Mapping) or not before:
        raise NoRestore(f"the journal has no state before {command!r}, so there is nothing "
                        "to restore it to")
    if aspect == "sessions":
        raise NoRestore("cut sessions cannot be restored, and this command changed nothing else")
    if aspect == "shutdown":
        raise NoRestore("a shut down frontend comes back only with a reload or restart")
    if scope == "server":
        backend, server = check_server_ref(name)
        out = Restore(f"{backend}/{server}")
        _server(out, f"{backend}/{server}", aspect, before, current)
    else:
        name = check_name(name, "frontend name")
        out = Restore(f"frontend {name}")
        _frontend(out, name, before, current)
    if not out.commands:
        raise NoRestore(f"{out.target} is already as it was before this entry: nothing to send")
    return out


def _differs(key: str, before: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    return before.get(key) is not None and (current is None or current.get(key) != before[key])


def _add(out: Restore, kind: str, change: str, *words: str) -> None:
    out.commands.append(build_command(*words))
    out.kinds.add(kind)
    out.changes.append(change)


def _was(key: str, before: Mapping[str, Any], current: Mapping[str, Any] | None) -> str:
    now = "?" if current is None else current.get(key)
    return f"{key} {now} → {before.get(key)}"


def _server(out: Restore, ref: str, aspect: str, before: Mapping[str, Any],
            current: Mapping[str, Any] | None) -> None:
    # Weight and limits first, the admin state last: a server coming back to ready
    # takes traffic with the weight it had.
    if aspect == "addr" and before.get("addr") and (
            _differs("addr", before, current) or _differs("port", before, current)):
        words = ["set", "server", ref, "addr", check_addr(before["addr"])]
        if before.get("port"):
            words += ["port", str(check_int(before["port"], "port", 1, 65535))]
        _add(out, "server_addr", _was("addr", before, current), *words)
    if _differs("maxconn", before, current):
        _add(out, "server_maxconn", _was("maxconn", before, current), "set", "maxconn",
             "server", ref, str(check_int(before["maxconn"], "maxconn", 0, MAX_MAXCONN)))
    if _differs("weight", before, current):
        _add(out, "weight", _was("weight", before, current), "set", "server", ref, "weight",
             str(check_int(before["weight"], "weight", 0, MAX_WEIGHT)))
    for what, key, kind in (("health", "check", "health_check"),
                            ("agent", "agent", "agent_check")):
        if aspect == kind and before.get(key) in ("enabled", "disabled") \
                and _differs(key, before, current):
            _add(out, kind, _was(key, before, current), before[key][:-1], what, ref)
    if aspect == "health" and before.get("op_state") in HEALTH_WORD \
            and _differs("op_state", before, current):
        _add(out, "health", _was("op_state", before, current), "set", "server", ref,
             "health", HEALTH_WORD[before["op_state"]])
    if aspect == "agent" and _differs("agent_down", before, current):
        _add(out, "agent", _was("agent_down", before, current), "set", "server", ref, "agent",
             "down" if before["agent_down"] else "up")
    if before.get("admin_state") in ("ready", "drain", "maint") \
            and _differs("admin_state", before, current):
        _add(out, "server_state", _was("admin_state", before, current), "set", "server", ref,
             "state", before["admin_state"])


def _frontend(out: Restore, name: str, before: Mapping[str, Any],
              current: Mapping[str, Any] | None) -> None:
    if _differs("maxconn", before, current):
        _add(out, "frontend_maxconn", _was("maxconn", before, current), "set", "maxconn",
             "frontend", name, str(check_int(before["maxconn"], "maxconn", 0, MAX_MAXCONN)))
    op = FRONTEND_OP.get(normalize_status(str(before.get("status") or "")).kind)
    now = FRONTEND_OP.get(normalize_status(str((current or {}).get("status") or "")).kind)
    if op and (current is None or now != op):
        _add(out, "frontend", _was("status", before, current), op, "frontend", name)


def _brief(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_brief(v)}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)


def describe_entry(entry: Mapping[str, Any]) -> str:
    """The whole entry, as the detail pane shows it."""
    origin = entry.get("ssh_origin") or "local"
    lines = [f"{entry.get('time', '?')}  by {entry.get('user', '?')} from {origin}  "
             f"via {entry.get('via', '?')} {entry.get('socket') or ''}".rstrip(),
             f"command: {entry.get('command', '')}"]
    if entry.get("error"):
        lines.append(f"FAILED: {entry['error']}")
    else:
        lines.append("ok" + (f" — HAProxy said: {entry['answer']}" if entry.get("answer")
                             else " (no answer: success)"))
    before, after = entry.get("before"), entry.get("after")
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changed = [f"{k} {_brief(before.get(k))} → {_brief(after.get(k))}"
                   for k in before if k in after and before.get(k) != after.get(k)
                   and k not in ("scur", "qcur")]
        lines.append("changed: " + ("; ".join(changed) if changed else "nothing visible"))
    lines.append(f"before: {_brief(before) if before is not None else '(not recorded)'}")
    lines.append(f"after:  {_brief(after) if after is not None else '(not recorded)'}")
    return "\n".join(lines)


def _when(text: str) -> str:
    return f"{text[5:10]} {text[11:19]}" if len(text) >= 19 else text


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
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
            table.add_row(_when(str(e.get("time", ""))), _clip(who, 12),
                          _clip(e.get("command") or "", room - result_width),
                          _clip(result + (f": {said}" if said else ""), result_width), key=key)
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
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

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
        scope = scope_of(entry)
        if self.client is None or scope is None:
            return None
        try:
            now = await read_scope(self.client, scope)
        except HAProxyError as exc:
            self.notify(f"cannot read the state now ({exc}): every value is sent",
                        severity="warning", timeout=10)
            return None
        if scope[0] == "server" and now.get("status") is None and now.get("weight") is None:
            raise NoRestore(f"{'/'.join(scope[1:])} is not in HAProxy now")
        if scope[0] == "frontend" and not now:
            raise NoRestore(f"frontend {scope[1]} is not in HAProxy now")
        return now

    async def _restore(self, entry: Mapping[str, Any]) -> None:
        try:
            plan = restore_commands(entry, await self._current(entry))
        except (NoRestore, HAProxyError) as exc:
            self.notify(f"cannot restore: {exc}", severity="warning", timeout=15)
            return
        missing = plan.kinds - self.allowed
        if missing:
            self.notify(f"not allowed here: {', '.join(sorted(missing))}", severity="error")
            return
        when, command = str(entry.get("time", "?")), str(entry.get("command", ""))
        description = f"restore {plan.target} to its state before {when} ({command})"
        body = (f"Brings {plan.target} back to its state before {command!r} "
                f"({when}, by {entry.get('user', '?')}):\n"
                + "\n".join(f"  {c}" for c in plan.changes) + f"\n{RUNTIME_ONLY}")
        yes = await self.app.push_screen_wait(
            ConfirmScreen(f"Restore {plan.target}?", body, plan.commands))
        if not yes:
            self.notify("cancelled: nothing was sent")
            return
        assert self.on_restore is not None
        try:
            await self.on_restore(plan.commands, description)
        except Exception as exc:  # noqa: BLE001 - no traceback reaches the screen
            log.exception("restore")
            self.notify(f"restore failed: {exc}", severity="error", timeout=20)
        await self._load()
