"""Fleet changes when things go wrong: sshd killed in the middle of a rolling wave, a
changed host key, a sudo that would prompt, a node unreachable from the start, a node
whose state is not the one planned after HAProxy answered.

Real HAProxy instances, a real sshd on loopback (ssh run as ``nobody``), real sudo.
Each test checks the exit status and that the summary (or stderr) says the state of
every node: nothing is skipped without a line saying so.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.haproxy.errors import ConnectError, ConnectionLost
from console.haproxy.transport import RuntimeClient
from console.instance import Request, resolve
from tests.instance import Instance, start_instance
from tests.lab_helpers import send
from tests.sshd import SSHServer, start_sshd, sudo_user

pytestmark = pytest.mark.haproxy


@pytest.fixture(scope="module")
def nodes(haproxy_binary: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[list[Instance]]:
    started = [start_instance(tmp_path_factory.mktemp(f"node{i}"), haproxy_binary.path)
               for i in range(3)]
    yield started
    for inst in started:
        inst.stop()


@pytest.fixture
def clean(nodes: list[Instance]) -> Iterator[list[Instance]]:
    """The nodes, put back as configured after the test (app1/app2 ready, weights,
    fe_main enabled)."""
    yield nodes
    for n in nodes:
        for server, weight in (("app1", 10), ("app2", 20)):
            send(n.admin, f"set server be_app/{server} state ready")
            send(n.admin, f"set server be_app/{server} weight {weight}")
        send(n.admin, "enable frontend fe_main")


def instance(name: str, inst: Instance, sshd: SSHServer | None, host: str = "lb1",
             extra: str = "") -> str:
    if sshd is None:
        return f'[instances.{name}]\nsocket = "{inst.admin}"\n{extra}\n'
    return (f'[instances.{name}]\nssh = "{host}"\nssh_config = "{sshd.config}"\n'
            f'socket = "{inst.admin}"\n{extra}\n')


def write_settings(*tables: str, members: tuple[str, ...] = ("lb1", "lb2", "lb3")) -> None:
    text = "\n".join(tables) + f"\n[fleets.prod]\ninstances = {json.dumps(list(members))}\n"
    Path(os.environ["HACONSOLE_SETTINGS"]).write_text(text)


def haconsole(sshd: SSHServer, *args: str, env: dict[str, str] | None = None,
              fleet: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "console", *(("--fleet", "prod") if fleet else ()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL,
                          env={**os.environ, **sshd.env(), **(env or {})})


def admin_state(inst: Instance, server: str = "app1") -> str:
    text = send(inst.admin, "show servers state be_app")
    return next(line.split() for line in text.splitlines() if f" {server} " in line)[6]


def weight(inst: Instance, server: str) -> str:
    text = send(inst.admin, "show servers state be_app")
    return next(line.split() for line in text.splitlines() if f" {server} " in line)[7]


def summary(stdout: str) -> dict[str, str]:
    """``{node label: outcome}`` from the summary lines of a fleet change."""
    assert "summary:" in stdout, stdout
    lines = stdout[stdout.index("summary:"):].splitlines()[1:]
    out = {}
    for line in lines:
        if not line.startswith("  "):
            break
        label, _, outcome = line.strip().partition(": ")
        out[label] = outcome
    return out


def clean_output(done: subprocess.CompletedProcess[str]) -> None:
    """No traceback, and the private local forward never named."""
    text = done.stdout + done.stderr
    assert "Traceback" not in text, text
    assert "haconsole-ssh-" not in text, text


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate(timeout=5) if proc.poll() is not None else ("", "")
            pytest.fail(f"the fault point was not reached: {out}\n{err}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- sshd dies

def test_sshd_killed_during_a_rolling_drain(clean: list[Instance], tmp_path: Path) -> None:
    """lb1 (local) is drained; then sshd and every ssh connection die; lb2 (over ssh)
    fails naming itself and its socket on the node; lb3 is not attempted."""
    nodes = clean
    own = start_sshd()  # killed by this test: not the module's
    try:
        write_settings(instance("lb1", nodes[0], None), instance("lb2", nodes[1], own),
                       instance("lb3", nodes[2], own))
        flag = tmp_path / "paused"
        cmd = [sys.executable, "-m", "console", "--fleet", "prod", "server", "drain",
               "be_app/app1", "--wave", "rolling", "--yes"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **own.env(),
                                     "HACONSOLE_FAULT": f"pause:fleet-after-node-1:{flag}"})
        try:
            wait_for(flag, proc)
            assert admin_state(nodes[0]) == "8"  # lb1 drained before the fault
            own.cut()
            flag.unlink()
            stdout, stderr = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
        assert done.returncode == 1, done
        clean_output(done)
        outcomes = summary(done.stdout)
        assert list(outcomes) == ["lb1", "lb2 via ssh", "lb3 via ssh"]
        assert outcomes["lb1"] == "done"
        assert outcomes["lb2 via ssh"].startswith("FAILED: the ssh connection to lb1 was lost")
        assert outcomes["lb3 via ssh"] == "not attempted"
        assert "lb2: the ssh connection to lb1 was lost" in done.stderr
        assert f"nothing was sent to lb2:{nodes[1].admin}" in done.stderr
        assert "the rolling wave stopped at the first failure" in done.stdout
        assert [admin_state(n) for n in nodes] == ["8", "0", "0"]
    finally:
        own.stop()


# --------------------------------------------------------------------------- host key

def test_a_changed_host_key_refuses_the_whole_change(clean: list[Instance],
                                                     sshd: SSHServer) -> None:
    nodes = clean
    write_settings(instance("lb1", nodes[0], sshd), instance("lb2", nodes[1], sshd,
                                                             "lb1-badkey"),
                   instance("lb3", nodes[2], None))
    done = haconsole(sshd, "server", "maint", "be_app/app1", "--wave", "all", "--yes")
    assert done.returncode == 1, done
    clean_output(done)
    assert "lb2: the host key of lb1-badkey has changed: refused, nothing was sent" \
        in done.stderr
    assert "known_hosts" in done.stderr
    assert "not every node could be reached: nothing was sent" in done.stderr
    assert "summary:" not in done.stdout  # nothing was planned to be sent
    assert [admin_state(n) for n in nodes] == ["0", "0", "0"]
    shown = haconsole(sshd, "show", "stat", "--json", "--filter", "be_app")
    assert shown.returncode == 1
    clean_output(shown)
    assert {r["node"] for r in json.loads(shown.stdout)} == {"lb1", "lb3"}
    assert "lb2: the host key of lb1-badkey has changed" in shown.stderr


# --------------------------------------------------------------------------- sudo

def test_a_sudo_that_would_prompt_is_refused_before_anything_is_sent(
        clean: list[Instance], sshd: SSHServer) -> None:
    nodes = clean
    with sudo_user():
        write_settings(instance("lb1", nodes[0], sshd, extra="sudo = true"),
                       instance("lb2", nodes[1], sshd, "lb1-sudo", extra="sudo = true"),
                       instance("lb3", nodes[2], None))
        done = haconsole(sshd, "server", "drain", "be_app/app1", "--yes")
    assert done.returncode == 1, done
    clean_output(done)
    assert "lb2: sudo on lb1-sudo would prompt for a password: nothing was sent" \
        in done.stderr
    assert "allow NOPASSWD" in done.stderr and "or run without sudo" in done.stderr
    assert "not every node could be reached: nothing was sent" in done.stderr
    assert "lb1:" not in done.stderr  # root's sudo -n does not prompt: lb1 was fine
    assert [admin_state(n) for n in nodes] == ["0", "0", "0"]


# --------------------------------------------------------------------------- unreachable

def test_a_node_unreachable_from_the_start(clean: list[Instance], sshd: SSHServer) -> None:
    nodes = clean
    write_settings(instance("lb1", nodes[0], sshd), instance("lb2", nodes[1], sshd,
                                                             "lb1-closed"),
                   instance("lb3", nodes[2], None))
    shown = haconsole(sshd, "show", "servers", "--json", "--filter", "app1")
    assert shown.returncode == 1
    clean_output(shown)
    assert {r["node"] for r in json.loads(shown.stdout)} == {"lb1", "lb3"}
    lines = shown.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("haconsole: lb2: cannot reach lb1-closed "
                                                   "over ssh"), shown.stderr
    assert "Connection refused" in lines[0]
    done = haconsole(sshd, "server", "weight", "be_app/app1", "3", "--yes")
    assert done.returncode == 1
    clean_output(done)
    assert "lb2: cannot reach lb1-closed over ssh" in done.stderr
    assert "not every node could be reached: nothing was sent" in done.stderr
    assert [weight(n, "app1") for n in nodes] == ["10", "10", "10"]


# --------------------------------------------------------------------------- verify

def test_a_rolling_wave_reads_every_node_again_and_says_so(clean: list[Instance],
                                                           sshd: SSHServer) -> None:
    nodes = clean
    write_settings(instance("lb1", nodes[0], sshd), instance("lb2", nodes[1], sshd),
                   instance("lb3", nodes[2], None))
    done = haconsole(sshd, "server", "weight", "be_app/app2", "7", "--yes")
    assert done.returncode == 0, done
    clean_output(done)
    assert done.stdout.count("verified: be_app/app2 weight 7") == 3
    assert summary(done.stdout) == {"lb1 via ssh": "done", "lb2 via ssh": "done",
                                    "lb3": "done"}
    assert [weight(n, "app2") for n in nodes] == ["7", "7", "7"]
    done = haconsole(sshd, "frontend", "disable", "fe_main", "--yes")
    assert done.returncode == 0, done
    assert done.stdout.count("verified: fe_main status PAUSED") == 3
    done = haconsole(sshd, "server", "maint", "be_app/app1", "--wave", "all", "--yes")
    assert done.returncode == 0, done
    assert done.stdout.count("verified: be_app/app1 admin_state maint") == 3
    assert [admin_state(n) for n in nodes] == ["1", "1", "1"]


def test_a_state_changed_behind_the_answer_stops_the_wave(clean: list[Instance],
                                                          sshd: SSHServer,
                                                          tmp_path: Path) -> None:
    """HAProxy answered the drain of lb1, then someone else set the server ready again
    before it was read back: lb1 failed (the state is not the one planned), the wave
    stops, lb2 and lb3 are not attempted."""
    nodes = clean
    write_settings(instance("lb1", nodes[0], sshd), instance("lb2", nodes[1], sshd),
                   instance("lb3", nodes[2], None))
    flag = tmp_path / "paused"
    cmd = [sys.executable, "-m", "console", "--fleet", "prod", "server", "drain",
           "be_app/app1", "--yes"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **sshd.env(),
                                 "HACONSOLE_FAULT": f"pause:fleet-before-verify-1:{flag}"})
    try:
        wait_for(flag, proc)
        assert admin_state(nodes[0]) == "8"
        send(nodes[0].admin, "set server be_app/app1 state ready")
        flag.unlink()
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 1, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    outcomes = summary(stdout)
    assert outcomes["lb1 via ssh"].startswith("FAILED: HAProxy answered, but the state read "
                                              "again is not the one planned")
    assert "be_app/app1: admin_state is ready, expected drain" in outcomes["lb1 via ssh"]
    assert outcomes["lb2 via ssh"] == "not attempted" and outcomes["lb3"] == "not attempted"
    assert "lb1: HAProxy answered, but the state read again" in stderr
    assert [admin_state(n) for n in nodes] == ["0", "0", "0"]


# --------------------------------------------------------------------------- -i -i

def test_instance_given_twice_is_an_ad_hoc_fleet(clean: list[Instance],
                                                 sshd: SSHServer) -> None:
    nodes = clean
    write_settings(instance("lb1", nodes[0], sshd), instance("lb2", nodes[1], sshd),
                   instance("lb3", nodes[2], None))
    shown = haconsole(sshd, "-i", "lb1", "-i", "lb3", "show", "stat", "--json",
                      "--filter", "be_app", fleet=False)
    assert shown.returncode == 0, shown.stderr
    assert {r["node"] for r in json.loads(shown.stdout)} == {"lb1", "lb3"}
    one = haconsole(sshd, "-i", "lb3", "show", "stat", "--json", "--filter", "be_app",
                    fleet=False)
    assert one.returncode == 0, one.stderr
    assert all("node" not in r for r in json.loads(one.stdout))  # one instance, as before
    done = haconsole(sshd, "-i", "lb3", "-i", "lb2", "server", "weight", "be_app/app1", "4",
                     "--yes", fleet=False)
    assert done.returncode == 0, done
    assert summary(done.stdout) == {"lb3": "done", "lb2 via ssh": "done"}
    assert [weight(n, "app1") for n in nodes] == ["10", "4", "4"]
    twice = haconsole(sshd, "-i", "lb1", "-i", "lb1", "show", "stat", fleet=False)
    assert twice.returncode == 2 and "-i lb1 is given twice" in twice.stderr
    both = haconsole(sshd, "-i", "lb1", "-i", "lb3", "show", "stat")
    assert both.returncode == 2 and "not both" in both.stderr


# --------------------------------------------------------------------------- error names

async def test_errors_of_a_forward_name_the_node_and_its_path(
        nodes: list[Instance], sshd: SSHServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Connection refused (the ssh connection gone) and a socket gone on the node both
    say ``lb1:/path/on/the/node``, never the local forward in the private directory."""
    for key, value in sshd.env().items():
        monkeypatch.setenv(key, value)
    target = await asyncio.to_thread(resolve, Request(ssh="lb1", ssh_config=sshd.config,
                                                      socket=nodes[0].admin))
    gone = await asyncio.to_thread(resolve, Request(ssh="lb1", ssh_config=sshd.config,
                                                    socket="/run/nothing-here/admin.sock"))
    try:
        assert target.node is not None and target.socket != nodes[0].admin
        assert target.socket_where == f"lb1:{nodes[0].admin}"
        with pytest.raises(ConnectionLost) as lost:
            await RuntimeClient(gone.socket or "").run("show info")
        assert "(lb1:/run/nothing-here/admin.sock)" in str(lost.value)
        assert "haconsole-ssh-" not in str(lost.value)
        assert "is this its socket path" in str(lost.value)
        assert (await RuntimeClient(target.socket or "").run("show info")).strip()
        assert target.node.proc is not None
        target.node.proc.kill()
        target.node.proc.wait(5)
        with pytest.raises(ConnectError) as refused:
            await RuntimeClient(target.socket or "").run("show info")
        text = str(refused.value)
        assert f"(lb1:{nodes[0].admin})" in text and "haconsole-ssh-" not in text
        assert "the ssh connection to the node was lost" in text
    finally:
        for t in (target, gone):
            if t.node is not None:
                t.node.close()
