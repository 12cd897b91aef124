"""The fleet console: every node of ``[fleets.NAME]`` on one screen, each node's own
console a key away.

:class:`FleetApp` is the single-node :class:`~console.ui.app.HAConsoleApp` (themes,
keymap, help, notifications, the error hook) whose default screen is the fleet screen
(:class:`~console.ui.screens.fleet.FleetScreen`). Each reachable node has its own
:class:`~console.haproxy.poller.Poller` (a ``NodeSource`` over SSH, a ``SocketSource``
for a local socket) at the usual interval, with its backoff when a node stops
answering. A node that could not be reached at the start is a row that says why.

``enter`` on a node opens the normal console on it (:class:`NodeMonitorScreen`): the
app's target, poller and level become the node's for as long as that screen is open,
so everything the single-node console does works unchanged. The fleet's pollers keep
running meanwhile (the overview is current on return, and the node's console shows
its poller's data); ``escape`` returns to the fleet.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from console import fleet
from console.haproxy import actions as act
from console.haproxy.errors import HAProxyError
from console.haproxy.events import Event
from console.haproxy.fleet_model import NodeState
from console.haproxy.model import Snapshot
from console.haproxy.parsers import parse_cli_level
from console.haproxy.poller import NodeSource, Poller, PollStatus, SocketSource, Source
from console.haproxy.transport import RuntimeClient
from console.instance import Target
from console.settings import Settings
from console.ui.app import HAConsoleApp, log_where, open_log
from console.ui.screens.monitor import MonitorScreen

if TYPE_CHECKING:
    from console.ui.screens.fleet import FleetScreen

log = logging.getLogger("haconsole.ui")

EXTRAS_EVERY = 10.0  # seconds between reads of the reload count and the config hash
# (a node's over SSH: at most every fleet.HASH_EVERY seconds, see fleet.HashCache)


class _NoSource:
    """The app's own poller is never run in a fleet (each node has its own)."""

    where = "fleet"

    async def fetch(self) -> Snapshot:
        raise HAProxyError("a fleet has no single source")


@dataclass
class FleetNode:
    """One node of the fleet: its target (None: not reached), poller and what is known."""

    state: NodeState
    target: Target | None = None
    poller: Poller | None = None
    level: str | None = None
    level_read: bool = False
    events: list[Event] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def read_only_reason(self) -> str | None:
        if self.target is not None and self.target.read_only:
            return "--read-only"
        if self.level in ("operator", "user"):
            return f"socket level is {self.level}, changes need admin"
        return None

    def allowed_kinds(self) -> frozenset[str]:
        """What this node's socket level allows (nothing when it is not reached)."""
        if self.target is None or not self.target.socket:
            return frozenset()
        snap = self.state.snapshot
        version = snap.info.version if snap is not None and snap.info else None
        return act.read_only(self.level, bool(self.target.read_only), version)


def source_of(target: Target) -> Source:
    """How a node is read: over its SSH connection, or its local socket."""
    client = RuntimeClient(target.socket or "")
    if target.node is not None:
        return NodeSource(client, target.node)
    return SocketSource(client)


