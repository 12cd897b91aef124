"""The saved versions of the configuration file, and the return to one of them.

Each apply keeps the file as it was and the file it wrote as numbered versions
(:mod:`console.haproxy.history_store`). ``r`` stages the change back to the
selected version; it is then reviewed and applied like any other change.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.haproxy import history_store as hist
from console.haproxy.errors import HAProxyError
from console.haproxy.safe_text import visible
from console.haproxy.shared_state import describe_marker, others_staged
from console.haproxy.staging import hunks_of
from console.ui.plain import plain
from console.ui.widgets.diffview import DiffView

if TYPE_CHECKING:
    from console.haproxy.apply_steps import ApplyTarget
    from console.instance import Target


class ConfigHistoryScreen(Screen[bool]):
    """Versions, newest first, with the selected one's diff; dismissed with True on ``r``."""

    DEFAULT_CSS = """
    ConfigHistoryScreen { layout: vertical; }
    ConfigHistoryScreen #history-title { height: 1; background: $panel; text-style: bold;
                                         padding: 0 1; }
    ConfigHistoryScreen #history-note { height: auto; padding: 0 1; color: $text-muted; }
    ConfigHistoryScreen DataTable { height: auto; max-height: 40%; }
    ConfigHistoryScreen DiffView { height: 1fr; border-top: solid $panel; }
    """
    BINDINGS = [
        Binding("r", "rollback", "Roll back to this", id="history.rollback"),
        Binding("tab", "switch_focus", "Versions/diff", show=False, id="history.focus"),
        Binding("escape", "back", "Back", id="history.back"),
    ]

    def __init__(self, target: Target, *, apply_target: ApplyTarget) -> None:
        super().__init__()
        self.target = target
        self.apply_target = apply_target
        self.versions: list[hist.Version] = []
        self.live: int | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"History · {self.target.shown_path(self.target.config)}",
                     id="history-title",
                     markup=False)
        yield Static("", id="history-note", markup=False)
        yield DataTable(id="history-versions", cursor_type="row", zebra_stripes=True)
        yield DiffView(id="history-diff", placeholder="Select a version to see its change.")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "ver", "when", "user", "status", "message")
        self._load()
        table.focus()

    def _load(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        note = self.query_one("#history-note", Static)
        if not self.target.config:
            note.update("No configuration file is known for this instance.")
            return
        try:
            versions, notes = hist.history_report(self.target.config)
            self.versions = list(reversed(versions))
            self.live = hist.live_version(self.target.config)
            notes += [describe_marker(m) for m in others_staged(self.target.config)]
            notes = [self.target.shown_text(n) for n in notes]
        except (HAProxyError, OSError) as exc:
            self.error = self.target.shown_text(str(exc))
            note.update(f"✖ {self.error}")
            return
        said = "".join(f"\n▲ {visible(n)}" for n in notes)
        if not self.versions:
            note.update("No versions kept yet: the first apply keeps the file as found." + said)
            return
        for v in self.versions:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.ts))
            user = (v.user or "?") + (f"@{v.ssh_origin}" if v.ssh_origin else "")
            table.add_row("*" if v.number == self.live else "", str(v.number), when,
                          plain(user), plain(v.status), plain(v.message), key=str(v.number))
        ro = "" if self.target.read_only else "; r stages the return to the selected version"
        note.update(f"* the live file{ro}.{said}")
        self._show(self.versions[0].number)

    def _show(self, number: int) -> None:
        diff = self.query_one(DiffView)
        config = str(self.target.config)
        try:
            text = hist.diff_version(config, number)
            version = hist.get_version(config, number)
            older = [v for v in self.versions if v.number < number]
            new = version.data()
            old = older[0].data() if older else b""
        except (HAProxyError, OSError) as exc:
            diff.show_hunks([], placeholder=self.target.shown_text(f"✖ {exc}"))
            return
        diff.show_hunks(hunks_of(text, old, new),
                        placeholder=f"Version {number} changed nothing in the text.")

    @property
    def selected(self) -> int | None:
        table = self.query_one(DataTable)
        if not self.versions or table.row_count == 0:
            return None
        return self.versions[min(table.cursor_row, len(self.versions) - 1)].number

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._show(int(event.row_key.value))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rollback":
            return not self.target.read_only and bool(self.versions)
        return True

    def action_switch_focus(self) -> None:
        table, diff = self.query_one(DataTable), self.query_one(DiffView)
        (diff if table.has_focus else table).focus()

    def action_back(self) -> None:
        self.dismiss(False)

    def action_rollback(self) -> None:
        number = self.selected
        if number is None or self.target.read_only or not self.target.config:
            return
        try:
            hist.stage_rollback(self.target.config, number)
        except HAProxyError as exc:
            self.notify(self.target.shown_text(f"not staged: {exc}"), severity="error",
                        timeout=15)
            return
        self.notify(f"staged: the return to version {number}; review it, then a to apply")
        from console.ui.screens.config import ConfigScreen

        if any(isinstance(s, ConfigScreen) for s in self.app.screen_stack[:-1]):
            self.dismiss(True)
        else:
            self.app.switch_screen(ConfigScreen(self.target, self.apply_target))
