"""Who: the top clients of an instance, and blocking one (``W`` on the main screen).

The rows merge, per client address, the stick tables keyed by address and what the
instance's ring holds (requests, errors), with the pattern files already blocking each
one (:mod:`console.haproxy.blocking`). ``b`` blocks the selected address at runtime
through the configuration's block rules, ``u`` unblocks it; both are plans confirmed
and sent through the main screen's change path (journaled). ``B`` also writes the
pattern files (atomic, history, journal), so a reload keeps the block. Everything
shown from HAProxy or the logs goes through :func:`~console.haproxy.safe_text.visible`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from console.haproxy import blocking
from console.haproxy.errors import HAProxyError
from console.haproxy.safe_text import visible
from console.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from console.haproxy.plans import Plan, Result
    from console.haproxy.transport import RuntimeClient
    from console.instance import Target

log = logging.getLogger("haconsole.ui")

MAX_ROWS = 500
# sends a plan: confirmed (with the intro), executed, journaled; None when not sent
Send = Callable[["Plan", str | None], Awaitable["Result | None"]]
COLUMNS = ("client", "req", "err", "err%", "req/s", "conn/s", "cur", "blocked by")


class ClientsScreen(ModalScreen[None]):
    """Top clients of one instance (a full screen; escape closes it)."""

    DEFAULT_CSS = """
    ClientsScreen { background: $background; layout: vertical; }
    ClientsScreen #clients-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    ClientsScreen #clients-status { height: auto; padding: 0 1; color: $text-muted; }
    ClientsScreen #clients-table { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="clients.close"),
        Binding("b", "block", "Block", id="clients.block"),
        Binding("B", "block_permanent", "Block permanently", id="clients.permanent"),
        Binding("u", "unblock", "Unblock", id="clients.unblock"),
        Binding("s", "sort", "Sort", id="clients.sort"),
        Binding("r", "reload", "Reload", id="clients.reload"),
    ]

    def __init__(self, client: RuntimeClient, target: Target, allowed: frozenset[str],
                 send: Send, *, reason: str | None = None) -> None:
        super().__init__()
        self.client, self.target, self.send, self.reason = client, target, send, reason
        self.allowed = frozenset(allowed)
        self.rows: list[blocking.ClientRow] = []
        self.sort = "requests"
        self.notes: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(f"{self.target.name} — top clients (stick tables and the ring)",
                     id="clients-title", markup=False)
        yield Static("loading…", id="clients-status", markup=False)
        yield DataTable(id="clients-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.query_one(DataTable).focus()
        self._work(self._load(), "load")

    def _work(self, coro: Coroutine[Any, Any, None], group: str) -> None:
        self.run_worker(self._guard(coro), group=group, exclusive=True, exit_on_error=False)

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except HAProxyError as exc:
            self.notify(visible(" ".join(str(exc).split())), severity="error", timeout=15)
        except Exception as exc:  # noqa: BLE001 - no traceback reaches the screen
            log.exception("clients screen")
            self.notify(f"internal error: {type(exc).__name__}: {visible(exc)} (details in "
                        "the log)", severity="error", timeout=20)

    # -- reading ----------------------------------------------------------------------------
    def _config(self) -> list[tuple[str, bytes]]:
        from console.config_set import files_of
        from console.haproxy.atomic import read_bytes

        if not self.target.config:
            return []
        return [(f, read_bytes(f)) for f in files_of(self.target)]

    async def _load(self) -> None:
        from console.haproxy.logs.config_formats import parser_or_auto
        from console.haproxy.tables import list_tables, show_table

        rows: dict[str, blocking.ClientRow] = {}
        notes: list[str] = []
        for t in await list_tables(self.client):
            if t.type not in ("ip", "ipv6"):
                continue
            if t.used > blocking.MAX_TABLE_ENTRIES:
                notes.append(f"table {t.name}: {t.used} entries, not read")
                continue
            _, entries = await show_table(self.client, t.name)
            blocking.add_table_entries(rows, t.name, entries)
        collector = getattr(self.app, "collector", None)
        if collector is not None and collector.windows.lines:
            # the console's own log windows: any source (ring, file, journald), no dump
            windows = collector.windows
            window = "mark" if windows.mark_at is not None else "15m"
            groups = list(windows.summary("client", window).groups)
            note: str | None = (f"logs: {collector.source}, "
                                + ("since the incident mark" if window == "mark"
                                   else "the last 15 minutes"))
        else:
            paths = list(getattr(self.target, "config_paths", None) or
                         ([self.target.config] if self.target.config else []))
            parser = await asyncio.to_thread(parser_or_auto, paths)
            groups, note = await blocking.ring_clients(self.client, parser)
        blocking.add_log_groups(rows, groups)
        if note:
            notes.append(note)
        ranked = blocking.sorted_rows(rows.values(), self.sort)[:MAX_ROWS]
        try:
            named = await asyncio.to_thread(self._config)
            files = await blocking.blocked_files(self.client, named) if named else []
            blocking.mark_blocked(ranked, files)
            if not named:
                notes.append("no configuration (-c): whether a client is blocked is unknown")
            elif not files:
                notes.append("no block rule: haconsole block --add-rule --frontend FE")
        except HAProxyError as exc:
            notes.append(f"blocked: unknown ({' '.join(str(exc).split())})")
        self.rows, self.notes = ranked, notes
        self._show()

    def _show(self) -> None:
        table = self.query_one(DataTable)
        key = self.selected()
        table.clear()
        for r in self.rows:
            t = r.table
            blocked = "?" if r.blocked is None else (", ".join(r.blocked) or "-")
            table.add_row(visible(r.addr), str(r.requests), str(r.errors), str(r.error_pct),
                          str(t.get("req_rate", "-")), str(t.get("conn_rate", "-")),
                          str(t.get("conn_cur", "-")), visible(blocked), key=r.addr)
        if key is not None:
            index = next((i for i, r in enumerate(self.rows) if r.addr == key), None)
            if index is not None:
                table.move_cursor(row=index)
        status = f"{len(self.rows)} clients, by {self.sort}"
        if self.reason:
            status += f"; changes not offered: {self.reason}"
        self.query_one("#clients-status", Static).update(
            "\n".join(visible(x) for x in [status, *self.notes]))

    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row].addr

    # -- actions ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("block", "block_permanent", "unblock"):
            need = "acl_add" if action != "unblock" else "acl_del"
            return need in self.allowed
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self._work(self._load(), "load")

    def action_sort(self) -> None:
        order = blocking.SORTS
        self.sort = order[(order.index(self.sort) + 1) % len(order)]
        self.rows = blocking.sorted_rows(self.rows, self.sort)
        self._show()

    def action_block(self) -> None:
        self._change(add=True, permanent=False)

    def action_block_permanent(self) -> None:
        self._change(add=True, permanent=True)

    def action_unblock(self) -> None:
        self._change(add=False, permanent=False)

    def _change(self, *, add: bool, permanent: bool) -> None:
        addr = self.selected()
        if addr is None:
            self.notify("select a client first", severity="warning")
            return
        self._work(self._change_flow(addr, add, permanent), "change")

    async def _change_flow(self, addr: str, add: bool, permanent: bool) -> None:
        named = await asyncio.to_thread(self._config)
        if not named:
            self.notify("blocking needs the configuration (-c): its deny rule says which "
                        "file to add to", severity="warning", timeout=10)
            return
        if permanent and getattr(self.target, "ssh", None):
            self.notify("B writes the pattern file on this machine, and this instance is "
                        "reached over SSH: run haconsole on the node for it (b works from "
                        "here)", severity="warning", timeout=12)
            return
        bp = await blocking.prepare_block(self.client, named, addr, add=add)
        writes: list[blocking.PatternRef] = []
        if permanent:
            for p in bp.refs:
                data = await asyncio.to_thread(blocking.read_pattern_file, p.path)
                _, done = blocking.edit_pattern_file(data, bp.addr, p.kind, add=add)
                if done.startswith(("added", "removed")):
                    writes.append(p)
        intro = "\n".join(bp.notes + [f"then writes {p.path} (atomic; its previous "
                                      "content kept in its history)" for p in writes])
        if bp.plan is None and not writes:
            self.notify(visible("nothing to do: " + ("; ".join(bp.notes) or addr)),
                        timeout=10)
            return
        if bp.plan is not None:
            result = await self.send(bp.plan, intro or None)
            if result is None or not result.ok:
                return
        elif not await self.app.push_screen_wait(ConfirmScreen(
                f"Make the block of {bp.addr} permanent?", intro)):
            self.notify("cancelled: nothing was written")
            return
        for p in writes:
            change = await asyncio.to_thread(
                blocking.write_pattern_file, p.path, bp.addr, p.kind, add=add,
                target=self.target, message=f"console: block {bp.addr}")
            self.notify(visible(f"{p.path}: {bp.addr} {change.done}"
                                + (f" (history version {change.version})"
                                   if change.version else "")), timeout=10)
        await self._load()
