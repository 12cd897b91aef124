"""``haconsole server|frontend|counters|table|map|acl ...``: runtime changes from a shell.

Each change prints the exact command(s) and their impact, asks for confirmation on a
terminal (``y`` or, for a dangerous one, the name typed), sends, prints HAProxy's
answer and the runtime-only note, and journals every attempt, refused ones too.

Exit codes: 0 done; 1 HAProxy-side problem (no such server, socket level too low,
HAProxy refused, no connection); 2 refused before anything was sent (bad name or
value, no confirmation, ``--read-only``). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn

from console.haproxy.actions import registry
from console.haproxy.actions.spec import ActionSpec, CliArg, CliVerb, NotOffered
from console.haproxy.errors import HAProxyError, NotFound, ValidationError
from console.haproxy.safe_text import visible, visible_lines
from console.haproxy.statefs import StateError
from console.haproxy.validate import seconds

if TYPE_CHECKING:
    from console.cli import Target
    from console.haproxy.actions import Plan

COMMANDS = ("server", "frontend", "counters", "table", "map", "acl")
EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2


class Refused(Exception):
    """Refused before sending; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_REFUSED, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


# --------------------------------------------------------------------------- parsers

def _yes(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true",
                   help="confirm without asking (needed when stdin is not a terminal)")


def _sub(parent: argparse.ArgumentParser) -> Any:
    return parent.add_subparsers(dest="action", metavar="ACTION", required=True,
                                 parser_class=_OneLineParser)


def _arg(p: argparse.ArgumentParser, arg: CliArg) -> None:
    p.add_argument(arg.dest, metavar=arg.metavar, help=arg.help,
                   nargs="?" if arg.optional else None)


def _flag_dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _verbs(scope: str) -> list[tuple[ActionSpec, CliVerb]]:
    """The command-line verbs of the specs of *scope*, in the order of the help."""
    verbs = [(s, v) for s in registry.specs(scope) if not isinstance(s.cli, NotOffered)
             for v in s.cli]
    return sorted(verbs, key=lambda sv: sv[1].rank)


def _add_change_parsers(sub: Any) -> dict[str, Any]:
    """``haconsole SCOPE VERB TARGET ARGS`` for every spec offered on the command line,
    from the registry; the subcommands of each scope, to add more to."""
    out: dict[str, Any] = {}
    for scope in registry.SCOPES.values():
        groups: dict[str, list[CliVerb]] = {}
        for _, verb in _verbs(scope.name):
            groups.setdefault(verb.verb, []).append(verb)
        if not groups:
            continue
        out[scope.name] = parent = _sub(sub.add_parser(scope.name, help=scope.cli_help))
        for name, verbs in groups.items():
            base = next((v for v in verbs if v.flag is None), verbs[0])
            p = parent.add_parser(name, help=base.help)
            for arg in ((scope.target,) if scope.target else ()) + base.args:
                _arg(p, arg)
            for v in verbs:
                if v.flag is not None:
                    p.add_argument(v.flag, action="store_true", help=v.help)
            _yes(p)
    return out


def chosen(args: argparse.Namespace) -> tuple[ActionSpec, dict[str, Any]]:
    """The spec and the parameters ``haconsole SCOPE VERB ...`` asks for."""
    verbs = [(s, v) for s, v in _verbs(args.command) if v.verb == args.action]
    flagged = [sv for sv in verbs if sv[1].flag and getattr(args, _flag_dest(sv[1].flag), False)]
    spec, verb = (flagged or [sv for sv in verbs if sv[1].flag is None])[0]
    params = dict(verb.fixed)
    for arg in verb.args:
        params[arg.dest] = getattr(args, arg.dest, None)
    return spec, params


