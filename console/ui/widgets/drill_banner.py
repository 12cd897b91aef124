"""The drill banner: what a trainee running a drill needs in view, above the table.

One status line (the time since the fault, the goal's progress, the hint and give-up
keys, the drill's title), the first lines of the page the on-call got, and the latest
hint or what went wrong with the drill's check. Compact on purpose: at 80x24 it takes
at most four rows, so the table stays usable.

The page and hints come from a drill file (the user's own drills too): every text is
made visible (:mod:`console.haproxy.safe_text`) before it is drawn.
"""

from __future__ import annotations

import textwrap
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from console.haproxy.safe_text import visible

if TYPE_CHECKING:
    from console.haproxy.drills.engine import DrillRun

DRILL_BINDINGS: list[Binding] = [
    # h is free on the main screen (the config screen's h, its history, is not affected)
    Binding("h", "app.drill_hint", "Drill: next hint", show=False, id="drill.hint"),
    Binding("G", "app.drill_give_up", "Drill: give up (then the debrief)", show=False,
            id="drill.give_up"),
]
"""The keys the banner names, on the main screen while a drill runs (the app's actions
are :class:`console.ui.drill.DrillApp`'s)."""

SHORT_HEIGHT = 30
"""Under this many terminal rows, the banner keeps to :data:`ROWS_SHORT` rows."""
ROWS_SHORT = 4
ROWS = 8


def clock(seconds: float) -> str:
    """``mm:ss`` (``h:mm:ss`` past an hour), rounded as the debrief rounds."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    if hours:
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{rest // 60:02d}:{rest % 60:02d}"


def goal_text(run: DrillRun) -> str:
    """``goal 1/2 met``; once every condition is met, how long it has held of the hold."""
    total = len(run.drill.goal.all)
    last = run.watch.last
    if not last:
        return f"goal -/{total}"
    met = sum(1 for _pred, ok, _seen in last if ok)
    text = f"goal {met}/{total} met"
    held = run.watch.held_since
    if met == total and held is not None and run.status == "running":
        text += f", held {min(time.monotonic() - held, run.drill.goal.hold):.0f}" \
                f"/{run.drill.goal.hold:g} s"
    return text


def hints_text(run: DrillRun) -> str:
    total = len(run.drill.hints)
    if not total:
        return "no hints"
    if run.hints_shown >= total:
        return f"hints: all {total} shown"
    return f"h: hint ({run.hints_shown}/{total} shown)"


def status_parts(run: DrillRun) -> tuple[str, str]:
    """The banner's status: on the left the drill's state and title, on the right the
    goal's progress and the keys."""
    if run.status == "solved":
        state = f"SOLVED in {clock(run.elapsed())}"
    elif run.status == "given-up":
        state = f"GIVEN UP after {clock(run.elapsed())}"
    else:
        state = f"DRILL {clock(run.elapsed())}"
    right = [goal_text(run), hints_text(run)]
    if run.status == "running":
        right.append("G: give up")
    return f"{state}  {visible(run.drill.title)}", "  ·  ".join(right)


def status_lines(run: DrillRun, width: int) -> list[str]:
    """The status on one line when it fits in *width*, else on two."""
    left, right = status_parts(run)
    if len(left) + 2 + len(right) <= width:
        return [left + " " * (width - len(left) - len(right)) + right]
    return [left, right]


def page_lines(page: str) -> list[str]:
    """The page's non-blank lines, each made visible."""
    return [visible(line.strip()) for line in page.splitlines() if line.strip()]


def wrapped(text: str, width: int, lines: int) -> list[str]:
    """*text* wrapped to *width*, at most *lines* lines (the last one ends with … when
    something is left out)."""
    out = textwrap.wrap(text, max(10, width)) or [""]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][:max(0, width - 1)].rstrip() + "…"
    return out


class DrillBanner(Widget):
    """Docked under the header while a drill runs; redrawn every second (the clock)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"drill-banner--status", "drill-banner--page",
                                             "drill-banner--hint", "drill-banner--error"}
    DEFAULT_CSS = """
    DrillBanner { height: auto; background: $warning 20%; color: $foreground;
                  padding: 0 1; }
    DrillBanner > .drill-banner--status { text-style: bold; }
    DrillBanner > .drill-banner--page { text-style: italic; }
    DrillBanner > .drill-banner--hint { color: $accent; }
    DrillBanner > .drill-banner--error { color: $error; text-style: bold; }
    """

    def __init__(self, run: DrillRun, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.run = run
        self.problem: str | None = None  # what went wrong with the drill's check, if any
        self.note: str | None = None  # a line said once the drill is over (the debrief)

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    @property
    def hint(self) -> str | None:
        """The latest hint revealed, if any."""
        run = self.run
        shown = min(run.hints_shown, len(run.drill.hints))
        return run.drill.hints[shown - 1] if shown > 0 else None

    def hint_revealed(self) -> None:
        self.refresh(layout=True)

    def set_problem(self, problem: str | None) -> None:
        if problem != self.problem:
            self.problem = problem
            self.refresh(layout=True)

    def set_note(self, note: str | None) -> None:
        self.note = note
        self.refresh(layout=True)

    def lines(self, width: int, short: bool) -> list[tuple[str, str]]:
        """The banner's lines at *width* columns, each with its component class: the
        status, the page, then the latest hint (or a problem, or a note), within
        :data:`ROWS` rows (the page gives up lines first, down to one)."""
        run = self.run
        rows = ROWS_SHORT if short else ROWS
        out = [(line, "status") for line in status_lines(run, width)]
        last: list[tuple[str, str]] = []
        problem = self.problem or (visible(f"the drill's check: {run.error}")
                                   if run.error else None)
        room = max(1, rows - len(out) - 1)  # the last part's lines, one page line kept
        if problem:
            last = [(line, "error") for line in wrapped(problem, width, min(2, room))]
        elif self.note:
            last = [(line, "hint") for line in wrapped(visible(self.note), width, 1)]
        elif (hint := self.hint) is not None:
            text = visible(f"hint {run.hints_shown}/{len(run.drill.hints)}: {hint}")
            last = [(line, "hint") for line in wrapped(text, width, min(3, room))]
        page = page_lines(run.drill.page)
        keep = max(1, rows - len(out) - len(last))
        if len(page) > keep:
            page = [*page[:keep - 1], page[keep - 1] + " …"]
        return [*out, *[(line, "page") for line in page], *last]

    def render(self) -> Text:
        width = max(1, self.content_size.width or self.app.size.width - 2)
        short = self.app.size.height < SHORT_HEIGHT
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for i, (line, part) in enumerate(self.lines(width, short)):
            piece = Text(line, style=self.get_component_rich_style(f"drill-banner--{part}"),
                         no_wrap=True)
            piece.truncate(width, overflow="ellipsis")
            if i:
                text.append("\n")
            text.append_text(piece)
        return text
