"""The lab's files: layout of the lab directory, haproxy.cfg, the map and the ACL file."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from console.haproxy.errors import ValidationError

RING = "lab_logs"  # the ring the lab's traffic logs go to
# Longest path a unix socket address can hold on Linux (sun_path is 108 bytes with the NUL).
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class ServerSpec:
    """One server line: its backend, its name, how its in-process HTTP server behaves."""

    backend: str
    name: str
    personality: str
    params: str = ""  # extra server keywords, e.g. "backup" or "maxconn 20"

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.name}"


SERVERS: tuple[ServerSpec, ...] = (
    ServerSpec("be_web", "web1", "healthy"),
    ServerSpec("be_web", "web2", "healthy"),
    ServerSpec("be_web", "web3", "slow", "maxconn 20"),
    ServerSpec("be_web", "web4", "errors"),
    ServerSpec("be_web", "web5", "healthy", "backup"),
    ServerSpec("be_static", "static1", "healthy"),
    ServerSpec("be_static", "static2", "healthy"),
    ServerSpec("be_static", "static3", "healthy"),
    ServerSpec("be_api", "api1", "healthy"),
    ServerSpec("be_api", "api2", "flappy"),
    ServerSpec("be_api", "api3", "errors"),
    ServerSpec("be_api", "api4", "slow"),
)

BACKEND_NOTES: dict[str, tuple[str, ...]] = {
    "be_web": ("The web site: two healthy servers, a slow one (capped by maxconn), one that",
               "fails about 20 % of its requests, and a backup used only when all others are",
               "down."),
    "be_static": ("Static files: three identical healthy servers.",),
    "be_api": ("The API: a healthy server, one whose health check flaps every ~15 s, one",
               "that fails about 20 % of its requests, and a slow one."),
}

HOSTS_MAP = """\
# Host header (without port) -> backend, used by fe_web.
# Hosts not listed here go to be_web.
www.lab.local       be_web
shop.lab.local      be_web
static.lab.local    be_static
cdn.lab.local       be_static
api.lab.local       be_api
"""

BLOCKED_ACL = """\
# Client addresses refused by fe_web with a 403.
# Documentation ranges only: the lab's own traffic comes from 127.0.0.1.
192.0.2.10
198.51.100.0/24
203.0.113.7
"""


@dataclass(frozen=True)
class Layout:
    """Every path the lab uses inside its directory."""

    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "haproxy.cfg"

    @property
    def log(self) -> Path:
        return self.dir / "haproxy.log"

    @property
    def pidfile(self) -> Path:
        return self.dir / "haproxy.pid"

    @property
    def admin_socket(self) -> Path:
        return self.dir / "admin.sock"

    @property
    def operator_socket(self) -> Path:
        return self.dir / "operator.sock"

    @property
    def user_socket(self) -> Path:
        return self.dir / "user.sock"

    @property
    def master_socket(self) -> Path:
        return self.dir / "master.sock"

    @property
    def control_socket(self) -> Path:
        return self.dir / "lab-control.sock"

    @property
    def server_state(self) -> Path:
        return self.dir / "server-state"

    @property
    def hosts_map(self) -> Path:
        return self.dir / "hosts.map"

    @property
    def blocked_acl(self) -> Path:
        return self.dir / "blocked.acl"

    @property
    def info(self) -> Path:
        return self.dir / "lab.json"

    def sockets(self) -> list[Path]:
        return [self.admin_socket, self.operator_socket, self.user_socket,
                self.master_socket, self.control_socket]

    def check_socket_paths(self) -> None:
        for path in self.sockets():
            if len(os.fsencode(str(path))) > MAX_SOCKET_PATH:
                raise ValidationError(
                    "the lab directory's path is too long for a unix socket",
                    str(path),
                    f"a socket path has at most {MAX_SOCKET_PATH} bytes; "
                    "choose a shorter --dir",
                )


@dataclass(frozen=True)
class Ports:
    fe_web: int
    fe_api: int
    stats: int


def free_ports(count: int) -> list[int]:
    """*count* distinct free TCP ports on 127.0.0.1 (all probes held open until chosen)."""
    probes: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            probes.append(sock)
        return [sock.getsockname()[1] for sock in probes]
    finally:
        for sock in probes:
            sock.close()


def has_prometheus_exporter(binary: str) -> bool:
    """Whether ``haproxy -vv`` lists the prometheus-exporter service."""
    try:
        out = subprocess.run([binary, "-vv"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = out.stdout + out.stderr
    # "Available services : prometheus-exporter" (2.6, 2.8) or the names on the next lines.
    block = re.search(r"Available services\s*:(.*?)(?:\n\s*\n|\Z)", text, re.S)
    return bool(block and "prometheus-exporter" in block.group(1))


def _server_line(spec: ServerSpec, port: int) -> str:
    words = [f"server {spec.name} 127.0.0.1:{port} check inter 2s fall 2 rise 2"]
    if spec.params:
        words.append(spec.params)
    line = " ".join(words)
    return f"    {line:<72} # {spec.personality}"


def render(layout: Layout, ports: Ports, server_ports: dict[str, int], *,
           prometheus: bool, version: str) -> str:
    """The text of haproxy.cfg."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if prometheus:
        metrics = ("    # Prometheus metrics on /metrics.\n"
                   "    http-request use-service prometheus-exporter if { path /metrics }\n")
    else:
        metrics = ("    # This HAProxy build has no prometheus-exporter service"
                   " (see haproxy -vv), so no /metrics.\n")
    parts = [f"""\
# HAProxy lab: a real HAProxy in front of small HTTP servers run by the lab process.
# Written {stamp} for HAProxy {version}.
# Started as: haproxy -W -S {layout.master_socket} -f {layout.config} -p {layout.pidfile}
# Everything listens on 127.0.0.1. The file stays valid, so `reload` on the master
# socket works at any time.

global
    # Runtime API, one socket per access level.
    stats socket {layout.admin_socket} mode 600 level admin
    stats socket {layout.operator_socket} mode 600 level operator
    stats socket {layout.user_socket} mode 600 level user
    stats timeout 30s
    # Runtime server state (maint, drain, weight...) is read from here at start and
    # reload; write `show servers state` into it before a reload to keep that state.
    server-state-file {layout.server_state}
    # After a reload, old workers get 10 s to finish their requests.
    hard-stop-after 10s
    # Traffic logs go to the ring below, read over the stats socket:
    # `haconsole logs --follow` (show events lab_logs -w -n). HAProxy's own messages
    # go to haproxy.log (no daemon, chroot or user switch: the lab runs HAProxy in the
    # foreground, in master-worker mode).
    log ring@{RING} local0 info

ring {RING}
    description "lab traffic logs"
    format rfc5424
    maxlen 4096
    size 1048576

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 5s
    timeout queue 10s
    timeout check 2s
    retries 2
    option redispatch
    load-server-state-from-file global

frontend fe_web
    # The web site.
    bind 127.0.0.1:{ports.fe_web}
    http-request deny if {{ src -f {layout.blocked_acl} }}
    use_backend be_static if {{ path_beg /static }}
    # Host header -> backend; hosts missing from the map go to be_web.
    use_backend %[req.hdr(host),field(1,:),lower,map({layout.hosts_map},be_web)]
    default_backend be_web

frontend fe_api
    # The API, with per-client request rates in a stick table.
    bind 127.0.0.1:{ports.fe_api}
    stick-table type ip size 100k expire 10m store http_req_rate(10s),conn_cur,gpc0
    http-request track-sc0 src
    # gpc0 counts requests made above 50 requests per 10 s; above 500 the client gets 429.
    http-request sc-inc-gpc0(0) if {{ sc_http_req_rate(0) gt 50 }}
    http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 500 }}
    default_backend be_api

listen stats
    # Stats page; admin actions are allowed because it listens on loopback only.
    bind 127.0.0.1:{ports.stats}
    stats enable
    stats uri /stats
    stats refresh 5s
    stats show-legends
    stats admin if TRUE
{metrics}"""]
    for backend in ("be_web", "be_static", "be_api"):
        lines = [f"backend {backend}",
                 *(f"    # {note}" for note in BACKEND_NOTES[backend]),
                 "    # The comment after each server is its lab personality.",
                 "    balance roundrobin",
                 "    option httpchk GET /health",
                 "    http-check expect status 200"]
        for spec in SERVERS:
            if spec.backend == backend:
                lines.append(_server_line(spec, server_ports[spec.key]))
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def write_files(layout: Layout, text: str) -> None:
    """Write haproxy.cfg, hosts.map, blocked.acl, and a server-state file if none."""
    layout.hosts_map.write_text(HOSTS_MAP)
    layout.blocked_acl.write_text(BLOCKED_ACL)
    if not layout.server_state.exists() or not layout.server_state.stat().st_size:
        # Just the format version: an empty file makes 2.6 warn at every start.
        layout.server_state.write_text("1\n")
    tmp = layout.config.with_suffix(".cfg.tmp")
    tmp.write_text(text)
    os.replace(tmp, layout.config)
