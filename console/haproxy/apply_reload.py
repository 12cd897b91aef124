"""The reload step of the apply pipeline.

Three methods: ``master`` (the master CLI's ``reload``: 2.7+ answers ``Success=``
and the startup log; 2.6 answers nothing and closes the connection), ``systemctl``
(``systemctl reload UNIT``) and ``command`` (a shell command). Whatever the method,
when the master socket is known the outcome is read from ``show proc``: the
master's reload counter moves once the new configuration was loaded or refused,
a new worker PID means success, ``[failed: N]`` above 0 failure. A reload slower
than the socket's read timeout is followed the same way, polling ``show proc``
(refused connections and empty answers are retried while the master re-executes).

HAProxy 2.6 does not say why a reload failed; :func:`bind_conflicts` tries the new
``bind`` addresses of the candidate to name the usual cause (port already in use).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from dataclasses import dataclass, field

from console.haproxy.apply_steps import ApplyTarget, scan
from console.haproxy.errors import (
    ConnectError,
    ConnectionLost,
    HAProxyError,
    ParseError,
    Timeout,
)
from console.haproxy.lines import split_lf
from console.haproxy.parsers import (
    ProcInfo,
    parse_check_output,
    parse_info,
    parse_proc,
    parse_reload_answer,
)
from console.haproxy.transport import MasterClient, RuntimeClient


class ReloadError(HAProxyError):
    """The reload could not be sent, or its outcome could not be known."""


@dataclass
class ReloadOutcome:
    ok: bool | None  # None: sent, but nothing could confirm it
    method: str
    detail: str
    old_worker: int | None = None
    new_worker: int | None = None
    log: list[str] = field(default_factory=list)  # startup-log lines that explain
    answer: str = ""
    seconds: float = 0.0


_RETRY = (ConnectError, ConnectionLost, Timeout, ParseError)


async def show_proc(master: str, deadline: float) -> ProcInfo:
    """``show proc``, retried while the master re-executes (refused or empty answers)."""
    last: str = "no answer"
    while True:
        try:
            text = await MasterClient(master, connect_timeout=2, read_timeout=10).run(
                "show proc")
            if text.strip():
                info = parse_proc(text)
                if info.master:
                    return info
        except _RETRY as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise ReloadError(f"the master CLI did not answer 'show proc': {last}", master,
                              "is HAProxy still running? Look at its log")
        await asyncio.sleep(0.1)


async def _worker_pid(target: ApplyTarget) -> int | None:
    if not target.socket:
        return None
    try:
        info = parse_info(await RuntimeClient(target.socket, connect_timeout=2,
                                              read_timeout=5).run("show info"))
        return int(info.get("Pid", "0")) or None
    except (HAProxyError, ValueError):
        return None


async def _wait_reloaded(master: str, before: ProcInfo, deadline: float) -> ProcInfo | None:
    assert before.master
    while True:
        info = await show_proc(master, deadline)
        assert info.master
        if info.master.reloads > before.master.reloads:
            return info
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.1)


async def startup_logs(master: str) -> list[str]:
    """The master's startup log (2.7+), the lines that matter."""
    try:
        text = await MasterClient(master, read_timeout=10).run("show startup-logs")
    except HAProxyError:
        return []
    return explaining_lines(text)


def explaining_lines(log: str) -> list[str]:
    return [m.message.split("\n")[0] for m in parse_check_output(log)
            if m.level == "ALERT" or "Loading failure" in m.message
            or "Failed to load worker" in m.message]


async def _run_command(target: ApplyTarget, wait: float) -> tuple[int, str, list[str]]:
    if target.reload == "systemctl":
        argv = ["systemctl", "reload", target.reload_command or "haproxy.service"]
    else:
        if not target.reload_command:
            raise ReloadError("reload method 'command' has no command",
                              hint="set reload_command in the instance's settings")
        argv = ["sh", "-c", target.reload_command]
    from console.haproxy.apply_io import run_reload_command

    remote = await run_reload_command(target, argv, wait)
    if remote is not None:
        rc, text, node = remote
        return rc, f"{' '.join(argv)} (on {node})", split_lf(text.strip())[-5:]
    try:
        proc = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                       errors="replace", timeout=wait,
                                       stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ReloadError(f"{argv[0]} not found", hint="check the reload method") from None
    except subprocess.TimeoutExpired:
        return -1, " ".join(argv), [f"did not finish within {wait:g} s"]
    out = split_lf((proc.stderr + proc.stdout).strip())[-5:]
    return proc.returncode, " ".join(argv), out


