"""The logs screen (``l``): a live tail of the instance's traffic logs, read from its
``ring`` over the stats socket (:mod:`console.haproxy.logs.ring`).

- The ring followed is the instance's only one, else the first one the configuration
  declares (HAProxy's own ``buf0``/``dpapi`` are never read). With none, the screen
  says how to add one (``haconsole config add-log-ring``).
- The lines come from the console's log collector when it reads the same source
  (the ring, ``--log-file``, ``--log-journal``): its last lines first (the ring's
  backlog included), then each batch it parses; a line is read and parsed once for
  every view. Otherwise (another ring, or no collector) the screen follows the ring
  itself, its backlog first. Lines are shown in batches (every
  :data:`FLUSH_INTERVAL`); the last :data:`MAX_LINES` are kept.
- ``space``/``p`` pause the view: following goes on into the buffer, the status line
  counts the lines that came meanwhile; moving back (up, PgUp, home) pauses too;
  ``end`` returns to the live tail.
- ``/`` filters with the filter language (:mod:`console.haproxy.logs.filter`); a
  mistake is shown in words under the box. While a filter is on, lines that did not
  parse are hidden (and still counted).
- ``enter`` shows a line in full: every field, and the termination state in words.

Everything from the log (every cell, the detail, the ring's notes) goes through
:func:`~console.haproxy.safe_text.visible`: control bytes are shown escaped, never
sent to the terminal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from console.haproxy.errors import HAProxyError
from console.haproxy.logs import LineParser, LogRecord, explain_termination, parse_filter
from console.haproxy.logs.filter import Filter
from console.haproxy.logs.parse import Result, Unparsed
from console.haproxy.safe_text import visible
from console.ui.screens.help import HELP_BINDING
from console.ui.widgets.line_list import ROW_WIDTH, LineList

if TYPE_CHECKING:
    from console.haproxy.transport import RuntimeClient
    from console.instance import Target

log = logging.getLogger("haconsole.ui")

MAX_LINES = 5000  # lines kept (and at most shown)
FLUSH_INTERVAL = 0.2  # seconds between two updates of the view
ROWS_PER_FLUSH = 40  # rows added to the table at most per update (see _flush)
PARSE_BATCH = 2000  # lines read before they are parsed, at most (see _parse_raw)
WAIT_COLLECTOR = 5.0  # seconds to wait for the console's log collector to find its ring
FLOOD_DRAW_INTERVAL = 1.0  # seconds between two draws of the table while lines flood in
COLUMNS = (("time", 12), ("client", 15), ("frontend", 12), ("backend/server", 22),
           ("status", 6), ("Ta", 7), ("term", 4), ("request", 0))
NO_RING = ("this HAProxy declares no ring to read its logs from. A (shift+a) stages one "
           "through the config pipeline: a ring section and a log line, shown as a diff, "
           "checked, applied and reloaded like any change (from a shell: `haconsole config "
           "add-log-ring`). Or give the console a log file: haconsole --log-file PATH")
NO_SOCKET = ("the logs are read from a ring over the stats socket, and this console has "
             "none: start it with -s SOCKET (or -i NAME), or read a log file from another "
             "terminal: `haconsole logs --file PATH --follow`")


def parser_for(target: Target | None) -> LineParser:
    """Each frontend's format from the instance's configuration when it can be read,
    else HAProxy's predefined formats."""
    from console.haproxy.logs.config_formats import parser_or_auto

    paths = [p for p in (target.config_paths if target is not None else [])
             if os.path.exists(p)]
    return parser_or_auto(paths)


def filter_for_row(row: Any) -> str:
    """The filter of the logs of a main-table row (see :func:`filter_for`)."""
    if row is None:
        return ""
    return filter_for(getattr(row, "type", ""), getattr(row, "proxy", ""),
                      getattr(row, "name", ""))


def filter_for(kind: str, proxy: str, name: str) -> str:
    """The filter of the logs of an object: ``be=B srv=S`` for a server, ``be=B`` for a
    backend, ``fe=F`` for a frontend; empty for anything else, or a name the filter
    language cannot hold."""
    if not proxy or any(c.isspace() or c == '"' for c in proxy + name):
        return ""
    if kind == "server":
        return f"be={proxy} srv={name}"
    if kind == "backend":
        return f"be={proxy}"
    if kind == "frontend":
        return f"fe={proxy}"
    return ""


