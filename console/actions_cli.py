"""``haconsole server|frontend|counters|table|map|acl ...``: runtime changes from a shell.

The ``server``, ``frontend`` and ``counters`` commands are built from the registry of
action specs (:mod:`console.haproxy.actions.registry`): each spec's verbs, with the
scope's target and the verb's arguments; :func:`chosen` maps the arguments back to
the spec and its parameters. Only ``server drain-to-zero``, which is several changes
over time, is written here. ``table``, ``map`` and ``acl`` are in
:mod:`console.tables_cli`.

Each change prints the exact command(s) and their impact, asks for confirmation on a
terminal, sends, prints HAProxy's answer and journals every attempt, refused ones too
(:mod:`console.change_cli`, which also gives the exit codes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from console import tables_cli
from console.change_cli import (
    Refused,
    change,
    check_level,
    confirm,
    err,
    failed,
    out,
    refuse_read_only,
    report,
    show_plan,
    sub,
    yes,
)
from console.haproxy.actions import registry
from console.haproxy.actions.spec import ActionSpec, CliArg, CliVerb, NotOffered
from console.haproxy.errors import HAProxyError, NotFound, ValidationError
from console.haproxy.validate import seconds
from console.hints import command
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.haproxy.actions import Plan
    from console.instance import Target

COMMANDS = ("server", "frontend", "counters", "table", "map", "acl")


# --------------------------------------------------------------------------- parsers

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


def _add_change_parsers(parsers: Any) -> dict[str, Any]:
    """``haconsole SCOPE VERB TARGET ARGS`` for every spec offered on the command line,
    from the registry; the subcommands of each scope, to add more to."""
    out: dict[str, Any] = {}
    for scope in registry.SCOPES.values():
        groups: dict[str, list[CliVerb]] = {}
        for _, verb in _verbs(scope.name):
            groups.setdefault(verb.verb, []).append(verb)
        if not groups:
            continue
        out[scope.name] = parent = sub(parsers.add_parser(scope.name, help=scope.cli_help))
        for name, verbs in groups.items():
            base = next((v for v in verbs if v.flag is None), verbs[0])
            p = parent.add_parser(name, help=base.help)
            for arg in ((scope.target,) if scope.target else ()) + base.args:
                _arg(p, arg)
            for v in verbs:
                if v.flag is not None:
                    p.add_argument(v.flag, action="store_true", help=v.help)
            yes(p)
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


def add_parsers(parsers: Any) -> None:
    """Add the change commands to the main parser's subcommands."""
    server = _add_change_parsers(parsers)["server"]
    p = server.add_parser("drain-to-zero", help="DRAIN, wait for 0 sessions, then MAINT")
    p.add_argument("ref", metavar="BACKEND/SERVER")
    p.add_argument("--timeout", type=seconds, default=300.0, metavar="S",
                   help="give up waiting after S seconds (default 300)")
    p.add_argument("--poll", type=seconds, default=1.0, metavar="S", help="poll interval")
    p.add_argument("--on-timeout", choices=("keep", "maint", "ready"), default=None,
                   help="without a terminal: what to do on timeout (default keep DRAIN)")
    yes(p)
    tables_cli.add_parsers(parsers)


# --------------------------------------------------------------------------- running

def _target(args: argparse.Namespace) -> Target:
    from console.instance import Request, resolve

    target = resolve(Request.from_args(args), discover=False)
    if not target.socket:
        target = resolve(Request.from_args(args))
    if not target.socket:
        raise NotFound("this command needs the stats socket", hint="give -s SOCKET")
    return target


def _attempt(args: argparse.Namespace) -> str:
    skip = {"command", "action", "yes", "socket", "master", "config", "url", "instance",
            "settings", "interval", "read_only", "theme", "ssh", "ssh_config", "fleet",
            "wave"}
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

    return await change(args, target, kind, make)


