"""Every way the console sends runtime commands goes through the same plan, impact and
confirmation (the name typed when the change is dangerous), on the real lab: undo, the
journal's restore, Drift's revert and revert-all, drain to zero; and --read-only sends
nothing from any of them."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.haproxy.actions import Action, execute, plan, read_state
from console.haproxy.drain import plan_drain_to_zero
from console.haproxy.journal import read_entries
from console.haproxy.transport import RuntimeClient
from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.drift import DriftScreen
from console.ui.screens.journal import JournalScreen
from console.ui.widgets.table import ProxyTable
from tests.lab_helpers import LabHandle, start_lab
from tests.ui.test_operations_lab import choose, mark_backend, open_app, state, wait_for

pytestmark = pytest.mark.haproxy
STATIC = ("static1", "static2", "static3")


@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[LabHandle]:
    directory = Path(tempfile.mkdtemp(prefix="hac-paths-"))
    with start_lab(directory, str(haproxy_binary.path)) as handle:
        yield handle
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.stderr").unlink(missing_ok=True)


@pytest.fixture
def static_ready(lab: LabHandle) -> Iterator[None]:
    yield
    for s in STATIC:
        lab.send(lab.info["admin_socket"], f"set server be_static/{s} state ready")


def make(lab: LabHandle, **kw: Any) -> HAConsoleApp:
    info = lab.info
    target = Target(name="lab", socket=info["admin_socket"], master=info["master_socket"],
                    config=kw.pop("config", info["config"]), interval=0.5, **kw)
    return HAConsoleApp(target)


def maint(lab: LabHandle, server: str) -> bool:
    return bool(state(lab, "be_static", server).srv_admin_state & 1)


def goes_down(screen: ConfirmScreen) -> bool:
    return "be_static keeps 0 usable servers: the backend goes DOWN" in screen.body


async def test_undo_of_ready_on_the_last_servers_needs_the_name(lab: LabHandle,
                                                                static_ready: None) -> None:
    for s in STATIC:
        lab.send(lab.info["admin_socket"], f"set server be_static/{s} state maint")
    app = make(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        await mark_backend(pilot, app, "be_static", 3)
        await pilot.press("o")
        await choose(pilot, app, "ready —")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert not app.screen.type_to_confirm  # bringing servers back is not dangerous
        await pilot.press("y")
        assert await wait_for(pilot, lambda: not any(maint(lab, s) for s in STATIC))
        await pilot.press("u")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        screen = app.screen
        assert screen.commands == [f"set server be_static/{s} state maint"
                                   for s in reversed(STATIC)]
        assert goes_down(screen) and screen.type_to_confirm
        await pilot.press("y")  # a bare yes is not the name: nothing is sent
        await pilot.pause(0.3)
        assert not any(maint(lab, s) for s in STATIC)
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert not any(maint(lab, s) for s in STATIC)
        assert app.monitor.operations.undo_stack  # still there to undo later


async def test_journal_restore_needs_the_name_when_the_backend_goes_down(
        lab: LabHandle, static_ready: None) -> None:
    sock = lab.info["admin_socket"]
    for s in STATIC:
        lab.send(sock, f"set server be_static/{s} state maint")
    client, target = RuntimeClient(sock), Target(name="lab", socket=sock)
    snapshot, states = await read_state(client)
    ready = plan(Action.server("server_state", [("be_static", "static1")], state="ready"),
                 snapshot, states)
    assert (await execute(ready, client, target)).ok
    app = make(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        await pilot.press("j")
        assert await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen)
                              and app.screen.entries)
        await pilot.press("r")  # the newest entry: "ready" on static1, before it MAINT
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        screen = app.screen
        assert screen.commands == ["set server be_static/static1 state maint"]
        assert "Brings be_static/static1 back to its state before" in screen.body
        assert goes_down(screen) and screen.type_to_confirm == "be_static/static1"
        await pilot.press("y")
        await pilot.pause(0.3)
        assert not maint(lab, "static1")
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert not maint(lab, "static1")


def config_with_static_disabled(lab: LabHandle, directory: Path) -> str:
    text = Path(lab.info["config"]).read_text()
    text = re.sub(r"^(\s*server static\d .*?)(\s*#.*)?$", r"\1 disabled\2", text, flags=re.M)
    path = directory / "haproxy.cfg"
    path.write_text(text)
    return str(path)


async def test_drift_revert_all_sees_the_whole_backend(lab: LabHandle, tmp_path: Path,
                                                       static_ready: None) -> None:
    app = make(lab, config=config_with_static_disabled(lab, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        await pilot.press("v")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DriftScreen)
                              and app.screen.items)
        assert {i.ref for i in app.screen.items} == {f"be_static/{s}" for s in STATIC}
        await pilot.press("R")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        screen = app.screen
        assert screen.commands == [f"set server be_static/{s} state maint" for s in STATIC]
        assert goes_down(screen) and screen.type_to_confirm
        await pilot.press("y")
        await pilot.pause(0.3)
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert not any(maint(lab, s) for s in STATIC)


async def test_read_only_drift_revert_sends_nothing(lab: LabHandle, tmp_path: Path,
                                                    static_ready: None) -> None:
    app = make(lab, config=config_with_static_disabled(lab, tmp_path), read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        await pilot.press("v")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DriftScreen)
                              and app.screen.items)
        await pilot.press("r")
        await pilot.pause(0.5)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("R")
        await pilot.pause(0.5)
        assert not isinstance(app.screen, ConfirmScreen)
        assert not any(maint(lab, s) for s in STATIC)
    refused = [e for e in read_entries("lab") if e.get("via") == "refused"]
    assert refused and "read-only" in refused[-1]["error"]


async def test_drain_to_zero_confirmation_shows_the_impact(lab: LabHandle) -> None:
    snapshot, states = await read_state(RuntimeClient(lab.info["admin_socket"]))
    expected = plan_drain_to_zero(snapshot, states, "be_web", "web5", 300.0)
    app = make(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        app.query_one(ProxyTable).move_cursor_to(("be_web", "web5"))
        await pilot.press("o")
        await choose(pilot, app, "drain to zero")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = app.screen.body
        for line in expected.impact:  # the lines `haconsole server drain-to-zero` prints
            assert line in body, line
        assert "then, once it has 0 sessions and 0 queued" in body
        await pilot.press("escape")
