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
from typing import TYPE_CHECKING, Any

from console import fleet
from console.fleet import NodeChange, PlanMaker
from console.haproxy.errors import HAProxyError, ValidationError
from console.haproxy.safe_text import visible
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.instance import Target

WAVES = fleet.WAVES


def fleet_members(args: argparse.Namespace) -> list[str]:
    """The instances of ``--fleet NAME``, or those of ``-i`` given more than once."""
    named = list(getattr(args, "instances", None) or [])
    if named:
        twice = sorted({n for n in named if named.count(n) > 1})
        if twice:
            raise ValidationError(f"-i {twice[0]} is given twice",
                                  hint="name each instance of the fleet once")
        return named
    return fleet.members(args.fleet, getattr(args, "settings", None))


def connect(args: argparse.Namespace, members: list[str]
            ) -> tuple[list[Target], list[tuple[str, str]]]:
    """The targets of the nodes that could be reached, and ``(node, why)`` of the others."""
    return fleet.connect(members, getattr(args, "settings", None),
                         read_only=bool(getattr(args, "read_only", False)),
                         interval=getattr(args, "interval", None))


def _err(text: str) -> None:
    print(f"haconsole: {visible(text)}", file=sys.stderr, flush=True)


close_all = fleet.close_all


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

async def run_change(args: argparse.Namespace, targets: list[Target], kind: str,
                     make_plan: PlanMaker) -> int:
    """Plan on every node, show, confirm once, send by wave (each node's result read
    again and checked against its plan), summarise every node's state."""
    from console.change_cli import Refused, check_level, confirm, out, report, show_plan

    wave = getattr(args, "wave", None) or "rolling"

    async def check(target: Target, client: Any) -> None:
        await check_level(client, target, kind, f"{args.command} {args.action}")

    try:  # every plan first: nothing is sent if one node cannot be planned
        changes = await fleet.plan_everywhere(targets, make_plan, check, (Refused,))
    except fleet.NotPlanned as exc:
        cause = exc.__cause__
        raise Refused(str(exc), getattr(cause, "code", ExitStatus.ERROR)) from None
    for c in changes:
        out(f"── {c.target.label} ──")
        assert c.plan is not None
        show_plan(c.plan)
    dangerous = next((c.plan for c in changes if c.plan and c.plan.dangerous), None)
    out(f"{len(changes)} nodes, wave {wave}")
    confirm(dangerous or changes[0].plan, args.yes)  # type: ignore[arg-type]

    async def send_one(c: NodeChange, index: int) -> bool:
        out(f"── {c.target.label} ──")
        ok = await fleet.execute_one(c, index)
        if c.result is not None:
            report(c.result)
        if c.verified:
            out(f"verified: {c.verified}")
        if c.error:
            _err(f"{c.target.name}: {c.error}")
        return ok

    stopped = await fleet.send_wave(changes, wave, send_one)
    out("summary:")
    for c in changes:
        out(f"  {c.target.label}: {c.outcome}")
    if stopped:
        out(fleet.ROLLING_STOPPED + " (undo them with the same command and the opposite "
            "state, or from the journal)")
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
    if args.command is None:  # the fleet console: a node not reached is a row saying why
        try:
            from console.ui.fleet_app import run_fleet_app

            return run_fleet_app(args.fleet or "+".join(members), members, targets, failed,
                                 theme=args.theme)
        finally:
            close_all(targets)
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
        _err(f"'{args.command}' is not available on a fleet yet: the console, "
             "show stat|servers, server and frontend changes are")
        return ExitStatus.USAGE
    finally:
        close_all(targets)
