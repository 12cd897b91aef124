"""The vocabulary of runtime changes: what a change is (:class:`Action`), what is sent
for it (:class:`Plan`), what came of it (:class:`Result`), which kinds a socket level
allows, and the checks of a change's parameters (:func:`validate`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.actions_impact import WeightChange, check_addr, parse_weight
from console.haproxy.errors import ValidationError
from console.haproxy.known_bugs import admin_only
from console.haproxy.model import Snapshot
from console.haproxy.parsers import ServerStateRow
from console.haproxy.safe_text import visible
from console.haproxy.validate import check_int, check_name

SERVER_KINDS = frozenset({"server_state", "weight", "health", "agent", "health_check",
                          "agent_check", "shutdown_sessions", "server_maxconn", "server_addr",
                          "server_del"})
FRONTEND_KINDS = frozenset({"frontend", "frontend_maxconn", "frontend_shutdown"})
COUNTER_KINDS = frozenset({"clear_counters", "clear_counters_all"})
TABLE_KINDS = frozenset({"table_clear_key", "table_clear", "map_add", "map_set", "map_del",
                         "acl_add", "acl_del"})
ALL_KINDS = SERVER_KINDS | FRONTEND_KINDS | COUNTER_KINDS | TABLE_KINDS
# What a socket at level operator may change (HAProxy refuses the rest below admin).
OPERATOR_KINDS = frozenset({"clear_counters"}) | TABLE_KINDS

RUNTIME_ONLY = ("runtime only — lost at reload or restart unless saved to the "
                "server-state file")
RUNTIME_ONLY_FRONTEND = "runtime only — lost at reload or restart"

_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "server_state": ("state", ("ready", "drain", "maint")),
    "health": ("state", ("up", "stopping", "down")),
    "agent": ("state", ("up", "down")),
    "health_check": ("op", ("enable", "disable")),
    "agent_check": ("op", ("enable", "disable")),
    "frontend": ("op", ("enable", "disable")),
}
MAX_MAXCONN = 10_000_000


@dataclass(frozen=True)
class Action:
    """One change. *targets*: ``(backend, server)`` pairs, or frontend names."""

    kind: str
    targets: tuple[Any, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def server(cls, kind: str, refs: Iterable[tuple[str, str]], **params: Any) -> Action:
        return cls(kind, tuple(refs), params)

    @classmethod
    def frontend(cls, kind: str, names: Iterable[str], **params: Any) -> Action:
        return cls(kind, tuple(names), params)


@dataclass
class Plan:
    """What :func:`execute` will send, and what it means."""

    kind: str
    summary: str
    commands: list[str]
    impact: list[str]
    dangerous: bool
    confirm_word: str | None
    required_level: str  # "admin" or "operator"
    before: dict[str, Any]  # per target label
    undo_commands: list[str]
    runtime_only_note: str | None
    command_targets: list[str] = field(default_factory=list)  # target label per command
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # label -> what to re-read
    no_undo: list[str] = field(default_factory=list)
    undo_targets: list[str] = field(default_factory=list)  # target label per undo command
    undo_actions: list[Action] = field(default_factory=list)  # what puts it back, in order


@dataclass
class CommandOutcome:
    command: str
    sent: bool
    answer: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.sent and self.error is None


@dataclass
class Result:
    plan: Plan
    outcomes: list[CommandOutcome]
    after: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def error(self) -> str | None:
        return next((o.error for o in self.outcomes if o.error), None)

    @property
    def answers(self) -> list[str]:
        return [o.answer or "" for o in self.outcomes if o.sent]


# --------------------------------------------------------------------------- helpers

def expand_same_name(snapshot: Snapshot, server_name: str) -> list[tuple[str, str]]:
    """``(backend, server_name)`` for every backend that has a server of that name."""
    check_name(server_name, "server name")
    return [(r.proxy, r.name) for r in snapshot.servers if r.name == server_name]


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


def state_index(states: Sequence[ServerStateRow] | None
                ) -> dict[tuple[str, str], ServerStateRow]:
    return {(s.be_name, s.srv_name): s for s in states or ()}


# --------------------------------------------------------------------------- validation

def validate(action: Action) -> dict[str, Any]:
    """Check the kind and parameters; return the cleaned parameters."""
    kind, p = action.kind, dict(action.params)
    if kind not in ALL_KINDS - TABLE_KINDS:
        raise ValidationError(f"unknown action {kind!r}")
    if kind in _CHOICES:
        key, allowed = _CHOICES[kind]
        value = str(p.get(key, "")).lower()
        if value not in allowed:
            raise ValidationError(f"invalid {key} {str(p.get(key))[:40]!r}",
                                  hint="give one of " + ", ".join(allowed))
        p[key] = value
    if kind == "weight":
        change = p.get("value")
        p["change"] = change if isinstance(change, WeightChange) else parse_weight(str(change))
    if kind in ("server_maxconn", "frontend_maxconn"):
        p["value"] = check_int(p.get("value", ""), "maxconn", 0, MAX_MAXCONN)
    if kind == "server_addr":
        p["addr"] = check_addr(p.get("addr", ""))
        if p.get("port") not in (None, ""):
            p["port"] = check_int(p["port"], "port", 1, 65535)
        else:
            p["port"] = None
    if kind in SERVER_KINDS:
        if not action.targets:
            raise ValidationError("no server given", hint="give BACKEND/SERVER")
        for t in action.targets:
            if not (isinstance(t, tuple) and len(t) == 2):
                raise ValidationError(f"invalid server target {t!r}",
                                      hint="give (backend, server)")
            check_name(t[0], "backend name")
            check_name(t[1], "server name")
    elif kind in FRONTEND_KINDS:
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
