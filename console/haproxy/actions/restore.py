"""Restoring a server or frontend to its state before a journal entry.

A journal entry keeps the command sent and the state of its target before it. The
spec whose command it is (recognised by its journal words) says whether it can be
restored; :func:`restore_actions` then asks every spec of that scope that restores
what it changes (a :class:`~console.haproxy.actions.spec.Recover` rule: always, or
only after a change of its own kind) for the change that brings its part back: only
what differs from the state now when it is known, every recorded value otherwise.
The changes are planned together with :func:`~console.haproxy.actions.plan_all`
(impact, danger), confirmed and executed like any other change. Every recorded value
is checked again before use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.actions import registry
from console.haproxy.actions.run import read_scope
from console.haproxy.actions.spec import ActionSpec, Recover, Refuse
from console.haproxy.errors import HAProxyError
from console.haproxy.plans import Action
from console.haproxy.safe_text import visible
from console.haproxy.validate import check_name, check_server_ref


class NoRestore(HAProxyError):
    """No change can be derived for this entry; the message says why."""


@dataclass
class Restore:
    target: str  # "be_web/web1" or "frontend fe_api"
    actions: list[Action] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)  # action kinds the changes need
    changes: list[str] = field(default_factory=list)  # "weight 3 → 1"


def _parse(command: str) -> tuple[ActionSpec, str] | None:
    """The spec of a server or frontend command and the target it names, else None."""
    found = registry.by_command(command)
    if found is None or not registry.SCOPES[found[0].scope].restorable:
        return None
    return found


def _target(spec: ActionSpec, name: str) -> tuple[str, Any]:
    """The target as shown, and as an :class:`Action` names it (names checked again)."""
    if spec.scope == "server":
        backend, server = check_server_ref(name)
        return f"{backend}/{server}", (backend, server)
    name = check_name(name, f"{spec.scope} name")
    return f"{spec.scope} {name}", name


def scope_of(entry: Mapping[str, Any]) -> tuple[str, ...] | None:
    """What :func:`console.haproxy.actions.read_scope` reads for this entry's target."""
    parsed = _parse(str(entry.get("command") or ""))
    if parsed is None:
        return None
    spec, name = parsed
    if spec.scope == "server":
        return ("server", *check_server_ref(name))
    return (spec.scope, check_name(name, f"{spec.scope} name"))


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
    spec, name = parsed
    before = entry.get("before")
    if not isinstance(before, Mapping) or not before:
        raise NoRestore(f"the journal has no state before {shown!r}, so there is nothing "
                        "to restore it to")
    if isinstance(spec.restore, Refuse):
        raise NoRestore(spec.restore.reason)
    label, target = _target(spec, name)
    out = Restore(label)
    for rule, kind in _rules(spec):
        derived = rule.derive(before, current)
        if derived is not None:
            params, change = derived
            out.actions.append(Action(kind, (target,), params))
            out.kinds.add(kind)
            out.changes.append(change)
    if not out.actions:
        raise NoRestore(f"{out.target} is already as it was before this entry: nothing to send")
    return out


def _rules(entry_spec: ActionSpec) -> list[tuple[Recover, str]]:
    """What a restore after *entry_spec*'s change brings back, in order: what every
    change of its scope restores, and what only its own kind does."""
    rules = [(s.restore, s.kind) for s in registry.specs(entry_spec.scope)
             if isinstance(s.restore, Recover) and (s.restore.always or s is entry_spec)]
    return sorted(rules, key=lambda r: r[0].order)
