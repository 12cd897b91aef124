"""``haconsole server|frontend|counters|table|map|acl`` run as a user would, on the real lab.

State is checked straight from the admin socket; "unchanged" means ``show servers
state`` minus the columns that move by themselves (see tests/integration/test_actions.py).
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.haproxy.known_bugs import branch
from tests.integration.test_actions import (
    held_requests,
    journal,
    stable_state,
    stat_row,
    state_rows,
)
from tests.lab_helpers import LabHandle, start_lab

pytestmark = pytest.mark.haproxy


@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[LabHandle]:
    directory = Path(tempfile.mkdtemp(prefix="hac-acli-"))
    with start_lab(directory, str(haproxy_binary.path)) as handle:
        yield handle
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.stderr").unlink(missing_ok=True)


def haconsole(lab: LabHandle, *args: str, level: str = "admin",
              tty_input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI; stdin is /dev/null, or a terminal fed *tty_input*."""
    cmd = [sys.executable, "-m", "console", "-s", lab.info[f"{level}_socket"], *args]
    if tty_input is None:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    master, slave = pty.openpty()
    try:
        os.write(master, tty_input.encode())
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=slave)
    finally:
        os.close(master)
        os.close(slave)


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


def admin_state(lab: LabHandle, backend: str, server: str) -> str:
    return state_rows(lab)[(backend, server)]["srv_admin_state"]


# --------------------------------------------------------------------------- changes

def test_drain_then_ready_with_yes(lab: LabHandle) -> None:
    out = haconsole(lab, "server", "drain", "be_web/web1", "--yes")
    assert out.returncode == 0, out.stderr
    assert "command: set server be_web/web1 state drain" in out.stdout
    assert "impact:  web1 takes no new connections" in out.stdout
    assert "be_web keeps 4 usable servers of 5" in out.stdout
    assert "undo:    set server be_web/web1 state ready" in out.stdout
    assert "HAProxy: (no answer: done)" in out.stdout
    assert "runtime only — lost at reload or restart" in out.stdout
    assert admin_state(lab, "be_web", "web1") == "8"
    back = haconsole(lab, "server", "ready", "be_web/web1", "-y")
    assert back.returncode == 0, back.stderr
    assert admin_state(lab, "be_web", "web1") == "0"
    assert [e["command"] for e in journal()] == ["set server be_web/web1 state drain",
                                                 "set server be_web/web1 state ready"]


def test_no_terminal_needs_yes(lab: LabHandle) -> None:
    before = stable_state(lab)
    out = haconsole(lab, "server", "maint", "be_web/web2")
    assert out.returncode == 2
    assert "--yes" in one_line_error(out)
    assert "command: set server be_web/web2 state maint" in out.stdout  # shown, not sent
    assert stable_state(lab) == before
    assert len(journal()) == 1 and journal()[0]["ok"] is False


def test_terminal_confirmation(lab: LabHandle) -> None:
    out = haconsole(lab, "server", "drain", "be_web/web2", tty_input="y\n")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "Send? [y/N]" in out.stdout and admin_state(lab, "be_web", "web2") == "8"
    out = haconsole(lab, "server", "ready", "be_web/web2", tty_input="n\n")
    assert out.returncode == 2 and "not confirmed" in one_line_error(out)
    assert admin_state(lab, "be_web", "web2") == "8"
    assert haconsole(lab, "server", "ready", "be_web/web2", "-y").returncode == 0
    # Dangerous: the name must be typed.
    out = haconsole(lab, "frontend", "disable", "fe_web", tty_input="y\n")
    assert out.returncode == 2 and "Type fe_web to confirm" in out.stdout
    assert stat_row(lab, "fe_web", "FRONTEND")["status"] == "OPEN"
    out = haconsole(lab, "frontend", "disable", "fe_web", tty_input="fe_web\n")
    assert out.returncode == 0, out.stderr
    assert stat_row(lab, "fe_web", "FRONTEND")["status"] != "OPEN"
    assert haconsole(lab, "frontend", "enable", "fe_web", "-y").returncode == 0
    assert stat_row(lab, "fe_web", "FRONTEND")["status"] == "OPEN"


