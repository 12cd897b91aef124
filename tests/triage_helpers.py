"""A real HAProxy with captured errors and long-running streams, for the triage tests
and ``tests/data/capture_triage.py``.

``fe_triage`` sends everything to ``be_slow``, whose server accepts and never answers
(streams stay open as long as their clients do); ``fe_badresp`` sends to
``be_badresp``, whose server answers an invalid response (a header name with a space
and an ESC sequence). :func:`provoke_errors` sends malformed requests to
``fe_triage``: HAProxy keeps the last one per proxy and direction in ``show errors``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from console.haproxy.transport import wait_for_socket
from tests.instance import stop_process

LOOPBACK = "127.0.0.1"

CONFIG = """\
global
    stats socket {d}/admin.sock level admin
    stats socket {d}/operator.sock level operator
    stats socket {d}/user.sock level user
    stats timeout 30s
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 60s

frontend fe_triage
    bind {host}:{fe}
    default_backend be_slow

frontend fe_badresp
    bind {host}:{fe_bad}
    default_backend be_badresp

backend be_slow
    server slow1 {host}:{slow}

backend be_badresp
    server bad1 {host}:{bad}
"""

# Each one ends up in `show errors` of fe_triage (the last one wins).
BAD_REQUESTS = (
    b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",                      # space in a header name
    b"GET /\x00nul HTTP/1.1\r\nHost: x\r\n\r\n",                # NUL in the URI
    b"GET / HTTP/1.1\r\nHost: x\r\nX-\x1b[31mRed\x1b[0m: 1\r\n\r\n",  # ESC in a header name
)
BAD_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nBad\x1b[2J Header: x\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class _Server:
    """A loopback TCP server in a thread: *hold* keeps each connection open and silent;
    otherwise it answers *answer* once the request's headers are read."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(256)
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.answer is not None:
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            conn.sendall(self.answer or b"")

    def stop(self) -> None:
        self.stopped = True
        with contextlib.suppress(OSError):
            self.sock.close()
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.close()


@dataclass
class Triage:
    dir: Path
    proc: subprocess.Popen[bytes]
    admin: str
    operator: str
    user: str
    fe: int
    fe_bad: int
    servers: list[_Server]
    clients: list[socket.socket] = field(default_factory=list)

    def stop(self) -> None:
        for c in self.clients:
            with contextlib.suppress(OSError):
                c.close()
        stop_process(self.proc)
        for s in self.servers:
            s.stop()


def start_triage(directory: Path, haproxy: str) -> Triage:
    slow, bad = _Server(None), _Server(BAD_RESPONSE)
    d = str(directory)
    fe, fe_bad = free_port(), free_port()
    cfg = directory / "haproxy.cfg"
    cfg.write_text(CONFIG.format(d=d, host=LOOPBACK, fe=fe, fe_bad=fe_bad, slow=slow.port,
                                 bad=bad.port))
    log = open(directory / "haproxy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([haproxy, "-W", "-f", str(cfg)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    t = Triage(directory, proc, f"{d}/admin.sock", f"{d}/operator.sock", f"{d}/user.sock",
               fe, fe_bad, [slow, bad])
    if not wait_for_socket(t.admin):
        t.stop()
        raise RuntimeError("HAProxy did not start: " + (directory / "haproxy.log").read_text())
    os.environ.setdefault("HACONSOLE_STATE_DIR", str(directory / "state"))
    return t


def send_raw(port: int, data: bytes, source: str = LOOPBACK) -> bytes:
    """Send *data* and read the answer until HAProxy closes (a 400 for a bad request)."""
    with socket.create_connection((LOOPBACK, port), timeout=5,
                                  source_address=(source, 0)) as s:
        s.sendall(data)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def provoke_errors(t: Triage) -> None:
    for data in BAD_REQUESTS:
        send_raw(t.fe, data, "127.0.0.2")
    send_raw(t.fe_bad, b"GET /resp HTTP/1.1\r\nHost: x\r\n\r\n", "127.0.0.3")


def open_streams(t: Triage, n: int, source: str = "127.0.0.4",
                 path: str = "/slow/uri") -> list[socket.socket]:
    """*n* clients whose requests wait on the silent server: long-running streams."""
    out = []
    for _ in range(n):
        s = socket.create_connection((LOOPBACK, t.fe), timeout=5, source_address=(source, 0))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        out.append(s)
    t.clients += out
    return out


def cli(path: str, command: str, timeout: float = 10.0) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def wait_for(pred: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False
