"""The config pipeline on a node over SSH: a real sshd on loopback, ssh run as ``nobody``
(which cannot open the instance's files or sockets), a real master-worker HAProxy.

``haconsole -i lb1 config set|diff|apply|rollback`` reads the node's file over ssh,
stages on the local mirror, checks with ``haproxy -c`` on the node, writes atomically
there (mode and owner kept), reloads through the node's master socket and verifies.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.instance import Instance, start_instance
from tests.lab_helpers import send
from tests.sshd import SSHServer

pytestmark = pytest.mark.haproxy


@pytest.fixture
def node(haproxy_binary: Any, tmp_path: Path) -> Iterator[Instance]:
    (tmp_path / "node").mkdir()
    inst = start_instance(tmp_path / "node", haproxy_binary.path)
    os.chmod(inst.config, 0o640)
    os.chown(inst.config, 0, 4)  # root:adm: the write must keep it
    yield inst
    inst.stop()


def settings(tmp_path: Path, sshd: SSHServer, node: Instance, **extra: str) -> str:
    path = tmp_path / "settings.toml"
    more = "".join(f'{k} = "{v}"\n' for k, v in extra.items())
    path.write_text(f"""
[instances.lb1]
ssh = "lb1"
ssh_config = "{sshd.config}"
socket = "{node.admin}"
master = "{node.master}"
{more}""")
    return str(path)


def haconsole(sshd: SSHServer, settings_path: str, tmp_path: Path, *args: str,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", "--settings", settings_path,
                           "-i", "lb1", *args], capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL,
                          env={**os.environ, **sshd.env(),
                               "HACONSOLE_STATE_DIR": str(tmp_path / "console-state"),
                               **(env or {})})


def reloads(node: Instance) -> tuple[str, str]:
    """The master's pid and reload count (``show proc``)."""
    line = send(node.master, "show proc").splitlines()[1].split()
    return line[0], line[2]


def weight(node: Instance, server: str) -> str:
    rows = [r for r in send(node.admin, "show servers state be_app").splitlines()
            if f" {server} " in f" {r} "]
    return rows[0].split()[7] if rows else "absent"


def test_set_diff_apply_on_the_node(sshd: SSHServer, node: Instance, tmp_path: Path) -> None:
    s = settings(tmp_path, sshd, node)
    before = send(node.master, "show proc")
    out = haconsole(sshd, s, tmp_path, "config", "set", "be_app/app1", "weight=7")
    assert out.returncode == 0, out.stderr
    diff = haconsole(sshd, s, tmp_path, "config", "diff")
    assert diff.returncode == 1 and "+" in diff.stdout and "weight 7" in diff.stdout
    assert Path(node.config).read_text().count("weight 7") == 0  # only staged
    out = haconsole(sshd, s, tmp_path, "config", "apply", "--yes", "-m", "over ssh")
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "lb1:" in text and "haproxy -c passed" in text
    assert "on lb1" in text  # the node's binary checked it
    st = os.stat(node.config)
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 0, 4)
    assert "weight 7" in Path(node.config).read_text()
    assert weight(node, "app1") == "7"
    assert send(node.master, "show proc") != before  # a new worker
    leftovers = [n for n in os.listdir(Path(node.config).parent) if n.startswith(".haconsole")]
    assert not leftovers
    hist = haconsole(sshd, s, tmp_path, "config", "history")
    assert hist.returncode == 0 and "over ssh" in hist.stdout
    journal = haconsole(sshd, s, tmp_path, "journal", "--json")
    if journal.returncode == 0:
        assert "lb1" in journal.stdout


def stage_text(sshd: SSHServer, s: str, tmp_path: Path, text: str) -> None:
    """Stage *text* as the whole new file (``config edit`` with a scripted editor)."""
    (tmp_path / "new.cfg").write_text(text)
    editor = tmp_path / "editor.sh"
    editor.write_text(f"#!/bin/sh\ncat {tmp_path / 'new.cfg'} > \"$1\"\n")
    editor.chmod(0o755)
    out = haconsole(sshd, s, tmp_path, "config", "edit",
                    env={"VISUAL": str(editor), "EDITOR": str(editor)})
    assert out.returncode == 0, out.stderr


