"""--read-only in the console: nothing changes, from any screen — no runtime command
(see tests/ui/test_send_paths_lab.py for Drift's revert), no staged edit, no settings
file written (it may hold a stats password)."""

from __future__ import annotations

from pathlib import Path

from console import settings as settings_mod
from console.haproxy import history_store as hist
from console.haproxy.staging import Staging
from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.screens.config_history import ConfigHistoryScreen
from tests.ui.captured import CapturedSource
from tests.ui.test_config_screens import CONFIG, review


async def test_read_only_does_not_write_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    text = '[ui]\ntheme = "dark"\n\n[instances.edge]\nstats_password = "s3cret"\n'
    path.write_text(text)
    path.chmod(0o600)
    app = HAConsoleApp(Target(name="edge", read_only=True, interval=3600.0), theme="dark",
                       source=CapturedSource(), level="admin",
                       settings=settings_mod.load(path))
    async with app.run_test(size=(120, 40)) as pilot:
        while app.monitor.snapshot is None:
            await pilot.pause(0.05)
        await pilot.press("t")
        await pilot.pause(0.1)
        assert app.theme_name != "dark"  # applied for this session
    assert path.read_text() == text and path.stat().st_mode & 0o777 == 0o600


async def test_read_only_review_screen_stages_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONFIG)
    hist.save_version(str(cfg), CONFIG.encode(), message="first", status="applied")
    st = Staging.load(str(cfg))
    st.add_ops([{"op": "server_set", "backend": "be_app", "server": "app1",
                 "set": {"weight": "20"}}])
    cfg.write_text(CONFIG.replace("maxconn 100", "maxconn 200"))  # stale: R would rebase
    before = st.file.read_bytes()
    app = review(Target(name="edge", config=str(cfg), read_only=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        for key in ("R", "d", "e", "E", "a", "m"):
            await pilot.press(key)
            await pilot.pause(0.1)
        await pilot.press("h")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfigHistoryScreen)
        await pilot.press("r")
        await pilot.pause(0.2)
    assert st.file.read_bytes() == before
