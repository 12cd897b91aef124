"""A change made on every node of a fleet from the merged table, and its undo.

Helpers of the fleet screen: the same menu as on one node (the specs the least
privileged node's socket allows), the value asked once, then one plan per node against
that node's state read now (:func:`console.fleet.plan_everywhere`: nothing is sent
when one node cannot be planned or reached), every plan shown in one confirmation that
chooses the wave, the change sent by wave (:func:`console.fleet.send_wave`; each node
journaled under its name), and what was done where. ``u`` undoes the last fleet change
on every node it changed, planned and confirmed the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from console import fleet
from console.haproxy import actions as act
from console.haproxy.actions.spec import prompt_values
from console.haproxy.errors import HAProxyError
from console.haproxy.fleet_model import MergedRow
from console.haproxy.safe_text import visible
from console.ui.screens.actions import UI_KINDS, ActionMenu, MenuItem, ValuePrompt, menu_items
from console.ui.screens.fleet_dialogs import FleetConfirmScreen, FleetResultScreen, result_text

if TYPE_CHECKING:
    from console.instance import Target
    from console.ui.fleet_app import FleetApp
    from console.ui.screens.fleet import FleetScreen

log = logging.getLogger("haconsole.ui")


class FleetOperations:
    """The fleet screen's changes: menu → value → plans → confirm → wave → results."""

    def __init__(self, screen: FleetScreen) -> None:
        self.screen = screen
        self.undo_stack: list[fleet.FanOut] = []

    @property
    def app(self) -> FleetApp:
        return self.screen.fleet_app

    def notify(self, message: str, *, severity: str = "information",
               timeout: float | None = None) -> None:
        self.screen.notify(visible(message), severity=severity,  # type: ignore[arg-type]
                           timeout=timeout)

    def allowed_kinds(self) -> frozenset[str]:
        """What every node's socket allows (a change goes to every node or to none)."""
        kinds: frozenset[str] | None = None
        for node in self.app.nodes:
            node_kinds = node.allowed_kinds()
            kinds = node_kinds if kinds is None else kinds & node_kinds
        return kinds or frozenset()

    def _refusal(self) -> str | None:
        """Why no change can be sent to the fleet now (None: it can)."""
        down = [n.name for n in self.app.nodes if n.target is None]
        if down:
            return (f"refused: {', '.join(down)} not reached (why: above the table); a "
                    "fleet change goes to every node, so nothing was sent. Fix the "
                    "connection and start again, or change the other nodes one by one "
                    "(enter on a node)")
        return None

    # -- a change -------------------------------------------------------------------------
    def open_menu(self, row: MergedRow) -> None:
        why = self._refusal()
        if why:
            self.notify(why, severity="error", timeout=10)
            return
        items = [i for i in menu_items("server", self.allowed_kinds(), many=False)
                 if i.kind not in UI_KINDS]
        if not items:
            reasons = {n.read_only_reason for n in self.app.nodes if n.read_only_reason}
            self.notify("no change offered: " + ("; ".join(sorted(reasons)) or
                                                 "the nodes' levels are not known yet"),
                        severity="warning")
            return
        ref = f"{row.proxy}/{row.name}"
        title = f"server {ref} on the {len(self.app.nodes)} nodes of {self.app.fleet_name}"
        self.screen.run_worker(self._run(row, visible(title), items), group="fleet-change",
                               exit_on_error=False)

    async def _run(self, row: MergedRow, title: str, items: list[MenuItem]) -> None:
        item = await self.app.push_screen_wait(ActionMenu(
            title, items, "Sent to every node of the fleet after one confirmation. "
            "Runtime changes are temporary: lost at reload or restart."))
        if item is None:
            return
        params = dict(item.params)
        if item.prompt:
            value = await self.app.push_screen_wait(ValuePrompt(item.prompt_label))
            if value is None or not value.strip():
                self.notify("cancelled: nothing was sent")
                return
            try:
                params.update(prompt_values(item.prompt, value))
            except HAProxyError as exc:
                self.notify(f"refused before sending anything: {exc}", severity="error",
                            timeout=15)
                return
        action = act.Action.server(item.kind, [(row.proxy, row.name)], **params)
        try:
            act.validate(action)
        except HAProxyError as exc:
            self.notify(f"refused before sending anything: {exc}", severity="error",
                        timeout=15)
            return
        await self.fan_out(self.app.targets, lambda _t: [action], act.describe(action))

    async def fan_out(self, targets: Sequence[Target],
                      actions: Callable[[Target], Sequence[act.Action]], summary: str,
                      *, undo_of: fleet.FanOut | None = None) -> None:
        """Plan on every node of *targets*, confirm once, send by wave, show the results."""
        kinds = {a.kind for t in targets for a in actions(t)}
        missing = kinds - self.allowed_kinds()
        if missing:
            reasons = {n.read_only_reason for n in self.app.nodes if n.read_only_reason}
            self.notify("refused before sending anything: " + ("; ".join(sorted(reasons))
                        or "not allowed at the nodes' socket levels"), severity="error",
                        timeout=15)
            return
        try:
            changes = await fleet.plan_everywhere(
                targets, fleet.actions_planner(actions, summary))
        except fleet.NotPlanned as exc:
            self.notify(f"refused: {exc}", severity="error", timeout=30)
            return
        dangerous = any(c.plan is not None and c.plan.dangerous for c in changes)
        title = f"{summary} — fleet {self.app.fleet_name}, {len(changes)} nodes"
        wave = await self.app.push_screen_wait(FleetConfirmScreen(
            title, changes, self.app.fleet_name if dangerous else None))
        if wave is None:
            self.notify("cancelled: nothing was sent to any node")
            return
        stopped = await fleet.send_wave(changes, wave)
        done = fleet.FanOut.of(summary, changes)
        if undo_of is not None:
            self._after_undo(undo_of, done)
        elif done.done:
            self.undo_stack.append(done)
        lines = fleet.summary_lines(changes, stopped)
        ok = sum(c.ok for c in changes)
        for node in self.app.nodes:
            if node.poller is not None:
                node.poller.refresh_now()
        await self.app.push_screen_wait(FleetResultScreen(
            f"{summary}: done on {ok} of {len(changes)} nodes (wave {wave})",
            result_text(changes, lines)))

    # -- undo -----------------------------------------------------------------------------
    def undo(self) -> None:
        if not self.undo_stack:
            self.notify("no fleet change to undo in this session")
            return
        self.screen.run_worker(self._undo(self.undo_stack[-1]), group="fleet-change",
                               exit_on_error=False)

    async def _undo(self, last: fleet.FanOut) -> None:
        per_node = last.undo_actions()
        if not per_node:
            self.notify(f"cannot undo {last.summary}: no previous state recorded",
                        severity="warning")
            return
        targets = [t for t, _ in last.done if t.name in per_node]
        await self.fan_out(targets, lambda t: per_node[t.name], f"undo: {last.summary}",
                           undo_of=last)

    def _after_undo(self, last: fleet.FanOut, done: fleet.FanOut) -> None:
        """Nodes where the undo went through no longer need it; the rest stay to undo."""
        undone = {t.name for t, _ in done.done}
        last.done = [(t, p) for t, p in last.done if t.name not in undone]
        if not last.done and last in self.undo_stack:
            self.undo_stack.remove(last)
