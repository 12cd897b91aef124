"""Drain a server to zero: DRAIN, wait until it has no session and no queue, then MAINT.

:func:`drain_to_zero` puts the server in DRAIN, polls ``show stat`` for its
``scur`` (current sessions) and ``qcur`` (queued requests), and sets MAINT once
both are 0. It never forces MAINT on its own: after *timeout* it returns
:class:`TimedOut` and leaves the server in DRAIN, for the caller to decide.
Cancelling it (``asyncio.CancelledError``, Ctrl-C in the CLI) also leaves the
server in DRAIN, and the last progress report says so.

Both commands go through :func:`~console.haproxy.actions.execute`, so they are
journaled with the state before and after.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.actions import Action, Plan, Result, execute, plan, read_state
from console.haproxy.errors import HAProxyError, NoSuchObject
from console.haproxy.model import Snapshot
from console.haproxy.parsers import ServerStateRow
from console.haproxy.validate import check_name


@dataclass(frozen=True)
class DrainProgress:
    """One report: ``phase`` is draining, maint, timed_out, cancelled or failed."""

    phase: str
    elapsed: float
    scur: int | None
    qcur: int | None
    status: str
    message: str = ""


@dataclass(frozen=True)
class DrainResult:
    backend: str
    server: str
    elapsed: float
    scur: int | None
    qcur: int | None
    message: str
    results: tuple[Result, ...] = field(default=(), repr=False)

    @property
    def ref(self) -> str:
        return f"{self.backend}/{self.server}"


class Drained(DrainResult):
    """The server reached 0 sessions and is now in MAINT."""


class TimedOut(DrainResult):
    """Sessions remained after the timeout: the server is still in DRAIN."""


class DrainFailed(DrainResult):
    """A command was refused or the server could not be read; see ``message``."""


Progress = Callable[[DrainProgress], Awaitable[None] | None]


def plan_drain_to_zero(snapshot: Snapshot, states: list[ServerStateRow] | None, backend: str,
                       server: str, timeout: float) -> Plan:
    """One plan for display and confirmation: DRAIN now, MAINT once sessions are 0."""
    drain = plan(Action.server("server_state", [(backend, server)], state="drain"),
                 snapshot, states)
    maint = plan(Action.server("server_state", [(backend, server)], state="maint"),
                 snapshot, states)
    drain.summary = f"drain {backend}/{server} to zero, then MAINT"
    drain.commands += maint.commands
    drain.command_targets += maint.command_targets
    # impact[0] is the server's own line; the backend's lines follow (same for both).
    drain.impact = (drain.impact[:1]
                    + [f"then, once it has 0 sessions and 0 queued (waiting up to "
                       f"{timeout:g} s): " + maint.impact[0]]
                    + maint.impact[1:])
    drain.dangerous = drain.dangerous or maint.dangerous
    drain.confirm_word = drain.confirm_word or maint.confirm_word
    return drain


async def _report(cb: Progress | None, progress: DrainProgress) -> None:
    if cb is None:
        return
    out = cb(progress)
    if inspect.isawaitable(out):
        await out


async def _sessions(client: Any, backend: str, server: str) -> tuple[int, int, str]:
    snapshot = Snapshot.from_text(None, await client.run(f"show stat {backend} 4 -1"))
    row = snapshot.get(backend, server)
    if row is None:
        raise NoSuchObject(f"no such server {backend}/{server}")
    return row.num("scur") or 0, row.num("qcur") or 0, row.status.raw


async def drain_to_zero(client: Any, backend: str, server: str, *, timeout: float = 300.0,
                        poll: float = 1.0, on_progress: Progress | None = None,
                        target: Any = None, journal: bool = True) -> DrainResult:
    """DRAIN *backend/server*, wait for 0 sessions and 0 queued, then MAINT.

    *on_progress* (sync or async) gets a :class:`DrainProgress` after each poll and
    at the end. *target* is what the journal names (the CLI's ``Target``).
    """
    check_name(backend, "backend name")
    check_name(server, "server name")
    start = time.monotonic()
    results: list[Result] = []

    def elapsed() -> float:
        return time.monotonic() - start

    def done(cls: type[DrainResult], scur: int | None, qcur: int | None,
             message: str) -> DrainResult:
        return cls(backend, server, elapsed(), scur, qcur, message, tuple(results))

    snapshot, states = await read_state(client, backend)
    first = plan(Action.server("server_state", [(backend, server)], state="drain"),
                 snapshot, states)
    if first.before[f"{backend}/{server}"]["admin_state"] == "maint":
        return done(Drained, None, None, f"{backend}/{server} is already in MAINT")
    result = await execute(first, client, target, journal=journal)
    results.append(result)
    if not result.ok:
        await _report(on_progress, DrainProgress("failed", elapsed(), None, None, "",
                                                 result.error or "refused"))
        return done(DrainFailed, None, None, result.error or "DRAIN was refused")
    scur = qcur = None
    status = "DRAIN"
    try:
        while True:
            try:
                scur, qcur, status = await _sessions(client, backend, server)
            except HAProxyError as exc:
                msg = f"cannot read the sessions of {backend}/{server}: {exc}; left in DRAIN"
                await _report(on_progress, DrainProgress("failed", elapsed(), scur, qcur,
                                                         status, msg))
                return done(DrainFailed, scur, qcur, msg)
            if scur == 0 and qcur == 0:
                break
            await _report(on_progress, DrainProgress("draining", elapsed(), scur, qcur, status))
            left = timeout - elapsed()
            if left <= 0:
                msg = (f"timed out after {elapsed():.1f} s: {backend}/{server} still has "
                       f"{scur} sessions and {qcur} queued; left in DRAIN")
                await _report(on_progress, DrainProgress("timed_out", elapsed(), scur, qcur,
                                                         status, msg))
                return done(TimedOut, scur, qcur, msg)
            await asyncio.sleep(min(poll, left))
    except asyncio.CancelledError:
        msg = (f"cancelled after {elapsed():.1f} s: {backend}/{server} is left in DRAIN "
               f"({scur if scur is not None else '?'} sessions)")
        await asyncio.shield(_report(on_progress, DrainProgress("cancelled", elapsed(), scur,
                                                                qcur, status, msg)))
        raise
    snapshot, states = await read_state(client, backend)
    last = plan(Action.server("server_state", [(backend, server)], state="maint"),
                snapshot, states)
    result = await execute(last, client, target, journal=journal)
    results.append(result)
    if not result.ok:
        msg = f"MAINT was refused: {result.error}; {backend}/{server} is left in DRAIN"
        await _report(on_progress, DrainProgress("failed", elapsed(), 0, 0, status, msg))
        return done(DrainFailed, 0, 0, msg)
    msg = f"{backend}/{server} reached 0 sessions after {elapsed():.1f} s and is now in MAINT"
    await _report(on_progress, DrainProgress("maint", elapsed(), 0, 0, "MAINT", msg))
    return done(Drained, 0, 0, msg)
