"""Log summaries over a window, live (``s`` from the logs or the triage screen).

One table per grouping — per server, per backend, per termination state (with its
meaning), per status, top paths, top clients — over the last 1, 5 or 15 minutes or
since the incident mark, from the console's log collector
(:mod:`console.haproxy.logs.collector`). It is computed again every second.

Keys: ``w`` next window, ``g`` next grouping, ``s`` next sort (requests, errors,
error %, Ta p95), ``escape`` closes. Every key from the log goes through
:func:`~console.haproxy.safe_text.visible`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from console.haproxy.logs.summary import CLASSES, Group, Summary
from console.haproxy.logs.termination import explain_termination
from console.haproxy.logs.windows import KEPT_DIMENSIONS, WINDOW_NAMES
from console.haproxy.safe_text import visible
from console.ui.screens.help import HELP_BINDING
from console.ui.widgets.simple_table import add_columns

if TYPE_CHECKING:
    from console.haproxy.logs.collector import LogCollector

SORTS = ("requests", "errors", "error %", "Ta p95")
WINDOW_WORDS = {"1m": "the last minute", "5m": "the last 5 minutes",
                "15m": "the last 15 minutes", "mark": "since the incident mark"}
DIMENSION_WORDS = {"server": "server", "backend": "backend", "termination": "termination state",
                   "status": "status", "path": "path (top)", "client": "client (top)"}
MAX_ROWS = 200


def _pct(g: Group) -> float:
    return 100.0 * g.errors / g.requests if g.requests else 0.0


def sorted_rows(summary: Summary, sort: str) -> list[tuple[str, Group]]:
    """The groups, heaviest first by *sort* (one of :data:`SORTS`)."""
    items = list(summary.groups)
    if sort == "errors":
        return sorted(items, key=lambda kv: (-kv[1].errors, -kv[1].requests, kv[0]))
    if sort == "error %":
        return sorted(items, key=lambda kv: (-_pct(kv[1]), -kv[1].requests, kv[0]))
    if sort == "Ta p95":
        return sorted(items, key=lambda kv: (-(kv[1].ta.quantile(0.95) or -1), kv[0]))
    return sorted(items, key=lambda kv: (-kv[1].requests, kv[0]))


def _ms(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def summary_cells(key: str, g: Group, by: str) -> list[str | Text]:
    """One table row: key, requests, errors, error %, 2xx..5xx, Ta p50/p95/p99, top
    termination states (or the state's meaning when grouped by it)."""
    classes = dict(zip(CLASSES, g.classes, strict=True))
    terms = sorted(((t, n) for t, n in g.termination.items() if t[:1] not in ("-", "")),
                   key=lambda tn: -tn[1])
    if by == "termination":
        last = explain_termination(key)
    else:
        last = " ".join(f"{visible(t)}:{n}" for t, n in terms[:3]) or "-"
    pct = _pct(g)
    return [visible(key), f"{g.requests:,}",
            Text(f"{pct:.1f}", style="bold red" if pct >= 5 else ""),
            Text(f"{classes['5xx']:,}", style="red" if classes["5xx"] else ""),
            f"{classes['4xx']:,}", _ms(g.ta.quantile(0.50)), _ms(g.ta.quantile(0.95)),
            _ms(g.ta.quantile(0.99)), visible(last), f"{g.errors:,}",
            f"{classes['2xx']:,}", f"{classes['3xx']:,}"]


# the most telling first: at 80 columns the table shows up to Ta p95
COLUMNS = (("key", 22), ("req", 7), ("err%", 5), ("5xx", 5), ("4xx", 5), ("Ta p50", 6),
           ("Ta p95", 6), ("Ta p99", 6), ("termination", 24), ("errors", 6), ("2xx", 7),
           ("3xx", 5))


class LogSummaryScreen(ModalScreen[None]):
    """Live summaries of *collector*'s windows (see the module docstring)."""

    DEFAULT_CSS = """
    LogSummaryScreen { background: $background; layout: vertical; }
    LogSummaryScreen #sum-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    LogSummaryScreen #sum-status { height: auto; padding: 0 1; }
    LogSummaryScreen #sum-table { height: 1fr; }
    """
    BINDINGS = [
        HELP_BINDING,
        Binding("escape", "back", "Close", id="summary.close"),
        Binding("w", "next_window", "Window: 1/5/15 min, since the mark", id="summary.window"),
        Binding("g", "next_group", "Group by", id="summary.group"),
        Binding("s", "next_sort", "Sort", id="summary.sort"),
    ]

    def __init__(self, collector: LogCollector | None, *, window: str = "5m",
                 by: str = "server", name: str = "HAProxy") -> None:
        super().__init__()
        self.collector = collector
        self.window = window if window in WINDOW_NAMES else "5m"
        self.by = by if by in KEPT_DIMENSIONS else "server"
        self.sort = "requests"
        self.instance = name

    def compose(self) -> ComposeResult:
        yield Static(f"{visible(self.instance)} — log summaries", id="sum-title", markup=False)
        yield Static("", id="sum-status", markup=False)
        yield DataTable(id="sum-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        add_columns(table, COLUMNS)
        table.focus()
        self.refresh_summary()
        self.set_interval(1.0, self.refresh_summary)

    # -- content ----------------------------------------------------------------------------
    def status_line(self, summary: Summary | None) -> str:
        c = self.collector
        if c is None:
            return "no logs: this console reads no ring (it needs the stats socket)"
        head = (f"{WINDOW_WORDS[self.window]} · by {DIMENSION_WORDS[self.by]} · "
                f"sorted by {self.sort}")
        if not c.following and not c.windows.lines:
            return f"{head}\n{c.describe()}"
        if self.window == "mark" and c.windows.mark_at is None:
            return f"{head}\nno incident mark: set one with m on the main screen"
        covered = c.windows.covered(self.window)
        parts = [head, f"{covered:.0f} s of logs"]
        if summary is not None:
            parts.append(f"{summary.records:,} requests")
            if summary.unparsed:
                parts.append(f"{summary.unparsed:,} lines not understood")
            if summary.groups.dropped:
                parts.append(f"top keys only (counts may be low by {summary.groups.error})")
        return " · ".join(parts) + "\n" + c.describe()

    def current(self) -> Summary | None:
        c = self.collector
        if c is None:
            return None
        if self.window == "mark" and c.windows.mark_at is None:
            return None
        return c.windows.summary(self.by, self.window)

    def refresh_summary(self) -> None:
        summary = self.current()
        self.query_one("#sum-status", Static).update(self.status_line(summary))
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        if summary is None:
            return
        for key, group in sorted_rows(summary, self.sort)[:MAX_ROWS]:
            table.add_row(*summary_cells(key, group, self.by), key=key)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))

    @property
    def rows_text(self) -> list[list[str]]:
        """The table as text, for tests."""
        table = self.query_one(DataTable)
        return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]

    @property
    def status_text(self) -> str:
        return str(self.query_one("#sum-status", Static).render())

    # -- keys -------------------------------------------------------------------------------
    def _next(self, values: tuple[str, ...], current: str) -> str:
        return values[(values.index(current) + 1) % len(values)]

    def action_next_window(self) -> None:
        self.window = self._next(WINDOW_NAMES, self.window)
        self.refresh_summary()

    def action_next_group(self) -> None:
        self.by = self._next(KEPT_DIMENSIONS, self.by)
        self.refresh_summary()

    def action_next_sort(self) -> None:
        self.sort = self._next(SORTS, self.sort)
        self.refresh_summary()

    def action_back(self) -> None:
        self.dismiss(None)

    def on_data_table_row_selected(self, event: Any) -> None:
        event.stop()
