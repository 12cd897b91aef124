"""The debrief at the end of a drill: the outcome, the time, where the debrief file is,
and the debrief itself (Markdown, scrollable).

``q`` or ``escape`` ends the console with the drill's exit code (0 solved, 1 given up);
the lab stops with it. The debrief is read from its file: its text (the drill file's
page and the journal's commands are in it) is made visible before Textual's Markdown
widget renders it.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown, Static

from console.haproxy.safe_text import visible, visible_lines
from console.ui.screens.help import HELP_BINDING

MAX_DEBRIEF = 1 << 20
"""The most of a debrief file read (a debrief is a few kilobytes)."""


def read_debrief(path: Path | None) -> str:
    """The debrief's Markdown, or a line saying why there is none."""
    if path is None:
        return "*The debrief was not written (see the message above).*"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_DEBRIEF)
    except OSError as exc:
        return f"*The debrief {visible(path)} cannot be read: {visible(exc.strerror or exc)}*"
    return visible_lines(text)


class DebriefScreen(Screen[None]):
    """What the drill came to (see the module docstring)."""

    DEFAULT_CSS = """
    DebriefScreen { background: $background; layout: vertical; }
    DebriefScreen #debrief-title { height: auto; padding: 0 1; background: $panel;
                                   text-style: bold; }
    DebriefScreen #debrief-title.-solved { background: $success 30%; }
    DebriefScreen #debrief-title.-given-up { background: $warning 30%; }
    DebriefScreen #debrief-scroll { height: 1fr; padding: 0 1; }
    """
    BINDINGS = [
        HELP_BINDING,
        Binding("q,escape", "quit_drill", "Quit (stops the lab)", id="debrief.quit"),
    ]

    def __init__(self, *, status: str, elapsed: str, path: Path | None, text: str,
                 problem: str | None = None) -> None:
        super().__init__()
        self.status = status
        self.exit_code = 0 if status == "solved" else 1
        self.elapsed = elapsed
        self.path = path
        self.text = text
        self.problem = problem

    def title_text(self) -> str:
        outcome = (f"Drill solved in {self.elapsed}" if self.status == "solved"
                   else f"Drill given up after {self.elapsed}")
        where = f"debrief: {visible(self.path)}" if self.path else "no debrief file"
        lines = [f"{outcome}  ·  {where}"]
        if self.problem:
            lines.append(visible(self.problem))
        lines.append("q / escape: quit (the lab stops)   ↑↓ PgUp PgDn: scroll")
        return "\n".join(lines)

    def compose(self) -> ComposeResult:
        yield Static(self.title_text(), id="debrief-title", markup=False,
                     classes=f"-{self.status}")
        with VerticalScroll(id="debrief-scroll"):
            # links are not followed: the text quotes files and commands
            yield Markdown(self.text, id="debrief", open_links=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#debrief-scroll", VerticalScroll).focus()

    def action_quit_drill(self) -> None:
        self.app.exit(self.exit_code, return_code=self.exit_code)
