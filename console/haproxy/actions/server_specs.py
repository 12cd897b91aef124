"""Server changes: the admin state (ready, drain, maint), cutting the sessions, maxconn,
the address, deleting a server. Weights are in :mod:`.weight_spec`, health and agent
in :mod:`.check_specs`.

Each kind is one :class:`~console.haproxy.actions.spec.ActionSpec`: its command, its
impact and undo, how it is offered, how a journal entry it wrote is restored.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from console.haproxy.actions.spec import (
    MAX_MAXCONN,
    REF,
    ActionSpec,
    Builder,
    CliArg,
    CliVerb,
    Derived,
    MenuEntry,
    NotOffered,
    Param,
    Recover,
    Refuse,
    Target,
    choice,
    differs,
    was,
)
from console.haproxy.actions.state import ServerView
from console.haproxy.errors import ValidationError
from console.haproxy.validate import Command, build_command, check_int


def sessions(n: int | None) -> str:
    return f"current sessions ({n or 0})"


# --------------------------------------------------------------------------- state

def _state_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    state, old = params["state"], t.before.get("admin_state", "ready")
    scur = t.before.get("scur")
    if state == old:
        b.say(f"{t.name} is already {state.upper() if state != 'ready' else 'ready'}: "
              "nothing changes")
    elif state == "drain":
        b.say(f"{t.name} takes no new connections (only persistent ones); its "
              f"{sessions(scur)} finish normally")
    elif state == "maint":
        b.say(f"{t.name} gets no traffic and its health checks stop; its "
              f"{sessions(scur)} continue until they end (shutdown-sessions cuts them)")
    else:
        extra = (" once its health check passes" if old == "maint"
                 and t.before.get("check") == "enabled" else "")
        b.say(f"{t.name} leaves {old.upper()} and takes new connections again{extra}")
    b.undo(state=old)


def _state_predict(v: ServerView, params: Mapping[str, Any]) -> ServerView:
    state = params["state"]
    return replace(v, blocked=state != "ready", healthy=v.healthy or state == "ready")


def _state_restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Derived:
    if before.get("admin_state") in ("ready", "drain", "maint") \
            and differs("admin_state", before, current):
        return {"state": before["admin_state"]}, was("admin_state", before, current)
    return None


SERVER_STATE = ActionSpec(
    "server_state", "server", "set state {state} on",
    command=lambda p, ref: build_command("set", "server", ref, "state", p["state"]),
    impact=_state_impact, predict=_state_predict,
    expect=lambda p: {"admin_state": (p["state"],)},
    params=(choice("state", "ready", "drain", "maint"),),
    menu=(MenuEntry("ready — back in service", {"state": "ready"}),
          MenuEntry("drain — no new sessions", {"state": "drain"}),
          MenuEntry("maint — out of service", {"state": "maint"})),
    cli=tuple(CliVerb(state, f"set state {state}: {text}", fixed={"state": state})
              for state, text in (("ready", "back to normal"), ("drain", "no new connections"),
                                  ("maint", "maintenance: no traffic"))),
    journal=("set", "server", REF, "state"),
    # the admin state last: a server coming back to ready takes traffic with the
    # weight and limits it had
    restore=Recover(_state_restore, order=90, always=True),
    example={"state": "drain"},
)


# --------------------------------------------------------------------------- sessions

def _sessions_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    b.say(f"the {sessions(t.before.get('scur'))} of {t.name} are cut now: their clients "
          "see errors")
    b.dangerous()
    b.no_undo("cut sessions cannot be restored")


SHUTDOWN_SESSIONS = ActionSpec(
    "shutdown_sessions", "server", "shut down the sessions of",
    command=lambda p, ref: build_command("shutdown", "sessions", "server", ref),
    impact=_sessions_impact,
    menu=(MenuEntry("shutdown sessions"),),
    cli=(CliVerb("shutdown-sessions", "cut every current session of the server"),),
    journal=("shutdown", "sessions", "server", REF),
    restore=Refuse("cut sessions cannot be restored, and this command changed nothing else"),
    example={},
)


# --------------------------------------------------------------------------- maxconn

def maxconn_param() -> Param:
    return Param("value", lambda v: check_int(v, "maxconn", 0, MAX_MAXCONN), default="")


def maxconn_restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Derived:
    if differs("maxconn", before, current):
        return ({"value": check_int(before["maxconn"], "maxconn", 0, MAX_MAXCONN)},
                was("maxconn", before, current))
    return None


def _maxconn_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    new, old, scur = int(params["value"]), t.before.get("maxconn"), t.before.get("scur")
    b.say(f"maxconn {old or 'none'} → {new or 'none'} for {t.name}"
          + (f"; it has {scur} sessions now, above the new limit: new requests queue"
             if new and scur and scur > new else ""))
    if old is not None:
        b.undo(value=old)


SERVER_MAXCONN = ActionSpec(
    "server_maxconn", "server", "set maxconn {value} on",
    command=lambda p, ref: build_command("set", "maxconn", "server", ref,
                                         str(int(p["value"]))),
    impact=_maxconn_impact, params=(maxconn_param(),),
    expect=lambda p: {"maxconn": (int(p["value"]),)},
    menu=(MenuEntry("maxconn…", prompt=("value",),
                    prompt_label="maxconn for the server (0 = no limit)"),),
    cli=(CliVerb("maxconn", "set the server's maxconn (0: no limit)",
                 (CliArg("value", "N"),)),),
    journal=("set", "maxconn", "server", REF),
    restore=Recover(maxconn_restore, order=20, always=True),
    example={"value": "100"},
)


# --------------------------------------------------------------------------- address

_SCOPE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_addr(addr: str) -> str:
    """An IPv4 or IPv6 address; an IPv6 scope id must be an interface name (``%eth0``)."""
    text = str(addr).strip(" ")
    hint = "give an IPv4 or IPv6 address (no host name, no port)"
    head, sep, scope = text.partition("%")
    if sep and not (_SCOPE_ID.fullmatch(scope) and ":" in head):
        raise ValidationError(f"invalid address {text[:60]!r}: the scope id after '%' must be "
                              "an interface name", hint="e.g. fe80::1%eth0 (letters, digits, "
                              "'_', '.', '-')")
    if not text.isascii():
        raise ValidationError(f"invalid address {ascii(text[:60])}", hint=hint)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValidationError(f"invalid address {text[:60]!r}", hint=hint) from None


def _check_port(port: Any) -> int | None:
    return check_int(port, "port", 1, 65535) if port not in (None, "") else None


def _addr_command(params: Mapping[str, Any], ref: str) -> Command:
    words = ["set", "server", ref, "addr", str(params["addr"])]
    if params.get("port"):
        words += ["port", str(int(params["port"]))]
    return build_command(*words)


def _addr_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    addr, port, before = params["addr"], params.get("port"), t.before
    old = f"{before.get('addr')}:{before.get('port')}"
    b.say(f"address {old} → {addr}:{port or before.get('port')}: new connections of "
          f"{t.name} go to the new address; current ones stay")
    if before.get("addr"):
        b.undo(addr=before["addr"], port=before.get("port") or None)


def _addr_restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Derived:
    if before.get("addr") and (differs("addr", before, current)
                               or differs("port", before, current)):
        port = check_int(before["port"], "port", 1, 65535) if before.get("port") else None
        return {"addr": check_addr(before["addr"]), "port": port}, was("addr", before, current)
    return None


SERVER_ADDR = ActionSpec(
    "server_addr", "server", "set address {addr} on",
    command=_addr_command, impact=_addr_impact,
    params=(Param("addr", check_addr, default=""), Param("port", _check_port)),
    menu=(MenuEntry("address and port…", prompt=("addr", "port"),
                    prompt_label="new address, optionally followed by a port: 10.0.0.5 8080"),),
    cli=(CliVerb("addr", "set the server's address (and port)",
                 (CliArg("addr", "ADDR"), CliArg("port", "PORT", optional=True))),),
    journal=("set", "server", REF, "addr"),
    restore=Recover(_addr_restore, order=10),
    example={"addr": "10.0.0.9", "port": "8080"},
)


# --------------------------------------------------------------------------- delete

def _del_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    b.say(f"{t.name} is deleted from {t.backend} (HAProxy refuses unless it is in MAINT "
          "with no connection); it comes back only with 'add server' or a reload")
    b.dangerous()
    b.no_undo("a deleted server comes back only with 'add server' or a reload")


_DEL_ONLY = NotOffered("sent only by Drift's revert of a server added at runtime, after "
                       "MAINT")
SERVER_DEL = ActionSpec(
    "server_del", "server", "delete",
    command=lambda p, ref: build_command("del", "server", ref),
    impact=_del_impact, predict=lambda v, p: replace(v, blocked=True, weight=0),
    menu=_DEL_ONLY, cli=_DEL_ONLY,
    journal=("del", "server", REF),
    restore=Refuse("a deleted server comes back only with 'add server' or a reload"),
    example={},
)
