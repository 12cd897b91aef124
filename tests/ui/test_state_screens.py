"""The configuration screens with odd state: corrupt files are a banner, never a crash;
the review and history say who else has a change staged and when the lock and the
history are private."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.haproxy import history_store as hist
from console.haproxy.staging import Staging
from console.ui.screens.config_history import ConfigHistoryScreen
from tests.ui.test_config_screens import CONFIG, make_target, review, screen_text, stage_weight


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "haproxy.cfg"
    path.write_text(CONFIG)
    return path


async def test_a_corrupt_staged_change_is_a_banner(cfg: Path) -> None:
    st = stage_weight(cfg)
    st.file.write_text("[]")
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "✖ the staged change is unreadable" in text and str(st.file) in text
        assert app.screen.status == "error"
        await pilot.press("h")  # the rest of the console goes on
        await pilot.pause()
        assert isinstance(app.screen, ConfigHistoryScreen)


async def test_review_and_history_say_who_has_a_change_staged(cfg: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    with monkeypatch.context() as bob:
        bob.setenv("USER", "bob")
        bob.setenv("LOGNAME", "bob")
        bob.setenv("HACONSOLE_STATE_DIR", str(tmp_path / "bob-state"))
        stage_weight(cfg, weight="30")
    hist.save_version(str(cfg), CONFIG.encode(), message="first", status="found")
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "Nothing staged" in screen_text(app)  # bob's change is his
        assert "▲ bob has a change staged since " in screen_text(app)
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, ConfigHistoryScreen)
        assert "▲ bob has a change staged since " in screen_text(app)


async def test_private_lock_and_history_are_said(cfg: Path, tmp_path: Path,
                                                 monkeypatch) -> None:
    monkeypatch.setenv("HACONSOLE_SHARED_STATE_DIR", str(tmp_path / "none" / "haconsole"))
    stage_weight(cfg)
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "▲ lock and history are private to user" in screen_text(app)
        await pilot.press("h")
        await pilot.pause()
        assert "▲ lock and history are private to user" in screen_text(app)


async def test_history_skips_a_bad_entry_and_says_so(cfg: Path) -> None:
    hist.save_version(str(cfg), CONFIG.encode(), message="first", status="found")
    v2 = hist.save_version(str(cfg), (CONFIG + "#2\n").encode(), message="second",
                           status="applied")
    v2.file.with_suffix(".json").write_text(json.dumps(["not", "an", "object"]))
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfigHistoryScreen)
        assert [v.number for v in screen.versions] == [1]
        assert "▲ version 2 skipped" in screen_text(app)
    assert not Staging.load(str(cfg)).pending
