"""Restoring a server or frontend to its state before a journal entry.

A journal entry keeps the command sent and the state of its target before it.
:func:`restore_actions` turns that state into the changes (:class:`Action`) that
bring the target back: only what differs from the state now when it is known,
every recorded value otherwise. The changes are then planned together with
:func:`~console.haproxy.actions.plan_all` (impact, danger), confirmed and executed
like any other change. Every recorded value is checked again before use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.actions import MAX_MAXCONN, Action, read_scope
from console.haproxy.actions_impact import MAX_WEIGHT, check_addr
from console.haproxy.errors import HAProxyError
from console.haproxy.model import normalize_status
from console.haproxy.safe_text import visible
from console.haproxy.validate import check_int, check_name, check_server_ref

FRONTEND_OP = {"OPEN": "enable", "FULL": "enable", "PAUSED": "disable"}  # STOP: shut down
HEALTH_WORD = {"running": "up", "starting": "up", "stopping": "stopping", "stopped": "down"}


class NoRestore(HAProxyError):
    """No change can be derived for this entry; the message says why."""


@dataclass
class Restore:
    target: str  # "be_web/web1" or "frontend fe_api"
    actions: list[Action] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)  # action kinds the changes need
    changes: list[str] = field(default_factory=list)  # "weight 3 → 1"


def _parse(command: str) -> tuple[str, str, str] | None:
    """``(scope, name, aspect)`` of a server or frontend command, else None."""
    w = command.split()
    if len(w) >= 4 and w[:2] == ["set", "server"]:
        return "server", w[2], w[3]
    if len(w) == 3 and w[0] in ("enable", "disable") and w[1] in ("health", "agent"):
        return "server", w[2], "health_check" if w[1] == "health" else "agent_check"
    if len(w) >= 4 and w[0] == "set" and w[1] == "maxconn" and w[2] in ("server", "frontend"):
        return w[2], w[3], "maxconn"
    if len(w) == 4 and w[:3] == ["shutdown", "sessions", "server"]:
        return "server", w[3], "sessions"
    if len(w) == 3 and w[0] in ("enable", "disable", "shutdown") and w[1] == "frontend":
        return "frontend", w[2], "shutdown" if w[0] == "shutdown" else "status"
    return None


def scope_of(entry: Mapping[str, Any]) -> tuple[str, ...] | None:
    """What :func:`console.haproxy.actions.read_scope` reads for this entry's target."""
    parsed = _parse(str(entry.get("command") or ""))
    if parsed is None:
        return None
    scope, name, _ = parsed
    if scope == "server":
        return ("server", *check_server_ref(name))
    return ("frontend", check_name(name, "frontend name"))


