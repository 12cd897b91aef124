"""The detail pane: everything about the selected row.

From top to bottom, in one scrollable column that works from 30 columns wide: the
row's identity and status (symbol and text, so it reads without colour), its rates
and its counters since the incident mark; small charts of request rate, current
sessions, 5xx per second and queue over the history kept (one bar per refresh, the
newest on the right, with last/min/max); then every ``show stat`` field of the row by
HAProxy's name, in HAProxy's order (empty ones dimmed, or hidden with ``E``).

:meth:`DetailPane.show` updates the same few widgets in place; nothing is mounted or
removed after start-up, and the field list is only redrawn when a value changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from console.haproxy.checks import FAIL, CheckLog
from console.haproxy.counters import Mark, format_age, is_counter
from console.haproxy.events import Event
from console.haproxy.history import METRIC_LABELS, METRICS, History
from console.haproxy.model import Rates, Row
from console.haproxy.safe_text import visible
from console.ui.widgets.columns import compact, human_bytes, status_cell

BARS = "▁▂▃▄▅▆▇█"
BYTE_FIELDS = frozenset({"bin", "bout", "comp_in", "comp_out", "comp_byp"})
MS_FIELDS = frozenset({"qtime", "ctime", "rtime", "ttime", "qtime_max", "ctime_max",
                       "rtime_max", "ttime_max", "check_duration", "agent_duration"})
SECONDS_FIELDS = frozenset({"lastchg", "downtime", "lastsess"})
MARK_SUMMARY = ("req_tot", "stot", "hrsp_5xx", "hrsp_4xx", "econ", "eresp", "chkdown")
NAME_WIDTH_MAX = 18


def sparkline(values: list[float], width: int) -> str:
    """The last ``width`` values as bars scaled from 0 to their maximum, right-aligned.

    Zero is the lowest bar; any value above zero is at least the second lowest, so a
    single error among zeros is visible.
    """
    if width <= 0:
        return ""
    shown = values[-width:]
    top = max(shown, default=0.0)
    if top <= 0:
        bars = BARS[0] * len(shown)
    else:
        steps = len(BARS) - 1
        bars = "".join(BARS[0] if v <= 0 else BARS[max(1, min(steps, round(v / top * steps)))]
                       for v in shown)
    return " " * (width - len(shown)) + bars


def _figure(value: float) -> str:
    return compact(value)


def field_hint(name: str, value: str) -> str:
    """A readable form of some raw values: bytes, milliseconds, seconds ago."""
    try:
        n = int(value)
    except ValueError:
        return ""
    if name in BYTE_FIELDS and n >= 1024:
        return human_bytes(n) + "B"
    if name in MS_FIELDS:
        return "ms"
    if name in SECONDS_FIELDS:
        if name == "lastsess" and n < 0:
            return "never"
        return format_age(n) + ("" if name == "downtime" else " ago") if n >= 60 else ""
    return ""


class _Charts(Widget):
    """Two lines per metric: ``label  last · min · max``, then the bars."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "charts--title", "charts--label", "charts--bar", "charts--bad", "charts--dim",
    }
    DEFAULT_CSS = """
    _Charts { height: auto; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    _Charts > .charts--title { color: $text-muted; }
    _Charts > .charts--label { text-style: bold; }
    _Charts > .charts--bar { color: $primary; }
    _Charts > .charts--bad { color: $error; }
    _Charts > .charts--dim { color: $text-muted; }
    """

    def __init__(self, **kwargs: str) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.series: dict[str, list[float]] = {m: [] for m in METRICS}
        self.span = 0.0

    def set_data(self, series: dict[str, list[float]], span: float) -> None:
        if series != self.series or span != self.span:
            self.series, self.span = series, span
            self.refresh()

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return 1 + 2 * len(METRICS)

    def render(self) -> Text:
        width = max(self.size.width, 1)
        style = self.get_component_rich_style
        out = Text()
        longest = max((len(v) for v in self.series.values()), default=0)
        title = f"charts · last {format_age(self.span)}" if self.span else "charts"
        if longest and len(title) + 14 <= width:
            title += f" · {longest} samples"
        out.append(title + "\n", style("charts--title"))
        for metric in METRICS:
            values = self.series.get(metric, [])[-width:]
            label = METRIC_LABELS[metric]
            out.append(f"{label:<9}", style("charts--label"))
            if not values:
                out.append("n/a for this row\n", style("charts--dim"))
                out.append("\n")
                continue
            last, low, high = _figure(values[-1]), _figure(min(values)), _figure(max(values))
            figures = f" · min {low} · max {high}"
            if 9 + 5 + len(last) + len(figures) > width:
                figures = f" min {low} max {high}"
            out.append(f"last {last}")
            out.append(figures + "\n", style("charts--dim"))
            bad = metric in ("5xx_rate", "qcur") and max(values) > 0
            out.append(sparkline(values, width) + "\n",
                       style("charts--bad" if bad else "charts--bar"))
        out.rstrip()
        return out


