"""The proxy table's columns, as data: what each shows, how wide, how important.

A :class:`Column` reads one or more HAProxy ``show stat`` fields from a
:class:`~console.haproxy.model.Row` and turns them into a cell: its text and a
style *key* (a theme status key such as ``"down"``, or ``"dim"``/``"warn"``),
never a colour, so the table can restyle without re-reading the data.

Counters (:func:`console.haproxy.counters.is_counter`) show their delta since an
incident mark when one is set; their headers then start with ``Δ``.

:func:`layout` picks the columns of a view that fit a width: ``priority`` 0 is
always shown (name, status), the others by increasing ``priority`` while they
fit; spare cells widen the name, then the status column.

This module imports nothing from Textual, so it is tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from rich.cells import cell_len, set_cell_size

from console.haproxy.counters import COUNTER_FIELDS, Mark, format_age_minutes
from console.haproxy.model import Rates, Row, Status
from console.haproxy.safe_text import visible

Cell = tuple[str, str | None]  # (text, style key)
Formatter = Callable[[Row, Mark | None, Rates | None], Cell]
SortValue = Callable[[Row, Mark | None, Rates | None], Any]

EMPTY: Cell = ("-", "dim")
SEPARATOR = 1  # blank cells between two columns
OK_CHECKS = frozenset({"L4OK", "L6OK", "L7OK", "L7OKC"})


# --------------------------------------------------------------------------- formatting

def compact(n: float) -> str:
    """``9999``, ``12.3k``, ``123k``, ``1.2M``…; floats under 10 keep one decimal."""
    if n < 0:
        return "-" + compact(-n)
    if n < 10_000:
        if isinstance(n, float) and n < 10 and not n.is_integer():
            return f"{n:.1f}"
        return str(round(n))
    for div, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")):
        v = n / div
        if v < 999.5 or suffix == "T":
            return f"{v:.1f}{suffix}" if v < 99.95 else f"{v:.0f}{suffix}"
    return str(n)  # not reached


def human_bytes(n: float) -> str:
    """Bytes in powers of 1024: ``384``, ``1.5K``, ``12.3M``, ``120G``."""
    if n < 1024:
        return str(round(n))
    for suffix in ("K", "M", "G", "T", "P"):
        n /= 1024
        if n < 999.5 or suffix == "P":
            return f"{n:.1f}{suffix}" if n < 99.95 else f"{n:.0f}{suffix}"
    return str(n)  # not reached


def fit(text: str, width: int, align: str = "left") -> str:
    """Pad or crop ``text`` to exactly ``width`` cells; a cropped text ends with ``…``.

    Control characters (from HAProxy, a stats page, a config) are shown as escapes.
    """
    if width <= 0:
        return ""
    if not text.isprintable():
        text = visible(text)
    size = cell_len(text)
    if size > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else "…"
    if size == width:
        return text
    pad = " " * (width - size)
    return pad + text if align == "right" else text + pad


_SYMBOLS = {"UP": ("●", "up"), "DOWN": ("▼", "down"), "MAINT": ("◆", "maint"),
            "DRAIN": ("◐", "drain"), "NOLB": ("◐", "nolb"), "NOCHECK": ("○", "nocheck"),
            "OPEN": ("●", "open"), "STOP": ("■", "stop"), "PAUSED": ("◐", "drain"),
            "FULL": ("◉", "transition"), "UNKNOWN": ("?", "nocheck")}


@lru_cache(maxsize=512)
def status_cell(status: Status) -> Cell:
    """Text and symbol, readable without colour: ``● UP``, ``▲ UP 1/3``, ``◆ MAINT (via b/s)``."""
    if status.kind == "UNKNOWN":
        return (f"? {status.raw}", "nocheck") if status.raw else EMPTY
    symbol, key = _SYMBOLS[status.kind]
    text = "no check" if status.kind == "NOCHECK" else status.kind
    if status.check_progress is not None:
        symbol = "▲" if status.kind == "UP" else "△"
        key = "transition"
        text += f" {status.check_progress[0]}/{status.check_progress[1]}"
    if status.via:
        text += f" (via {status.via})"
    if status.agent:
        text += " (agent)"
    if status.resolution:
        text += " (resolution)"
    return f"{symbol} {text}", key


_STATUS_RANK = {"DOWN": 0, "MAINT": 3, "DRAIN": 4, "NOLB": 5, "STOP": 6, "PAUSED": 7,
                "FULL": 8, "UNKNOWN": 9, "NOCHECK": 10, "UP": 11, "OPEN": 12}


def status_rank(status: Status) -> int:
    """Sort order of statuses: the worst first (DOWN, UP going down, DOWN coming up, MAINT…)."""
    if status.check_progress is not None:
        return 1 if status.kind == "UP" else 2
    return _STATUS_RANK.get(status.kind, 9)


_DIGITS = re.compile(r"([0-9]+)")


@lru_cache(maxsize=65536)
def natural_key(name: str) -> tuple[Any, ...]:
    """``srv2`` before ``srv10``; case-insensitive."""
    parts = _DIGITS.split(name.casefold())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


# --------------------------------------------------------------------------- columns

@dataclass(frozen=True, slots=True, eq=False)
class Column:
    """One column: ``fields`` are the HAProxy fields it reads (for documentation and
    for :func:`view_fields`); ``counter`` marks a column whose header gets ``Δ`` and whose
    value is a delta when a mark is set; ``rates`` lists the :class:`Rates` fields it uses."""

    id: str
    header: str
    fields: tuple[str, ...]
    width: int
    min_width: int
    align: Literal["left", "right"]
    priority: int  # 0: always shown; then lower first
    formatter: Formatter
    sort_value: SortValue
    max_width: int | None = None
    counter: bool = False
    rates: tuple[str, ...] = ()
    numeric: bool = True  # cycling to a numeric column sorts it descending first

    def title(self, marked: bool) -> str:
        return f"Δ{self.header}" if marked and self.counter else self.header


def value(row: Row, field: str, mark: Mark | None) -> int | None:
    """A field's number, or its delta since ``mark`` if it is a counter."""
    if mark is not None and field in COUNTER_FIELDS:
        return mark.delta(row, field)
    return row.num(field)


