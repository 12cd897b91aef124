from __future__ import annotations

from pathlib import Path

import pytest

from console.haproxy.errors import ConfigError
from console.ui import themes

SHIPPED = ["dark", "light", "high-contrast", "colorblind", "monochrome"]


def test_every_shipped_theme_loads() -> None:
    found, problems = themes.load_all()
    assert problems == []
    for name in SHIPPED:
        assert name in found, name
        t = found[name]
        assert set(themes.STATUS_KEYS) <= set(t.status)
    assert found["light"].theme.dark is False


def test_monochrome_uses_no_colour() -> None:
    t = themes.load_all()[0]["monochrome"]
    for key, style in t.status.items():
        assert style.color is None and style.bgcolor is None, key


def test_user_theme_overrides_and_broken_falls_back(tmp_path: Path) -> None:
    (tmp_path / "dark.toml").write_text('name = "dark"\n[colors]\nprimary = "#ff0000"\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\n[colors\n')
    (tmp_path / "badcolor.toml").write_text('name = "bad"\n[colors]\nprimary = "nope"\n')
    found, problems = themes.load_all([tmp_path])
    assert found["dark"].theme.primary == "#ff0000"
    assert "broken" not in found and "bad" not in found
    assert len(problems) == 2
    assert any("broken.toml" in p and "TOML" in p for p in problems)
    assert any("badcolor.toml" in p and "not a colour" in p for p in problems)


def test_bad_style_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text('name = "x"\n[colors]\nprimary = "#fff"\n[status]\nup = "blinky purple!"\n')
    with pytest.raises(ConfigError, match="status.up"):
        themes.load_theme_file(p)
