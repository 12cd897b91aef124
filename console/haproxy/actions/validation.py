"""Checking a change before it is planned, and who may send it.

:func:`validate` checks the kind, the parameters (each by its spec's
:class:`~console.haproxy.actions.spec.Param`) and the targets of an
:class:`~console.haproxy.plans.Action`. The kind sets and :func:`read_only` /
:func:`required_level` say which kinds a socket level allows: every spec says its
level; map, ACL and table changes are operator-level (admin on 3.4, see
:mod:`console.haproxy.known_bugs`).
"""

from __future__ import annotations

from typing import Any

from console.haproxy.actions import registry
from console.haproxy.errors import ValidationError
from console.haproxy.known_bugs import admin_only
from console.haproxy.model import Snapshot
from console.haproxy.plans import Action
from console.haproxy.safe_text import visible
from console.haproxy.tables import TABLE_KINDS
from console.haproxy.validate import check_name

SERVER_KINDS = registry.kinds("server")
FRONTEND_KINDS = registry.kinds("frontend")
COUNTER_KINDS = registry.kinds("counters")
ALL_KINDS = frozenset(registry.SPECS) | TABLE_KINDS
# What a socket at level operator may change (HAProxy refuses the rest below admin).
OPERATOR_KINDS = frozenset(s.kind for s in registry.specs() if s.level == "operator") \
    | TABLE_KINDS


def read_only(level: str | None, flag: bool, version: str | None = None) -> frozenset[str]:
    """The action kinds allowed with a socket at *level* (and the read-only *flag*), on
    HAProxy *version* when known (3.4 moved maps and ACLs to level admin)."""
    if flag or level not in ("admin", "operator"):
        return frozenset()
    if level == "admin":
        return ALL_KINDS
    return frozenset(k for k in OPERATOR_KINDS if not admin_only(k, version))


def required_level(kind: str, version: str | None = None) -> str:
    return "operator" if kind in OPERATOR_KINDS and not admin_only(kind, version) else "admin"


def expand_same_name(snapshot: Snapshot, server_name: str) -> list[tuple[str, str]]:
    """``(backend, server_name)`` for every backend that has a server of that name."""
    check_name(server_name, "server name")
    return [(r.proxy, r.name) for r in snapshot.servers if r.name == server_name]


def validate(action: Action) -> dict[str, Any]:
    """Check the kind, the parameters and the targets; return the cleaned parameters."""
    spec = registry.get(action.kind)
    if spec is None:
        raise ValidationError(f"unknown action {action.kind!r}")
    p = spec.check(action.params)
    if spec.scope == "server":
        if not action.targets:
            raise ValidationError("no server given", hint="give BACKEND/SERVER")
        for t in action.targets:
            if not (isinstance(t, tuple) and len(t) == 2):
                raise ValidationError(f"invalid server target {t!r}",
                                      hint="give (backend, server)")
            check_name(t[0], "backend name")
            check_name(t[1], "server name")
    elif spec.scope == "frontend":
        if not action.targets:
            raise ValidationError("no frontend given", hint="give a frontend name")
        for t in action.targets:
            check_name(t, "frontend name")
    return p


def describe(action: Action) -> str:
    """One line naming an action, for the journal of a refused attempt."""
    targets = ",".join("/".join(map(str, t)) if isinstance(t, tuple) else str(t)
                       for t in action.targets)
    params = " ".join(f"{k}={v}" for k, v in action.params.items())
    return visible(" ".join(w for w in (action.kind, targets, params) if w))
