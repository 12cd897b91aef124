"""Checking, starting, watching and stopping the lab's HAProxy master and its workers."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from console.haproxy.binaries import Binary
from console.haproxy.errors import ConfigError, HAProxyError, Timeout

from .config import Layout

PR_SET_PDEATHSIG = 1
READY_TIMEOUT = 15.0
TERM_GRACE = 5.0
WORKER_GRACE = 5.0

_PROC_ROW = re.compile(r"^([0-9]+)\s+(\S+)")


class StartError(HAProxyError):
    """HAProxy exited or misbehaved while the lab was starting it."""


def command(binary: Binary, layout: Layout) -> list[str]:
    return [binary.path, "-W", "-S", str(layout.master_socket), "-f", str(layout.config),
            "-p", str(layout.pidfile)]


def _alerts(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return [line for line in lines if "[ALERT]" in line]


def log_tail(layout: Layout, count: int = 20) -> list[str]:
    try:
        lines = layout.log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line.rstrip() for line in lines[-count:] if line.strip()]


def check_config(binary: Binary, layout: Layout) -> None:
    """Run ``haproxy -c`` on the lab's config; raise ConfigError with the ALERT lines."""
    try:
        out = subprocess.run([binary.path, "-c", "-f", str(layout.config)],
                             capture_output=True, text=True, timeout=30, cwd=layout.dir)
    except subprocess.TimeoutExpired:
        raise ConfigError("haproxy -c did not finish within 30 s", str(layout.config),
                          "try the check by hand: haproxy -c -f " + str(layout.config)) from None
    if out.returncode == 0:
        return
    alerts = _alerts(out.stdout + out.stderr) or (out.stdout + out.stderr).strip().splitlines()
    raise ConfigError(
        f"HAProxy {binary.version} refused the lab configuration "
        f"(haproxy -c exited {out.returncode}): " + " | ".join(alerts[-10:]),
        str(layout.config),
        "this HAProxy build may lack a feature the lab uses; try another binary "
        "with --haproxy PATH",
    )


def _pdeathsig() -> Callable[[], None]:
    """A preexec_fn asking the kernel to SIGTERM the child when the lab dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the lab died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def spawn(binary: Binary, layout: Layout) -> subprocess.Popen[bytes]:
    """Start the master in the foreground; its output goes to haproxy.log."""
    with open(layout.log, "ab") as log:
        log.write(f"--- lab: {' '.join(command(binary, layout))}\n".encode())
        log.flush()
        try:
            return subprocess.Popen(command(binary, layout), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=layout.dir,
                                    preexec_fn=_pdeathsig(), start_new_session=True)
        except OSError as exc:
            raise StartError(f"could not start HAProxy: {exc.strerror or exc}", binary.path,
                             "check the binary, or pass another with --haproxy PATH") from None


async def ask(path: Path | str, cmd: str, timeout: float = 5.0) -> str:
    """Send one non-interactive command to a unix socket and read the answer to EOF."""

    async def exchange() -> str:
        reader, writer = await asyncio.open_unix_connection(str(path))
        try:
            writer.write(cmd.encode() + b"\n")
            await writer.drain()
            # The master CLI keeps the connection open until the client half-closes it.
            writer.write_eof()
            return (await reader.read()).decode(errors="replace")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.wait_for(exchange(), timeout)


def parse_info(text: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            info[name.strip()] = value.strip()
    return info


def parse_show_proc(text: str) -> dict[str, list[int]]:
    """``show proc`` of the master CLI -> {"master": [...], "workers": [...], "old": [...]}."""
    found: dict[str, list[int]] = {"master": [], "workers": [], "old": []}
    section = "master"
    for line in text.splitlines():
        if line.startswith("#"):
            label = line.strip("# ").lower()
            if label.startswith("old"):
                section = "old"
            elif label.startswith("worker"):
                section = "workers"
            elif label.startswith("program"):
                section = "programs"
            continue
        m = _PROC_ROW.match(line)
        if m and section in found:
            found[section if m.group(2) != "master" else "master"].append(int(m.group(1)))
    return found


async def wait_ready(proc: subprocess.Popen[bytes], layout: Layout,
                     stop: asyncio.Event, timeout: float = READY_TIMEOUT) -> dict[str, str]:
    """Wait until admin.sock answers ``show info``; return it parsed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not stop.is_set():
        code = proc.poll()
        if code is not None:
            await asyncio.sleep(0.2)  # let the last lines reach haproxy.log
            tail = log_tail(layout)
            details = _alerts("\n".join(tail)) or tail[-8:]
            raise StartError(f"HAProxy exited while starting (exit code {code}): "
                             + " | ".join(details), str(layout.log),
                             "read the log; if a port was taken meanwhile, start the lab again")
        try:
            info = parse_info(await ask(layout.admin_socket, "show info", 2.0))
            if "Pid" in info:
                return info
        except (TimeoutError, OSError):
            pass
        await asyncio.sleep(0.1)
    if stop.is_set():
        return {}
    raise Timeout(f"HAProxy did not answer 'show info' within {timeout:g} s: "
                  + " | ".join(log_tail(layout, 8)), str(layout.admin_socket),
                  f"read {layout.log}")


def children_of(pid: int) -> set[int]:
    """Live processes whose parent is *pid* (read from /proc)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not (entry.isascii() and entry.isdigit()):
            continue
        stat = _stat(int(entry))
        if stat and stat[1] == pid and stat[0] != "Z":
            found.add(int(entry))
    return found


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of *pid*, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = data[data.rfind(")") + 2:].split()
    return (fields[0], int(fields[1])) if len(fields) > 1 else None


def is_alive(pid: int) -> bool:
    """Whether *pid* exists and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _is_haproxy(pid: int, binary: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return False
    return os.path.basename(argv0) == os.path.basename(binary)


async def _wait_gone(pids: Iterable[int], timeout: float) -> set[int]:
    """Wait until none of *pids* is alive; return those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    alive = {p for p in pids if is_alive(p)}
    while alive and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        alive = {p for p in alive if is_alive(p)}
    return alive


async def terminate(proc: subprocess.Popen[bytes], binary: str,
                    known_workers: Iterable[int]) -> set[int]:
    """Stop the master (SIGTERM, then SIGKILL) and make sure every worker is gone.

    Returns the pids that could not be stopped (normally none).
    """
    workers = set(known_workers) | children_of(proc.pid)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + TERM_GRACE
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            workers |= children_of(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    await asyncio.to_thread(proc.wait)
    workers = {p for p in workers if _is_haproxy(p, binary)}
    alive = await _wait_gone(workers, WORKER_GRACE)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return await _wait_gone(alive, 2.0)
