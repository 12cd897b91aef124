"""The apply pipeline after the write: keep the runtime server state, reload, verify,
and roll back on any failure (:mod:`console.haproxy.apply` runs them in order)."""

from __future__ import annotations

import asyncio

from console.haproxy import apply_io as io
from console.haproxy import history_store as hist
from console.haproxy.apply_guard import named_set, set_files
from console.haproxy.apply_reload import ReloadError, ReloadOutcome, bind_conflicts, do_reload
from console.haproxy.apply_run import Failure, Run, mark
from console.haproxy.apply_steps import (
    frontend_losses,
    journaled_losses,
    runtime_run,
    save_server_state,
    set_specs,
    state_file_of,
    survival_lines,
    worker_start,
)
from console.haproxy.apply_verify import check_runtime
from console.haproxy.atomic import WriteError, fault_point
from console.haproxy.errors import HAProxyError
from console.haproxy.parsers import parse_servers_state


async def keep_state(run: Run, live: bytes, candidate: bytes) -> None:
    target = run.target
    old_set, new_set = named(run, live), named(run, candidate)
    sf = state_file_of(b"\n".join(t for _, t in new_set), target.cwd)
    try:
        rows = parse_servers_state(await runtime_run(target, "show servers state"))
    except HAProxyError as exc:
        run.step("state", "warn", f"cannot read the runtime server state: {exc}")
        return
    lines = survival_lines(rows, set_specs(old_set, run.cond), set_specs(new_set, run.cond), sf)
    lines += await frontend_losses(target, b"\n".join(t for _, t in old_set),
                                   b"\n".join(t for _, t in new_set))
    since = await worker_start(target)
    try:
        lost = journaled_losses(target.name, since) if since else []
    except HAProxyError as exc:  # an unreadable journal never stops (or undoes) an apply
        lost, lines = [], lines + [f"warning: runtime changes not listed: {exc}"]
    lines += [f"lost: runtime command `{c}` (maps, ACLs, tables and frontend states are "
              "not kept)" for c in lost]
    if sf.path and "global" in sf.modes:
        try:
            count = await save_server_state(target, sf.path)
        except (HAProxyError, OSError) as exc:
            run.step("state", "fail", f"cannot save the server state: {exc}", lines)
            raise Failure("the server state could not be saved (the reload would lose "
                           "runtime maintenance and drain)") from None
        run.step("state", "ok", f"state of {count} servers saved to {sf.path}", lines)
    elif sf.path:
        run.step("state", "warn", "server-state-file is set but no section has "
                 "'load-server-state-from-file global': runtime state is not restored", lines)
    else:
        run.step("state", "warn" if any(x.startswith("lost") for x in lines) else "ok",
                 "no server-state-file in the config: runtime changes end at the reload",
                 lines)


async def reload_step(run: Run, step: str, new: bytes, old: bytes) -> ReloadOutcome:
    from console.haproxy import journal

    target = run.target
    label = "reload" if step == "reload" else "reload (rollback)"
    try:
        outcome = await do_reload(target)
    except ReloadError as exc:
        outcome = ReloadOutcome(False, target.reload, str(exc))
        entry: dict[str, str | None] = dict(error=str(exc))
    else:
        entry = dict(answer=outcome.answer or outcome.detail,
                     error=None if outcome.ok is not False else outcome.detail)
    unjournaled = ""
    try:
        version = run.result.version if step == "reload" else run.result.previous_version
        journal.record(target, label, via=target.reload, answer=entry.get("answer"),
                       error=entry.get("error"),
                       extra={"config": run.config, "version": version,
                              "message": run.message or None})
    except (HAProxyError, OSError, ValueError) as exc:  # after the reload: said, not undone
        unjournaled = (f"JOURNAL NOT WRITTEN: the {label} was sent, but the journal could "
                       f"not record it: {exc}. Note it by hand.")
        run.result.warnings.append(unjournaled)
    if step == "reload":
        run.result.reload = outcome
    lines = [f"startup log: {line}" for line in outcome.log]
    if outcome.ok is False and not outcome.log:
        probe = bind_conflicts(new, old)
        lines += [f"probable cause: {p}" for p in probe] or [
            "HAProxy did not say why (2.6 keeps no startup log on the master CLI): "
            "see its log, e.g. journalctl -u haproxy"]
    status = {True: "ok", False: "fail", None: "warn"}[outcome.ok]
    if unjournaled:
        lines.append(unjournaled)
        status = "warn" if status == "ok" else status
    what = outcome.method if step == "reload" else f"reload of the previous file by " \
        f"{outcome.method}"
    run.step(step, status, f"{what}: {outcome.detail} ({outcome.seconds:.2f} s)", lines)
    return outcome


