"""``haconsole --fleet NAME config …``: one configuration change on every node.

A change is staged as **ops** on each node's own file (``config set``, ``add-server``,
``del-server``), never as one node's text copied to the others: nodes whose files
differ each get the ops applied to their file (the difference is reported).

``config apply`` is a rollout:

1. every node is reached and its files read; a node whose file changed since the
   change was staged gets the ops re-applied (rebased) on its new file, or the
   rollout is refused with that node's diff before anything is applied;
2. the **canary** (``--canary NODE``, default the fleet's first) goes through the
   whole pipeline (check on the node, history, atomic write, state, reload, verify,
   roll back on failure);
3. a **soak** of ``--soak`` seconds (default 30) watches the canary against its own
   baseline taken just before: servers DOWN that were not, the 5xx share of requests
   (more than twice the baseline and 5 points above it, over at least 20 requests),
   a reload failure reported by its master. A failed soak rolls the canary back to
   its previous version (through the pipeline) and stops;
4. the other nodes, one by one; the first failure stops the rollout (the pipeline
   has rolled that node back).

The summary says where each node stands, and the nodes already updated are kept in
a rollout record: ``haconsole --fleet NAME config revert`` returns each of them to
the version it had before (through the pipeline), the one action to undo it all.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.haproxy.atomic import fault_point
from console.haproxy.errors import HAProxyError, ValidationError
from console.haproxy.safe_text import visible, visible_lines
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.instance import Target

DEFAULT_SOAK = 30.0
SOAK_RANGE = (0.0, 3600.0)
SOAK_STEP = 2.0
MIN_REQUESTS = 20
STAGING_ACTIONS = ("set", "add-server", "del-server", "discard", "rebase", "diff", "history")


def out(text: str = "") -> None:
    print(visible(text), flush=True)


def err(text: str) -> None:
    print(f"haconsole: {visible(text)}", file=sys.stderr, flush=True)


def _node_args(args: argparse.Namespace, name: str) -> argparse.Namespace:
    one = copy.copy(args)
    one.fleet, one.instance = None, name
    if hasattr(one, "instances"):
        one.instances = []
    return one


# --------------------------------------------------------------------------- staging

def run_staging(args: argparse.Namespace, members: list[str]) -> int:
    """The same staging command on every node, each on its own file."""
    from console import config_cli

    status = int(ExitStatus.OK)
    for name in members:
        out(f"── {name} ──")
        code = config_cli.run_config(_node_args(args, name))
        if args.config_command == "diff":
            status = max(status, code)  # 1: something is staged somewhere
        elif code != 0:
            status = code if status == ExitStatus.OK else status
            if args.config_command in ("set", "add-server", "del-server"):
                err(f"{name}: not staged there; the nodes before it keep the staged "
                    "change (`config discard` on the fleet drops it everywhere)")
    return status


# --------------------------------------------------------------------------- rollout

@dataclass
class Node:
    name: str
    target: Target | None = None
    state: str = "not attempted"
    version: int | None = None
    previous: int | None = None
    notes: list[str] = field(default_factory=list)


def _connect(args: argparse.Namespace, name: str) -> Target:
    from console.config_cli import _target

    return _target(_node_args(args, name), discover=True)


def _pending(target: Target) -> list[Any]:
    from console.config_cli import _stagings

    return [st for st in _stagings(target).values() if st.status() != "empty"]


def _last_version(config: str) -> tuple[int | None, int | None]:
    from console.haproxy import history_store as hist

    versions = hist.history(config)
    if not versions:
        return None, None
    last = versions[-1]
    prev = last.meta.get("previous")
    return last.number, int(prev) if isinstance(prev, int) else None


def check_soak(value: object) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        raise ValidationError(f"--soak takes seconds, not {value!r}") from None
    if not SOAK_RANGE[0] <= seconds <= SOAK_RANGE[1]:
        raise ValidationError(f"--soak must be between {SOAK_RANGE[0]:g} and "
                              f"{SOAK_RANGE[1]:g} seconds")
    return seconds


def run_apply(args: argparse.Namespace, members: list[str]) -> int:
    from console import config_cli

    soak = check_soak(DEFAULT_SOAK if args.soak is None else args.soak)
    canary = args.canary or members[0]
    if canary not in members:
        raise ValidationError(f"--canary {canary!r} is not a node of this fleet "
                              f"({', '.join(members)})")
    if args.no_reload:
        raise ValidationError("a rollout reloads each node (its verification needs it)",
                              hint="drop --no-reload, or apply node by node with -i NAME")
    if args.message:
        from console.haproxy.safe_text import check_message

        check_message(args.message, "message (-m)")
    order = [canary] + [m for m in members if m != canary]
    nodes = [Node(name) for name in order]
    # 1. every node reached, its staged change current (rebased when its file moved)
    for node in nodes:
        try:
            node.target = _connect(args, node.name)
            pending = _pending(node.target)
        except HAProxyError as exc:
            err(f"{node.name}: {exc}")
            err("not every node could be read: nothing was applied")
            return ExitStatus.ERROR
        if not pending:
            err(f"{node.name}: nothing is staged there: stage the change on the fleet "
                "first (`--fleet NAME config set …`); nothing was applied")
            return ExitStatus.USAGE
        for st in pending:
            if st.status() == "stale":
                try:
                    st.rebase()
                    node.notes.append("its file changed since the change was staged: "
                                      "the staged ops were re-applied on the new file")
                except HAProxyError as exc:
                    err(f"{node.name}: its file changed since the change was staged and "
                        f"the ops do not apply to it: {exc}")
                    sys.stdout.write(visible_lines(st.live_diff()))
                    err("nothing was applied to any node")
                    return ExitStatus.ERROR
    bases = {n.name: tuple(st.base_hash for st in _pending(n.target)) for n in nodes
             if n.target is not None}
    for node in nodes[1:]:
        if bases[node.name] != bases[canary]:
            node.notes.append(f"its file differs from {canary}'s: the same ops are applied "
                              "to its own file")
    for node in nodes:
        out(f"── {node.name}{' (canary)' if node.name == canary else ''} ──")
        for note in node.notes:
            out(f"note: {note}")
        assert node.target is not None
        for st in _pending(node.target):
            sys.stdout.write(visible_lines(st.diff()))
    out(f"rollout: {canary} first, then a soak of {soak:g} s, then "
        + (", ".join(n.name for n in nodes[1:]) or "no other node") + ", one by one")
    if not args.yes:
        if not sys.stdin.isatty():
            err("not a terminal: review the diffs, then add --yes")
            return ExitStatus.USAGE
        if not config_cli._confirm("Start the rollout?"):
            out("nothing applied; the change stays staged")
            return ExitStatus.ERROR
    node_args = copy.copy(args)
    node_args.yes = True  # confirmed once for the fleet
    record = Rollout(_record_name(args, members), [n.name for n in nodes])
    stopped = False
    for i, node in enumerate(nodes, 1):
        if i > 1:
            fault_point(f"rollout-before-node-{i}")
        if stopped:
            break
        assert node.target is not None
        out(f"── {node.name}: apply ──")
        if node.name == canary and soak > 0:
            take_baseline(node.target)
        before = _last_version(str(node.target.config))[0]
        code = _apply_node(node_args, node)
        if code != ExitStatus.OK:
            if node.state == "not attempted":
                node.state = _failed_state(str(node.target.config), before)
            stopped = True
            break
        node.state = f"updated (version {node.version})"
        record.updated[node.name] = {"version": node.version, "previous": node.previous}
        record.save()
        if node.name == canary and soak > 0:
            ok, why = soak_canary(node.target, soak)
            if not ok:
                out(f"{node.name}: soak failed: {why}")
                node.state = _revert_node(node_args, node, f"soak failed: {why}")
                record.updated.pop(node.name, None)
                record.save()
                stopped = True
    out("summary:")
    for node in nodes:
        out(f"  {node.name}: {node.state}")
    if stopped:
        updated = [n for n in nodes if n.name in record.updated]
        out("the rollout stopped: the nodes after the failure were not changed")
        if updated:
            out("to roll the updated nodes back too: "
                + (f"haconsole --fleet {args.fleet} config revert" if args.fleet else
                   "haconsole " + " ".join(f"-i {m}" for m in members) + " config revert"))
        return ExitStatus.ERROR
    out("the rollout is complete: every node runs the new configuration")
    return ExitStatus.OK


def _failed_state(config: str, before: int | None) -> str:
    """Where a node stands after its apply failed, from its history."""
    from console.haproxy import history_store as hist

    versions = hist.history(config)
    last = versions[-1] if versions else None
    if last is None or last.number == before or last.status not in (
            "rolled back", "rollback failed", "failed", "writing", "reloading"):
        return "FAILED before the write: its file and HAProxy are unchanged"
    if last.status == "rolled back":
        return "FAILED after the write: rolled back by the pipeline, runs its previous file"
    if last.status == "failed":
        return "FAILED at the write: its file and HAProxy are unchanged"
    return (f"FAILED and its state is unsure (version {last.number} {last.status}): look "
            "at it now (-i NAME config history)")


def _apply_node(args: argparse.Namespace, node: Node) -> int:
    from console import config_cli

    target = node.target
    assert target is not None
    try:
        at = config_cli.apply_target(target)
        for st in _pending(target):
            code = config_cli._apply_one(args, at, st)
            if code != ExitStatus.OK:
                return code
    except HAProxyError as exc:
        err(f"{node.name}: {exc}")
        node.state = f"FAILED: {exc} (its file: see `-i {node.name} config history`)"
        return ExitStatus.ERROR
    node.version, node.previous = _last_version(str(target.config))
    return ExitStatus.OK


def _revert_node(args: argparse.Namespace, node: Node, why: str) -> str:
    """Return *node* to the version it had before the rollout (through the pipeline)."""
    from console.haproxy import history_store as hist

    target = node.target
    if target is None or node.previous is None:
        return f"FAILED and NOT rolled back ({why}): its previous version is unknown"
    try:
        hist.stage_rollback(str(target.config), node.previous)
        one = copy.copy(args)
        one.message = f"rollout revert: {why}"
        code = _apply_node(one, node)
    except HAProxyError as exc:
        return f"FAILED and NOT rolled back ({why}): {exc}"
    if code != ExitStatus.OK:
        return f"FAILED and NOT rolled back ({why}): see the steps above"
    return f"rolled back to its previous file ({why}), now version {node.version}"


# --------------------------------------------------------------------------- soak

@dataclass
class Sample:
    taken: float
    requests: int
    errors: int  # 5xx sent to clients
    down: set[str]
    failed_reloads: int | None


async def _sample(target: Target) -> Sample:
    from console.haproxy.parsers import parse_proc, parse_stat
    from console.haproxy.transport import MasterClient, RuntimeClient

    rows = parse_stat(await RuntimeClient(target.socket or "").run("show stat"))
    requests = errors = 0
    down: set[str] = set()
    for row in rows:
        if row.get("svname") == "FRONTEND":
            requests += _int(row.get("req_tot"))
            errors += _int(row.get("hrsp_5xx"))
        elif row.get("svname") != "BACKEND" and row.get("status", "").startswith("DOWN"):
            down.add(f"{row.get('pxname')}/{row.get('svname')}")
    failed = None
    if target.master:
        proc = parse_proc(await MasterClient(target.master).run("show proc"))
        failed = proc.master.failed if proc.master else None
    return Sample(time.monotonic(), requests, errors, down, failed)


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def judge(baseline: float, first: Sample, now: Sample, down_before: set[str],
          failed_before: int | None) -> str | None:
    """Why the canary is worse than before (None: it is not)."""
    new_down = sorted(now.down - down_before)
    if new_down:
        return "servers DOWN that were not before: " + ", ".join(new_down[:8])
    if failed_before is not None and now.failed_reloads is not None and \
            now.failed_reloads > failed_before:
        return "its master reports a failed reload"
    reqs = now.requests - first.requests
    errors = now.errors - first.errors
    if reqs >= MIN_REQUESTS and reqs > 0:
        share = errors / reqs
        if share > max(2 * baseline, baseline + 0.05):
            return (f"5xx on {share:.0%} of {reqs} requests (baseline before the change: "
                    f"{baseline:.0%})")
    return None


def soak_canary(target: Target, seconds: float) -> tuple[bool, str]:
    return asyncio.run(_soak(target, seconds))


async def _soak(target: Target, seconds: float) -> tuple[bool, str]:
    try:  # the new worker's counters start at 0: deltas from its first sample
        first = await _sample(target)
    except HAProxyError as exc:
        return False, f"the canary does not answer: {exc}"
    baseline = _BASELINES.get(target.name, 0.0)
    down_before = _DOWN_BEFORE.get(target.name, set())
    failed_before = _FAILED_BEFORE.get(target.name)
    out(f"soak: watching {target.name} for {seconds:g} s (5xx baseline {baseline:.1%})")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(min(SOAK_STEP, max(0.0, deadline - time.monotonic())))
        try:
            now = await _sample(target)
        except HAProxyError as exc:
            return False, f"the canary stopped answering: {exc}"
        why = judge(baseline, first, now, down_before, failed_before)
        if why:
            return False, why
    return True, ""


_BASELINES: dict[str, float] = {}
_DOWN_BEFORE: dict[str, set[str]] = {}
_FAILED_BEFORE: dict[str, int | None] = {}


def take_baseline(target: Target, window: float = 3.0) -> None:
    """The canary's 5xx share, DOWN servers and failed reloads just before the change."""
    async def run() -> None:
        a = await _sample(target)
        await asyncio.sleep(window)
        b = await _sample(target)
        reqs, errors = b.requests - a.requests, b.errors - a.errors
        _BASELINES[target.name] = errors / reqs if reqs > 0 else 0.0
        _DOWN_BEFORE[target.name] = b.down
        _FAILED_BEFORE[target.name] = b.failed_reloads

    try:
        asyncio.run(run())
    except HAProxyError:
        pass


