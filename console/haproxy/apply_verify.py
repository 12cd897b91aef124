"""The verify step: what the new worker must show after a reload.

- every stats socket the old worker answered on that the new configuration still
  declares answers, from the new worker (the console's own socket first);
- at least one of the frontends the configuration declares (a ``bind`` HAProxy
  reads, not ``disabled``) is listening (``OPEN`` in ``show stat``);
- every server the change touches is present, absent, weighted, disabled and
  addressed as the file says (:func:`console.haproxy.apply_steps.expectations`).

A failure here makes the pipeline roll back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from console.haproxy.apply_guard import (
    declared_sockets,
    frontend_states,
    norm_socket,
    serving_frontends,
    socket_pid,
)
from console.haproxy.apply_reload import ReloadOutcome
from console.haproxy.apply_steps import (
    ApplyTarget,
    check_expectations,
    expectations,
    runtime_run,
    set_specs,
)
from console.haproxy.config.cond import CondContext
from console.haproxy.errors import HAProxyError
from console.haproxy.parsers import parse_info, parse_servers_state
from console.haproxy.transport import RuntimeClient

Named = Sequence[tuple[str, bytes]]


async def stats_pid(target: ApplyTarget, want: int | None, wait: float = 10.0) -> int | None:
    """The PID answering on the console's stats socket, waiting up to *wait* for *want*."""
    if not target.socket:
        return None
    deadline = time.monotonic() + wait
    pid = None
    while True:
        try:
            info = parse_info(await RuntimeClient(target.socket, connect_timeout=2,
                                                  read_timeout=5).run("show info"))
            pid = int(info.get("Pid", "0")) or None
            if want is None or pid == want:
                return pid
        except (HAProxyError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return pid
        await asyncio.sleep(0.1)


async def _sockets(target: ApplyTarget, declared: list[str], before: Sequence[str],
                   new_worker: int | None) -> tuple[list[str], list[str]]:
    confirmed: list[str] = []
    failures: list[str] = []
    console = norm_socket(target.socket_name, target.cwd) if target.socket_name else None
    if console and console not in declared:
        confirmed.append(f"stats socket {target.socket_name} not checked: the new file does not "
                         "declare it")
    wanted = [a for a in before if a in declared]
    if console and console in declared and console not in wanted:
        wanted.insert(0, console)
    first = True
    for address in wanted:
        pid = await stats_pid(target, new_worker) if address == console else \
            await socket_pid(address, target=target)
        shown = target.socket_name if address == console else address
        if pid is None:
            failures.append(f"the stats socket {shown} does not answer (the old worker had it "
                            "and the file still declares it)")
        elif new_worker and pid != new_worker:
            failures.append(f"the stats socket {shown} is answered by pid {pid}, not by the "
                            f"new worker {new_worker}")
        else:
            confirmed.append(f"stats socket answers (worker {pid})" if first else
                             f"stats socket {shown} answers")
            first = False
    return confirmed, failures


async def check_runtime(target: ApplyTarget, cond: CondContext, old: Named, new: Named,
                        sockets_before: Sequence[str],
                        outcome: ReloadOutcome) -> tuple[list[str], list[str], list[str]]:
    """``(confirmed, failures, warnings)`` after a reload from the file set *old* to *new*."""
    confirmed, failures = await _sockets(target, declared_sockets(new, cond, target.cwd),
                                         sockets_before, outcome.new_worker)
    if failures:
        return confirmed, failures, []
    frontends = serving_frontends(new, cond, target.cwd)
    if frontends:
        states = await frontend_states(target)
        listening = [f for f in frontends if states.get(f) == "OPEN"]
        if listening:
            more = len(listening) - 8
            confirmed.append("listening: " + ", ".join(listening[:8]) +
                             (f" and {more} more" if more > 0 else ""))
        else:
            failures.append("none of the frontends the file declares is listening: " + ", ".join(
                f"{f} ({states.get(f) or 'absent'})" for f in frontends[:8]))
    rows = parse_servers_state(await runtime_run(target, "show servers state"))
    ok, bad, soft = check_expectations(rows, expectations(set_specs(list(old), cond),
                                                          set_specs(list(new), cond)))
    return confirmed + [f"runtime: {c}" for c in ok], failures + bad, soft
