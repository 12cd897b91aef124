"""Runtime changes from the console, against the real lab (2.6 and 2.8)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from console.haproxy.journal import read_entries
from console.haproxy.parsers import parse_servers_state
from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.screens.actions import ActionMenu, DrainScreen, ValuePrompt
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.table import ProxyTable
from tests.lab_helpers import start_lab

pytestmark = pytest.mark.haproxy


@pytest.fixture(scope="module")
def lab(haproxy_binary):
    directory = Path(tempfile.mkdtemp(prefix="haconsole-ops-"))
    try:
        with start_lab(directory, haproxy_binary.path) as handle:
            yield handle
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def state(lab, backend: str, server: str):
    text = lab.send(lab.info["admin_socket"], f"show servers state {backend}")
    return next(r for r in parse_servers_state(text) if r.srv_name == server)


async def wait_for(pilot, predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(0.1)
    return predicate()


async def open_app(pilot_app: HAConsoleApp, pilot) -> None:
    assert await wait_for(pilot, lambda: pilot_app.monitor.snapshot is not None and pilot_app.level)


async def choose(pilot, app: HAConsoleApp, label_start: str) -> None:
    assert await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu))
    labels = [i.label for i in app.screen.items]
    index = next(n for n, label in enumerate(labels) if label.startswith(label_start))
    for _ in range(index):
        await pilot.press("down")
    await pilot.press("enter")


async def mark_backend(pilot, app: HAConsoleApp, backend: str, servers: int) -> None:
    """Mark every server of *backend* from its row's menu ("select every server")."""
    table = app.query_one(ProxyTable)
    table.move_cursor_to((backend, "BACKEND"))
    await pilot.press("o")
    await choose(pilot, app, "select every server")
    assert await wait_for(pilot, lambda: len(table.marked) == servers)


def make(lab) -> HAConsoleApp:
    info = lab.info
    return HAConsoleApp(Target(name="lab", socket=info["admin_socket"],
                               master=info["master_socket"], config=info["config"],
                               interval=0.5))


async def test_drain_then_undo(lab) -> None:
    app = make(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        assert app.query_one(ProxyTable).move_cursor_to(("be_web", "web2"))
        await pilot.press("o")
        await choose(pilot, app, "drain —")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.commands == ["set server be_web/web2 state drain"]
        await pilot.press("y")
        assert await wait_for(pilot, lambda: state(lab, "be_web", "web2").srv_admin_state & 8)
        entries = [e for e in read_entries("lab") if e["command"].endswith("web2 state drain")]
        assert entries and entries[-1]["ok"]
        # the header counts the runtime-only difference
        assert await wait_for(pilot, lambda: (app.monitor.navigation.drift_count or 0) >= 1)
        await pilot.press("u")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        assert await wait_for(pilot, lambda: not state(lab, "be_web", "web2").srv_admin_state & 8)


async def test_weight_prompt_and_bad_value(lab) -> None:
    app = make(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        app.query_one(ProxyTable).move_cursor_to(("be_api", "api1"))
        await pilot.press("o")
        await choose(pilot, app, "weight…")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ValuePrompt))
        before = lab.send(lab.info["admin_socket"], "show servers state be_api")
        await pilot.press(*"5;shutdown", "enter")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)  # refused before anything was sent
        after = lab.send(lab.info["admin_socket"], "show servers state be_api")
        cut = lambda t: [ln.split()[:9] for ln in t.splitlines()]  # noqa: E731
        assert cut(before) == cut(after)
        assert any(e.get("via") == "refused" for e in read_entries("lab"))
        await pilot.press("o")
        await choose(pilot, app, "weight…")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ValuePrompt))
        await pilot.press(*"50", "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        assert await wait_for(pilot, lambda: state(lab, "be_api", "api1").srv_uweight == 50)
        await pilot.press("u")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        assert await wait_for(pilot, lambda: state(lab, "be_api", "api1").srv_uweight == 1)


async def test_last_server_needs_the_name_typed(lab) -> None:
    app = make(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        await mark_backend(pilot, app, "be_static", 3)
        await pilot.press("o")
        await choose(pilot, app, "maint —")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        screen = app.screen
        assert screen.type_to_confirm
        assert "DOWN" in screen.body or "no usable server" in screen.body
        await pilot.press("y", "enter")  # not the word: nothing happens
        await pilot.pause(0.2)
        assert state(lab, "be_static", "static1").srv_admin_state & 1 == 0
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert state(lab, "be_static", "static1").srv_admin_state & 1 == 0


async def test_three_servers_confirmed_by_name_at_80x24(lab) -> None:
    """Marked with space, MAINT from the menu: the dialog fits the terminal, its input is
    on screen and focused, and the name typed sends the change."""
    app = make(lab)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_app(app, pilot)
            table = app.query_one(ProxyTable)
            for n in (1, 2, 3):
                assert table.move_cursor_to(("be_static", f"static{n}"))
                await pilot.press("space")
            assert len(table.marked) == 3
            await pilot.press("o")
            await choose(pilot, app, "maint —")
            assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            screen = app.screen
            assert isinstance(screen, ConfirmScreen) and screen.type_to_confirm
            field = screen.query_one("#confirm-input")
            assert app.focused is field
            assert screen.region.contains_region(field.region), field.region
            await pilot.press(*screen.type_to_confirm, "enter")
            assert await wait_for(pilot, lambda: all(
                state(lab, "be_static", f"static{n}").srv_admin_state & 1 for n in (1, 2, 3)))
    finally:
        for n in (1, 2, 3):
            lab.send(lab.info["admin_socket"], f"set server be_static/static{n} state ready")


async def test_drain_to_zero_reaches_maint(lab) -> None:
    app = make(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        app.query_one(ProxyTable).move_cursor_to(("be_web", "web5"))  # the backup: idle
        await pilot.press("o")
        await choose(pilot, app, "drain to zero")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DrainScreen))
        assert await wait_for(pilot, lambda: app.screen.finished, 30)
        assert state(lab, "be_web", "web5").srv_admin_state & 1
        await pilot.press("escape")
        lab.send(lab.info["admin_socket"], "set server be_web/web5 state ready")


async def test_drift_view_reverts(lab) -> None:
    lab.send(lab.info["admin_socket"], "set server be_static/static2 weight 9")
    app = make(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(app, pilot)
        await pilot.press("v")
        from console.ui.screens.drift import DriftScreen

        assert await wait_for(pilot, lambda: isinstance(app.screen, DriftScreen)
                              and app.screen.items)
        refs = [i.ref for i in app.screen.items]
        assert "be_static/static2" in refs
        for _ in range(refs.index("be_static/static2")):
            await pilot.press("down")
        await pilot.press("r")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.commands == ["set server be_static/static2 weight 1"]
        await pilot.press("y")
        assert await wait_for(pilot, lambda: state(lab, "be_static", "static2").srv_uweight
                              == 1)