def test_weights(lab: LabHandle) -> None:
    assert haconsole(lab, "server", "weight", "be_web/web2", "+2", "-y").returncode == 0
    assert state_rows(lab)[("be_web", "web2")]["srv_uweight"] == "3"
    out = haconsole(lab, "server", "weight", "be_web/web2", "reset", "-y")
    assert out.returncode == 0 and "reset to the configured 1" in out.stdout
    assert state_rows(lab)[("be_web", "web2")]["srv_uweight"] == "1"
    for bad in ("300", "abc", "-5"):
        out = haconsole(lab, "server", "weight", "be_web/web2", bad, "-y")
        assert out.returncode == 2, (bad, out.stderr)
        one_line_error(out)
    assert state_rows(lab)[("be_web", "web2")]["srv_uweight"] == "1"


def test_every_backend_with_star(lab: LabHandle) -> None:
    out = haconsole(lab, "server", "maint", "*/static1", "-y")
    assert out.returncode == 0, out.stderr
    assert admin_state(lab, "be_static", "static1") == "1"
    assert haconsole(lab, "server", "ready", "*/static1", "-y").returncode == 0
    assert admin_state(lab, "be_static", "static1") == "0"


def test_counters_and_levels(lab: LabHandle) -> None:
    assert haconsole(lab, "counters", "clear", "-y", level="operator").returncode == 0
    before = stable_state(lab)
    out = haconsole(lab, "counters", "clear", "--all", "-y", level="operator")
    assert out.returncode == 1
    err = one_line_error(out)
    assert "level operator" in err and "needs level admin" in err
    out = haconsole(lab, "server", "maint", "be_web/web1", "-y", level="operator")
    assert out.returncode == 1 and "level operator" in one_line_error(out)
    out = haconsole(lab, "map", "add", lab.info["map_file"], "x.lab", "be_web", "-y",
                    level="user")
    assert out.returncode == 1 and "level user" in one_line_error(out)
    assert stable_state(lab) == before
    assert [e["ok"] for e in journal()] == [True, False, False, False]


def test_read_only_refuses(lab: LabHandle) -> None:
    before = stable_state(lab)
    out = haconsole(lab, "--read-only", "server", "maint", "be_web/web1", "-y")
    assert out.returncode == 2 and "read-only" in one_line_error(out)
    out = haconsole(lab, "--read-only", "map", "del", lab.info["map_file"], "www.lab.local",
                    "-y")
    assert out.returncode == 2
    assert haconsole(lab, "--read-only", "map", "list").returncode == 0  # reads are fine
    assert stable_state(lab) == before
    assert len(journal()) == 2


def test_unknown_server_one_line(lab: LabHandle) -> None:
    out = haconsole(lab, "server", "drain", "be_x/y", "-y")
    assert out.returncode == 1
    assert one_line_error(out).startswith("haconsole: no such server be_x/y")
    out = haconsole(lab, "frontend", "disable", "fe_nope", "-y")
    assert out.returncode == 1 and "no such frontend fe_nope" in one_line_error(out)


ATTEMPTS = [
    ("server", "drain", "be_web/web1;disable frontend fe_web"),
    ("server", "drain", "be_web/web1\ndisable frontend fe_web"),
    ("server", "maint", "be_web/web1 x"),
    ("server", "maint", "be_wéb/web1"),
    ("server", "maint", "be_web/web1/x"),
    ("server", "weight", "be_web/web1", "1;shutdown sessions server be_web/web1"),
    ("server", "weight", "be_web/web1", "257"),
    ("server", "weight", "be_web/web1", "1e3"),
    ("server", "health", "be_web/web1", "down;enable frontend fe_web"),
    ("server", "maxconn", "be_web/web3", "10\nclear counters all"),
    ("server", "addr", "be_web/web1", "127.0.0.1;shutdown frontend fe_web"),
    ("frontend", "disable", "fe_web;shutdown frontend fe_api"),
    ("map", "add", "#0;clear counters all", "k", "v"),
    ("map", "add", "/tmp/a b.map", "k", "v"),
    ("acl", "add", "#0", "10.0.0.1\nclear counters all"),
    ("table", "clear", "fe_api;clear counters all"),
]


def test_injections_refused_before_sending(lab: LabHandle) -> None:
    before = stable_state(lab)
    for n, argv in enumerate(ATTEMPTS, 1):
        out = haconsole(lab, *argv, "-y")
        assert out.returncode == 2, (argv, out.stderr, out.stdout)
        one_line_error(out)
        assert "command:" not in out.stdout, argv  # refused before planning
        assert len(journal()) == n, argv
    assert stable_state(lab) == before
    assert all(e["ok"] is False and e["via"] == "refused" for e in journal())


# --------------------------------------------------------------------------- drain to zero

