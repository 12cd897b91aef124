"""The typed model of one HAProxy instance: statuses, stat rows, snapshots, rates.

Built from the parsers' output; immutable, so a snapshot can be handed to the UI
and compared with the next one without copying.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from console.haproxy.parsers import parse_info, parse_stat

# --------------------------------------------------------------------------- status

STATUS_KINDS = ("UP", "DOWN", "MAINT", "DRAIN", "NOLB", "NOCHECK", "OPEN", "FULL", "STOP",
                "PAUSED", "UNKNOWN")
_FINE_KINDS = frozenset({"UP", "OPEN", "NOCHECK"})
_STATUS_RE = re.compile(r"^([A-Za-z]+(?: check)?)(?: (\d+)/(\d+))?(?: \((.*)\))?$")


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


@dataclass(frozen=True, slots=True)
class Row:
    """One ``show stat`` row. ``fields`` holds every column, as printed."""

    proxy: str
    name: str
    type: str  # "frontend", "backend", "server" or "listener"
    status: Status
    check_status: str  # without the "* " HAProxy adds while a check runs
    check_running: bool
    check_duration: int | None  # ms
    weight: int | None  # effective weight
    user_weight: int | None  # `uweight` (2.6+): the weight from the config or `set weight`
    fields: dict[str, str] = field(compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.proxy, self.name)

    def num(self, name: str) -> int | None:
        """A numeric column, or None when empty, absent or not a number."""
        return _int(self.fields.get(name))

    @classmethod
    def from_fields(cls, f: dict[str, str]) -> Row:
        """Build a row from one dict of :func:`parse_stat`."""
        proxy, name = f.get("pxname", ""), f.get("svname", "")
        kind = ROW_TYPES.get(f.get("type", ""))
        if kind is None:
            kind = {"FRONTEND": "frontend", "BACKEND": "backend"}.get(name, "server")
        check = f.get("check_status", "")
        running = check.startswith("* ")
        return cls(proxy, name, kind, normalize_status(f.get("status", "")),
                   check[2:] if running else check, running, _int(f.get("check_duration")),
                   _int(f.get("weight")), _int(f.get("uweight")), f)


def to_json_row(row: Row) -> dict[str, str | None]:
    """``{"proxy", "name", "type", "status"}`` then every other column by HAProxy's name.

    Values stay strings as HAProxy printed them (``status`` too, e.g. ``"UP 2/3"``);
    empty values become None. ``type`` is the name (``"server"``), not the number.
    """
    out: dict[str, str | None] = {"proxy": row.proxy, "name": row.name, "type": row.type,
                                  "status": row.status.raw or None}
    for k, v in row.fields.items():
        if k not in ("pxname", "svname", "type", "status"):
            out[k] = v if v != "" else None
    return out


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
    """What one poll saw. ``taken_at`` is ``time.monotonic()``, for rates."""

    taken_at: float
    wall_time: float
    info: ProcessInfo | None
    rows: tuple[Row, ...]
    _index: dict[tuple[str, str], Row] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {r.key: r for r in self.rows})

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
        return tuple(r for r in self.rows if r.type == kind)

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


def rates(prev: Snapshot, cur: Snapshot) -> dict[tuple[str, str], Rates]:
    """Rates for every row present in both snapshots; empty if no time passed."""
    dt = cur.taken_at - prev.taken_at
    if dt <= 0:
        return {}
    out: dict[tuple[str, str], Rates] = {}
    index = prev._index
    for row in cur.rows:
        key = (row.proxy, row.name)
        old = index.get(key)
        if old is None:
            continue
        of, nf = old.fields, row.fields
        values: list[float | None] = []
        for name in RATE_FIELDS:
            a, b = of.get(name), nf.get(name)
            if not a or not b:  # absent or empty
                values.append(None)
                continue
            try:
                delta = int(b) - int(a)
            except ValueError:
                values.append(None)
                continue
            values.append(delta / dt if delta >= 0 else None)
        out[key] = Rates(dt, *values)
    return out
