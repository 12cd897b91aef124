"""``haconsole config apply`` asks for the consequence when a change takes service away.

Real HAProxy (every binary), driven through the command line as a user would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.haproxy.staging import Staging
from tests.integration.test_apply import Running, run_on_terminal
from tests.integration.test_config_cli import cli

pytestmark = pytest.mark.haproxy


def editor(tmp_path: Path, script: str) -> dict[str, str]:
    path = tmp_path / "ed.sh"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return {"EDITOR": str(path), "VISUAL": ""}


def truncate(lb: Running, tmp_path: Path) -> None:
    out = cli(lb, "config", "edit", env=editor(tmp_path, ': > "$1"'))
    assert out.returncode == 0, out.stderr


def keep_global_only(lb: Running, tmp_path: Path) -> None:
    out = cli(lb, "config", "edit", env=editor(tmp_path, "sed -i '/^defaults/,$d' \"$1\""))
    assert out.returncode == 0, out.stderr


def test_yes_alone_does_not_apply_an_emptied_file(lb: Running, tmp_path: Path) -> None:
    text, worker = lb.text(), lb.worker()
    truncate(lb, tmp_path)
    out = cli(lb, "config", "apply", "--yes")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "this removes 3 servers, 1 frontend and the stats socket; HAProxy will serve " \
        "nothing" in out.stdout
    assert "fe_main" in out.stdout and "be_app/app1" in out.stdout
    err = out.stderr.strip()
    assert err.startswith("haconsole: not applied: this removes 3 servers")
    assert "--allow-removal" in err and len(err.splitlines()) == 1
    # the running instance's binary, as /proc/PID/exe names it (symlinks resolved)
    assert f"check with: {os.path.realpath(lb.binary.path)}" in out.stdout
    assert lb.text() == text and lb.worker() == worker and lb.http() == "v1"
    assert Staging.load(str(lb.config)).status() == "pending"


def test_allow_removal_applies_it(lb: Running, tmp_path: Path) -> None:
    keep_global_only(lb, tmp_path)
    out = cli(lb, "config", "apply", "--yes", "--allow-removal", "-m", "decommission")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[warn] check" in out.stdout and "confirmed: this removes 3 servers and 1 " \
        "frontend; HAProxy will serve nothing" in out.stdout
    assert "[ ok ] verify" in out.stdout
    assert "defaults" not in lb.text()
    with pytest.raises(OSError):
        lb.http()


def test_on_a_terminal_the_consequence_is_typed(lb: Running, tmp_path: Path) -> None:
    keep_global_only(lb, tmp_path)
    text = lb.text()
    prompt = b"Type 'remove 3 servers and 1 frontend' to apply it anyway: "
    rc, seen = run_on_terminal(lb, b"y\n", prompt)
    assert rc == 1 and "not applied (the consequence was not typed)" in seen, seen
    assert lb.text() == text and lb.http() == "v1"
    rc, seen = run_on_terminal(lb, b"remove 3 servers and 1 frontend\n", prompt)
    assert rc == 0, seen
    assert "done: applied as version" in seen
    with pytest.raises(OSError):
        lb.http()


def test_a_small_removal_asks_the_usual_question(lb: Running, tmp_path: Path) -> None:
    assert cli(lb, "config", "del-server", "be_app/app3").returncode == 0
    out = cli(lb, "config", "apply", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "this removes 1 server" in out.stdout and "WARNING" not in out.stdout