def test_drain_to_zero(lab: LabHandle) -> None:
    out = haconsole(lab, "server", "drain-to-zero", "be_static/static2", "--timeout", "20",
                    "--poll", "0.1", "-y")
    assert out.returncode == 0, out.stderr
    assert "reached 0 sessions" in out.stdout and "now in MAINT" in out.stdout
    assert admin_state(lab, "be_static", "static2") == "1"
    assert haconsole(lab, "server", "ready", "be_static/static2", "-y").returncode == 0


def test_drain_to_zero_timeout_keeps_drain(lab: LabHandle) -> None:
    with held_requests(lab, 6):
        deadline = time.monotonic() + 10
        busy: list[str] = []
        while not busy:
            assert time.monotonic() < deadline, "no held session shows in show stat"
            busy = [s for s in ("static1", "static2", "static3")
                    if int(stat_row(lab, "be_static", s)["scur"] or 0) > 0]
        ref = f"be_static/{busy[0]}"
        out = haconsole(lab, "server", "drain-to-zero", ref, "--timeout", "0.5", "--poll",
                        "0.1", "-y")
        assert out.returncode == 1
        err = one_line_error(out)
        assert "timed out" in err and "left in DRAIN" in err
        assert admin_state(lab, "be_static", busy[0]) == "8"
        out = haconsole(lab, "server", "drain-to-zero", ref, "--timeout", "0.3", "--poll",
                        "0.1", "--on-timeout", "ready", "-y")
        assert out.returncode == 1
        assert admin_state(lab, "be_static", busy[0]) == "0"


# --------------------------------------------------------------------------- maps, acls, tables

def test_map_and_acl_commands(lab: LabHandle) -> None:
    path = lab.info["map_file"]
    out = haconsole(lab, "map", "add", path, "cli.lab.local", "be_api", "-y", level="operator")
    if branch(lab.info["haproxy_version"]) >= (3, 4):  # maps and ACLs need admin from 3.4
        assert out.returncode == 1, out.stderr
        assert "needs level admin on HAProxy 3.4 and later" in one_line_error(out)
        assert path not in lab.send(lab.info["admin_socket"], f"show map {path}")
        out = haconsole(lab, "map", "add", path, "cli.lab.local", "be_api", "-y")
    assert out.returncode == 0, out.stderr
    assert "temporary: the map file is not changed" in out.stdout
    out = haconsole(lab, "map", "show", path, "--filter", "cli.lab")
    assert out.stdout.strip() == "cli.lab.local  be_api"
    assert haconsole(lab, "map", "set", path, "cli.lab.local", "be_web", "-y").returncode == 0
    assert haconsole(lab, "map", "show", path, "--filter", "cli.lab").stdout.strip() \
        == "cli.lab.local  be_web"
    assert haconsole(lab, "map", "del", path, "cli.lab.local", "-y").returncode == 0
    assert haconsole(lab, "map", "show", path, "--filter", "cli.lab").stdout.strip() == ""
    out = haconsole(lab, "map", "del", path, "cli.lab.local", "-y")
    assert out.returncode == 1 and "no key cli.lab.local" in one_line_error(out)
    acl = lab.info["acl_file"]
    assert haconsole(lab, "acl", "add", acl, "10.1.1.1", "-y").returncode == 0
    assert "10.1.1.1" in haconsole(lab, "acl", "show", acl).stdout
    assert haconsole(lab, "acl", "del", acl, "10.1.1.1", "-y").returncode == 0
    assert "10.1.1.1" not in haconsole(lab, "acl", "show", acl).stdout
    assert "hosts.map" in haconsole(lab, "map", "list").stdout


def test_table_commands(lab: LabHandle) -> None:
    lab.send(lab.info["admin_socket"], "set table fe_api key 10.7.7.7 data.gpc0 9")
    out = haconsole(lab, "table", "show", "fe_api", "--data", "data.gpc0 gt 8")
    assert out.returncode == 0 and "10.7.7.7" in out.stdout
    out = haconsole(lab, "table", "clear", "fe_api", "--key", "10.7.7.7", "-y",
                    level="operator")
    assert out.returncode == 0, out.stderr
    assert "10.7.7.7" not in haconsole(lab, "table", "show", "fe_api").stdout
    out = haconsole(lab, "table", "clear", "fe_api")
    assert out.returncode == 2 and "--yes" in one_line_error(out)
    assert "fe_api" in haconsole(lab, "table", "list").stdout
