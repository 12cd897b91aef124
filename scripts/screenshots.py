"""Take SVG screenshots of the console on a real lab: each view and each theme.

Usage: python scripts/screenshots.py [OUTDIR]   (make screenshots)

Starts a lab (the bundled HAProxy), lets traffic run so counters move, stops
one server so something is DOWN, drives the app headless and saves SVGs.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from console import labcli
from console.haproxy.lab import control
from console.instance import Target

VIEWS = [("1", "status"), ("2", "traffic"), ("3", "http"), ("4", "errors")]


async def wait_data(app, pilot, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while app.monitor.snapshot is None and time.monotonic() < deadline:
        await pilot.pause(0.2)


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
    app = HAConsoleApp(target, theme="dark")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_data(app, pilot)
        await pilot.pause(1.5)
        for name in sorted(app.console_themes):
            app.apply_theme(name, announce=False)
            await pilot.pause(0.3)
            made.append(Path(app.save_screenshot(f"theme-{name}.svg", str(out))))
    return made


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="haconsole-shots-")
    child = labcli.start_child(directory, None)
    try:
        info = labcli.wait_ready(child, directory)
        time.sleep(4)  # let the traffic move the counters
        control(directory, "stop be_web/web1")
        time.sleep(5)  # two failed checks: web1 goes DOWN
        made = asyncio.run(shoot(info, out))
    finally:
        labcli.stop_child(child)
    for path in made:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
