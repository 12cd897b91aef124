"""The main screen: the proxies table, the detail and events panes, the filter and the
banner, with the keys that act on them.

The app owns the data source (the poller) and hands each snapshot and status to this
screen; the runtime changes, the other screens and the stats level are small helpers
this screen owns (:class:`Operations`, :class:`Navigation`, :class:`Stats`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from rich.style import Style
from textual import events
from textual.app import ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.scalar import Scalar
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from console.haproxy.checks import CheckLog
from console.haproxy.counters import Mark
from console.haproxy.events import Event
from console.haproxy.events import fold as fold_event
from console.haproxy.events import summarize as summarize_events
from console.haproxy.history import History
from console.haproxy.model import Counters, Rates, Snapshot, rates
from console.haproxy.poller import PollStatus
from console.haproxy.smoothing import RateWindow
from console.haproxy.timeline import Timeline
from console.ui.header import HeaderBar
from console.ui.navigation import Navigation
from console.ui.operations import Operations
from console.ui.screens.dialog import Dialog
from console.ui.screens.help import HELP_BINDING
from console.ui.stats_level import Stats
from console.ui.widgets.detail import DetailPane
from console.ui.widgets.eventlog import EventLog
from console.ui.widgets.filter_bar import FilterBar, FilterState
from console.ui.widgets.table import ProxyTable

if TYPE_CHECKING:
    from console.ui.app import HAConsoleApp

MAIN_BINDINGS: list[Binding] = [
    Binding("q", "app.quit", "Quit", id="quit"),
    HELP_BINDING,
    Binding("1", "view('status')", "Status", id="view.status"),
    Binding("2", "view('traffic')", "Traffic", id="view.traffic"),
    Binding("3", "view('http')", "HTTP", id="view.http"),
    Binding("4", "view('errors')", "Errors", id="view.errors"),
    # priority: run when read, before the keys typed after it are sent on (see check_action)
    Binding("slash", "filter", "Filter", id="filter", priority=True),
    Binding("exclamation_mark", "quick('problems')", "Problems", id="filter.problems"),
    Binding("D", "quick('maint_drain')", "MAINT/DRAIN only", show=False,
            id="filter.maint_drain"),
    Binding("b", "quick('backend')", "This backend only", show=False, id="filter.backend"),
    Binding("a", "quick('all')", "Show all (clear every filter)", show=False,
            id="filter.all"),
    Binding("escape", "clear_filters", "Clear every filter", show=False, id="filter.clear"),
    Binding("s", "sort", "Sort", show=False, id="sort.next"),
    Binding("S", "sort_reverse", "Reverse sort", show=False, id="sort.reverse"),
    Binding("less_than_sign", "pick_sort", "Sort by a column…", show=False, id="sort.pick"),
    Binding("c", "collapse", "Collapse backend", show=False, id="collapse"),
    Binding("C", "collapse_all", "Collapse/expand all", show=False, id="collapse.all"),
    Binding("o", "actions", "Actions", id="actions"),
    Binding("u", "undo", "Undo", id="undo"),
    Binding("v", "drift", "Drift", id="drift"),
    Binding("F", "config", "Config file", id="config"),
    Binding("j", "journal", "Journal", show=False, id="journal"),
    Binding("T", "tables", "Tables, maps, ACLs", show=False, id="tables"),
    Binding("W", "clients", "Who: top clients, block one", show=False, id="clients"),
    Binding("l", "logs", "Logs (of the selected server/backend/frontend)", show=False,
            id="logs"),
    Binding("w", "hurting", "What's hurting now", id="triage"),
    Binding("E", "captured_errors", "Captured errors (show errors)", show=False,
            id="errors.captured"),
    Binding("K", "sessions", "Streams (show sess; of the selected server/backend)",
            show=False, id="sessions"),
    Binding("m", "mark", "Mark", id="mark.set"),
    Binding("M", "clear_mark", "Clear mark", show=False, id="mark.clear"),
    Binding("z", "clear_counters", "Clear counters", show=False, id="counters.clear"),
    Binding("Z", "clear_counters_all", "Clear ALL counters", show=False,
            id="counters.clear_all"),
    Binding("d", "toggle_detail", "Detail pane", show=False, id="pane.detail"),
    Binding("e", "toggle_events", "Events pane: follow new, hide, show", show=False,
            id="pane.events"),
    Binding("x", "export", "Export timeline", show=False, id="timeline.export"),
    Binding("t", "app.themes", "Theme", show=False, id="theme"),
    Binding("p", "pause", "Pause", id="pause"),
    Binding("r", "refresh", "Refresh", id="refresh"),
    Binding("ctrl+l", "app.redraw", "Redraw the screen", show=False, id="redraw"),
]
"""The main screen's keys, in the order of the footer and the help; each id is what the
settings' [keys] remaps. The palette offers each as a command."""

