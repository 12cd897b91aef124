"""A HAProxy node reached over SSH: a real sshd on loopback, ssh run as ``nobody``.

The console (this test's user, root in CI) is given only the node's socket path and the
host ``lb1``; the ssh client runs as ``nobody``, which cannot read the instance's
directory: every answer went through sshd.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest

from console.haproxy.errors import HAProxyError
from console.haproxy.poller import NodeSource
from console.haproxy.transport import RuntimeClient
from console.instance import Request, resolve
from tests.conftest import _ours
from tests.lab_helpers import send
from tests.sshd import NOBODY, SSHServer

pytestmark = pytest.mark.haproxy


@pytest.fixture
def via_nobody(sshd: SSHServer, monkeypatch: pytest.MonkeyPatch) -> SSHServer:
    for key, value in sshd.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(tempfile, "tempdir", RUN_DIR)  # in-process consoles too
    return sshd


# The consoles of this module make their private ssh directories here, so the leftover
# check sees only their ssh processes (not those of a module running beside it).
RUN_DIR = tempfile.mkdtemp(prefix="haconsole-ssh-tests-")
os.chmod(RUN_DIR, 0o711)  # the ssh client runs as nobody: it must reach its directory
atexit.register(shutil.rmtree, RUN_DIR, True)


def env_of(sshd: SSHServer) -> dict[str, str]:
    return {**os.environ, **sshd.env(), "TMPDIR": RUN_DIR}


def haconsole(sshd: SSHServer, host: str, socket_path: str, *args: str,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "console", "--ssh", host, "--ssh-config", sshd.config,
           "-s", socket_path, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env_of(sshd))


def ssh_processes(marker: str = RUN_DIR + "/haconsole-ssh-") -> list[int]:
    """Live ssh processes whose command line names a console's private directory,
    started by this test session (not by another session's tests on the machine)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and argv and argv[0].endswith(b"ssh") and \
                any(marker.encode() in a for a in argv) and _ours(entry):
            found.append(int(entry))
    return found


def test_nobody_cannot_reach_the_instance_directly(instance: Any) -> None:
    done = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", "--", "cat", instance.config],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "Permission denied" in done.stderr


def test_show_stat_over_ssh(instance: Any, sshd: SSHServer) -> None:
    out = haconsole(sshd, "lb1", instance.admin, "show", "stat", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    names = {(r["proxy"], r["name"]) for r in rows}
    assert ("be_app", "app1") in names and ("fe_main", "FRONTEND") in names
    assert not ssh_processes(), "an ssh process outlived the command"


def test_a_runtime_change_over_ssh_is_done_and_journaled(instance: Any, sshd: SSHServer,
                                                         tmp_path: Any) -> None:
    out = haconsole(sshd, "lb1", instance.admin, "server", "drain", "be_app/app2", "--yes")
    assert out.returncode == 0, out.stderr
    try:
        state = send(instance.admin, "show servers state be_app")
        row = next(line.split() for line in state.splitlines() if " app2 " in line)
        assert row[6] == "8"  # srv_admin_state: drain (set from the CLI)
        entries = [json.loads(line) for line in
                   (tmp_path / "state" / "journal.jsonl").read_text().splitlines()]
        assert entries[-1]["command"] == "set server be_app/app2 state drain"
        assert entries[-1]["instance"] == "lb1"
    finally:
        send(instance.admin, "set server be_app/app2 state ready")


@pytest.mark.parametrize(("host", "said"), [
    ("lb1-unknown", "the host key of lb1-unknown is not known: refused, nothing was sent"),
    ("lb1-badkey", "the host key of lb1-badkey has changed: refused, nothing was sent"),
])
def test_a_host_key_is_never_accepted_silently(instance: Any, sshd: SSHServer, host: str,
                                               said: str) -> None:
    out = haconsole(sshd, host, instance.admin, "show", "info")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert said in lines[0]
    assert not ssh_processes()


def test_a_bad_host_name_is_refused_before_ssh_runs(instance: Any, sshd: SSHServer) -> None:
    out = haconsole(sshd, "-oProxyCommand=touch /tmp/x", instance.admin, "show", "info")
    assert out.returncode == 1 and "not an SSH host" in out.stderr


def test_no_ssh_left_after_kill_9_of_the_console(instance: Any, sshd: SSHServer) -> None:
    cmd = [sys.executable, "-m", "console", "--ssh", "lb1", "--ssh-config", sshd.config,
           "-s", instance.admin, "show", "stat", "--delta", "30"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env_of(sshd))
    try:
        deadline = time.monotonic() + 15
        while not ssh_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ssh_processes(), "the ssh connection did not start"
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        deadline = time.monotonic() + 5
        while ssh_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not ssh_processes()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_the_node_source_reconnects_after_the_connection_is_lost(
        instance: Any, via_nobody: SSHServer) -> None:
    target = await asyncio.to_thread(resolve, Request(
        ssh="lb1", ssh_config=via_nobody.config, socket=instance.admin))
    node = target.node
    assert node is not None and target.label == "lb1 via ssh"
    assert target.remote_socket == instance.admin and target.socket != instance.admin
    try:
        source = NodeSource(RuntimeClient(target.socket or ""), node)
        assert (await source.fetch()).rows
        assert node.proc is not None
        node.proc.kill()
        node.proc.wait(5)
        with pytest.raises(HAProxyError):
            await source.fetch()
        snap = await source.fetch()  # the connection opened again first
        assert snap.rows and node.alive()
    finally:
        node.close()
    assert not ssh_processes()


async def test_the_console_header_says_via_ssh(instance: Any, via_nobody: SSHServer) -> None:
    from console.ui.app import HAConsoleApp

    target = await asyncio.to_thread(resolve, Request(
        ssh="lb1", ssh_config=via_nobody.config, socket=instance.admin))
    try:
        app = HAConsoleApp(target)
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(100):
                if app.monitor.snapshot is not None:
                    break
                await pilot.pause(0.05)
            assert app.monitor.snapshot is not None
            assert isinstance(app.source, NodeSource)
            assert app.monitor.header.instance == "lb1 via ssh"
    finally:
        assert target.node is not None
        target.node.close()


def test_config_commands_on_a_node_read_its_file_over_ssh(instance: Any,
                                                          sshd: SSHServer) -> None:
    """``config`` on a node given by --ssh: the file is found from the node's master
    process (read on the node) and named as the node's, never as a local path."""
    out = haconsole(sshd, "lb1", instance.admin, "config", "history")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    out = haconsole(sshd, "lb1", instance.admin, "config", "set", "be_app/app1", "weight=3")
    assert out.returncode == 0, out.stderr
    out = haconsole(sshd, "lb1", instance.admin, "config", "diff")
    assert out.returncode == 1, out.stderr
    assert f"lb1:{instance.config}" in out.stdout and "weight 3" in out.stdout
    assert haconsole(sshd, "lb1", instance.admin, "config", "discard").returncode == 0
    assert not ssh_processes()


def test_logs_from_a_nodes_ring_over_ssh(haproxy_binary: Any, sshd: SSHServer,
                                         tmp_path: Any) -> None:
    """``--ssh lb1 -s SOCKET logs`` reads the node's ring through the forwarded socket."""
    from tests.integration.test_logs_ring import _start

    node = _start(tmp_path / "ringed", haproxy_binary, with_ring=True)
    try:
        for _ in range(3):
            assert node.get(node.err, "/via-ssh") == 503
        time.sleep(0.2)
        out = haconsole(sshd, "lb1", node.admin, "logs", "--json")
        assert out.returncode == 0, out.stderr
        rows = [json.loads(x) for x in out.stdout.splitlines()]
        assert [(r["frontend"], r["status"], r["path"]) for r in rows] == \
            [("fe_err", 503, "/via-ssh")] * 3
        out = haconsole(sshd, "lb1", node.admin, "logs", "summary", "--by", "status",
                        "--json")
        assert out.returncode == 0, out.stderr
        assert [(g["key"], g["requests"]) for g in json.loads(out.stdout)] == [("503", 3)]
    finally:
        node.stop()
