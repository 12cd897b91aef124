"""Logs read from a real HAProxy's ring over the stats socket, on every version.

A master-worker HAProxy with ``ring logs`` and ``log ring@logs`` in ``global``, two
frontends answering with ``http-request return`` (200 and 503), and ``stats timeout
2s`` so that 2.6 ends an idle ``show events -w`` (the follower then resumes without
repeating a line). ``haconsole logs --follow --json`` runs as a subprocess and is
terminated once it printed the lines looked for.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.haproxy.binaries import Binary
from console.haproxy.transport import wait_for_socket
from tests.instance import free_port, stop_process

pytestmark = pytest.mark.haproxy

REPO = Path(__file__).resolve().parents[2]

BASE = """\
global
    stats socket {d}/admin.sock level admin
    stats timeout 2s
{global_log}
defaults
    mode http
    option httplog
{defaults_log}    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe_ok
    bind 127.0.0.1:{ok}
    http-request return status 200 content-type text/plain string ok

frontend fe_err
    bind 127.0.0.1:{err}
    http-request return status 503 content-type text/plain string down
{ring}"""

RING = """
ring logs
    description "test ring"
    format rfc5424
    maxlen 4096
    size 65536
"""


@dataclass
class HAProxy:
    dir: Path
    proc: subprocess.Popen[bytes]
    config: Path
    ok: int
    err: int

    @property
    def admin(self) -> str:
        return str(self.dir / "admin.sock")

    @property
    def master(self) -> str:
        return str(self.dir / "master.sock")

    def get(self, port: int, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def stop(self) -> None:
        stop_process(self.proc)


def _start(directory: Path, binary: Binary, *, with_ring: bool) -> HAProxy:
    directory.mkdir(parents=True, exist_ok=True)
    ok, err = free_port(), free_port()
    cfg = directory / "haproxy.cfg"
    cfg.write_text(BASE.format(
        d=directory, ok=ok, err=err,
        global_log="    log ring@logs local0 info\n" if with_ring else "",
        defaults_log="    log global\n" if with_ring else "",
        ring=RING if with_ring else ""))
    log = open(directory / "haproxy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([binary.path, "-W", "-S", str(directory / "master.sock"),
                             "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    h = HAProxy(directory, proc, cfg, ok, err)
    if not (wait_for_socket(h.admin) and wait_for_socket(h.master)):
        h.stop()
        raise RuntimeError("HAProxy did not start: " + (directory / "haproxy.log").read_text())
    return h


@pytest.fixture
def ringed(haproxy_binary: Binary, tmp_path: Path) -> Iterator[HAProxy]:
    h = _start(tmp_path / "lb", haproxy_binary, with_ring=True)
    yield h
    h.stop()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return env


def haconsole(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *argv], capture_output=True,
                          text=True, timeout=timeout, env=_env(), cwd=REPO)


def _some(fd: int) -> bytes | None:
    """What *fd* gives within 0.3 s (b"" when nothing came yet), None at its end."""
    ready, _, _ = select.select([fd], [], [], 0.3)
    return (os.read(fd, 65536) or None) if ready else b""


class Follow:
    """``haconsole ... logs --follow --json`` running, its lines read with deadlines."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "console", *argv],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=_env(), cwd=REPO)
        self.buf = b""
        self.err = b""  # stderr read so far (by :meth:`err_until`)

    def err_until(self, text: str, timeout: float) -> bool:
        """Whether *text* shows on stderr within *timeout* s (what came is kept)."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while text.encode() not in self.err and time.monotonic() < deadline:
            chunk = _some(fd)
            if chunk is None:
                break
            self.err += chunk
        return text.encode() in self.err

    def lines(self, n: int, timeout: float, poke: object = None) -> list[dict[str, object]]:
        """*n* JSON lines within *timeout* s; *poke* (a callable) is called every 0.3 s."""
        assert self.proc.stdout is not None
        out: list[dict[str, object]] = []
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while len(out) < n and time.monotonic() < deadline:
            if callable(poke):
                poke()
            chunk = _some(fd)
            if chunk is None:
                break
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                out.append(json.loads(line))
        return out

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
        return (self.err + err).decode("utf-8", "replace")


def test_follow_json_from_the_ring(ringed: HAProxy) -> None:
    ringed.get(ringed.ok, "/before")  # in the backlog: not printed (-n)
    f = Follow("-s", ringed.admin, "logs", "--follow", "--json")
    try:
        # no traffic for longer than the stats timeout (2.6 then closes the wait)
        assert f.lines(1, 3.0) == []

        def poke() -> None:
            assert ringed.get(ringed.ok, "/ok") == 200
            assert ringed.get(ringed.err, "/err") == 503

        got = f.lines(6, 20.0, poke)
    finally:
        err = f.stop()
    assert len(got) >= 6, err
    assert "Traceback" not in err
    assert all(g["path"] != "/before" for g in got)
    by_fe = {(g["frontend"], g["status"], g["path"]) for g in got}
    assert ("fe_ok", 200, "/ok") in by_fe and ("fe_err", 503, "/err") in by_fe
    assert all(g["termination"] == "LR" for g in got)


def test_summary_and_dump_over_the_ring(ringed: HAProxy) -> None:
    for _ in range(5):
        ringed.get(ringed.ok, "/s")
    for _ in range(3):
        ringed.get(ringed.err, "/e")
    time.sleep(0.2)
    r = haconsole("-s", ringed.admin, "logs", "summary", "--by", "frontend", "--json")
    assert r.returncode == 0, r.stderr
    groups = {g["key"]: g for g in json.loads(r.stdout)}
    assert groups["fe_ok"]["requests"] == 5 and groups["fe_ok"]["status_classes"]["2xx"] == 5
    assert groups["fe_err"]["requests"] == 3 and groups["fe_err"]["status_classes"]["5xx"] == 3
    r = haconsole("-s", ringed.admin, "logs", "--json", "--filter", "status>=500")
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["frontend"] for x in r.stdout.splitlines()] == ["fe_err"] * 3
    r = haconsole("-s", ringed.admin, "logs", "--ring", "nope")
    assert r.returncode != 0 and "no ring named 'nope'" in r.stderr
    assert "Traceback" not in r.stderr


def test_follow_survives_a_reload(ringed: HAProxy) -> None:
    from console.haproxy.transport import MasterClient, run_sync

    f = Follow("-s", ringed.admin, "logs", "--follow", "--json")
    try:
        got = f.lines(1, 15.0, lambda: ringed.get(ringed.ok, "/old"))
        assert got, "nothing before the reload"
        run_sync(MasterClient(ringed.master).reload())
        time.sleep(0.5)
        got = f.lines(2, 20.0, lambda: ringed.get(ringed.ok, "/new"))
    finally:
        err = f.stop()
    assert any(g["path"] == "/new" for g in got), err
    assert "HAProxy reloaded: following the ring logs of the new worker" in err, err


def test_no_ring_says_how_to_add_one_then_add_log_ring_and_follow(
        haproxy_binary: Binary, tmp_path: Path) -> None:
    h = _start(tmp_path / "plain", haproxy_binary, with_ring=False)
    try:
        r = haconsole("-s", h.admin, "logs", "--follow")
        assert r.returncode != 0 and "declares no ring" in r.stderr
        assert "config add-log-ring" in r.stderr and "--file" in r.stderr
        inst = ("-s", h.admin, "-m", h.master, "-c", str(h.config))
        r = haconsole(*inst, "config", "add-log-ring", "--size", "64k")
        assert r.returncode == 0, r.stderr
        r = haconsole(*inst, "config", "diff")
        assert r.returncode == 1 and "+ring haconsole_logs" in r.stdout
        assert "+    log ring@haconsole_logs local0 info" in r.stdout
        # the staged text is valid for this version
        staged = tmp_path / "staged.cfg"
        from console.haproxy.staging import Staging

        staged.write_bytes(Staging.load(str(h.config)).candidate)
        check = subprocess.run([haproxy_binary.path, "-c", "-f", str(staged)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        r = haconsole(*inst, "config", "apply", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        f = Follow("-s", h.admin, "logs", "--follow", "--json")
        try:
            got = f.lines(2, 20.0, lambda: h.get(h.err, "/after"))
        finally:
            err = f.stop()
        assert got and got[0]["frontend"] == "fe_err" and got[0]["status"] == 503, err
    finally:
        h.stop()


def test_a_stalled_follower_is_told_how_many_lines_haproxy_dropped(ringed: HAProxy) -> None:
    """The follower stops reading (SIGSTOP) while 4,000 requests overflow the 64 kB
    ring and the socket buffers: HAProxy drops lines; once a line fits again it says how
    many (in the ring), and what the follower printed plus that count is every request."""
    import http.client
    import re

    n = 4000
    f = Follow("-s", ringed.admin, "logs", "--follow", "--json")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", ringed.ok, timeout=5)
        # connected (however slow this machine is) once a first line comes through
        deadline = time.monotonic() + 20
        warm: list[dict[str, object]] = []
        while not warm and time.monotonic() < deadline:
            conn.request("GET", "/warmup")
            conn.getresponse().read()
            warm = f.lines(1, 0.5)
        assert warm and warm[0]["path"] == "/warmup"
        f.lines(100, 0.5)  # any other warm-up line
        f.proc.send_signal(signal.SIGSTOP)
        try:
            for i in range(n):
                conn.request("GET", f"/r{i}")
                conn.getresponse().read()
        finally:
            f.proc.send_signal(signal.SIGCONT)
        got = f.lines(n, 4.0)  # the backlog the ring and the socket kept
        # the counter is read every 2 s: seen growing before the exact count comes
        # (however loaded this machine is, the line below comes after it)
        assert f.err_until("so far", 30.0), f.err
        conn.request("GET", "/after")  # fits: HAProxy writes "N events dropped" first
        conn.getresponse().read()
        conn.close()
        got += f.lines(1, 10.0)
    finally:
        err = f.stop()
    announced = [int(x) for x in re.findall(r"HAProxy dropped ([0-9]+) line", err)]
    assert announced, err
    assert got[-1]["path"] == "/after"
    assert len(got) - 1 + sum(announced) == n, (len(got), announced, err)
    assert "so far" in err  # the counter was seen growing before the exact count came
