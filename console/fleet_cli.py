"""``haconsole --fleet NAME …`` (or ``-i A -i B …``): one command on every node of a fleet.

A fleet is ``[fleets.NAME] instances = ["lb1", "lb2", …]`` in the settings; each
instance is local or over SSH. Supported here:

* ``show stat|servers --json`` (and as a table): every node's rows, each with a ``node``
  field (the instance name); a node that cannot be read is one line on stderr and the
  exit status is 1, the other nodes' rows are still printed;
* a runtime change (``server``, ``frontend``): planned on every node first (nothing is
  sent if one node cannot be planned), shown node by node, confirmed once, then sent
  with ``--wave all`` (every node, whatever happens on the others) or ``--wave rolling``
  (one node, its answer checked, then the next; the first failure stops the rest). After
  HAProxy's answer, the node's targets are read again and must be in the state the plan
  expects (a drain reads as DRAIN, a weight N as N, a disabled frontend as PAUSED):
  otherwise the node failed. A node whose ssh connection was lost is connected again
  before its turn, or fails with nothing sent. A summary says the state of every node
  (done, FAILED and why, not attempted). Each node's commands are journaled with its
  name.

``-i A -i B`` (``-i`` given more than once) is an ad-hoc fleet of those instances, on
the same path as ``--fleet``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.haproxy.atomic import fault_point
from console.haproxy.errors import HAProxyError, ValidationError
from console.haproxy.safe_text import visible
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.haproxy.plans import Plan
    from console.instance import Target

WAVES = ("all", "rolling")


def fleet_members(args: argparse.Namespace) -> list[str]:
    """The instances of ``--fleet NAME``, or those of ``-i`` given more than once."""
    from console import settings as settings_mod

    named = list(getattr(args, "instances", None) or [])
    if named:
        twice = sorted({n for n in named if named.count(n) > 1})
        if twice:
            raise ValidationError(f"-i {twice[0]} is given twice",
                                  hint="name each instance of the fleet once")
        return named
    settings = settings_mod.load(getattr(args, "settings", None))
    members = settings.fleets.get(args.fleet)
    if not members:
        known = ", ".join(sorted(settings.fleets)) or "none"
        raise ValidationError(f"no fleet named {args.fleet!r} in the settings (fleets: {known})",
                              str(settings.path), "add [fleets.NAME] instances = [...]")
    return members


def connect(args: argparse.Namespace, members: list[str]
            ) -> tuple[list[Target], list[tuple[str, str]]]:
    """The targets of the nodes that could be reached, and ``(node, why)`` of the others."""
    from concurrent.futures import ThreadPoolExecutor

    from console.instance import Request, resolve

    def one(name: str) -> Target:
        return resolve(Request(instance=name, settings=getattr(args, "settings", None),
                               read_only=bool(getattr(args, "read_only", False))),
                       discover=False)

    targets: list[Target] = []
    failed: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max_workers=min(8, len(members))) as pool:
        futures = [(name, pool.submit(one, name)) for name in members]
        for name, future in futures:
            try:
                targets.append(future.result())
            except HAProxyError as exc:
                failed.append((name, str(exc)))
    return targets, failed


def _err(text: str) -> None:
    print(f"haconsole: {visible(text)}", file=sys.stderr, flush=True)


def close_all(targets: list[Target]) -> None:
    for t in targets:
        if t.node is not None:
            t.node.close()


# --------------------------------------------------------------------------- show

async def _show(args: argparse.Namespace, targets: list[Target]) -> tuple[list[Any], int]:
    from console import oneshot

    async def one(t: Target) -> list[dict[str, Any]]:
        rows = await oneshot.json_rows(t, args.what, args.filter)
        return [{"node": t.name, **row} for row in rows]

    results = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
    rows: list[Any] = []
    status = ExitStatus.OK
    for t, result in zip(targets, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, HAProxyError):
                raise result
            _err(f"{t.label}: {result}")
            status = ExitStatus.ERROR
        else:
            rows += result
    return rows, status


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if not rows:
        return
    columns = ["node", "proxy", "name", "status", "weight", "scur", "req_rate"] \
        if "proxy" in rows[0] else list(rows[0])[:9]
    table = Table(*columns, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*(Text(visible("" if row.get(c) is None else str(row.get(c))))
                        for c in columns))
    Console(soft_wrap=True).print(table)


def run_show(args: argparse.Namespace, targets: list[Target]) -> int:
    if args.what not in ("stat", "servers") or args.delta is not None or args.since_mark:
        raise ValidationError("on a fleet, 'show' takes stat or servers (with --json and "
                              "--filter)", hint="run other show commands on one node: -i NAME")
    rows, status = asyncio.run(_show(args, targets))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=True))
    else:
        _print_table(rows)
    return status


# --------------------------------------------------------------------------- changes

@dataclass
class NodeChange:
    target: Target
    plan: Plan | None = None
    outcome: str = "not attempted"
    ok: bool = False


PlanMaker = Callable[["Target", Any], Awaitable["Plan"]]


def _client(t: Target) -> Any:
    from console.haproxy.transport import RuntimeClient

    return RuntimeClient(t.socket or "", where=t.socket_where)


async def _reconnected(t: Target) -> str | None:
    """None when the node's ssh connection is up (opened again if it was lost), else
    why it cannot be used: nothing is sent to a node whose connection is gone."""
    node = t.node
    if node is None or node.alive():
        return None
    try:
        await asyncio.to_thread(node.ensure)
    except HAProxyError as exc:
        return (f"the ssh connection to {node.host} was lost and could not be opened "
                f"again: {exc}; nothing was sent to {t.socket_where}")
    return None


async def _send(c: NodeChange, index: int) -> str | None:
    """Send one node's plan (the *index*-th node of the wave), print HAProxy's answers,
    then read the node's targets again and compare them with the plan's expected state.
    None when all is as planned, else what went wrong (said on stderr with the node's
    name)."""
    from console.change_cli import out, report
    from console.haproxy.actions import execute
    from console.haproxy.actions.verify import expected_text, verify

    assert c.plan is not None
    t = c.target
    why = await _reconnected(t)
    if why is not None:
        _err(f"{t.name}: {why}")
        return why
    try:
        result = await execute(c.plan, _client(t), t)
    except HAProxyError as exc:
        _err(f"{t.name}: {exc}")
        return str(exc)
    if report(result) != ExitStatus.OK:
        return result.error or "HAProxy refused the change"
    if not c.plan.expected:
        return None
    fault_point(f"fleet-before-verify-{index}")
    problems = await verify(c.plan, _client(t))
    if problems:
        why = ("HAProxy answered, but the state read again is not the one planned: "
               + "; ".join(problems))
        _err(f"{t.name}: {why}")
        return why
    out(f"verified: {expected_text(c.plan)}")
    return None


async def run_change(args: argparse.Namespace, targets: list[Target], kind: str,
                     make_plan: PlanMaker) -> int:
    """Plan on every node, show, confirm once, send by wave (each node's result read
    again and checked against its plan), summarise every node's state."""
    from console.change_cli import Refused, check_level, confirm, out, show_plan

    wave = getattr(args, "wave", None) or "rolling"
    changes = [NodeChange(t) for t in targets]
    for c in changes:  # every plan first: nothing is sent if one node cannot be planned
        client = _client(c.target)
        try:
            await check_level(client, c.target, kind, f"{args.command} {args.action}")
            c.plan = await make_plan(c.target, client)
        except (HAProxyError, Refused) as exc:
            raise Refused(f"{c.target.label}: {exc}; nothing was sent to any node",
                          getattr(exc, "code", ExitStatus.ERROR)) from None
    for c in changes:
        out(f"── {c.target.label} ──")
        assert c.plan is not None
        show_plan(c.plan)
    dangerous = next((c.plan for c in changes if c.plan and c.plan.dangerous), None)
    out(f"{len(changes)} nodes, wave {wave}")
    confirm(dangerous or changes[0].plan, args.yes)  # type: ignore[arg-type]
    stopped = False
    for i, c in enumerate(changes, 1):
        if stopped:
            break
        out(f"── {c.target.label} ──")
        why = await _send(c, i)
        c.ok = why is None
        c.outcome = "done" if c.ok else f"FAILED: {why}"
        stopped = not c.ok and wave == "rolling"
        fault_point(f"fleet-after-node-{i}")
    out("summary:")
    for c in changes:
        out(f"  {c.target.label}: {c.outcome}")
    if stopped:
        out("the rolling wave stopped at the first failure: the nodes after it were not "
            "changed; the nodes before it keep the change (undo them with the same command "
            "and the opposite state, or from the journal)")
    return ExitStatus.OK if all(c.ok for c in changes) else ExitStatus.ERROR