def fleet_plan(args: argparse.Namespace) -> tuple[str, Callable[[Target, Any],
                                                                 Awaitable[Plan]]]:
    """The kind of change and how to plan it on one node (``--fleet``): a server or a
    frontend change, its names and values validated before any node is asked."""
    from console.haproxy import actions
    from console.haproxy.errors import NoSuchObject
    from console.haproxy.model import Snapshot

    spec, params = chosen(args)
    kind = spec.kind
    if args.command == "server":
        backend, server = _ref(args.ref)
        actions.validate(actions.Action.server(kind, [("x", server)], **params))

        async def make_server(target: Target, client: Any) -> Plan:
            snapshot, states = await actions.read_state(client)
            refs = (actions.expand_same_name(snapshot, server) if backend == "*"
                    else [(backend, server)])
            if not refs:
                raise NoSuchObject(f"no server named {server} in any backend")
            return actions.plan(actions.Action.server(kind, refs, **params), snapshot,
                                states, instance=target.name)

        return kind, make_server
    action = actions.Action.frontend(kind, [args.name], **params)
    actions.validate(action)

    async def make_frontend(target: Target, client: Any) -> Plan:
        snapshot = Snapshot.from_text(None, await client.run("show stat -1 1 -1"))
        return actions.plan(action, snapshot, None, instance=target.name)

    return kind, make_frontend


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

    return await change(args, target, kind, make)


async def _counters(args: argparse.Namespace, target: Target) -> int:
    from console.haproxy import actions
    from console.haproxy.model import Snapshot

    kind = chosen(args)[0].kind

    async def make(client: Any) -> Plan:
        return actions.plan(actions.Action(kind), Snapshot.from_rows([]), None,
                            instance=target.name,
                            version=await actions.haproxy_version(client))

    return await change(args, target, kind, make)


# --------------------------------------------------------------------------- drain

def _progress_printer() -> Callable[[Any], None]:
    last: list[Any] = [None, -1e9]

    def show(p: Any) -> None:
        if p.phase == "draining":
            key = (p.scur, p.qcur)
            if key == last[0] and p.elapsed - last[1] < 10 and not sys.stdout.isatty():
                return
            last[0], last[1] = key, p.elapsed
            out(f"  {p.elapsed:6.1f} s  {p.status:<10} sessions {p.scur}  queued {p.qcur}")
        elif p.phase == "cancelled":
            err(p.message)
        elif p.message and p.phase != "failed":
            out(p.message)

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
    await check_level(client, target, "server_state", "server drain-to-zero")
    snapshot, states = await actions.read_state(client)
    plan = drain.plan_drain_to_zero(snapshot, states, backend, server, args.timeout)
    show_plan(plan)
    confirm(plan, args.yes)
    show = _progress_printer()
    while True:
        result = await drain.drain_to_zero(client, backend, server, timeout=args.timeout,
                                           poll=args.poll, on_progress=show, target=target)
        if isinstance(result, drain.Drained):
            return ExitStatus.OK
        if not isinstance(result, drain.TimedOut):
            err(result.message)
            return ExitStatus.ERROR
        choice = args.on_timeout or _ask_on_timeout()
        if choice == "wait":
            continue
        if choice == "keep":
            err(f"{result.message} (force it with: "
                f"{command('server', 'maint', f'{backend}/{server}')})")
            return ExitStatus.ERROR
        snapshot, states = await actions.read_state(client, backend)
        state = "maint" if choice == "maint" else "ready"
        plan = actions.plan(actions.Action.server("server_state", [(backend, server)],
                                                  state=state), snapshot, states)
        code = report(await actions.execute(plan, client, target))
        return code if state == "maint" else ExitStatus.ERROR


# --------------------------------------------------------------------------- entry

def run(args: argparse.Namespace) -> int:
    """Dispatch ``haconsole server|frontend|counters|table|map|acl ...``."""
    changes = (args.command, args.action) not in tables_cli.READS
    target: Any = None
    handlers = {"server": _server, "frontend": _frontend, "counters": _counters,
                "table": tables_cli.run, "map": tables_cli.run, "acl": tables_cli.run}
    try:
        target = _target(args)
        if changes:
            refuse_read_only(target)
        return asyncio.run(handlers[args.command](args, target))
    except (Refused, HAProxyError) as exc:
        return failed(exc, changes=changes, target=target, socket=args.socket,
                      attempt=lambda: _attempt(args))
