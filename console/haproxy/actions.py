"""Operational changes at runtime: validated, impact-checked, journaled, undoable.

An :class:`Action` says what to change (drain a server, set a weight, disable a
frontend...). :func:`plan` turns it into a :class:`Plan` against the current state:
the exact runtime commands, built only from validated names and values, what they
will do in words, whether the change is dangerous (then a name must be typed to
confirm), the socket level it needs, the state before, and the commands that put it
back. :func:`execute` sends the commands, stops at the first failure, and journals
every attempt with the state before and after.

Every change here is runtime only: a reload or restart forgets it unless the
server-state file keeps it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.haproxy import actions_impact as impact
from console.haproxy.action_steps import (
    Step,
    frontend_command,
    frontend_step,
    server_command,
    server_step,
)
from console.haproxy.actions_impact import WeightChange, check_addr, parse_weight
from console.haproxy.errors import HAProxyError, NoSuchObject, ValidationError
from console.haproxy.model import Snapshot
from console.haproxy.parsers import (
    ServerStateRow,
    classify_error,
    parse_cli_level,
    parse_servers_state,
)
from console.haproxy.safe_text import visible
from console.haproxy.validate import build_command, check_int, check_name, verify_command

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


def read_only(level: str | None, flag: bool) -> frozenset[str]:
    """The action kinds allowed with a socket at *level* (and the read-only *flag*)."""
    if flag or level not in ("admin", "operator"):
        return frozenset()
    return ALL_KINDS if level == "admin" else OPERATOR_KINDS


def required_level(kind: str) -> str:
    return "operator" if kind in OPERATOR_KINDS else "admin"


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


# --------------------------------------------------------------------------- planning

def _confirm_word(labels: list[str]) -> str:
    if len(labels) == 1:
        return labels[0]
    names = {label.rsplit("/", 1)[-1] for label in labels}
    return names.pop() if len(names) == 1 else labels[0]


def plan(action: Action, snapshot: Snapshot, states: Sequence[ServerStateRow] | None = None,
         *, instance: str | None = None) -> Plan:
    """Plan *action* against the state HAProxy reported (``show stat`` + servers state).

    Raises :class:`ValidationError` for bad names or values and :class:`NoSuchObject`
    for a server or frontend HAProxy does not have.
    """
    return plan_all([action], snapshot, states, instance=instance)


def plan_all(actions: Sequence[Action], snapshot: Snapshot,
             states: Sequence[ServerStateRow] | None = None, *, instance: str | None = None,
             summary: str | None = None) -> Plan:
    """One plan for several changes confirmed together (an undo, a restore, a revert).

    Their commands go in the order of *actions*; their effect is simulated together,
    so the impact is that of the whole: three servers put in MAINT by three changes
    still take their backend DOWN, and the plan is dangerous. *summary* names the
    whole (default: the changes' own summaries).
    """
    if not actions:
        raise ValidationError("nothing to change")
    checked = [(a, validate(a)) for a in actions]
    kinds = [a.kind for a in actions]
    if any(k in COUNTER_KINDS for k in kinds):
        if len(actions) > 1:
            raise ValidationError("clearing counters cannot be combined with other changes")
        return _plan_counters(kinds[0], instance)
    sim = _Simulation(snapshot, state_index(states))
    todo: list[tuple[str, dict[str, Any], Any]] = []
    summaries: list[str] = []
    for action, params in checked:
        labels: list[str] = []
        for target in action.targets:
            if action.kind in FRONTEND_KINDS:
                labels.append(sim.frontend(target))
            else:
                params_t = sim.server(action.kind, params, *target)
                labels.append(f"{target[0]}/{target[1]}")
                target = (target[0], target[1], params_t)
            todo.append((action.kind, params, target))
        summaries.append(_summary(action.kind, params, labels))
    steps = [sim.step(kind, params, target) for kind, params, target in todo]
    extra, down = sim.backend_impact()
    note = RUNTIME_ONLY if any(k in SERVER_KINDS for k in kinds) else RUNTIME_ONLY_FRONTEND
    p = _assemble(kinds[0] if len(set(kinds)) == 1 else "several",
                  summary or "; ".join(summaries), steps, sim.before, sim.scopes, note)
    p.required_level = "admin" if any(required_level(k) == "admin" for k in kinds) \
        else "operator"
    p.impact += extra
    if down:
        p.dangerous = True
        p.confirm_word = p.confirm_word or _confirm_word([s.label for s in steps])
    return p


_SERVER_WORDS = {"server_state": "set state {state} on", "weight": "set weight {value} on",
                 "health": "set health {state} on", "agent": "set agent {state} on",
                 "health_check": "{op} health checks of", "agent_check": "{op} agent checks of",
                 "shutdown_sessions": "shut down the sessions of",
                 "server_maxconn": "set maxconn {value} on",
                 "server_addr": "set address {addr} on", "server_del": "delete",
                 "frontend": "{op} frontend", "frontend_maxconn": "set maxconn of frontend",
                 "frontend_shutdown": "shut down frontend"}


def _summary(kind: str, params: Mapping[str, Any], labels: list[str]) -> str:
    words = _SERVER_WORDS[kind].format_map({k: params.get(k) for k in
                                            ("state", "value", "op", "addr")})
    if kind in FRONTEND_KINDS:
        return f"{words} {', '.join(labels)}"
    shown = ", ".join(labels) if len(labels) <= 3 else f"{labels[0]} and {len(labels) - 1} more"
    return f"{words} {shown}"


class _Simulation:
    """The state before, and every server as it should be once all the changes are done."""

    def __init__(self, snapshot: Snapshot,
                 states: dict[tuple[str, str], ServerStateRow]) -> None:
        self.snapshot, self.states = snapshot, states
        self.before: dict[str, Any] = {}
        self.scopes: dict[str, tuple[str, ...]] = {}
        self.before_views: dict[str, list[impact.ServerView]] = {}
        self.after_views: dict[str, list[impact.ServerView]] = {}
        self.changed: dict[str, set[str]] = {}

    def frontend(self, name: str) -> str:
        row = self.snapshot.get(name, "FRONTEND")
        if row is None:
            raise NoSuchObject(f"no such frontend {name}",
                               hint="list frontends with: haconsole show stat")
        self.before.setdefault(name, impact.frontend_before(row))
        self.scopes[name] = ("frontend", name)
        return name

    def server(self, kind: str, params: dict[str, Any], backend: str,
               server: str) -> dict[str, Any]:
        """Record the server's state before; predict it after; the params for its step."""
        row = self.snapshot.get(backend, server)
        if row is None or row.type != "server":
            raise NoSuchObject(f"no such server {backend}/{server}",
                               hint="list servers with: haconsole show servers")
        label = f"{backend}/{server}"
        b = self.before.setdefault(label, impact.server_before(row,
                                                               self.states.get((backend, server))))
        self.scopes[label] = ("server", backend, server)
        tp = dict(params)
        if kind == "weight":
            cur, conf = b.get("weight") or 0, b.get("configured_weight")
            new, send, how = tp["change"].resolve(cur, conf if conf is not None else cur)
            be_row = self.snapshot.get(backend, "BACKEND")
            tp.update(_new_weight=new, _send=send, _how=how,
                      _algo=be_row.fields.get("algo", "") if be_row else "")
        if backend not in self.before_views:
            self.before_views[backend] = impact.backend_views(self.snapshot, self.states,
                                                              backend)
            self.after_views[backend] = list(self.before_views[backend])
        views = self.after_views[backend]
        for i, v in enumerate(views):
            if v.name == server:
                views[i] = impact.predict(v, kind, tp)
        self.changed.setdefault(backend, set()).add(server)
        return tp

    def step(self, kind: str, params: dict[str, Any], target: Any) -> Step:
        if kind in FRONTEND_KINDS:
            return frontend_step(kind, params, target, self.before[target])
        backend, server, tp = target
        return server_step(kind, tp, backend, server, self.before[f"{backend}/{server}"],
                           self.after_views[backend])

    def backend_impact(self) -> tuple[list[str], bool]:
        lines: list[str] = []
        down = False
        for backend, before in self.before_views.items():
            more, goes_down = impact.backend_impact(backend, before, self.after_views[backend],
                                                    self.changed[backend])
            lines += more
            down = down or goes_down
        return lines, down


def _plan_counters(kind: str, instance: str | None) -> Plan:
    if kind == "clear_counters":
        return Plan(kind, "clear counters", [build_command("clear", "counters")],
                    ["max values (smax, qmax, rate_max...) and activity counters reset for "
                     "every proxy; Prometheus, the stats page and other consoles see it too",
                     "totals (sessions, bytes, errors, HTTP codes) are kept"],
                    False, None, "operator", {}, [], None, ["counters"],
                    no_undo=["cleared counters cannot be restored"])
    return Plan(kind, "clear counters all", [build_command("clear", "counters", "all")],
                ["EVERY counter of every frontend, backend and server resets to 0: totals, "
                 "bytes, errors, HTTP codes, max values",
                 "Prometheus graphs show a counter reset; other consoles and the stats page "
                 "lose their history (an incident mark gives deltas without clearing)"],
                True, instance or "all", "admin", {}, [], None, ["counters"],
                no_undo=["cleared counters cannot be restored"])


def _undo_action(kind: str, label: str, scope: tuple[str, ...] | None,
                 params: dict[str, Any]) -> Action:
    if kind in FRONTEND_KINDS:
        return Action.frontend(kind, [label], **params)
    if scope is not None and scope[0] == "server":
        return Action.server(kind, [(scope[1], scope[2])], **params)
    backend, server = label.split("/", 1)
    return Action.server(kind, [(backend, server)], **params)


def _assemble(kind: str, summary: str, steps: list[Step], before: dict[str, Any],
              scopes: dict[str, tuple[str, ...]], note: str | None) -> Plan:
    commands: list[str] = []
    targets: list[str] = []
    for s in steps:
        commands += s.commands
        targets += [s.label] * len(s.commands)
    dangerous = any(s.dangerous for s in steps)
    labels = [s.label for s in steps]
    return Plan(kind, summary, commands, [line for s in steps for line in s.impact],
                dangerous, _confirm_word(labels) if dangerous else None, required_level(kind),
                before, [c for s in reversed(steps) for c in s.undo], note, targets, scopes,
                [s.no_undo for s in steps if s.no_undo],
                [s.label for s in reversed(steps) for _ in s.undo],
                [_undo_action(k, s.label, scopes.get(s.label), p)
                 for s in reversed(steps) for k, p in s.undo_changes])


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
    from console.journal import record

    try:
        record(target, command, **kw)
    except OSError as exc:
        warnings.append(f"could not write the journal: {exc.strerror or exc}")


def check_plan(plan: Plan) -> None:
    """Every command of *plan* was built from checked words and still reads as them."""
    for command in plan.commands:
        verify_command(command)


async def execute(plan: Plan, client: Any, target: Any, *, journal: bool = True) -> Result:
    """Send the plan's commands in order; stop at the first failure.

    Nothing is sent unless every command passes :func:`check_plan` (a refusal is
    journaled and raised as :class:`ValidationError`). Every command sent is
    journaled (answer or error, state before and after); the state of its target
    is read again after each one.
    """
    try:
        check_plan(plan)
    except ValidationError as exc:
        if journal:
            record_refusal(target, plan.summary, str(exc))
        raise
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


def preview_commands(action: Action) -> list[str]:
    """The commands *action* sends when they do not depend on the state now (for display);
    a relative weight, which does, is described in words."""
    params = validate(action)
    kind = action.kind
    if kind in COUNTER_KINDS:
        return [_plan_counters(kind, None).commands[0]]
    if kind == "weight":
        change = params["change"]
        if change.mode != "absolute":
            return [describe(action)]
        params["_send"] = str(change.amount)
    if kind in FRONTEND_KINDS:
        return [frontend_command(kind, params, t) for t in action.targets]
    return [server_command(kind, params, f"{t[0]}/{t[1]}") for t in action.targets]


def undo_plan(plan: Plan) -> Plan:
    """A plan that sends *plan*'s undo commands as they are: for map, ACL and table
    changes, whose undo is exact. Server and frontend changes are undone with
    :func:`undo_actions`, planned again against the state of the moment."""
    return Plan(plan.kind, f"undo: {plan.summary}", list(plan.undo_commands),
                [f"puts back the state before: {plan.summary}"], False, None,
                plan.required_level, {}, [], plan.runtime_only_note,
                list(plan.undo_targets), dict(plan.scopes))


def undo_actions(plan: Plan) -> list[Action]:
    """The changes that put back what *plan* changed, in order: to plan and confirm again
    (with :func:`plan_all`) against the state at the time of the undo."""
    return list(plan.undo_actions)


class NotConfirmed(HAProxyError):
    """The confirmation callback said no: nothing was sent."""


def describe(action: Action) -> str:
    """One line naming an action, for the journal of a refused attempt."""
    targets = ",".join("/".join(map(str, t)) if isinstance(t, tuple) else str(t)
                       for t in action.targets)
    params = " ".join(f"{k}={v}" for k, v in action.params.items())
    return visible(" ".join(w for w in (action.kind, targets, params) if w))


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
        p = plan(action, snapshot, states, instance=getattr(target, "name", None))
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
    from console.journal import record

    try:
        record(target, visible(attempted), error=visible(error), via="refused")
    except OSError:
        pass


__all__ = [
    "ALL_KINDS", "Action", "CommandOutcome", "NotConfirmed", "Plan", "Result", "WeightChange",
    "check_plan", "describe", "execute", "expand_same_name", "parse_weight", "plan", "plan_all",
    "preview_commands",
    "read_only", "read_scope", "read_state", "record_refusal", "required_level", "run_action",
    "undo_actions", "undo_plan", "validate",
]