def _time(rec: LogRecord) -> str:
    for key in ("request_date", "accept_date"):
        value = rec.fields.get(key)
        if isinstance(value, str) and ":" in value:
            return value.split(":", 1)[1][:12]
    return rec.header.time or ""


def _cut(text: str, width: int) -> str:
    return text if width <= 0 or len(text) <= width else text[:width - 1] + "…"


def _field(rec: LogRecord, key: str) -> str:
    value = rec.fields.get(key)
    return "" if value is None else str(value)


def _values(result: Result) -> tuple[list[str], list[str]]:
    """The row of *result*: one value per column of :data:`COLUMNS` (not escaped yet),
    and its style's name."""
    if isinstance(result, Unparsed):
        what = "event" if result.event else "unparsed"
        return (["" for _ in COLUMNS[:-1]] + [f"({what}) {result.raw}"],
                ["" for _ in COLUMNS[:-1]] + ["dim"])
    rec = result
    status = rec.fields.get("status")
    style = ""
    if isinstance(status, int):
        style = "bold red" if status >= 500 else "yellow" if status >= 400 else ""
    backend = _field(rec, "backend")
    server = _field(rec, "server")
    be_srv = f"{backend}/{server}" if server else backend
    ta = rec.fields.get("ta")
    if ta is None:
        ta = rec.fields.get("tt")
    if rec.format == "connect":
        request = f"connect ({_field(rec, 'mode')})"
    else:
        request = " ".join(x for x in (_field(rec, "method"), _field(rec, "uri")
                                       or _field(rec, "path")) if x)
    term = _field(rec, "termination")
    values = [_time(rec), _field(rec, "client"), _field(rec, "frontend"), be_srv,
              "" if status is None else str(status), "" if ta is None else str(ta),
              term, request]
    styles = [""] * len(values)
    styles[4] = style
    if term[:1] not in ("-", "L", ""):
        styles[6] = "bold"
    return values, styles


def cells(result: Result) -> list[Text]:
    """The row of *result*: one cell per column of :data:`COLUMNS`, outside text
    escaped."""
    values, styles = _values(result)
    return [Text(_cut(visible(value), width or ROW_WIDTH), style=s)
            for (_, width), value, s in zip(COLUMNS, values, styles, strict=True)]


GAP = "  "  # between two columns of a line
HEADER = GAP.join(label.ljust(width) if width else label for label, width in COLUMNS)
_STYLES = {name: Style.parse(name) if name else None
           for name in ("", "bold red", "yellow", "bold", "dim")}


def segments(result: Result) -> list[Segment]:
    """The row of *result* as one line of the table: each cell padded to its column's
    width (outside text escaped). Built as segments, not laid out by Rich: while lines
    flood in, every row on screen is a new one at each draw."""
    out: list[Segment] = []
    values, styles = _values(result)
    for (_, width), value, style in zip(COLUMNS, values, styles, strict=True):
        text = _cut(visible(value), width or ROW_WIDTH)
        out.append(Segment(text, _STYLES[style]))
        if width:
            out.append(Segment(" " * max(0, width - cell_len(text)) + GAP))
    return out


def describe(result: Result) -> str:
    """A line in full, as the detail pane shows it (escaped)."""
    if isinstance(result, Unparsed):
        kind = "an HAProxy event, not a traffic log" if result.event else "not parsed"
        return "\n".join([f"line {result.line_no or '?'}: {kind}",
                          f"why: {visible(result.reason)}",
                          f"line: {visible(result.raw)}"])
    rec = result
    term = rec.fields.get("termination_cookie") or rec.fields.get("termination")
    lines = [f"line {rec.line_no or '?'} — format {visible(rec.format)}"]
    if isinstance(term, str) and term:
        lines.append(f"termination {visible(explain_termination(term))}")
    header = rec.header
    if header.time or header.host or header.program:
        lines.append(visible(f"syslog header: {header.variant} time={header.time or '-'} "
                             f"host={header.host or '-'} program={header.program or '-'} "
                             f"pid={header.pid or '-'}"))
    for key, value in rec.fields.items():
        if value is None:
            continue
        lines.append(f"{visible(key)}: {visible(value)}")
    lines.append(f"line: {visible(rec.raw)}")
    return "\n".join(lines)