def named(run: Run, data: bytes) -> list[tuple[str, bytes]]:
    """The service's file set with *data* as the edited file."""
    return named_set(set_files(run.target, run.config), run.config, data)


async def runtime_checks(run: Run, old: bytes, new: bytes,
                         outcome: ReloadOutcome) -> tuple[list[str], list[str], list[str]]:
    """``(confirmed, failures, warnings)`` after a reload from *old* to *new*."""
    return await check_runtime(run.target, run.cond, named(run, old), named(run, new),
                               run.sockets_before, outcome)


async def verify(run: Run, old: bytes, new: bytes, outcome: ReloadOutcome) -> None:
    confirmed, failures, soft = await runtime_checks(run, old, new, outcome)
    lines = confirmed + [f"warning: {s}" for s in soft]
    if failures:
        run.step("verify", "fail", "the running process does not show what the file says",
                 failures + lines)
        raise Failure("verification failed: " + "; ".join(failures))
    worker = f"worker {outcome.new_worker}" if outcome.new_worker else "HAProxy"
    run.step("verify", "warn" if soft else "ok", f"{worker} runs the new configuration", lines)


async def rollback(run: Run, old: bytes, candidate: bytes, reason: str, new_version: int,
                    prev_version: int, reloaded: bool) -> None:
    run.result.ok, run.result.outcome = False, "rollback failed"
    run.result.reason = reason
    fault_point("rollback")
    try:
        real = await asyncio.to_thread(io.live_path, run.target, run.config)
        warning = await asyncio.to_thread(io.write_whole, run.target, real, run.config, old)
    except WriteError as exc:
        mark(run, new_version, "failed", reason=reason)
        run.step("rollback", "fail", f"cannot restore the previous file: {exc}",
                 [f"the previous file is version {prev_version}: "
                  f"{hist.get_version(run.config, prev_version).file}"])
        return
    mark(run, new_version, "rolled back", reason=reason)
    lines = [f"previous file restored (version {prev_version})"] + ([warning] if warning else [])
    if not reloaded:
        run.result.outcome = "rolled back"
        run.step("rollback", "ok", f"{reason}; nothing was reloaded", lines)
        return
    sf = state_file_of(b"\n".join(t for _, t in named(run, old)), run.target.cwd)
    if sf.path and "global" in sf.modes:
        try:
            await save_server_state(run.target, sf.path)
        except (HAProxyError, OSError) as exc:
            lines.append(f"warning: server state not saved again: {exc}")
    outcome = await reload_step(run, "rollback", old, old)
    if outcome.ok is False:
        run.step("rollback", "fail", "the previous file is back but its reload failed too",
                 lines + ["the old worker keeps serving; look at HAProxy's log"])
        return
    try:
        confirmed, failures, _ = await runtime_checks(run, candidate, old, outcome)
    except HAProxyError as exc:
        confirmed, failures = [], [str(exc)]
    if failures:
        run.step("rollback", "fail", "previous configuration reloaded but not verified",
                 lines + failures)
        return
    run.result.outcome = "rolled back"
    worker = f"worker {outcome.new_worker}" if outcome.new_worker else "HAProxy"
    run.step("rollback", "ok", f"{worker} serves the previous configuration again",
             lines + confirmed)
