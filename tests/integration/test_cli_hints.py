"""The commands the CLI suggests work when pasted: run here as printed (shlex.split),
against real HAProxy."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from tests.integration.test_apply import run_on_terminal, start_haproxy
from tests.integration.test_config_cli import haconsole, needs_model

pytestmark = pytest.mark.haproxy


def run_printed(command: str) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    assert argv[0] == "haconsole"
    return haconsole(*argv[1:])


@needs_model
def test_hints_of_config_set_run_as_printed(haproxy_binary, tmp_path) -> None:
    lb = start_haproxy(tmp_path / "lb", haproxy_binary, config_name="haproxy main.cfg")
    try:
        out = haconsole("-s", lb.socket, "-c", str(lb.config), "config", "set",
                        "be_app/app1", "weight=33")
        assert out.returncode == 0, out.stderr
        m = re.search(r"review: (.+); apply: (.+)$", out.stdout, re.M)
        assert m, out.stdout
        review, apply = m[1], m[2]
        assert shlex.split(review) == ["haconsole", "-s", lb.socket, "-c", str(lb.config),
                                       "config", "diff"]
        diff = run_printed(review)
        assert diff.returncode == 1, diff.stderr
        assert "weight 33" in diff.stdout and str(lb.config) in diff.stdout
        refused = run_printed(apply)  # not a terminal: it says how to review, then --yes
        assert refused.returncode == 2
        again = re.search(r"review with `([^`]+)`", refused.stderr)
        assert again and run_printed(again[1]).returncode == 1, refused.stderr
        rc, seen = run_on_terminal(lb, b"y\n", b"[y/N]", shlex.split(apply)[1:])
        assert rc == 0, seen
        assert lb.servers()["app1"].srv_iweight == 33
        assert "weight 33" in lb.text()
        assert run_printed(review).returncode == 0  # nothing staged any more
    finally:
        lb.stop()

