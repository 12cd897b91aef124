"""The Drift view: what runs differs from what the config file says."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.haproxy import drift
from console.haproxy.drift import DriftItem
from console.haproxy.errors import HAProxyError
from console.haproxy.safe_text import visible
from console.haproxy.transport import RuntimeClient
from console.ui.plain import plain

if TYPE_CHECKING:
    from console.instance import Target


async def read_drift(target: Target) -> list[DriftItem]:
    """The drift of *target* (:func:`console.haproxy.drift.read_drift`), or why not."""
    if not target.socket:
        raise HAProxyError("the Drift view needs the stats socket", hint="give -s SOCKET")
    if target.remote_config_note:
        raise HAProxyError("the Drift view needs the config file: "
                           + target.remote_config_note)
    if not target.config:
        raise HAProxyError("the Drift view needs the config file",
                           hint="give -c FILE (or let discovery find it)")
    from console.config_set import files_of

    return await drift.read_drift(RuntimeClient(target.socket), files_of(target))


class DriftScreen(Screen[None]):
    DEFAULT_CSS = """
    DriftScreen #title { height: auto; padding: 0 1; background: $panel; }
    DriftScreen DataTable { height: 1fr; }
    DriftScreen #detail { height: auto; padding: 0 1; border-top: solid $panel; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="drift.close"),
        Binding("r", "revert", "Revert to config", id="drift.revert"),
        Binding("p", "permanent", "Make permanent", id="drift.permanent"),
        Binding("R", "revert_all", "Revert all", id="drift.revert_all"),
        Binding("f5,g", "reload", "Re-read", id="drift.reload"),
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.items: list[DriftItem] = []

    def compose(self) -> ComposeResult:
        yield Static("Drift: running state vs the config file", id="title", markup=False)
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("server", "what", "runtime", "file", "")
        self.load()

    @work(exclusive=True, group="drift", exit_on_error=False)
    async def load(self, resync: bool = False) -> None:
        """Read the drift again (*resync*: a node's files copied again over ssh first)."""
        title = self.query_one("#title", Static)
        try:
            if resync and self.target.files is not None:
                from console.instance import resync_files

                title.update(f"Drift: reading {self.target.name}'s configuration over ssh…")
                await asyncio.to_thread(resync_files, self.target)
            self.items = await read_drift(self.target)
        except HAProxyError as exc:
            title.update(visible(self.target.shown_text(f"Drift: {exc}")))
            return
        table = self.query_one(DataTable)
        table.clear()
        for n, item in enumerate(self.items):
            table.add_row(plain(item.ref), item.kind.replace("_", " "), plain(item.runtime),
                          plain(item.config), plain(item.note[:40]), key=str(n))
        count = len(self.items)
        title.update(
            f"Drift: {count} difference{'s' if count != 1 else ''} between the running state "
            f"and {self.shown_files}. Runtime changes are lost at reload or restart."
            if count else
            f"No drift: the running servers match {self.shown_files}.")
        self._show_detail()

    @property
    def shown_files(self) -> str:
        """The configuration's file as the engineer knows it (``lb1:/etc/…``)."""
        return self.target.shown_path(self.target.config)

    def _current(self) -> DriftItem | None:
        table = self.query_one(DataTable)
        if not self.items or table.cursor_row is None or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    def _show_detail(self) -> None:
        item = self._current()
        detail = self.query_one("#detail", Static)
        if item is None:
            detail.update("")
            return
        from console.haproxy.config import describe_op

        revert = "; ".join(item.revert_commands) or "(not possible at runtime)"
        permanent = "; ".join(describe_op(op) for op in item.permanent_ops) or "(none)"
        detail.update("\n".join(visible(self.target.shown_text(line)) for line in (
            item.message, f"  r  revert to config: {revert}",
            f"  p  make permanent (staged, then F to review and apply): {permanent}",
            *([f"  note: {item.note}"] if item.note else []))))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self.load(resync=True)

    @work(group="drift-change", exit_on_error=False)
    async def action_revert(self) -> None:
        item = self._current()
        if item is None:
            return
        if not item.revert:
            self.notify(f"{item.ref}: no runtime command reverts this ({item.note})",
                        severity="warning")
            return
        result = await self.app.send_actions(  # type: ignore[attr-defined]
            item.revert, summary=f"revert {item.ref} to the config file")
        if result is not None:
            self.load()

    @work(group="drift-change", exit_on_error=False)
    async def action_revert_all(self) -> None:
        items = [item for item in self.items if item.revert]
        if not items:
            self.notify("nothing to revert at runtime")
            return
        # one plan for all: its impact is that of every revert together
        result = await self.app.send_actions(  # type: ignore[attr-defined]
            [a for item in items for a in item.revert],
            summary=f"revert {len(items)} difference{'s' if len(items) != 1 else ''} to the "
                    "config file")
        if result is not None:
            self.load()

    def action_permanent(self) -> None:
        item = self._current()
        if item is None:
            return
        if not item.permanent_ops:
            self.notify(f"{item.ref}: no config edit to stage ({visible(item.note)})",
                        severity="warning")
            return
        if not self.target.config or self.target.read_only:
            self.notify("read-only, or no config file known: nothing staged",
                        severity="warning")
            return
        self._stage_permanent(item.permanent_ops)

    @work(thread=True, group="drift-stage", exit_on_error=False)
    def _stage_permanent(self, ops: list[dict[str, Any]]) -> None:
        """Stage the edits on the file of the configuration that holds each line (the
        running HAProxy's binary and environment decide ``.if`` blocks, as on the CLI)."""
        from console.config_set import files_of, stage_op
        from console.haproxy.staging import Staging
        from console.instance import apply_target

        try:
            at = asyncio.run(apply_target(self.target))
            stagings = {f: Staging.load(f) for f in files_of(self.target)}
            staged = [stage_op(self.target, at, op, stagings) for op in ops]
        except HAProxyError as exc:
            self.app.call_from_thread(self.notify, visible(self.target.shown_text(
                f"not staged: {exc}")),
                                      severity="error", timeout=15)
            return
        where = ", ".join(sorted({self.target.shown_path(s.path) for s in staged}))
        summary = "; ".join(sorted({s.staging.summary() for s in staged}))
        self.app.call_from_thread(
            self.notify, visible(f"staged in the pending change of {where}: {summary} — "
                                 "press F to review, check and apply"), timeout=12)
