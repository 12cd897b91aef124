"""Runtime actions: the menu for the selected rows, value prompts, drain to zero.

The menu is built from the registry of action specs
(:mod:`console.haproxy.actions.registry`): each spec of the row's scope gives its
lines, in the registry's order. The screen adds only what is not one change: drain to
zero (after the admin states) and the lines that mark rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from console.haproxy.actions import registry
from console.haproxy.actions.spec import NotOffered
from console.ui.screens.dialog import Dialog


@dataclass(frozen=True)
class MenuItem:
    label: str
    kind: str  # an Action kind, or a UI verb: drain_to_zero, mark_same_name, mark_backend
    params: dict[str, Any] = field(default_factory=dict)
    prompt: tuple[str, ...] = ()  # ask for these values first (the keys in params to fill)
    prompt_label: str = ""


# What the screen adds, by row type: (after the lines of this kind, or at the end; item).
UI_ITEMS: dict[str, tuple[tuple[str | None, MenuItem], ...]] = {
    "server": (("server_state", MenuItem("drain to zero, then MAINT", "drain_to_zero")),
               (None, MenuItem("select this server in every backend", "mark_same_name"))),
    "backend": ((None, MenuItem("select every server of this backend", "mark_backend")),),
}
UI_KINDS = frozenset(item.kind for extra in UI_ITEMS.values() for _, item in extra)


def row_items(row_type: str) -> list[MenuItem]:
    """Every line of the menu of a *row_type* row: its specs' lines, and the screen's."""
    items = [MenuItem(e.label, s.kind, dict(e.params), e.prompt, e.prompt_label)
             for s in registry.specs(row_type) if not isinstance(s.menu, NotOffered)
             for e in s.menu]
    for after, item in UI_ITEMS.get(row_type, ()):
        at = max((i + 1 for i, it in enumerate(items) if it.kind == after), default=len(items))
        items.insert(at, item)
    return items


def menu_items(row_type: str, allowed: frozenset[str], many: bool) -> list[MenuItem]:
    """What the menu offers for the selection; only what this socket level allows."""
    out = []
    for item in row_items(row_type):
        if item.kind == "drain_to_zero" and (many or "server_state" not in allowed):
            continue
        if item.kind not in UI_KINDS and item.kind not in allowed:
            continue
        out.append(item)
    return out


class ActionMenu(Dialog[MenuItem | None]):
    """The actions for the selected rows: a list that scrolls when it does not fit, the
    note on what they change always in view below it."""

    DEFAULT_CSS = """
    ActionMenu > .dialog { width: 64; }
    ActionMenu OptionList { height: auto; max-height: 100%; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="actions.cancel")]

    def __init__(self, title: str, items: list[MenuItem], note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.dialog_title = title
        self.items = items
        self.note = note

    def compose_scroller(self) -> ComposeResult:
        yield OptionList(*[Option(i.label, id=str(n)) for n, i in enumerate(self.items)],
                         classes="dialog-body")

    def compose_foot(self) -> ComposeResult:
        yield Static(self.note or "Runtime changes are temporary: lost at reload or "
                     "restart. Enter picks, escape cancels.", classes="dialog-keys",
                     markup=False)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.items[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ValuePrompt(Dialog[str | None]):
    DEFAULT_CSS = """
    ValuePrompt > .dialog { width: 64; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]
    has_body = False

    def __init__(self, label: str, value: str = "") -> None:
        super().__init__()
        self.label = label
        self.dialog_title = label
        self.value = value

    def compose_foot(self) -> ComposeResult:
        yield Input(value=self.value, id="value")
        yield Static("enter: continue (nothing is sent yet)   escape: cancel",
                     classes="dialog-keys", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DrainScreen(Dialog[str]):
    """Live progress of a drain to zero; escape cancels (the server stays in DRAIN).

    Dismissed with the outcome: ``done``, ``cancelled``, ``failed``, or on a
    timeout the user's choice: ``wait``, ``maint``, ``keep``, ``ready``.
    """

    DEFAULT_CSS = """
    DrainScreen > .dialog { width: 70; border: thick $warning; }
    DrainScreen #progress { margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape", "choose('cancel')", "Cancel", id="drain.cancel"),
        Binding("w", "choose('wait')", "Wait again", show=False, id="drain.wait"),
        Binding("m", "choose('maint')", "Force MAINT", show=False, id="drain.maint"),
        Binding("k", "choose('keep')", "Keep in DRAIN", show=False, id="drain.keep"),
        Binding("r", "choose('ready')", "Back to READY", show=False, id="drain.ready"),
    ]

    def __init__(self, ref: str, timeout: float) -> None:
        super().__init__()
        self.ref = ref
        self.dialog_title = f"Drain to zero: {ref}"
        self.timeout = timeout
        self.timed_out = False
        self.finished = False

    def compose_body(self) -> ComposeResult:
        yield Static(f"DRAIN now, then MAINT once sessions and queue are 0 "
                     f"(timeout {self.timeout:g} s).", markup=False)
        yield Static("starting…", id="progress", markup=False)

    def compose_foot(self) -> ComposeResult:
        yield Static("escape: cancel (the server stays in DRAIN)", id="keys",
                     classes="dialog-keys", markup=False)

    def progress(self, text: str) -> None:
        self.query_one("#progress", Static).update(text)

    def show_timeout(self, text: str) -> None:
        self.timed_out = True
        self.progress(text)
        self.query_one("#keys", Static).update(
            "w: wait again   m: force MAINT now   k: keep in DRAIN   r: back to READY")

    def show_done(self, text: str) -> None:
        self.finished = True
        self.progress(text)
        self.query_one("#keys", Static).update("escape: close")

    def action_choose(self, choice: str) -> None:
        if self.finished:
            self.dismiss("done")
        elif self.timed_out:
            self.dismiss("keep" if choice == "cancel" else choice)
        elif choice == "cancel":
            self.dismiss("cancelled")
