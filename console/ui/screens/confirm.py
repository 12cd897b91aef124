"""Confirmation before anything is sent: y / n / escape, or the target's name typed.

Every text shown is made visible first (:mod:`console.haproxy.safe_text`): names,
values and answers come from HAProxy, files or the user, and none of them may drive
the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from console.haproxy.safe_text import visible, visible_lines
from console.ui.screens.dialog import Dialog

if TYPE_CHECKING:
    from console.haproxy.actions import Plan


class ConfirmScreen(Dialog[bool]):
    """Shows what will be sent and what it does; answers True only on an explicit yes.

    With *type_to_confirm*, the user must type that text (a target's name) and
    press enter: for dangerous changes. The question and the input stay in view at the
    bottom however long the list of commands is; the body scrolls.
    """

    DEFAULT_CSS = """
    ConfirmScreen > .dialog { width: 76; border: thick $warning; }
    ConfirmScreen .commands { color: $accent; margin-top: 1; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, title: str, body: str, commands: list[str] | None = None,
                 type_to_confirm: str | None = None) -> None:
        super().__init__()
        self.title_text = visible(title)
        self.dialog_title = self.title_text
        self.body = visible_lines(body, tab=False)
        self.commands = list(commands or [])
        self.type_to_confirm = type_to_confirm

    def compose_body(self) -> ComposeResult:
        yield Static(self.body, markup=False)
        if self.commands:
            yield Static("Will send:\n" + "\n".join(f"  {visible(c)}" for c in self.commands),
                         classes="commands", markup=False)

    def compose_foot(self) -> ComposeResult:
        if self.type_to_confirm:
            yield Static(f"Type {visible(self.type_to_confirm)!r} and press enter to confirm; "
                         "escape cancels.", classes="dialog-keys", markup=False)
            yield Input(placeholder=visible(self.type_to_confirm), id="confirm-input")
        else:
            yield Static("y: yes, do it    n / escape: no, send nothing", classes="dialog-keys",
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


def plan_body(plan: Plan, intro: str | None = None) -> str:
    """What a plan does, in words: the impact line by line, what cannot be undone, and
    that it is runtime only."""
    lines = [intro] if intro else []
    lines += [f"• {line}" for line in plan.impact]
    lines += [f"• cannot be undone: {why}" for why in plan.no_undo]
    if plan.runtime_only_note:
        lines.append(f"\n{plan.runtime_only_note}")
    return "\n".join(lines)


def confirm_screen(plan: Plan, intro: str | None = None) -> ConfirmScreen:
    """The confirmation of *plan*: its impact and commands, the name typed when dangerous."""
    return ConfirmScreen(plan.summary, plan_body(plan, intro), list(plan.commands),
                         plan.confirm_word if plan.dangerous else None)
