"""Runtime changes from the console: menu → value → plan → confirm → send → result.

Helpers of the main screen. Every change, whatever asks for it (the menu, undo, the
journal's restore, Drift's revert), goes through :meth:`Operations.send_actions`:
planned against a fresh read of the state, shown with its exact commands and impact,
confirmed (the name typed when it is dangerous), sent, journaled, and recorded for
undo. The result says it is runtime only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from console.haproxy import actions as act
from console.haproxy.actions.spec import prompt_values
from console.haproxy.drain import Drained, DrainFailed, TimedOut, drain_to_zero, plan_drain_to_zero
from console.haproxy.errors import HAProxyError, NoSuchObject, ValidationError
from console.haproxy.journal import check_writable
from console.haproxy.safe_text import visible
from console.haproxy.statefs import StateError
from console.haproxy.transport import RuntimeClient
from console.ui.screens.actions import ActionMenu, DrainScreen, MenuItem, ValuePrompt, menu_items
from console.ui.screens.confirm import confirm_screen

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from console.instance import Target
    from console.ui.app import HAConsoleApp
    from console.ui.screens.monitor import MonitorScreen

log = logging.getLogger("haconsole.ui")


class Operations:
    """The main screen's runtime changes: the menu, the one send path, undo, drain."""

    def __init__(self, screen: MonitorScreen) -> None:
        self.screen = screen
        self.undo_stack: list[act.Plan] = []

    @property
    def app(self) -> HAConsoleApp:
        return self.screen.console_app

    @property
    def target(self) -> Target:
        return self.screen.console_app.target

    def notify(self, message: str, *, severity: SeverityLevel = "information",
               timeout: float | None = None) -> None:
        self.screen.notify(message, severity=severity, timeout=timeout)

    # -- helpers ------------------------------------------------------------------------
    def allowed_kinds(self) -> frozenset[str]:
        if not self.target.socket:
            return frozenset()
        return act.read_only(self.app.level, bool(self.target.read_only),
                             self._haproxy_version())

    def _haproxy_version(self) -> str | None:
        snap = self.screen.snapshot
        info = snap.info if snap else None
        return info.version if info else None

    def _selection(self) -> list[tuple[str, str]]:
        table = self.screen.table
        keys = sorted(table.marked) if table.marked else (
            [table.cursor_key] if table.cursor_key else [])
        snap = self.screen.snapshot
        return [k for k in keys if snap and snap.get(*k)]

    def _client(self) -> RuntimeClient:
        assert self.target.socket
        return RuntimeClient(self.target.socket)

    # -- the menu -------------------------------------------------------------------------
    def open_menu(self) -> None:
        if not self.target.socket:
            self.notify("runtime changes need the stats socket (-s)", severity="warning")
            return
        keys = self._selection()
        snap = self.screen.snapshot
        if not keys or snap is None:
            self.notify("select a row first (space marks several)", severity="warning")
            return
        types = {row.type for row in (snap.get(*k) for k in keys) if row is not None}
        if len(types) > 1:
            self.notify("marked rows mix servers and frontends: mark only one kind",
                        severity="warning")
            return
        row_type = types.pop()
        allowed = self.allowed_kinds()
        items = menu_items(row_type, allowed, many=len(keys) > 1)
        if not items:
            why = self.app.read_only_reason or f"nothing to change on a {row_type} row"
            self.notify(f"no change offered: {why}", severity="warning")
            return
        names = [k[1] if row_type == "server" else k[0] for k in keys]
        if row_type == "server":
            names = [f"{b}/{s}" for b, s in keys]
        title = f"{row_type} {', '.join(names[:4])}" + (f" (+{len(names) - 4})"
                                                         if len(names) > 4 else "")
        self.screen.run_worker(self._run_operation(keys, row_type, visible(title), items),
                               group="change", exclusive=False, exit_on_error=False)

    async def _run_operation(self, keys: list[tuple[str, str]], row_type: str,
                             title: str, items: list[MenuItem]) -> None:
        item = await self.app.push_screen_wait(ActionMenu(title, items))
        if item is None:
            return
        table, snap = self.screen.table, self.screen.snapshot
        if item.kind == "mark_same_name" and snap is not None:
            same = act.expand_same_name(snap, keys[0][1])
            for key in same:
                table.marked.add(key)
            table.refresh()
            self.notify(f"marked {len(same)} servers named {keys[0][1]}; enter or o acts on "
                        "all of them (space unmarks)")
            return
        if item.kind == "mark_backend" and snap is not None:
            servers = [r.key for r in snap.servers_of(keys[0][0])]
            table.marked.update(servers)
            table.refresh()
            self.notify(f"marked the {len(servers)} servers of {keys[0][0]}")
            return
        params = dict(item.params)
        if item.prompt:
            value = await self.app.push_screen_wait(ValuePrompt(item.prompt_label))
            if value is None or not value.strip():
                self.notify("cancelled: nothing was sent")
                return
            params.update(prompt_values(item.prompt, value))
        if item.kind == "drain_to_zero":
            await self._drain_to_zero(keys[0])
            return
        if row_type == "server":
            action = act.Action.server(item.kind, keys, **params)
        else:
            action = act.Action.frontend(item.kind, [k[0] for k in keys], **params)
        await self.plan_confirm_execute(action)

    async def plan_confirm_execute(self, action: act.Action) -> act.Result | None:
        return await self.send_actions([action])

    async def send_actions(self, actions: list[act.Action], *,
                           summary: str | None = None, intro: str | None = None,
                           record_undo: bool = True,
                           about: Callable[[RuntimeClient], Awaitable[Mapping[str, Any] | None]]
                           | None = None) -> act.Result | None:
        """The one way the console sends runtime changes, whatever asked for them (the
        menu, undo, the journal's restore, Drift's revert, the sessions screen): check
        they are allowed, plan them together against a fresh read of the state (impact,
        danger), confirm (the name typed when dangerous), execute and journal.

        *about*: reads, just before planning, what ``show stat`` does not list of the
        target (the stream a ``shutdown session`` cuts); raising :class:`NoSuchObject`
        there refuses the change (journaled) like a name that does not exist."""
        what = summary or "; ".join(act.describe(a) for a in actions)
        missing = {a.kind for a in actions} - self.allowed_kinds()
        if missing:
            why = self.app.read_only_reason or ("no stats socket" if not self.target.socket
                                                else "not allowed at this socket's level")
            act.record_refusal(self.target, what, f"not allowed: {why}")
            self.notify(f"refused before sending anything: {why}", severity="error",
                        timeout=15)
            return None
        client = self._client()
        try:
            for action in actions:
                act.validate(action)
            before = await about(client) if about is not None else None
            snapshot, states = await act.read_state(client)
            plan = act.plan_all(actions, snapshot, states, instance=self.target.name,
                                summary=summary, version=self._haproxy_version(),
                                about=before)
        except (ValidationError, NoSuchObject) as exc:
            act.record_refusal(self.target, what, str(exc))
            self.notify(f"refused before sending anything: {visible(exc)}", severity="error",
                        timeout=15)
            return None
        except HAProxyError as exc:
            self.notify(f"cannot prepare the change: {visible(exc)}", severity="error",
                        timeout=15)
            return None
        return await self._confirm_and_execute(plan, client, intro=intro,
                                               record_undo=record_undo)

    async def _confirm_and_execute(self, plan: act.Plan, client: RuntimeClient,
                                   *, intro: str | None = None,
                                   record_undo: bool = True) -> act.Result | None:
        yes = await self.app.push_screen_wait(confirm_screen(plan, intro))
        if not yes:
            self.notify("cancelled: nothing was sent")
            return None
        try:
            result = await act.execute(plan, client, self.target)
        except StateError as exc:  # the journal cannot be written: nothing was sent
            self.notify(f"not sent: {visible(exc)}", severity="error", timeout=30)
            return None
        except ValidationError as exc:
            self.notify(f"refused before sending anything: {visible(exc)}", severity="error",
                        timeout=20)
            return None
        if result.ok:
            if record_undo:
                self.undo_stack.append(plan)
            answers = "; ".join(a.strip() for a in result.answers if a.strip())
            self.notify(visible(f"done: {plan.summary}"
                                + (f" — HAProxy: {answers}" if answers else ""))
                        + (f"\n{plan.runtime_only_note}"
                           + (" (u undoes)" if record_undo else "")
                           if plan.runtime_only_note else ""), timeout=10)
            self.screen.note(visible(f"runtime change: {plan.summary}"))
        else:
            self.notify(visible(f"failed: {result.error}"), severity="error", timeout=20)
            self.screen.note(visible(f"runtime change failed: {plan.summary}: {result.error}"))
        for warning in result.warnings:
            self.notify(visible(warning), severity="warning")
        self.app.poller.refresh_now()
        self.screen.navigation.refresh_drift()
        return result

    # -- undo ---------------------------------------------------------------------------
    def undo(self) -> None:
        if not self.undo_stack:
            self.notify("nothing to undo in this session (j: journal, to restore older "
                        "changes)")
            return
        self.screen.run_worker(self._run_undo(), group="change", exit_on_error=False)

    async def _run_undo(self) -> None:
        last = self.undo_stack[-1]
        changes = act.undo_actions(last)
        if not changes:
            self.notify(f"cannot undo {last.summary}: " + ("; ".join(last.no_undo) or
                                                          "no previous state recorded"),
                        severity="warning")
            return
        result = await self.send_actions(changes, summary=f"undo: {last.summary}",
                                         record_undo=False)
        if result is not None and result.ok and last in self.undo_stack:
            self.undo_stack.remove(last)

    # -- drain to zero --------------------------------------------------------------------
    async def _drain_to_zero(self, key: tuple[str, str]) -> None:
        backend, server = key
        ref = f"{backend}/{server}"
        client = self._client()
        timeout = float(self.app.settings.ui.drain_timeout)
        if "server_state" not in self.allowed_kinds():
            self.notify(f"refused: {self.app.read_only_reason or 'not allowed'}",
                        severity="error")
            return
        try:
            snapshot, states = await act.read_state(client)
            plan = plan_drain_to_zero(snapshot, states, backend, server, timeout)
        except HAProxyError as exc:
            self.notify(f"cannot prepare the drain: {visible(exc)}", severity="error",
                        timeout=15)
            return
        intro = ("DRAIN now, watch its sessions and queue fall to 0 (live), then MAINT. "
                 "Cancelable; on timeout you choose what to do.")
        yes = await self.app.push_screen_wait(confirm_screen(plan, intro))
        if not yes:
            self.notify("cancelled: nothing was sent")
            return
        try:
            check_writable()
        except StateError as exc:
            self.notify(f"not sent: {visible(exc)}", severity="error", timeout=30)
            return
        while True:
            drain_screen = DrainScreen(ref, timeout)
            choice_future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

            def chosen(c: str | None, fut: asyncio.Future[str] = choice_future) -> None:
                if not fut.done():
                    fut.set_result(c or "done")

            self.app.push_screen(drain_screen, chosen)

            def progress(p: Any, screen: DrainScreen = drain_screen) -> None:
                screen.progress(f"{p.phase}: {p.elapsed:.0f}s elapsed, sessions "
                                f"{p.scur if p.scur is not None else '-'}, queue "
                                f"{p.qcur if p.qcur is not None else '-'} ({p.status})")

            task = asyncio.create_task(drain_to_zero(client, backend, server,
                                                     timeout=timeout, on_progress=progress,
                                                     target=self.target))
            waiting: set[asyncio.Future[Any]] = {task, choice_future}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if choice_future in done and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, HAProxyError):
                    pass
                self.notify(f"drain of {ref} cancelled: it stays in DRAIN (o, then ready, "
                            "puts it back)",
                            severity="warning")
                self.screen.note(f"drain to zero of {ref} cancelled, left in DRAIN")
                self.app.poller.refresh_now()
                return
            outcome = task.result()
            if isinstance(outcome, Drained):
                drain_screen.show_done(f"done in {outcome.elapsed:.1f}s: {ref} is in MAINT. "
                                 f"{act.RUNTIME_ONLY}")
                self.screen.note(f"drained {ref} to zero in {outcome.elapsed:.1f}s, now MAINT")
                await choice_future
                self.app.poller.refresh_now()
                return
            if isinstance(outcome, DrainFailed):
                drain_screen.show_done(f"failed: {outcome.message}")
                await choice_future
                return
            assert isinstance(outcome, TimedOut)
            drain_screen.show_timeout(f"timed out after {outcome.elapsed:.0f}s with "
                                f"{outcome.scur} sessions and {outcome.qcur} queued: "
                                f"{ref} is still in DRAIN. What now?")
            choice = await choice_future
            if choice == "wait":
                continue
            if choice in ("maint", "ready"):
                await self.plan_confirm_execute(act.Action.server(
                    "server_state", [key], state=choice))
            else:
                self.notify(f"{ref} stays in DRAIN")
            self.app.poller.refresh_now()
            return
