"""The typed model of one HAProxy instance: statuses, stat rows, snapshots, rates.

Built from the parsers' output; immutable, so a snapshot can be handed to the UI
and compared with the next one without copying.
"""

from __future__ import annotations

import csv
import operator
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from console.haproxy.errors import ParseError
from console.haproxy.lines import split_lf
from console.haproxy.parsers import (
    StatHeader,
    parse_info,
    parse_stat,
    parse_stat_header,
    short_line_error,
)
from console.haproxy.parsers_common import JsonValue, json_value

# --------------------------------------------------------------------------- status

STATUS_KINDS = ("UP", "DOWN", "MAINT", "DRAIN", "NOLB", "NOCHECK", "OPEN", "FULL", "STOP",
                "PAUSED", "UNKNOWN")
_FINE_KINDS = frozenset({"UP", "OPEN", "NOCHECK"})
_STATUS_RE = re.compile(r"^([A-Za-z]+(?: check)?)(?: ([0-9]+)/([0-9]+))?(?: \((.*)\))?$")


@dataclass(frozen=True, slots=True)
class Status:
    """A normalized ``status`` column.

    ``kind`` is one of :data:`STATUS_KINDS` (``no check`` is ``NOCHECK``; a frontend
    or listener at its connection limit is ``FULL``; anything else HAProxy may print,
    like a listener's ``WAITING``, is ``UNKNOWN`` with ``raw`` kept).
    """

    kind: str
    raw: str
    check_progress: tuple[int, int] | None = None  # "UP 2/3" -> (2, 3)
    via: str | None = None  # "MAINT (via be/srv)" -> "be/srv"
    agent: bool = False  # "DOWN (agent)", "DRAIN (agent)"
    resolution: bool = False  # "MAINT (resolution)"

    @property
    def going(self) -> str | None:
        """``"down"`` for ``UP x/y`` (failing checks), ``"up"`` for ``DOWN x/y``."""
        if self.check_progress is None:
            return None
        return "up" if self.kind == "DOWN" else "down"

    @property
    def problem(self) -> bool:
        """Anything but a steady UP / OPEN / no check."""
        return self.kind not in _FINE_KINDS or self.check_progress is not None

    @property
    def label(self) -> str:
        """Short text for display, readable without colour."""
        if self.kind == "UNKNOWN":
            return self.raw or "?"
        text = "no check" if self.kind == "NOCHECK" else self.kind
        if self.check_progress:
            arrow = "↑" if self.going == "up" else "↓"
            text += f" {arrow}{self.check_progress[0]}/{self.check_progress[1]}"
        if self.via:
            text += f" via {self.via}"
        if self.agent:
            text += " (agent)"
        if self.resolution:
            text += " (resolution)"
        return text


@lru_cache(maxsize=1024)
def normalize_status(raw: str) -> Status:
    """Turn HAProxy's status text (``UP 1/3``, ``MAINT (via b/s)``…) into a :class:`Status`."""
    text = " ".join(raw.split())
    m = _STATUS_RE.match(text)
    if not m:
        return Status("UNKNOWN", raw)
    word, a, b, paren = m.groups()
    kind = "NOCHECK" if word.lower() == "no check" else word.upper()
    if kind not in STATUS_KINDS or kind == "UNKNOWN":
        return Status("UNKNOWN", raw)
    via = agent = resolution = None
    if paren is not None:
        if paren.startswith("via "):
            via = paren[4:].strip()
        elif paren == "agent":
            agent = True
        elif paren == "resolution":
            resolution = True
        else:
            return Status("UNKNOWN", raw)
    progress = (int(a), int(b)) if a is not None else None
    return Status(kind, raw, progress, via, bool(agent), bool(resolution))


# --------------------------------------------------------------------------- show info

