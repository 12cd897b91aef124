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


# -- any broken file is skipped with a notice naming it, never an exception ----------------

BROKEN = {
    "deep.toml": ("name = \"deep\"\nx = " + "[" * 3000 + "]" * 3000 + "\n",
                  "nested too deeply"),
    "five.toml": ("name = \"five\"\n[colors]\nprimary = 5\n", "colors.primary must be a string"),
    "list.toml": ("name = \"list\"\n[colors]\nprimary = [\"#fff\"]\n",
                  "colors.primary must be a string"),
    "dark.toml": ("name = \"darkish\"\ndark = \"no\"\n[colors]\nprimary = \"#fff\"\n",
                  "dark must be true or false"),
    "style.toml": ("name = \"style\"\n[colors]\nprimary = \"#fff\"\n[status]\nup = 3\n",
                   "status.up must be a string"),
    "name.toml": ("name = 7\n[colors]\nprimary = \"#fff\"\n", "theme name 7 is not valid"),
    "colors.toml": ("name = \"colors\"\ncolors = \"red\"\n", "needs a [colors] table"),
    "status.toml": ("name = \"status\"\nstatus = 1\n[colors]\nprimary = \"#fff\"\n",
                    "[status] must be a table"),
}


def test_any_broken_theme_is_skipped_with_what_is_wrong(tmp_path: Path) -> None:
    for name, (text, _what) in BROKEN.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.toml").write_bytes(b"name = \"caf\xe9\"\n")
    (tmp_path / "huge.toml").write_text("# " + "x" * (2 << 20) + "\n")
    (tmp_path / "dir.toml").mkdir()
    found, problems = themes.load_all([tmp_path])
    expected = {name: what for name, (_text, what) in BROKEN.items()}
    expected.update({"latin1.toml": "not UTF-8", "huge.toml": "larger than 1 MiB",
                     "dir.toml": "not a regular file"})
    assert len(problems) == len(expected), problems
    for name, what in expected.items():
        assert any(f"{tmp_path / name}" in p and what in p for p in problems), (name, problems)
    assert {"dark", "light", "monochrome"} <= set(found)
    assert not {"deep", "five", "list", "darkish", "style", "colors", "status"} & set(found)


def test_an_unexpected_error_in_one_theme_skips_only_that_one(tmp_path: Path,
                                                               monkeypatch) -> None:
    (tmp_path / "odd.toml").write_text("name = \"odd\"\n[colors]\nprimary = \"#fff\"\n")
    real = themes.load_theme_file

    def load(path: Path):
        if path.name == "odd.toml":
            raise KeyError("something nobody foresaw")
        return real(path)

    monkeypatch.setattr(themes, "load_theme_file", load)
    found, problems = themes.load_all([tmp_path])
    assert "dark" in found and "odd" not in found
    assert len(problems) == 1 and "odd.toml" in problems[0] and "KeyError" in problems[0]


def test_special_files_in_the_theme_directory_never_hang_or_fill_memory(tmp_path: Path) -> None:
    """A FIFO (an open that waits for a writer) and /dev/zero (an endless read), loaded
    in a child with 1 GiB of memory at most, so that a regression fails rather than
    eats the machine."""
    import os
    import resource
    import subprocess
    import sys

    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    code = ("import sys; from pathlib import Path; from console.ui import themes; "
            "found, problems = themes.load_all([Path(sys.argv[1])]); "
            "print('\\n'.join(problems))")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, timeout=30, preexec_fn=limit)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stdout
    assert any("fifo.toml" in line and "not a regular file (a FIFO)" in line for line in lines)
    assert any("zero.toml" in line and "not a regular file" in line for line in lines)
