"""Planning runtime changes: from :class:`Action` s and the state HAProxy reported to
the :class:`Plan` that says exactly what will be sent, what it does, whether it is
dangerous, and what puts it back.

Several changes confirmed together (an undo, a restore, a revert-all) are planned as
one (:func:`plan_all`): their effect is simulated together, backend by backend, so
the impact and the danger are those of the whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from console.haproxy import actions_impact as impact
from console.haproxy.action_steps import (
    Step,
    frontend_command,
    frontend_step,
    server_command,
    server_step,
)
from console.haproxy.action_types import (
    COUNTER_KINDS,
    FRONTEND_KINDS,
    RUNTIME_ONLY,
    RUNTIME_ONLY_FRONTEND,
    SERVER_KINDS,
    Action,
    Plan,
    describe,
    required_level,
    state_index,
    validate,
)
from console.haproxy.errors import NoSuchObject, ValidationError
from console.haproxy.known_bugs import crash_risk
from console.haproxy.model import Snapshot
from console.haproxy.parsers import ServerStateRow
from console.haproxy.validate import build_command


def _confirm_word(labels: list[str]) -> str:
    if len(labels) == 1:
        return labels[0]
    names = {label.rsplit("/", 1)[-1] for label in labels}
    return names.pop() if len(names) == 1 else labels[0]


def plan(action: Action, snapshot: Snapshot, states: Sequence[ServerStateRow] | None = None,
         *, instance: str | None = None, version: str | None = None) -> Plan:
    """Plan *action* against the state HAProxy reported (``show stat`` + servers state).

    Raises :class:`ValidationError` for bad names or values, or a change this HAProxy
    *version* is known to crash on, and :class:`NoSuchObject` for a server or frontend
    HAProxy does not have.
    """
    return plan_all([action], snapshot, states, instance=instance, version=version)


def plan_all(actions: Sequence[Action], snapshot: Snapshot,
             states: Sequence[ServerStateRow] | None = None, *, instance: str | None = None,
             summary: str | None = None, version: str | None = None) -> Plan:
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
    for kind in kinds:
        risk = crash_risk(kind, version)
        if risk:
            raise ValidationError(risk[0], hint=risk[1])
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
    p.required_level = "admin" if any(required_level(k, version) == "admin" for k in kinds) \
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