async def _master_reload(target: ApplyTarget, out: ReloadOutcome, before: ProcInfo,
                         deadline: float) -> tuple[bool | None, ProcInfo]:
    """Send ``reload`` on the master CLI; the verdict of its answer, and ``show proc`` from
    just before the reload that was accepted.

    3.1+ refuse a reload while a new worker is still starting (``Another reload is still
    in progress``): nothing was reloaded, so the reload is sent again once that one is
    done, until the deadline.
    """
    assert target.master
    waited = 0
    while True:
        try:
            out.answer = await MasterClient(target.master).reload(target.reload_timeout)
        except Timeout:
            out.detail = f"no answer within {target.reload_timeout:g} s, followed show proc; "
            return None, before
        try:
            parsed = parse_reload_answer(out.answer)
        except ParseError:
            return None, before
        if not parsed.busy:
            if waited:
                out.detail = f"another reload was in progress: sent again after it " \
                    f"({waited} tries); "
            out.log = explaining_lines(parsed.log) if parsed.success is False else []
            return parsed.success, before
        waited += 1
        if time.monotonic() >= deadline:
            out.detail = "another reload was still in progress until the deadline: " \
                "this one was not done; "
            out.ok = False
            return False, before
        await asyncio.sleep(0.2)
        before = await show_proc(target.master, deadline)


async def do_reload(target: ApplyTarget, *, wait: float = 120.0) -> ReloadOutcome:
    """Reload with the target's method; judge the outcome through the master CLI."""
    started = time.monotonic()
    deadline = started + max(wait, target.reload_timeout)
    method = target.reload
    if method == "master" and not target.master:
        raise ReloadError("cannot reload: no master socket known",
                          hint="give -m MASTER (the -S of haproxy), or set the instance's "
                          "reload method to systemctl or command")
    # the master may still be re-executing for a reload someone else sent (2.6-3.0)
    before = await show_proc(target.master, deadline) if target.master else None
    current = before.current_worker if before else None
    old_pid = current.pid if current else await _worker_pid(target)
    out = ReloadOutcome(None, method, "", old_worker=old_pid)
    verdict: bool | None = None
    if method == "master":
        assert target.master and before is not None
        verdict, before = await _master_reload(target, out, before, deadline)
        if out.ok is False:
            out.seconds = time.monotonic() - started
            return out
    else:
        rc, what, lines = await _run_command(target, wait)
        if rc != 0:
            out.ok, out.detail, out.log = False, f"{what} failed (exit {rc})", lines
            out.seconds = time.monotonic() - started
            return out
        out.detail = f"{what}: exit 0; "
    if before is not None and target.master:
        after = await _wait_reloaded(target.master, before, deadline)
        out.seconds = time.monotonic() - started
        if after is None:
            out.ok = False
            out.detail += f"the master did not reload within {deadline - started:.0f} s"
            return out
        assert after.master
        old = {w.pid for w in before.all_workers}
        fresh = [w.pid for w in after.workers if w.pid not in old]
        out.new_worker = fresh[0] if fresh else None
        failed = after.master.failed or 0
        out.ok = verdict if verdict is not None else (failed == 0 and bool(fresh))
        if out.ok:
            out.detail += f"new worker {out.new_worker} (was {old_pid})"
        else:
            out.detail += f"the master reports the reload failed (failed: {failed}); " \
                f"worker {old_pid} still serving"
            if not out.log:  # 2.6 has no startup log on the master CLI: stays empty
                out.log = await startup_logs(target.master)
        return out
    new_pid = old_pid
    while time.monotonic() < deadline and target.socket:
        new_pid = await _worker_pid(target)
        if new_pid and new_pid != old_pid:
            break
        await asyncio.sleep(0.2)
    out.seconds = time.monotonic() - started
    if new_pid and new_pid != old_pid:
        out.ok, out.new_worker = True, new_pid
        out.detail += f"new worker {new_pid} (was {old_pid}), seen on the stats socket"
    else:
        out.ok = None
        out.detail += "not confirmed: no master socket, and the worker PID did not change"
    return out


# --------------------------------------------------------------------------- bind probe

def bind_addresses(data: bytes) -> dict[tuple[str, int], tuple[str, int]]:
    """``(host, port) -> (section, line)`` of the TCP ``bind`` lines of a config."""
    out: dict[tuple[str, int], tuple[str, int]] = {}
    for section, n, words in scan(data.decode("utf-8", "replace")):
        if words[0] != "bind" or len(words) < 2:
            continue
        for addr in words[1].split(","):
            family, sep, rest = addr.partition("@")
            if sep:
                if family not in ("ipv4", "ipv6", "tcp", "tcp4", "tcp6"):
                    continue
                addr = rest
            m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:([0-9]+)|([^:\[\]/]*):([0-9]+)", addr)
            if m:
                host = m[1] or m[3] or ""
                out.setdefault((host if host != "*" else "", int(m[2] or m[4])), (section, n))
    return out


def bind_conflicts(new: bytes, old: bytes) -> list[str]:
    """New ``bind`` addresses of the candidate that this host cannot listen on now."""
    import errno as errno_mod
    import socket

    problems: list[str] = []
    old_binds = bind_addresses(old)
    for (host, port), (section, line) in bind_addresses(new).items():
        if (host, port) in old_binds:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError as exc:
            shown = f"[{host}]:{port}" if ":" in host else f"{host or '*'}:{port}"
            reason = {errno_mod.EADDRINUSE: "address already in use",
                      errno_mod.EADDRNOTAVAIL: "address not available on this host",
                      errno_mod.EACCES: "permission denied (port below 1024?)"}.get(
                          exc.errno or 0, exc.strerror or str(exc))
            problems.append(f"line {line} ({section}): cannot bind {shown}: {reason}")
        finally:
            s.close()
    return problems
