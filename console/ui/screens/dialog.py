"""The frame of every dialog: a title, a body that scrolls, and a foot always in view.

A dialog is as tall as its content and at most as tall as the terminal. Its title is
docked at the top and its foot (the question, the input, the keys) at the bottom; the
body takes what is left and scrolls when it does not fit, with a scrollbar and a hint
in the foot, by the arrows, PageUp/PageDown, Home/End or the mouse wheel.

No toast is drawn over a dialog: the dialog's own messages (``self.notify``) are shown
in its foot, and the app holds the others until the last dialog closes
(:meth:`console.ui.app.HAConsoleApp.notify`).
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import Static

from console.haproxy.safe_text import visible, visible_lines

ResultType = TypeVar("ResultType")

SCROLL_HINT = "↑↓ PgUp PgDn: scroll"


class DialogBody(VerticalScroll, can_focus=False):
    """The part of a dialog that scrolls; the dialog's keys scroll it, so the focus
    stays on the input or the list."""

    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        for hint in self.screen.query(".dialog-scroll-hint"):
            hint.display = shown


class Dialog(ModalScreen[ResultType]):
    """A modal dialog: subclasses give :attr:`dialog_title` and compose the body
    (:meth:`compose_body`) and the foot (:meth:`compose_foot`)."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > .dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    Dialog .dialog-title { dock: top; height: auto; text-style: bold; padding-bottom: 1; }
    Dialog .dialog-body { height: auto; max-height: 100%; }
    Dialog .dialog-foot { dock: bottom; height: auto; padding-top: 1; }
    Dialog .dialog.-no-body > .dialog-foot { padding-top: 0; }
    Dialog .dialog-keys { color: $text-muted; }
    Dialog .dialog-scroll-hint { color: $text-muted; display: none; }
    Dialog .dialog-message { display: none; text-style: bold; }
    Dialog .dialog-message.-information { color: $success; }
    Dialog .dialog-message.-warning { color: $warning; }
    Dialog .dialog-message.-error { color: $error; }
    Dialog Toast { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_body('up')", "Scroll up", show=False, id="dialog.scroll_up"),
        Binding("down", "scroll_body('down')", "Scroll down", show=False,
                id="dialog.scroll_down"),
        Binding("pageup", "scroll_body('page_up')", "Scroll a page up", show=False,
                id="dialog.page_up"),
        Binding("pagedown", "scroll_body('page_down')", "Scroll a page down", show=False,
                id="dialog.page_down"),
        Binding("home", "scroll_body('home')", "Scroll to the top", show=False,
                id="dialog.home"),
        Binding("end", "scroll_body('end')", "Scroll to the end", show=False,
                id="dialog.end"),
    ]

    dialog_title: str = ""
    has_body = True  # False: the title and the foot only (a prompt): no blank between

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog" if self.has_body else "dialog -no-body"):
            if self.dialog_title:
                yield Static(visible(self.dialog_title), classes="dialog-title",
                             markup=False)
            with Vertical(classes="dialog-foot"):
                yield from self.compose_foot()
                yield Static("", classes="dialog-message", markup=False)
                yield Static(SCROLL_HINT, classes="dialog-scroll-hint", markup=False)
            yield from self.compose_scroller()

    def compose_scroller(self) -> ComposeResult:
        """The part that scrolls (class ``dialog-body``): the body in a
        :class:`DialogBody`, or a widget that scrolls itself (a list)."""
        with DialogBody(classes="dialog-body"):
            yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def compose_foot(self) -> ComposeResult:
        yield from ()

    def action_scroll_body(self, how: str) -> None:
        for body in self.query(DialogBody):
            {"up": body.scroll_up, "down": body.scroll_down,
             "page_up": body.scroll_page_up, "page_down": body.scroll_page_down,
             "home": body.scroll_home, "end": body.scroll_end}[how](animate=False)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """The dialog's own messages are shown in its foot, not as a toast over it."""
        line = self.query_one(".dialog-message", Static)
        line.set_classes(f"dialog-message -{severity}")
        text = visible_lines(str(message), tab=False)
        line.update(f"{visible(title)}: {text}" if title else text)
        line.display = True