def _number(field: str, render: Callable[[float], str] = compact,
            warn: bool = False) -> tuple[Formatter, SortValue]:
    def fmt(row: Row, mark: Mark | None, rates: Rates | None) -> Cell:
        v = value(row, field, mark)
        if v is None:
            return EMPTY
        return render(v), ("warn" if warn and v > 0 else None)

    def sort(row: Row, mark: Mark | None, rates: Rates | None) -> int | None:
        return value(row, field, mark)

    return fmt, sort


def num(id: str, header: str, field: str, priority: int, width: int = 6, *,
        render: Callable[[float], str] = compact, warn: bool = False,
        min_width: int | None = None) -> Column:
    """A right-aligned number read from one field (a delta when it is a counter)."""
    fmt, sort = _number(field, render, warn)
    return Column(id, header, (field,), width, min_width or width, "right", priority, fmt, sort,
                  counter=field in COUNTER_FIELDS)


def rate(id: str, header: str, field: str, priority: int, width: int = 6, *,
         render: Callable[[float], str] = compact, warn: bool = False) -> Column:
    """A per-second rate from :class:`Rates` (between the last two snapshots)."""
    def fmt(row: Row, mark: Mark | None, rates: Rates | None) -> Cell:
        v = rates.get(field) if rates is not None else None
        if v is None:
            return EMPTY
        return render(v), ("warn" if warn and v > 0 else None)

    def sort(row: Row, mark: Mark | None, rates: Rates | None) -> float | None:
        return rates.get(field) if rates is not None else None

    return Column(id, header, (field,), width, width, "right", priority, fmt, sort,
                  rates=(field,))


RESPONSE_FIELDS = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def response_share(row: Row, field: str, mark: Mark | None) -> float | None:
    """*field* (``hrsp_5xx``…) as a share of every HTTP response of the row (since the
    mark when one is set); None without responses."""
    part = value(row, field, mark)
    if part is None:
        return None
    total = sum(value(row, f, mark) or 0 for f in RESPONSE_FIELDS)
    return part / total if total else None


HOT_MIN_RESPONSES = 20  # fewer responses say nothing about a server's share of 5xx
HOT_MARGIN = 0.05  # 5 points above its backend's share…
HOT_FACTOR = 2.0  # …and twice it


def hot_5xx(server: Row, backend: Row | None, mark: Mark | None) -> bool:
    """A server whose share of 5xx is well above its backend's: at least
    :data:`HOT_MIN_RESPONSES` responses, :data:`HOT_MARGIN` above the backend's share
    and :data:`HOT_FACTOR` times it (since the mark when one is set)."""
    mine = response_share(server, "hrsp_5xx", mark)
    if not mine:
        return False
    total = sum(value(server, f, mark) or 0 for f in RESPONSE_FIELDS)
    if total < HOT_MIN_RESPONSES:
        return False
    theirs = (response_share(backend, "hrsp_5xx", mark) if backend is not None else None) or 0.0
    return mine >= theirs + HOT_MARGIN and mine >= HOT_FACTOR * theirs


