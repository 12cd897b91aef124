"""Take SVG screenshots of the console on a real lab: each view and each theme.

Usage: python scripts/screenshots.py [OUTDIR]   (make screenshots)
       python scripts/screenshots.py OUTDIR --only drill   (the drill's shots alone)

Starts a lab (the bundled HAProxy), lets traffic run so counters move, stops
one server so something is DOWN, drives the app headless and saves SVGs.

It also writes ``SOURCES`` in OUTDIR: a digest of every file the screenshots are drawn
from (the UI code and styles, the themes, this script). The test suite computes it
again and fails when the UI changed after the screenshots were taken.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from console import labcli
from console.haproxy.lab import control
from console.instance import Target

REPO = Path(__file__).resolve().parents[1]
SOURCE_GLOBS = ("console/ui/**/*.py", "console/ui/**/*.tcss", "console/themes/*.toml",
                "scripts/screenshots.py")
SOURCES_FILE = "SOURCES"


def source_files(root: Path = REPO) -> list[Path]:
    """The files the screenshots are drawn from, in a stable order."""
    found = {p for pattern in SOURCE_GLOBS for p in root.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def sources_digest(root: Path = REPO) -> str:
    """One SHA-256 over the names and contents of :func:`source_files`."""
    h = hashlib.sha256()
    for path in source_files(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return h.hexdigest()


VIEWS = [("1", "status"), ("2", "traffic"), ("3", "http"), ("4", "errors")]


async def wait_data(app, pilot, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while app.monitor.snapshot is None and time.monotonic() < deadline:
        await pilot.pause(0.2)


async def wait_read(app, pilot, seconds: float = 10.0) -> None:
    """Until the screen on top (captured errors, sessions) has read its answer."""
    deadline = time.monotonic() + seconds
    await pilot.pause(0.2)
    while getattr(app.screen, "state", "shown") in ("starting", "reading") \
            and time.monotonic() < deadline:
        await pilot.pause(0.2)
    await pilot.pause(0.3)


async def shoot(info: dict, out: Path) -> list[Path]:
    from console.ui.app import HAConsoleApp

    made: list[Path] = []
    target = Target(name="lab", socket=info["admin_socket"], master=info["master_socket"],
                    config=info["config"], url=info["stats_url"], interval=1.0)
    for size, suffix in (((120, 40), ""), ((80, 24), "-80x24")):
        app = HAConsoleApp(target, theme="dark")
        async with app.run_test(size=size) as pilot:
            await wait_data(app, pilot)
            await pilot.pause(2.5)  # two refreshes: rates and events
            for key, view in VIEWS:
                await pilot.press(key)
                await pilot.pause(0.3)
                made.append(Path(app.save_screenshot(f"view-{view}{suffix}.svg", str(out))))
            await pilot.press("1")
            await pilot.press("exclamation_mark")
            await pilot.pause(0.3)
            made.append(Path(app.save_screenshot(f"problems{suffix}.svg", str(out))))
            await pilot.press("question_mark")
            await pilot.pause(0.3)
            made.append(Path(app.save_screenshot(f"help{suffix}.svg", str(out))))
            await pilot.press("escape")
            for key, name in (("E", "captured-errors"), ("K", "sessions"), ("l", "logs")):
                await pilot.press(key)
                await wait_read(app, pilot)
                made.append(Path(app.save_screenshot(f"{name}{suffix}.svg", str(out))))
                await pilot.press("escape")
                await pilot.pause(0.3)
    made += await shoot_fleet(info, out)
    made += await shoot_triage(target, out)
    app = HAConsoleApp(target, theme="dark")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_data(app, pilot)
        await pilot.pause(1.5)
        await pilot.press("W")  # who: the top clients
        await pilot.pause(2.0)
        made.append(Path(app.save_screenshot("clients.svg", str(out))))
        await pilot.press("escape")
        await pilot.pause(0.3)
        for name in sorted(app.console_themes):
            app.apply_theme(name, announce=False)
            await pilot.pause(0.3)
            made.append(Path(app.save_screenshot(f"theme-{name}.svg", str(out))))
    return made


async def shoot_triage(target: Target, out: Path) -> list[Path]:
    """What's hurting now (w) and the log summaries (s), once the console has followed
    the lab's ring for a few seconds."""
    from console.ui.app import HAConsoleApp

    made: list[Path] = []
    for size, suffix in (((120, 40), ""), ((80, 24), "-80x24")):
        app = HAConsoleApp(target, theme="dark")
        async with app.run_test(size=size) as pilot:
            await wait_data(app, pilot)
            await pilot.pause(6.0)  # log lines in the window
            await pilot.press("w")
            await pilot.pause(1.5)
            made.append(Path(app.save_screenshot(f"triage{suffix}.svg", str(out))))
            await pilot.press("s")
            await pilot.pause(1.2)
            made.append(Path(app.save_screenshot(f"log-summary{suffix}.svg", str(out))))
    return made


