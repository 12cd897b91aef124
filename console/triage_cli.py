"""``haconsole errors`` and ``haconsole sessions``: the why behind the counters.

``haconsole errors [--json]`` prints ``show errors``: per proxy, the last invalid
request (frontends) or response (backends) HAProxy captured, with the client, the
time, the reason in words, and the bytes received, the faulty one between ``⟦ ⟧``.
Every byte is shown through :func:`~console.haproxy.safe_text.visible`: a captured
buffer is the client's (or the server's), and may hold terminal escapes.

``haconsole sessions [--older 30s] [--by frontend|backend|server|client] [--limit N]
[--json]`` prints the streams HAProxy serves, grouped, the oldest first (``older``
is sent to HAProxy from 2.9, filtered here before; the URI is asked for from 3.1).

``haconsole sessions shutdown ID [--yes]`` cuts one stream: planned, shown,
confirmed, journaled like every change (:mod:`console.change_cli`); it needs a
socket at level admin.

Exit codes as :mod:`console.change_cli`: 0 done, 1 HAProxy-side problem, 2 refused
before anything was sent. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from console.change_cli import Refused, change, err, failed, out, refuse_read_only, yes
from console.haproxy.captured_errors import CapturedErrors, dump_lines
from console.haproxy.errors import HAProxyError, NoSuchObject, ValidationError
from console.haproxy.safe_text import visible
from console.haproxy.sessions import (
    GROUP_BY,
    Sessions,
    check_session_id,
    parse_older,
)
from console.haproxy.triage_read import read_errors, read_sessions
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.haproxy.plans import Plan
    from console.instance import Target

COMMANDS = ("errors", "sessions")
DEFAULT_LIMIT = 50


def add_parsers(sub: Any) -> None:
    """Add ``errors`` and ``sessions`` (and ``sessions shutdown``) to the subcommands."""
    p = sub.add_parser("errors", help="the last invalid request/response captured per "
                       "proxy (show errors), the faulty byte marked")
    p.add_argument("--json", action="store_true", help="JSON instead of text")
    s = sub.add_parser("sessions", help="long-running and stuck streams (show sess), "
                       "grouped; 'sessions shutdown ID' cuts one")
    s.add_argument("--older", metavar="AGE",
                   help="only streams at least AGE old (30s, 5m, 1h; no unit: seconds)")
    s.add_argument("--by", choices=GROUP_BY, default="backend",
                   help="group by (default backend)")
    s.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"streams listed in text, oldest first (default {DEFAULT_LIMIT}; "
                   "--json lists up to 10,000)")
    s.add_argument("--json", action="store_true", help="JSON instead of text")
    inner = s.add_subparsers(dest="sessions_action", metavar="ACTION")
    sh = inner.add_parser("shutdown", help="cut one stream: its client's connection is "
                          "closed (needs level admin; journaled)")
    sh.add_argument("id", metavar="ID", help="the stream's 0x... id, as listed")
    yes(sh)


# --------------------------------------------------------------------------- errors

def _errors_text(result: CapturedErrors) -> None:
    total = "?" if result.total_events is None else result.total_events
    out(f"{total} invalid requests/responses captured since HAProxy started "
        f"(it keeps the last per proxy and direction); as of {result.captured_at or '?'}")
    if not result.entries:
        out("nothing captured")
    for e in result.entries:
        out("")
        side = (f"frontend {e.frontend or '?'}" if e.direction == "request"
                else f"backend {e.backend or '?'}, server {e.server or '-'}, "
                f"frontend {e.frontend or '?'}")
        out(f"[{e.time}] {e.proxy}: {e.reason}")
        out(f"  {side}; client {e.client or '?'}; event #{e.event if e.event is not None else '?'}")
        fb = e.faulty_byte
        if fb is not None:
            out(f"  faulty byte at position {e.position}: 0x{fb:02x} "
                f"({visible(bytes([fb]).decode('latin-1'))})")
        else:
            out(f"  faulty byte: position {e.position} (outside the bytes captured)")
        if e.state:
            out(f"  parser state: {e.state}")
        for offset, text, here in dump_lines(e):
            out(f"  {'>' if here else ' '} {offset:05d}  {text}")
        if e.truncated:
            out(f"  (the capture holds {e.length} bytes; {len(e.buffer)} shown)")
    if result.left_out:
        out(f"... and {result.left_out} more entries not shown")


async def _errors(target: Target, as_json: bool) -> int:
    from console.haproxy.transport import RuntimeClient

    client = RuntimeClient(target.socket or "")
    result = await read_errors(client)
    if as_json:
        json.dump({"captured_at": _v(result.captured_at), "total_events": result.total_events,
                   "entries": [e.to_json() for e in result.entries],
                   "left_out": result.left_out}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _errors_text(result)
    return ExitStatus.OK



def _v(text: str | None) -> str | None:
    return None if text is None else visible(text)


# --------------------------------------------------------------------------- sessions

def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


def _sessions_text(result: Sessions, by: str, limit: int, older: float | None) -> None:
    scope = f" at least {older:g} s old" if older is not None else ""
    out(f"{result.total} streams{scope}"
        + (f" ({result.cli_streams} CLI streams not counted)" if result.cli_streams else ""))
    groups = result.grouped(by)
    if groups:
        width = max(len(visible(g.key)) for g in groups[:200])
        out("")
        out(f"{by:<{width}}  {'streams':>7}  {'oldest':>7}  oldest id")
        for g in groups[:200]:
            out(f"{visible(g.key):<{width}}  {g.count:>7}  {_age(g.oldest):>7}  "
                f"{g.oldest_id or '-'}")
        if len(groups) > 200:
            out(f"... {len(groups) - 200} more groups (use --json for all)")
    rows = result.rows[:max(0, limit)]
    if rows:
        out("")
        out("oldest streams:")
        for s in rows:
            route = "/".join(x for x in (s.backend, s.server) if x) or "-"
            uri = f"  {s.uri}" if s.uri else ""
            out(f"  {s.id}  {_age(s.age):>7}  {s.client or '?'}  {s.frontend or '?'} → "
                f"{route}{uri}")
        more = result.total - len(rows)
        if more > 0:
            out(f"  ... {more} more (raise --limit, or --json)")
    if result.unparsed:
        err(f"warning: {result.unparsed} streams of HAProxy's answer could not be read")


async def _sessions(args: argparse.Namespace, target: Target) -> int:
    from console.haproxy.transport import RuntimeClient

    older = parse_older(args.older) if args.older is not None else None
    if args.limit < 0:
        raise ValidationError("--limit must be 0 or more")
    client = RuntimeClient(target.socket or "")
    result, command = await read_sessions(client, older)
    if args.json:
        json.dump({"command": command, "older": older, "total": result.total,
                   "listed": len(result.rows), "left_out": result.left_out,
                   "cli_streams": result.cli_streams, "unparsed": result.unparsed,
                   "by": args.by, "groups": [g.to_json() for g in result.grouped(args.by)],
                   "sessions": [s.to_json() for s in result.rows]},
                  sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _sessions_text(result, args.by, args.limit, older)
    return ExitStatus.OK


async def _shutdown(args: argparse.Namespace, target: Target) -> int:
    from console.haproxy import actions
    from console.haproxy.model import Snapshot

    sid = check_session_id(args.id)
    action = actions.Action("session_shutdown", (), {"id": sid})
    actions.validate(action)

    async def make(client: Any) -> Plan:
        result, _ = await read_sessions(client, None)
        found = next((s for s in result.rows if s.id == sid), None)
        if found is None and not result.left_out:
            raise NoSuchObject(f"no stream {sid}: it may have ended already",
                               hint="list the streams with: haconsole sessions")
        about = found.to_json() if found else None
        return actions.plan(action, Snapshot.from_rows([]), None,
                            instance=target.name, about=about)

    return await change(args, target, "session_shutdown", make)


# --------------------------------------------------------------------------- entry

def _attempt(args: argparse.Namespace) -> str:
    return visible(f"haconsole sessions shutdown {args.id}")


def run(args: argparse.Namespace) -> int:
    """Dispatch ``haconsole errors`` and ``haconsole sessions [shutdown]``."""
    from console.actions_cli import _target

    changes = args.command == "sessions" and getattr(args, "sessions_action", None) == "shutdown"
    target: Any = None
    try:
        target = _target(args)
        if args.command == "errors":
            return asyncio.run(_errors(target, args.json))
        if not changes:
            return asyncio.run(_sessions(args, target))
        args.action = "shutdown"
        refuse_read_only(target)
        return asyncio.run(_shutdown(args, target))
    except (Refused, HAProxyError) as exc:
        return failed(exc, changes=changes, target=target, socket=args.socket,
                      attempt=lambda: _attempt(args))
