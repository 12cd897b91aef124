"""``haconsole config`` on a hostile config file and with --read-only: nothing printed
can drive the terminal, no history line can be forged, and --read-only changes nothing.
No HAProxy runs here: these commands only read and stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.haproxy import history_store as hist
from console.haproxy.staging import Staging

CONFIG = """\
global
    maxconn 100

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

backend be_app
    server app1 127.0.0.1:18081 weight 10
"""
CONTROLS = ("\x1b", "\x07", "\x9b", "\r")
HOSTILE = "# \x1b]0;pwned\x07 \x1b[2J\x9b31m owned\r"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "haproxy.cfg"
    path.write_text(CONFIG)
    return path


def haconsole(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_config_diff_shows_control_characters_escaped(cfg: Path) -> None:
    Staging.load(str(cfg)).set_candidate(CONFIG.replace(
        "backend be_app\n", f"backend be_app\n    {HOSTILE}\n").encode(), note="test")
    out = haconsole("-c", str(cfg), "config", "diff")
    assert out.returncode == 1, out.stderr
    assert not any(c in out.stdout + out.stderr for c in CONTROLS)
    assert "+    # \\x1b]0;pwned\\x07 \\x1b[2J\\x9b31m owned\\r" in out.stdout


def test_a_message_cannot_forge_a_history_line(cfg: Path) -> None:
    forged = "fix\n*    9  2025-01-01 00:00:00  root       applied      all good"
    out = haconsole("-c", str(cfg), "config", "apply", "--yes", "-m", forged)
    assert out.returncode == 1
    assert "control character" in out.stderr and "message (-m)" in out.stderr
    # a version recorded with one anyway (an older console, a hand-edited file)
    hist.save_version(str(cfg), CONFIG.encode(), message=forged + "\x1b]0;t\x07",
                      status="applied")
    out = haconsole("-c", str(cfg), "config", "history")
    assert out.returncode == 0, out.stderr
    assert not any(c in out.stdout for c in CONTROLS)
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and "fix\\n*    9" in lines[1]  # header, one version, footer


@pytest.mark.parametrize("action", ["discard", "rebase"])
def test_read_only_discards_and_rebases_nothing(cfg: Path, action: str) -> None:
    st = Staging.load(str(cfg))
    st.add_ops([{"op": "server_set", "backend": "be_app", "server": "app1",
                 "set": {"weight": "20"}}])
    cfg.write_text(CONFIG.replace("maxconn 100", "maxconn 200"))  # stale: rebase has work
    before = st.file.read_bytes()
    out = haconsole("--read-only", "-c", str(cfg), "config", action)
    assert out.returncode != 0 and "read-only" in out.stderr
    assert st.file.read_bytes() == before and Staging.load(str(cfg)).pending
