"""What's hurting now (``w``, and the first screen with ``haconsole --triage``).

Backends, servers and frontends ranked by impact (:mod:`console.haproxy.hurting`):
errors per second, queue, Ta p95, failing checks, stuck streams, captured invalid
requests. The ranking is made again at every refresh of the main screen from its
counters and the console's log windows; while this screen is open, ``show sess`` and
``show errors`` are read every :data:`EVIDENCE_INTERVAL` seconds (they cost HAProxy
a dump: nothing is read when the screen is closed).

The selected row's evidence is shown below: every reason in words, the last error
lines from the logs, the last captured invalid request/response, the oldest stuck
streams.

Keys: ``enter`` goes to the row on the main screen, ``l`` opens its logs, ``s`` the
log summaries, ``w`` changes the logs' window (1/5/15 min, since the mark), ``r``
reads the evidence again, ``escape`` closes.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from console.haproxy.captured_errors import CapturedErrors, marked
from console.haproxy.errors import HAProxyError
from console.haproxy.hurting import STUCK_AGE, Impact, Triage, rank
from console.haproxy.logs.parse import LogRecord
from console.haproxy.logs.windows import WINDOW_NAMES
from console.haproxy.safe_text import visible
from console.haproxy.sessions import Sessions
from console.ui.screens.help import HELP_BINDING
from console.ui.widgets.simple_table import add_columns

if TYPE_CHECKING:
    from console.haproxy.transport import RuntimeClient
    from console.ui.app import HAConsoleApp

log = logging.getLogger("haconsole.ui")

EVIDENCE_INTERVAL = 5.0  # seconds between two reads of show sess / show errors
REFRESH = 1.0
# the reason next to the name: at 80 columns the numbers after it are off screen
COLUMNS = (("#", 2), ("what", 22), ("score", 6), ("why", 34), ("err/s", 6), ("queue", 5),
           ("Ta p95", 7), ("state", 12), ("stuck", 5))
WINDOW_WORDS = {"1m": "last minute", "5m": "last 5 min", "15m": "last 15 min",
                "mark": "since the mark"}
NOTHING = ("Nothing is hurting: no errors, no queue, every check passing, no stuck "
           "stream, nothing captured.")


def _num(v: float) -> str:
    if v <= 0:
        return "-"
    return f"{v:.1f}" if v < 10 else f"{v:,.0f}"


def impact_cells(n: int, i: Impact) -> list[str | Text]:
    reasons = i.reasons
    score = f"{i.score:.1f}" if i.score < 10 else f"{i.score:,.0f}"
    why = visible(reasons[0] if reasons else "")
    if len(reasons) > 1:
        why += f" (+{len(reasons) - 1})"
    return [str(n), visible(i.label), Text(score, style="bold"), why,
            _num(i.errors_per_s), str(i.queue) if i.queue else "-",
            f"{i.ta_p95:,}" if i.ta_p95 is not None else "-", visible(i.status),
            str(i.stuck) if i.stuck else "-"]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else \
        f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def sample_text(record: LogRecord) -> str:
    """A log line, short: status, termination, Ta, client, request (the header off)."""
    f = record.fields
    ta = f.get("ta", f.get("tt"))
    parts = [str(f.get("status", "-")), str(f.get("termination", "-") or "-"),
             f"Ta={ta}ms" if isinstance(ta, int) else "Ta=-",
             str(f.get("client", "?")), f'"{f.get("request", "")}"' if f.get("request")
             else ""]
    return visible(" ".join(p for p in parts if p))[:200]


def evidence_text(i: Impact, *, now: float | None = None, stuck_age: float = STUCK_AGE) -> str:
    """Everything known about *i*, in words (the detail pane and the export)."""
    now = time.time() if now is None else now
    lines = [f"{i.kind} {visible(i.label)} — score {i.score:,.1f} ({visible(i.status)})"]
    lines += [f"  • {visible(r)}" for r in i.reasons]
    if i.check:
        lines.append(f"  last check: {i.check}")
    if i.terminations:
        top = sorted(i.terminations.items(), key=lambda tn: -tn[1])[:4]
        lines.append("  termination states: " + ", ".join(
            f"{visible(t)}×{n}" for t, n in top))
    if i.samples:
        lines.append("last error lines:")
        for s in i.samples[-3:]:
            lines.append(f"  {_age(now - s.at)} ago: {sample_text(s.record)}")
    if i.captured is not None:
        e = i.captured
        lines.append(f"last captured {e.direction}: {visible(e.time)} from "
                     f"{visible(e.client or '?')} — {visible(e.reason)}")
        lines.append(f"  {marked(e, width=30)}")
    if i.stuck_streams:
        lines.append(f"oldest streams open over {stuck_age:g} s:")
        for st in i.stuck_streams:
            uri = f" {visible(st.uri)}" if st.uri else ""
            lines.append(f"  {st.id} {_age(st.age)} client {visible(st.client or '?')}{uri}")
    return "\n".join(lines)


class HurtingScreen(ModalScreen[None]):
    """The ranking (see the module docstring)."""

    DEFAULT_CSS = """
    HurtingScreen { background: $background; layout: vertical; }
    HurtingScreen #hurt-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    HurtingScreen #hurt-status { height: auto; padding: 0 1; }
    HurtingScreen #hurt-empty { height: auto; padding: 1 1; color: $success; display: none; }
    HurtingScreen #hurt-table { height: 1fr; }
    HurtingScreen #hurt-detail { height: 11; border-top: solid $panel; padding: 0 1; }
    """
    BINDINGS = [
        HELP_BINDING,
        Binding("escape", "back", "Close", id="hurting.close"),
        Binding("enter", "goto", "Go to the row", id="hurting.goto"),
        Binding("l", "logs", "Its logs", id="hurting.logs"),
        Binding("s", "summary", "Log summaries", id="hurting.summary"),
        Binding("w", "next_window", "Logs window", id="hurting.window"),
        Binding("r", "reread", "Read the evidence again", id="hurting.reread"),
    ]

    def __init__(self, app: HAConsoleApp, client: RuntimeClient | None, *,
                 window: str = "1m", stuck_age: float = STUCK_AGE) -> None:
        super().__init__()
        self.stuck_age = stuck_age
        self.console_app = app
        self.client = client
        self.window = window if window in WINDOW_NAMES else "1m"
        self.sessions: Sessions | None = None
        self.captured: CapturedErrors | None = None
        self.missing: dict[str, str] = {}
        self.evidence_at: float | None = None
        self.triage: Triage | None = None
        self._reading = False
        self._evidence = Static("", id="hurt-evidence", markup=False)

    def compose(self) -> ComposeResult:
        name = visible(self.console_app.target.name)
        yield Static(f"{name} — what's hurting now", id="hurt-title", markup=False)
        yield Static("", id="hurt-status", markup=False)
        yield Static(NOTHING, id="hurt-empty", markup=False)
        yield DataTable(id="hurt-table", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="hurt-detail"):
            yield self._evidence
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        add_columns(table, COLUMNS)
        table.focus()
        self.recompute()
        self.set_interval(REFRESH, self.recompute)
        self._read_evidence()
        self.set_interval(EVIDENCE_INTERVAL, self._read_evidence)

    # -- evidence -------------------------------------------------------------------------
    def _read_evidence(self) -> None:
        if self.client is None:
            self.missing = {"sessions": "no stats socket", "errors": "no stats socket"}
            return
        if not self._reading:
            self._reading = True
            self.run_worker(self._read(), group="hurting-evidence", exit_on_error=False)

    async def _read(self) -> None:
        from console.haproxy.triage_read import read_errors, read_sessions

        assert self.client is not None
        try:
            try:
                self.sessions, _ = await read_sessions(self.client, self.stuck_age)
                self.missing.pop("sessions", None)
            except HAProxyError as exc:
                self.missing["sessions"] = visible(str(exc))
            try:
                self.captured = await read_errors(self.client)
                self.missing.pop("errors", None)
            except HAProxyError as exc:
                self.missing["errors"] = visible(str(exc))
            self.evidence_at = time.time()
        except Exception as exc:  # noqa: BLE001 - said on the status line, logged in full
            log.exception("reading the triage evidence")
            self.missing["evidence"] = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            self._reading = False
        if self.is_mounted:
            self.recompute()

    # -- the ranking ------------------------------------------------------------------------
    def compute(self) -> Triage:
        monitor = self.console_app.monitor
        collector = getattr(self.console_app, "collector", None)
        windows = collector.windows if collector is not None else None
        missing = [f"{k}: {v}" for k, v in self.missing.items()]
        if collector is None:
            missing.append("logs: this console reads no ring")
        elif not collector.following and not collector.windows.lines:
            missing.append(collector.describe())
        if self.window == "mark" and windows is not None and windows.mark_at is None:
            missing.append("logs since the mark: no mark set (m on the main screen)")
            windows = None
        return rank(monitor.snapshot, monitor.rates, windows=windows, window=self.window,
                    sessions=self.sessions, captured=self.captured, missing=missing,
                    stuck_age=self.stuck_age)

    def recompute(self) -> None:
        triage = self.triage = self.compute()
        table = self.query_one(DataTable)
        selected = self.selected()
        keep = selected.label if selected is not None else None
        table.clear()
        for n, impact in enumerate(triage.impacts[:200], 1):
            table.add_row(*impact_cells(n, impact), key=f"{impact.kind}:{impact.label}")
        if keep is not None:
            for n, impact in enumerate(triage.impacts[:200]):
                if impact.label == keep:
                    table.move_cursor(row=n)
                    break
        self.query_one("#hurt-empty", Static).display = not triage.impacts
        table.display = bool(triage.impacts)
        self.query_one("#hurt-status", Static).update(self.status_line(triage))
        self._show_evidence()

    def status_line(self, triage: Triage) -> str:
        read = ""
        if self.evidence_at is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(self.evidence_at))
            read = f" · sessions/errors read {stamp}"
        head = (f"logs: {WINDOW_WORDS[self.window]} (w) · from " + ", ".join(triage.sources)
                + read)
        if triage.missing:
            head += "\nnot used: " + "; ".join(triage.missing)
        return head

    def selected(self) -> Impact | None:
        table = self.query_one(DataTable)
        if self.triage is None or not table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return next((i for i in self.triage.impacts if f"{i.kind}:{i.label}" == key), None)

    def _show_evidence(self) -> None:
        impact = self.selected()
        text = evidence_text(impact, stuck_age=self.stuck_age) if impact is not None else (
            "" if self.triage is None or not self.triage.impacts else "No row selected.")
        self._evidence.update(text)

    def on_data_table_row_highlighted(self, event: Any) -> None:
        self._show_evidence()

    def on_data_table_row_selected(self, event: Any) -> None:
        event.stop()
        self.action_goto()

    @property
    def rows_text(self) -> list[list[str]]:
        table = self.query_one(DataTable)
        return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]

    @property
    def evidence(self) -> str:
        return str(self._evidence.render())

    @property
    def status_text(self) -> str:
        return str(self.query_one("#hurt-status", Static).render())

    # -- keys -------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.dismiss(None)

    def action_next_window(self) -> None:
        self.window = WINDOW_NAMES[(WINDOW_NAMES.index(self.window) + 1) % len(WINDOW_NAMES)]
        self.recompute()

    def action_reread(self) -> None:
        self._read_evidence()
        self.notify("reading show sess and show errors again…", timeout=3)

    def action_goto(self) -> None:
        impact = self.selected()
        if impact is None:
            return
        self.dismiss(None)
        monitor = self.console_app.monitor
        if not monitor.table.move_cursor_to(impact.key):
            monitor.notify(f"{visible(impact.label)} is not shown on the main table: a "
                           "filter or a collapsed backend hides it (a: show all)",
                           severity="warning")

    def action_logs(self) -> None:
        impact = self.selected()
        if impact is None:
            self.console_app.monitor.navigation.open_logs()
            return
        from console.ui.screens.logs import filter_for

        flt = filter_for(impact.kind, impact.proxy, impact.name)
        self.console_app.monitor.navigation.open_logs(filter_text=flt)

    def action_summary(self) -> None:
        from console.ui.screens.log_summary import LogSummaryScreen

        self.app.push_screen(LogSummaryScreen(
            getattr(self.console_app, "collector", None),
            window=self.window, by="server", name=self.console_app.target.name))