# --------------------------------------------------------------------------- record

class Rollout:
    """The nodes a rollout updated and the version each had before (for revert)."""

    def __init__(self, fleet: str, order: list[str]) -> None:
        self.fleet, self.order = fleet, order
        self.updated: dict[str, dict[str, int | None]] = {}

    @staticmethod
    def path(fleet: str) -> str:
        from console.haproxy.statefs import state_dir

        safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_"
                       for c in fleet)[:64] or "fleet"
        return os.path.join(str(state_dir()), f"rollout-{safe}.json")

    def save(self) -> None:
        from console.haproxy.atomic import write_private

        data = json.dumps({"fleet": self.fleet, "order": self.order,
                           "updated": self.updated, "saved": time.time()}, indent=2)
        write_private(self.path(self.fleet), data.encode() + b"\n")

    @classmethod
    def load(cls, fleet: str) -> Rollout | None:
        try:
            with open(cls.path(fleet), "rb") as f:
                data = json.loads(f.read(1 << 20))
            r = cls(str(data["fleet"]), [str(n) for n in data["order"]])
            r.updated = {str(k): {"version": _opt(v.get("version")),
                                  "previous": _opt(v.get("previous"))}
                         for k, v in dict(data["updated"]).items()}
            return r
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise ValidationError("the rollout record is unreadable", cls.path(fleet),
                                  "roll the nodes back one by one: -i NAME config history, "
                                  "then config rollback N") from None


