from __future__ import annotations

from pathlib import Path

import pytest

from console import settings
from console.haproxy.errors import ConfigError

SAMPLE = """\
# my haconsole settings
default_instance = "edge"   # the usual one

[ui]
theme = "dark"  # dark is easier at night
interval = 1.5

[keys]
refresh = "ctrl+r"

[instances.edge]
socket = "/run/haproxy/admin.sock"
master = "/run/haproxy-master.sock"
config = "/etc/haproxy/haproxy.cfg"
reload = "systemctl"

[instances.lab]
stats_url = "http://127.0.0.1:8404/stats"
"""


def test_load_sample(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(SAMPLE)
    s = settings.load(p)
    assert s.default_instance == "edge"
    assert s.ui.theme == "dark" and s.ui.interval == 1.5
    assert s.ui.keys == {"refresh": "ctrl+r"}
    edge = s.instance()
    assert edge and edge.socket == "/run/haproxy/admin.sock" and edge.reload == "systemctl"
    assert s.instance("lab").stats_url.endswith("/stats")
    with pytest.raises(ConfigError, match="known instances: edge, lab"):
        s.instance("nope")


def test_saving_keeps_comments(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(SAMPLE)
    s = settings.load(p)
    s.set_preference("ui", "theme", "light")
    text = p.read_text()
    assert 'theme = "light"' in text
    assert "# dark is easier at night" in text
    assert "# my haconsole settings" in text and "# the usual one" in text
    assert text.replace('"light"', '"dark"') == SAMPLE
    assert settings.load(p).ui.theme == "light"


def test_missing_default_file_is_empty(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HACONSOLE_SETTINGS", str(tmp_path / "none.toml"))
    s = settings.load()
    assert not s.exists and s.instances == {} and s.instance() is None
    s.set_preference("ui", "theme", "light")
    assert settings.load().ui.theme == "light"


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        settings.load(tmp_path / "none.toml")


@pytest.mark.parametrize("text,where,what", [
    ("[ui]\ntheme = \n", ":2", "not valid TOML"),
    ("a = 1\n[ui\n", ":2", "not valid TOML"),
    ("[ui]\ninterval = \"fast\"\n", ":2", "ui.interval must be"),
    ("[ui]\n\ninterval = 0\n", ":3", "between"),
    ("[instances.x]\nsocket = 5\n", ":2", "instances.x.socket must be a string"),
    ("[instances.x]\nreload = \"kill\"\n", ":2", "reload must be one of"),
    ("default_instance = \"y\"\n", ":1", "is not defined"),
])
def test_broken_file_names_the_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        settings.load(p)
    msg = str(exc.value)
    assert what in msg and f"{p}{where}" in msg, msg


def test_env_overrides(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "s.toml"
    p.write_text(SAMPLE)
    monkeypatch.setenv("HACONSOLE_THEME", "monochrome")
    monkeypatch.setenv("HACONSOLE_INTERVAL", "5")
    monkeypatch.setenv("HACONSOLE_INSTANCE", "lab")
    s = settings.load(p)
    assert (s.ui.theme, s.ui.interval, s.instance().name) == ("monochrome", 5.0, "lab")
