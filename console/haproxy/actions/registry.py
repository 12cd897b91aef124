"""Every kind of runtime change the console knows, and what each acts on.

:data:`SPECS` holds one :class:`~console.haproxy.actions.spec.ActionSpec` per kind, in
the order the console offers them: the actions menu, the ``haconsole server|frontend|
counters`` commands and the journal's restore are all built by going through them.
Adding a kind of change is writing its spec (with its tests) and listing it here.

:data:`SCOPES` says what the kinds act on. Map, ACL and stick-table changes are not
here: :mod:`console.haproxy.tables` plans them from their own screen and commands.
"""

from __future__ import annotations

from console.haproxy.actions import (
    check_specs,
    counter_specs,
    frontend_specs,
    server_specs,
    session_specs,
)
from console.haproxy.actions.spec import ActionSpec, CliArg, Scope
from console.haproxy.actions.weight_spec import WEIGHT

SERVER_REF = "BACKEND/SERVER (or '*/SERVER' for that server in every backend)"

SCOPES: dict[str, Scope] = {s.name: s for s in (
    Scope("server", "change a server at runtime (runtime only)",
          CliArg("ref", "REF", SERVER_REF), restorable=True),
    Scope("frontend", "change a frontend at runtime (runtime only)",
          CliArg("name", "NAME"), restorable=True),
    Scope("counters", "clear counters", None, restorable=False),
    Scope("session", "cut one stream (haconsole sessions shutdown ID)", None,
          restorable=False),
)}

SPECS: dict[str, ActionSpec] = {s.kind: s for s in (
    server_specs.SERVER_STATE,
    WEIGHT,
    check_specs.HEALTH,
    check_specs.AGENT,
    check_specs.HEALTH_CHECK,
    check_specs.AGENT_CHECK,
    server_specs.SHUTDOWN_SESSIONS,
    server_specs.SERVER_MAXCONN,
    server_specs.SERVER_ADDR,
    server_specs.SERVER_DEL,
    frontend_specs.FRONTEND,
    frontend_specs.FRONTEND_MAXCONN,
    frontend_specs.FRONTEND_SHUTDOWN,
    counter_specs.CLEAR_COUNTERS,
    counter_specs.CLEAR_COUNTERS_ALL,
    session_specs.SESSION_SHUTDOWN,
)}


def get(kind: str) -> ActionSpec | None:
    return SPECS.get(kind)


def specs(scope: str | None = None) -> list[ActionSpec]:
    """Every spec (of *scope*), in the registry's order."""
    return [s for s in SPECS.values() if scope is None or s.scope == scope]


def kinds(scope: str) -> frozenset[str]:
    return frozenset(s.kind for s in specs(scope))


def by_command(command: str) -> tuple[ActionSpec, str] | None:
    """The spec whose command *command* is, and the target it names ("" for none): the
    longest journal pattern that matches."""
    found: tuple[ActionSpec, str] | None = None
    for spec in SPECS.values():
        ref = spec.journal_ref(command)
        if ref is not None and (found is None or len(spec.journal) > len(found[0].journal)):
            found = spec, ref
    return found
