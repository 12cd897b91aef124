"""The stats level from the console: incident marks, clearing counters, export."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from console.haproxy.counters import Mark
from console.haproxy.errors import HAProxyError
from console.haproxy.timeline import export_markdown
from console.haproxy.transport import RuntimeClient
from console.ui.header import HeaderBar
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.table import ProxyTable

if TYPE_CHECKING:
    from console.ui.app import HAConsoleApp


class StatsMixin:
    """Mixed into the app: marks (deltas without clearing), clear counters, export."""

    def action_mark(self: HAConsoleApp) -> None:
        if self.snapshot is None:
            self.notify("no data yet to mark", severity="warning")
            return
        replaced = self.mark is not None
        self.mark = Mark.now(self.snapshot)
        self.query_one(ProxyTable).set_mark(self.mark)
        self.query_one(HeaderBar).update_state(mark=self.mark)
        stamp = time.strftime("%H:%M:%S", time.localtime(self.mark.wall_time))
        self._note(f"incident mark set at {stamp}")
        self.notify(("mark replaced" if replaced else "mark set") + f" at {stamp}: counters "
                    "now show Δ since the mark; nothing was cleared in HAProxy (M clears)")
        self._update_detail()

    def action_clear_mark(self: HAConsoleApp) -> None:
        if self.mark is None:
            self.notify("no mark set")
            return
        self.mark = None
        self.query_one(ProxyTable).set_mark(None)
        self.query_one(HeaderBar).update_state(mark=None)
        self._note("incident mark cleared")
        self.notify("mark cleared: counters are since the last clear again")

    def _can_change(self: HAConsoleApp, needed: str) -> bool:
        if self.target.read_only:
            self.notify("read-only: started with --read-only", severity="warning")
            return False
        order = {"user": 0, "operator": 1, "admin": 2}
        if not self.target.socket:
            self.notify("clearing counters needs the stats socket (-s)", severity="warning")
            return False
        if self.level and order.get(self.level, 0) < order[needed]:
            self.notify(f"not allowed: this socket is level {self.level}, this needs "
                        f"{needed}", severity="error")
            return False
        return True

    def action_clear_counters(self: HAConsoleApp) -> None:
        if not self._can_change("operator"):
            return
        body = ("Resets the max values (smax, qmax, rate_max, ...) and activity counters "
                "in HAProxy.\nEvery other reader sees the reset too: Prometheus scrapes, "
                "other consoles, the stats page.\nTip: an incident mark (m) shows deltas "
                "without clearing anything.")
        self._confirm_and_send("Clear counters?", body, "clear counters")

    def action_clear_counters_all(self: HAConsoleApp) -> None:
        if not self._can_change("admin"):
            return
        body = ("Resets EVERY counter of every frontend, backend and server to zero "
                "(totals, bytes, errors, HTTP codes, max values).\nEvery other reader sees "
                "the reset: Prometheus graphs show a counter reset, other consoles and the "
                "stats page lose their history.\nAn incident mark (m) gives deltas without "
                "clearing.")
        self._confirm_and_send("Clear ALL counters?", body, "clear counters all",
                               type_to_confirm="clear all")

    def _confirm_and_send(self: HAConsoleApp, title: str, body: str, command: str,
                          type_to_confirm: str | None = None) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._send(command), group="change", exit_on_error=False)
            else:
                self.notify("cancelled: nothing was sent")

        self.push_screen(ConfirmScreen(title, body, [command], type_to_confirm), done)

    async def _send(self: HAConsoleApp, command: str) -> None:
        from console.journal import record

        assert self.target.socket
        try:
            answer = await RuntimeClient(self.target.socket).run(command)
        except HAProxyError as exc:
            record(self.target, command, error=str(exc))
            self.notify(f"{command!r} failed: {exc}", severity="error", timeout=15)
            return
        record(self.target, command, answer=answer)
        self._note(f"sent: {command}")
        self.notify(f"done: {command}" + (f" — HAProxy said: {answer.strip()}"
                                          if answer.strip() else ""))
        self.poller.refresh_now()

    def action_export(self: HAConsoleApp) -> None:
        from console.journal import read_entries
        from console.settings import state_dir

        version = self.snapshot.info.version if self.snapshot and self.snapshot.info else "?"
        try:
            path = export_markdown(state_dir(), self.timeline.events, instance=self.target.name,
                                   version=version, mark=self.mark,
                                   journal=read_entries(self.target.name))
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify(f"timeline exported to {path}", timeout=15)
