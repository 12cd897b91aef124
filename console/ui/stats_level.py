"""The stats level from the console: incident marks, clearing counters, export."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from console.haproxy.actions import Action
from console.haproxy.counters import Mark
from console.haproxy.timeline import export_markdown
from console.ui.header import HeaderBar
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
        if self._can_change("operator"):
            self._clear("clear_counters")

    def action_clear_counters_all(self: HAConsoleApp) -> None:
        if self._can_change("admin"):
            self._clear("clear_counters_all")

    def _clear(self: HAConsoleApp, kind: str) -> None:
        """Planned, confirmed (the instance's name typed for every counter), sent and
        journaled like every runtime change."""
        intro = "Tip: an incident mark (m) shows deltas without clearing anything."
        self.run_worker(self.send_actions([Action(kind)], intro=intro, record_undo=False),
                        group="change", exit_on_error=False)

    def action_export(self: HAConsoleApp) -> None:
        from console.haproxy.journal import read_entries
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