class FleetApp(HAConsoleApp):
    """The console on a fleet: the fleet screen, and each node's console on demand."""

    def __init__(self, fleet_name: str, names: Sequence[str], targets: Sequence[Target],
                 failed: Sequence[tuple[str, str]], *, theme: str | None = None,
                 settings: Settings | None = None) -> None:
        read_only = bool(targets) and all(t.read_only for t in targets)
        self.fleet_target = Target(name=fleet_name, read_only=read_only)
        super().__init__(self.fleet_target, theme=theme, settings=settings,
                         source=_NoSource(), level="fleet")
        self.fleet_name = fleet_name
        self._idle_poller = self.poller
        by_name = {t.name: t for t in targets}
        why = dict(failed)
        self.nodes: list[FleetNode] = []
        for name in names:
            t = by_name.get(name)
            if t is None:
                state = NodeState(name, name, "unreachable", error=why.get(name, "not reached"))
                self.nodes.append(FleetNode(state))
                continue
            node = FleetNode(NodeState(name, t.label), t)
            node.poller = Poller(source_of(t), t.interval,
                                 on_snapshot=partial(self._node_snapshot, node),
                                 on_status=partial(self._node_status, node))
            if not t.ssh:  # over SSH: read in a thread, by the first _read_extras
                node.state.config_hash = fleet.config_hash(t)
            self.nodes.append(node)
        self.hashes = fleet.HashCache()  # over SSH, read at most every HASH_EVERY s
        self.open_node: FleetNode | None = None
        self._fleet_screen: FleetScreen | None = None

    @property
    def targets(self) -> list[Target]:
        """The nodes reached (a target each), in the fleet's order."""
        return [n.target for n in self.nodes if n.target is not None]

    def node(self, name: str) -> FleetNode:
        return next(n for n in self.nodes if n.name == name)

    # -- screens --------------------------------------------------------------------------
    def get_default_screen(self) -> FleetScreen:  # type: ignore[override]
        from console.ui.screens.fleet import FleetScreen

        self._fleet_screen = FleetScreen(self)
        return self._fleet_screen

    @property
    def fleet_screen(self) -> FleetScreen:
        if self._fleet_screen is None:
            raise RuntimeError("the fleet console is not running")
        return self._fleet_screen

    def start_fleet(self) -> None:
        """Once the fleet screen can show data: each node's level, then its poll loop;
        the reload counts and config hashes every few seconds."""
        for node in self.nodes:
            if node.poller is not None:
                self.run_worker(self._run_node(node), name=f"poll {node.name}",
                                group="poll", exit_on_error=False)
        self.set_interval(EXTRAS_EVERY, self._read_extras)
        self.call_later(self._read_extras)

    async def _read_level(self, node: FleetNode) -> None:
        if node.level_read or node.target is None or not node.target.socket:
            return
        try:
            node.level = parse_cli_level(await RuntimeClient(node.target.socket)
                                         .run("show cli level"))
            node.level_read = True
        except HAProxyError:
            node.level = None

    async def _run_node(self, node: FleetNode) -> None:
        assert node.poller is not None
        await self._read_level(node)
        try:
            await node.poller.run()
        except Exception as exc:  # noqa: BLE001 - never let a poll loop die silently
            log.exception("poller of %s crashed", node.name)
            self.notify(f"{node.name}: refresh stopped after an internal error: {exc} "
                        f"(see {log_where()})", severity="error", timeout=30)

    async def _read_extras(self) -> None:
        async def one(node: FleetNode) -> None:
            if node.target is None:
                return
            node.state.reloads = await fleet.reloads(node.target)
            # a node's own pace: one slow over SSH does not hold the others' figures
            node.state.config_hash = await asyncio.to_thread(self.hashes.get, node.target)
            if self._fleet_screen is not None:
                self._fleet_screen.data_changed()
            if not node.level_read:
                await self._read_level(node)

        await asyncio.gather(*(one(n) for n in self.nodes))
        if self._fleet_screen is not None:
            self._fleet_screen.data_changed()

    # -- data -----------------------------------------------------------------------------
    def _node_snapshot(self, node: FleetNode, snap: Snapshot, events: list[Event]) -> None:
        node.state.snapshot = snap
        if self._fleet_screen is not None:
            self._fleet_screen.data_changed()
        if self._showing(node):
            self.monitor.show_snapshot(snap, events)

    def _node_status(self, node: FleetNode, status: PollStatus, events: list[Event]) -> None:
        node.state.state = status.state
        node.state.error = (fleet.on_node(node.target, status.last_error)
                            if node.target is not None and status.last_error else None)
        waiting = status.waiting_for()
        if node.state.error is None and status.state == "stale" and waiting is not None:
            node.state.error = f"no answer yet after {waiting:.0f} s"
        if self._fleet_screen is not None:
            self._fleet_screen.data_changed()
        if self._showing(node):
            self.monitor.show_status(status, events)

    def _showing(self, node: FleetNode) -> bool:
        return (self.open_node is node and self._monitor is not None
                and self._monitor.is_mounted)

    def _on_snapshot(self, snap: Snapshot, events: list[Event]) -> None:
        """The app's own poller is not run in a fleet."""

    def _on_status(self, status: PollStatus, events: list[Event]) -> None:
        """The app's own poller is not run in a fleet."""

    # -- a node's console -----------------------------------------------------------------
    def open_console(self, name: str) -> None:
        """The normal console on node *name* (escape comes back)."""
        node = self.node(name)
        if node.target is None or node.poller is None:
            self.notify(f"{name} is not reachable: {node.state.error or 'not connected'}",
                        severity="warning")
            return
        self.open_node = node
        self.target, self.poller = node.target, node.poller
        self.level, self.read_only_reason = node.level, node.read_only_reason
        self._monitor = NodeMonitorScreen(self, self.fleet_name)
        self.push_screen(self._monitor)

    def close_console(self) -> None:
        """Back to the fleet screen (the node's poller keeps running for the fleet)."""
        if self.open_node is None:
            return
        self.open_node = None
        self.level, self.read_only_reason = "fleet", None
        self.pop_screen()
        self.call_after_refresh(self.fleet_screen.data_changed)

    def start_polling(self) -> None:
        """The node's console is mounted: its level, and what its poller already read."""
        node = self.open_node
        if node is not None:
            self.run_worker(self._start_console(node), name="start", group="console",
                            exit_on_error=False)

    async def _start_console(self, node: FleetNode) -> None:
        await self._read_level(node)
        self.level, self.read_only_reason = node.level, node.read_only_reason
        if not self._showing(node):
            return
        monitor = self.monitor
        monitor.started(node.level, node.read_only_reason)
        assert node.poller is not None
        if node.poller.last is not None:
            monitor.show_snapshot(node.poller.last, [])
        monitor.show_status(node.poller.status, [])

    # -- app-wide -------------------------------------------------------------------------
    def action_help(self) -> None:
        if self.open_node is not None:
            super().action_help()
            return
        from console.ui.screens.fleet import FLEET_BINDINGS
        from console.ui.screens.help import HelpScreen

        rows = [(self.key_display(b), b.description or b.action, b.id or "")
                for b in FLEET_BINDINGS]
        rows += [("⏎", "on a node: its console (escape comes back); on a merged server "
                  "row: a change on every node", "table"),
                 ("↑ ↓ pgup pgdn home end", "move in the table", "table")]
        notes = [f"Fleet {self.fleet_name}: {len(self.nodes)} nodes, each polled every "
                 f"{min((t.interval for t in self.targets), default=0):g} s.",
                 "≠ marks where the nodes disagree: admin state, weight, a server missing "
                 "on a node; in the overview, the HAProxy version or the config hash.",
                 "A change on a merged server row is planned on every node, confirmed "
                 "once and sent by wave (y: rolling, a: all); u undoes the last one on "
                 "every node it changed.",
                 f"Settings: {self.settings.path}   Log: {log_where()}"]
        self.push_screen(HelpScreen(rows, notes, self.keymap_problems))


