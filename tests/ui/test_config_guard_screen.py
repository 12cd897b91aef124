"""The console's apply asks to type the consequence of a change that takes service away."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.haproxy.staging import Staging
from console.ui.screens.config import ConfigScreen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.apply_steps import ApplySteps
from tests.ui.test_config_screens import CONFIG, make_target, review, wait_for

PHRASE = "remove 2 servers"


def without_be_app_servers() -> bytes:
    return CONFIG.replace("    server app1 127.0.0.1:18081 weight 10\n", "").replace(
        "    server app2 127.0.0.1:18082 weight 10\n", "").encode()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "haproxy.cfg"
    path.write_text(CONFIG)
    Staging.load(str(path)).set_candidate(without_be_app_servers(), note="cleanup")
    return path


async def test_y_does_not_confirm_a_removal(cfg: Path) -> None:
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.type_to_confirm == PHRASE
        assert "This takes service away" in confirm.title_text
        assert "▲ this removes 2 servers (2 of the 3 servers in the live files)" in confirm.body
        assert "Checked with: " in confirm.body
        await pilot.press("y")  # goes into the input box, confirms nothing
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfigScreen) and not app.screen.applying
    assert cfg.read_text() == CONFIG


@pytest.mark.haproxy
async def test_typing_the_consequence_applies_it(cfg: Path, haproxy_binary) -> None:
    app = review(make_target(cfg, haproxy=haproxy_binary.path))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press(*PHRASE, "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfigScreen)
        await wait_for(pilot, lambda: not screen.applying and screen.result is not None)
        assert screen.result.ok and screen.result.outcome == "written", screen.result.steps
        status, detail = screen.query_one(ApplySteps).steps["check"]
        assert status == "warn" and "confirmed: this removes 2 servers" in detail
        assert haproxy_binary.path in detail
    assert cfg.read_bytes() == without_be_app_servers()