class Batches:
    """The newest lines (at least *keep* of them), numbered, kept in the batches they
    came in: a batch is kept whole, so that a flood of lines costs no work per line
    here (only the lines shown are looked at one by one)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.batches: deque[tuple[int, list[Result]]] = deque()
        self.count = 0

    def add(self, first: int, results: list[Result]) -> None:
        """*results*, numbered from *first*."""
        if not results:
            return
        batches = self.batches
        batches.append((first, results))
        self.count += len(results)
        while self.count - len(batches[0][1]) >= self.keep:
            self.count -= len(batches.popleft()[1])

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[int, Result]]:
        for first, results in self.batches:
            yield from zip(range(first, first + len(results)), results, strict=True)

    def newest(self, n: int) -> list[tuple[int, Result]]:
        """The last *n* lines, oldest first."""
        out: list[tuple[int, Result]] = []
        for first, results in reversed(self.batches):
            take = results[-(n - len(out)):]
            out[:0] = zip(range(first + len(results) - len(take), first + len(results)),
                          take, strict=True)
            if len(out) >= n:
                break
        return out

    def clear(self) -> None:
        self.batches.clear()
        self.count = 0


class LogTable(LineList):
    """The lines: moving back pauses the live tail, end goes back to it."""

    BINDINGS = [
        Binding("end,ctrl+end", "live", "Back to the live tail", show=False, id="logs.live"),
        Binding("home,ctrl+home", "oldest", "Oldest line (pauses)", show=False,
                id="logs.oldest"),
    ]

    def _back(self) -> None:
        screen = self.screen
        if isinstance(screen, LogsScreen):
            screen.scrolled_back()

    def action_cursor_up(self) -> None:
        self._back()
        super().action_cursor_up()

    def action_page_up(self) -> None:
        self._back()
        super().action_page_up()

    def action_oldest(self) -> None:
        self._back()
        self.move_cursor(row=0)

    def action_live(self) -> None:
        screen = self.screen
        if isinstance(screen, LogsScreen):
            screen.action_live()


class LogsScreen(ModalScreen[None]):
    """The live tail of *target*'s ring (a full screen; escape closes it).

    *client*: the stats socket (None: the screen says why there are no logs);
    *initial_filter*: a filter expression applied from the start (``be=be_api``).
    """

    DEFAULT_CSS = """
    LogsScreen { background: $background; layout: vertical; }
    LogsScreen #logs-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    LogsScreen #logs-status { height: 1; padding: 0 1; }
    LogsScreen #logs-status.paused { background: $warning-muted; text-style: bold; }
    LogsScreen #logs-message { height: auto; padding: 0 1; color: $warning; display: none; }
    LogsScreen #logs-filter { display: none; }
    LogsScreen #logs-filter.visible { display: block; }
    LogsScreen #logs-filter-error { height: auto; padding: 0 1; color: $error; display: none; }
    LogsScreen #logs-table { height: 1fr; }
    LogsScreen #logs-detail { height: 12; border-top: solid $panel; padding: 0 1;
                              display: none; }
    """
    BINDINGS = [
        HELP_BINDING,  # a modal screen: the app's keys do not reach it
        Binding("escape", "back", "Close (the detail, the filter box, then the screen)",
                id="logs.close"),
        Binding("space,p", "pause", "Pause / resume the view", id="logs.pause"),
        Binding("slash", "filter", "Filter", id="logs.filter"),
        Binding("d", "toggle_detail", "Detail of the line", show=False, id="logs.detail"),
        Binding("s", "summary", "Summaries (1/5/15 min, since the mark)", id="logs.summary"),
        Binding("A", "add_ring", "Add a log ring (a staged config change)", show=False,
                id="logs.add_ring"),
    ]
    HELP_KEYS = (("up / PgUp / home", "scroll back (pauses the view)"),
                 ("end", "back to the live tail"),
                 ("enter", "the line in full, its termination state in words"))

    def __init__(self, target: Target | None, client: RuntimeClient | None, *,
                 initial_filter: str = "", parser: LineParser | None = None,
                 ring: str | None = None) -> None:
        super().__init__()
        self.target, self.client = target, client
        self.parser = parser
        self.ring = ring
        self.filter_text = ""
        self.filter: Filter | None = None
        self.buffer = Batches(MAX_LINES)  # the lines read (what a filter or pause redraws)
        self.pending = Batches(MAX_LINES)  # the lines read since the last update
        self.shown: OrderedDict[str, Result] = OrderedDict()
        self.total = 0
        self.unparsed = 0
        self.events = 0
        self.paused = False
        self.new_while_paused = 0
        self.state = "starting"
        self.message = ""
        self._follower: Any = None
        self.source_text: str | None = None  # a file or journald, through the collector
        self._unlisten: Any = None
        self._raw: list[bytes] = []  # lines read, not parsed yet (at most PARSE_BATCH)
        self._undrawn: deque[tuple[int, Result]] = deque(maxlen=ROWS_PER_FLUSH)
        self._drawn_at = 0.0
        self._initial_filter = initial_filter.strip()

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        name = visible(self.target.name) if self.target is not None else "HAProxy"
        yield Static(f"{name} — traffic logs", id="logs-title", markup=False)
        yield Static("", id="logs-status", markup=False)
        yield Static("", id="logs-message", markup=False)
        yield Input(placeholder="filter: be=be_api status>=500 term~^S client=10.1.0.0/16 "
                    "path~^/login Ta>500ms  (enter: apply, escape: cancel)", id="logs-filter")
        yield Static("", id="logs-filter-error", markup=False)
        yield LogTable(HEADER, segments, id="logs-table")
        with VerticalScroll(id="logs-detail"):
            yield Static("", id="logs-entry", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(LogTable)
        if self._initial_filter:
            self.set_filter(self._initial_filter)
        table.focus()
        self._show_status()
        self.set_interval(FLUSH_INTERVAL, self._flush)
        self.run_worker(self._follow(), group="logs-follow", exclusive=True,
                        exit_on_error=False)

    def on_unmount(self) -> None:
        if self._follower is not None:
            self._follower.stop()
        if self._unlisten is not None:
            self._unlisten()

    # -- following ------------------------------------------------------------------------
    async def _pick_ring(self) -> str | None:
        from console.haproxy.logs.ring import list_sinks, user_rings

        assert self.client is not None
        rings = user_rings(await list_sinks(self.client))
        return rings[0].name if rings else None

    async def _follow(self) -> None:
        from console.haproxy.logs.ring import RingFollower, RingNote

        collector: Any = getattr(self.app, "collector", None)
        if collector is not None and await self._through(collector):
            return
        if self.client is None:
            self._fail(NO_SOCKET)
            return
        try:
            ring = self.ring or await self._pick_ring()
        except HAProxyError as exc:
            self._fail(f"cannot list the rings: {exc}")
            return
        if ring is None:
            self._fail(NO_RING)
            return
        self.ring = ring
        if self.parser is None:
            self.parser = parser_for(self.target)
        self.state = "live"
        self._show_status()
        follower = RingFollower(self.client, ring, new_only=False)
        self._follower = follower
        raw = self._raw
        try:
            async for item in follower.follow():
                if isinstance(item, RingNote):
                    self.notify(visible(item.text), severity="warning", timeout=10,
                                markup=False)
                    continue
                self.total += 1
                raw.append(item.data)
                if len(raw) >= PARSE_BATCH:
                    self._parse_raw()  # bounded: parsed in batches, not held until a flush
        except HAProxyError as exc:
            self._fail(f"following the ring {ring} stopped: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - said on screen, logged in full
            log.exception("following the ring %s", ring)
            self._fail(f"following the ring {ring} stopped after an internal error: "
                       f"{type(exc).__name__}: {exc}")
            return
        self.state = "ended"
        self._show_status()

    async def _through(self, collector: Any) -> bool:
        """Show what the console's log collector reads, when it reads this screen's
        source (a file, journald, or the same ring): its last lines, then each batch it
        parses, so each line is read and parsed once. False: this screen reads its ring
        itself (another ring asked for, or the collector has none)."""
        if collector.log_file or collector.journal_unit:
            if collector.state == "stopped":
                self._fail(collector.why)
                return True
            self.source_text = collector.source
        else:
            if collector.client is None or (self.ring is not None and collector.ring is not None
                                             and self.ring != collector.ring):
                return False
            deadline = time.monotonic() + WAIT_COLLECTOR
            while not collector.caught_up and collector.state in ("starting", "following") \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if not collector.caught_up or (self.ring is not None and collector.ring != self.ring):
                return False
            self.ring = collector.ring
        if self.parser is None:
            self.parser = parser_for(self.target)
        self.state = "live"
        # the lines read so far, then the batches (nothing is read in between: the
        # collector runs on this event loop)
        recent = list(collector.recent)[-MAX_LINES:]
        self._raw.extend(recent)
        self.total += len(recent)
        self._parse_raw()
        self._unlisten = collector.listen(self.add_results)
        self._show_status()
        return True

    def _fail(self, message: str) -> None:
        self.state = "stopped"
        self.message = visible(message)
        box = self.query_one("#logs-message", Static)
        box.update(self.message)
        box.display = True
        self._show_status()

    def add_results(self, results: list[Result]) -> None:
        """Lines as if the ring had sent them (they are shown at the next update)."""
        self._parse_raw()
        first = self.total + 1
        self.total += len(results)
        for result in results:
            if isinstance(result, Unparsed):
                self._count(result)
        # pending keeps the newest MAX_LINES: older ones could never be shown
        self.pending.add(first, results)

    def _parse_raw(self) -> None:
        """The lines read since the last call, parsed together (``parse_many``) into
        :attr:`pending`, counted (unparsed, events)."""
        raw = self._raw
        if not raw:
            return
        parser = self.parser or LineParser.auto()
        first = self.total - len(raw) + 1
        results = parser.parse_many(raw, first)
        raw.clear()
        count = self._count
        for result in results:
            count(result)
        # pending keeps the newest MAX_LINES: older ones could never be shown
        self.pending.add(first, results)

    # -- the view -------------------------------------------------------------------------
    def _passes(self, result: Result) -> bool:
        if self.filter is None:
            return True
        return isinstance(result, LogRecord) and self.filter(result.fields)

    def _count(self, result: Result) -> None:
        if isinstance(result, Unparsed):
            if result.event:
                self.events += 1
            else:
                self.unparsed += 1

    def _flush(self) -> None:
        self._parse_raw()
        if not self.pending:
            if self._undrawn and not self.paused:  # the end of a flood
                self._drawn_at = time.monotonic()
                rows = list(self._undrawn)
                self._undrawn.clear()
                self._add_rows(rows)
                self._show_status()
            return
        pending = self.pending
        came = len(pending)
        for first, results in pending.batches:
            self.buffer.add(first, results)
        if self.filter is None:
            matched_count = came
            matched = pending.newest(ROWS_PER_FLUSH)
        else:
            matched = [item for item in pending if self._passes(item[1])]
            matched_count = len(matched)
        pending.clear()
        if self.paused:
            self.new_while_paused += matched_count
            self._undrawn.clear()
        elif matched:
            # at most ROWS_PER_FLUSH new rows an update: a flood of lines is shown as its
            # newest rows (all of them stay in the buffer: pause/end or a filter redraws
            # from it), and drawn at most every FLOOD_DRAW_INTERVAL, so that drawing
            # costs the same whatever the log rate
            undrawn = self._undrawn
            undrawn.extend(matched[-ROWS_PER_FLUSH:])
            flooding = came >= ROWS_PER_FLUSH
            now = time.monotonic()
            if flooding and now - self._drawn_at < FLOOD_DRAW_INTERVAL:
                return  # the status line too: each update of it lays the screen out again
            self._drawn_at = now
            rows = list(undrawn)
            undrawn.clear()
            self._add_rows(rows)
        self._show_status()

    def _add_rows(self, items: list[tuple[int, Result]]) -> None:
        table = self.query_one(LogTable)
        shown = self.shown
        new: list[tuple[str, Result]] = []
        for n, result in items:
            key = str(n)
            if key in shown:  # already drawn (by a redraw from the buffer)
                continue
            new.append((key, result))
            shown[key] = result
        table.append(new)  # (each row is drawn when it comes into view)
        excess = len(shown) - MAX_LINES
        if excess > 0:
            for _ in range(excess):
                shown.popitem(last=False)
            table.drop_first(excess)
        self._to_end()

    def _to_end(self) -> None:
        table = self.query_one(LogTable)
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        self._show_detail()

    def _rebuild(self) -> None:
        table = self.query_one(LogTable)
        table.clear()
        self.shown.clear()
        items = [item for item in self.buffer if self._passes(item[1])][-MAX_LINES:]
        self._add_rows(items)

    def _show_status(self) -> None:
        status = self.query_one("#logs-status", Static)
        ring = self.source_text or (f"ring {visible(self.ring)}" if self.ring else "no ring")
        if self.state == "starting":
            mode = "connecting…"
        elif self.state == "stopped":
            mode = "not following"
        elif self.state == "ended":
            mode = "the ring's connection ended"
        elif self.paused:
            mode = f"PAUSED, {self.new_while_paused} new · end or space: live"
        else:
            mode = "live"
        parts = [ring, mode, f"{self.total} lines"]
        if self.unparsed:
            parts.append(f"{self.unparsed} unparsed")
        if self.events:
            parts.append(f"{self.events} HAProxy events")
        if self.filter is not None:
            parts.append(f"filter {visible(self.filter_text)}: {len(self.shown)} shown")
        status.update(" · ".join(parts))
        status.set_class(self.paused, "paused")

    @property
    def status_text(self) -> str:
        return str(self.query_one("#logs-status", Static).render())

    def row_cells(self, index: int) -> list[str]:
        """The cells (one per column of :data:`COLUMNS`) of the table's row *index*, as
        text: for tests and the export."""
        table = self.query_one(LogTable)
        result = self.shown.get(table.key_at(index))
        return [c.plain for c in cells(result)] if result is not None else []

    # -- pause, scroll, live ----------------------------------------------------------------
    def action_pause(self) -> None:
        if self.paused:
            self.action_live()
        else:
            self.pause()

    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            self.new_while_paused = 0
            self._show_status()

    def scrolled_back(self) -> None:
        """The user moves back through the lines: the view stops following."""
        self.pause()

    def action_live(self) -> None:
        if self.paused:
            self.paused = False
            self.new_while_paused = 0
            self._rebuild()
        else:
            self._to_end()
        self._show_status()

    # -- the filter -------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#logs-filter", Input)
        box.value = self.filter_text
        box.add_class("visible")
        self.set_focus(box)

    def set_filter(self, text: str) -> str | None:
        """Apply *text* (empty: no filter); the mistake in words, or None."""
        text = text.strip()
        error = self.query_one("#logs-filter-error", Static)
        if text:
            try:
                flt = parse_filter(text)
            except HAProxyError as exc:
                words = visible(str(exc) + (f" — {exc.hint}" if exc.hint else ""))
                error.update(words)
                error.display = True
                return words
        else:
            flt = None
        error.display = False
        self.filter, self.filter_text = flt, text
        self.new_while_paused = 0
        self._rebuild()
        self._show_status()
        return None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "logs-filter":
            return
        event.stop()
        if self.set_filter(event.value) is None:
            event.input.remove_class("visible")
            self.query_one(LogTable).focus()

    def _close_filter_box(self) -> None:
        box = self.query_one("#logs-filter", Input)
        box.remove_class("visible")
        self.query_one("#logs-filter-error", Static).display = False
        self.query_one(LogTable).focus()

    # -- detail -----------------------------------------------------------------------------
    def selected(self) -> Result | None:
        key = self.query_one(LogTable).cursor_key
        return self.shown.get(key) if key is not None else None

    def on_line_list_selected(self, event: LineList.Selected) -> None:
        event.stop()
        self.action_toggle_detail(True)

    def on_line_list_highlighted(self, event: LineList.Highlighted) -> None:
        self._show_detail()

    def action_toggle_detail(self, show: bool | None = None) -> None:
        pane = self.query_one("#logs-detail")
        pane.display = (not pane.display) if show is None else show
        self._show_detail()

    def _show_detail(self) -> None:
        pane = self.query_one("#logs-detail")
        if not pane.display:
            return
        result = self.selected()
        self.query_one("#logs-entry", Static).update(
            describe(result) if result is not None else "No line selected.")

    @property
    def detail_text(self) -> str:
        pane = self.query_one("#logs-detail")
        return str(self.query_one("#logs-entry", Static).render()) if pane.display else ""

    def action_add_ring(self) -> None:
        if self.ring is not None:
            self.notify(f"this instance already logs to the ring {visible(self.ring)}")
            return
        app: Any = self.app
        monitor = getattr(app, "monitor", None)
        if monitor is None:
            return
        self.dismiss(None)
        monitor.navigation.stage_log_ring()

    def action_summary(self) -> None:
        from console.ui.screens.log_summary import LogSummaryScreen

        collector = getattr(self.app, "collector", None)
        name = self.target.name if self.target is not None else "HAProxy"
        self.app.push_screen(LogSummaryScreen(collector, name=name))

    def action_back(self) -> None:
        box = self.query_one("#logs-filter", Input)
        if box.has_focus or box.has_class("visible"):
            self._close_filter_box()
            return
        pane = self.query_one("#logs-detail")
        if pane.display:
            pane.display = False
            return
        self.dismiss(None)