def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The fields of ``show info`` the console shows; everything else is in ``raw``."""

    name: str
    version: str
    release_date: str
    pid: int | None
    nbthread: int | None
    uptime_sec: int | None
    curr_conns: int | None
    max_conn: int | None
    conn_rate: int | None
    sess_rate: int | None
    ssl_rate: int | None
    run_queue: int | None
    idle_pct: int | None
    pool_used_mb: int | None
    pool_alloc_mb: int | None
    memmax_mb: int | None
    node: str
    description: str
    stopping: bool
    raw: dict[str, str] = field(compare=False)

    @property
    def memory_mb(self) -> int | None:
        """Memory figure to show: ``PoolUsed_MB``, else ``PoolAlloc_MB``, else ``Memmax_MB``
        (the configured limit; 0 means none)."""
        for v in (self.pool_used_mb, self.pool_alloc_mb, self.memmax_mb):
            if v is not None:
                return v
        return None

    @property
    def memory_bytes(self) -> int | None:
        """``PoolUsed_bytes`` (2.6+), more precise than the MB figure."""
        return _int(self.raw.get("PoolUsed_bytes"))

    @property
    def spliced_bytes_out(self) -> int | None:
        """2.6 spells it ``TotalSplicdedBytesOut``, 2.8 ``TotalSplicedBytesOut``."""
        return _int(self.raw.get("TotalSplicedBytesOut", self.raw.get("TotalSplicdedBytesOut")))

    @classmethod
    def from_info(cls, info: Mapping[str, str]) -> ProcessInfo:
        g = info.get
        return cls(
            name=g("Name", ""), version=g("Version", ""), release_date=g("Release_date", ""),
            pid=_int(g("Pid")), nbthread=_int(g("Nbthread")), uptime_sec=_int(g("Uptime_sec")),
            curr_conns=_int(g("CurrConns")), max_conn=_int(g("Maxconn")),
            conn_rate=_int(g("ConnRate")), sess_rate=_int(g("SessRate")),
            ssl_rate=_int(g("SslRate")), run_queue=_int(g("Run_queue")),
            idle_pct=_int(g("Idle_pct")), pool_used_mb=_int(g("PoolUsed_MB")),
            pool_alloc_mb=_int(g("PoolAlloc_MB")), memmax_mb=_int(g("Memmax_MB")),
            node=g("node", ""), description=g("description", ""),
            stopping=g("Stopping", "0") not in ("0", ""), raw=dict(info))


# --------------------------------------------------------------------------- stat rows

ROW_TYPES = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}

# Columns HAProxy advances by itself every second (seconds since the last state change,
# total downtime while down, seconds since the last session): a row whose other columns
# did not change between two answers has the same content.
CLOCK_FIELDS = ("lastchg", "downtime", "lastsess")


class Content:
    """Identity of a row's content: rows that share one :class:`Content` object have
    equal fields, except perhaps the :data:`CLOCK_FIELDS` (see :class:`SnapshotBuilder`).

    It holds the fields as first parsed (their clock values are those of that time):
    either a dict, or the line's values and a shared ``{column: position}`` index, the
    dict then being built on first use. ``clock`` names the clock fields a row may
    override.

    A Content made by a builder with a :class:`Release` also keeps its line: its values
    and dict are let go a little after they were last made (see :class:`Release`) and
    split again from the line when read, so that the many rows nobody reads (a large
    instance's quiet servers) cost their line rather than a tuple and a string per field.
    """

    __slots__ = ("_fields", "clock", "counters", "home", "index", "key", "line", "rate_mask",
                 "values")

    def __init__(self, fields: dict[str, str] | None = None, clock: tuple[str, ...] = (),
                 *, index: dict[str, int] | None = None,
                 values: tuple[str, ...] | None = None, line: str | None = None,
                 home: Release | None = None) -> None:
        self._fields = fields
        self.index = index
        self.values = values
        self.clock = clock
        self.line = line  # the line the values were split from (None: kept as they are)
        self.home = home
        self.key: tuple[str, str] | None = None  # (proxy, name), made once
        self.rate_mask: tuple[bool, ...] | None = None  # cache for rates()
        self.counters: tuple[str | None, ...] | None = None  # cache for rate_counters()
        if home is not None:
            home.add(self)

    def _values(self) -> tuple[str, ...]:
        values = self.values
        if values is None:
            assert self.line is not None
            values = self.values = tuple(self.line.split(","))
            if self.home is not None:
                self.home.add(self)
        return values

    @property
    def fields(self) -> dict[str, str]:
        f = self._fields
        if f is None:
            values, index = self._values(), self.index
            assert index is not None
            f = self._fields = {name: values[i] for name, i in index.items()}
            if self.line is not None:  # (else _values() could not make them again)
                self.values = None
        return f

    def get(self, name: str) -> str | None:
        """One field, without building the dict."""
        f = self._fields
        if f is not None:
            return f.get(name)
        i = self.index.get(name) if self.index is not None else None
        return None if i is None else self._values()[i]

    def release(self) -> None:
        """Let the values and the dict go if the line can give them again."""
        if self.line is not None:
            self.values = self._fields = None


class Release:
    """The contents of one source whose values or dict were made, oldest first: each
    :meth:`SnapshotBuilder.rows` call releases (:meth:`Content.release`) those made
    before the previous call, so that a refresh's new rows keep their values while the
    refresh is shown, and a row read at every refresh is split again once per refresh.

    Thread-safe as the builder needs: contents are added from the thread that parses or
    from the UI's, the oldest released by the parsing one (a content released while it
    is read is split again by the reader).
    """

    def __init__(self) -> None:
        self._made: deque[Content] = deque()
        self._older = 0

    def add(self, content: Content) -> None:
        self._made.append(content)

    def release(self) -> None:
        made, pop = self._made, self._made.popleft
        for _ in range(min(self._older, len(made))):
            pop().release()
        self._older = len(made)

    def __len__(self) -> int:
        return len(self._made)


@dataclass(frozen=True, slots=True, init=False)
class Row:
    """One ``show stat`` row. ``fields`` holds every column, as printed.

    ``content`` is set by :class:`SnapshotBuilder`: two rows with the same (non-None)
    ``content`` object differ at most in the clock fields; see :func:`same_content`.
    A row that only differs from an earlier one by its clock values keeps those values
    and builds its ``fields`` dict on first use, from its content's.
    """

    proxy: str
    name: str
    type: str  # "frontend", "backend", "server" or "listener"
    status: Status
    check_status: str  # without the "* " HAProxy adds while a check runs
    check_running: bool
    check_duration: int | None  # ms
    weight: int | None  # effective weight
    user_weight: int | None  # `uweight` (2.6+): the weight from the config or `set weight`
    content: Content | None = field(default=None, compare=False, repr=False)
    _fields: dict[str, str] | None = field(default=None, compare=False, repr=False)
    _clock: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    # (proxy, name), read many times per refresh: kept, not built (the content's when
    # it has one: one tuple per row for all the snapshots that share it)
    key: tuple[str, str] = field(default=("", ""), compare=False, repr=False)

    def __init__(self, proxy: str, name: str, type: str, status: Status,  # noqa: A002
                 check_status: str, check_running: bool, check_duration: int | None,
                 weight: int | None, user_weight: int | None,
                 fields: dict[str, str] | None, content: Content | None = None) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "proxy", proxy)
        setattr_(self, "name", name)
        setattr_(self, "type", type)
        setattr_(self, "status", status)
        setattr_(self, "check_status", check_status)
        setattr_(self, "check_running", check_running)
        setattr_(self, "check_duration", check_duration)
        setattr_(self, "weight", weight)
        setattr_(self, "user_weight", user_weight)
        if fields is None and content is None:
            raise ValueError("a Row needs its fields or a Content")
        setattr_(self, "content", content)
        setattr_(self, "_fields", fields)
        setattr_(self, "_clock", None)
        key = content.key if content is not None else None
        setattr_(self, "key", key if key is not None else (proxy, name))

    @property
    def fields(self) -> dict[str, str]:
        f = self._fields
        if f is None:  # built on first use, from the content (and this row's clock values)
            content = self.content
            assert content is not None
            f = content.fields
            if self._clock is not None:
                f = f.copy()
                f.update(zip(content.clock, self._clock, strict=True))
            object.__setattr__(self, "_fields", f)
        return f

    def get(self, name: str) -> str | None:
        """``fields.get(name)``, without building the dict."""
        f = self._fields
        if f is not None:
            return f.get(name)
        content = self.content
        assert content is not None
        clock = self._clock
        if clock is not None and name in content.clock:
            return clock[content.clock.index(name)]
        return content.get(name)

    def num(self, name: str) -> int | None:
        """A numeric column, or None when empty, absent or not a number."""
        return _int(self.get(name))

    @classmethod
    def from_fields(cls, f: dict[str, str], content: Content | None = None) -> Row:
        """Build a row from one dict of :func:`parse_stat`."""
        proxy, name = f.get("pxname", ""), f.get("svname", "")
        kind = ROW_TYPES.get(f.get("type", ""))
        if kind is None:
            kind = {"FRONTEND": "frontend", "BACKEND": "backend"}.get(name, "server")
        check = f.get("check_status", "")
        running = check.startswith("* ")
        return cls(proxy, name, kind, normalize_status(f.get("status", "")),
                   check[2:] if running else check, running, _int(f.get("check_duration")),
                   _int(f.get("weight")), _int(f.get("uweight")), f, content)


_new_row = object.__new__
_set_slot = object.__setattr__


def _with_clock(row: Row, clock: tuple[str, ...]) -> Row:
    """``row`` with other clock values (its ``fields`` built on first use)."""
    new = _new_row(Row)
    _set_slot(new, "proxy", row.proxy)
    _set_slot(new, "name", row.name)
    _set_slot(new, "type", row.type)
    _set_slot(new, "status", row.status)
    _set_slot(new, "check_status", row.check_status)
    _set_slot(new, "check_running", row.check_running)
    _set_slot(new, "check_duration", row.check_duration)
    _set_slot(new, "weight", row.weight)
    _set_slot(new, "user_weight", row.user_weight)
    _set_slot(new, "content", row.content)
    _set_slot(new, "_fields", None)
    _set_slot(new, "_clock", clock)
    _set_slot(new, "key", row.key)
    return new


def same_content(a: Row, b: Row) -> bool:
    """True when ``a`` and ``b`` are known to have the same fields but for the clock
    fields (the same object, or the same :class:`Content`). False means "not known"."""
    return a is b or (a.content is not None and a.content is b.content)


# Fields HAProxy types as text ("str" in `show stat typed` and `show info typed`, 2.6 to
# 3.4); every other field of these answers is a number.
STAT_TEXT_FIELDS = frozenset({
    "pxname", "svname", "status", "mode", "addr", "algo", "check_status", "last_chk",
    "last_agt", "agent_status", "check_desc", "agent_desc", "cookie", "tracked",
})
INFO_TEXT_FIELDS = frozenset({
    "Name", "Version", "Release_date", "Uptime", "node", "description", "Build info",
    "Tainted",
})


def to_json_row(row: Row) -> dict[str, JsonValue]:
    """``{"proxy", "name", "type", "status"}`` then every other column by HAProxy's name.

    Typed (:func:`~console.haproxy.parsers_common.json_value`): numbers as ints (a
    value with a decimal point as a float), text fields as printed (``status`` too,
    e.g. ``"UP 2/3"``), empty values and ``-`` as None. ``type`` is the name
    (``"server"``), not the number.
    """
    out: dict[str, JsonValue] = {"proxy": row.proxy, "name": row.name, "type": row.type,
                                 "status": row.status.raw or None}
    for k, v in row.fields.items():
        if k not in ("pxname", "svname", "type", "status"):
            out[k] = json_value(v, k in STAT_TEXT_FIELDS)
    return out


def info_json(info: Mapping[str, str]) -> dict[str, JsonValue]:
    """``show info`` typed like :func:`to_json_row`."""
    return {k: json_value(v, k in INFO_TEXT_FIELDS) for k, v in info.items()}


# --------------------------------------------------------------------------- snapshot

@dataclass(frozen=True, slots=True)
class ProxyRows:
    """The rows of one proxy, in HAProxy's order (FRONTEND, listeners, servers, BACKEND)."""

    name: str
    rows: tuple[Row, ...]

    @property
    def frontend(self) -> Row | None:
        return next((r for r in self.rows if r.type == "frontend"), None)

    @property
    def backend(self) -> Row | None:
        return next((r for r in self.rows if r.type == "backend"), None)

    @property
    def listeners(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.type == "listener")

    @property
    def servers(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.type == "server")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one poll saw. ``taken_at`` is ``time.monotonic()``, for rates.

    ``held``: the rows this poll did not read again (a partial poll of a large
    instance, see :mod:`console.haproxy.partial_poll`), by key, with the monotonic time
    they were read; every other row was read at ``taken_at``. ``first_look``: see below.
    """

    taken_at: float
    wall_time: float
    info: ProcessInfo | None
    rows: tuple[Row, ...]
    held: Mapping[tuple[str, str], float] = field(default_factory=dict, repr=False,
                                                  compare=False)
    first_look: int | None = field(default=None, repr=False, compare=False)
    """Set on the first look at a large instance: its frontend and backend rows only,
    read before the full dump; the value is the servers counted serving in its
    backends (``act`` + ``bck``). Shown, never compared nor counted as a poll."""
    fresh: tuple[tuple[str, str], ...] | None = field(default=None, repr=False,
                                                     compare=False)
    """Set on a snapshot merged from the one taken at :attr:`base_at` (a partial
    poll): the keys of the rows read again, in the rows' order; every other row is
    that snapshot's own :class:`Row`, held. The steps after the poll read only these
    rows then (:meth:`changed_rows`)."""
    base_at: float | None = field(default=None, repr=False, compare=False)
    _index: dict[tuple[str, str], Row] = field(default_factory=dict, repr=False,
                                               compare=False)
    # worked out once, on demand: the rows of each type, the fresh rows
    _types: dict[str, tuple[Row, ...]] = field(default_factory=dict, repr=False,
                                               compare=False)
    _fresh_rows: list[Row] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._index:
            object.__setattr__(self, "_index", {r.key: r for r in self.rows})

    def merged_from(self, prev: Snapshot | Counters | None) -> bool:
        """This snapshot is ``prev`` with only the rows of :attr:`fresh` read again."""
        return isinstance(prev, Snapshot) and self.merged_after(prev.taken_at)

    def merged_after(self, taken_at: float | None) -> bool:
        """This snapshot was merged from the one taken at ``taken_at`` (what a consumer
        that keeps no snapshot remembers of the last one it took)."""
        return self.fresh is not None and taken_at is not None and self.base_at == taken_at

    def changed_rows(self, prev: Snapshot | Counters | None) -> Iterable[Row]:
        """The rows that may differ from ``prev``'s, in order: the fresh ones when this
        snapshot was merged from ``prev``, else every row."""
        return self.fresh_rows() if self.merged_from(prev) else self.rows

    def fresh_rows(self) -> Sequence[Row]:
        """The rows read by the poll of this snapshot, in order (see :attr:`fresh`)."""
        if self.fresh is None:
            return self.rows
        found = self._fresh_rows
        if found is None:
            index = self._index
            found = [index[key] for key in self.fresh]
            object.__setattr__(self, "_fresh_rows", found)
        return found

    @classmethod
    def from_rows(cls, rows: Iterable[Row | dict[str, str]], info: ProcessInfo | None = None,
                  *, taken_at: float | None = None, wall_time: float | None = None) -> Snapshot:
        built = tuple(r if isinstance(r, Row) else Row.from_fields(r) for r in rows)
        return cls(time.monotonic() if taken_at is None else taken_at,
                   time.time() if wall_time is None else wall_time, info, built)

    @classmethod
    def from_text(cls, info_text: str | None, stat_text: str, *, taken_at: float | None = None,
                  wall_time: float | None = None) -> Snapshot:
        """Parse ``show info`` (optional) and ``show stat`` answers."""
        info = ProcessInfo.from_info(parse_info(info_text)) if info_text is not None else None
        return cls.from_rows(parse_stat(stat_text), info, taken_at=taken_at,
                             wall_time=wall_time)

    def _of_type(self, kind: str) -> tuple[Row, ...]:
        found = self._types.get(kind)
        if found is None:
            found = self._types[kind] = tuple(r for r in self.rows if r.type == kind)
        return found

    @property
    def frontends(self) -> tuple[Row, ...]:
        return self._of_type("frontend")

    @property
    def backends(self) -> tuple[Row, ...]:
        return self._of_type("backend")

    @property
    def servers(self) -> tuple[Row, ...]:
        return self._of_type("server")

    @property
    def listeners(self) -> tuple[Row, ...]:
        return self._of_type("listener")

    def proxies(self) -> list[ProxyRows]:
        """Rows grouped per proxy, proxies in order of first appearance."""
        groups: dict[str, list[Row]] = {}
        for r in self.rows:
            groups.setdefault(r.proxy, []).append(r)
        return [ProxyRows(name, tuple(rows)) for name, rows in groups.items()]

    def get(self, proxy: str, name: str) -> Row | None:
        """The row for (pxname, svname); ``name`` is ``FRONTEND``/``BACKEND`` for those."""
        return self._index.get((proxy, name))

    def servers_of(self, backend: str) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.proxy == backend and r.type == "server")

    def read_at(self, key: tuple[str, str]) -> float:
        """When the row ``key`` was read (monotonic): ``taken_at`` unless it is held."""
        return self.held.get(key, self.taken_at)

    def age(self, key: tuple[str, str]) -> float:
        """Seconds between this poll and the reading of the row ``key`` (0: read now)."""
        return self.taken_at - self.held.get(key, self.taken_at)


Counted = tuple[str | None, ...]
"""The values of a row's :data:`RATE_FIELDS` (None: absent), see :func:`rate_counters`."""


