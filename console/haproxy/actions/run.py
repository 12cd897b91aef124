"""Sending planned changes: read the state, send the commands, journal every attempt.

:func:`execute` sends a plan's commands in order, stops at the first failure, and
journals each command with the state of its target before and after (read again with
:func:`read_scope`). :func:`run_action` is the whole path in one call: validate, read
the state, plan, confirm, execute. A change refused before anything is sent is
journaled as one line (:func:`record_refusal`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any

from console.haproxy import tables
from console.haproxy.actions.planning import plan
from console.haproxy.actions.state import frontend_before, server_before, state_index
from console.haproxy.actions.validation import describe, validate
from console.haproxy.errors import HAProxyError, NoSuchObject, ValidationError
from console.haproxy.model import Snapshot
from console.haproxy.parsers import (
    ServerStateRow,
    classify_error,
    parse_cli_level,
    parse_info,
    parse_servers_state,
)
from console.haproxy.plans import Action, CommandOutcome, Plan, Result
from console.haproxy.safe_text import visible
from console.haproxy.validate import check_name, verify_command

# --------------------------------------------------------------------------- reading state

async def read_state(client: Any, backend: str | None = None
                     ) -> tuple[Snapshot, list[ServerStateRow]]:
    """``show stat`` and ``show servers state`` (of one backend, or all)."""
    stat_cmd = f"show stat {check_name(backend, 'backend name')} -1 -1" if backend \
        else "show stat"
    state_cmd = f"show servers state {backend}" if backend else "show servers state"
    stat_text = await client.run(stat_cmd)
    state_text = await client.run(state_cmd)
    return Snapshot.from_text(None, stat_text), parse_servers_state(state_text)


async def read_scope(client: Any, scope: tuple[str, ...]) -> dict[str, Any]:
    """The current state of one target, in the form of :attr:`Plan.before`."""
    if scope[0] == "server":
        _, backend, server = scope
        snapshot, states = await read_state(client, backend)
        return server_before(snapshot.get(backend, server),
                             state_index(states).get((backend, server)))
    if scope[0] == "frontend":
        snapshot = Snapshot.from_text(None, await client.run(f"show stat {scope[1]} 1 -1"))
        return frontend_before(snapshot.get(scope[1], "FRONTEND"))
    return await tables.read_scope(client, scope)


# --------------------------------------------------------------------------- executing

_OK_ANSWER = re.compile(r"(?:IP changed from|no need to change the addr|port changed from"
                        r"|All sockets are already (?:en|dis)abled"
                        r"|Frontend (?:is|was) already (?:en|dis)abled)")


def answer_problem(answer: str) -> str | None:
    """None when *answer* means success, else its first line.

    Changes answer nothing on success, except a few informational lines
    (``set server addr``, enabling an enabled frontend). Anything else is
    taken as a refusal: the sequence stops and the journal keeps the answer.
    """
    first = answer.strip().split("\n", 1)[0].strip()
    if not first or _OK_ANSWER.match(first):
        return None
    return first


async def socket_level(client: Any) -> str | None:
    try:
        return parse_cli_level(await client.run("show cli level"))
    except HAProxyError:
        return None


async def haproxy_version(client: Any) -> str | None:
    """The ``Version`` of ``show info`` (what some changes depend on), None if unknown."""
    try:
        return str(parse_info(await client.run("show info")).get("Version") or "") or None
    except HAProxyError:
        return None


def _refusal(plan: Plan, command: str, first: str, where: str, level: str | None) -> str:
    verb = " ".join(command.split()[:2])
    if classify_error(first) == "permission_denied":
        lvl = f"level {level}" if level else "a lower level"
        return (f"permission denied: the socket {where} is at {lvl}; '{verb}' needs level "
                f"{plan.required_level} (use a socket with 'level {plan.required_level}')")
    if "static LB algorithm" in first:
        return (f"HAProxy refused the weight: {first} — this backend's balance algorithm is "
                "static, so only 0% and 100% of the configured weight are accepted "
                "(try 0% or reset)")
    return f"HAProxy refused {command!r}: {first}"


def _journal(target: Any, warnings: list[str], command: str, **kw: Any) -> None:
    from console.haproxy.journal import record

    try:
        record(target, command, **kw)
    except (OSError, HAProxyError, ValueError, TypeError) as exc:
        warnings.append(f"JOURNAL NOT WRITTEN: {command!r} was sent, but the journal could "
                        f"not record it: {exc}. Note the change by hand.")


def check_plan(plan: Plan) -> None:
    """Every command of *plan* was built from checked words and still reads as them."""
    for command in plan.commands:
        verify_command(command)


async def execute(plan: Plan, client: Any, target: Any, *, journal: bool = True) -> Result:
    """Send the plan's commands in order; stop at the first failure.

    Nothing is sent unless every command passes :func:`check_plan` (a refusal is
    journaled and raised as :class:`ValidationError`), nor when the journal cannot
    be written (:class:`~console.haproxy.journal.JournalError`). Every command sent is
    journaled (answer or error, state before and after); the state of its target
    is read again after each one.
    """
    try:
        check_plan(plan)
    except ValidationError as exc:
        if journal:
            record_refusal(target, plan.summary, str(exc))
            exc.journaled = True  # type: ignore[attr-defined]
        raise
    if journal and plan.commands:
        from console.haproxy.journal import check_writable

        check_writable()
    result = Result(plan, [])
    where = str(getattr(client, "where", "") or getattr(client, "address", "")
                or getattr(target, "socket", "") or "?")
    stopped = False
    for i, command in enumerate(plan.commands):
        if stopped:
            result.outcomes.append(CommandOutcome(command, sent=False))
            continue
        label = plan.command_targets[i] if i < len(plan.command_targets) else None
        scope = plan.scopes.get(label) if label else None
        before = (result.after.get(label) or plan.before.get(label)) if label else None
        if before is None and scope is not None:  # e.g. an undo plan: read it now
            try:
                before = await read_scope(client, scope)
            except HAProxyError:
                before = None
        answer: str | None = None
        error: str | None = None
        try:
            answer = await client.run(command, check=False)
            first = answer_problem(answer)
            if first is not None:
                level = (await socket_level(client)
                         if classify_error(first) == "permission_denied" else None)
                error = _refusal(plan, command, first, where, level)
        except HAProxyError as exc:
            error = str(exc)
        result.outcomes.append(CommandOutcome(command, answer is not None, answer, error))
        after = None
        if scope is not None and answer is not None:
            try:
                after = await read_scope(client, scope)
                result.after[label] = after  # type: ignore[index]
            except HAProxyError as exc:
                result.warnings.append(f"could not read the state after {command!r}: {exc}")
        if journal:
            _journal(target, result.warnings, command, answer=answer, error=error,
                     before=before, after=after)
        stopped = error is not None
    return result


class NotConfirmed(HAProxyError):
    """The confirmation callback said no: nothing was sent."""


async def run_action(action: Action, client: Any, target: Any, *,
                     confirm: Callable[[Plan], bool | Awaitable[bool]] | None = None,
                     journal: bool = True) -> Result:
    """Validate, read the state, plan, confirm, execute: the whole path in one call.

    A refusal before anything is sent (bad name or value, unknown object, not
    confirmed) is journaled as one line and raised.
    """
    try:
        validate(action)
        snapshot, states = await read_state(client)
        p = plan(action, snapshot, states, instance=getattr(target, "name", None),
                 version=await haproxy_version(client))
        if confirm is not None:
            answer = confirm(p)
            if inspect.isawaitable(answer):
                answer = await answer
            if not answer:
                raise NotConfirmed("not confirmed: nothing was sent")
    except (ValidationError, NoSuchObject, NotConfirmed) as exc:
        if journal:
            record_refusal(target, describe(action), str(exc))
        raise
    return await execute(p, client, target, journal=journal)


def record_refusal(target: Any, attempted: str, error: str) -> None:
    """Journal a change refused before anything was sent (bad input, no confirmation...)."""
    from console.haproxy.journal import record

    try:
        record(target, visible(attempted), error=visible(error), via="refused")
    except (OSError, HAProxyError):
        pass  # nothing was sent; the refusal itself is already said on screen
