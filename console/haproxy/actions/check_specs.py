"""Server health: forcing the health or agent status, and turning health checks and
agent checks on or off.

Each kind is one :class:`~console.haproxy.actions.spec.ActionSpec`. A forced status
lasts until the next check result when checks run; a restore brings these back only
after a change of the same kind (the status of a server moves on its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from console.haproxy.actions.spec import (
    REF,
    ActionSpec,
    Builder,
    CliArg,
    CliVerb,
    Derived,
    MenuEntry,
    Recover,
    Target,
    choice,
    differs,
    was,
)
from console.haproxy.actions.state import HEALTH_FOR_OP, OP_STATES, ServerView
from console.haproxy.validate import build_command

# `set server health` word that brings back an operational state recorded by name
HEALTH_WORD = {"running": "up", "starting": "up", "stopping": "stopping", "stopped": "down"}


def _healthy(v: ServerView, params: Mapping[str, Any]) -> ServerView:
    return replace(v, healthy=params["state"] == "up")


# --------------------------------------------------------------------------- forced status

def _health_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    state = params["state"]
    checks = t.before.get("check") == "enabled"
    what = {"up": "UP", "stopping": "NOLB (stopping: only persistent traffic)",
            "down": "DOWN (no traffic)"}[state]
    tail = ("; its health checks keep running and change it at their next result"
            if checks else "")
    b.say(f"{t.name} is marked {what}{tail}")
    op = {v: k for k, v in OP_STATES.items()}.get(t.before.get("op_state") or "", 2)
    b.undo(state=HEALTH_FOR_OP.get(op, "up"))


def _health_restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Derived:
    if before.get("op_state") in HEALTH_WORD and differs("op_state", before, current):
        return {"state": HEALTH_WORD[before["op_state"]]}, was("op_state", before, current)
    return None


HEALTH = ActionSpec(
    "health", "server", "set health {state} on",
    command=lambda p, ref: build_command("set", "server", ref, "health", p["state"]),
    impact=_health_impact, predict=_healthy,
    params=(choice("state", "up", "stopping", "down"),),
    menu=(MenuEntry("health: force up", {"state": "up"}),
          MenuEntry("health: force stopping", {"state": "stopping"}),
          MenuEntry("health: force down", {"state": "down"})),
    cli=(CliVerb("health", "force the health status: up|stopping|down",
                 (CliArg("state", "UP|STOPPING|DOWN"),)),),
    journal=("set", "server", REF, "health"),
    restore=Recover(_health_restore, order=60),
    example={"state": "down"},
)


def _agent_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    state = params["state"]
    if t.before.get("agent") in ("none", "disabled"):
        b.say(f"{t.name} has no enabled agent check: HAProxy will refuse")
    b.say(f"the agent of {t.name} is marked {state.upper()}"
          + (": the server takes no traffic" if state == "down" else ""))
    b.undo(state="down" if t.before.get("agent_down") else "up")


def _agent_restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Derived:
    if differs("agent_down", before, current):
        return ({"state": "down" if before["agent_down"] else "up"},
                was("agent_down", before, current))
    return None


AGENT = ActionSpec(
    "agent", "server", "set agent {state} on",
    command=lambda p, ref: build_command("set", "server", ref, "agent", p["state"]),
    impact=_agent_impact, predict=_healthy,
    params=(choice("state", "up", "down"),),
    menu=(MenuEntry("agent: up", {"state": "up"}),
          MenuEntry("agent: down", {"state": "down"})),
    cli=(CliVerb("agent", "force the agent status: up|down", (CliArg("state", "UP|DOWN"),)),),
    journal=("set", "server", REF, "agent"),
    restore=Recover(_agent_restore, order=70),
    example={"state": "down"},
)


# --------------------------------------------------------------------------- checks on/off

def _checks(what: str, key: str) -> tuple[Any, Any]:
    """Impact and restore of ``enable|disable health|agent``; *key*: its ``before`` key."""
    label = f"{what} checks"

    def impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
        op, server = params["op"], t.name
        current = t.before.get(key)
        if current == "none":
            b.say(f"{server} has no {label[:-1]} configured"
                  + (": HAProxy will refuse" if what == "agent" and op == "enable" else ""))
        elif current == f"{op}d":
            b.say(f"{label} of {server} are already {op}d: nothing changes")
        elif op == "disable":
            b.say(f"{label} of {server} stop: it stays {t.before.get('status') or 'as it is'} "
                  "and failures go unnoticed")
        else:
            b.say(f"{label} of {server} start again and decide its state")
        if current in ("enabled", "disabled"):
            b.undo(op=current[:-1])

    def restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Derived:
        if before.get(key) in ("enabled", "disabled") and differs(key, before, current):
            return {"op": before[key][:-1]}, was(key, before, current)
        return None

    return impact, restore


_health_checks = _checks("health", "check")
HEALTH_CHECK = ActionSpec(
    "health_check", "server", "{op} health checks of",
    command=lambda p, ref: build_command(p["op"], "health", ref),
    impact=_health_checks[0], params=(choice("op", "enable", "disable"),),
    menu=(MenuEntry("health checks: enable", {"op": "enable"}),
          MenuEntry("health checks: disable", {"op": "disable"})),
    cli=(CliVerb("check", "enable or disable health checks", (CliArg("op", "enable|disable"),)),),
    journal=(("enable", "disable"), "health", REF),
    restore=Recover(_health_checks[1], order=40),
    example={"op": "disable"},
)

_agent_checks = _checks("agent", "agent")
AGENT_CHECK = ActionSpec(
    "agent_check", "server", "{op} agent checks of",
    command=lambda p, ref: build_command(p["op"], "agent", ref),
    impact=_agent_checks[0], params=(choice("op", "enable", "disable"),),
    menu=(MenuEntry("agent checks: enable", {"op": "enable"}),
          MenuEntry("agent checks: disable", {"op": "disable"})),
    cli=(CliVerb("agent-check", "enable or disable agent checks",
                 (CliArg("op", "enable|disable"),)),),
    journal=(("enable", "disable"), "agent", REF),
    restore=Recover(_agent_checks[1], order=50),
    example={"op": "disable"},
)