async def current_state(client: Any, entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The state of the entry's target now (None when the entry has no target).

    Raises :class:`NoRestore` when the target is not in HAProxy any more.
    """
    scope = scope_of(entry)
    if scope is None:
        return None
    now = await read_scope(client, scope)
    if scope[0] == "server" and now.get("status") is None and now.get("weight") is None:
        raise NoRestore(f"{'/'.join(scope[1:])} is not in HAProxy now")
    if scope[0] == "frontend" and not now:
        raise NoRestore(f"frontend {scope[1]} is not in HAProxy now")
    return now


def restore_actions(entry: Mapping[str, Any],
                    current: Mapping[str, Any] | None = None) -> Restore:
    """The changes that bring the entry's server or frontend back to its ``before``.

    With *current* (the state now, as ``read_scope`` gives it) only what differs is
    changed; without it, every value ``before`` has. Raises :class:`NoRestore`.
    """
    command = str(entry.get("command") or "")
    shown = visible(command)
    parsed = _parse(command)
    if parsed is None:
        raise NoRestore(f"{shown!r} is not a server or frontend change: restore brings "
                        "back servers and frontends only (undo map, ACL and table changes "
                        "from the tables screen)")
    scope, name, aspect = parsed
    before = entry.get("before")
    if not isinstance(before, Mapping) or not before:
        raise NoRestore(f"the journal has no state before {shown!r}, so there is nothing "
                        "to restore it to")
    if aspect == "sessions":
        raise NoRestore("cut sessions cannot be restored, and this command changed nothing else")
    if aspect == "shutdown":
        raise NoRestore("a shut down frontend comes back only with a reload or restart")
    if scope == "server":
        backend, server = check_server_ref(name)
        out = Restore(f"{backend}/{server}")
        _server(out, (backend, server), aspect, before, current)
    else:
        name = check_name(name, "frontend name")
        out = Restore(f"frontend {name}")
        _frontend(out, name, before, current)
    if not out.actions:
        raise NoRestore(f"{out.target} is already as it was before this entry: nothing to send")
    return out


def _differs(key: str, before: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    return before.get(key) is not None and (current is None or current.get(key) != before[key])


def _was(key: str, before: Mapping[str, Any], current: Mapping[str, Any] | None) -> str:
    now = "?" if current is None else current.get(key)
    return visible(f"{key} {now} → {before.get(key)}")


def _add(out: Restore, action: Action, change: str) -> None:
    out.actions.append(action)
    out.kinds.add(action.kind)
    out.changes.append(change)


def _server(out: Restore, ref: tuple[str, str], aspect: str, before: Mapping[str, Any],
            current: Mapping[str, Any] | None) -> None:
    # Weight and limits first, the admin state last: a server coming back to ready
    # takes traffic with the weight it had.
    def server(kind: str, **params: Any) -> Action:
        return Action.server(kind, [ref], **params)

    if aspect == "addr" and before.get("addr") and (
            _differs("addr", before, current) or _differs("port", before, current)):
        port = check_int(before["port"], "port", 1, 65535) if before.get("port") else None
        _add(out, server("server_addr", addr=check_addr(before["addr"]), port=port),
             _was("addr", before, current))
    if _differs("maxconn", before, current):
        _add(out, server("server_maxconn",
                         value=check_int(before["maxconn"], "maxconn", 0, MAX_MAXCONN)),
             _was("maxconn", before, current))
    if _differs("weight", before, current):
        _add(out, server("weight", value=str(check_int(before["weight"], "weight", 0,
                                                       MAX_WEIGHT))),
             _was("weight", before, current))
    for key, kind in (("check", "health_check"), ("agent", "agent_check")):
        if aspect == kind and before.get(key) in ("enabled", "disabled") \
                and _differs(key, before, current):
            _add(out, server(kind, op=before[key][:-1]), _was(key, before, current))
    if aspect == "health" and before.get("op_state") in HEALTH_WORD \
            and _differs("op_state", before, current):
        _add(out, server("health", state=HEALTH_WORD[before["op_state"]]),
             _was("op_state", before, current))
    if aspect == "agent" and _differs("agent_down", before, current):
        _add(out, server("agent", state="down" if before["agent_down"] else "up"),
             _was("agent_down", before, current))
    if before.get("admin_state") in ("ready", "drain", "maint") \
            and _differs("admin_state", before, current):
        _add(out, server("server_state", state=before["admin_state"]),
             _was("admin_state", before, current))


def _frontend(out: Restore, name: str, before: Mapping[str, Any],
              current: Mapping[str, Any] | None) -> None:
    if _differs("maxconn", before, current):
        _add(out, Action.frontend("frontend_maxconn", [name], value=check_int(
            before["maxconn"], "maxconn", 0, MAX_MAXCONN)), _was("maxconn", before, current))
    op = FRONTEND_OP.get(normalize_status(str(before.get("status") or "")).kind)
    now = FRONTEND_OP.get(normalize_status(str((current or {}).get("status") or "")).kind)
    if op and (current is None or now != op):
        _add(out, Action.frontend("frontend", [name], op=op), _was("status", before, current))