class NodeMonitorScreen(MonitorScreen):
    """The console on one node of a fleet: the main screen, where escape (with no
    filter to clear) goes back to the fleet."""

    def __init__(self, console_app: HAConsoleApp, fleet_name: str) -> None:
        super().__init__(console_app)
        self.fleet_name = fleet_name

    def on_mount(self) -> None:
        super().on_mount()
        self.header.instance = f"{self.console_app.target.label} · fleet {self.fleet_name}"
        self.note(f"fleet {self.fleet_name}: escape goes back to the fleet overview")

    def action_clear_filters(self) -> None:
        box = self.filter_box
        if box.has_focus or self.table.filtering or box.value:
            super().action_clear_filters()
            return
        app = self.console_app
        if isinstance(app, FleetApp):
            app.close_console()


def run_fleet_app(fleet_name: str, names: Sequence[str], targets: Sequence[Target],
                  failed: Sequence[tuple[str, str]], *, theme: str | None = None) -> int:
    """Run the fleet console; returns the exit code."""
    try:
        logging.basicConfig(stream=open_log(), level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    except (OSError, HAProxyError):
        pass  # the console runs without a log file; its path is said where it matters
    os.environ.setdefault("TEXTUAL_MAX_FPS", "30")
    app = FleetApp(fleet_name, names, targets, failed, theme=theme)
    result = app.run()
    return app.return_code if app.return_code is not None else (result or 0)