async def shoot_fleet(info: dict, out: Path) -> list[Path]:
    """The fleet screen at 80x24: the lab's HAProxy under two names (lb1 with its master
    and config, lb2 by its socket alone) and a third node that could not be reached."""
    from console.ui.fleet_app import FleetApp

    lb1 = Target(name="lb1", socket=info["admin_socket"], master=info["master_socket"],
                 config=info["config"], interval=1.0)
    lb2 = Target(name="lb2", socket=info["admin_socket"], interval=1.0)
    why = ("cannot reach lb3 over ssh: ssh: connect to host lb3 port 22: Connection "
           "refused (lb3): try `ssh lb3 true` to see what ssh says")
    app = FleetApp("prod", ["lb1", "lb2", "lb3"], [lb1, lb2], [("lb3", why)], theme="dark")
    made: list[Path] = []
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and \
                sum(n.state.state == "live" for n in app.nodes) < 2:
            await pilot.pause(0.2)
        await pilot.pause(1.5)  # the reload count read
        made.append(Path(app.save_screenshot("fleet-nodes-80x24.svg", str(out))))
        await pilot.press("2")
        await pilot.pause(0.5)
        made.append(Path(app.save_screenshot("fleet-merged-80x24.svg", str(out))))
    return made


async def shoot_replay(info: dict, out: Path) -> list[Path]:
    """A replay: 12 s of the lab recorded (an incident mark at 2 s, be_web/web2 in MAINT
    from 4 s to 9 s), opened paused on the first event after the mark."""
    from console.haproxy.recording import Recording, RecordingWriter
    from console.haproxy.transport import RuntimeClient
    from console.ui.replay import ReplayApp

    path = Path(tempfile.mkdtemp(prefix="haconsole-shots-rec-")) / "incident.hacrec"
    client = RuntimeClient(info["admin_socket"])
    writer = RecordingWriter(str(path), instance="lab", where=info["admin_socket"],
                             interval=1.0)
    mark_doc = None
    try:
        for t in range(12):
            if t == 4:
                await client.run("disable server be_web/web2")
            if t == 9:
                await client.run("enable server be_web/web2")
            info_text, stat_text = await asyncio.gather(client.run("show info"),
                                                        client.run("show stat"))
            writer.poll(info_text, stat_text)
            if t == 2:
                mark_doc = {"version": 1, "instance": "lab", "wall_time": time.time(),
                            "label": "", "pid": None, "rows": {}}
                writer.mark(mark_doc)
            await asyncio.sleep(1.0)
    finally:
        writer.close("duration reached")
        await client.run("enable server be_web/web2")
    made: list[Path] = []
    for size, suffix in (((120, 40), ""), ((80, 24), "-80x24")):
        app = ReplayApp(Recording(str(path)))
        async with app.run_test(size=size) as pilot:
            await wait_data(app, pilot)
            await pilot.press("p")
            await pilot.press("right_square_bracket")  # the mark
            await pilot.pause(0.5)
            await pilot.press("greater_than_sign")  # the next event: app2 in MAINT
            await pilot.pause(1.5)
            made.append(Path(app.save_screenshot(f"replay{suffix}.svg", str(out))))
    return made