def _record_name(args: argparse.Namespace, members: list[str]) -> str:
    """The rollout record's name: the fleet, or the nodes of an ad-hoc fleet (-i -i)."""
    return args.fleet or "adhoc-" + "+".join(members)


def _opt(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def run_revert(args: argparse.Namespace, members: list[str]) -> int:
    record = Rollout.load(_record_name(args, members))
    if record is None or not record.updated:
        out("no rollout to revert: no node of this fleet was updated by the last rollout")
        return ExitStatus.OK
    node_args = copy.copy(args)
    node_args.yes, node_args.no_reload, node_args.allow_removal = True, False, False
    node_args.message = None
    names = [n for n in reversed(record.order) if n in record.updated]
    out("revert: " + ", ".join(f"{n} back to version {record.updated[n]['previous']}"
                               for n in names))
    if not args.yes:
        from console import config_cli

        if not sys.stdin.isatty():
            err("not a terminal: add --yes")
            return ExitStatus.USAGE
        if not config_cli._confirm("Revert these nodes?"):
            return ExitStatus.ERROR
    status = ExitStatus.OK
    for name in names:
        out(f"── {name}: revert ──")
        node = Node(name, previous=record.updated[name]["previous"])
        try:
            node.target = _connect(args, name)
        except HAProxyError as exc:
            err(f"{name}: {exc}")
            status = ExitStatus.ERROR
            continue
        state = _revert_node(node_args, node, "rollout reverted")
        out(f"{name}: {state}")
        if state.startswith("FAILED"):
            status = ExitStatus.ERROR
        else:
            record.updated.pop(name, None)
            record.save()
    return status


def run(args: argparse.Namespace, members: list[str]) -> int:
    action = args.config_command
    if action == "apply":
        return run_apply(args, members)
    if action == "revert":
        return run_revert(args, members)
    if action in STAGING_ACTIONS:
        return run_staging(args, members)
    raise ValidationError(f"'config {action}' is not available on a fleet",
                          hint=f"run it node by node: -i NAME config {action}")
