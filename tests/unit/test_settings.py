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
    ("[instances.x]\nssh = \"-oProxyCommand=touch /tmp/p\"\n", ":2",
     "instances.x.ssh: not an SSH host"),
    ("[instances.x]\nssh = \"lb1\\nx\"\n", ":2", "instances.x.ssh: not an SSH host"),
    ("[instances.x]\nsudo = \"yes\"\n", ":2", "instances.x.sudo must be"),
    ("[instances.x]\n[fleets.p]\ninstances = [\"x\", \"y\"]\n", ":2",
     "fleets.p: no [instances.y]"),
    ("[instances.x]\n[fleets.p]\ninstances = [\"x\", \"x\"]\n", ":2",
     "fleets.p names an instance twice"),
    ("[instances.x]\n[fleets.p]\ninstances = \"x\"\n", ":2", "fleets.p needs instances"),
    ("[fleets]\np = 3\n", ":2", "fleets.p needs instances"),
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


# -- one range for the interval, wherever it comes from ---------------------------------

@pytest.mark.parametrize("value", ["0", "-1", "0.01", "nan", "inf", "1e9"])
def test_interval_from_the_environment_is_range_checked(monkeypatch, value: str) -> None:
    monkeypatch.setenv("HACONSOLE_INTERVAL", value)
    with pytest.raises(ConfigError) as exc:
        settings.load()
    msg = str(exc.value)
    assert "HACONSOLE_INTERVAL" in msg and "0.1" in msg and "3600 seconds" in msg, msg


@pytest.mark.parametrize("text", ["interval = 0", "interval = -1", "interval = nan",
                                  "interval = inf", "interval = 3601"])
def test_interval_in_the_file_is_range_checked(tmp_path: Path, text: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(f"[ui]\n{text}\n")
    with pytest.raises(ConfigError) as exc:
        settings.load(p)
    msg = str(exc.value)
    assert "ui.interval" in msg and "between 0.1 and 3600 seconds" in msg and f"{p}:2" in msg


@pytest.mark.parametrize("value", ["0", "-1", "nan", "4000"])
def test_interval_flag_is_range_checked_like_the_settings(value: str, capsys) -> None:
    from console.cli import main

    assert main(["--interval", value, "-s", "/nonexistent.sock", "show", "info"]) == 1
    err = capsys.readouterr().err
    assert "--interval" in err and "0.1" in err and "3600 seconds" in err, err


@pytest.mark.parametrize("value", ["٨٠", "８０", "2\u0661"])
def test_interval_digits_are_ascii_digits(value: str, monkeypatch, capsys) -> None:
    """float() reads Arabic-Indic or full-width digits; an interval must not."""
    from console.cli import main

    monkeypatch.setenv("HACONSOLE_INTERVAL", value)
    with pytest.raises(ConfigError, match="digits 0-9"):
        settings.load()
    monkeypatch.delenv("HACONSOLE_INTERVAL")
    assert main(["--interval", value, "-s", "/nonexistent.sock", "show", "info"]) == 1
    assert "digits 0-9" in capsys.readouterr().err


def test_a_good_interval_is_taken_from_each_source(tmp_path: Path, monkeypatch) -> None:
    assert settings.check_interval("0.1", "HACONSOLE_INTERVAL") == 0.1
    assert settings.check_interval(3600, "ui.interval") == 3600.0
    monkeypatch.setenv("HACONSOLE_INTERVAL", " 0.5 ")
    assert settings.load().ui.interval == 0.5


# -- limits: the deadline and the size cap of every read from HAProxy ---------------------

def test_limits_from_the_file_then_the_environment(tmp_path: Path, monkeypatch) -> None:
    from console.haproxy import limits

    p = tmp_path / "s.toml"
    p.write_text("[limits]\ntimeout = 3\nmax_answer_mb = 2\n")
    s = settings.load(p)
    assert (s.limits.timeout, s.limits.max_answer) == (3.0, 2 * limits.MIB)
    monkeypatch.setenv("HACONSOLE_TIMEOUT", "4.5")
    monkeypatch.setenv("HACONSOLE_MAX_ANSWER_MB", "512")
    s = settings.load(p)
    assert (s.limits.timeout, s.limits.max_answer) == (4.5, 512 * limits.MIB)
    try:
        s.limits.apply()
        from console.haproxy.transport import RuntimeClient

        client = RuntimeClient("/x.sock")
        assert (client.read_timeout, client.max_answer) == (4.5, 512 * limits.MIB)
    finally:
        limits.reset()


def test_limits_default_well_above_a_big_farm() -> None:
    s = settings.load()
    # `show stat` of 50,000 servers is about 13 MB
    assert s.limits.max_answer >= 100 * 1024 * 1024 and s.limits.timeout == 10.0


@pytest.mark.parametrize("var,value,what", [
    ("HACONSOLE_TIMEOUT", "0", "between 0.5 and 600 seconds"),
    ("HACONSOLE_TIMEOUT", "soon", "is not a number"),
    ("HACONSOLE_MAX_ANSWER_MB", "0", "between 1 and 4096 MiB"),
])
def test_limits_from_the_environment_are_checked(monkeypatch, var, value, what) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as exc:
        settings.load()
    assert var in str(exc.value) and what in str(exc.value)


def test_limits_in_the_file_are_checked(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("[limits]\n\nmax_answer_mb = 100000\n")
    with pytest.raises(ConfigError) as exc:
        settings.load(p)
    assert "limits.max_answer_mb" in str(exc.value) and f"{p}:3" in str(exc.value)


# -- reading the file: at most 1 MiB of UTF-8 from a regular file ---------------------------

def test_a_huge_settings_file_is_not_read(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ConfigError) as exc:
        settings.load(p)
    assert "larger than 1 MiB" in str(exc.value) and str(p) in str(exc.value)


def test_a_directory_or_non_utf8_settings_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        settings.load(tmp_path)
    p = tmp_path / "s.toml"
    p.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        settings.load(p)


def test_dev_null_is_empty_settings() -> None:
    s = settings.load("/dev/null")
    assert s.instances == {} and s.ui.interval == 2.0
