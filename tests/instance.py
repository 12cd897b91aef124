"""A small purpose-made HAProxy instance for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.haproxy.transport import wait_for_socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """\
global
    stats socket {d}/admin.sock level admin
    stats socket {d}/operator.sock level operator
    stats socket {d}/user.sock level user
    stats socket 127.0.0.1:{tcp} level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe_main
    bind 127.0.0.1:{fe}
    default_backend be_app

listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
    stats admin if TRUE

listen stats_auth
    bind 127.0.0.1:{stats_auth}
    stats enable
    stats uri /stats
    stats auth ops:s3cret

backend be_app
    balance roundrobin
    server app1 127.0.0.1:{p1} weight 10
    server app2 127.0.0.1:{p2} weight 20
    server app3 127.0.0.1:{p3} disabled

backend be_other
    server other1 127.0.0.1:{p1}
"""


@dataclass
class Instance:
    dir: Path
    proc: subprocess.Popen[bytes]
    admin: str
    operator: str
    user: str
    tcp: str
    master: str
    stats_url: str
    config: str
    stats_auth_url: str

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[Any], wait: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after *wait* seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_instance(directory: Path, haproxy: str) -> Instance:
    d = str(directory)
    tcp, fe, stats, stats_auth = free_port(), free_port(), free_port(), free_port()
    cfg = directory / "haproxy.cfg"
    cfg.write_text(CONFIG.format(d=d, tcp=tcp, fe=fe, stats=stats, stats_auth=stats_auth,
                                 p1=free_port(), p2=free_port(), p3=free_port()))
    log = open(directory / "haproxy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([haproxy, "-W", "-S", f"{d}/master.sock", "-f", str(cfg)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    inst = Instance(directory, proc, f"{d}/admin.sock", f"{d}/operator.sock",
                    f"{d}/user.sock", f"127.0.0.1:{tcp}", f"{d}/master.sock",
                    f"http://127.0.0.1:{stats}/stats", str(cfg),
                    f"http://127.0.0.1:{stats_auth}/stats")
    if not (wait_for_socket(inst.admin) and wait_for_socket(inst.master)):
        inst.stop()
        raise RuntimeError("HAProxy did not start: " + (directory / "haproxy.log").read_text())
    # the stats page listener may come up a moment after the sockets
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", stats), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    os.environ.setdefault("HACONSOLE_STATE_DIR", str(directory / "state"))
    return inst
