"""The stats level from the console: incident marks, clearing counters, export."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from console.haproxy.actions import Action
from console.haproxy.counters import Mark
from console.haproxy.errors import HAProxyError
from console.haproxy.hurting import STUCK_AGE
from console.haproxy.safe_text import visible
from console.haproxy.timeline import export_markdown

if TYPE_CHECKING:
    from console.ui.screens.monitor import MonitorScreen

log = logging.getLogger("haconsole.ui")

LEVEL_ORDER = {"user": 0, "operator": 1, "admin": 2}


class Stats:
    """The main screen's marks (deltas without clearing), counter clears and export."""

    def __init__(self, screen: MonitorScreen) -> None:
        self.screen = screen

    def set_mark(self) -> None:
        screen = self.screen
        if screen.snapshot is None:
            screen.notify("no data yet to mark", severity="warning")
            return
        replaced = screen.mark is not None
        mark = Mark.now(screen.snapshot)
        stamp = time.strftime("%H:%M:%S", time.localtime(mark.wall_time))
        self.show_mark(mark, f"incident mark set at {stamp}")
        screen.notify(("mark replaced" if replaced else "mark set") + f" at {stamp}: counters "
                      "now show Δ since the mark; nothing was cleared in HAProxy (M clears)")
        self.save_mark()

    def show_mark(self, mark: Mark | None, note: str) -> None:
        """*mark* (None: no mark) on the table, the header, the detail and the log
        windows, with *note* in the events; nothing saved or removed on disk (a replayed
        recording's marks come this way)."""
        screen = self.screen
        screen.mark = mark
        screen.table.set_mark(mark)
        screen.header.update_state(mark=mark)
        screen.note(note)
        screen.update_detail()
        self.sync_logs_mark()

    def sync_logs_mark(self) -> None:
        """The log windows' "since the mark" follows the main screen's mark."""
        collector = self.screen.console_app.collector
        if collector is None:
            return
        mark = self.screen.mark
        if mark is None:
            collector.windows.clear_mark()
        else:
            collector.windows.set_mark(mark.wall_time)

    def save_mark(self) -> None:
        """Keep the mark for the next start of the console on this instance."""
        from console.haproxy import marks

        screen = self.screen
        if screen.mark is None or screen.snapshot is None or \
                not screen.console_app.keeps_marks:
            return  # a spectator's (or a replay's) mark is theirs alone: nothing written
        try:
            marks.save(screen.console_app.target.name, screen.mark, screen.snapshot)
        except (HAProxyError, OSError) as exc:
            screen.notify(f"the mark is not kept for the next start: {visible(exc)}",
                          severity="warning", timeout=10)

    def restore_mark(self) -> None:
        """The mark saved by an earlier run on this instance, on the first data."""
        from console.haproxy import marks

        screen = self.screen
        if screen.snapshot is None or screen.mark is not None or \
                not screen.console_app.keeps_marks:
            return
        try:
            restored = marks.load(screen.console_app.target.name, screen.snapshot)
        except (HAProxyError, OSError) as exc:
            screen.note(f"no incident mark restored: {visible(exc)}")
            return
        if restored is None:
            return
        mark = restored.mark
        stamp = time.strftime("%H:%M:%S", time.localtime(mark.wall_time))
        label = f" ({mark.label})" if mark.label else ""
        self.show_mark(mark, f"incident mark of {stamp}{label} restored from the last "
                       "session: counters show Δ since it (M clears)" + (
                           "; HAProxy was reloaded meanwhile: what was counted between the "
                           "last session and the reload is not included" if restored.reloaded
                           else ""))

    def clear_mark(self) -> None:
        screen = self.screen
        if screen.mark is None:
            screen.notify("no mark set")
            return
        try:
            from console.haproxy import marks

            if screen.console_app.keeps_marks:
                marks.forget(screen.console_app.target.name)
        except (HAProxyError, OSError) as exc:
            screen.notify(f"the saved mark could not be removed: {visible(exc)}",
                          severity="warning")
        self.show_mark(None, "incident mark cleared")
        screen.notify("mark cleared: counters are since the last clear again")

    def _can_change(self, needed: str) -> bool:
        screen, app = self.screen, self.screen.console_app
        if app.target.read_only:
            screen.notify("a spectator watches: counters are cleared from the operator's "
                          "console" if app.spectator else "read-only: started with --read-only",
                          severity="warning")
            return False
        if not app.target.socket:
            screen.notify("clearing counters needs the stats socket (-s)", severity="warning")
            return False
        if app.level and LEVEL_ORDER.get(app.level, 0) < LEVEL_ORDER[needed]:
            screen.notify(f"not allowed: this socket is level {app.level}, this needs "
                          f"{needed}", severity="error")
            return False
        return True

    def clear_counters(self, kind: str, *, needs: str) -> None:
        """Planned, confirmed (the instance's name typed for every counter), sent and
        journaled like every runtime change."""
        if not self._can_change(needs):
            return
        intro = "Tip: an incident mark (m) shows deltas without clearing anything."
        self.screen.run_worker(self.screen.operations.send_actions(
            [Action(kind)], intro=intro, record_undo=False),
            group="change", exit_on_error=False)

    def export(self) -> None:
        """The incident report: the timeline, the journal, the marks, and the triage
        (what was hurting, the log summaries of the incident window, sample lines)."""
        if self.screen.console_app.spectator:
            self.screen.notify("a spectator writes nothing on the serving host: the report "
                               "is exported from the operator's console (x)",
                               severity="warning")
            return
        self.screen.run_worker(self._export(), group="export", exit_on_error=False)

    async def _triage_sections(self) -> list[str]:
        from console.haproxy.hurting import rank
        from console.haproxy.logs.windows import Windows
        from console.haproxy.transport import RuntimeClient
        from console.haproxy.triage_read import read_errors, read_sessions
        from console.haproxy.triage_report import incident_window, triage_markdown

        screen, app = self.screen, self.screen.console_app
        sessions = captured = None
        missing: list[str] = []
        if app.target.socket:
            client = RuntimeClient(app.target.socket)
            try:
                sessions, _ = await read_sessions(client, STUCK_AGE)
            except HAProxyError as exc:
                missing.append(f"sessions: {visible(exc)}")
            try:
                captured = await read_errors(client)
            except HAProxyError as exc:
                missing.append(f"errors: {visible(exc)}")
        collector = app.collector
        windows: Windows | None = collector.windows if collector is not None else None
        window = incident_window(windows) if windows is not None else "15m"
        triage = rank(screen.snapshot, screen.rates, windows=windows, window=window,
                      sessions=sessions, captured=captured, missing=missing) \
            if screen.snapshot is not None else None
        state = collector.describe() if collector is not None else "no stats socket"
        return triage_markdown(triage, windows, logs_state=state)

    async def _export(self) -> None:
        from console.haproxy.journal import read_entries
        from console.haproxy.statefs import state_dir

        screen, target = self.screen, self.screen.console_app.target
        snap = screen.snapshot
        version = snap.info.version if snap and snap.info else "?"
        try:
            sections = await self._triage_sections()
        except Exception as exc:  # noqa: BLE001 - the timeline is written all the same
            log.exception("the triage part of the export")
            sections = ["## What was hurting", "",
                        f"Not included: internal error {type(exc).__name__}: "
                        f"{visible(exc)}", ""]
        try:
            path = export_markdown(state_dir(), screen.timeline.events, instance=target.name,
                                   version=version, mark=screen.mark,
                                   journal=read_entries(target.name), current=snap,
                                   dropped=screen.timeline.dropped, sections=sections)
        except OSError as exc:
            screen.notify(f"export failed: {exc}", severity="error")
            return
        screen.notify(f"incident report exported to {path}", timeout=15)
