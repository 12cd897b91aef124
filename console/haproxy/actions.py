"""Operational changes at runtime: validated, impact-checked, journaled, undoable.

An :class:`Action` says what to change (drain a server, set a weight, disable a
frontend...). :func:`plan` turns it into a :class:`Plan` against the current state:
the exact runtime commands, built only from validated names and values, what they
will do in words, whether the change is dangerous (then a name must be typed to
confirm), the socket level it needs, the state before, and the commands that put it
back (:mod:`console.haproxy.planning`). :func:`execute` sends the commands, stops at
the first failure, and journals every attempt with the state before and after.

Every change here is runtime only: a reload or restart forgets it unless the
server-state file keeps it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any

from console.haproxy import actions_impact as impact
from console.haproxy.action_types import (
    ALL_KINDS,
    COUNTER_KINDS,
    FRONTEND_KINDS,
    MAX_MAXCONN,
    OPERATOR_KINDS,
    RUNTIME_ONLY,
    RUNTIME_ONLY_FRONTEND,
    SERVER_KINDS,
    TABLE_KINDS,
    Action,
    CommandOutcome,
    Plan,
    Result,
    describe,
    expand_same_name,
    read_only,
    required_level,
    state_index,
    validate,
)
from console.haproxy.actions_impact import WeightChange, parse_weight
from console.haproxy.errors import HAProxyError, NoSuchObject, ValidationError
from console.haproxy.model import Snapshot
from console.haproxy.parsers import (
    ServerStateRow,
    classify_error,
    parse_cli_level,
    parse_info,
    parse_servers_state,
)
from console.haproxy.planning import (
    plan,
    plan_all,
    preview_commands,
    undo_actions,
    undo_plan,
)
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
        return impact.server_before(snapshot.get(backend, server),
                                    state_index(states).get((backend, server)))
    if scope[0] == "frontend":
        snapshot = Snapshot.from_text(None, await client.run(f"show stat {scope[1]} 1 -1"))
        return impact.frontend_before(snapshot.get(scope[1], "FRONTEND"))
    from console.haproxy import tables

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
    where = str(getattr(client, "address", "") or getattr(target, "socket", "") or "?")
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


__all__ = [
    "ALL_KINDS", "COUNTER_KINDS", "FRONTEND_KINDS", "MAX_MAXCONN", "OPERATOR_KINDS",
    "RUNTIME_ONLY", "RUNTIME_ONLY_FRONTEND", "SERVER_KINDS", "TABLE_KINDS", "Action",
    "CommandOutcome", "NotConfirmed", "Plan", "Result", "WeightChange", "check_plan", "describe",
    "execute", "expand_same_name", "parse_weight", "plan", "plan_all", "preview_commands",
    "read_only", "read_scope", "read_state", "record_refusal", "required_level", "run_action",
    "state_index", "undo_actions", "undo_plan", "validate",
]