def add_parsers(sub: Any) -> None:
    """Add the change commands to the main parser's subcommands."""
    server = _add_change_parsers(sub)["server"]
    p = server.add_parser("drain-to-zero", help="DRAIN, wait for 0 sessions, then MAINT")
    p.add_argument("ref", metavar="BACKEND/SERVER")
    p.add_argument("--timeout", type=seconds, default=300.0, metavar="S",
                   help="give up waiting after S seconds (default 300)")
    p.add_argument("--poll", type=seconds, default=1.0, metavar="S", help="poll interval")
    p.add_argument("--on-timeout", choices=("keep", "maint", "ready"), default=None,
                   help="without a terminal: what to do on timeout (default keep DRAIN)")
    _yes(p)

    table = _sub(sub.add_parser("table", help="stick tables: list, show, clear"))
    table.add_parser("list", help="every table")
    p = table.add_parser("show", help="entries of a table")
    p.add_argument("name", metavar="TABLE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--key", metavar="K")
    g.add_argument("--data", metavar="'data.X OP V'", help="e.g. 'data.gpc0 gt 0'")
    p = table.add_parser("clear", help="clear one key, or every unused entry")
    p.add_argument("name", metavar="TABLE")
    p.add_argument("--key", metavar="K")
    _yes(p)

    for kind in ("map", "acl"):
        sp = _sub(sub.add_parser(kind, help=f"{kind}s: list, show, change (runtime only)"))
        sp.add_parser("list", help=f"every {kind}")
        p = sp.add_parser("show", help="entries")
        p.add_argument("ref", metavar="#ID|FILE")
        p.add_argument("--filter", metavar="TEXT", help="only entries containing TEXT")
        verbs = ("add", "set", "del") if kind == "map" else ("add", "del")
        for verb in verbs:
            p = sp.add_parser(verb, help=f"{verb} an entry")
            p.add_argument("ref", metavar="#ID|FILE")
            p.add_argument("key", metavar="KEY" if kind == "map" else "PATTERN")
            if kind == "map" and verb != "del":
                p.add_argument("value", metavar="VALUE")
            _yes(p)


# --------------------------------------------------------------------------- running

def _out(text: str = "") -> None:
    """One line on stdout; control characters in it (from HAProxy, a map...) escaped."""
    print(visible(text), flush=True)


def _out_lines(text: str) -> None:
    """Lines on stdout (an answer of HAProxy): line breaks kept, other controls escaped."""
    print(visible_lines(text, tab=False), flush=True)


def _err(text: str) -> None:
    print(f"haconsole: {visible(text)}", file=sys.stderr, flush=True)


def _target(args: argparse.Namespace) -> Target:
    from console.cli import resolve_target

    target = resolve_target(args, discover=False)
    if not target.socket:
        target = resolve_target(args)
    if not target.socket:
        raise NotFound("this command needs the stats socket", hint="give -s SOCKET")
    return target


def _attempt(args: argparse.Namespace) -> str:
    skip = {"command", "action", "yes", "socket", "master", "config", "url", "instance",
            "settings", "interval", "read_only", "theme"}
    words = [args.command, args.action]
    flags = {_flag_dest(v.flag) for s in registry.specs() if not isinstance(s.cli, NotOffered)
             for v in s.cli if v.flag}
    for k, v in vars(args).items():
        if k in skip or v in (None, False):
            continue
        option = k in ("timeout", "poll", "on_timeout", "data", "filter") or (
            k == "key" and args.command == "table") or k in flags
        words.append(f"--{k.replace('_', '-')}={v}" if option else str(v))
    return "haconsole " + " ".join(words)


def _show_plan(plan: Plan) -> None:
    _out(plan.summary)
    for c in plan.commands:
        _out(f"  command: {c}")
    for i, line in enumerate(plan.impact):
        _out(f"  {'impact: ' if i == 0 else '        '} {line}")
    if plan.undo_commands:
        _out("  undo:    " + " ; ".join(plan.undo_commands))
    for why in plan.no_undo:
        _out(f"  undo:    none ({why})")
    _out(f"  needs:   level {plan.required_level}")


