"""``haconsole drill NAME --trainer [--dir DIR]``: the trainer's view of a drill.

When DIR holds this drill running (``DIR/drill.json`` says so and the process that
runs it is alive), the trainer attaches to it, read-only: nothing of the drill or
of the lab is changed. Otherwise the trainer runs the drill itself, as
``--no-ui`` does (the lab started, the fault injected, the goal checked every
second), and gives the command the trainee opens the console with.

The view shows the page to read out, the fault and what an expert would do, the
goal live, and every action the trainee journals on the lab. On a terminal it is
a Textual app (``q`` quits; when the trainer runs the drill, ``q`` gives it up
after a confirmation and ``h`` reveals the next hint to share aloud). Without a
terminal (or with ``--no-ui``) the same is printed as lines: a status line at
each change, a line per action and per file change, until the drill ends.

Exit status: 0 when the drill ends solved (or an attached trainer stops
watching), 1 when it is given up or its process stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.haproxy.drills import Drill
from console.haproxy.drills.feed import (
    TrainerFeed,
    TrainerSnapshot,
    action_line,
    briefing,
    file_line,
    running_here,
    status_line,
)
from console.haproxy.errors import ValidationError
from console.haproxy.safe_text import visible
from console.instance import ExitStatus

TICK = 1.0


def run_trainer(drill: Drill, directory: str | None, haproxy: str | None, *,
                ui: bool = True) -> int:
    """Attach to *drill* running in *directory*, or run it there (a new lab)."""
    ui = ui and sys.stdin.isatty() and sys.stdout.isatty()
    if directory:
        state = running_here(directory)
        if state is not None:
            if state.get("name") != drill.name:
                raise ValidationError(
                    f"the drill running here is {visible(state.get('name'))!r}, not "
                    f"{drill.name!r}", os.path.join(directory, "drill.json"),
                    f"haconsole drill {visible(state.get('name'))} --trainer --dir "
                    f"{directory} attaches to it; another --dir runs {drill.name}")
            return attach(drill, directory, ui=ui)
    return own(drill, directory, haproxy, ui=ui)


def attach(drill: Drill, directory: str, *, ui: bool) -> int:
    feed = TrainerFeed.attached(drill, directory)
    if ui:
        return _app(feed, None)
    return asyncio.run(_lines(feed, None))


class Owner:
    """The drill run by the trainer: ticked by the view, given up by the trainer."""

    def __init__(self, run: Any, lab: dict[str, Any], directory: Path,
                 lab_alive: Callable[[], bool]) -> None:
        self.run = run
        self.lab = lab
        self.directory = directory
        self.lab_alive = lab_alive

    async def tick(self) -> None:
        if self.run.status != "running":
            return
        await self.run.tick()
        if self.run.status == "running" and not self.lab_alive():
            self.run.error = (f"the lab stopped (did HAProxy exit? see {self.lab.get('log')} "
                              f"and {self.directory / 'lab-console.log'})")
            self.run.finish("given-up")

    def give_up(self) -> Path:
        return Path(self.run.finish("given-up"))

    def next_hint(self) -> str | None:
        return self.run.next_hint() if self.run.status == "running" else None


def own(drill: Drill, directory: str | None, haproxy: str | None, *, ui: bool) -> int:
    """Start a lab in *directory*, run *drill* on it with the trainer's view, stop it."""
    from console import labcli

    directory = os.path.abspath(directory or tempfile.mkdtemp(prefix="haconsole-drill-"))
    os.makedirs(directory, exist_ok=True)
    for stale in ("drill.json", "debrief.md"):
        Path(directory, stale).unlink(missing_ok=True)
    if ui:
        print(f"Starting the lab and injecting the drill's fault in {directory}…", flush=True)
    child = labcli.start_child(directory, haproxy)
    try:
        info = labcli.wait_ready(child, directory)
        return asyncio.run(_own(drill, info, Path(directory), lambda: child.poll() is None,
                                ui=ui))
    finally:
        labcli.stop_child(child)


async def _own(drill: Drill, info: dict[str, Any], directory: Path,
               lab_alive: Callable[[], bool], *, ui: bool) -> int:
    from console.haproxy.drills.engine import DrillRun

    run = DrillRun(drill, info, directory)
    await run.inject()
    owner = Owner(run, info, directory, lab_alive)
    feed = TrainerFeed(drill, run.describe, baseline=run.files_at_start, owned=True)
    if not ui:
        return await _lines(feed, owner)
    code = await _app_async(feed, owner)
    if run.status == "running":  # the view ended otherwise than by q (an error)
        run.finish("given-up")
    print(f"drill {run.status} after {run.elapsed():.0f} s; debrief: {run.debrief_path}")
    return code


def _app(feed: TrainerFeed, owner: Owner | None) -> int:
    return asyncio.run(_app_async(feed, owner))


async def _app_async(feed: TrainerFeed, owner: Owner | None) -> int:
    from console.ui.trainer import TrainerApp

    app = TrainerApp(feed, owner, interval=TICK)
    await app.run_async()
    return int(app.return_code or 0)


def _outcome(snap: TrainerSnapshot, owned: bool) -> tuple[str, int]:
    if snap.status == "solved":
        return f"solved in {snap.elapsed:.0f} s; debrief: {snap.debrief}", ExitStatus.OK
    if snap.status == "given-up":
        return f"given up after {snap.elapsed:.0f} s; debrief: {snap.debrief}", ExitStatus.ERROR
    return ("the drill's process stopped before the drill ended (no debrief)"
            if not owned else "the drill stopped", ExitStatus.ERROR)


async def _lines(feed: TrainerFeed, owner: Owner | None) -> int:
    """The trainer's view as text lines, until the drill ends (or, attached, until
    SIGINT/SIGTERM; owning, those give the drill up)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    snap = feed.poll()
    for line in briefing(feed.drill):
        print(line)
    print(f"the trainee opens the console with:\n  {snap.trainee_command}", flush=True)
    if owner is None:
        print("attached: watching, read-only", flush=True)
    said_status: tuple[Any, ...] | None = None
    said_actions = 0
    said_files: dict[str, Any] = {}
    said_journal = ""
    while True:
        if owner is not None:
            await owner.tick()
        snap = feed.poll()
        if snap.journal_error and snap.journal_error != said_journal:
            said_journal = snap.journal_error
            print(f"haconsole: {said_journal}", file=sys.stderr, flush=True)
        new = min(snap.action_count - said_actions, len(snap.actions))
        for action in snap.actions[len(snap.actions) - new:] if new > 0 else ():
            print(action_line(action))
        said_actions = snap.action_count
        for change in snap.files:
            if said_files.get(change.name) != change:
                print(file_line(change))
        said_files = {c.name: c for c in snap.files}
        if snap.status_key() != said_status:
            said_status = snap.status_key()
            print(status_line(snap))
        sys.stdout.flush()
        if snap.ended:
            text, code = _outcome(snap, owner is not None)
            print(text, flush=True)
            return code
        if stop.is_set():
            if owner is None:
                return ExitStatus.OK
            owner.give_up()
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK)
