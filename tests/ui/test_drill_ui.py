"""The console during a drill: the banner (title, page, timer, goal, hints one at a time
on h), a failing check said in the banner, giving up (G, or q on the main screen) and
solving (the known fix made with haconsole's CLI) both ending on the debrief screen,
with the exit code of the outcome. On the real lab, on every HAProxy under test; the
banner's layout alone, without a lab."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Markdown

from console.haproxy.drills import BUILTIN_DIR, load
from console.haproxy.drills.engine import DrillRun
from console.ui.drill import DrillApp, GiveUpScreen, drill_target
from console.ui.screens.debrief import DebriefScreen
from console.ui.widgets.drill_banner import DrillBanner, clock
from console.ui.widgets.table import ProxyTable
from tests.lab_helpers import LabHandle, start_lab
from tests.ui.screen_host import until

REPO = Path(__file__).resolve().parents[2]
DRILL = "refused-connections"
TITLE = "A web server refuses connections"


def new_run(info: dict[str, Any], out: Path, name: str = DRILL) -> DrillRun:
    return DrillRun(load(BUILTIN_DIR / f"{name}.toml"), info, out)


def banner_text(app: DrillApp) -> str:
    banner = app.banner
    assert banner is not None
    return banner.render().plain


def drill_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "drill.json").read_text())


# -- the banner's layout, no lab ----------------------------------------------------------

def fake_run(tmp_path: Path, page: str | None = None) -> DrillRun:
    run = new_run({"admin_socket": str(tmp_path / "none.sock"), "dir": str(tmp_path)},
                  tmp_path)
    if page is not None:
        run.drill = dataclasses.replace(run.drill, page=page)
    run.started = time.time() - 75
    run.status = "running"
    return run


@pytest.mark.parametrize("short", [True, False], ids=["80x24", "120x40"])
def test_banner_rows_within_budget(tmp_path: Path, short: bool) -> None:
    run = fake_run(tmp_path)
    banner = DrillBanner(run)
    width = 78 if short else 118
    lines = banner.lines(width, short)
    assert lines[0][0].startswith("DRILL 01:15") and TITLE in lines[0][0]
    assert any("[P2] shop.lab.local" in line for line, _ in lines)
    run.drill = dataclasses.replace(run.drill, hints=("a very long hint " * 40,))
    run.hints_shown = 1
    lines = banner.lines(width, short)
    assert len(lines) <= (4 if short else 8)
    assert lines[-1][1] == "hint" and lines[-1][0].endswith("…")
    assert any(part == "page" for _, part in lines)  # the page keeps a line
    banner.set_problem("the drill's check failed: boom")
    lines = banner.lines(width, short)
    assert len(lines) <= (4 if short else 8) and lines[-1] == (
        "the drill's check failed: boom", "error")


def test_banner_shows_file_text_escaped(tmp_path: Path) -> None:
    run = fake_run(tmp_path, page="\x1b[2Jbell\x07 here\n")
    text = " ".join(line for line, _ in DrillBanner(run).lines(118, False))
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[2Jbell\\x07 here" in text


# -- on the lab ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[LabHandle]:
    directory = Path(tempfile.mkdtemp(prefix="hc-drill-ui-"))
    with start_lab(directory, str(haproxy_binary.path)) as handle:
        yield handle
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.stderr").unlink(missing_ok=True)


@pytest.mark.haproxy
async def test_banner_hints_and_give_up(lab: LabHandle, tmp_path: Path) -> None:
    run = new_run(lab.info, tmp_path)
    await run.inject()
    app = DrillApp(drill_target(lab.info), run, tick=0.3)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.monitor.snapshot is not None and run.watch.last,
                    "the first snapshot and goal check", 20)
        text = banner_text(app)
        assert f"DRILL {clock(run.elapsed())[:3]}" in text and TITLE in text, text
        assert "[P2] shop.lab.local: connection errors on be_web" in text
        assert "goal 1/2 met" in text and "h: hint (0/3 shown)" in text
        banner = app.banner
        assert banner is not None and banner.size.height <= 4
        assert app.query_one(ProxyTable).size.height >= 8  # the table stays usable
        shown = clock(run.elapsed())
        await until(pilot, lambda: clock(run.elapsed()) != shown
                    and clock(run.elapsed()) in banner_text(app), "the timer to move", 5)

        for n in (1, 2, 3):
            await pilot.press("h")
            await until(pilot, lambda n=n: run.hints_shown == n, f"hint {n}")
            assert f"hint {n}/3: {run.drill.hints[n - 1][:20]}" in banner_text(app)
            assert drill_json(tmp_path)["hints_shown"] == n
        assert "hints: all 3 shown" in banner_text(app)
        await pilot.press("h")
        await pilot.pause(0.1)
        assert run.hints_shown == 3
        assert any("All 3 hints are shown" in n.message for n in app._notifications)

        async def broken() -> bool:
            raise RuntimeError("check exploded")

        run.tick = broken  # type: ignore[method-assign]
        await until(pilot, lambda: "check exploded" in banner_text(app),
                    "the failing check in the banner", 5)
        del run.tick  # the class's again
        await until(pilot, lambda: "check exploded" not in banner_text(app),
                    "the banner cleared once the check works", 5)

        await pilot.press("q")  # quitting while the drill runs asks to give up first
        await until(pilot, lambda: isinstance(app.screen, GiveUpScreen), "the question")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, GiveUpScreen), "back")
        assert run.status == "running" and app.is_running
        await pilot.press("G")
        await until(pilot, lambda: isinstance(app.screen, GiveUpScreen), "the question")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, DebriefScreen), "the debrief")
        screen = app.screen
        assert isinstance(screen, DebriefScreen)
        assert screen.title_text().startswith("Drill given up after")
        assert str(tmp_path / "debrief.md") in screen.title_text()
        debrief = (tmp_path / "debrief.md").read_text()
        assert "outcome: **given up**" in debrief and "hints used: 3 of 3" in debrief
        assert drill_json(tmp_path)["status"] == "given-up"
        assert "GIVEN UP after" in banner_text(app)
        await pilot.press("h")  # over: no more hints, no error
        await pilot.press("q")
    assert app.return_code == 1


@pytest.mark.haproxy
async def test_solved_pushes_the_debrief(lab: LabHandle, tmp_path: Path) -> None:
    run = new_run(lab.info, tmp_path)
    await run.inject()
    app = DrillApp(drill_target(lab.info), run, tick=0.3)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot", 20)
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "console", "-s", lab.info["admin_socket"],
                             "server", "maint", "be_web/web2", "--yes"],
            capture_output=True, text=True, timeout=60, cwd=REPO, env=dict(os.environ),
            stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        await until(pilot, lambda: "goal 2/2 met, held" in banner_text(app),
                    "the goal held", 15)
        await until(pilot, lambda: isinstance(app.screen, DebriefScreen), "the debrief", 20)
        screen = app.screen
        assert isinstance(screen, DebriefScreen)
        assert screen.title_text().startswith("Drill solved in")
        assert run.status == "solved" and drill_json(tmp_path)["status"] == "solved"
        debrief = (tmp_path / "debrief.md").read_text()
        assert "outcome: **solved**" in debrief
        assert "`set server be_web/web2 state maint`" in debrief
        await until(pilot, lambda: screen.query_one(Markdown).source == debrief,
                    "the debrief rendered", 10)
        await pilot.press("escape")
    assert app.return_code == 0


def test_drill_keys_in_the_keymap_check(tmp_path: Path) -> None:
    """drill.hint / drill.give_up can be remapped; a main-screen key remapped onto h is
    refused in the drill's console only (the normal console keeps it)."""
    from textual.binding import Binding

    from console.ui.app import HAConsoleApp
    from console.ui.keymap import check_keymap, console_scopes

    run = fake_run(tmp_path)
    drill_scopes = DrillApp(drill_target({"admin_socket": str(tmp_path / "none.sock")}),
                            run).keymap_scopes()
    normal = console_scopes([*HAConsoleApp.BINDINGS, Binding("ctrl+p", "command_palette")])
    for scopes in (normal, drill_scopes):
        checked = check_keymap({"drill.hint": "H", "drill.give_up": "ctrl+g"}, scopes)
        assert checked.keymap == {"drill.hint": "H", "drill.give_up": "ctrl+g"}
        assert not checked.problems
    assert check_keymap({"view.http": "h"}, normal).keymap == {"view.http": "h"}
    checked = check_keymap({"view.http": "h"}, drill_scopes)
    assert not checked.keymap
    assert "h is already Drill: next hint (drill.hint)" in checked.problems[0]