def run_action(args: argparse.Namespace, targets: list[Target]) -> int:
    from console import actions_cli

    if args.command not in ("server", "frontend") or args.action == "drain-to-zero":
        raise ValidationError(f"'{args.command} {args.action}' is not available on a fleet "
                              "yet", hint="run it node by node with -i NAME")
    kind, make_plan = actions_cli.fleet_plan(args)
    return asyncio.run(run_change(args, targets, kind, make_plan))


def run(args: argparse.Namespace) -> int:
    from console.change_cli import Refused

    if args.fleet and getattr(args, "instances", None):
        _err("--fleet or -i given more than once, not both: each names a fleet")
        return ExitStatus.USAGE
    if args.socket or args.master or args.config or args.url or args.instance or args.ssh:
        flag = "--fleet" if args.fleet else "-i given more than once"
        _err(f"{flag} takes its nodes from the settings: no -s, -m, -c, --url, --ssh "
             "(nor a single -i)")
        return ExitStatus.USAGE
    try:
        members = fleet_members(args)
    except ValidationError as exc:
        _err(str(exc))
        return ExitStatus.USAGE
    if args.command == "config":
        from console import fleet_config_cli as fleet_config

        try:
            return fleet_config.run(args, members)
        except HAProxyError as exc:
            _err(str(exc))
            return ExitStatus.USAGE if isinstance(exc, ValidationError) else ExitStatus.ERROR
    targets, failed = connect(args, members)
    try:
        for name, why in failed:
            _err(f"{name}: {why}")
        if failed and args.command != "show":
            _err("not every node could be reached: nothing was sent")
            return ExitStatus.ERROR
        if args.command == "show":
            status = run_show(args, targets) if targets else ExitStatus.ERROR
            return ExitStatus.ERROR if failed else status
        if args.command in ("server", "frontend", "counters", "table", "map", "acl"):
            try:
                return run_action(args, targets)
            except Refused as exc:
                _err(str(exc))
                return exc.code
        _err(f"'{args.command or 'the console'}' is not available on a fleet yet: "
             "show stat|servers, server and frontend changes are")
        return ExitStatus.USAGE
    finally:
        close_all(targets)
