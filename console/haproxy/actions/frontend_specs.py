"""Frontend changes: enable or disable it, its maxconn, shut it down for good.

Each kind is one :class:`~console.haproxy.actions.spec.ActionSpec`. A restore brings
back the frontend's maxconn and whether it accepts connections; a shut down frontend
comes back only with a reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.haproxy.actions.server_specs import maxconn_param, maxconn_restore, sessions
from console.haproxy.actions.spec import (
    REF,
    ActionSpec,
    Builder,
    CliArg,
    CliVerb,
    Derived,
    MenuEntry,
    Recover,
    Refuse,
    Target,
    choice,
    was,
)
from console.haproxy.actions.state import frontend_enabled
from console.haproxy.model import normalize_status
from console.haproxy.validate import build_command

FRONTEND_OP = {"OPEN": "enable", "FULL": "enable", "PAUSED": "disable"}  # STOP: shut down
# what `show stat` says of a frontend once enabled or disabled
FRONTEND_STATUS = {"enable": ("OPEN", "FULL"), "disable": ("PAUSED",)}


def _impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    op, name = params["op"], t.name
    enabled = frontend_enabled(t.before)
    status = t.before.get("status") or "?"
    if status == "STOP":
        b.say(f"frontend {name} was shut down: only a reload or restart brings it back; "
              "HAProxy will refuse")
        return
    if (op == "enable") == enabled:
        b.say(f"frontend {name} is already {status}: nothing changes")
    elif op == "disable":
        b.say(f"frontend {name} stops accepting connections (existing ones continue)")
        b.dangerous()
    else:
        b.say(f"frontend {name} accepts connections again")
    b.undo(op="enable" if enabled else "disable")


def _op_of(state: Mapping[str, Any] | None) -> str | None:
    return FRONTEND_OP.get(normalize_status(str((state or {}).get("status") or "")).kind)


def _restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Derived:
    op = _op_of(before)
    if op and (current is None or _op_of(current) != op):
        return {"op": op}, was("status", before, current)
    return None


FRONTEND = ActionSpec(
    "frontend", "frontend", "{op} frontend",
    command=lambda p, name: build_command(p["op"], "frontend", name),
    impact=_impact, params=(choice("op", "enable", "disable"),),
    expect=lambda p: {"status": FRONTEND_STATUS[p["op"]]},
    menu=(MenuEntry("disable — stop accepting connections", {"op": "disable"}),
          MenuEntry("enable", {"op": "enable"})),
    cli=(CliVerb("enable", "accept connections again", fixed={"op": "enable"}),
         CliVerb("disable", "stop accepting", fixed={"op": "disable"})),
    journal=(("enable", "disable"), "frontend", REF),
    restore=Recover(_restore, order=90, always=True),
    example={"op": "disable"},
)


def _maxconn_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    new, old = int(params["value"]), t.before.get("maxconn")
    b.say(f"maxconn {old} → {new} for frontend {t.name}"
          + (": connections above it wait in the kernel's queue" if new else ""))
    if old is not None:
        b.undo(value=old)


FRONTEND_MAXCONN = ActionSpec(
    "frontend_maxconn", "frontend", "set maxconn of frontend",
    command=lambda p, name: build_command("set", "maxconn", "frontend", name,
                                          str(int(p["value"]))),
    impact=_maxconn_impact, params=(maxconn_param(),),
    # a frontend without a limit may show an empty slim (read as None)
    expect=lambda p: {"maxconn": (int(p["value"]),) + ((None,) if not int(p["value"]) else ())},
    menu=(MenuEntry("maxconn…", prompt=("value",), prompt_label="maxconn for the frontend"),),
    cli=(CliVerb("maxconn", "set the frontend's maxconn", (CliArg("value", "N"),), rank=1),),
    journal=("set", "maxconn", "frontend", REF),
    restore=Recover(maxconn_restore, order=20, always=True),
    example={"value": "1000"},
)


def _shutdown_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    b.say(f"frontend {t.name} stops for good: its listeners close and its "
          f"{sessions(t.before.get('scur'))} are cut; only a reload or restart brings "
          "it back")
    b.dangerous()
    b.no_undo("a shut down frontend comes back only with a reload or restart")


FRONTEND_SHUTDOWN = ActionSpec(
    "frontend_shutdown", "frontend", "shut down frontend",
    command=lambda p, name: build_command("shutdown", "frontend", name),
    impact=_shutdown_impact,
    menu=(MenuEntry("shutdown — close it for good (until reload)"),),
    cli=(CliVerb("shutdown", "stop for good (until a reload)"),),
    journal=("shutdown", "frontend", REF),
    restore=Refuse("a shut down frontend comes back only with a reload or restart"),
    example={},
)
