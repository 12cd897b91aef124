"""Planning runtime changes: from :class:`~console.haproxy.plans.Action` s and the state
HAProxy reported to the :class:`~console.haproxy.plans.Plan` that says exactly what
will be sent, what it does, whether it is dangerous, and what puts it back.

Each target's command, impact and undo come from its kind's spec; this module adds
what no single change knows. Several changes confirmed together (an undo, a restore,
a revert-all) are planned as one (:func:`plan_all`): every server is predicted as it
will be once all are done, backend by backend, so the impact and the danger are those
of the whole. Clearing counters has no target and is planned alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from console.haproxy.actions import registry, state
from console.haproxy.actions.spec import ActionSpec, Builder, Step, Target
from console.haproxy.actions.validation import describe, required_level, validate
from console.haproxy.errors import NoSuchObject, ValidationError
from console.haproxy.known_bugs import crash_risk
from console.haproxy.model import Snapshot
from console.haproxy.parsers import ServerStateRow
from console.haproxy.plans import Action, Plan

RUNTIME_ONLY = ("runtime only — lost at reload or restart unless saved to the "
                "server-state file")
RUNTIME_ONLY_FRONTEND = "runtime only — lost at reload or restart"


def _spec(kind: str) -> ActionSpec:
    spec = registry.get(kind)
    assert spec is not None  # validated
    return spec


def _confirm_word(labels: list[str]) -> str:
    if len(labels) == 1:
        return labels[0]
    names = {label.rsplit("/", 1)[-1] for label in labels}
    return names.pop() if len(names) == 1 else labels[0]


def plan(action: Action, snapshot: Snapshot, states: Sequence[ServerStateRow] | None = None,
         *, instance: str | None = None, version: str | None = None,
         about: Mapping[str, Any] | None = None) -> Plan:
    """Plan *action* against the state HAProxy reported (``show stat`` + servers state).

    Raises :class:`ValidationError` for bad names or values, or a change this HAProxy
    *version* is known to crash on, and :class:`NoSuchObject` for a server or frontend
    HAProxy does not have. *about*: what is known of a target that ``show stat`` does
    not list (the stream a ``shutdown session`` cuts), the state before it journals.
    """
    return plan_all([action], snapshot, states, instance=instance, version=version,
                    about=about)


def _at_limit(action: Action, snapshot: Snapshot) -> bool:
    """Whether a frontend the action targets is at its maxconn (FULL, or scur >= slim)."""
    if _spec(action.kind).scope != "frontend":
        return False
    for name in action.targets:
        row = snapshot.get(str(name), "FRONTEND")
        if row is None:
            continue
        try:
            scur, slim = int(row.get("scur") or 0), int(row.get("slim") or 0)
        except ValueError:
            continue
        if row.status.kind == "FULL" or (slim > 0 and scur >= slim):
            return True
    return False


def plan_all(actions: Sequence[Action], snapshot: Snapshot,
             states: Sequence[ServerStateRow] | None = None, *, instance: str | None = None,
             summary: str | None = None, version: str | None = None,
             about: Mapping[str, Any] | None = None) -> Plan:
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
    for action in actions:
        risk = crash_risk(action.kind, version, at_limit=_at_limit(action, snapshot))
        if risk:
            raise ValidationError(risk[0], hint=risk[1])
    specs = [_spec(k) for k in kinds]
    if any(s.scope == "counters" for s in specs):
        if len(actions) > 1:
            raise ValidationError("clearing counters cannot be combined with other changes")
        return _plan_instance(specs[0], checked[0][1], instance)
    if any(s.scope == "session" for s in specs):
        if len(actions) > 1:
            raise ValidationError("cutting a session cannot be combined with other changes")
        return _plan_instance(specs[0], checked[0][1], instance, about)
    sim = _Simulation(snapshot, state.state_index(states))
    todo: list[tuple[ActionSpec, dict[str, Any], Any]] = []
    summaries: list[str] = []
    for (action, params), spec in zip(checked, specs, strict=True):
        labels: list[str] = []
        for target in action.targets:
            if spec.scope == "frontend":
                labels.append(sim.frontend(target))
            else:
                params_t = sim.server(spec, params, *target)
                labels.append(f"{target[0]}/{target[1]}")
                target = (target[0], target[1], params_t)
            todo.append((spec, params, target))
        summaries.append(_summary(spec, params, labels))
    steps = [sim.step(spec, params, target) for spec, params, target in todo]
    extra, down = sim.backend_impact()
    note = RUNTIME_ONLY if any(s.scope == "server" for s in specs) else RUNTIME_ONLY_FRONTEND
    p = _assemble(kinds[0] if len(set(kinds)) == 1 else "several",
                  summary or "; ".join(summaries), steps, sim.before, sim.scopes, note)
    p.required_level = "admin" if any(required_level(k, version) == "admin" for k in kinds) \
        else "operator"
    p.impact += extra
    if down:
        p.dangerous = True
        p.confirm_word = p.confirm_word or _confirm_word([s.label for s in steps])
    return p


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> None:
        return None


def _summary(spec: ActionSpec, params: Mapping[str, Any], labels: list[str]) -> str:
    words = spec.summary.format_map(_Params(params))
    if spec.scope == "frontend":
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
        self.before_views: dict[str, list[state.ServerView]] = {}
        self.after_views: dict[str, list[state.ServerView]] = {}
        self.changed: dict[str, set[str]] = {}

    def frontend(self, name: str) -> str:
        row = self.snapshot.get(name, "FRONTEND")
        if row is None:
            raise NoSuchObject(f"no such frontend {name}",
                               hint="list frontends with: haconsole show stat")
        self.before.setdefault(name, state.frontend_before(row))
        self.scopes[name] = ("frontend", name)
        return name

    def server(self, spec: ActionSpec, params: dict[str, Any], backend: str,
               server: str) -> dict[str, Any]:
        """Record the server's state before; predict it after; the params for its step."""
        row = self.snapshot.get(backend, server)
        if row is None or row.type != "server":
            raise NoSuchObject(f"no such server {backend}/{server}",
                               hint="list servers with: haconsole show servers")
        label = f"{backend}/{server}"
        b = self.before.setdefault(label, state.server_before(
            row, self.states.get((backend, server))))
        self.scopes[label] = ("server", backend, server)
        tp = dict(params)
        if spec.prepare is not None:
            tp = spec.prepare(tp, b, self.snapshot.get(backend, "BACKEND"))
        if backend not in self.before_views:
            self.before_views[backend] = state.backend_views(self.snapshot, self.states,
                                                             backend)
            self.after_views[backend] = list(self.before_views[backend])
        views = self.after_views[backend]
        for i, v in enumerate(views):
            if v.name == server and spec.predict is not None:
                views[i] = spec.predict(v, tp)
        self.changed.setdefault(backend, set()).add(server)
        return tp

    def step(self, spec: ActionSpec, params: dict[str, Any], target: Any) -> Step:
        if spec.scope == "frontend":
            return _step(spec, params, Target(target, target, None, self.before[target]),
                         target)
        backend, server, tp = target
        label = f"{backend}/{server}"
        return _step(spec, tp, Target(label, server, backend, self.before[label],
                                      self.after_views[backend]), label)

    def backend_impact(self) -> tuple[list[str], bool]:
        lines: list[str] = []
        down = False
        for backend, before in self.before_views.items():
            more, goes_down = state.backend_impact(backend, before, self.after_views[backend],
                                                   self.changed[backend])
            lines += more
            down = down or goes_down
        return lines, down


