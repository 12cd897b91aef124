"""The apply pipeline against real HAProxy (every binary present), master-worker mode.

Each test starts its own purpose-made HAProxy (``-W -S master.sock -f haproxy.cfg``)
in a temp directory on free loopback ports: a frontend that answers by itself
(``http-request return``, its body tells which config serves) and a backend
whose servers need not exist (no checks).
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.haproxy import history_store as hist
from console.haproxy import journal
from console.haproxy.apply import ApplyResult, ApplyTarget, apply
from console.haproxy.binaries import Binary
from console.haproxy.errors import ConnectError, ParseError
from console.haproxy.parsers import ProcInfo, ServerStateRow, parse_proc, parse_servers_state
from console.haproxy.staging import Staging
from console.haproxy.transport import MasterClient, RuntimeClient, wait_for_socket
from tests.instance import free_port, stop_process

pytestmark = pytest.mark.haproxy

CFG = """\
global
    stats socket {d}/admin.sock level admin
    stats timeout 30s
{global_extra}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
{defaults_extra}
frontend fe_main
    bind 127.0.0.1:{fe}
    http-request return status 200 content-type text/plain string {body}

backend be_app
    balance roundrobin
    server app1 127.0.0.1:{p1} weight 10
    server app2 127.0.0.1:{p2} weight 20
    server app3 127.0.0.1:{p3} disabled
{extra}"""

try:
    from console.haproxy.config import apply_ops as _model  # noqa: F401

    HAVE_MODEL = True
except ImportError:
    HAVE_MODEL = False


@dataclass
class Running:
    """A purpose-made HAProxy started for one test."""

    dir: Path
    config: Path  # the path HAProxy was given with -f
    proc: subprocess.Popen[bytes]
    master: str
    socket: str
    fe: int
    binary: Binary

    def target(self, **kw: object) -> ApplyTarget:
        args: dict = dict(name=f"test-{self.fe}", socket=self.socket, master=self.master,
                          haproxy=self.binary.path, check_args=["-W"],
                          config_files=[str(self.config)], cwd=str(self.dir))
        args.update(kw)
        return ApplyTarget(**args)

    def text(self) -> str:
        return self.config.read_text()

    def proc_info(self) -> ProcInfo:
        # The master socket may refuse for a moment after start or a reload, or (2.6,
        # on a loaded machine) answer nothing while its worker starts.
        deadline = time.monotonic() + 10
        while True:
            try:
                return parse_proc(asyncio.run(MasterClient(self.master).run("show proc")))
            except (ConnectError, ParseError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def worker(self) -> int:
        return self.proc_info().workers[0].pid

    def runtime(self, command: str) -> str:
        return asyncio.run(RuntimeClient(self.socket).run(command))

    def servers(self) -> dict[str, ServerStateRow]:
        rows = parse_servers_state(self.runtime("show servers state be_app"))
        return {r.srv_name: r for r in rows}

    def http(self) -> str:
        with socket.create_connection(("127.0.0.1", self.fe), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.split(b"\r\n\r\n", 1)[1].decode()

    def stop(self) -> None:
        stop_process(self.proc)


def config_text(d: Path, *, body: str = "v1", global_extra: str = "",
                defaults_extra: str = "", extra: str = "", fe: int | None = None,
                ports: tuple[int, int, int] | None = None) -> str:
    p1, p2, p3 = ports or (free_port(), free_port(), free_port())
    return CFG.format(d=d, fe=fe or free_port(), body=body, global_extra=global_extra,
                      defaults_extra=defaults_extra, extra=extra, p1=p1, p2=p2, p3=p3)


def start_haproxy(directory: Path, binary: Binary, *, text: str | None = None,
                  config_name: str = "haproxy.cfg", extra_files: tuple[Path, ...] = (),
                  **kw: str) -> Running:
    directory.mkdir(parents=True, exist_ok=True)
    fe = free_port()
    config = directory / config_name
    if not config.exists():
        config.write_text(text or config_text(directory, fe=fe, **kw))
    match = [int(x) for x in re.findall(r"bind 127\.0\.0\.1:(\d+)", config.read_text())]
    fe = match[0] if match else fe
    log = open(directory / "haproxy.log", "wb")  # noqa: SIM115
    args = [binary.path, "-W", "-S", f"{directory}/master.sock", "-f", str(config)]
    for f in extra_files:
        args += ["-f", str(f)]
    proc = subprocess.Popen(args, cwd=directory, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    log.close()
    running = Running(directory, config, proc, f"{directory}/master.sock",
                      f"{directory}/admin.sock", fe, binary)
    if not (wait_for_socket(running.master) and wait_for_socket(running.socket)):
        running.stop()
        raise RuntimeError("HAProxy did not start: " + (directory / "haproxy.log").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            running.http()
            break
        except OSError:
            time.sleep(0.05)
    return running


def stage_text(config: str | Path, new: str, note: str | None = None) -> Staging:
    st = Staging.load(str(config))
    st.set_candidate(new.encode(), note=note)
    return st


def stage_weight(config: str | Path, server: str, weight: int) -> Staging:
    """Through the config model when present, else as a text edit."""
    st = Staging.load(str(config))
    if HAVE_MODEL:
        st.add_ops([{"op": "server_set", "backend": "be_app", "server": server,
                     "set": {"weight": str(weight)}}])
        return st
    text = st.candidate.decode()
    text = re.sub(rf"(server {server} \S+) weight \d+", rf"\1 weight {weight}", text)
    st.set_candidate(text.encode())
    return st


def run_apply(config: str | Path, target: ApplyTarget, **kw: object) -> tuple[ApplyResult,
                                                                              list[tuple]]:
    steps: list[tuple] = []
    result = apply(str(config), instance=target, on_step=lambda *a: steps.append(a), **kw)
    return result, steps


def statuses(steps: list[tuple]) -> list[tuple[str, str]]:
    return [(s[0], s[1]) for s in steps]


# --------------------------------------------------------------------------- tests

def test_weight_change_is_checked_written_reloaded_verified(lb: Running) -> None:
    before = lb.worker()
    old_text = lb.text()
    stage_weight(lb.config, "app1", 50)
    result, steps = run_apply(lb.config, lb.target(), message="more traffic to app1")
    assert result.ok, steps
    assert result.outcome == "applied"
    assert statuses(steps) == [("stale", "ok"), ("lock", "ok"), ("check", "ok"),
                               ("history", "ok"), ("write", "ok"), ("state", "ok"),
                               ("reload", "ok"), ("verify", "ok")]
    assert "weight 50" in lb.text()
    assert lb.worker() != before
    assert lb.servers()["app1"].srv_iweight == 50
    verify = dict((s[0], s[2]) for s in steps)["verify"]
    assert "runtime: be_app/app1 present weight 50" in verify
    assert "stats socket answers" in verify
    versions = hist.history(str(lb.config))
    assert [(v.number, v.status) for v in versions] == [(1, "found"), (2, "applied")]
    assert versions[0].data().decode() == old_text
    assert versions[1].message == "more traffic to app1"
    assert "+    server app1" in versions[1].diff
    assert not Staging.load(str(lb.config)).pending
    reloads = [e for e in journal.read_entries() if e["command"] == "reload"]
    assert reloads and reloads[-1]["ok"] and reloads[-1]["via"] == "master"
    assert (reloads[-1]["version"], reloads[-1]["message"], reloads[-1]["config"]) == (
        2, "more traffic to app1", str(lb.config))  # what the postmortem export tells
    assert lb.http() == "v1"
    assert os.listdir(lb.dir).count("haproxy.cfg") == 1
    assert not [n for n in os.listdir(lb.dir) if "haconsole-tmp" in n]


def test_added_removed_and_disabled_servers_are_verified(lb: Running) -> None:
    port = free_port()
    text = lb.text()
    new = text.replace(f"    server app2 127.0.0.1:{lb.servers()['app2'].srv_port} weight 20\n",
                       f"    server app4 127.0.0.1:{port} weight 7\n")
    new = new.replace(" weight 10\n", " weight 10 disabled\n")
    assert new.count("app4") == 1 and "weight 10 disabled" in new
    stage_text(lb.config, new)
    result, steps = run_apply(lb.config, lb.target())
    assert result.ok, steps
    verify = dict((s[0], s[2]) for s in steps)["verify"]
    assert f"be_app/app4 present weight 7 enabled address 127.0.0.1:{port}" in verify
    assert "be_app/app2 removed, absent" in verify
    assert "be_app/app1 present disabled (MAINT)" in verify
    servers = lb.servers()
    assert "app2" not in servers and servers["app4"].srv_iweight == 7
    assert servers["app1"].in_maint


def test_runtime_state_survives_with_a_server_state_file(haproxy_binary, tmp_path) -> None:
    d = tmp_path / "lb"
    lb = start_haproxy(d, haproxy_binary, global_extra=f"    server-state-file {d}/state",
                       defaults_extra="    load-server-state-from-file global")
    try:
        lb.runtime("set server be_app/app2 state maint")
        lb.runtime("set server be_app/app1 weight 5")
        stage_text(lb.config, lb.text().replace("app3 127.0.0.1", "app3  127.0.0.1"))
        result, steps = run_apply(lb.config, lb.target())
        assert result.ok, steps
        state = dict((s[0], s[2]) for s in steps)["state"]
        assert f"state of 3 servers saved to {d}/state" in state
        assert "kept: be_app/app2: maintenance set at runtime" in state
        assert "kept: be_app/app1: weight 5 at runtime (file: 10)" in state
        servers = lb.servers()
        assert servers["app2"].in_maint
        assert servers["app1"].srv_uweight == 5
    finally:
        lb.stop()


def test_runtime_changes_lost_without_state_file_are_reported(lb: Running) -> None:
    lb.runtime("set server be_app/app2 state drain")
    lb.runtime("disable frontend fe_main")
    journal.record(lb.target(), "add map #0 a b")  # a journaled runtime-only change
    stage_weight(lb.config, "app1", 11)
    result, steps = run_apply(lb.config, lb.target())
    assert result.ok, steps
    state = [s for s in steps if s[0] == "state"][0]
    assert state[1] == "warn"
    assert "no server-state-file" in state[2]
    assert "lost: be_app/app2: drain set at runtime" in state[2]
    assert "lost: runtime command `add map #0 a b`" in state[2]
    assert re.search(r"lost: frontend fe_main: (STOP|PAUSED) at runtime", state[2])
    assert not lb.servers()["app2"].draining
    assert lb.http() == "v1"  # enabled again by the reload


def test_no_reload_writes_only(lb: Running) -> None:
    before = lb.worker()
    stage_weight(lb.config, "app1", 42)
    result, steps = run_apply(lb.config, lb.target(), no_reload=True)
    assert result.ok and result.outcome == "written", steps
    assert steps[-1][:2] == ("reload", "skip")
    assert "weight 42" in lb.text()
    assert lb.worker() == before
    assert lb.servers()["app1"].srv_iweight == 10
    assert hist.history(str(lb.config))[-1].status == "written"


def test_without_a_running_instance_the_file_is_written(tmp_path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(config_text(tmp_path))
    stage_text(cfg, cfg.read_text().replace("weight 20", "weight 21"))
    result, steps = run_apply(cfg, ApplyTarget(check_args=["-W"]))
    assert result.ok and result.outcome == "written", steps
    assert "weight 21" in cfg.read_text()


def test_reload_by_command_and_by_systemctl(lb: Running, tmp_path, monkeypatch) -> None:
    master_pid = lb.proc_info().master.pid
    stage_weight(lb.config, "app1", 12)
    result, steps = run_apply(lb.config, lb.target(reload="command",
                                                   reload_command=f"kill -USR2 {master_pid}"))
    assert result.ok, steps
    assert f"sh -c kill -USR2 {master_pid}: exit 0; new worker" in dict(
        (s[0], s[2]) for s in steps)["reload"]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "systemctl"
    fake.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'reload haproxy.service' ] || exit 3\n"
                    f"kill -USR2 {master_pid}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    stage_weight(lb.config, "app1", 13)
    result, steps = run_apply(lb.config, lb.target(reload="systemctl"))
    assert result.ok, steps
    assert lb.servers()["app1"].srv_iweight == 13
    assert [e["via"] for e in journal.read_entries() if e["command"] == "reload"][-2:] == \
        ["command", "systemctl"]


def test_symlinked_config_keeps_link_mode_and_owner(haproxy_binary, tmp_path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    d = tmp_path / "lb"
    d.mkdir()
    real = real_dir / "haproxy.cfg"
    real.write_text(config_text(d))
    real.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(real, 65534, 65534)
    (d / "haproxy.cfg").symlink_to(real)
    lb = start_haproxy(d, haproxy_binary)
    try:
        stage_weight(lb.config, "app2", 3)
        result, steps = run_apply(lb.config, lb.target())
        assert result.ok, steps
        assert "through the symlink" in dict((s[0], s[2]) for s in steps)["write"]
        assert lb.config.is_symlink() and os.readlink(lb.config) == str(real)
        st = os.stat(real)
        assert stat.S_IMODE(st.st_mode) == 0o640
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (65534, 65534)
        assert lb.servers()["app2"].srv_iweight == 3
        assert not [n for n in os.listdir(real_dir) if n != "haproxy.cfg"]
    finally:
        lb.stop()


def test_history_rollback_goes_through_the_pipeline(lb: Running) -> None:
    original = lb.text()
    stage_weight(lb.config, "app1", 60)
    assert run_apply(lb.config, lb.target())[0].ok
    stage_weight(lb.config, "app2", 70)
    assert run_apply(lb.config, lb.target())[0].ok
    assert [v.number for v in hist.history(str(lb.config))] == [1, 2, 3]
    assert "weight 70" in hist.diff_version(str(lb.config), 3)
    st = hist.stage_rollback(str(lb.config), 1)
    assert st.summary() == "rollback to version 1"
    result, steps = run_apply(lb.config, lb.target())
    assert result.ok, steps
    assert lb.text() == original
    servers = lb.servers()
    assert (servers["app1"].srv_iweight, servers["app2"].srv_iweight) == (10, 20)
    assert hist.live_version(str(lb.config)) == 4
    assert hist.history(str(lb.config))[-1].message == "rollback to version 1"


def test_check_uses_every_file_of_the_service(haproxy_binary, tmp_path) -> None:
    d = tmp_path / "lb"
    d.mkdir()
    text = config_text(d)
    main, _, backends = text.partition("backend be_app")
    (d / "main.cfg").write_text(main.replace("    http-request return",
                                             "    use_backend be_app if { path /app }\n"
                                             "    http-request return"))
    (d / "backends.cfg").write_text("backend be_app" + backends)
    lb = start_haproxy(d, haproxy_binary, config_name="main.cfg",
                       extra_files=(d / "backends.cfg",))
    try:
        target = lb.target(config_files=[str(d / "main.cfg"), str(d / "backends.cfg")])
        stage_text(d / "main.cfg", lb.text().replace("path /app", "path /app2"))
        result, steps = run_apply(d / "main.cfg", target)
        assert result.ok, steps  # be_app lives in the other file: checked together
        stage_text(d / "main.cfg", lb.text().replace("use_backend be_app", "use_backend be_x"))
        result, steps = run_apply(d / "main.cfg", target)
        assert result.outcome == "refused" and steps[-1][:2] == ("check", "fail")
        assert "unable to find required use_backend: 'be_x'" in steps[-1][2]
    finally:
        lb.stop()


def test_apply_target_from_the_settings_and_the_running_master(tmp_path: Path) -> None:
    """The settings' reload method and binary; the master's -f files, -C, -L and cwd."""
    from console.haproxy.discovery import parse_cmdline
    from console.instance import Request, apply_target_from, resolve

    settings = tmp_path / "settings.toml"
    settings.write_text('[instances.edge]\nsocket = "/run/a.sock"\nmaster = "/run/m.sock"\n'
                        'reload = "systemctl"\nreload_command = "haproxy-edge"\n'
                        'haproxy = "/opt/haproxy"\n')
    target = resolve(Request(instance="edge", settings=str(settings)), discover=False)
    at = apply_target_from(target, None)
    assert (at.name, at.socket, at.master, at.reload, at.reload_command, at.haproxy,
            at.haproxy_origin) == ("edge", "/run/a.sock", "/run/m.sock", "systemctl",
                                   "haproxy-edge", "/opt/haproxy", "settings")
    assert at.has_runtime and at.cwd is None
    cmd = parse_cmdline(["/usr/sbin/haproxy", "-W", "-C", "/etc/hap", "-L", "lb1", "-f",
                         "a.cfg", "-f", "conf.d"], cwd="/srv")
    at = apply_target_from(target, cmd)
    assert at.config_files == ["/etc/hap/a.cfg", "/etc/hap/conf.d"] or \
        at.config_files == ["/srv/a.cfg", "/srv/conf.d"]
    assert at.check_args[-2:] == ["-L", "lb1"] and at.cwd == "/srv"
    assert at.haproxy == "/opt/haproxy"  # the settings' binary wins


def run_on_terminal(lb: Running, answer: bytes, prompt: bytes,
                    args: list[str] | None = None) -> tuple[int, str]:
    """``haconsole config apply`` (or ``haconsole ARGS``) on a terminal: *answer* typed
    once *prompt* shows; ``(exit status, what the terminal showed)``."""
    master, slave = pty.openpty()
    args = args or ["-s", lb.socket, "config", "apply"]
    proc = subprocess.Popen([sys.executable, "-m", "console", *args],
                            stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    os.close(slave)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
        if not answered and prompt in seen:
            os.write(master, answer)
            answered = True
    proc.wait(30)
    try:
        while select.select([master], [], [], 0.1)[0]:
            seen += os.read(master, 65536)
    except OSError:
        pass
    os.close(master)
    assert answered, seen.decode(errors="replace")
    return proc.returncode, seen.decode(errors="replace")
