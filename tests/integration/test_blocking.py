"""Blocking clients on a real HAProxy, every version: the rule of the configuration, the
runtime ACL, the pattern file made permanent across a reload, the staged rule, top
clients, and hostile input refused before anything is sent.

Requests come from 127.0.0.2 (blocked) and 127.0.0.1 (not): on Linux the whole of
127/8 is local, so a client socket binds to either before connecting.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.haproxy.binaries import Binary
from console.haproxy.transport import wait_for_socket
from tests.instance import free_port, stop_process

pytestmark = pytest.mark.haproxy

REPO = Path(__file__).resolve().parents[2]

CONFIG = """\
global
    stats socket {d}/admin.sock level admin
    stats socket {d}/user.sock level user
    stats timeout 5s
    log ring@logs local0 info

defaults
    mode http
    option httplog
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe_web
    bind 127.0.0.1:{web}
    acl blocked src -f {d}/blocked.acl
    http-request track-sc0 src table st_src
    http-request deny deny_status 403 if blocked
    http-request return status 200 content-type text/plain string ok

frontend fe_tcp
    mode tcp
    bind 127.0.0.1:{tcp}
    tcp-request connection reject if {{ src -f {d}/blocked.acl }}
    default_backend be_web

frontend fe_link
    bind 127.0.0.1:{link}
    http-request deny if {{ src -f {d}/link.acl }}
    http-request return status 200 content-type text/plain string ok

frontend fe_map
    bind 127.0.0.1:{map}
    http-request deny deny_status 429 if {{ src,map_ip({d}/blocked.map) -m found }}
    http-request return status 200 content-type text/plain string ok

frontend fe_open
    bind 127.0.0.1:{open}
    http-request return status 200 content-type text/plain string ok

backend st_src
    stick-table type ip size 1k expire 5m store http_req_rate(10s),http_req_cnt,conn_cur

backend be_web
    mode tcp
    server web 127.0.0.1:{web}

ring logs
    description "test ring"
    format rfc5424
    maxlen 4096
    size 65536