def _step(spec: ActionSpec, params: Mapping[str, Any], target: Target, ref: str) -> Step:
    """One target's command, impact and undo, as its spec writes them."""
    step = Step(target.label, [], [], [])
    b = Builder(spec, step, ref)
    b.send(params)
    spec.impact(b, params, target)
    if spec.expect is not None:
        step.expected = spec.expect(params)
    return step


def _plan_instance(spec: ActionSpec, params: dict[str, Any], instance: str | None,
                   about: Mapping[str, Any] | None = None) -> Plan:
    """A change without a scope target (counters, one stream): nothing to undo; the
    instance's name is typed to confirm a dangerous one. *about*: the state before."""
    label = f"session {params['id']}" if spec.scope == "session" else spec.scope
    before = dict(about or {})
    s = _step(spec, params, Target(label, "", None, before), "")
    return Plan(spec.kind, spec.summary.format_map(_Params(params)), list[str](s.commands),
                s.impact, s.dangerous, (instance or "all") if s.dangerous else None,
                spec.level, {label: before} if before else {}, [], None,
                [s.label] * len(s.commands), no_undo=[s.no_undo] if s.no_undo else [])


def _undo_action(kind: str, label: str, scope: tuple[str, ...] | None,
                 params: dict[str, Any]) -> Action:
    if _spec(kind).scope == "frontend":
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
    expected: dict[str, dict[str, tuple[Any, ...]]] = {}
    for s in steps:  # a later change of the same target decides what it reads as
        if s.expected:
            expected.setdefault(s.label, {}).update(s.expected)
    return Plan(kind, summary, commands, [line for s in steps for line in s.impact],
                dangerous, _confirm_word(labels) if dangerous else None, required_level(kind),
                before, [c for s in reversed(steps) for c in s.undo], note, targets, scopes,
                [s.no_undo for s in steps if s.no_undo],
                [s.label for s in reversed(steps) for _ in s.undo],
                [_undo_action(k, s.label, scopes.get(s.label), p)
                 for s in reversed(steps) for k, p in s.undo_changes], expected)


def preview_commands(action: Action) -> list[str]:
    """The commands *action* sends when they do not depend on the state now (for display);
    one that does (a relative weight) is described in words."""
    params = validate(action)
    spec = _spec(action.kind)
    if spec.preview is not None:
        shown = spec.preview(params)
        if shown is None:
            return [describe(action)]
        params = shown
    if spec.scope in ("counters", "session"):
        return [spec.command(params, "")]
    if spec.scope == "frontend":
        return [spec.command(params, t) for t in action.targets]
    return [spec.command(params, f"{t[0]}/{t[1]}") for t in action.targets]


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
