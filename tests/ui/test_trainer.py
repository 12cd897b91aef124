"""The trainer's view: its three panes from a feed, live; hints and giving up when it
runs the drill."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.widgets import RichLog, Static

from console.haproxy.drills.feed import TrainerFeed
from console.ui.screens.confirm import ConfirmScreen
from console.ui.trainer import TrainerApp
from tests.unit.test_drill_feed import DRILL, fake_drill_dir, journal_on


def text_of(app: TrainerApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def log_text(app: TrainerApp) -> str:
    log = app.query_one("#trainer-actions", RichLog)
    text = " ".join("".join(seg.text for seg in strip) for strip in log.lines)
    return " ".join(text.split())  # lines wrapped at the pane's width joined again


async def test_attached_view_shows_the_drill_the_goal_and_the_actions(tmp_path: Path) -> None:
    lab = fake_drill_dir(tmp_path)
    app = TrainerApp(TrainerFeed.attached(DRILL, lab), interval=0.1)
    async with app.run_test(size=(150, 45)) as pilot:
        await pilot.pause()
        briefing = text_of(app, "#trainer-briefing")
        assert "A web server refuses connections" in briefing
        assert "closed web2's listening port" in briefing  # the fault
        assert "server in MAINT" in briefing  # what an expert would do
        assert "[P2] shop.lab.local" in briefing  # the page
        assert f"haconsole -s {lab}/admin.sock" in briefing
        goal = text_of(app, "#trainer-goal")
        assert "RUNNING" in goal and "goal 1/2" in goal and "held 0/5 s" in goal
        assert "✘ be_web/web2 status in [MAINT]  (seen DOWN)" in goal
        assert "No action on the lab yet." in log_text(app)
        journal_on(lab, "set server be_web/web2 state maint")
        state = json.loads((lab / "drill.json").read_text())
        state["goal"][0].update(ok=True, observed="MAINT")
        state.update(held_for=3.2)
        (lab / "drill.json").write_text(json.dumps(state))
        await pilot.pause(0.3)
        assert "set server be_web/web2 state maint -> ok" in log_text(app)
        assert "No action" not in log_text(app)
        goal = text_of(app, "#trainer-goal")
        assert "goal 2/2" in goal and "held 3/5 s" in goal
        state.update(status="solved", debrief=str(lab / "debrief.md"))
        (lab / "drill.json").write_text(json.dumps(state))
        await pilot.pause(0.3)
        assert "SOLVED" in text_of(app, "#trainer-goal")
        assert not app.check_action("hint", ())  # attached: never a hint, never a change
        await pilot.press("q")
    assert app.return_code == 0


class FakeControl:
    """The drill as run by the trainer, without a lab."""

    def __init__(self, lab: Path) -> None:
        self.lab = lab
        self.ticks = 0
        self.hints = 0
        self.gave_up = False

    def _update(self, **values: Any) -> None:
        state = json.loads((self.lab / "drill.json").read_text())
        state.update(values)
        (self.lab / "drill.json").write_text(json.dumps(state))

    async def tick(self) -> None:
        self.ticks += 1

    def give_up(self) -> Path:
        self.gave_up = True
        self._update(status="given-up")
        return self.lab / "debrief.md"

    def next_hint(self) -> str | None:
        if self.hints >= len(DRILL.hints):
            return None
        self.hints += 1
        self._update(hints_shown=self.hints)
        return DRILL.hints[self.hints - 1]


async def test_running_the_drill_hints_then_give_up_after_confirmation(tmp_path: Path) -> None:
    lab = fake_drill_dir(tmp_path, hints_shown=0)
    control = FakeControl(lab)
    feed = TrainerFeed(DRILL, TrainerFeed.attached(DRILL, lab)._state, owned=True)
    app = TrainerApp(feed, control, interval=0.1)
    async with app.run_test(size=(150, 45)) as pilot:
        await pilot.pause(0.3)
        assert control.ticks >= 2
        await pilot.press("h")
        await pilot.pause(0.2)
        assert "1. Look at be_web in the table: which server is DOWN, and what does its " \
            "check say?\n" in text_of(app, "#trainer-briefing")
        assert "hints shown 1/3" in text_of(app, "#trainer-goal")
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and not control.gave_up
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and not control.gave_up
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
    assert control.gave_up and app.return_code == 1
