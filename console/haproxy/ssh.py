"""A HAProxy node reached over SSH, with nothing installed on it but sshd.

One OpenSSH connection per node (a ControlMaster on a private control socket), started
with the user's own ``ssh`` and its configuration (``~/.ssh/config``, agent, ProxyJump,
certificates, ``known_hosts``). The node's stats and master sockets are forwarded to
unix sockets in a private local directory (OpenSSH's stream-local forwarding), so every
command goes through the same bounded, validated runtime client as a local socket.
Node-side commands are built from a fixed argv, each word quoted for the remote shell.

What is never done: accepting a host key (``StrictHostKeyChecking=yes``: an unknown or
changed key is a refusal), asking for a password (``BatchMode=yes``), leaving the ssh
process behind (it is stopped on close, and dies with the console on Linux through
``PR_SET_PDEATHSIG`` when the console is killed).
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.haproxy.children import die_with_parent
from console.haproxy.errors import HAProxyError
from console.haproxy.transport import name_socket

SSH_ENV = "HACONSOLE_SSH"
"""The ssh program to run (default: ``ssh`` on PATH); a path, no arguments."""
CONNECT_TIMEOUT = 10.0
# a host as ssh reads it: an alias, a name, user@host, an IP; never an option
_HOST_RE = re.compile(r"[A-Za-z0-9_:][A-Za-z0-9_.@%+\[\]:-]{0,254}")
_FORWARD_NAMES = ("stats", "master")


class SSHError(HAProxyError):
    """A node cannot be reached or used over SSH (what failed, where, what to do)."""


def check_host(host: str) -> str:
    """*host* if ssh can only read it as a host (alias, name, user@host, address)."""
    if not isinstance(host, str) or not _HOST_RE.fullmatch(host):
        raise SSHError(f"not an SSH host: {host!r}", "ssh",
                       "give a host as ssh understands it: an alias of ~/.ssh/config, "
                       "a name or user@host (no spaces, not starting with '-')")
    return host


def check_remote_path(path: str, what: str) -> str:
    """An absolute path on the node, safe in an ssh forward and a quoted argv."""
    if (not isinstance(path, str) or not path.startswith("/") or ":" in path
            or any(ord(c) < 32 or ord(c) == 127 for c in path) or len(path) > 4096):
        raise SSHError(f"not a usable {what} path on the node: {path!r}", "ssh",
                       "an absolute path without ':' or control characters")
    return path


class _Spawner:
    """Starts the long-lived ssh processes from one thread that lives as long as the
    console: the kernel sends PR_SET_PDEATHSIG when the *thread* that started a child
    ends, so a child started from a worker thread (a thread pool, asyncio.to_thread)
    would be killed when that worker ends."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = \
            queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], Any]) -> Any:
        if threading.current_thread() is threading.main_thread():
            return fn()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="haconsole-ssh",
                                                daemon=True)
                self._thread.start()
        done: Future[Any] = Future()
        self._jobs.put((fn, done))
        return done.result()

    def _loop(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                done.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)


_SPAWNER = _Spawner()


def ssh_program() -> list[str]:
    path = os.environ.get(SSH_ENV) or shutil.which("ssh")
    if not path:
        raise SSHError("no ssh program found", "PATH",
                       f"install OpenSSH's client, or set {SSH_ENV} to its path")
    return [path]


