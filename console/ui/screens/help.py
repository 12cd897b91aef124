"""Help: every binding of the screen underneath, with its current keys, and the
settings' [keys] that were not applied."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from console.ui.plain import plain
from console.ui.screens.dialog import Dialog

HELP_BINDING = Binding("question_mark", "app.help", "Help", id="help")
"""Help opens on every screen; the main screen lists it in its place in the footer."""


class HelpScreen(Dialog[None]):
    DEFAULT_CSS = """
    HelpScreen > .dialog { width: 90; }
    HelpScreen .problems { color: $warning; text-style: bold; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]
    dialog_title = "haconsole — keys"

    def __init__(self, rows: list[tuple[str, str, str]], notes: list[str],
                 problems: list[str] | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.notes = notes
        self.problems = list(problems or [])  # the settings' [keys] not applied, and why

    def compose_body(self) -> ComposeResult:
        if self.problems:
            yield Static(Text("\n".join(["Not applied from the settings' [keys]:",
                                          *(f"▲ {plain(p)}" for p in self.problems)])),
                         classes="problems")
        table = Table(expand=True, box=None, pad_edge=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("what it does")
        table.add_column("id (remap in \\[keys])", style="dim", no_wrap=True)
        for keys, description, binding_id in self.rows:
            table.add_row(plain(keys), plain(description), plain(binding_id))
        yield Static(table)
        yield Static(Text("\n".join(self.notes), style="dim"))

    def compose_foot(self) -> ComposeResult:
        yield Static("escape / q / ?: close", classes="dialog-keys", markup=False)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