class DetailPane(Widget):
    """The selected row: identity, status, rates, charts and every field."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"detail--dim", "detail--name", "detail--delta"}
    DEFAULT_CSS = """
    DetailPane { layout: vertical; background: $surface; }
    DetailPane > VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
    DetailPane #detail-header { padding: 0 1; }
    DetailPane #detail-recent { padding: 0 1; margin-top: 1; }
    DetailPane #detail-fields-title { padding: 0 1; margin-top: 1; color: $text-muted; }
    DetailPane #detail-fields { padding: 0 1; }
    DetailPane > .detail--dim { color: $text-muted; }
    DetailPane > .detail--name { color: $text-muted; }
    DetailPane > .detail--delta { color: $accent; text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("E", "toggle_empty", "Empty fields", show=False, id="detail.toggle_empty"),
    ]

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.row: Row | None = None
        self.history: History | None = None
        self.rates: Rates | None = None
        self.mark: Mark | None = None
        self.show_empty = True
        self._styles: dict[str, Style] = {}
        self._fields_drawn: tuple[object, ...] | None = None
        self.clock: Callable[[], float] = time.time  # for the mark's age
        self.checks: CheckLog | None = None
        self.events: Iterable[Event] = ()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-scroll"):
            yield Static(self._header_text(), id="detail-header")
            yield Static("", id="detail-recent")
            yield _Charts(id="detail-charts")
            yield Static("", id="detail-fields-title")
            yield Static("", id="detail-fields")

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()  # the field names' column depends on the width

    # ------------------------------------------------------------------ API

    def set_status_styles(self, status: dict[str, Style]) -> None:
        """The theme's status styles (``up``, ``down``, ``maint``…)."""
        self._styles = dict(status)
        if self.is_mounted:
            self.query_one("#detail-header", Static).update(self._header_text())

    def show(self, row: Row | None, history: History, rates: Rates | None,
             mark: Mark | None, *, checks: CheckLog | None = None,
             events: Iterable[Event] = ()) -> None:
        """Show ``row`` (None: nothing selected) with its history, rates and the mark;
        a server's recent check results from *checks* and its own *events*."""
        self.row, self.history, self.rates, self.mark = row, history, rates, mark
        self.checks, self.events = checks, events
        if self.is_mounted:
            self._draw()

    def action_toggle_empty(self) -> None:
        self.show_empty = not self.show_empty
        self._fields_drawn = None
        self._draw()

    # ------------------------------------------------------------------ drawing

    def _draw(self) -> None:
        row = self.row
        self.query_one("#detail-header", Static).update(self._header_text())
        recent = self._recent_text(row) if row is not None else None
        recent_widget = self.query_one("#detail-recent", Static)
        recent_widget.display = recent is not None
        if recent is not None:
            recent_widget.update(recent)
        charts = self.query_one(_Charts)
        title = self.query_one("#detail-fields-title", Static)
        fields = self.query_one("#detail-fields", Static)
        for widget in (charts, title, fields):
            widget.display = row is not None
        if row is None:
            self._fields_drawn = None
            return
        history = self.history
        if history is not None:
            charts.set_data({m: history.series(row.key, m) for m in METRICS},
                            history.span(row.key))
        else:
            charts.set_data({m: [] for m in METRICS}, 0.0)
        drawn = (row.key, row.fields, self.mark, self.show_empty, self.size.width)
        if drawn != self._fields_drawn:
            self._fields_drawn = drawn
            empty = sum(1 for v in row.fields.values() if v == "")
            hint = "E: hide empty" if self.show_empty else "E: show empty"
            title.update(f"fields · {len(row.fields)} · {empty} empty · {hint}")
            fields.update(self._fields_text(row))

    def _status_style(self, key: str | None) -> Style:
        return self._styles.get(key or "", Style(bold=True))

    def _header_text(self) -> Text:
        row = self.row
        if row is None:
            return Text("No row selected: move the cursor onto a frontend, backend or server.",
                        style=self.get_component_rich_style("detail--dim"))
        dim = self.get_component_rich_style("detail--dim")
        text = Text()
        if row.type in ("server", "listener"):
            text.append(f"{row.type} ", dim)
            text.append(visible(f"{row.proxy}/{row.name}"), Style(bold=True))
        else:
            text.append(f"{row.type} ", dim)
            text.append(visible(row.proxy), Style(bold=True))
        status, key = status_cell(row.status)
        text.append("\n")
        text.append(visible(status), self._status_style(key))
        for part in self._facts(row):
            text.append("  ")
            text.append(visible(part))
        text.append("\n")
        text.append_text(self._rates_text(dim))
        if self.mark is not None:
            text.append("\n")
            text.append_text(self._mark_text(row, self.mark))
        return text

    RECENT_EVENTS = 5

    def _recent_text(self, row: Row) -> Text | None:
        """``checks ✓✓✗✗✓ 14:12:03 → 14:12:41`` and the row's last events (None: none)."""
        dim = self.get_component_rich_style("detail--dim")
        text = Text()
        runs = self.checks.runs(row.key) if self.checks and row.type == "server" else []
        if runs:
            width = max(8, min(30, self.size.width - 25))
            strip = self.checks.strip(row.key, width) if self.checks else ""
            text.append("checks ", dim)
            for mark in strip:
                text.append(mark, self._status_style("down" if mark == FAIL else "up"))
            text.append(f"  since {_clock(runs[0].first)}", dim)
            failed = [r for r in runs if r.mark == FAIL]
            if failed:
                last = failed[-1]
                count = sum(r.failed for r in failed)
                text.append("\n")
                text.append(visible(f"last failure {_clock(last.last)}: {last.status}"
                                    + (f", {count} failed checks" if count else "")))
        mine = [e for e in self.events if e.proxy == row.proxy and e.name == row.name]
        if mine:
            if text:
                text.append("\n")
            text.append("events", dim)
            prefix = f" {row.proxy}/{row.name} " if row.name else f" {row.proxy} "
            for ev in mine[-self.RECENT_EVENTS:]:
                symbol = {"error": "✖", "warning": "▲", "ok": "●"}.get(ev.severity, "·")
                words = ev.message.split(prefix, 1)[-1] if prefix in ev.message \
                    else ev.message
                text.append(f"\n{_clock(ev.time)} ", dim)
                text.append(symbol + " ", self._status_style(
                    {"error": "down", "warning": "drain", "ok": "up"}.get(ev.severity)))
                text.append(visible(words))
        return text or None

    @staticmethod
    def _facts(row: Row) -> list[str]:
        f = row.fields
        facts: list[str] = []
        if row.type == "server":
            if row.check_status:
                check = f"check {'* ' if row.check_running else ''}{row.check_status}"
                if f.get("check_code"):
                    check += f" {f['check_code']}"
                if row.check_duration is not None:
                    check += f" {row.check_duration}ms"
                facts.append(check)
            if row.weight is not None:
                facts.append(f"weight {row.weight}"
                             + (f"/{row.user_weight}" if row.user_weight is not None else ""))
        elif row.type == "backend":
            if f.get("act") or f.get("bck"):
                facts.append(f"servers {f.get('act') or 0} active, {f.get('bck') or 0} backup")
            if f.get("algo"):
                facts.append(f["algo"])
        if f.get("mode"):
            facts.append(f"mode {f['mode']}")
        scur, slim = f.get("scur"), f.get("slim")
        if scur:
            facts.append(f"sessions {scur}" + (f"/{slim}" if slim else ""))
        return facts

    def _rates_text(self, dim: Style) -> Text:
        r = self.rates
        if r is None:
            return Text("rates: after the next refresh", style=dim)
        parts: list[tuple[str, float | None, str]] = [
            ("req", r.req_tot, "/s"), ("sess", r.stot, "/s"), ("in", r.bin, "B/s"),
            ("out", r.bout, "B/s"), ("4xx", r.hrsp_4xx, "/s"), ("5xx", r.hrsp_5xx, "/s"),
            ("econ", r.econ, "/s"), ("eresp", r.eresp, "/s")]
        text = Text()
        for label, value, unit in parts:
            if value is None:
                continue
            if text:
                text.append(" · ", dim)
            shown = human_bytes(value) if unit == "B/s" else compact(value)
            text.append(f"{label} {shown}{unit}")
        return text or Text("rates: none for this row", style=dim)

    def _mark_text(self, row: Row, mark: Mark) -> Text:
        label = f" {visible(mark.label)!r}" if mark.label else ""
        text = Text(f"Δ since mark{label} {format_age(mark.age(self.clock()))}:",
                    style=self.get_component_rich_style("detail--delta"))
        for name in MARK_SUMMARY:
            delta = mark.delta(row, name)
            if delta is not None:
                text.append(f" {name} +{compact(delta)}")
        return text

    def _fields_text(self, row: Row) -> Text:
        dim = self.get_component_rich_style("detail--dim")
        name_style = self.get_component_rich_style("detail--name")
        delta_style = self.get_component_rich_style("detail--delta")
        mark = self.mark
        room = max(8, (self.size.width - 2) * 2 // 5)
        width = min(NAME_WIDTH_MAX, room, max((len(k) for k in row.fields), default=0))
        text = Text()
        lines = 0
        for name, value in row.fields.items():
            if value == "" and not self.show_empty:
                continue
            if lines:
                text.append("\n")
            lines += 1
            name = visible(name)
            if value == "":
                text.append(f"{name:<{width}}  -", dim)
                continue
            text.append(f"{name:<{width}}  ", name_style)
            text.append(visible(value))
            hint = field_hint(name, value)
            if hint:
                text.append(f" {hint}", dim)
            if mark is not None and is_counter(name):
                delta = mark.delta(row, name)
                if delta is not None:
                    text.append(f"  Δ+{delta}", delta_style if delta else dim)
        return text


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")