@dataclass
class SSHNode:
    """One node: its ssh connection and forwarded sockets (``start`` … ``close``)."""

    host: str
    sudo: bool = False
    ssh_config: str | None = None  # -F FILE, else the user's ~/.ssh/config
    runtime_dir: str | None = None  # where the private directory is made (default: TMPDIR)
    connect_timeout: float = CONNECT_TIMEOUT
    forwards: dict[str, str] = field(default_factory=dict)  # remote path -> local path
    proc: subprocess.Popen[bytes] | None = None
    dir: Path | None = None

    def __post_init__(self) -> None:
        check_host(self.host)

    @property
    def label(self) -> str:
        return f"{self.host} via ssh"

    def _base(self) -> list[str]:
        argv = ssh_program()
        if self.ssh_config:
            argv += ["-F", self.ssh_config]
        return argv + ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]

    @property
    def control(self) -> Path:
        assert self.dir is not None
        return self.dir / "control"

    # -- the connection ------------------------------------------------------------

    def start(self) -> None:
        """Open the connection (a ControlMaster); an SSHError says why it could not.

        With *sudo*, ``sudo -n true`` is run on the node first: a sudo that would ask
        for a password (or no sudo at all) is a refusal before anything is sent.
        """
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="haconsole-ssh-", dir=self.runtime_dir))
        self._spawn()
        if self.sudo:
            self._check_sudo()
        for remote, local in list(self.forwards.items()):
            self._forward(remote, local)

    def _check_sudo(self) -> None:
        """Refuse a node where ``sudo -n`` cannot run a command without a password."""
        try:
            done = subprocess.run(self.command(["true"]), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=self.connect_timeout + 5,
                                  check=False)
        except subprocess.TimeoutExpired:
            self._stop_proc()
            raise SSHError(f"sudo on {self.host} did not answer within "
                           f"{self.connect_timeout + 5:g} s: nothing was sent", self.host,
                           "check `ssh HOST sudo -n true` by hand") from None
        if done.returncode == 0:
            return
        self._stop_proc()
        raise sudo_error(self.host, done.stderr.decode(errors="replace"), done.returncode)

    def _spawn(self) -> None:
        assert self.dir is not None
        with contextlib.suppress(FileNotFoundError):
            self.control.unlink()
        err_path = self.dir / "ssh.err"
        argv = [*self._base(), "-M", "-N", "-S", str(self.control),
                "-o", "ControlPersist=no", "-o", "ExitOnForwardFailure=yes",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-o", "StreamLocalBindUnlink=yes",
                "-o", f"ConnectTimeout={max(1, int(self.connect_timeout))}",
                "--", self.host]
        with open(err_path, "wb") as err:
            self.proc = _SPAWNER.call(lambda: subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                preexec_fn=die_with_parent))  # noqa: PLW1509
        deadline = time.monotonic() + self.connect_timeout + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.control.exists() and self._check():
                return
            time.sleep(0.05)
        text = _tail(err_path)
        self._stop_proc()
        raise explain(self.host, text, self.proc.returncode if self.proc else None)

    def _check(self) -> bool:
        done = subprocess.run([*self._base(), "-S", str(self.control), "-O", "check",
                               "--", self.host], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=10, check=False)
        return done.returncode == 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self) -> None:
        """Reconnect when the connection was lost (the caller backs off between tries)."""
        if not self.alive():
            self.start()

    def forward(self, remote: str, name: str, display: str | None = None) -> str:
        """A local unix socket that reaches *remote* (a socket path on the node).

        Errors about the local socket name it *display* (default ``HOST:REMOTE``), the
        node's path, never the private local one (:func:`~console.haproxy.transport.
        name_socket`), until :meth:`close`.
        """
        check_remote_path(remote, "socket")
        if name not in _FORWARD_NAMES:
            raise ValueError(name)
        assert self.dir is not None, "start() first"
        local = str(self.dir / f"{name}.sock")
        self._forward(remote, local)
        self.forwards[remote] = local
        name_socket(local, display or f"{self.host}:{remote}")
        return local

    def _forward(self, remote: str, local: str) -> None:
        done = subprocess.run([*self._base(), "-S", str(self.control), "-O", "forward",
                               "-L", f"{local}:{remote}", "--", self.host],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=15,
                              check=False)
        if done.returncode != 0:
            raise SSHError(f"ssh {self.host} could not forward {remote}: "
                           f"{_first_line(done.stderr)}", f"{self.host}:{remote}",
                           "check that sshd allows stream-local forwarding "
                           "(AllowStreamLocalForwarding)")

    # -- node-side commands -----------------------------------------------------------

    def command(self, argv: list[str]) -> list[str]:
        """The local argv that runs *argv* on the node (sudo -n first when asked)."""
        if not argv or any("\0" in a for a in argv):
            raise ValueError("an argv without NUL bytes")
        words = ["sudo", "-n", "--", *argv] if self.sudo else list(argv)
        return [*self._base(), "-S", str(self.control), "-o", "ControlMaster=no",
                "--", self.host, shlex.join(words)]

    # -- the end --------------------------------------------------------------------

    def close(self) -> None:
        """Stop the connection and remove the private directory; idempotent."""
        if self.proc is not None and self.proc.poll() is None and self.dir is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run([*self._base(), "-S", str(self.control), "-O", "exit",
                                "--", self.host], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=5, check=False)
        self._stop_proc()
        for local in self.forwards.values():
            name_socket(local, None)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _stop_proc(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(3)

    def __enter__(self) -> SSHNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tail(path: Path, limit: int = 8192) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _first_line(data: bytes | str) -> str:
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def sudo_error(host: str, stderr: str, code: int) -> SSHError:
    """Why ``sudo -n true`` failed on *host* (exit status *code*), and what to do."""
    if code == 127 or "sudo: not found" in stderr or "command not found" in stderr:
        return SSHError(f"sudo is not installed on {host}: nothing was sent", host,
                        "install sudo there, or set sudo = false for this instance")
    if "password is required" in stderr or "a terminal is required" in stderr:
        return SSHError(f"sudo on {host} would prompt for a password: nothing was sent",
                        host, "allow NOPASSWD in the node's sudoers for the login user "
                        "(haconsole never types a password), or run without sudo "
                        "(sudo = false)")
    if code == 255:
        return explain(host, stderr, code)
    return SSHError(f"sudo on {host} refused: {_first_line(stderr)}; nothing was sent", host,
                    "check the node's sudoers for the login user (`sudo -n -l` there)")


def explain(host: str, stderr: str, code: int | None) -> SSHError:
    """What ssh's message means for the engineer, and what to do."""
    text = stderr
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key for" in text \
            and "has changed" in text:
        return SSHError(f"the host key of {host} has changed: refused, nothing was sent",
                        host, "find out why with the node's owner; only then update "
                        f"known_hosts (ssh-keygen -R {host})")
    if "Host key verification failed" in text or "No ED25519 host key is known" in text \
            or "host key is known" in text:
        return SSHError(f"the host key of {host} is not known: refused, nothing was sent",
                        host, f"connect once with `ssh {host}`, check the fingerprint, "
                        "and accept it there")
    if "unix_listener" in text:
        return SSHError(f"ssh {host} cannot create its control socket: {_first_line(text)}",
                        host, "the temp directory (TMPDIR) must be writable by this user")
    if "Permission denied" in text:
        return SSHError(f"{host} refused the login: {_first_line(text)}", host,
                        "haconsole never asks for a password: use a key, the agent or a "
                        "certificate (check with `ssh -o BatchMode=yes " + host + " true`)")
    if "Could not resolve hostname" in text:
        return SSHError(f"{host}: unknown host", host,
                        "check the name, or add a Host entry to ~/.ssh/config")
    return SSHError(f"cannot reach {host} over ssh: {_first_line(text)}"
                    + (f" (ssh exited with {code})" if code not in (None, 255) else ""),
                    host, f"try `ssh {host} true` to see what ssh says")
