"""The apply pipeline: from a staged change to a reloaded, verified HAProxy.

Steps, each reported through ``on_step(step, status, detail)`` (status ``ok``,
``fail``, ``warn``, ``skip``; *detail* is one line, then indented detail lines):

1. ``stale``    the live file still is the staged change's base, else refuse;
2. ``lock``     one apply per file (``flock``; a second one is told who holds it);
3. ``check``    ``haproxy -c`` on the candidate written next to the live file, with
   the binary that will run it and every file of the configuration; then what
   the candidate takes away (:mod:`console.haproxy.apply_guard`): no listener
   left, the console's stats socket gone or most running servers removed is
   refused unless *allow_removal* is True or is that consequence's phrase;
4. ``history``  the live file and the candidate saved as numbered versions;
5. ``write``    atomic replace (temp + fsync + rename + directory fsync);
6. ``state``    ``show servers state`` dumped to the ``server-state-file``;
7. ``reload``   master CLI, systemctl or a command, judged through ``show proc``;
8. ``verify``   the new worker answers on every stats socket the old one had that the
   candidate still declares, listens on at least one frontend the candidate
   declares, and shows the changed servers as the file says;
9. ``rollback`` on any failure after the write: the previous file restored,
   reloaded and verified; the failed candidate stays staged.

Without a running instance (or with ``no_reload``) the pipeline stops after the
write. Every reload sent is journaled: a journal that cannot be written refuses
the apply before anything is written; one that fails after the write (a disk
filled meanwhile) is reported loudly and never causes a rollback. The lock and the
history are in the file's shared place (:mod:`console.haproxy.shared_state`); a
problem there refuses the apply before the write.

Steps 1-5 are here; 6-9 in :mod:`console.haproxy.apply_after`; the run's state and
result in :mod:`console.haproxy.apply_run`.
"""

from __future__ import annotations

import asyncio
import shutil

from console.haproxy import apply_io as io
from console.haproxy import history_store as hist
from console.haproxy.apply_after import keep_state, named, reload_step, rollback, verify
from console.haproxy.apply_guard import (
    Consequence,
    Plan,
    answering_sockets,
    consequence_of,
    declared_sockets,
    plan_apply,
    runtime_preview,
    service_cond,
)
from console.haproxy.apply_run import (
    STEP_TITLES,
    ApplyResult,
    Failure,
    OnStep,
    Run,
    StepReport,
    Stop,
    mark,
)
from console.haproxy.apply_steps import (
    ApplyTarget,
    check_binary,
)
from console.haproxy.atomic import (
    WriteError,
    clean_leftovers,
    discard_temp,
    fault_point,
    read_bytes,
)
from console.haproxy.errors import HAProxyError
from console.haproxy.lines import split_lf
from console.haproxy.staging import LockHeld, Staging, apply_lock
from console.haproxy.statefs import StateError

__all__ = ["STEP_TITLES", "ApplyResult", "ApplyTarget", "Consequence", "Plan", "StepReport",
           "apply", "apply_async", "plan_apply", "runtime_preview"]


async def apply_async(config_path: str, staging: Staging | None = None, *,
                      instance: ApplyTarget, message: str = "", user: str | None = None,
                      no_reload: bool = False, on_step: OnStep | None = None,
                      confirmed_hash: str | None = None,
                      allow_removal: bool | str = False) -> ApplyResult:
    """Run the pipeline on the staged change of *config_path*; see the module docstring."""
    run = Run(config_path, instance, on_step)
    run.no_reload = no_reload
    run.allow_removal = allow_removal
    try:
        cleaned = clean_leftovers(run.real)  # only temps whose process is gone
        staging = Staging.load(staging.path if staging else config_path)
        _stale_check(run, staging, confirmed_hash)
        with apply_lock(config_path) as me:
            staging = _locked(run, staging, me, cleaned)
            await _pipeline(run, staging, message or staging.summary(), user, no_reload)
    except LockHeld as exc:
        run.stop("lock", "refused", exc.what, [f"hint: {exc.hint}"])
    except StateError as exc:  # raised before the write: nothing written, nothing reloaded
        run.stop("lock", "refused", f"{exc.what}: nothing written, nothing reloaded",
                 _where_hint(exc))
        run.result.error = exc
    except Stop:
        pass
    return run.result


def apply(config_path: str, staging: Staging | None = None, **kwargs: object) -> ApplyResult:
    """Synchronous :func:`apply_async` (for the one-shot CLI or a thread worker)."""
    return asyncio.run(apply_async(config_path, staging, **kwargs))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- steps 1-2

