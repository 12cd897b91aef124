"""The haconsole Textual application: the live console on one instance."""

from __future__ import annotations

import gc
import logging
import os
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from console.haproxy.counters import Mark
from console.haproxy.errors import HAProxyError
from console.haproxy.events import Event
from console.haproxy.events import fold as fold_event
from console.haproxy.events import summarize as summarize_events
from console.haproxy.history import History
from console.haproxy.model import Rates, Snapshot, rates
from console.haproxy.parsers import parse_cli_level
from console.haproxy.poller import Poller, PollStatus, SocketSource, Source, StatsPageSource
from console.haproxy.safe_text import visible, visible_lines
from console.haproxy.timeline import Timeline
from console.haproxy.transport import RuntimeClient
from console.ui import themes as themes_mod
from console.ui.header import HeaderBar
from console.ui.navigation import ScreensMixin
from console.ui.operations import OperationsMixin
from console.ui.screendiff import ScreenDiff
from console.ui.screens.help import HelpScreen
from console.ui.stats_level import StatsMixin
from console.ui.textual_seam import ShownAsOneLine, display_changed_cells, write_to_terminal
from console.ui.widgets.detail import DetailPane
from console.ui.widgets.eventlog import EventLog
from console.ui.widgets.table import ProxyTable

if TYPE_CHECKING:
    from console.instance import Target

def _freeze_startup_objects() -> None:
    """Once the first data is on screen: the objects made so far (widgets, styles,
    themes) live as long as the app, so the collector stops walking them at each full
    collection (refcounting still frees them)."""
    gc.collect()
    gc.freeze()


log = logging.getLogger("haconsole.ui")

VIEW_KEYS = {"1": "status", "2": "traffic", "3": "http", "4": "errors"}


def log_path() -> Path:
    from console.settings import state_dir

    return state_dir() / "haconsole.log"


def open_log() -> TextIO:
    """The log file, appended to, opened without following a symlink."""
    from console.haproxy.statefs import open_nofollow

    fd = open_nofollow(log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600,
                       what="the log file")
    return os.fdopen(fd, "a", encoding="utf-8")


def log_where() -> str:
    """The log file's path for a message, or why there is none."""
    try:
        return str(log_path())
    except HAProxyError as exc:
        return f"(no log file: {exc})"


