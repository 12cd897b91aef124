"""Starting and stopping a lab (a real HAProxy with live backends) from tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from console.haproxy.lab import control as lab_control

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
# A lab stopping properly on a loaded machine (more runnable processes than cores: say
# the other pytest-xdist worker's drill labs) can need more than STOP_TIMEOUT: there its
# time grows with the load, up to this.
LOADED_STOP_TIMEOUT = 45.0
LAB_CODE = ("import sys; from console.haproxy.lab import run_lab; "
            "sys.exit(run_lab(sys.argv[1], sys.argv[2]))")


def send(socket_path: str | Path, command: str, timeout: float = 10.0) -> str:
    """One non-interactive command on a HAProxy unix socket; the answer read to EOF.
    A refused connection is tried again for up to 5 s: a busy master's listen queue can
    be full for a moment on a loaded machine."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            return _send_once(socket_path, command, timeout)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _send_once(socket_path: str | Path, command: str, timeout: float) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)  # the master CLI waits for this before closing
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def alive(pid: int) -> bool:
    """Whether *pid* exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return False
    return data[data.rfind(")") + 2:].split()[0] != "Z"


def describe_pid(pid: int) -> str:
    """``pid (command line)`` for a failure message."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return str(pid)
    return f"{pid} ({command})"


def _read(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError as exc:
        return f"<{exc}>"


def load_per_core() -> float:
    """The last minute's load average per core (0 where the system does not tell)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


def load_note() -> str:
    try:
        load = f"{os.getloadavg()[0]:.1f}"
    except OSError:
        load = "unknown"
    return f"load average {load} on {os.cpu_count() or 1} cores"


def stop_timeout() -> float:
    """How long a lab may take to stop: STOP_TIMEOUT, times the load per core when the
    machine is loaded (above one), at most LOADED_STOP_TIMEOUT. The load is read when
    STOP_TIMEOUT has run out, so that an idle machine keeps the strict time."""
    return min(LOADED_STOP_TIMEOUT, STOP_TIMEOUT * max(1.0, load_per_core()))


def _wait_for(done: Callable[[], bool], deadline: float) -> bool:
    """Poll *done* until it is true (True) or *deadline* (monotonic) passes (False)."""
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class LabHandle:
    """A running lab subprocess and what its lab.json says."""

    def __init__(self, proc: subprocess.Popen[bytes], directory: Path, info: dict[str, Any],
                 stderr_path: Path) -> None:
        self.proc = proc
        self.dir = directory
        self.info = info
        self.stderr_path = stderr_path
        self.extra_pids: set[int] = set()  # e.g. workers started by a reload
        self.returncode: int | None = None

    def send(self, socket_path: str | Path, command: str, timeout: float = 10.0) -> str:
        return send(socket_path, command, timeout)

    def control(self, cmd: str) -> str:
        return lab_control(str(self.dir), cmd)

    def diagnostics(self) -> str:
        return (f"haproxy.log:\n{_read(self.dir / 'haproxy.log')}\n"
                f"lab stderr:\n{_read(self.stderr_path)}")

    def _all_pids(self) -> set[int]:
        pids = set(self.info.get("pids", [])) | self.extra_pids
        try:  # lab.json is rewritten when workers change (after a reload)
            pids |= set(json.loads((self.dir / "lab.json").read_text()).get("pids", []))
        except (OSError, ValueError):
            pass
        pids.discard(os.getpid())
        return pids

    def stop(self) -> int:
        """SIGTERM the lab; fail unless it exited by itself and every process it started is
        gone within STOP_TIMEOUT (longer on a loaded machine: see stop_timeout())."""
        if self.returncode is not None:
            return self.returncode
        left = self._all_pids()
        started = time.monotonic()
        exited_at: float | None = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

        def stopped() -> bool:
            nonlocal left, exited_at
            if exited_at is None and self.proc.poll() is not None:
                exited_at = time.monotonic()
            left = {pid for pid in left if alive(pid)}
            return exited_at is not None and not left

        timeout = STOP_TIMEOUT
        if not _wait_for(stopped, started + timeout):
            timeout = stop_timeout()
            _wait_for(stopped, started + timeout)
        if exited_at is None:
            self.proc.kill()
            exited = f"the lab was still running after {timeout:.3g} s and was killed"
        else:
            exited = f"the lab exited in {exited_at - started:.1f} s"
        self.returncode = self.proc.wait()
        left = {pid for pid in left if alive(pid)}
        if exited_at is None or left:
            running = [describe_pid(p) for p in sorted(left)]
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            # The cause last: a CI log often shows only the end of the message.
            pytest.fail(f"{self.diagnostics()}\nthe lab did not stop cleanly within "
                        f"{timeout:.3g} s ({load_note()}): {exited}; still running: {running}")
        return self.returncode

    def __enter__(self) -> LabHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_lab(directory: Path, haproxy: str) -> LabHandle:
    """Run ``run_lab(directory, haproxy)`` in a subprocess and wait for its lab.json."""
    directory.mkdir(parents=True, exist_ok=True)
    stderr_path = directory.parent / f"{directory.name}.stderr"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", LAB_CODE, str(directory), haproxy],
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
    info_path = directory / "lab.json"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if info_path.exists():
            info = json.loads(info_path.read_text())
            return LabHandle(proc, directory, info, stderr_path)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reason = f"no lab.json within {START_TIMEOUT:g} s"
    else:
        reason = f"the lab exited with code {proc.returncode}"
    handle = LabHandle(proc, directory, {}, stderr_path)
    pytest.fail(f"lab did not start with {haproxy}: {reason}\n{handle.diagnostics()}")
