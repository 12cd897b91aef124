"""One target of a runtime change: its exact command, its impact in words, its undo.

Pure functions; no I/O. Every command is built by
:func:`~console.haproxy.validate.build_command` from the words it must have, and
every undo is given twice: as the command it would send (for display) and as the
change that puts the target back (a kind and its parameters), which is planned
and confirmed again like any other change when the user undoes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.actions_impact import (
    HASH_ALGOS,
    HEALTH_FOR_OP,
    OP_STATES,
    STATIC_ALGOS,
    ServerView,
    frontend_enabled,
    share,
)
from console.haproxy.validate import Command, build_command

UndoChange = tuple[str, dict[str, Any]]  # (action kind, parameters) on the same target


@dataclass
class Step:
    """Commands, impact and undo for one target of an action."""

    label: str
    commands: list[Command]
    impact: list[str]
    undo: list[Command]
    dangerous: bool = False
    no_undo: str | None = None  # why it cannot be undone
    undo_changes: list[UndoChange] = field(default_factory=list)


def _sessions(n: int | None) -> str:
    return f"current sessions ({n or 0})"


def server_command(kind: str, params: Mapping[str, Any], ref: str) -> Command:
    """The command of one server change; *params* validated (``_send`` for a weight)."""
    if kind == "server_state":
        return build_command("set", "server", ref, "state", params["state"])
    if kind == "weight":
        return build_command("set", "server", ref, "weight", str(params["_send"]))
    if kind in ("health", "agent"):
        return build_command("set", "server", ref, kind, params["state"])
    if kind in ("health_check", "agent_check"):
        return build_command(params["op"], "health" if kind == "health_check" else "agent",
                             ref)
    if kind == "shutdown_sessions":
        return build_command("shutdown", "sessions", "server", ref)
    if kind == "server_maxconn":
        return build_command("set", "maxconn", "server", ref, str(int(params["value"])))
    if kind == "server_addr":
        words = ["set", "server", ref, "addr", str(params["addr"])]
        if params.get("port"):
            words += ["port", str(int(params["port"]))]
        return build_command(*words)
    if kind == "server_del":
        return build_command("del", "server", ref)
    raise ValueError(kind)  # pragma: no cover - guarded by the caller


def frontend_command(kind: str, params: Mapping[str, Any], name: str) -> Command:
    if kind == "frontend":
        return build_command(params["op"], "frontend", name)
    if kind == "frontend_maxconn":
        return build_command("set", "maxconn", "frontend", name, str(int(params["value"])))
    if kind == "frontend_shutdown":
        return build_command("shutdown", "frontend", name)
    raise ValueError(kind)  # pragma: no cover


class _Builder:
    """Appends to a step: the command, the impact lines, the undo (command and change)."""

    def __init__(self, step: Step, ref: str,
                 command_of: Callable[[str, Mapping[str, Any], str], Command]) -> None:
        self.step, self.ref, self.command_of = step, ref, command_of

    def send(self, kind: str, params: Mapping[str, Any]) -> None:
        self.step.commands.append(self.command_of(kind, params, self.ref))

    def say(self, line: str) -> None:
        self.step.impact.append(line)

    def undo(self, kind: str, **params: Any) -> None:
        send = dict(params)
        if kind == "weight":
            send["_send"] = params["value"]
        self.step.undo.append(self.command_of(kind, send, self.ref))
        self.step.undo_changes.append((kind, params))


def server_step(kind: str, params: Mapping[str, Any], backend: str, server: str,
                before: Mapping[str, Any], after: Sequence[ServerView]) -> Step:
    """*params* are validated already; names are valid HAProxy names."""
    ref = f"{backend}/{server}"
    step = Step(ref, [], [], [])
    b = _Builder(step, ref, server_command)
    b.send(kind, params)
    if kind == "server_state":
        _server_state(b, params, server, before)
    elif kind == "weight":
        _weight(b, params, backend, server, before, after)
    elif kind in ("health", "agent"):
        _health_or_agent(b, kind, params, server, before)
    elif kind in ("health_check", "agent_check"):
        _checks(b, kind, params, server, before)
    elif kind == "shutdown_sessions":
        b.say(f"the {_sessions(before.get('scur'))} of {server} are cut now: their clients "
              "see errors")
        step.dangerous = True
        step.no_undo = "cut sessions cannot be restored"
    elif kind == "server_maxconn":
        new, old, scur = int(params["value"]), before.get("maxconn"), before.get("scur")
        b.say(f"maxconn {old or 'none'} → {new or 'none'} for {server}"
              + (f"; it has {scur} sessions now, above the new limit: new requests queue"
                 if new and scur and scur > new else ""))
        if old is not None:
            b.undo("server_maxconn", value=old)
    elif kind == "server_addr":
        addr, port = params["addr"], params.get("port")
        old = f"{before.get('addr')}:{before.get('port')}"
        b.say(f"address {old} → {addr}:{port or before.get('port')}: new connections of "
              f"{server} go to the new address; current ones stay")
        if before.get("addr"):
            b.undo("server_addr", addr=before["addr"], port=before.get("port") or None)
    elif kind == "server_del":
        b.say(f"{server} is deleted from {backend} (HAProxy refuses unless it is in MAINT "
              "with no connection); it comes back only with 'add server' or a reload")
        step.dangerous = True
        step.no_undo = "a deleted server comes back only with 'add server' or a reload"
    else:  # pragma: no cover - guarded by the caller
        raise ValueError(kind)
    return step


def _server_state(b: _Builder, params: Mapping[str, Any], server: str,
                  before: Mapping[str, Any]) -> None:
    state, old = params["state"], before.get("admin_state", "ready")
    scur = before.get("scur")
    if state == old:
        b.say(f"{server} is already {state.upper() if state != 'ready' else 'ready'}: "
              "nothing changes")
    elif state == "drain":
        b.say(f"{server} takes no new connections (only persistent ones); its "
              f"{_sessions(scur)} finish normally")
    elif state == "maint":
        b.say(f"{server} gets no traffic and its health checks stop; its "
              f"{_sessions(scur)} continue until they end (shutdown-sessions cuts them)")
    else:
        extra = (" once its health check passes" if old == "maint"
                 and before.get("check") == "enabled" else "")
        b.say(f"{server} leaves {old.upper()} and takes new connections again{extra}")
    b.undo("server_state", state=old)


def _weight(b: _Builder, params: Mapping[str, Any], backend: str, server: str,
            before: Mapping[str, Any], after: Sequence[ServerView]) -> None:
    new, old = int(params["_new_weight"]), before.get("weight")
    how = params.get("_how")
    prefix = f"weight {old} → {new}" + (f" ({how})" if how else "")
    if new == 0:
        b.say(f"{prefix}: {server} gets no new traffic (status DRAIN)")
    else:
        pct = share(after, server)
        tail = f"about {pct}% of {backend}'s new connections" if pct is not None else (
            "no traffic until it is usable again")
        b.say(f"{prefix}: {server} gets {tail}")
    algo = params.get("_algo") or ""
    configured = before.get("configured_weight")
    if algo in STATIC_ALGOS and new not in (0, configured):
        b.say(f"{backend} uses 'balance {algo}', a static algorithm: HAProxy accepts only "
              "0% or 100% of the configured weight and will refuse this one")
    elif algo in HASH_ALGOS and new not in (0, configured):
        b.say(f"{backend} uses 'balance {algo}': with hash-type map-based (the default) "
              "HAProxy accepts only 0% or 100% of the configured weight")
    if old is not None:
        b.undo("weight", value=str(old))


def _health_or_agent(b: _Builder, kind: str, params: Mapping[str, Any], server: str,
                     before: Mapping[str, Any]) -> None:
    state = params["state"]
    if kind == "health":
        checks = before.get("check") == "enabled"
        what = {"up": "UP", "stopping": "NOLB (stopping: only persistent traffic)",
                "down": "DOWN (no traffic)"}[state]
        tail = ("; its health checks keep running and change it at their next result"
                if checks else "")
        b.say(f"{server} is marked {what}{tail}")
        op = {v: k for k, v in OP_STATES.items()}.get(before.get("op_state") or "", 2)
        b.undo("health", state=HEALTH_FOR_OP.get(op, "up"))
        return
    if before.get("agent") in ("none", "disabled"):
        b.say(f"{server} has no enabled agent check: HAProxy will refuse")
    b.say(f"the agent of {server} is marked {state.upper()}"
          + (": the server takes no traffic" if state == "down" else ""))
    b.undo("agent", state="down" if before.get("agent_down") else "up")


def _checks(b: _Builder, kind: str, params: Mapping[str, Any], server: str,
            before: Mapping[str, Any]) -> None:
    op, what = params["op"], "health" if kind == "health_check" else "agent"
    label = "health checks" if what == "health" else "agent checks"
    current = before.get("check" if what == "health" else "agent")
    if current == "none":
        b.say(f"{server} has no {label[:-1]} configured"
              + (": HAProxy will refuse" if what == "agent" and op == "enable" else ""))
    elif current == f"{op}d":
        b.say(f"{label} of {server} are already {op}d: nothing changes")
    elif op == "disable":
        b.say(f"{label} of {server} stop: it stays {before.get('status') or 'as it is'} "
              "and failures go unnoticed")
    else:
        b.say(f"{label} of {server} start again and decide its state")
    if current in ("enabled", "disabled"):
        b.undo(kind, op=current[:-1])


def frontend_step(kind: str, params: Mapping[str, Any], name: str,
                  before: Mapping[str, Any]) -> Step:
    step = Step(name, [], [], [])
    b = _Builder(step, name, frontend_command)
    b.send(kind, params)
    enabled = frontend_enabled(before)
    status = before.get("status") or "?"
    if kind == "frontend":
        op = params["op"]
        if status == "STOP":
            b.say(f"frontend {name} was shut down: only a reload or restart brings it back; "
                  "HAProxy will refuse")
            return step
        if (op == "enable") == enabled:
            b.say(f"frontend {name} is already {status}: nothing changes")
        elif op == "disable":
            b.say(f"frontend {name} stops accepting connections (existing ones continue)")
            step.dangerous = True
        else:
            b.say(f"frontend {name} accepts connections again")
        b.undo("frontend", op="enable" if enabled else "disable")
    elif kind == "frontend_maxconn":
        new, old = int(params["value"]), before.get("maxconn")
        b.say(f"maxconn {old} → {new} for frontend {name}"
              + (": connections above it wait in the kernel's queue" if new else ""))
        if old is not None:
            b.undo("frontend_maxconn", value=old)
    elif kind == "frontend_shutdown":
        b.say(f"frontend {name} stops for good: its listeners close and its "
              f"{_sessions(before.get('scur'))} are cut; only a reload or restart brings "
              "it back")
        step.dangerous = True
        step.no_undo = "a shut down frontend comes back only with a reload or restart"
    else:  # pragma: no cover
        raise ValueError(kind)
    return step