def rate_counters(row: Row) -> Counted:
    """The row's :data:`RATE_FIELDS` values, one tuple per :class:`Content` (rows that
    share their content share it: the same object means the same counters)."""
    content = row.content
    if content is None:
        return tuple(row.get(name) for name in RATE_FIELDS)
    counted = content.counters
    if counted is None:  # the clock fields, the only ones rows override, are not counters
        index = content.index
        if content._fields is None and index is not None:  # (most: one C call)
            counted = _picker(index)(content._values())
        else:
            counted = tuple(content.get(name) for name in RATE_FIELDS)
        content.counters = counted
    return counted


_PICKERS: dict[int, tuple[dict[str, int], Callable[[tuple[str, ...]], Counted]]] = {}


def _picker(index: dict[str, int]) -> Callable[[tuple[str, ...]], Counted]:
    """What takes the :data:`RATE_FIELDS` values, in order, out of a row's values split
    by the header whose name → position map is *index* (one per header, kept while
    that header is)."""
    kept = _PICKERS.get(id(index))
    if kept is not None and kept[0] is index:
        return kept[1]
    at = [index.get(name) for name in RATE_FIELDS]
    pick: Callable[[tuple[str, ...]], Counted]
    if None not in at:
        pick = operator.itemgetter(*at)
    else:  # (a header without some counter: None there)
        def pick(values: tuple[str, ...]) -> Counted:
            return tuple(None if i is None else values[i] for i in at)
    if len(_PICKERS) >= 64:
        _PICKERS.clear()
    _PICKERS[id(index)] = (index, pick)
    return pick