# Textual's quit key, here rather than on the app: quitting is for the main screen only,
# never from under another screen (an editor, an apply in progress).
QUIT_KEY = Binding("ctrl+q", "app.quit", "Quit", show=False, priority=True,
                   tooltip="Quit the app and return to the command prompt.")

EVENTS_MIN = 8
"""The events pane's least height (its top border and 7 lines)..."""
EVENTS_MIN_SHORT = 4
"""...and on a terminal under 30 rows (3 lines)."""
TABLE_SHARE = 3
"""The table keeps at least 1/TABLE_SHARE of the height (the events pane at most the
rest), so a filter that leaves a few rows does not turn the screen into an event log."""


def events_height(body: int, table_rows: int | None, *, short: bool) -> int:
    """The events pane's height in a body of ``body`` rows over a table that needs
    ``table_rows`` (its column header and lines; None: not known yet, no data).

    The table gets the rows it needs as long as the events pane keeps its minimum;
    the events pane takes the rest, up to all but a third of the body.
    """
    low = EVENTS_MIN_SHORT if short else EVENTS_MIN
    if body <= 0:
        return low
    high = max(low, body - math.ceil(body / TABLE_SHARE))
    wanted = low if table_rows is None else body - table_rows
    height = max(low, min(high, wanted))
    return max(0, min(height, body - min(body, 3)))  # at least 3 rows of table


class _Body(Vertical):
    """The table (and detail pane) over the events pane: the screen splits its height."""

    def on_resize(self) -> None:
        screen = self.screen
        if isinstance(screen, MonitorScreen):
            screen.split_body()


QUICK_LABELS = {"all": "showing everything", "problems": "showing problems only "
                "(anything not UP/OPEN/no check)", "maint_drain": "showing MAINT/DRAIN only"}


log = logging.getLogger("haconsole.ui")

# rows below which a sorted table, or one showing problems or MAINT/DRAIN only, has
# every row read at every poll
RANKED_FULL_BELOW = 20_000
# rows from which a refresh that read every row has its rates worked out in a thread
PREPARE_FROM = 20_000


class _Prepared(NamedTuple):
    """Rates of *snap*: since *prev* (instant), and *against* the window's base (the
    base and the rates, as :meth:`RateWindow.add` takes them; None: no base)."""

    prev: Snapshot
    snap: Snapshot
    instant: dict[tuple[str, str], Rates]
    against: tuple[Counters, dict[tuple[str, str], Rates]] | None