def _percent(pct: float) -> str:
    """``12%``, ``5.0%``, ``0.05%``, ``<0.01%``: a small share is never shown as 0."""
    if pct >= 10 or pct == 0:
        return f"{pct:.0f}%"
    if pct >= 1:
        return f"{pct:.1f}%"
    return f"{pct:.2f}%" if pct >= 0.01 else "<0.01%"


def share(id: str, header: str, field: str, priority: int, width: int = 6, *,
          warn: bool = False) -> Column:
    """A right-aligned percentage: *field* among all HTTP responses of the row."""
    def fmt(row: Row, mark: Mark | None, rates: Rates | None) -> Cell:
        v = response_share(row, field, mark)
        if v is None:
            return EMPTY
        text = _percent(100 * v)
        return text, ("warn" if warn and v > 0 else None)

    def sort(row: Row, mark: Mark | None, rates: Rates | None) -> float | None:
        return response_share(row, field, mark)

    return Column(id, header, (field, *RESPONSE_FIELDS), width, width, "right", priority, fmt,
                  sort, counter=True)


def _name_fmt(row: Row, mark: Mark | None, rates: Rates | None) -> Cell:
    return row.name, None


def _name_sort(row: Row, mark: Mark | None, rates: Rates | None) -> tuple[Any, ...]:
    """A proxy's own row (FRONTEND/BACKEND) sorts by the proxy's name."""
    return natural_key(row.proxy if row.type in ("frontend", "backend") else row.name)


def _status_fmt(row: Row, mark: Mark | None, rates: Rates | None) -> Cell:
    return status_cell(row.status)


def _status_sort(row: Row, mark: Mark | None, rates: Rates | None) -> int:
    return status_rank(row.status)


def _check_fmt(row: Row, mark: Mark | None, rates: Rates | None) -> Cell:
    if not row.check_status:
        return EMPTY
    text = row.check_status
    if row.check_duration is not None:
        text += f" {row.check_duration}ms"
    if row.check_running:
        text = "* " + text
    style = None if row.check_status in OK_CHECKS else (
        "dim" if row.check_status == "INI" else "down")
    return text, style


def _check_sort(row: Row, mark: Mark | None, rates: Rates | None) -> str | None:
    return row.check_status or None


def _weight_fmt(row: Row, mark: Mark | None, rates: Rates | None) -> Cell:
    if row.weight is None:
        return EMPTY
    if row.user_weight is None:
        return str(row.weight), None
    style = "drain" if row.weight != row.user_weight else None
    return f"{row.weight}/{row.user_weight}", style


def _weight_sort(row: Row, mark: Mark | None, rates: Rates | None) -> int | None:
    return row.weight


def _age(v: float) -> str:
    """An age to the minute: a table of many rows must not change every second (the
    detail pane and the events give the second). No downtime at all reads 0s."""
    return "0s" if int(v) <= 0 else format_age_minutes(v)


NAME = Column("name", "name", ("pxname", "svname"), 24, 14, "left", 0, _name_fmt, _name_sort,
              max_width=44, numeric=False)
STATUS = Column("status", "status", ("status",), 16, 9, "left", 0, _status_fmt, _status_sort,
                max_width=30, numeric=False)
CHECK = Column("check", "check", ("check_status", "check_duration"), 12, 12, "left", 2,
               _check_fmt, _check_sort, numeric=False)
LASTCHG = num("lastchg", "lastchg", "lastchg", 4, 7, render=format_age_minutes)
WEIGHT = Column("weight", "weight", ("weight", "uweight"), 7, 7, "right", 3,
                _weight_fmt, _weight_sort)
SCUR = num("scur", "scur", "scur", 1, 5)
SMAX = num("smax", "smax", "smax", 6, 5)
SLIM = num("slim", "slim", "slim", 7, 5)
QCUR = num("qcur", "queue", "qcur", 5)
RATE = num("rate", "sess/s", "rate", 8)
REQ_RATE = num("req_rate", "req/s", "req_rate", 9)
DOWNTIME = num("downtime", "downtime", "downtime", 10, 8, render=_age, warn=True)

STOT = num("stot", "stot", "stot", 2, 7)
RATE_MAX = num("rate_max", "rate max", "rate_max", 9, 8)
BIN = num("bin", "bin", "bin", 3, 7, render=human_bytes)
BOUT = num("bout", "bout", "bout", 3, 7, render=human_bytes)
IN_S = rate("in_s", "in/s", "bin", 4, 7, render=human_bytes)
OUT_S = rate("out_s", "out/s", "bout", 4, 7, render=human_bytes)

