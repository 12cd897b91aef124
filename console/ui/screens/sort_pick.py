"""Sort by a column directly: one key per column of the view, instead of pressing ``s``
until it comes round. ``1``…``9`` then ``a``…``z`` pick a column (the largest first for
numbers, A first for text), ``0`` goes back to HAProxy's order, escape keeps the sort."""

from __future__ import annotations

import string

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from console.haproxy.safe_text import visible
from console.ui.screens.dialog import Dialog
from console.ui.widgets.columns import Column

KEYS = "123456789" + string.ascii_lowercase
Choice = tuple[str | None, bool]  # (column id or None: HAProxy's order, reverse)


class SortPicker(Dialog[Choice | None]):
    DEFAULT_CSS = """
    SortPicker > .dialog { width: 48; }
    """
    BINDINGS = [Binding("escape", "cancel", "Keep the sort", id="sort_pick.cancel")]
    dialog_title = "Sort by"

    def __init__(self, columns: list[Column], current: str | None, reverse: bool) -> None:
        super().__init__()
        self.columns = columns[:len(KEYS)]
        self.current, self.reverse = current, reverse

    def compose_body(self) -> ComposeResult:
        text = Text()
        for key, column in zip(KEYS, self.columns, strict=False):
            now = column.id == self.current
            text.append(f" {key}  ", style="bold")
            text.append(visible(column.header or column.id), style="bold" if now else "")
            if now:
                text.append("  ← now" + (", reversed" if self.reverse else ""), style="dim")
            text.append("\n")
        text.append(" 0  ", style="bold")
        text.append("HAProxy's order" + ("  ← now" if self.current is None else ""))
        yield Static(text)

    def compose_foot(self) -> ComposeResult:
        yield Static("a key picks · the same column again reverses · escape: keep",
                     classes="dialog-keys", markup=False)

    def on_key(self, event: events.Key) -> None:
        char = event.character or ""
        if char == "0":
            event.stop()
            self.dismiss((None, False))
            return
        if char and char in KEYS[:len(self.columns)]:
            event.stop()
            column = self.columns[KEYS.index(char)]
            if column.id == self.current:
                self.dismiss((column.id, not self.reverse))
            else:
                self.dismiss((column.id, column.numeric))

    def action_cancel(self) -> None:
        self.dismiss(None)
