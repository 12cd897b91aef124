"""Broken peers on loopback, started by the tests themselves.

They stand in for a broken or hostile peer (a stuck proxy in front of the stats
page, a socket that answers forever), not for HAProxy: what HAProxy itself does
is tested against the real binaries. Each peer serves every connection in a
thread with a *respond* function, and stops (closing every connection) on exit.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Respond = Callable[[socket.socket, "Peer"], None]


class Peer:
    def __init__(self, respond: Respond, unix_path: str | None = None) -> None:
        self.respond = respond
        self.stopped = threading.Event()
        self.mode = "ok"  # for scripted peers: what to do with the next request
        if unix_path:
            self.listener = socket.socket(socket.AF_UNIX)
            self.listener.bind(unix_path)
            self.address = unix_path
        else:
            self.listener = socket.socket()
            self.listener.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://{self.address}/stats"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.respond(conn, self)
        except OSError:
            pass  # the client went away: what a peer sees when a deadline fires
        finally:
            conn.close()

    def sleep(self, seconds: float) -> None:
        """Wait, but stop at once when the peer is stopped."""
        if self.stopped.wait(seconds):
            raise OSError("peer stopped")

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._accept.join(5)
        for t in self._threads:
            t.join(5)


@contextmanager
def peer(respond: Respond, unix_path: str | None = None) -> Iterator[Peer]:
    p = Peer(respond, unix_path)
    try:
        yield p
    finally:
        p.stop()
        if unix_path and os.path.exists(unix_path):
            os.unlink(unix_path)


def read_until(conn: socket.socket, marker: bytes, limit: int = 1 << 16) -> bytes:
    """Read a request up to *marker* (a command's newline, an HTTP header's end)."""
    conn.settimeout(5)
    data = b""
    while marker not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def drip(conn: socket.socket, p: Peer, every: float = 0.2, byte: bytes = b"x") -> None:
    """One byte every *every* seconds, forever: no timeout per read ever fires."""
    while True:
        conn.sendall(byte)
        p.sleep(every)


def flood(conn: socket.socket, p: Peer, line: bytes = b"be,srv" + b",0" * 60 + b",\n",
          rate: float = 16e6) -> None:
    """An endless answer, about *rate* bytes a second (bounded, so that a client
    without a cap does not eat the machine's memory before its own deadline)."""
    chunk = line * max(1, (64 * 1024) // len(line))
    pause = len(chunk) / rate
    while True:
        conn.sendall(chunk)
        p.sleep(pause)


HTTP_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
             b"# pxname,svname,status,\n")


def trickling_page(conn: socket.socket, p: Peer) -> None:
    read_until(conn, b"\r\n\r\n")
    conn.sendall(HTTP_HEAD)
    drip(conn, p)


def endless_page(conn: socket.socket, p: Peer) -> None:
    read_until(conn, b"\r\n\r\n")
    conn.sendall(HTTP_HEAD)
    flood(conn, p)


def trickling_socket(conn: socket.socket, p: Peer) -> None:
    """A stats socket (per-command or ``prompt`` mode) or a master socket that
    starts an answer and never finishes it."""
    request = read_until(conn, b"\n")
    if request.startswith(b"prompt\n"):
        if b"@" in request:  # the master client sends prompt and the command at once
            conn.sendall(b"\nmaster> ")
        else:
            conn.sendall(b"\n> ")
            read_until(conn, b"\n")
    drip(conn, p)


def endless_socket(conn: socket.socket, p: Peer) -> None:
    request = read_until(conn, b"\n")
    if request.startswith(b"prompt\n"):
        if b"@" in request:
            conn.sendall(b"\nmaster> ")
        else:
            conn.sendall(b"\n> ")
            read_until(conn, b"\n")
    flood(conn, p)


def elapsed(since: float) -> float:
    return time.monotonic() - since