def test_failing_check_on_the_node_changes_nothing(sshd: SSHServer, node: Instance,
                                                  tmp_path: Path) -> None:
    s = settings(tmp_path, sshd, node)
    original = Path(node.config).read_bytes()
    reloads_before = reloads(node)
    stage_text(sshd, s, tmp_path, original.decode() + "\nbackend be_bad\n    frobnicate on\n")
    out = haconsole(sshd, s, tmp_path, "config", "apply", "--yes")
    res = out.stdout + out.stderr
    assert out.returncode != 0, res
    assert "haproxy -c found errors" in res and "frobnicate" in res
    assert "lb1:" in res  # the error names the node's file
    assert Path(node.config).read_bytes() == original
    assert reloads(node) == reloads_before, (res, send(node.master, "show proc"))
    leftovers = [n for n in os.listdir(Path(node.config).parent) if n.startswith(".haconsole")]
    assert not leftovers


def test_stale_when_the_node_file_changed(sshd: SSHServer, node: Instance,
                                          tmp_path: Path) -> None:
    s = settings(tmp_path, sshd, node)
    out = haconsole(sshd, s, tmp_path, "config", "set", "be_app/app1", "weight=9")
    assert out.returncode == 0, out.stderr
    with open(node.config, "a") as f:
        f.write("\n# changed on the node\n")
    out = haconsole(sshd, s, tmp_path, "config", "apply", "--yes")
    assert out.returncode != 0
    assert "changed since the change was staged" in out.stdout + out.stderr
    assert "weight 9" not in Path(node.config).read_text()


def test_bad_reload_rolls_back_on_the_node(sshd: SSHServer, node: Instance,
                                           tmp_path: Path) -> None:
    """A candidate that passes ``haproxy -c`` but cannot bind: the node's master refuses
    the new worker, the old file comes back on the node and is reloaded."""
    s = settings(tmp_path, sshd, node)
    original = Path(node.config).read_text()
    holder = socket.socket()  # a port held without SO_REUSEPORT: the new worker fails
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = holder.getsockname()[1]
    text = original + f"\nfrontend fe_clash\n    bind 127.0.0.1:{busy}\n" \
        "    default_backend be_app\n"
    stage_text(sshd, s, tmp_path, text)
    try:
        out = haconsole(sshd, s, tmp_path, "config", "apply", "--yes")
    finally:
        holder.close()
    res = out.stdout + out.stderr
    if "haproxy -c passed" not in res:
        pytest.fail("the check should pass (the clash is only seen at bind time): " + res)
    assert out.returncode != 0, res
    assert "serves the previous configuration again" in res
    assert "lb1:" in res
    assert Path(node.config).read_text() == original
    assert "fe_clash" not in send(node.admin, "show stat")


def test_state_kept_and_reload_command_run_on_the_node(sshd: SSHServer, node: Instance,
                                                       tmp_path: Path) -> None:
    """``server-state-file`` written on the node before the reload (a runtime drain
    survives it), and ``reload = "command"`` run on the node, not here: the command
    writes in the node's directory, which the ssh client's user cannot."""
    marker = Path(node.dir) / "reloaded-by-command"
    state = Path(node.dir) / "state" / "servers.state"
    command = f"touch {marker} && kill -USR2 {node.proc.pid}"
    s = settings(tmp_path, sshd, node, reload="command", reload_command=command)
    original = Path(node.config).read_text()
    text = original.replace("    stats timeout 30s\n",
                            f"    stats timeout 30s\n    server-state-file {state}\n") \
        .replace("defaults\n", "defaults\n    load-server-state-from-file global\n", 1)
    assert text != original
    stage_text(sshd, s, tmp_path, text)
    send(node.admin, "set server be_app/app1 state drain")
    out = haconsole(sshd, s, tmp_path, "config", "apply", "--yes")
    res = out.stdout + out.stderr
    assert out.returncode == 0, res
    assert f"saved to {state}" in res
    assert "(on lb1)" in res and marker.exists()
    assert state.exists() and "app1" in state.read_text()
    row = [r for r in send(node.admin, "show servers state be_app").splitlines()
           if " app1 " in f" {r} "][0].split()
    assert int(row[6]) & 0x08, row  # srv_admin_state: FDRAIN kept through the reload