def _confirm(plan: Plan, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Refused("not confirmed: stdin is not a terminal; add --yes to confirm")
    try:
        if plan.dangerous and plan.confirm_word:
            answer = input(f"Dangerous. Type {plan.confirm_word} to confirm: ").strip()
            ok = answer == plan.confirm_word
        else:
            ok = input("Send? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        ok = False
    if not ok:
        raise Refused("not confirmed: nothing was sent")


def _report(result: Any) -> int:
    for o in result.outcomes:
        if o.sent:
            _out(f"sent: {o.command}")
            answer = (o.answer or "").strip()
            _out_lines(f"HAProxy: {answer}" if answer else "HAProxy: (no answer: done)")
        elif o.error:
            _out(f"failed (the answer is unknown): {o.command}")
        else:
            _out(f"not sent: {o.command}")
    for w in result.warnings:
        _err(f"warning: {w}")
    if not result.ok:
        _err(str(result.error))
        return EXIT_ERROR
    if result.plan.runtime_only_note:
        _out(result.plan.runtime_only_note)
    return EXIT_OK


async def _check_level(client: Any, target: Target, kind: str, what: str) -> None:
    from console.haproxy.actions import haproxy_version, read_only, required_level, socket_level

    level = await socket_level(client)
    version = await haproxy_version(client)
    if kind not in read_only(level, False, version):
        need = required_level(kind, version)
        since = " on HAProxy 3.4 and later" if need != required_level(kind) else ""
        raise Refused(f"not allowed: the socket {target.socket} is at level {level or '?'}; "
                      f"'{what}' needs level {need}{since} (use a socket with 'level {need}')",
                      EXIT_ERROR)


async def _change(args: argparse.Namespace, target: Target, kind: str,
                  make_plan: Callable[[Any], Awaitable[Plan]]) -> int:
    from console.haproxy.actions import execute
    from console.haproxy.transport import RuntimeClient

    client = RuntimeClient(target.socket or "")
    await _check_level(client, target, kind, f"{args.command} {args.action}")
    plan = await make_plan(client)
    _show_plan(plan)
    _confirm(plan, args.yes)
    return _report(await execute(plan, client, target))


def _ref(text: str) -> tuple[str, str]:
    from console.haproxy.validate import check_name, check_server_ref

    if isinstance(text, str) and text.startswith("*/") and text.count("/") == 1:
        return "*", check_name(text[2:], "server name")
    return check_server_ref(text)


async def _server(args: argparse.Namespace, target: Target) -> int:
    from console.haproxy import actions
    from console.haproxy.errors import NoSuchObject

    backend, server = _ref(args.ref)
    if args.action == "drain-to-zero":
        if backend == "*":
            raise ValidationError("drain-to-zero takes one server", hint="give BACKEND/SERVER")
        return await _drain_to_zero(args, target, backend, server)
    spec, params = chosen(args)
    kind = spec.kind
    actions.validate(actions.Action.server(kind, [("x", server)], **params))

    async def make(client: Any) -> Plan:
        snapshot, states = await actions.read_state(client)
        refs = (actions.expand_same_name(snapshot, server) if backend == "*"
                else [(backend, server)])
        if not refs:
            raise NoSuchObject(f"no server named {server} in any backend",
                               hint="list servers with: haconsole show servers")
        return actions.plan(actions.Action.server(kind, refs, **params), snapshot, states,
                            instance=target.name)

    return await _change(args, target, kind, make)


async def _frontend(args: argparse.Namespace, target: Target) -> int:
    from console.haproxy import actions
    from console.haproxy.model import Snapshot

    spec, params = chosen(args)
    kind = spec.kind
    action = actions.Action.frontend(kind, [args.name], **params)
    actions.validate(action)

    async def make(client: Any) -> Plan:
        snapshot = Snapshot.from_text(None, await client.run("show stat -1 1 -1"))
        return actions.plan(action, snapshot, None, instance=target.name)

    return await _change(args, target, kind, make)


async def _counters(args: argparse.Namespace, target: Target) -> int:
    from console.haproxy import actions
    from console.haproxy.model import Snapshot

    kind = chosen(args)[0].kind

    async def make(client: Any) -> Plan:
        return actions.plan(actions.Action(kind), Snapshot.from_rows([]), None,
                            instance=target.name,
                            version=await actions.haproxy_version(client))

    return await _change(args, target, kind, make)


async def _tables(args: argparse.Namespace, target: Target) -> int:
    from console.haproxy import tables
    from console.haproxy.transport import RuntimeClient
    from console.haproxy.validate import check_name, check_text

    kind, a = args.command, args.action
    client = RuntimeClient(target.socket or "")
    if a == "list":
        if kind == "table":
            for t in await tables.list_tables(client):
                _out(f"{t.name}  type {t.type}  size {t.size}  used {t.used}")
        else:
            for m in await tables.list_maps(client, kind):
                count = "" if m.entry_count is None else f"  {m.entry_count} entries"
                _out(f"#{m.id}  {m.name or '(inline)'}{count}")
        return EXIT_OK
    if a == "show":
        if kind == "table":
            info, entries = await tables.show_table(client, args.name, key=args.key,
                                                    data=args.data)
            _out(f"# table {info.name}: type {info.type}, size {info.size}, used {info.used}")
            for e in entries:
                data = " ".join(f"{k}={v}" for k, v in e.data.items())
                _out(f"{e.key}  use={e.use} exp={e.exp}  {data}".rstrip())
        elif kind == "map":
            for _, k, v in await tables.map_entries(client, args.ref, args.filter):
                _out(f"{k}  {v}")
        else:
            for _, pattern in await tables.acl_entries(client, args.ref, args.filter):
                _out(pattern)
        return EXIT_OK
    if kind == "table":
        check_name(args.name, "table name")
        if args.key is not None:
            check_text(args.key, "table key")
        change = "table_clear_key" if args.key is not None else "table_clear"
        return await _change(args, target, change,
                             lambda c: tables.prepare_table_clear(c, args.name, args.key))
    change = f"{kind}_{a}"
    tables.check_map_ref(args.ref, kind)
    check_text(args.key, "map key" if kind == "map" else "acl pattern")
    if kind == "map":
        value = getattr(args, "value", None)
        if value is not None:
            check_text(value, "map value")
        return await _change(args, target, change, lambda c: tables.prepare_map_change(
            c, change, args.ref, args.key, value))
    return await _change(args, target, change,
                         lambda c: tables.prepare_acl_change(c, change, args.ref, args.key))


# --------------------------------------------------------------------------- drain

def _progress_printer() -> Callable[[Any], None]:
    last: list[Any] = [None, -1e9]

    def show(p: Any) -> None:
        if p.phase == "draining":
            key = (p.scur, p.qcur)
            if key == last[0] and p.elapsed - last[1] < 10 and not sys.stdout.isatty():
                return
            last[0], last[1] = key, p.elapsed
            _out(f"  {p.elapsed:6.1f} s  {p.status:<10} sessions {p.scur}  queued {p.qcur}")
        elif p.phase == "cancelled":
            _err(p.message)
        elif p.message and p.phase != "failed":
            _out(p.message)

    return show


def _ask_on_timeout() -> str:
    if not sys.stdin.isatty():
        return "keep"
    prompt = ("[w]ait again, [m]aint now (sessions continue), [k]eep DRAIN, "
              "[r]eady (undo)? ")
    try:
        answer = input(prompt).strip().lower()[:1]
    except EOFError:
        answer = "k"
    return {"w": "wait", "m": "maint", "r": "ready"}.get(answer, "keep")


async def _drain_to_zero(args: argparse.Namespace, target: Target, backend: str,
                         server: str) -> int:
    from console.haproxy import actions, drain
    from console.haproxy.transport import RuntimeClient

    if not 0 < args.timeout <= 86400 or not 0.05 <= args.poll <= 60:
        raise ValidationError("--timeout or --poll out of range",
                              hint="--timeout 0 to 86400 s, --poll 0.05 to 60 s")
    client = RuntimeClient(target.socket or "")
    await _check_level(client, target, "server_state", "server drain-to-zero")
    snapshot, states = await actions.read_state(client)
    plan = drain.plan_drain_to_zero(snapshot, states, backend, server, args.timeout)
    _show_plan(plan)
    _confirm(plan, args.yes)
    show = _progress_printer()
    while True:
        result = await drain.drain_to_zero(client, backend, server, timeout=args.timeout,
                                           poll=args.poll, on_progress=show, target=target)
        if isinstance(result, drain.Drained):
            return EXIT_OK
        if not isinstance(result, drain.TimedOut):
            _err(result.message)
            return EXIT_ERROR
        choice = args.on_timeout or _ask_on_timeout()
        if choice == "wait":
            continue
        if choice == "keep":
            _err(f"{result.message} (force it with: haconsole server maint "
                 f"{backend}/{server})")
            return EXIT_ERROR
        snapshot, states = await actions.read_state(client, backend)
        state = "maint" if choice == "maint" else "ready"
        plan = actions.plan(actions.Action.server("server_state", [(backend, server)],
                                                  state=state), snapshot, states)
        code = _report(await actions.execute(plan, client, target))
        return code if state == "maint" else EXIT_ERROR


# --------------------------------------------------------------------------- entry

_READS = {("table", "list"), ("table", "show"), ("map", "list"), ("map", "show"),
          ("acl", "list"), ("acl", "show")}


def run(args: argparse.Namespace) -> int:
    """Dispatch ``haconsole server|frontend|counters|table|map|acl ...``."""
    from console.haproxy.actions import record_refusal

    change = (args.command, args.action) not in _READS
    target: Any = None
    handlers = {"server": _server, "frontend": _frontend, "counters": _counters,
                "table": _tables, "map": _tables, "acl": _tables}
    try:
        target = _target(args)
        if change and target.read_only:
            raise Refused("read-only: this command changes HAProxy and --read-only (or the "
                          "instance's read_only setting) forbids it; nothing was sent")
        return asyncio.run(handlers[args.command](args, target))
    except (Refused, HAProxyError) as exc:
        if isinstance(exc, Refused):
            code = exc.code
        else:
            code = EXIT_REFUSED if isinstance(exc, (ValidationError, StateError)) else EXIT_ERROR
        message = " ".join(str(exc).split())
        if change and not getattr(exc, "journaled", False):
            record_refusal(target or args.socket or "?", _attempt(args), message)
        _err(message)
        return code