class MonitorScreen(Screen[None]):
    """The live view of one instance: what the poller reads, and the keys to act on it."""

    BINDINGS: ClassVar[list[BindingType]] = [QUIT_KEY, *MAIN_BINDINGS]
    DETAIL_MIN_WIDTH = 140

    def __init__(self, console_app: HAConsoleApp) -> None:
        super().__init__()
        self.console_app = console_app
        self.snapshot: Snapshot | None = None
        self.prev: Snapshot | None = None
        self.rates: dict[tuple[str, str], Rates] = {}  # over the last ~30 s (the table's)
        self.rate_window = RateWindow()
        self.history = History()
        self.timeline = Timeline()
        self.checks = CheckLog()  # recent check results per server, for the detail pane
        self.mark: Mark | None = None
        # rates worked out off the event loop for the snapshot shown next (prepare)
        self._prepared: _Prepared | None = None
        self.clock: Callable[[], float] = time.time  # a replay sets the recorded time
        self._all_collapsed = False
        self._detail_pref: bool | None = None  # None: shown when the terminal is wide
        self.operations = Operations(self)
        self.navigation = Navigation(self)
        self.stats = Stats(self)

    # -- widgets --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield HeaderBar(self.console_app.target.label, id="header")
        yield Static("", id="banner", markup=False)
        yield FilterBar(id="filterbar")
        with _Body(id="body"):
            with Horizontal(id="main"):
                yield ProxyTable(id="table")
                yield DetailPane(id="detail")
            yield EventLog(id="events")
        yield Input(placeholder="filter: text or regex on proxy/server names; enter to keep, "
                    "escape to clear", id="filter")
        yield Footer()

    @property
    def table(self) -> ProxyTable:
        return self.query_one(ProxyTable)

    @property
    def header(self) -> HeaderBar:
        return self.query_one(HeaderBar)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def event_log(self) -> EventLog:
        return self.query_one(EventLog)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    @property
    def filter_box(self) -> Input:
        return self.query_one("#filter", Input)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``/`` is a priority binding, so that keys typed right after it (one read from a
        fast typist or a paste: ``/api⏎``) are sent to the filter box it focuses; typed
        in a text box, it is text."""
        if action == "filter" and isinstance(self.focused, Input):
            return False
        return True

    def on_unmount(self) -> None:
        self.stats.save_mark()  # counted up to the last refresh: back at the next start

    def on_mount(self) -> None:
        self.set_status_styles(self.console_app.status_styles())
        self.table.focus()
        for note in self.console_app.target.notes:
            self.note(note)
        self._fit(self.console_app.size.width, self.console_app.size.height)
        self.console_app.start_polling()

    def set_status_styles(self, status: dict[str, Style]) -> None:
        """The theme's styles of row states, for the widgets that draw them."""
        self.table.set_status_styles(status)
        self.detail.set_status_styles(status)
        self.header.styles_map = status

    def started(self, level: str | None, read_only_reason: str | None) -> None:
        """The socket's level is known: the header says it, drift starts being counted."""
        header = self.header
        header.read_only_reason = read_only_reason
        self.navigation.refresh_drift()
        self.set_interval(15, self.navigation.drift_tick)
        header.update_state(level=level or "unknown")

    # -- data -----------------------------------------------------------------------------
    def on_screen(self) -> list[tuple[str, str]] | None:
        """The rows the next poll must read (see ``SocketSource.visible``): those of the
        table on screen (a dialog over it changes nothing), or None (everything) while
        another screen is on top, since it may show any row (what's hurting ranks them
        all), and while the table is sorted or shows problems or MAINT/DRAIN only on an
        instance of fewer than :data:`RANKED_FULL_BELOW` rows (which rows are on
        screen then depends on every row's values; above, the header says how old the
        rows off screen are)."""
        if not self.is_mounted:
            return None
        try:
            top = self.app.screen
        except ScreenStackError:  # the app is closing
            return None
        if top is not self and not isinstance(top, Dialog):
            return None
        snap = self.snapshot
        if self.table.ranks_every_row and snap is not None and \
                len(snap.rows) < RANKED_FULL_BELOW:
            return None  # a sort or a state filter reads every row, while it is cheap
        return self.table.on_screen()

    def show_snapshot(self, snap: Snapshot, events: list[Event]) -> None:
        if snap.first_look is not None:
            # a large instance's frontends and backends, while every server is read:
            # only the table shows them; there is no snapshot yet for the rest (no
            # action, mark, drift or event works from a partial picture)
            self.table.set_snapshot(snap, {})
            self.header.update_state(snapshot=snap)
            return
        self.prev, self.snapshot = self.snapshot, snap
        if self.prev is None:
            self.stats.restore_mark()
        if self.mark is not None and self.prev is not None and \
                any(e.kind == "reload" for e in events):
            self.mark.carry_over(self.prev)  # the new process counts from zero
            self.stats.save_mark()
            events = [*events, Event(snap.wall_time, "note", "info",
                                     "reload during the incident mark: its Δ keep what was "
                                     "counted before the reload")]
        # the charts take each refresh's rates; the table's are smoothed over a window
        prepared, self._prepared = self._prepared, None
        against: tuple[Counters, dict[tuple[str, str], Rates]] | None = None
        if prepared is not None and prepared.prev is self.prev and prepared.snap is snap:
            instant, against = prepared.instant, prepared.against
        else:
            instant = rates(self.prev, snap) if self.prev else {}
        self.history.add(snap, instant)
        self.rates = self.rate_window.add(snap, instant, against)
        self.checks.observe(snap, snap.wall_time)
        self.table.set_snapshot(snap, self.rates)
        self.header.update_state(snapshot=snap)
        self._add_events(events)
        self.update_detail()

    async def prepare(self, snap: Snapshot) -> None:
        """Before :meth:`show_snapshot` of a large snapshot that read every row: its
        rates since the last refresh and over the window are worked out in a thread
        (the most of such a refresh's work), so that keys are answered meanwhile. They
        only read the snapshots and the window's kept counters."""
        self._prepared = None
        prev = self.snapshot
        if prev is None or snap.first_look is not None or len(snap.rows) < PREPARE_FROM \
                or snap.merged_from(prev):
            return
        base = self.rate_window.base_for(snap)

        def work() -> _Prepared:
            return _Prepared(prev, snap, rates(prev, snap),
                             (base, rates(base, snap)) if base is not None else None)

        try:
            self._prepared = await asyncio.to_thread(work)
        except Exception:  # a speed-up only: show_snapshot works them out itself
            log.exception("rates worked out in a thread")

    def show_status(self, status: PollStatus, events: list[Event]) -> None:
        self.header.update_state(status=status)
        self.table.set_stale(status.state in ("stale", "disconnected"))
        banner = self.query_one("#banner", Static)
        if status.state in ("stale", "disconnected") and status.last_error:
            kept = " Showing the last data received, marked stale." if self.snapshot else ""
            banner.update(f"✖ Cannot refresh: {status.last_error}.{kept} Retrying with "
                          f"backoff (next in {status.retry_in or 1:.0f}s; r retries now).")
            banner.add_class("visible")
        else:
            banner.remove_class("visible")
        self._add_events(events)

    def _add_events(self, events: list[Event]) -> None:
        for ev in events:
            self.timeline.add(ev)
        self._add_events_to_log(events)

    def note(self, text: str) -> None:
        """A line of the console's own, in the timeline and the events pane (stamped
        with :attr:`clock`: the recorded time in a replay)."""
        self._add_events_to_log([self.timeline.add_note(text, now=self.clock())])

    def _add_events_to_log(self, events: list[Event]) -> None:
        """Into the events pane: a flood summed up, a storm of back-and-forth changes
        folded into the line that counts them (the timeline keeps every event)."""
        if not events:
            return
        pane = self.event_log
        pending: list[Event] = []
        for ev in summarize_events(events):
            merged = fold_event(pending[-1] if pending else pane.last_event, ev)
            if merged is None:
                pending.append(ev)
            elif pending:
                pending[-1] = merged
            else:
                pane.replace_last(merged)
        if pending:
            pane.add_events(pending)

    def update_detail(self) -> None:
        pane = self.detail
        if not pane.display or self.snapshot is None:
            return
        key = self.table.cursor_key
        row = self.snapshot.get(*key) if key else None
        pane.show(row, self.history, self.rates.get(key) if key else None, self.mark,
                  checks=self.checks, events=self.timeline)

    def on_proxy_table_highlighted(self, message: ProxyTable.Highlighted) -> None:
        self.update_detail()

    def on_proxy_table_activated(self, message: ProxyTable.Activated) -> None:
        self.action_actions()

    # -- layout ---------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        self.set_class(height < 30, "short")
        self._place_detail(width)

    def split_body(self) -> None:
        """Share the body's height between the table and the events pane: the table
        gets its rows' height, the events pane the rest (see :func:`events_height`).
        With the detail pane open the events pane keeps its minimum: the detail pane's
        fields use the height."""
        body = self.query_one("#body", Vertical)
        main = self.query_one("#main", Horizontal)
        log = self.event_log
        height = body.size.height
        if not height:
            return
        if log.has_class("hidden"):
            _set_height(main, None)
            return
        table = self.table
        rows: int | None = len(table.lines) + 1 if table.model.full else None
        if self.detail.display:
            rows = None
        events = events_height(height, rows, short=self.app.size.height < 30)
        _set_height(main, height - events)
        _set_height(log, events)

    def _detail_visible(self, width: int) -> bool:
        if self._detail_pref is not None:
            return self._detail_pref
        return width >= self.DETAIL_MIN_WIDTH

    def _place_detail(self, width: int) -> None:
        pane = self.detail
        pane.display = self._detail_visible(width)
        if pane.display:
            pane.styles.width = 46 if width >= 110 else max(30, width // 2)

    # -- the table and the filter ---------------------------------------------------------
    def action_view(self, view: str) -> None:
        self.table.set_view(view)

    def action_filter(self) -> None:
        box = self.filter_box
        box.add_class("visible")
        # Focused now, not after the next refresh (as Widget.focus does): keys typed
        # right after `/` (one read from a fast typist or a paste) go into the box.
        self.set_focus(box)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.set_filter(event.value)
            self.show_filters()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value:
                event.input.remove_class("visible")
            self.table.focus()

    def action_quick(self, name: str) -> None:
        table = self.table
        current = table.model.quick
        if name == "all":
            self.clear_filters()
            self.notify(QUICK_LABELS["all"])
            return
        if name == current or (name == "backend" and not table.cursor_key):
            self.clear_filter("quick")
            return
        if name == "backend":
            proxy = table.cursor_key[0] if table.cursor_key else ""
            table.set_quick_filter("backend", proxy)
            self.notify(f"showing only {proxy} (b again or a for all)", markup=False)
        else:
            table.set_quick_filter(name)
            self.notify(QUICK_LABELS.get(name, name))
        self.show_filters()

    def action_clear_filters(self) -> None:
        """Escape: in the filter box, clears the name filter and leaves the box; elsewhere,
        clears every filter."""
        box = self.filter_box
        if box.has_focus:
            self.clear_filter("name")
            self.table.focus()
        elif self.table.filtering or box.value:
            self.clear_filters()

    def action_clear_filter(self, which: str) -> None:
        """A ✕ of the filter bar: ``name`` or ``quick``."""
        self.clear_filter(which)

    def clear_filters(self) -> None:
        """Neither the name filter nor a quick filter: every row."""
        box = self.filter_box
        box.value = ""
        box.remove_class("visible")
        self.table.clear_filters()
        if box.has_focus:
            self.table.focus()
        self.show_filters()

    def clear_filter(self, which: str) -> None:
        table = self.table
        if which == "name":
            box = self.filter_box
            box.value = ""
            box.remove_class("visible")
            table.set_filter("")
        elif table.model.quick != "all":
            table.set_quick_filter("all")
            self.notify(QUICK_LABELS["all"] if not table.filtering else
                        "quick filter off; the name filter stays (esc or a: show all)")
        self.show_filters()

    def show_filters(self) -> None:
        """The filter bar, from the table's filters and counts."""
        model = self.table.model
        self.filter_bar.show_state(FilterState(
            model.filter_text, model.quick, model.quick_arg, model.matched, len(model.full),
            self._key_of("filter.clear") or "a"))

    def _key_of(self, binding_id: str) -> str | None:
        """How the key bound to ``binding_id`` is shown (the settings may remap it)."""
        for key, active in self.active_bindings.items():
            if active.binding.id == binding_id:
                return self.app.get_key_display(active.binding) or key
        return None

    def on_proxy_table_lines_changed(self, message: ProxyTable.LinesChanged) -> None:
        self.show_filters()
        self.split_body()

    def action_sort(self) -> None:
        self.table.cycle_sort()

    def action_sort_reverse(self) -> None:
        self.table.reverse_sort()

    def action_pick_sort(self) -> None:
        from console.ui.screens.sort_pick import SortPicker

        table = self.table
        current = table.sort_column

        def chosen(choice: tuple[str | None, bool] | None) -> None:
            if choice is not None:
                table.sort_by(*choice)
                if choice[0] is not None:  # a column picked to find the worst: show it
                    table.action_cursor_home()

        self.app.push_screen(SortPicker(table.shown_columns(), current, table.sort_reverse),
                             chosen)

    def action_collapse(self) -> None:
        self.table.toggle_collapse()

    def action_collapse_all(self) -> None:
        table = self.table
        self._all_collapsed = not self._all_collapsed
        (table.collapse_all if self._all_collapsed else table.expand_all)()

    # -- panes and refresh ----------------------------------------------------------------
    def action_toggle_detail(self) -> None:
        width = self.console_app.size.width
        self._detail_pref = not self._detail_visible(width)
        self._place_detail(width)
        self.update_detail()
        self.split_body()

    def action_toggle_events(self) -> None:
        """e: back to the newest event if the pane is scrolled up, else hide or show it
        (shown again, it follows new events)."""
        log = self.event_log
        if log.has_class("hidden"):
            log.remove_class("hidden")
            log.follow()
        elif not log.following:
            log.follow()
        else:
            log.add_class("hidden")
        self.split_body()

    def action_refresh(self) -> None:
        self.console_app.poller.refresh_now()

    def action_pause(self) -> None:
        if hasattr(self.console_app, "action_replay_toggle"):  # a replay: play/pause it
            self.console_app.action_replay_toggle()
            return
        poller = self.console_app.poller
        poller.pause(not poller.paused)
        self.notify("paused: data is frozen (p to resume)" if poller.paused else "resumed")

    # -- runtime changes, other screens, the stats level ----------------------------------
    def action_actions(self) -> None:
        self.operations.open_menu()

    def action_undo(self) -> None:
        self.operations.undo()

    def action_drift(self) -> None:
        self.navigation.open_drift()

    def action_config(self) -> None:
        self.navigation.open_config()

    def action_journal(self) -> None:
        self.navigation.open_journal()

    def action_tables(self) -> None:
        self.navigation.open_tables()

    def action_logs(self) -> None:
        self.navigation.open_logs(self.table.cursor_row)

    def action_hurting(self) -> None:
        self.navigation.open_hurting()

    def action_captured_errors(self) -> None:
        self.navigation.open_captured_errors()

    def action_sessions(self) -> None:
        self.navigation.open_sessions(self.table.cursor_row)

    def action_clients(self) -> None:
        from console.haproxy.transport import RuntimeClient
        from console.ui.screens.clients import ClientsScreen

        target = self.console_app.target
        if not target.socket:
            self.notify("top clients need the stats socket (-s)", severity="warning")
            return
        client = RuntimeClient(target.socket)
        operations = self.operations

        async def send(plan: Any, intro: str | None) -> Any:
            return await operations._confirm_and_execute(plan, client, intro=intro,
                                                         record_undo=False)

        self.app.push_screen(ClientsScreen(client, target, operations.allowed_kinds(), send,
                                           reason=self.console_app.read_only_reason))

    def action_mark(self) -> None:
        self.stats.set_mark()

    def action_clear_mark(self) -> None:
        self.stats.clear_mark()

    def action_clear_counters(self) -> None:
        self.stats.clear_counters("clear_counters", needs="operator")

    def action_clear_counters_all(self) -> None:
        self.stats.clear_counters("clear_counters_all", needs="admin")

    def action_export(self) -> None:
        self.stats.export()


def _set_height(widget: Widget, rows: int | None) -> None:
    """A fixed height in rows (None: the rest, ``1fr``), set only when it changes."""
    wanted = Scalar.parse("1fr") if rows is None else Scalar.from_number(rows)
    if widget.styles.height != wanted:
        widget.styles.height = wanted
