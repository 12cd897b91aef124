"""Cutting one stream: ``shutdown session <id>``.

The target is a stream's id as ``show sess`` prints it (``0x…``, checked as hex): the
change has no scope target of its own, like clearing counters, and is planned alone.
The stream's client, frontend, backend, server and age (read just before, when known)
are the state before the journal keeps. HAProxy allows it at level admin only; a cut
connection cannot be brought back. From 3.0 the client's connection is closed; 2.6 and
2.8 answer an HTTP client's stream with a 502 and keep its connection alive (checked
by the integration tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.haproxy.actions.spec import ActionSpec, Builder, NotOffered, Param, Refuse, Target
from console.haproxy.safe_text import visible
from console.haproxy.sessions import check_session_id
from console.haproxy.validate import build_command

_NO_UNDO = "a closed connection cannot be reopened: the client has to connect again"


def _impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    s = t.before
    if s:
        route = "/".join(x for x in (s.get("backend"), s.get("server")) if x) or "no backend"
        age = s.get("age_text") or "?"
        uri = f", {s['uri']}" if s.get("uri") else ""
        b.say(visible(f"stream {params['id']} is killed: the connection of client "
                      f"{s.get('client') or '?'} (frontend {s.get('frontend') or '?'} → "
                      f"{route}, age {age}{uri}) is closed"))
    else:
        b.say(f"stream {params['id']} is killed: its client's connection is closed")
    b.say("whatever it was sending or receiving is lost; the client sees its connection "
          "close and may retry (before 3.0, an HTTP client gets a 502 instead and its "
          "keep-alive connection stays open)")
    b.no_undo(_NO_UNDO)


SESSION_SHUTDOWN = ActionSpec(
    "session_shutdown", "session", "shut down session {id}",
    command=lambda p, ref: build_command("shutdown", "session", p["id"]),
    impact=_impact, params=(Param("id", check_session_id, default=""),),
    menu=NotOffered("listed and cut from 'haconsole sessions' (sessions shutdown ID)"),
    cli=NotOffered("its own command: haconsole sessions shutdown ID"),
    journal=("shutdown", "session"),
    restore=Refuse(_NO_UNDO),
    example={"id": "0x55d9c34e6a50"},
)