def _stale_check(run: Run, staging: Staging, confirmed_hash: str | None) -> None:
    status = staging.status()
    if status == "empty":
        raise run.stop("stale", "nothing", "nothing is staged for this file")
    if status == "applied":
        staging.clear_if(staging.candidate_hash)
        stuck = hist.interrupted(run.config)
        lines = []
        if stuck:
            prev = stuck.meta.get("previous", "?")
            lines = [f"the apply of version {stuck.number} was interrupted while {stuck.status} "
                     f"it: HAProxy may still run version {prev}; reload it, or go back with "
                     f"`haconsole config rollback {prev}`"]
            mark(run, stuck.number, "interrupted")
        raise run.stop("stale", "nothing", "the live file already holds the staged change "
                       "(a previous apply wrote it); staging cleared", lines)
    if status == "stale":
        diff = split_lf(staging.live_diff())
        raise run.stop("stale", "refused", "the file changed since the change was staged",
                       ["what changed in the live file:", *diff[:60],
                        *(["…"] if len(diff) > 60 else []),
                        "hint: `haconsole config rebase` re-applies the staged edits on the "
                        "new file; `haconsole config discard` drops them"])
    if confirmed_hash and confirmed_hash != staging.candidate_hash:
        raise run.stop("stale", "refused", "the staged change was modified since it was "
                       "reviewed (by another console?)", ["hint: review the diff again"])
    _reload_possible(run)
    _journal_writable(run)
    run.step("stale", "ok", f"live file unchanged since staged (sha256 {staging.base_hash[:12]})")


def _journal_writable(run: Run) -> None:
    """Refuse before writing anything when the reload could not be journaled."""
    if run.no_reload or not run.target.has_runtime:
        return
    from console.haproxy import journal

    try:
        journal.check_writable()
    except StateError as exc:
        run.result.error = exc
        raise run.stop("stale", "refused", f"{exc.what}: the reload could not be journaled; "
                       "nothing written, nothing reloaded", _where_hint(exc)) from None


def _where_hint(exc: HAProxyError) -> list[str]:
    return [f"where: {exc.where}"] * bool(exc.where) + [f"hint: {exc.hint}"] * bool(exc.hint)


def _reload_possible(run: Run) -> None:
    """Refuse before writing anything when the reload cannot even be sent."""
    t = run.target
    if run.no_reload or not t.has_runtime:
        return
    problem = ""
    if t.reload == "master" and not t.master:
        problem = "the reload method is 'master' but no master socket is known"
    elif t.reload == "systemctl" and t.files is None and not shutil.which("systemctl"):
        problem = "the reload method is 'systemctl' but systemctl is not installed"
    elif t.reload == "command" and not t.reload_command:
        problem = "the reload method is 'command' but no reload_command is set"
    if problem:
        raise run.stop("stale", "refused", f"{problem}: nothing written",
                       ["hint: give -m MASTER (the -S of haproxy), set the instance's reload "
                        "method, or apply with --no-reload"])


def _locked(run: Run, staging: Staging, me: dict[str, object], cleaned: list[str]) -> Staging:
    fault_point("lock")
    fresh = Staging.load(staging.path)
    if fresh.candidate_hash != staging.candidate_hash or fresh.status() != "pending":
        raise run.stop("lock", "refused", "the staged change or the file changed while "
                       "waiting for the lock", ["hint: review `haconsole config diff` again"])
    lines = [f"removed a temp file left by an interrupted run: {p}"
             for p in cleaned + clean_leftovers(run.real)]
    stuck = hist.interrupted(run.config)
    if stuck:
        lines.append(f"note: the apply of version {stuck.number} was interrupted while "
                     f"{stuck.status} it; the running HAProxy may not have loaded it")
        mark(run, stuck.number, "interrupted")
    from console.haproxy import shared_state

    others = [f"note: {shared_state.describe_marker(m)} (not part of this apply)"
              for m in shared_state.others_staged(run.config)]
    note = me.get("note")
    run.step("lock", "warn" if note else "ok", f"held by {me['user']} (pid {me['pid']})",
             lines + others + ([f"warning: {note}"] if note else []))
    return fresh


# --------------------------------------------------------------------------- the rest