"""


@dataclass
class LB:
    dir: Path
    proc: subprocess.Popen[bytes]
    config: Path
    ports: dict[str, int]

    @property
    def admin(self) -> str:
        return str(self.dir / "admin.sock")

    @property
    def master(self) -> str:
        return str(self.dir / "master.sock")

    @property
    def acl(self) -> Path:
        return self.dir / "blocked.acl"

    def cli(self, *argv: str, sock: str | None = None) -> subprocess.CompletedProcess[str]:
        return haconsole("-s", sock or self.admin, "-m", self.master, "-c", str(self.config),
                         *argv)

    def status(self, frontend: str, source: str = "127.0.0.1") -> int:
        """The HTTP status *frontend* answers a request from *source*; 0 when the
        connection is closed without an answer (rejected)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.ports[frontend], timeout=5,
                                          source_address=(source, 0))
        try:
            conn.request("GET", "/")
            return conn.getresponse().status
        except (TimeoutError, ConnectionError, http.client.RemoteDisconnected):
            return 0
        finally:
            conn.close()

    def run(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.admin)
            s.sendall(command.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode()

    def stop(self) -> None:
        stop_process(self.proc)


def haconsole(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return subprocess.run([sys.executable, "-m", "console", *argv], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def lb(haproxy_binary: Binary, tmp_path: Path) -> Iterator[LB]:
    d = tmp_path / "lb"
    d.mkdir()
    (d / "blocked.acl").write_bytes(b"# blocked clients\n")
    (d / "real.acl").write_bytes(b"")
    (d / "link.acl").symlink_to(d / "real.acl")
    (d / "blocked.map").write_bytes(b"")
    ports = {k: free_port() for k in ("fe_web", "fe_tcp", "fe_link", "fe_map", "fe_open")}
    cfg = d / "haproxy.cfg"
    cfg.write_text(CONFIG.format(d=d, web=ports["fe_web"], tcp=ports["fe_tcp"],
                                 link=ports["fe_link"], map=ports["fe_map"],
                                 open=ports["fe_open"]))
    log = open(d / "haproxy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([haproxy_binary.path, "-W", "-S", str(d / "master.sock"),
                             "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    h = LB(d, proc, cfg, ports)
    if not (wait_for_socket(h.admin) and wait_for_socket(h.master)):
        h.stop()
        raise RuntimeError("HAProxy did not start: " + (d / "haproxy.log").read_text())
    yield h
    h.stop()


def _journal() -> list[dict[str, object]]:
    from console.haproxy.journal import read_entries

    return read_entries()


def _runtime_acl(lb: LB, name: str = "blocked.acl") -> str:
    return lb.run(f"show acl {lb.dir / name}")


def _reload(lb: LB) -> None:
    """Reload through the master and wait for the new worker to answer."""
    before = lb.run("show info")
    pid = next(line for line in before.splitlines() if line.startswith("Pid:"))
    lb.proc.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            info = lb.run("show info")
        except OSError:
            continue
        if pid not in info and "Pid:" in info:
            return
    raise AssertionError("HAProxy did not reload")


def test_block_and_unblock_at_runtime(lb: LB) -> None:
    assert lb.status("fe_web", "127.0.0.2") == 200
    r = lb.cli("block", "127.0.0.2", "--yes")
    assert r.returncode == 0, r.stderr
    assert f"command: add acl {lb.acl} 127.0.0.2" in r.stdout
    assert "refused on fe_web, fe_tcp, fe_link, fe_map" in r.stdout
    assert f"command: add map {lb.dir / 'blocked.map'} 127.0.0.2 1" in r.stdout
    assert lb.status("fe_map", "127.0.0.2") == 429
    assert "not blocked on fe_open: no block rule there" in r.stdout
    assert lb.status("fe_web", "127.0.0.2") == 403
    assert lb.status("fe_web", "127.0.0.1") == 200
    assert lb.status("fe_tcp", "127.0.0.2") == 0  # the connection is rejected
    assert lb.status("fe_tcp", "127.0.0.1") == 200
    assert lb.acl.read_bytes() == b"# blocked clients\n"  # runtime only
    sent = [e for e in _journal() if e.get("command") == f"add acl {lb.acl} 127.0.0.2"]
    assert sent and sent[-1]["ok"] and sent[-1]["after"] == {"pattern": "127.0.0.2",
                                                              "count": 1}
    again = lb.cli("block", "127.0.0.2", "--yes")
    assert again.returncode == 0 and "already blocked" in again.stdout
    # top clients: the stick table and the ring both saw 127.0.0.2, marked blocked
    r = lb.cli("clients", "--json")
    assert r.returncode == 0, r.stderr
    rows = {c["client"]: c for c in json.loads(r.stdout)["clients"]}
    # without --frontend, every rule's file got it: fe_link's and fe_map's too
    assert rows["127.0.0.2"]["blocked"] == [str(lb.acl), str(lb.dir / "link.acl"),
                                            str(lb.dir / "blocked.map")]
    r = lb.cli("clients", "--from", "logs", "--window", "5m", "--json")
    assert r.returncode == 0, r.stderr
    assert {c["client"] for c in json.loads(r.stdout)["clients"]} >= {"127.0.0.1",
                                                                      "127.0.0.2"}
    assert rows["127.0.0.2"]["requests"] >= 2 and rows["127.0.0.1"]["blocked"] == []
    assert rows["127.0.0.2"]["req_cnt"] >= 2 and "st_src" in rows["127.0.0.2"]["tables"]
    text = lb.cli("clients", "--from", "tables", "--sort", "rate")
    assert text.returncode == 0 and str(lb.acl) in text.stdout, text.stderr
    r = lb.cli("unblock", "127.0.0.2", "--yes")
    assert r.returncode == 0, r.stderr
    assert lb.status("fe_web", "127.0.0.2") == 200
    r = lb.cli("unblock", "127.0.0.2", "--yes")
    assert r.returncode == 0 and "nothing to do" in r.stdout


def test_network_block_and_frontend_scope(lb: LB) -> None:
    r = lb.cli("block", "127.0.0.0/24", "--frontend", "fe_tcp", "--yes")
    assert r.returncode == 0, r.stderr
    assert "refused on fe_web, fe_tcp (" in r.stdout  # the file fe_tcp reads, fe_web too
    assert lb.status("fe_web", "127.0.0.2") == 403  # same file: fe_web reads it too
    r = lb.cli("unblock", "127.0.0.2", "--yes")  # covered by the network: stays
    assert r.returncode == 2 and "stays blocked by 127.0.0.0/24" in r.stdout
    r = lb.cli("block", "127.0.0.9", "--frontend", "fe_open", "--yes")
    assert r.returncode == 2 and "no block rule protects fe_open" in r.stderr
    assert "--add-rule --frontend fe_open" in r.stderr and "Traceback" not in r.stderr
    # a rule written in the file but not reloaded: HAProxy does not know its file
    new = lb.dir / "new.acl"
    new.write_bytes(b"")
    lb.config.write_text(lb.config.read_text().replace(
        "frontend fe_open\n", f"frontend fe_open\n    http-request deny if {{ src -f {new} }}\n"))
    r = lb.cli("block", "127.0.0.9", "--frontend", "fe_open", "--yes")
    assert r.returncode == 1 and "running HAProxy has no acl file" in r.stderr
    assert "config apply" in r.stderr and "Traceback" not in r.stderr


def test_permanent_survives_a_reload(lb: LB) -> None:
    r = lb.cli("block", "127.0.0.2", "--permanent", "--yes")  # fe_link's file: a symlink
    assert r.returncode == 2 and "symbolic link" in r.stderr
    assert "127.0.0.2" not in _runtime_acl(lb)  # refused before anything was sent
    r = lb.cli("block", "127.0.0.2", "--frontend", "fe_web", "--permanent", "--yes")
    assert r.returncode == 0, r.stderr
    assert lb.acl.read_bytes() == b"# blocked clients\n127.0.0.2\n"
    assert "history version" in r.stdout
    r = lb.cli("block", "127.0.0.2", "--frontend", "fe_web", "--permanent", "--yes")
    assert r.returncode == 0 and "already in the file" in r.stdout
    writes = [e for e in _journal() if e.get("via") == "file"]
    assert len(writes) == 1 and "add 127.0.0.2" in str(writes[0]["command"])
    _reload(lb)
    assert "127.0.0.2" in _runtime_acl(lb)
    assert lb.status("fe_web", "127.0.0.2") == 403
    assert lb.status("fe_web", "127.0.0.1") == 200
    r = lb.cli("unblock", "127.0.0.2", "--frontend", "fe_web", "--permanent", "--yes")
    assert r.returncode == 0, r.stderr
    assert lb.acl.read_bytes() == b"# blocked clients\n"
    _reload(lb)
    assert lb.status("fe_web", "127.0.0.2") == 200
    hist = haconsole("-c", str(lb.acl), "config", "history")
    assert hist.returncode == 0 and "written" in hist.stdout, hist.stderr


def test_map_rule_made_permanent(lb: LB) -> None:
    mapfile = lb.dir / "blocked.map"
    r = lb.cli("block", "127.0.0.5", "--frontend", "fe_map", "--permanent", "--yes")
    assert r.returncode == 0, r.stderr
    assert f"command: add map {mapfile} 127.0.0.5 1" in r.stdout
    assert mapfile.read_bytes() == b"127.0.0.5 1\n"
    assert lb.status("fe_map", "127.0.0.5") == 429
    assert lb.status("fe_web", "127.0.0.5") == 200  # another rule, another file
    _reload(lb)
    assert lb.status("fe_map", "127.0.0.5") == 429
    r = lb.cli("unblock", "127.0.0.5", "--frontend", "fe_map", "--permanent", "--yes")
    assert r.returncode == 0, r.stderr
    assert f"command: del map {mapfile} 127.0.0.5" in r.stdout and mapfile.read_bytes() == b""
    assert lb.status("fe_map", "127.0.0.5") == 200


def test_add_rule_then_apply_then_block(lb: LB) -> None:
    pattern = lb.dir / "haconsole-blocked.acl"
    r = lb.cli("block", "--add-rule", "--frontend", "fe_open")
    assert r.returncode == 0, r.stderr
    assert pattern.read_bytes() == b"" and "created" in r.stdout
    line = f"http-request deny deny_status 403 if {{ src -f {pattern} }}"
    assert line in r.stdout
    diff = lb.cli("config", "diff")
    assert diff.returncode == 1 and f"+    {line}" in diff.stdout
    r = lb.cli("config", "apply", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    r = lb.cli("block", "127.0.0.3", "--frontend", "fe_open", "--yes")
    assert r.returncode == 0, r.stderr
    assert lb.status("fe_open", "127.0.0.3") == 403
    assert lb.status("fe_open", "127.0.0.1") == 200
    r = lb.cli("block", "--add-rule", "--frontend", "fe_open")
    assert r.returncode == 2 and "already blocks" in r.stderr


def test_add_rule_tcp_frontend_passes_the_check(lb: LB, haproxy_binary: Binary) -> None:
    from console.haproxy.staging import Staging

    text = lb.config.read_text().replace(
        "    tcp-request connection reject if { src -f " + str(lb.acl) + " }\n", "")
    lb.config.write_text(text)
    r = lb.cli("block", "--add-rule", "--frontend", "fe_tcp", "--file",
               str(lb.dir / "tcp.acl"))
    assert r.returncode == 0, r.stderr
    staged = lb.dir / "staged.cfg"
    staged.write_bytes(Staging.load(str(lb.config)).candidate)
    assert f"tcp-request connection reject if {{ src -f {lb.dir / 'tcp.acl'} }}" in \
        staged.read_text()
    check = subprocess.run([haproxy_binary.path, "-c", "-f", str(staged)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("addr", ["1.2.3.4;shutdown sessions", "1.2.3.4\nshutdown sessions",
                                  "10.0.0.1/8", "not-an-address", "0.0.0.0/0"])
def test_hostile_addresses_refused_before_sending(lb: LB, addr: str) -> None:
    before = _runtime_acl(lb)
    sessions = lb.run("show sess")
    r = lb.cli("block", addr, "--yes", "--permanent")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stdout == ""
    assert _runtime_acl(lb) == before and lb.acl.read_bytes() == b"# blocked clients\n"
    assert len(lb.run("show sess").splitlines()) >= len(sessions.splitlines()) - 1
    refused = _journal()[-1]
    assert refused["via"] == "refused" and not refused["ok"]


def test_symlinked_pattern_file_refused_before_sending(lb: LB) -> None:
    r = lb.cli("block", "127.0.0.4", "--frontend", "fe_link", "--permanent", "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "symbolic link" in r.stderr and "Traceback" not in r.stderr
    assert "127.0.0.4" not in _runtime_acl(lb, "link.acl")
    assert (lb.dir / "real.acl").read_bytes() == b""
    assert lb.status("fe_link", "127.0.0.4") == 200


def test_a_socket_at_level_user_is_refused(lb: LB) -> None:
    r = lb.cli("block", "127.0.0.2", "--yes", sock=str(lb.dir / "user.sock"))
    assert r.returncode == 1 and "level" in r.stderr and "Traceback" not in r.stderr
    assert "127.0.0.2" not in _runtime_acl(lb)


def test_read_only_and_no_confirmation(lb: LB) -> None:
    r = lb.cli("--read-only", "block", "127.0.0.2", "--yes")
    assert r.returncode == 2 and "read-only" in r.stderr
    r = lb.cli("block", "127.0.0.2")  # stdin is not a terminal, no --yes
    assert r.returncode == 2 and "not confirmed" in r.stderr
    assert "127.0.0.2" not in _runtime_acl(lb)