class HAConsoleApp(OperationsMixin, ScreensMixin, StatsMixin, App[int]):
    TITLE = "haconsole"
    CSS = """
    Screen { layout: vertical; }
    #main { height: 1fr; }
    ProxyTable { width: 1fr; height: 1fr; }
    DetailPane { width: 46; height: 1fr; border-left: solid $panel; }
    EventLog.hidden { display: none; }
    EventLog { height: 8; border-top: solid $panel; }
    #banner { height: auto; display: none; background: $error; color: $text;
              text-style: bold; padding: 0 1; }
    #banner.visible { display: block; }
    #filter { dock: bottom; height: 1; border: none; padding: 0 1; display: none; }
    #filter.visible { display: block; }
    App.short EventLog { height: 4; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("1", "view('status')", "Status", id="view.status"),
        Binding("2", "view('traffic')", "Traffic", id="view.traffic"),
        Binding("3", "view('http')", "HTTP", id="view.http"),
        Binding("4", "view('errors')", "Errors", id="view.errors"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("exclamation_mark", "quick('problems')", "Problems", id="filter.problems"),
        Binding("D", "quick('maint_drain')", "MAINT/DRAIN only", show=False,
                id="filter.maint_drain"),
        Binding("b", "quick('backend')", "This backend only", show=False, id="filter.backend"),
        Binding("a", "quick('all')", "Show all", show=False, id="filter.all"),
        Binding("s", "sort", "Sort", show=False, id="sort.next"),
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="sort.reverse"),
        Binding("c", "collapse", "Collapse backend", show=False, id="collapse"),
        Binding("C", "collapse_all", "Collapse/expand all", show=False, id="collapse.all"),
        Binding("o", "actions", "Actions", id="actions"),
        Binding("u", "undo", "Undo", id="undo"),
        Binding("v", "drift", "Drift", id="drift"),
        Binding("F", "config", "Config file", id="config"),
        Binding("j", "journal", "Journal", show=False, id="journal"),
        Binding("T", "tables", "Tables, maps, ACLs", show=False, id="tables"),
        Binding("m", "mark", "Mark", id="mark.set"),
        Binding("M", "clear_mark", "Clear mark", show=False, id="mark.clear"),
        Binding("z", "clear_counters", "Clear counters", show=False, id="counters.clear"),
        Binding("Z", "clear_counters_all", "Clear ALL counters", show=False,
                id="counters.clear_all"),
        Binding("d", "toggle_detail", "Detail pane", show=False, id="pane.detail"),
        Binding("e", "toggle_events", "Events", show=False, id="pane.events"),
        Binding("x", "export", "Export timeline", show=False, id="timeline.export"),
        Binding("t", "themes", "Theme", show=False, id="theme"),
        Binding("p", "pause", "Pause", id="pause"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("ctrl+l", "redraw", "Redraw the screen", show=False, id="redraw"),
    ]

    def __init__(self, target: Target, *, theme: str | None = None,
                 settings: object | None = None, source: Source | None = None,
                 level: str | None = None) -> None:
        super().__init__()
        from console import settings as settings_mod

        self.target = target
        self.settings = settings or settings_mod.load(None)
        self.theme_name = theme or self.settings.ui.theme  # type: ignore[attr-defined]
        self.console_themes: dict[str, themes_mod.ConsoleTheme] = {}
        self.source = source or self._make_source()
        self.poller = Poller(self.source, target.interval, on_snapshot=self._on_snapshot,
                             on_status=self._on_status)
        self.snapshot: Snapshot | None = None
        self.prev: Snapshot | None = None
        self.rates: dict[tuple[str, str], Rates] = {}
        self.history = History()
        self.timeline = Timeline()
        self.mark: Mark | None = None
        self.level: str | None = level
        self.read_only_reason: str | None = "--read-only" if target.read_only else None
        self._quick = "all"
        self._detail_pref: bool | None = None  # None: shown when the terminal is wide
        self.undo_stack = []
        self.drift_count: int | None = None
        self._gc_frozen = False
        # only changed cells go to the terminal (HACONSOLE_FULL_REDRAW=1: whole regions)
        self.screen_diff: ScreenDiff | None = (
            None if os.environ.get("HACONSOLE_FULL_REDRAW") else ScreenDiff())

    # -- set-up ---------------------------------------------------------------------------
    def _make_source(self) -> Source:
        if self.target.socket:
            return SocketSource(RuntimeClient(self.target.socket))
        from console.haproxy.statspage import StatsPage

        return StatsPageSource(StatsPage(self.target.url or "", self.target.url_user,
                                         self.target.url_password))

    def compose(self) -> ComposeResult:
        yield HeaderBar(self.target.name, id="header")
        yield Static("", id="banner", markup=False)
        with Vertical(id="body"):
            with Horizontal(id="main"):
                yield ProxyTable(id="table")
                yield DetailPane(id="detail")
            yield EventLog(id="events")
        yield Input(placeholder="filter: text or regex on proxy/server names; enter to keep, "
                    "escape to clear", id="filter")
        yield Footer()

    _display = display_changed_cells  # Textual's screen writer: only changed cells

    def on_unmount(self) -> None:
        if self.screen_diff is not None:
            write_to_terminal(self, "\x1b[0m")  # attributes stay set between updates

    def action_redraw(self) -> None:
        """Forget what the terminal shows and draw every cell again."""
        if self.screen_diff is not None:
            self.screen_diff.reset()
        self.refresh(repaint=True, layout=True)

    def on_mount(self) -> None:
        if self.screen_diff is not None:  # the terminal was someone else's meanwhile
            self.app_resume_signal.subscribe(self, lambda _app: self.screen_diff.reset())
        self._load_themes()
        keys = getattr(self.settings.ui, "keys", {})  # type: ignore[attr-defined]
        if keys:
            self.set_keymap(dict(keys))
        self.query_one(ProxyTable).focus()
        for note in self.target.notes:
            self._note(note)
        self.run_worker(self._start(), name="start", group="poll", exit_on_error=False)

    async def _start(self) -> None:
        if self.level is None and self.target.socket:
            try:
                self.level = parse_cli_level(await RuntimeClient(self.target.socket)
                                             .run("show cli level"))
            except HAProxyError:
                self.level = None
        elif self.level is None:
            self.level = "stats page"
        if self.level in ("operator", "user") and not self.read_only_reason:
            self.read_only_reason = f"socket level is {self.level}, changes need admin"
        header = self.query_one(HeaderBar)
        header.read_only_reason = self.read_only_reason
        self.refresh_drift()
        self.set_interval(15, self._drift_tick)
        header.update_state(level=self.level or "unknown")
        try:
            await self.poller.run()
        except Exception as exc:  # noqa: BLE001 - never let the poll loop die silently
            log.exception("poller crashed")
            self.notify(f"refresh stopped after an internal error: {exc} (see {log_where()})",
                        severity="error", timeout=30)

    def _load_themes(self) -> None:
        self.console_themes, problems = themes_mod.load_all()
        for ct in self.console_themes.values():
            self.register_theme(ct.theme)
        for problem in problems:
            self.notify(problem, severity="warning", timeout=10, markup=False)
        self.apply_theme(self.theme_name, announce=False)

    def apply_theme(self, name: str, *, announce: bool = True, save: bool = False) -> None:
        ct = self.console_themes.get(name)
        if ct is None:
            self.notify(f"no theme named {name!r}; using {themes_mod.DEFAULT_THEME}. "
                        f"Known: {', '.join(sorted(self.console_themes))}", severity="warning")
            ct = self.console_themes[themes_mod.DEFAULT_THEME]
        self.theme = ct.name
        self.theme_name = ct.name
        self.query_one(ProxyTable).set_styles(ct.status)
        self.query_one(DetailPane).set_styles(ct.status)
        self.query_one(HeaderBar).styles_map = ct.status
        saved = ""
        if save and self.target.read_only:
            saved = " (read-only: for this session, the settings file is not written)"
        elif save:
            try:
                self.settings.set_preference("ui", "theme", ct.name)  # type: ignore[attr-defined]
            except HAProxyError as exc:
                self.notify(f"theme not saved: {exc}", severity="warning")
        if announce:
            self.notify(f"theme: {ct.name}{saved}")

    # -- data -----------------------------------------------------------------------------
    def _on_snapshot(self, snap: Snapshot, events: list[Event]) -> None:
        if self.snapshot is None and not self._gc_frozen and not self.is_headless:
            self._gc_frozen = True
            self.call_after_refresh(_freeze_startup_objects)
        self.prev, self.snapshot = self.snapshot, snap
        self.rates = rates(self.prev, snap) if self.prev else {}
        self.history.add(snap, self.rates)
        table = self.query_one(ProxyTable)
        table.set_snapshot(snap, self.rates)
        self.query_one(HeaderBar).update_state(snapshot=snap)
        self._add_events(events)
        self._update_detail()

    def _on_status(self, status: PollStatus, events: list[Event]) -> None:
        self.query_one(HeaderBar).update_state(status=status)
        self.query_one(ProxyTable).set_stale(status.state in ("stale", "disconnected"))
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

    def _note(self, text: str) -> None:
        self._add_events_to_log([self.timeline.add_note(text)])

    def _add_events_to_log(self, events: list[Event]) -> None:
        """Into the events pane: a flood summed up, a storm of back-and-forth changes
        folded into the line that counts them (the timeline keeps every event)."""
        if not events:
            return
        pane = self.query_one(EventLog)
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

    def _update_detail(self) -> None:
        pane = self.query_one(DetailPane)
        if not pane.display or self.snapshot is None:
            return
        key = self.query_one(ProxyTable).cursor_key
        row = self.snapshot.get(*key) if key else None
        pane.show(row, self.history, self.rates.get(key) if key else None, self.mark)

    def on_proxy_table_highlighted(self, message: ProxyTable.Highlighted) -> None:
        self._update_detail()

    DETAIL_MIN_WIDTH = 140

    def on_resize(self) -> None:
        self.set_class(self.size.height < 30, "short")
        self._place_detail()

    def _detail_visible(self) -> bool:
        if self._detail_pref is not None:
            return self._detail_pref
        return self.size.width >= self.DETAIL_MIN_WIDTH

    def _place_detail(self) -> None:
        pane = self.query_one(DetailPane)
        pane.display = self._detail_visible()
        if pane.display:
            pane.styles.width = 46 if self.size.width >= 110 else max(30, self.size.width // 2)

    # -- actions ----------------------------------------------------------------------------
    def action_view(self, view: str) -> None:
        self.query_one(ProxyTable).set_view(view)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(ProxyTable).set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value:
                event.input.remove_class("visible")
            self.query_one(ProxyTable).focus()

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        box = self.query_one("#filter", Input)
        if key == "escape" and box.has_focus:
            box.value = ""
            box.remove_class("visible")
            self.query_one(ProxyTable).set_filter("")
            self.query_one(ProxyTable).focus()

    def action_quick(self, name: str) -> None:
        table = self.query_one(ProxyTable)
        if name == "backend":
            key = table.cursor_key
            if self._quick == "backend" or not key:
                name = "all"
            else:
                table.set_quick_filter("backend", key[0])
                self._quick = "backend"
                self.notify(f"showing only {key[0]} (b again or a for all)")
                return
        if name == self._quick and name != "all":
            name = "all"
        table.set_quick_filter(name)
        self._quick = name
        labels = {"all": "showing everything", "problems": "showing problems only "
                  "(anything not UP/OPEN/no check)", "maint_drain": "showing MAINT/DRAIN only"}
        self.notify(labels.get(name, name))

    def action_sort(self) -> None:
        self.query_one(ProxyTable).cycle_sort()

    def action_sort_reverse(self) -> None:
        self.query_one(ProxyTable).reverse_sort()

    def action_collapse(self) -> None:
        self.query_one(ProxyTable).toggle_collapse()

    def action_collapse_all(self) -> None:
        table = self.query_one(ProxyTable)
        self._all_collapsed = not getattr(self, "_all_collapsed", False)
        (table.collapse_all if self._all_collapsed else table.expand_all)()

    def action_toggle_detail(self) -> None:
        self._detail_pref = not self._detail_visible()
        self._place_detail()
        self._update_detail()

    def on_proxy_table_activated(self, message: ProxyTable.Activated) -> None:
        self.action_actions()

    def action_toggle_events(self) -> None:
        self.query_one(EventLog).toggle_class("hidden")

    def action_refresh(self) -> None:
        self.poller.refresh_now()

    def action_pause(self) -> None:
        self.poller.pause(not self.poller.paused)
        self.notify("paused: data is frozen (p to resume)" if self.poller.paused
                    else "resumed")

    def action_themes(self) -> None:
        names = sorted(self.console_themes)
        idx = (names.index(self.theme_name) + 1) % len(names) if self.theme_name in names else 0
        self.apply_theme(names[idx], save=True)

    def action_help(self) -> None:
        rows: list[tuple[str, str, str]] = []
        for _key, active in self.screen.active_bindings.items():
            b = active.binding
            rows.append((self.get_key_display(b), b.description or b.action, b.id or ""))
        table = self.query_one(ProxyTable)
        for keys, what in getattr(table, "HELP_KEYS", ()):
            rows.append((keys, what, "table"))
        notes = [
            f"Instance: {self.target.name}  socket: {self.target.socket or '-'}  "
            f"stats page: {self.target.url or '-'}",
            "Counters are since HAProxy's start or the last clear; an incident mark (m) "
            "shows deltas without clearing.",
            "Remap keys in the settings file: [keys] <id> = \"ctrl+x\".",
            f"Settings: {getattr(self.settings, 'path', '?')}   Log: {log_where()}",
            "ctrl+p opens the command palette with every command.",
        ]
        self.push_screen(HelpScreen(rows, notes))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            if isinstance(b, Binding) and b.id not in ("help",):
                yield SystemCommand(b.description, f"{b.description} [{b.key}]",
                                    lambda a=b.action: self.run_action(a))
        for name in sorted(self.console_themes):
            yield SystemCommand(f"Theme: {name}", "switch theme and remember it",
                                lambda n=name: self.apply_theme(n, save=True))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The console's keys act on the main screen only, not under other screens."""
        if len(self.screen_stack) > 1 and action not in ("help", "command_palette", "quit"):
            if any(b.action.split("(")[0] == action for b in self.BINDINGS
                   if isinstance(b, Binding)):
                return False
        if action == "quit" and len(self.screen_stack) > 1:
            return False
        return True

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification of the console: its text comes from HAProxy, files and the
        user, so it is never read as markup and its control characters are escaped."""
        super().notify(visible_lines(str(message), tab=False), title=visible(title),
                       severity=severity, timeout=timeout, markup=False)

    # -- errors ---------------------------------------------------------------------------
    def _handle_exception(self, error: Exception) -> None:
        """An unhandled error ends the console: its traceback goes to the log file, and
        one line, never the traceback, to the user's screen."""
        try:
            with open_log() as f:
                f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
                f.write("".join(traceback.format_exception(error)))
            where = log_where()
        except (OSError, HAProxyError):
            where = "(log file not writable)"
        super()._handle_exception(ShownAsOneLine(visible(
            f"haconsole: internal error: {type(error).__name__}: {error} — details in {where}"),
            error))


def run_app(target: Target, *, theme: str | None = None) -> int:
    """Run the console; returns the exit code."""
    try:
        logging.basicConfig(stream=open_log(), level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    except (OSError, HAProxyError) as exc:  # the console runs; the problem is on screen
        target.notes.append(f"no log file: {exc}")
    os.environ.setdefault("TEXTUAL_MAX_FPS", "30")
    app = HAConsoleApp(target, theme=theme)
    result = app.run()
    return app.return_code if app.return_code is not None else (result or 0)