async def _pipeline(run: Run, staging: Staging, message: str, user: str | None,
                    no_reload: bool) -> None:
    target, candidate, old = run.target, staging.candidate, staging.base
    run.message = message
    # 3. check
    try:
        live_real = await asyncio.to_thread(io.live_path, target, run.config)
        temp = await asyncio.to_thread(io.put_temp, target, live_real, candidate)
    except WriteError as exc:
        raise run.stop("check", "refused", f"cannot write the candidate next to the config: "
                       f"{exc.what}", [f"where: {exc.where}", f"hint: {exc.hint}",
                                       "the live file is unchanged"]) from None
    try:
        fault_point("check")
        binary = check_binary(target)
        run.cond = await service_cond(target, binary.path, binary.version)
        check = await asyncio.to_thread(io.check, target, run.config, temp,
                                        environ=run.cond.environ)
    except BaseException:
        io.drop_temp(target, temp)
        raise
    run.result.check = check
    version_text = f"{check.describe_binary()}, {check.seconds:.2f} s"
    if not check.ok:
        io.drop_temp(target, temp)
        raise run.stop("check", "refused", f"haproxy -c found errors ({version_text}); "
                       "nothing written, nothing reloaded", check.errors)
    warn = [f"warning: {w}" for w in check.warnings]
    try:
        consequence = await consequence_of(target, run.config, old, candidate, run.cond)
    except BaseException:
        io.drop_temp(target, temp)
        raise
    run.result.consequence = consequence
    _guard(run, consequence, version_text, warn, temp)
    # 4. history
    try:
        live = await asyncio.to_thread(io.read_live, target, live_real)
        if live != old:
            raise run.stop("history", "refused", "the live file changed during the apply",
                           ["hint: `haconsole config rebase`, then apply again"])
        _, notes = hist.history_report(run.config)
        skipped = [f"warning: {n}" for n in notes if n.startswith("version ")]
        prev = hist.ensure_saved(run.config, live)
        extra = {"ops": staging.ops, "previous": prev.number}
        if user:
            extra["requested_by"] = user
        new = hist.save_version(run.config, candidate, message=message, status="writing",
                                diff=staging.diff(), extra=extra)
        fault_point("history")
    except (WriteError, StateError) as exc:
        io.drop_temp(target, temp)
        raise run.stop("history", "failed", f"cannot save the history: {exc}; nothing "
                       "written, nothing reloaded") from None
    except BaseException:
        io.drop_temp(target, temp)
        raise
    run.result.previous_version, run.result.version = prev.number, new.number
    run.step("history", "warn" if skipped else "ok", f"live file kept as version "
             f"{prev.number}; the change becomes version {new.number}", skipped)
    # 5. write
    try:
        if target.files is None and read_bytes(run.real) != old:
            discard_temp(temp)
            mark(run, new.number, "failed", reason="file changed")
            raise run.stop("write", "refused", "the live file changed during the apply")
        # on a node the replace itself refuses when the file is no longer *old*
        warning, owner = await asyncio.to_thread(io.replace, target, temp, live_real,
                                                 run.config, old, candidate)
    except WriteError as exc:
        mark(run, new.number, "failed", reason=str(exc))
        raise run.stop("write", "failed", f"{exc.what}; the live file is unchanged, "
                       "nothing reloaded", [f"where: {exc.where}", f"hint: {exc.hint}"]) \
            from None
    fault_point("write")
    via = f" (through the symlink {io.shown(target, run.config)})" \
        if await asyncio.to_thread(io.is_link, target, run.config) else ""
    run.step("write", "warn" if warning else "ok",
             f"{io.shown(target, live_real)} replaced{via}, {owner}",
             [warning] if warning else [])
    if no_reload or not target.has_runtime:
        why = "--no-reload" if no_reload else "no running HAProxy known"
        mark(run, new.number, "written")
        staging.clear_if(staging.candidate_hash)
        raise run.stop("reload", "written", f"skipped ({why}): the running HAProxy keeps "
                       "its configuration until the next reload", status="skip")
    # 6.-8.
    reloaded = False
    try:
        await keep_state(run, live, candidate)
        fault_point("state")
        run.sockets_before = await answering_sockets(
            declared_sockets(named(run, live), run.cond, target.cwd), target)
        mark(run, new.number, "reloading")
        reloaded = True
        outcome = await reload_step(run, "reload", candidate, live)
        fault_point("reload")
        if outcome.ok is False:
            raise Failure("the reload failed")
        await verify(run, live, candidate, outcome)
        fault_point("verify")
    except Failure as exc:
        await rollback(run, live, candidate, str(exc), new.number, prev.number, reloaded)
        return
    except (HAProxyError, OSError) as exc:
        run.step("verify" if reloaded else "state", "fail", str(exc))
        await rollback(run, live, candidate, str(exc), new.number, prev.number, reloaded)
        return
    mark(run, new.number, "applied")
    staging.clear_if(staging.candidate_hash)
    run.result.ok, run.result.outcome = True, "applied"
    run.result.reason = f"applied as version {new.number}"


def _guard(run: Run, consequence: Consequence, version_text: str, warn: list[str],
           temp: str) -> None:
    """End the check step: refuse a removal nobody confirmed (see apply_guard)."""
    allowed = run.allow_removal is True or (
        isinstance(run.allow_removal, str) and run.allow_removal == consequence.phrase)
    if consequence.needs_confirmation and not allowed:
        discard_temp(temp)
        given = [f"the confirmation given ({run.allow_removal!r}) does not name it"] \
            if isinstance(run.allow_removal, str) and run.allow_removal else []
        raise run.stop("check", "refused", f"haproxy -c passed ({version_text}), but "
                       f"{consequence.summary()}: nothing written, nothing reloaded",
                       consequence.lines() + given + [
                           f"hint: if that is meant, confirm it: type '{consequence.phrase}' "
                           "when `haconsole config apply` asks on a terminal, or add "
                           "--allow-removal"])
    if consequence.needs_confirmation:
        run.step("check", "warn", f"haproxy -c passed ({version_text}); confirmed: "
                 f"{consequence.summary()}", consequence.lines() + warn)
        return
    lines = consequence.lines() if consequence.phrase else list(consequence.uncertain)
    run.step("check", "ok", f"haproxy -c passed ({version_text})", lines + warn)


