"""The trainer's view of a drill (``haconsole drill NAME --trainer`` on a terminal).

Three panes, refreshed every second from a
:class:`~console.haproxy.drills.feed.TrainerFeed`: the drill (its page to read
out, the fault, what an expert would do, the trainee's command), the goal live
(each predicate, how long it has held, the status, the clock, the hints), and the
trainee's actions as they are journaled, with the changes to the lab's files.

Attached to a drill run elsewhere, the view only reads. When the trainer runs the
drill (*control* given), the view ticks it, ``h`` reveals the next hint (to share
aloud) and ``q`` gives the drill up after a confirmation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Footer, RichLog, Static

from console.haproxy.drills.feed import (
    TrainerFeed,
    TrainerSnapshot,
    action_line,
    briefing,
    clock,
    file_line,
)
from console.haproxy.safe_text import visible
from console.ui.plain import plain
from console.ui.screens.confirm import ConfirmScreen


class DrillControl(Protocol):
    """The drill when the trainer runs it."""

    async def tick(self) -> None: ...

    def give_up(self) -> Path: ...

    def next_hint(self) -> str | None: ...


STATUS_STYLE = {"running": "bold yellow", "solved": "bold green", "given-up": "bold red",
                "gone": "bold red"}


class TrainerApp(App[int]):
    """The trainer's three panes over a feed; exits 0 when the drill ended solved."""

    TITLE = "haconsole drill trainer"
    CSS = """
    #trainer-drill { width: 45%; border: round $primary; padding: 0 1; }
    #trainer-right { width: 1fr; }
    #trainer-goal { height: auto; border: round $primary; padding: 0 1; }
    #trainer-trainee { height: 1fr; border: round $primary; padding: 0 1; }
    #trainer-files { height: auto; color: $text-muted; }
    #trainer-actions { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit_trainer", "Quit", id="trainer.quit"),
        Binding("h", "hint", "Next hint (to say aloud)", id="trainer.hint"),
    ]

    def __init__(self, feed: TrainerFeed, control: DrillControl | None = None, *,
                 interval: float = 1.0) -> None:
        super().__init__()
        self.feed = feed
        self.control = control
        self.interval = interval
        self.snapshot: TrainerSnapshot | None = None
        self.hints: list[str] = []
        self._said_actions = 0
        self._busy = False

    def compose(self) -> ComposeResult:
        with Horizontal():
            with VerticalScroll(id="trainer-drill"):
                yield Static(id="trainer-briefing", markup=False)
            with Vertical(id="trainer-right"):
                yield Static(id="trainer-goal", markup=False)
                with Vertical(id="trainer-trainee"):
                    yield Static(id="trainer-files", markup=False)
                    yield RichLog(id="trainer-actions", markup=False, wrap=True, min_width=20)
        yield Footer()

    async def on_mount(self) -> None:
        mode = "running the drill" if self.control else "attached, read-only"
        self.query_one("#trainer-drill").border_title = "The drill"
        self.query_one("#trainer-goal").border_title = "Goal (live)"
        self.query_one("#trainer-trainee").border_title = "The trainee's actions (journal)"
        self.sub_title = mode
        await self.refresh_feed()
        self.set_interval(self.interval, self.refresh_feed)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hint":
            return self.control is not None and not self._ended()
        return True

    def _ended(self) -> bool:
        return self.snapshot is not None and self.snapshot.ended

    async def refresh_feed(self) -> None:
        """Tick the drill when the trainer runs it, then show a new snapshot."""
        if self._busy:
            return
        self._busy = True
        try:
            if self.control is not None:
                await self.control.tick()
            snap = self.feed.poll()
        finally:
            self._busy = False
        ended_now = snap.ended and not self._ended()
        self.snapshot = snap
        try:
            self.show(snap)
        except NoMatches:
            return  # the app closed while the drill was ticked: nothing to show on
        if ended_now:
            self.refresh_bindings()

    # -- rendering -----------------------------------------------------------------------

    def show(self, snap: TrainerSnapshot) -> None:
        self.query_one("#trainer-briefing", Static).update(self.briefing_text(snap))
        self.query_one("#trainer-goal", Static).update(self.goal_text(snap))
        files = "\n".join(file_line(c) for c in snap.files)
        self.query_one("#trainer-files", Static).update(
            plain(files or "The lab's files: unchanged."))
        log = self.query_one("#trainer-actions", RichLog)
        new = min(snap.action_count - self._said_actions, len(snap.actions))
        if new > 0 and not self._said_actions:
            log.clear()  # the "no action yet" line
        for action in snap.actions[len(snap.actions) - new:] if new > 0 else ():
            log.write(plain(action_line(action), "" if action.ok else "bold red"))
        self._said_actions = snap.action_count
        if not snap.action_count and not log.lines:
            log.write(Text("No action on the lab yet.", style="dim"))

    def briefing_text(self, snap: TrainerSnapshot) -> Text:
        text = Text()
        lines = briefing(self.feed.drill)
        text.append(lines[0] + "\n\n", style="bold")
        text.append("the trainee opens the console with:\n", style="bold")
        text.append(f"  {snap.trainee_command}\n\n")
        for line in lines[1:]:
            header = line.endswith(":") and not line.startswith(" ")
            text.append(line + "\n", style="bold" if header else "")
        if self.hints:
            text.append("\nHints shared:\n", style="bold")
            for n, hint in enumerate(self.hints, 1):
                text.append(f"  {n}. {visible(hint)}\n")
        return text

    def goal_text(self, snap: TrainerSnapshot) -> Text:
        text = Text()
        style = STATUS_STYLE.get(snap.status, "bold")
        text.append(snap.status.upper(), style=style)
        text.append(f"   {clock(snap.elapsed)} since the fault\n")
        text.append(f"goal {snap.goal_met}/{len(snap.goal)}   held {snap.held_for:.0f}/"
                    f"{snap.hold:g} s   hints shown {snap.hints_shown}/{snap.hints_total}\n")
        for g in snap.goal:
            text.append(" ✔ " if g.ok else " ✘ ",
                        style="bold green" if g.ok else "bold red")
            text.append(f"{g.predicate}  (seen {g.observed or '?'})\n")
        if not snap.goal:
            text.append(" not checked yet\n", style="dim")
        if snap.error:
            text.append(f"error: {snap.error}\n", style="red")
        if snap.journal_error:
            text.append(f"{snap.journal_error}\n", style="red")
        if snap.ended and snap.debrief:
            text.append(f"debrief: {snap.debrief}\n")
        if snap.status == "gone":
            text.append("the drill's process stopped before the drill ended\n")
        text.rstrip()
        return text

    # -- keys ----------------------------------------------------------------------------

    def action_hint(self) -> None:
        if self.control is None:
            return
        hint = self.control.next_hint()
        if hint is None:
            self.notify("No more hints.")
            return
        self.hints.append(hint)
        self.notify(visible(hint), title=f"Hint {len(self.hints)}", timeout=15)
        if self.snapshot is not None:
            self.show(self.snapshot)

    def action_quit_trainer(self) -> None:
        control = self.control
        if control is None or self._ended():
            self._quit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                control.give_up()
                self.snapshot = self.feed.poll()
                self._quit()

        self.push_screen(ConfirmScreen(
            "Give the drill up?", "The drill ends as given up, its debrief is written and "
            "the lab stops."), answered)

    def _quit(self) -> None:
        code = self._code()
        self.exit(code, return_code=code)

    def _code(self) -> int:
        return 0 if self.snapshot is None or self.snapshot.status in ("solved", "running",
                                                                       "starting") else 1
