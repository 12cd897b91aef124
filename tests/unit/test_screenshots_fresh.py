"""The README's screenshots are taken from the UI as it is (``make screenshots``)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def screenshots_module():
    spec = importlib.util.spec_from_file_location("screenshots_script",
                                                  REPO / "scripts" / "screenshots.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_screenshots_are_newer_than_the_ui() -> None:
    shots = screenshots_module()
    recorded = (REPO / "screenshots" / shots.SOURCES_FILE).read_text().split()[-1]
    assert recorded == shots.sources_digest(), (
        "the UI changed after the screenshots were taken: run `make screenshots` and "
        "commit screenshots/")


def test_every_screenshot_the_readme_shows_exists() -> None:
    readme = (REPO / "README.md").read_text()
    shown = set(re.findall(r"\(screenshots/([^)]+\.svg)\)", readme))
    assert shown
    missing = sorted(n for n in shown if not (REPO / "screenshots" / n).is_file())
    assert not missing


def test_the_digest_follows_a_change_in_the_ui(tmp_path: Path) -> None:
    shots = screenshots_module()
    (tmp_path / "console" / "ui").mkdir(parents=True)
    (tmp_path / "console" / "ui" / "a.py").write_text("x = 1\n")
    before = shots.sources_digest(tmp_path)
    (tmp_path / "console" / "ui" / "a.py").write_text("x = 2\n")
    assert shots.sources_digest(tmp_path) != before