REQ_TOT = num("req_tot", "req_tot", "req_tot", 1, 8)
HRSP = tuple(num(f"hrsp_{c}xx", f"{c}xx", f"hrsp_{c}xx", p, 7, warn=c == 5)
             for c, p in ((1, 7), (2, 2), (3, 5), (4, 3), (5, 1)))
HRSP_OTHER = num("hrsp_other", "other", "hrsp_other", 8, 6)
REQ_S = rate("req_s", "req/s", "req_tot", 4, 6)
E5XX_S = rate("5xx_s", "5xx/s", "hrsp_5xx", 2, 6, warn=True)
WRETR = num("wretr", "retries", "wretr", 9, 7, warn=True)
WREDIS = num("wredis", "redisp", "wredis", 10, 7, warn=True)

E5XX = num("err_5xx", "5xx", "hrsp_5xx", 1, 6, warn=True)
E5XX_PCT = share("5xx_pct", "5xx%", "hrsp_5xx", 1, warn=True)
E4XX_PCT = share("4xx_pct", "4xx%", "hrsp_4xx", 3)

ERR = tuple(num(f, f, f, p, len(f) + 1, warn=True)
            for f, p in (("dreq", 5), ("dresp", 6), ("ereq", 2), ("econ", 1), ("eresp", 3),
                         ("wretr", 7), ("wredis", 8), ("chkfail", 4), ("chkdown", 4)))

VIEW_COLUMNS: dict[str, tuple[Column, ...]] = {
    "status": (NAME, STATUS, CHECK, LASTCHG, WEIGHT, SCUR, SMAX, SLIM, QCUR, RATE, REQ_RATE,
               DOWNTIME),
    "traffic": (NAME, STATUS, SCUR, SMAX, SLIM, STOT, RATE, RATE_MAX, REQ_RATE, BIN, BOUT,
                IN_S, OUT_S),
    "http": (NAME, STATUS, REQ_TOT, *HRSP, HRSP_OTHER, REQ_S, E5XX_S, WRETR, WREDIS),
    "errors": (NAME, STATUS, E5XX, E5XX_PCT, E4XX_PCT, E5XX_S, *ERR, DOWNTIME),
}
VIEWS: tuple[str, ...] = tuple(VIEW_COLUMNS)


def view_rates(view: str) -> tuple[str, ...]:
    """The :class:`Rates` fields a view shows (their change redraws a row)."""
    return tuple(f for c in VIEW_COLUMNS[view] for f in c.rates)


def view_fields(view: str) -> tuple[str, ...]:
    """The HAProxy fields a view shows (its rows are redrawn when one of them changes)."""
    fields = {f for c in VIEW_COLUMNS[view] for f in c.fields} - {"pxname", "svname"}
    return tuple(sorted(fields))


def column_of(view: str, column_id: str) -> Column | None:
    return next((c for c in VIEW_COLUMNS[view] if c.id == column_id), None)


# --------------------------------------------------------------------------- layout

@dataclass(frozen=True, slots=True)
class Placed:
    """A column given a place on the line: it starts at cell ``x`` and is ``width`` wide."""

    column: Column
    x: int
    width: int


def layout(columns: Sequence[Column], total: int) -> list[Placed]:
    """The columns that fit in ``total`` cells, in the view's order, with their widths.

    Columns of priority 0 are always kept (shrunk to their ``min_width`` if needed, and the
    line may then be cropped by the caller); others are added by priority while they fit.
    """
    essential = [c for c in columns if c.priority == 0]
    widths = {c.id: c.width for c in essential}
    used = sum(widths.values()) + SEPARATOR * (len(essential) - 1)
    for c in essential:  # too narrow: shrink essentials, the first one first
        if used > total:
            cut = min(used - total, c.width - c.min_width)
            widths[c.id] -= cut
            used -= cut
    optional = sorted((c for c in columns if c.priority > 0), key=lambda c: c.priority)
    for c in optional:
        if used + SEPARATOR + c.width <= total:
            widths[c.id] = c.width
            used += SEPARATOR + c.width
    growing = [c for c in essential if c.max_width is not None]
    while used < total and growing:  # spare cells widen the essentials, evenly
        for c in list(growing):
            if used >= total:
                break
            if widths[c.id] >= (c.max_width or 0):
                growing.remove(c)
                continue
            widths[c.id] += 1
            used += 1
    placed: list[Placed] = []
    x = 0
    for c in columns:
        if c.id in widths:
            placed.append(Placed(c, x, widths[c.id]))
            x += widths[c.id] + SEPARATOR
    return placed
