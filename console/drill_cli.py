"""``haconsole drill``: list the drills, run one on a fresh lab (headless or in the console).

``haconsole drill NAME --no-ui --dir DIR`` starts the lab in DIR, injects the fault,
keeps ``DIR/drill.json`` current and ends when the goal is reached (exit 0, the
debrief in ``DIR/debrief.md``) or on SIGINT/SIGTERM (given up, exit 1, debrief too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.haproxy.drills import BUILTIN_DIR, Drill, find, load_all
from console.haproxy.safe_text import visible
from console.instance import ExitStatus
from console.paths import config_dir


def drill_dirs() -> list[Path]:
    """Shipped drills, then the user's (``~/.config/haconsole/drills``), which win."""
    return [BUILTIN_DIR, config_dir() / "drills"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("drill", help="incident drills on the lab: list them, run one",
                       description="haconsole drill list [--json] | haconsole drill NAME "
                       "[--no-ui] [--trainer] [--dir DIR] [--haproxy PATH]")
    p.add_argument("name", metavar="NAME|list", help="a drill's name, or list")
    p.add_argument("--json", action="store_true", help="list: JSON (name, title)")
    p.add_argument("--dir", metavar="DIR", help="lab and drill directory (default: a new "
                   "temp dir); DIR/drill.json says how the drill goes")
    p.add_argument("--haproxy", metavar="PATH", help="HAProxy binary for the lab")
    p.add_argument("--no-ui", action="store_true",
                   help="headless: ends when solved, or given up on SIGINT/SIGTERM")
    p.add_argument("--trainer", action="store_true",
                   help="the trainer's view: attach to the drill running in --dir (read-only), "
                   "or run it and watch the trainee's actions and the goal live")


def run(args: argparse.Namespace) -> int:
    if args.name == "list":
        return cmd_list(args.json)
    if args.json:
        print("haconsole: --json goes with 'drill list' only", file=sys.stderr)
        return ExitStatus.USAGE
    drill = find(args.name, drill_dirs())
    if args.trainer:
        from console.trainer_cli import run_trainer

        return run_trainer(drill, args.dir, args.haproxy, ui=not args.no_ui)
    return run_drill(drill, args.dir, args.haproxy, ui=not args.no_ui)


def cmd_list(as_json: bool) -> int:
    drills, errors = load_all(drill_dirs())
    for exc in errors:
        print(visible(f"haconsole: skipped a drill: {exc}"), file=sys.stderr)
    if as_json:
        print(json.dumps([{"name": d.name, "title": d.title, "path": d.path} for d in drills],
                         indent=2))
    else:
        width = max((len(d.name) for d in drills), default=4)
        for d in drills:
            print(visible(f"{d.name:<{width}}  {d.title}"))
    return ExitStatus.OK if not errors else ExitStatus.ERROR


def run_drill(drill: Drill, directory: str | None, haproxy: str | None, *, ui: bool) -> int:
    """Start the lab, run *drill* on it (on a terminal unless *ui* is false or there is
    no terminal: then headless), stop the lab."""
    from console import labcli

    directory = os.path.abspath(directory or tempfile.mkdtemp(prefix="haconsole-drill-"))
    os.makedirs(directory, exist_ok=True)
    for stale in ("drill.json", "debrief.md"):
        Path(directory, stale).unlink(missing_ok=True)
    child = labcli.start_child(directory, haproxy)
    try:
        info = labcli.wait_ready(child, directory)
        if ui and sys.stdin.isatty() and sys.stdout.isatty():
            return asyncio.run(_terminal(drill, info, Path(directory),
                                         lambda: child.poll() is None))
        return asyncio.run(_headless(drill, info, Path(directory),
                                     lambda: child.poll() is None))
    finally:
        labcli.stop_child(child)


async def _headless(drill: Drill, info: dict[str, Any], directory: Path,
                    lab_alive: Callable[[], bool]) -> int:
    from console.haproxy.drills.engine import TICK, DrillRun

    run = DrillRun(drill, info, directory)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await run.inject()
    print(visible(f"drill {drill.name}: {drill.title}"), flush=True)
    for line in drill.page.strip().splitlines():
        print(visible(f"  page> {line}"))
    print(f"  admin socket  {info['admin_socket']}\n  config        {info['config']}\n"
          f"  status        {run.json_path}", flush=True)
    while not stop.is_set():
        if await run.tick():
            print(f"solved in {run.elapsed():.0f} s; debrief: {run.debrief_path}", flush=True)
            return ExitStatus.OK
        if not lab_alive():
            run.error = (f"the lab stopped (did HAProxy exit? see {info.get('log')} and "
                         f"{directory / 'lab-console.log'})")
            print(visible(f"haconsole: {run.error}"), file=sys.stderr, flush=True)
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK)
    path = run.finish("given-up")
    print(f"given up after {run.elapsed():.0f} s; debrief: {path}", flush=True)
    return ExitStatus.ERROR


async def _terminal(drill: Drill, info: dict[str, Any], directory: Path,
                    lab_alive: Callable[[], bool]) -> int:
    """The drill in the console: the fault injected, then the console on the lab with the
    drill banner (the page, a timer, the goal, ``h`` a hint, ``G`` gives up) until the
    trainee quits the debrief screen."""
    from console.haproxy.drills.engine import DrillRun
    from console.ui.drill import run_drill_console

    run = DrillRun(drill, info, directory)
    print(visible(f"drill {drill.name}: setting up the fault on the lab in {directory}..."),
          flush=True)
    await run.inject()
    try:
        await run_drill_console(run, lab_alive)
    finally:
        if run.status == "running":  # the console ended some other way
            run.finish("given-up")
    if run.status == "solved":
        print(f"solved in {run.elapsed():.0f} s; debrief: {run.debrief_path}", flush=True)
        return ExitStatus.OK
    print(f"given up after {run.elapsed():.0f} s; debrief: {run.debrief_path}", flush=True)
    return ExitStatus.ERROR