async def shoot_trainer(info: dict, directory: str, out: Path) -> list[Path]:
    """The trainer's view of the refused-connections drill run on the lab (last: the drill
    calms the lab), after the trainee put web2 in MAINT; its journal in a private state
    directory."""
    import os
    import shutil
    import subprocess

    from console.haproxy.drills import BUILTIN_DIR, load
    from console.haproxy.drills.engine import DrillRun
    from console.haproxy.drills.feed import TrainerFeed
    from console.trainer_cli import Owner
    from console.ui.trainer import TrainerApp

    state = tempfile.mkdtemp(prefix="haconsole-shots-state-")
    os.environ["HACONSOLE_STATE_DIR"] = state
    drill = load(BUILTIN_DIR / "refused-connections.toml")
    run = DrillRun(drill, info, Path(directory))
    await run.inject()
    owner = Owner(run, info, Path(directory), lambda: True)
    feed = TrainerFeed(drill, run.describe, baseline=run.files_at_start, owned=True)
    app = TrainerApp(feed, owner)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(2.5)
        await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "console", "-s", info["admin_socket"], "server", "maint",
            "be_web/web2", "--yes"], capture_output=True, stdin=subprocess.DEVNULL,
            timeout=60, cwd=REPO)
        await pilot.press("h")
        await pilot.pause(3.5)  # the action read, the goal holding
        made = [Path(app.save_screenshot("drill-trainer.svg", str(out)))]
    run.finish("given-up")
    shutil.rmtree(state, ignore_errors=True)
    return made


async def shoot_drill(info: dict, out: Path) -> list[Path]:
    """A drill on the lab (refused-connections): the console with the drill banner and a
    hint shown, at 120x40 and 80x24; then given up, the debrief screen at both sizes.
    Last, as the drill calms the lab (every server healthy) before its fault."""
    from console.haproxy.drills import BUILTIN_DIR, load
    from console.haproxy.drills.engine import DrillRun
    from console.ui.drill import DrillApp, drill_target

    made: list[Path] = []
    run = DrillRun(load(BUILTIN_DIR / "refused-connections.toml"), info,
                   Path(tempfile.mkdtemp(prefix="haconsole-shots-drill-")))
    await run.inject()
    sizes = (((120, 40), ""), ((80, 24), "-80x24"))
    for size, suffix in sizes:
        app = DrillApp(drill_target(info), run, theme="dark")
        async with app.run_test(size=size) as pilot:
            await wait_data(app, pilot)
            await pilot.pause(2.5)  # two refreshes: rates and events
            if not run.hints_shown:
                await pilot.press("h")
            await pilot.pause(0.3)
            app.clear_notifications()  # the banner shows the hint
            await pilot.pause(0.2)
            made.append(Path(app.save_screenshot(f"drill{suffix}.svg", str(out))))
    for size, suffix in sizes:
        app = DrillApp(drill_target(info), run, theme="dark")
        async with app.run_test(size=size) as pilot:
            await wait_data(app, pilot)
            if run.status == "running":
                await pilot.press("G")
                await pilot.pause(0.5)
                made.append(Path(app.save_screenshot(f"drill-give-up{suffix}.svg", str(out))))
                await pilot.press("y")
            else:
                app.show_debrief()
            await pilot.pause(1.0)
            made.append(Path(app.save_screenshot(f"debrief{suffix}.svg", str(out))))
    return made


def main() -> int:
    args = sys.argv[1:]
    only_drill = args[-2:] == ["--only", "drill"]
    if only_drill:
        args = args[:-2]
    out = Path(args[0] if args else "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="haconsole-shots-")
    child = labcli.start_child(directory, None)
    try:
        info = labcli.wait_ready(child, directory)
        if only_drill:
            made = asyncio.run(shoot_drill(info, out))
        else:
            time.sleep(4)  # let the traffic move the counters
            control(directory, "stop be_web/web1")
            time.sleep(5)  # two failed checks: web1 goes DOWN
            made = asyncio.run(shoot(info, out))
            made += asyncio.run(shoot_replay(info, out))
            made += asyncio.run(shoot_drill(info, out))
            made += asyncio.run(shoot_trainer(info, directory, out))
    finally:
        labcli.stop_child(child)
    if only_drill:  # SOURCES stands for the whole set: not rewritten for a part of it
        for path in made:
            print(path)
        return 0
    (out / SOURCES_FILE).write_text(
        "# digest of the files these screenshots are drawn from (scripts/screenshots.py)\n"
        f"{sources_digest()}\n")
    for path in made:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
