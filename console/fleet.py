"""A fleet: the instances of ``[fleets.NAME]``, reached together, changed together.

The wiring shared by ``haconsole --fleet NAME …`` (:mod:`console.fleet_cli`) and the
fleet console (:mod:`console.ui.fleet_app`):

* :func:`members` and :func:`connect`: the fleet's instances from the settings, each
  resolved and (over SSH) connected; a node that cannot be reached is returned with
  the reason, the others are still usable;
* :func:`plan_everywhere` and :func:`send_wave`: a change planned on every node first
  (nothing is sent when one node cannot be planned), then sent node by node — wave
  ``rolling`` stops at the first failure, wave ``all`` sends to every node whatever
  happens on the others. Each node's commands are journaled under its name by
  :func:`console.haproxy.actions.execute`;
* :func:`on_node`: a message about a node that names the node and the path on it,
  never the local socket that forwards to it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.haproxy.errors import HAProxyError, ValidationError

if TYPE_CHECKING:
    from console.haproxy.plans import Action, Plan, Result
    from console.instance import Target

log = logging.getLogger("haconsole.fleet")

WAVES = ("rolling", "all")


def members(fleet: str, settings_path: str | None = None) -> list[str]:
    """The instance names of ``[fleets.FLEET]``; a ValidationError names the known ones."""
    from console import settings as settings_mod

    settings = settings_mod.load(settings_path)
    names = settings.fleets.get(fleet)
    if not names:
        known = ", ".join(sorted(settings.fleets)) or "none"
        raise ValidationError(f"no fleet named {fleet!r} in the settings (fleets: {known})",
                              str(settings.path), "add [fleets.NAME] instances = [...]")
    return list(names)


def connect_one(name: str, settings_path: str | None = None, *,
                read_only: bool = False, interval: str | float | None = None) -> Target:
    """The target of instance *name*, connected when it is over SSH (no discovery: a
    fleet's instances are described in the settings). *interval*: ``--interval`` as
    typed (None: the settings' own)."""
    from console.instance import Request, resolve

    return resolve(Request(instance=name, settings=settings_path, read_only=read_only,
                           interval=interval), discover=False)


def connect(names: Sequence[str], settings_path: str | None = None, *,
            read_only: bool = False, interval: str | float | None = None
            ) -> tuple[list[Target], list[tuple[str, str]]]:
    """The targets of the nodes that could be reached (in the fleet's order), and
    ``(node, why)`` of the others. Nodes are connected in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    targets: list[Target] = []
    failed: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        futures = [(name, pool.submit(connect_one, name, settings_path,
                                      read_only=read_only, interval=interval))
                   for name in names]
        for name, future in futures:
            try:
                targets.append(future.result())
            except HAProxyError as exc:
                failed.append((name, str(exc)))
    return targets, failed


def close_all(targets: Sequence[Target]) -> None:
    """Close every node's SSH connection (local nodes have none)."""
    for t in targets:
        if t.node is not None:
            t.node.close()


def on_node(target: Target, text: str) -> str:
    """*text* about *target* with its forwarded local sockets named as the paths on the
    node (``lb1:/run/haproxy/admin.sock``): the local path means nothing to the reader."""
    if target.ssh:
        for local, remote in ((target.socket, target.remote_socket),
                              (target.master, target.remote_master)):
            if local and remote:
                text = text.replace(local, f"{target.ssh}:{remote}")
    return text


def combined_hash(digests: Sequence[str]) -> str:
    """The configuration's short hash (12 hex digits) from the sha256 of each of its
    files, in HAProxy's order: the contents only, never the paths, so identical files
    on two nodes (local or over SSH, wherever they are) give the same hash."""
    h = hashlib.sha256()
    for digest in digests:
        h.update(digest.encode() + b"\n")
    return h.hexdigest()[:12]


def config_hash(target: Target) -> str | None:
    """The short hash of the configuration files of *target* as they are now (not
    necessarily what runs): read here for a local node, on the node over SSH (one
    ``sha256sum`` there). None when the files are not known or cannot be read.

    Over SSH this blocks for the round trip: the fleet console calls it in a thread,
    through :class:`HashCache`."""
    from console.haproxy.atomic import sha256
    from console.haproxy.config.fileset import expand_paths

    if target.ssh:
        return _node_config_hash(target)
    if not target.config_paths:
        return None
    digests: list[str] = []
    try:
        for path in expand_paths(target.config_paths):
            with open(path, "rb") as f:
                digests.append(sha256(f.read()))
    except (OSError, HAProxyError):
        return None
    return combined_hash(digests) if digests else None


def _node_config_hash(target: Target) -> str | None:
    from console.haproxy.node_files import NodeFiles
    from console.instance import node_config_paths

    if target.node is None:
        return None
    files = target.files or NodeFiles(target.node, "", target.name)
    try:
        paths = node_config_paths(target, files)
        digests = files.digests(paths) if paths else []
    except HAProxyError as exc:
        log.info("config hash of %s: %s", target.name, exc)
        return None
    return combined_hash(digests) if digests else None


HASH_EVERY = 30.0  # seconds: a node's config hash is read over SSH at most this often


@dataclass
class HashCache:
    """The config hash of each node, read over SSH at most every *every* seconds (a
    local node's is read each time: it costs no round trip)."""

    every: float = HASH_EVERY
    _known: dict[str, tuple[float, str | None]] = field(default_factory=dict)

    def get(self, target: Target) -> str | None:
        """The hash of *target* (blocking over SSH: call it in a thread)."""
        import time

        if not target.ssh:
            return config_hash(target)
        now = time.monotonic()
        known = self._known.get(target.name)
        if known is not None and now - known[0] < self.every:
            return known[1]
        # taken now: a call meanwhile gets the previous value instead of a second read
        self._known[target.name] = (now, known[1] if known else None)
        value = config_hash(target)
        self._known[target.name] = (time.monotonic(), value)
        return value


async def reloads(target: Target) -> int | None:
    """How many times the master reloaded (``show proc``), None without a master socket or
    when it cannot be read."""
    from console.haproxy.parsers import parse_proc
    from console.haproxy.transport import MasterClient

    if not target.master:
        return None
    try:
        info = parse_proc(await MasterClient(target.master).run("show proc"))
    except HAProxyError:
        return None
    return info.master.reloads if info.master else None


# --------------------------------------------------------------------------- changes

@dataclass
class NodeChange:
    """One node's part of a fleet change: its plan, then what happened."""

    target: Target
    plan: Plan | None = None
    outcome: str = "not attempted"
    ok: bool = False
    result: Result | None = None
    error: str | None = None
    verified: str | None = None  # the expected state, read again after the answer


class NotPlanned(HAProxyError):
    """A node's change could not be planned: nothing was sent to any node."""


PlanMaker = Callable[["Target", Any], Awaitable["Plan"]]


async def plan_everywhere(targets: Sequence[Target], make_plan: PlanMaker,
                          check: Callable[[Target, Any], Awaitable[None]] | None = None,
                          refusals: tuple[type[Exception], ...] = ()) -> list[NodeChange]:
    """A plan per node, each against that node's state read now, every plan before
    anything is sent. The first node that cannot be planned (an HAProxyError, or one of
    *refusals* from *check* or *make_plan*) raises :class:`NotPlanned` naming it, the
    original error as its cause."""
    changes = [NodeChange(t) for t in targets]
    caught: tuple[type[Exception], ...] = (HAProxyError, *refusals)
    for c in changes:
        client = client_of(c.target)
        try:
            if check is not None:
                await check(c.target, client)
            c.plan = await make_plan(c.target, client)
        except caught as exc:
            raise NotPlanned(on_node(c.target, f"{c.target.label}: {exc}; nothing was sent "
                                                "to any node")) from exc
    return changes


def actions_planner(actions: Sequence[Action] | Callable[[Target], Sequence[Action]],
                    summary: str | None = None) -> PlanMaker:
    """How to plan *actions* (the same on every node, or per node) on one node: its
    ``show stat`` and servers state read now, its HAProxy version checked."""
    from console.haproxy import actions as act

    async def make(target: Target, client: Any) -> Plan:
        todo = actions(target) if callable(actions) else actions
        for action in todo:
            act.validate(action)
        version = await act.haproxy_version(client)
        snapshot, states = await act.read_state(client)
        return act.plan_all(list(todo), snapshot, states, instance=target.name,
                            summary=summary, version=version)

    return make


SendOne = Callable[[NodeChange, int], Awaitable[bool]]


def client_of(target: Target) -> Any:
    """The runtime client of a node: its errors name the socket as on the node."""
    from console.haproxy.transport import RuntimeClient

    return RuntimeClient(target.socket or "", where=target.socket_where)


async def reconnected(t: Target) -> str | None:
    """None when the node's ssh connection is up (opened again if it was lost), else
    why it cannot be used: nothing is sent to a node whose connection is gone."""
    import asyncio

    node = t.node
    if node is None or node.alive():
        return None
    try:
        await asyncio.to_thread(node.ensure)
    except HAProxyError as exc:
        return (f"the ssh connection to {node.host} was lost and could not be opened "
                f"again: {exc}; nothing was sent to {t.socket_where}")
    return None


async def execute_one(change: NodeChange, index: int = 0) -> bool:
    """Send one node's plan (journaled under the node's name), then read the node's
    targets again and compare them with the plan's expected state (a drain reads as
    DRAIN, a weight N as N…). The change records the result, the check or the error,
    in words that name the node; a node whose ssh connection is gone and cannot be
    opened again gets nothing."""
    from console.haproxy import actions as act
    from console.haproxy.actions.verify import expected_text, verify
    from console.haproxy.atomic import fault_point

    t = change.target
    assert change.plan is not None
    why = await reconnected(t)
    if why is not None:
        change.error = why
        return False
    try:
        change.result = await act.execute(change.plan, client_of(t), t)
    except HAProxyError as exc:
        change.error = on_node(t, str(exc))
        return False
    if not change.result.ok:
        change.error = on_node(t, change.result.error or "HAProxy refused the change")
        return False
    if not change.plan.expected:
        return True
    fault_point(f"fleet-before-verify-{index}")
    try:
        problems = await verify(change.plan, client_of(t))
    except HAProxyError as exc:
        problems = [f"cannot read it again: {on_node(t, str(exc))}"]
    if problems:
        change.error = ("HAProxy answered, but the state read again is not the one "
                        "planned: " + "; ".join(problems))
        return False
    change.verified = expected_text(change.plan)
    return True


async def send_wave(changes: Sequence[NodeChange], wave: str,
                    send_one: SendOne = execute_one) -> bool:
    """Send each node's plan in the fleet's order; ``rolling`` stops at the first
    failure (the nodes after it are not changed), ``all`` goes on. Returns whether the
    wave was stopped."""
    from console.haproxy.atomic import fault_point

    if wave not in WAVES:
        raise ValidationError(f"unknown wave {wave!r}", hint="rolling or all")
    for i, c in enumerate(changes, 1):
        c.ok = await send_one(c, i)
        c.outcome = "done" if c.ok else "FAILED" + (f": {c.error}" if c.error else "")
        fault_point(f"fleet-after-node-{i}")
        if not c.ok and wave == "rolling":
            return True
    return False


ROLLING_STOPPED = ("the rolling wave stopped at the first failure: the nodes after it "
                   "were not changed; the nodes before it keep the change")


def summary_lines(changes: Sequence[NodeChange], stopped: bool) -> list[str]:
    """What was done where, a line per node, and why the wave stopped."""
    lines = [f"{c.target.label}: {c.outcome}" for c in changes]
    if stopped:
        lines.append(ROLLING_STOPPED)
    return lines


@dataclass
class FanOut:
    """A fleet change that was sent: each node's plan that succeeded (for the undo)."""

    summary: str
    done: list[tuple[Target, Plan]] = field(default_factory=list)

    @classmethod
    def of(cls, summary: str, changes: Sequence[NodeChange]) -> FanOut:
        return cls(summary, [(c.target, c.plan) for c in changes if c.ok and c.plan])

    def undo_actions(self) -> dict[str, list[Action]]:
        """Per node name, the changes that put back what this fan-out changed there
        (nodes with nothing to put back are left out)."""
        from console.haproxy import actions as act

        out = {t.name: act.undo_actions(p) for t, p in self.done}
        return {name: a for name, a in out.items() if a}
