"""Confirmation before anything is sent: y / n / escape, or the target's name typed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class ConfirmScreen(ModalScreen[bool]):
    """Shows what will be sent and what it does; answers True only on an explicit yes.

    With *type_to_confirm*, the user must type that text (a target's name) and
    press enter: for dangerous changes.
    """

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen .title { text-style: bold; margin-bottom: 1; }
    ConfirmScreen .commands { color: $accent; margin: 1 0; }
    ConfirmScreen .keys { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, title: str, body: str, commands: list[str] | None = None,
                 type_to_confirm: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.commands = commands or []
        self.type_to_confirm = type_to_confirm

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title", markup=False)
            yield Static(self.body, markup=False)
            if self.commands:
                yield Static("Will send:\n" + "\n".join(f"  {c}" for c in self.commands),
                             classes="commands", markup=False)
            if self.type_to_confirm:
                yield Static(f"Type {self.type_to_confirm!r} and press enter to confirm; "
                             "escape cancels.", classes="keys", markup=False)
                yield Input(placeholder=self.type_to_confirm, id="confirm-input")
            else:
                yield Static("y: yes, do it    n / escape: no, send nothing", classes="keys",
                             markup=False)

    def on_mount(self) -> None:
        if self.type_to_confirm:
            self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.type_to_confirm:
            self.dismiss(True)
        else:
            self.query_one(Input).value = ""
            self.notify(f"Not confirmed: type exactly {self.type_to_confirm!r}",
                        severity="warning")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(bool(yes))