class Counters:
    """What :func:`rates` reads of an earlier snapshot, without its rows: when it was
    taken, the rows it held, and each row's :func:`rate_counters` by key. A row read
    again with the same content has the very same tuple; this costs a dict entry per
    row where a snapshot holds a row object, its clock values and its content (every
    field of the row as it was).
    """

    __slots__ = ("_index", "held", "taken_at")

    def __init__(self, snap: Snapshot,
                 counts: dict[tuple[str, str], Counted] | None = None) -> None:
        """``counts``: the snapshot's, when they are known (taken as they are)."""
        self.taken_at = snap.taken_at
        self.held = snap.held
        self._index: dict[tuple[str, str], Counted] = {
            r.key: rate_counters(r) for r in snap.rows} if counts is None else counts

    def get(self, proxy: str, name: str) -> Counted | None:
        """The counters of the row (proxy, name)."""
        return self._index.get((proxy, name))

    def num(self, proxy: str, name: str, field: str) -> int | None:
        """One counter of :data:`RATE_FIELDS` as a number, like :meth:`Row.num`."""
        counted = self._index.get((proxy, name))
        return None if counted is None else _int(counted[RATE_FIELDS.index(field)])


# --------------------------------------------------------------------------- builder

def _clock_values(line: str, stable: tuple[str, ...]) -> tuple[str, ...] | None:
    """The clock values of ``line`` if it is made of these stable parts, else None.

    A line is its stable parts with its clock values between them (a line without clock
    fields, or with quotes, is its only stable part).

    Each clock value is a field (no comma) between two stable parts; the stable parts
    after the first start with the comma that ends the previous clock value."""
    first = stable[0]
    if not line.startswith(first):
        return None
    pos = len(first)
    clock: list[str] = []
    for part in stable[1:]:
        end = line.find(",", pos)
        if end < 0:
            end = len(line)
        clock.append(line[pos:end])
        if not line.startswith(part, end):
            return None
        pos = end + len(part)
    return tuple(clock) if pos == len(line) else None


