"""The haconsole Textual application: the live console on one instance."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING, TextIO

from rich.style import Style
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from console.haproxy.actions import Action, Result
from console.haproxy.config.stats_page import find_stats_pages as stats_page_urls_of
from console.haproxy.errors import HAProxyError
from console.haproxy.events import Event
from console.haproxy.model import Snapshot
from console.haproxy.parsers import parse_cli_level
from console.haproxy.poller import (
    NodeSource,
    Poller,
    PollStatus,
    SocketSource,
    Source,
    StatsPageSource,
)
from console.haproxy.safe_text import visible, visible_lines
from console.haproxy.transport import RuntimeClient
from console.settings import Settings
from console.ui import themes as themes_mod
from console.ui.keymap import Scope, check_keymap, console_scopes, keys_of
from console.ui.screendiff import ScreenDiff
from console.ui.screens.dialog import Dialog
from console.ui.screens.help import HELP_BINDING, HelpScreen
from console.ui.screens.monitor import MAIN_BINDINGS, MonitorScreen
from console.ui.textual_seam import ShownAsOneLine, display_changed_cells, write_to_terminal

SPECTATOR = "spectator"

if TYPE_CHECKING:
    from console.haproxy.logs.collector import LogCollector
    from console.instance import Target


def _gc_young() -> int:
    """Allocations between two collections of the young generation: 20,000, or
    ``HACONSOLE_GC_YOUNG`` when it is a whole number from 700 (Python's own) to 10
    million (anything else is ignored)."""
    value = os.environ.get("HACONSOLE_GC_YOUNG", "").strip()
    if value.isascii() and value.isdigit() and 700 <= int(value) <= 10_000_000:
        return int(value)
    return 20_000


GC_YOUNG = _gc_young()


def _settle_gc() -> None:
    """Once the first data is on screen, two settings of Python's cyclic garbage
    collector (refcounting frees almost everything; it only finds cycles):

    - the objects made so far (modules, widgets, styles, themes) live as long as the
      app: frozen, the collector stops walking them at each full collection;
    - the young generation is collected every :data:`GC_YOUNG` allocations, not 700:
      while log lines flood in (20,000 a second), the lines held a moment (the logs
      screen's last lines, a batch being counted) were alive at nearly every young
      collection and promoted, and the full collections they caused took ~100 ms every
      two seconds, the screen stalled meanwhile."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, middle, old)


log = logging.getLogger("haconsole.ui")


def open_log() -> TextIO:
    """The log file, appended to, opened without following a symlink."""
    from console.haproxy.statefs import log_path, open_nofollow

    fd = open_nofollow(log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600,
                       what="the log file")
    return os.fdopen(fd, "a", encoding="utf-8")


def log_where() -> str:
    """The log file's path for a message, or why there is none."""
    from console.haproxy.statefs import log_path

    try:
        return str(log_path())
    except HAProxyError as exc:
        return f"(no log file: {exc})"


class HAConsoleApp(App[int], inherit_bindings=False):
    """The console on one instance: the data source (the poller), themes, the keymap, help
    and the error hook; the main view and its keys are :class:`MonitorScreen`."""

    TITLE = "haconsole"
    # read as package data, so the styles are found in a one-file build too (a zip)
    CSS = resources.files("console.ui").joinpath("console.tcss").read_text(encoding="utf-8")
    # not Textual's ctrl+q: the main screen has it (no quitting from under another screen);
    # help opens on every screen (the main screen also lists it, in its place in the footer)
    BINDINGS = [
        Binding("ctrl+c", "help_quit", show=False, system=True),
        HELP_BINDING,
    ]

    @property
    def keeps_marks(self) -> bool:
        """Whether the incident mark is saved for the next start (and restored): not for
        a spectator, who writes nothing on the serving host."""
        return not self.spectator

    def __init__(self, target: Target, *, theme: str | None = None,
                 settings: Settings | None = None, source: Source | None = None,
                 level: str | None = None, triage: bool = False,
                 spectator: bool = False) -> None:
        super().__init__()
        from console import settings as settings_mod

        self.target = target
        self.settings = settings or settings_mod.load(None)
        self.theme_name = theme or self.settings.ui.theme
        self.console_themes: dict[str, themes_mod.ConsoleTheme] = {}
        self.source = source or self._make_source()
        self.poller = Poller(self.source, target.interval, on_snapshot=self._on_snapshot,
                             on_status=self._on_status)
        self.poller.first_look_shown = self._painted
        self.poller.before_show = self._prepare
        self.level: str | None = level
        # a spectator (haconsole serve) watches: no change, nothing written on this host
        self.spectator = spectator
        if spectator:
            target.read_only = True
        self.read_only_reason: str | None = (
            SPECTATOR if spectator else "--read-only" if target.read_only else None)
        self._monitor: MonitorScreen | None = None
        self._gc_frozen = False
        # settle the garbage collector at the first data (None: unless headless, where
        # tests run app after app in one process)
        self.settle_gc: bool | None = None
        self.triage_first = triage  # open on what's hurting now (--triage)
        # the instance's ring followed while the console runs (the triage's log windows)
        self.collector: LogCollector | None = None
        self.keymap: dict[str, str] = {}  # the settings' [keys] applied (id -> keys)
        self.keymap_problems: list[str] = []  # the remaps not applied, and why
        # notifications raised while a dialog is open: shown when it closes, never over it
        self._held_notes: list[tuple[str, str, SeverityLevel, float | None]] = []
        # only changed cells go to the terminal (HACONSOLE_FULL_REDRAW=1: whole regions)
        self.screen_diff: ScreenDiff | None = (
            None if os.environ.get("HACONSOLE_FULL_REDRAW") else ScreenDiff())

    # -- set-up ---------------------------------------------------------------------------
    def _make_source(self) -> Source:
        if self.target.socket:
            if self.target.node is not None:
                return NodeSource(RuntimeClient(self.target.socket), self.target.node)
            return SocketSource(RuntimeClient(self.target.socket))
        from console.haproxy.statspage import StatsPage

        return StatsPageSource(StatsPage(self.target.url or "", self.target.url_user,
                                         self.target.url_password))

    def get_default_screen(self) -> MonitorScreen:
        self._monitor = MonitorScreen(self)
        if isinstance(self.source, SocketSource):  # a large instance: read what is shown
            self.source.visible = self._monitor.on_screen
        return self._monitor

    @property
    def monitor(self) -> MonitorScreen:
        """The main screen (the app's default screen)."""
        if self._monitor is None:
            raise RuntimeError("the console is not running: no main screen yet")
        return self._monitor

    _display = display_changed_cells  # Textual's screen writer: only changed cells

    def on_unmount(self) -> None:
        if self.collector is not None:
            self.collector.stop()
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
        self.screen_change_signal.subscribe(self, self._show_held_notes)
        self._load_themes()
        self._apply_keymap()

    def _apply_keymap(self) -> None:
        """The settings' [keys], checked: what would take another binding's key or names
        no binding is not applied, and is told (a notification, the log file, the help)."""
        if not self.settings.ui.keys:
            return
        checked = check_keymap(self.settings.ui.keys, self.keymap_scopes())
        self.keymap = checked.keymap
        self.keymap_problems = checked.problems
        if checked.keymap:
            self.set_keymap(checked.keymap)
        for problem in checked.problems:
            log.warning("settings %s: %s", self.settings.path, problem)
        if checked.problems:
            self.notify("\n".join([f"Settings {self.settings.path}:", *checked.problems,
                                    "(also in the help, ?)"]),
                        severity="warning", timeout=30)

    def keymap_scopes(self) -> list[Scope]:
        """The bindings active together on each screen, for the check of [keys]."""
        return console_scopes([*self.BINDINGS, Binding(self.COMMAND_PALETTE_BINDING,
                                                       "command_palette", "Palette")])

    def start_polling(self) -> None:
        """Once the main screen can show data: the socket's level, then the poll loop."""
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
        self.monitor.started(self.level, self.read_only_reason)
        self.start_log_collector()
        if self.triage_first:
            self.triage_first = False
            self.monitor.navigation.open_hurting()
        try:
            await self.poller.run()
        except Exception as exc:  # noqa: BLE001 - never let the poll loop die silently
            log.exception("poller crashed")
            self.notify(f"refresh stopped after an internal error: {exc} (see {log_where()})",
                        severity="error", timeout=30)

    def start_log_collector(self) -> None:
        """Follow the instance's ring (when it has one) for the triage's log windows."""
        socket = self.target.socket
        if self.collector is not None:
            return
        if not socket and not (self.target.log_file or self.target.log_journal):
            return
        from console.haproxy.logs.collector import LogCollector
        from console.ui.screens.logs import parser_for

        target = self.target
        self.collector = LogCollector(RuntimeClient(socket) if socket else None,
                                      lambda: parser_for(target), log_file=target.log_file,
                                      journal_unit=target.log_journal)
        mark = self._monitor.mark if self._monitor is not None else None
        if mark is not None:
            self.collector.windows.set_mark(mark.wall_time)
        self.run_worker(self.collector.run(), name="logs", group="logs-collect",
                        exit_on_error=False)

    def _load_themes(self) -> None:
        self.console_themes, problems = themes_mod.load_all()
        for ct in self.console_themes.values():
            self.register_theme(ct.theme)
        for problem in problems:
            self.notify(problem, severity="warning", timeout=10, markup=False)
        self.apply_theme(self.theme_name, announce=False)

    def status_styles(self) -> dict[str, Style]:
        """The current theme's styles of row states."""
        ct = self.console_themes.get(self.theme_name)
        return ct.status if ct is not None else {}

    def apply_theme(self, name: str, *, announce: bool = True, save: bool = False) -> None:
        ct = self.console_themes.get(name)
        if ct is None:
            self.notify(f"no theme named {name!r}; using {themes_mod.DEFAULT_THEME}. "
                        f"Known: {', '.join(sorted(self.console_themes))}", severity="warning")
            ct = self.console_themes[themes_mod.DEFAULT_THEME]
        self.theme = ct.name
        self.theme_name = ct.name
        if self._monitor is not None and self._monitor.is_mounted:
            self._monitor.set_status_styles(ct.status)
        saved = ""
        if save and self.target.read_only:
            saved = " (read-only: for this session, the settings file is not written)"
        elif save:
            try:
                self.settings.set_preference("ui", "theme", ct.name)
            except HAProxyError as exc:
                self.notify(f"theme not saved: {exc}", severity="warning")
        if announce:
            self.notify(f"theme: {ct.name}{saved}")

    # -- data -----------------------------------------------------------------------------
    def _on_snapshot(self, snap: Snapshot, events: list[Event]) -> None:
        if not self._gc_frozen and (self.settle_gc if self.settle_gc is not None
                                    else not self.is_headless):
            self._gc_frozen = True
            self.call_after_refresh(_settle_gc)
        self.monitor.show_snapshot(snap, events)

    async def _prepare(self, snap: Snapshot) -> None:
        if self._monitor is not None:
            await self._monitor.prepare(snap)

    async def _painted(self) -> None:
        """Once the screen has been drawn (a first look, before every server is read:
        that read would hold the event loop while it paints), at most 2 s."""
        drawn = asyncio.Event()
        self.call_after_refresh(drawn.set)
        try:
            await asyncio.wait_for(drawn.wait(), 2.0)
        except TimeoutError:
            pass

    def _on_status(self, status: PollStatus, events: list[Event]) -> None:
        self.monitor.show_status(status, events)

    async def send_actions(self, actions: list[Action], *, summary: str | None = None,
                           intro: str | None = None,
                           record_undo: bool = True) -> Result | None:
        """The console's one send path (the main screen's), for the other screens."""
        return await self.monitor.operations.send_actions(
            actions, summary=summary, intro=intro, record_undo=record_undo)

    # -- app-wide actions -------------------------------------------------------------------
    def action_themes(self) -> None:
        names = sorted(self.console_themes)
        idx = (names.index(self.theme_name) + 1) % len(names) if self.theme_name in names else 0
        self.apply_theme(names[idx], save=True)

    def action_help(self) -> None:
        rows: list[tuple[str, str, str]] = []
        for _key, active in self.screen.active_bindings.items():
            b = active.binding
            rows.append((self.get_key_display(b), b.description or b.action, b.id or ""))
        for keys, what in getattr(self.screen, "HELP_KEYS", ()):
            rows.append((keys, what, ""))
        for keys, what in getattr(self.monitor.table, "HELP_KEYS", ()):
            rows.append((keys, what, "table"))
        notes = [
            f"Instance: {self.target.name}  socket: {self.target.socket or '-'}  "
            f"stats page: {self.stats_page_text()}",
            "Counters are since HAProxy's start or the last clear; an incident mark (m) "
            "shows deltas without clearing.",
            "Remap keys in the settings file: [keys] <id> = \"ctrl+x\".",
            f"Settings: {self.settings.path}   Log: {log_where()}",
            "ctrl+p opens the command palette with every command.",
        ]
        self.push_screen(HelpScreen(rows, notes, self.keymap_problems))

    def stats_page_text(self) -> str:
        """The stats page given, else the one(s) the configuration declares, else ``-``."""
        if self.target.url:
            return self.target.url
        found: list[str] = []
        for path in self.target.config_paths:
            if os.path.isfile(path):
                found += stats_page_urls_of(path)
        if not found:
            return "- (none given with --url or found in the config)"
        return ", ".join(found[:3]) + " (from the config)"

    def key_display(self, binding: Binding) -> str:
        """The keys *binding* has, the settings' [keys] applied, as the footer shows them."""
        keys = keys_of(binding, self.keymap).split(",")
        return " / ".join(self.get_key_display(binding.with_key(k, key_display=None)
                                               if k != binding.key else binding)
                          for k in keys)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: the main screen's keys with the key each has now, the themes, and
        Textual's own commands but its Quit and Theme (the console's are above)."""
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Theme"):
                yield command
        if screen is self._monitor:  # its keys, as commands
            for b in MAIN_BINDINGS:
                if b is not HELP_BINDING:
                    yield SystemCommand(b.description, f"key {self.key_display(b)}",
                                        lambda a=b.action: self.run_action(a, screen))
        for name in sorted(self.console_themes):
            yield SystemCommand(f"Theme: {name}", "switch theme and remember it",
                                lambda n=name: self.apply_theme(n, save=True))

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification of the console: its text comes from HAProxy, files and the
        user, so it is never read as markup and its control characters are escaped.

        While a dialog is open, no toast covers it: the notification is held, and shown
        with its full time once the last dialog has closed (a dialog's own messages are
        shown in the dialog)."""
        if self._dialog_open():
            self._held_notes.append((str(message), title, severity, timeout))
            return
        super().notify(visible_lines(str(message), tab=False), title=visible(title),
                       severity=severity, timeout=timeout, markup=False)

    def _dialog_open(self) -> bool:
        try:
            return isinstance(self.screen, Dialog)
        except ScreenStackError:
            return False

    def _show_held_notes(self, _screen: Screen) -> None:
        if self._dialog_open() or not self._held_notes:
            return
        held, self._held_notes = self._held_notes, []
        for message, title, severity, timeout in held:
            self.notify(message, title=title, severity=severity, timeout=timeout)

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


def prepare_run(target: Target) -> None:
    """Before the console runs: the log file (a problem with it is a note on screen)
    and the frame rate."""
    try:
        logging.basicConfig(stream=open_log(), level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    except (OSError, HAProxyError) as exc:  # the console runs; the problem is on screen
        target.notes.append(f"no log file: {exc}")
    os.environ.setdefault("TEXTUAL_MAX_FPS", "30")


def run_app(target: Target, *, theme: str | None = None, triage: bool = False,
            spectator: bool = False, record: str | None = None) -> int:
    """Run the console; returns the exit code. *triage*: open on what's hurting now;
    *spectator*: watching only (``haconsole serve``); *record*: what it polls is also
    written to this recording (a new file)."""
    prepare_run(target)
    app = HAConsoleApp(target, theme=theme, triage=triage, spectator=spectator)
    recorder = None
    if record is not None:
        from console.ui.replay import start_recording

        recorder = start_recording(app, record)
    try:
        result = app.run()
    finally:
        if recorder is not None:
            recorder.close("console closed")
    mark = app._monitor.mark if app._monitor is not None else None
    if mark is not None:
        stamp = time.strftime("%H:%M:%S", time.localtime(mark.wall_time))
        print(visible(f"haconsole: the incident mark of {stamp} is kept: it comes back when "
                      f"haconsole opens {target.name} again (M clears it)"), file=sys.stderr)
    return app.return_code if app.return_code is not None else (result or 0)