_ROW_COLUMNS = ("pxname", "svname", "type", "check_status", "status", "check_duration",
                "weight", "uweight")


def _row_of(values: tuple[str, ...], at: tuple[int, ...], content: Content) -> Row:
    """:meth:`Row.from_fields` reading a line's values at the positions ``at`` of
    :data:`_ROW_COLUMNS` (-1: absent): no dict built."""
    px, sv, ty, ck, st, du, we, uw = at
    proxy = values[px] if px >= 0 else ""
    name = values[sv] if sv >= 0 else ""
    kind = ROW_TYPES.get(values[ty] if ty >= 0 else "")
    if kind is None:
        kind = {"FRONTEND": "frontend", "BACKEND": "backend"}.get(name, "server")
    check = values[ck] if ck >= 0 else ""
    running = check.startswith("* ")
    content.key = (proxy, name)
    return Row(proxy, name, kind, normalize_status(values[st] if st >= 0 else ""),
               check[2:] if running else check, running,
               _int(values[du]) if du >= 0 else None, _int(values[we]) if we >= 0 else None,
               _int(values[uw]) if uw >= 0 else None, None, content)


class SnapshotBuilder:
    """Builds the successive snapshots of one instance, reusing the work of the last one.

    HAProxy prints every row again at each refresh, and most rows did not change but for
    their :data:`CLOCK_FIELDS` (``lastchg`` moves every second on every row). Each line
    is first compared with the line at the same place in the previous answer, clock
    values aside (a few ``startswith``/``find``, no split); then, if rows were added,
    removed or moved, looked up by its other columns. A row found either way is not
    parsed again: the previous :class:`Row` is reused when its clock values did not move
    either, else copied with the new ones (its ``fields`` dict built on first use). A new
    or changed row is split, and its dict too is only built on first use. Rows keep their
    :class:`Content`, so the steps after the parse (rates, history, events, the table)
    skip unchanged rows cheaply.

    The rows are exactly those of :meth:`Snapshot.from_text` (same fields in the same
    order, same errors): ``bench/verify.py`` checks it on HAProxy 2.6 and 2.8 answers. A
    line with quotes is reused only when it is identical; an answer with a quoted field
    spanning lines, or a NUL, is parsed from scratch. Not thread-safe: one build at a
    time (the poller never overlaps two).
    """

    def __init__(self, release: Release | None = None) -> None:
        self.release = release  # contents given back to their lines (None: never)
        self._header: StatHeader | None = None
        self._clock: tuple[str, ...] = ()
        self._match: Callable[[str], re.Match[str] | None] | None = None
        self._index: dict[str, int] = {}
        self._at: tuple[int, ...] = ()
        self._stable: list[tuple[str, ...]] = []
        self._clocks: list[tuple[str, ...]] = []
        self._rows: list[Row] = []

    def build(self, info_text: str | None, stat_text: str, *, taken_at: float | None = None,
              wall_time: float | None = None) -> Snapshot:
        """Like :meth:`Snapshot.from_text`."""
        info = ProcessInfo.from_info(parse_info(info_text)) if info_text is not None else None
        return Snapshot(time.monotonic() if taken_at is None else taken_at,
                        time.time() if wall_time is None else wall_time, info,
                        self.rows(stat_text))

    def reset(self) -> None:
        self._header, self._match = None, None
        self._stable, self._clocks, self._rows = [], [], []

    def _set_header(self, header: StatHeader) -> None:
        self._header = header
        self._stable, self._clocks, self._rows = [], [], []
        # {column: position}, as dict(zip(names, values)) keys them ("-" dropped)
        index = {name: i for i, name in enumerate(header.names)}
        index.pop("-", None)
        self._index = index
        self._at = tuple(index.get(name, -1) for name in _ROW_COLUMNS)
        positions = sorted((index[n], n) for n in CLOCK_FIELDS if n in index)
        self._clock = tuple(n for _, n in positions)
        if not positions:
            self._match = None
            return
        # groups: stable part, clock value, stable part, clock value, ..., the rest
        pattern, last = "", -1
        for pos, _ in positions:
            if last < 0:
                pattern += f"((?:[^,]*,){{{pos}}})"
            else:
                pattern += f"(,(?:[^,]*,){{{pos - last - 1}}})"
            pattern += "([^,]*)"
            last = pos
        self._match = re.compile(pattern + "(.*)").fullmatch

    def rows(self, text: str) -> tuple[Row, ...]:
        if self.release is not None:
            self.release.release()
        lines = split_lf(text)
        header = parse_stat_header(lines, text)
        if header != self._header:
            self._set_header(header)
        if "\0" in text:
            return self._scratch(text)
        width, index, at = header.width, self._index, self._at
        match, clock_names = self._match, self._clock
        # the last answer's rows, in its order, with their stable parts and clock values
        # (parallel lists rather than a tuple per row: fewer objects for the collector)
        p_stable, p_clock, p_rows = self._stable, self._clocks, self._rows
        n_prev = len(p_rows)
        seen: dict[tuple[str, ...], int] | None = None  # built when first needed
        stables: list[tuple[str, ...]] = []
        clocks: list[tuple[str, ...]] = []
        rows: list[Row] = []
        short: int | None = None

        def p_prefix(j: int) -> str:
            """How the line of the previous answer's row ``j`` starts (its names)."""
            row = p_rows[j]
            return f"{row.proxy},{row.name},"

        for n, line in enumerate(lines[1:], 2):
            if not line:
                continue
            if short is not None:
                raise short_line_error(short)
            quoted = '"' in line
            # 1. the same row as on this line last time, clock values aside? (a line with
            # quotes only if it is the very same: a clock value must not start a quote)
            j = len(rows)
            if j < n_prev and not (quoted and len(p_stable[j]) > 1):
                stable = p_stable[j]
                clock = _clock_values(line, stable)
                if clock is not None:
                    row = p_rows[j]
                    if clock != p_clock[j]:
                        row = _with_clock(row, clock)
                    stables.append(stable)
                    clocks.append(clock)
                    rows.append(row)
                    continue
            # 2. a row seen last time elsewhere (rows added, removed or moved)?
            stable = (line,)
            clock = ()
            if not quoted and match is not None:
                m = match(line)
                if m is not None:
                    groups = m.groups()
                    stable, clock = groups[0::2], groups[1::2]
            hit: int | None = None
            if not (j < n_prev and line.startswith(p_prefix(j))):
                # not a changed row in its usual place: look for it elsewhere
                if seen is None:
                    seen = {st: i for i, st in enumerate(p_stable)}
                hit = seen.get(stable)
            if hit is not None:
                row = p_rows[hit]
                if clock != p_clock[hit]:
                    row = _with_clock(row, clock)
            else:
                # 3. a new or changed row: parse it
                if quoted:
                    if line.count('"') % 2:  # a quoted field goes on to the next line
                        return self._scratch(text)
                    try:
                        values = next(csv.reader([line]))
                    except csv.Error as exc:
                        raise ParseError("'show stat' CSV is malformed", "show stat",
                                         str(exc)) from None
                    if values == [""]:
                        continue
                else:
                    values = line.split(",")
                if len(values) < width:
                    short = n  # dropped if it turns out to be the last one
                    continue
                # a tuple of strings: the garbage collector soon stops tracking it
                kept = tuple(values)
                row = _row_of(kept, at, Content(
                    None, clock_names if clock else (), index=index, values=kept,
                    line=None if quoted else line, home=None if quoted else self.release))
            stables.append(stable)
            clocks.append(clock)
            rows.append(row)
        self._stable, self._clocks, self._rows = stables, clocks, rows
        return tuple(rows)

    def _scratch(self, text: str) -> tuple[Row, ...]:
        self._stable, self._clocks, self._rows = [], [], []
        return tuple(Row.from_fields(d, Content(d)) for d in parse_stat(text))


# --------------------------------------------------------------------------- rates

RATE_FIELDS = ("stot", "req_tot", "bin", "bout", "hrsp_5xx", "hrsp_4xx", "econ", "eresp",
               "ereq")


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-second rates of counters between two snapshots, by HAProxy's column name.

    None when the counter is absent or empty in either snapshot, or went down
    (``clear counters``, a reload): never a negative rate.
    """

    interval: float
    stot: float | None = None  # sessions
    req_tot: float | None = None
    bin: float | None = None
    bout: float | None = None
    hrsp_5xx: float | None = None
    hrsp_4xx: float | None = None
    econ: float | None = None
    eresp: float | None = None
    ereq: float | None = None

    def get(self, name: str) -> float | None:
        return getattr(self, name) if name in RATE_FIELDS else None


def rates(prev: Snapshot | Counters, cur: Snapshot, only: Iterable[Row] | None = None
          ) -> dict[tuple[str, str], Rates]:
    """Rates for every row present in both snapshots; empty if no time passed.
    ``prev`` may be the :class:`Counters` of the earlier snapshot.

    A row with the same content as in ``prev`` (:func:`same_content`), or the same
    counters in another state (a server put in MAINT and back), has zero rates (None
    where a counter is empty): one shared :class:`Rates` per pattern of empty counters,
    without reading its fields again.

    A row held by either snapshot (:attr:`Snapshot.held`) counts over the time between
    its two readings; a row not read again since ``prev`` has no rate here (not a false
    0): the caller keeps the last one it had.

    ``only``: only these rows of ``cur`` (default: those that may differ from
    ``prev``'s, :meth:`Snapshot.changed_rows`).
    """
    dt = cur.taken_at - prev.taken_at
    if dt <= 0:
        return {}
    out: dict[tuple[str, str], Rates] = {}
    counts: dict[tuple[str, str], Counted] | None = None
    rows: dict[tuple[str, str], Row] = {}
    if isinstance(prev, Counters):
        counts = prev._index
    else:
        rows = prev._index
    zeros: dict[tuple[tuple[bool, ...], float], Rates] = {}
    held_prev, held_cur = prev.held, cur.held
    per_row = bool(held_prev or held_cur)
    base_dt = dt
    # merged from prev: a row not read again was read when prev read it (dt 0: no rate)
    for row in cur.changed_rows(prev) if only is None else only:
        key = row.key
        old: Counted | None = None
        new: Counted | None = None
        if counts is not None:
            old = counts.get(key)
            if old is None:
                continue
            new = rate_counters(row)
            same = old is new or old == new
        else:
            old_row = rows.get(key)
            if old_row is None:
                continue
            same = same_content(old_row, row)
            if not same:
                old, new = rate_counters(old_row), rate_counters(row)
                same = old == new  # another state, the same counters
        if per_row:
            dt = held_cur.get(key, cur.taken_at) - held_prev.get(key, prev.taken_at)
            if dt <= 0:
                continue
            if dt != base_dt and not same:
                out[key] = _rates_of(rate_counters(rows[key]) if old is None else old,
                                     rate_counters(row) if new is None else new, dt)
                continue
        if same:
            content = row.content
            mask = content.rate_mask if content is not None else None
            if mask is None:
                mask = _rate_mask(row)
                if content is not None:
                    content.rate_mask = mask
            zero = zeros.get((mask, dt))
            if zero is None:
                zero = zeros[mask, dt] = Rates(dt, *(0.0 if ok else None for ok in mask))
            out[key] = zero
            continue
        assert old is not None and new is not None
        out[key] = _rates_of(old, new, dt)
    return out


def _rates_of(old: Counted, new: Counted, dt: float) -> Rates:
    """The rates between two rows' :func:`rate_counters` read ``dt`` seconds apart."""
    values: list[float | None] = []
    for a, b in zip(old, new, strict=True):
        if not a or not b:  # absent or empty
            values.append(None)
            continue
        try:
            delta = int(b) - int(a)
        except ValueError:
            values.append(None)
            continue
        values.append(delta / dt if delta >= 0 else None)
    return Rates(dt, *values)


def _rate_mask(row: Row) -> tuple[bool, ...]:
    """Which rate counters hold a number (a rate between two equal rows is then 0),
    from the row's :func:`rate_counters` (one tuple per content, often made already)."""
    found = tuple([_int(v) is not None for v in rate_counters(row)])
    return _MASKS.setdefault(found, found)  # a few patterns: one tuple each


_MASKS: dict[tuple[bool, ...], tuple[bool, ...]] = {}
