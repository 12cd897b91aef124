"""Streaming summaries of parsed log lines, in bounded memory.

:class:`Summary` takes :class:`~.parse.LogRecord` and :class:`~.parse.Unparsed` results
one by one and keeps, per group (``--by``): requests, status classes (``1xx``…``5xx``
and ``other``), termination-state counts (two letters), errors, and Ta/Tr sketches
(:class:`~.sketch.TimerSketch`) for p50/p95/p99. Groups:

========== ============================================================================
server     ``backend/server`` as logged (``fe/<NOSRV>`` when none was chosen), like
           ``halog -srv``
backend    the backend
frontend   the frontend
path       the path without its query string (top keys only, see :class:`~.sketch.TopK`)
client     the client address (top keys only)
status     the status code (``-1`` or absent: ``other``)
termination  the two-letter termination state
========== ============================================================================

A request is an *error* when its status is 5xx or negative (``halog -e``'s rule),
or its termination state starts with anything but ``-`` or ``L`` (an abort,
a timeout, a refusal).

:class:`HalogPct` reproduces ``halog -pct`` exactly (same rule, same columns) for the
agreement checks.

Nothing keeps lines: memory is the groups (at most *max_groups* per summary, the
lightest dropped first) and their sketches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.logs.parse import LogRecord, Result
from console.haproxy.logs.sketch import TimerSketch, TopK

DIMENSIONS = ("server", "backend", "frontend", "path", "client", "status", "termination")
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")


def status_class(status: object) -> str:
    if isinstance(status, int) and 100 <= status <= 599:
        return CLASSES[status // 100 - 1]
    return "other"


def classify(status: Any, term: Any) -> tuple[int, bool]:
    """The status class of a request (an index in :data:`CLASSES`) and whether it is an
    error (:func:`is_error`)."""
    error = False
    if status.__class__ is int:
        if 100 <= status <= 599:
            cls = status // 100 - 1
            error = status >= 500
        else:
            cls = 5
            error = status < 0
    else:
        cls = 5
    if term.__class__ is str and term and term[0] not in "-L":
        error = True
    return cls, error


def is_error(status: object, termination: object) -> bool:
    """5xx or a negative status (halog's rule), or an abnormal termination state."""
    if isinstance(status, int) and (status < 0 or 500 <= status <= 599):
        return True
    return isinstance(termination, str) and termination[:1] not in ("-", "L", "")


@dataclass(slots=True)
class Group:
    """What a summary keeps for one key."""

    requests: int = 0
    errors: int = 0
    classes: list[int] = field(default_factory=lambda: [0] * 6)
    termination: dict[str, int] = field(default_factory=dict)
    ta: TimerSketch = field(default_factory=TimerSketch)
    tr: TimerSketch = field(default_factory=TimerSketch)
    bytes_read: int = 0

    def add(self, f: dict[str, object]) -> None:
        ta = f.get("ta")
        if ta is None:
            ta = f.get("tt")
        self.add_values(f.get("status"), f.get("termination"), ta, f.get("tr"),
                        f.get("bytes_read"))

    def add_values(self, status: Any, term: Any, ta: Any, tr: Any, b: Any) -> None:
        """One request: its status, termination state, Ta (or Tt), Tr, bytes."""
        cls, error = classify(status, term)
        self.add_counted(cls, error, term, ta, tr, b, 1)

    def add_counted(self, cls: int, error: bool, term: Any, ta: Any, tr: Any, b: Any,
                    n: int) -> None:
        """*n* requests alike: their status class (an index in :data:`CLASSES`) and
        whether they are errors (:func:`classify`), termination state, Ta (or Tt), Tr,
        bytes."""
        self.requests += n
        self.classes[cls] += n
        if term.__class__ is str:
            t = self.termination
            t[term] = t.get(term, 0) + n
        if error:
            self.errors += n
        if ta.__class__ is int and ta >= 0:
            self.ta.add(ta, n)
        if tr.__class__ is int and tr >= 0:
            self.tr.add(tr, n)
        if b.__class__ is int:
            self.bytes_read += b * n

    def merge(self, other: Group) -> None:
        """Add what *other* counted."""
        self.requests += other.requests
        self.errors += other.errors
        self.classes = [a + b for a, b in zip(self.classes, other.classes, strict=True)]
        t = self.termination
        for k, c in other.termination.items():
            t[k] = t.get(k, 0) + c
        self.ta.merge(other.ta)
        self.tr.merge(other.tr)
        self.bytes_read += other.bytes_read

    def state(self) -> list[Any]:
        """What a recording keeps of this group (:meth:`from_state` reads it back)."""
        return [self.requests, self.errors, self.classes, self.termination,
                self.ta.state(), self.tr.state(), self.bytes_read]

    @classmethod
    def from_state(cls, state: object) -> Group:
        """:meth:`state` read back; ValueError when it is not one (a hostile file)."""
        if not isinstance(state, list) or len(state) != 7:
            raise ValueError("not a summary group")
        requests, errors, classes, term, ta, tr, nbytes = state
        if not all(x.__class__ is int and x >= 0 for x in (requests, errors, nbytes)) or \
                not isinstance(classes, list) or len(classes) != 6 or \
                not all(c.__class__ is int and c >= 0 for c in classes) or \
                not isinstance(term, dict) or len(term) > 1000 or \
                not all(isinstance(k, str) and len(k) <= 4 and v.__class__ is int and v >= 0
                        for k, v in term.items()):
            raise ValueError("not a summary group")
        return cls(requests, errors, list(classes), dict(term), TimerSketch.from_state(ta),
                   TimerSketch.from_state(tr), nbytes)

    def to_dict(self, key: str) -> dict[str, object]:
        """The JSON shape of ``haconsole logs summary --json``."""
        return {
            "key": key,
            "requests": self.requests,
            "errors": self.errors,
            "error_pct": round(100.0 * self.errors / self.requests, 2) if self.requests else 0.0,
            "status_classes": dict(zip(CLASSES, self.classes, strict=True)),
            "termination": dict(sorted(self.termination.items())),
            "ta_p50": self.ta.quantile(0.50), "ta_p95": self.ta.quantile(0.95),
            "ta_p99": self.ta.quantile(0.99),
            "tr_p50": self.tr.quantile(0.50), "tr_p95": self.tr.quantile(0.95),
            "tr_p99": self.tr.quantile(0.99),
            "exact": self.ta.exact and self.tr.exact,
            "bytes": self.bytes_read,
        }


def _key_function(by: str) -> Callable[[dict[str, object]], str | None]:
    if by == "server":
        def server(f: dict[str, object]) -> str | None:
            be, srv = f.get("backend"), f.get("server")
            if be is None and srv is None:
                return None
            return f"{be if be is not None else '-'}/{srv if srv is not None else '-'}"
        return server
    if by == "status":
        def status(f: dict[str, object]) -> str | None:
            s = f.get("status")
            return str(s) if isinstance(s, int) else "other"
        return status
    key = {"client": "client", "path": "path", "backend": "backend",
           "frontend": "frontend", "termination": "termination"}[by]

    def field_value(f: dict[str, object]) -> str | None:
        v = f.get(key)
        return None if v is None else str(v)
    return field_value


_VALUE_KEYS = ("status", "termination", "ta", "tt", "tr", "bytes_read")


def _value_key_function(by: str) -> Callable[[list[object]], str | None]:
    """The group key from the values picked for a summary (same as _key_function)."""
    n = len(_VALUE_KEYS)
    if by == "server":
        def server(v: list[object]) -> str | None:
            be, srv = v[n], v[n + 1]
            if be is None and srv is None:
                return None
            return f"{be if be is not None else '-'}/{srv if srv is not None else '-'}"
        return server
    if by == "status":
        def status(v: list[object]) -> str | None:
            s = v[n]
            return str(s) if isinstance(s, int) else "other"
        return status

    def field_value(v: list[object]) -> str | None:
        x = v[n] if len(v) > n else None
        return None if x is None else str(x)
    return field_value


class Summary:
    """Groups records by one dimension (see the module docstring)."""

    def __init__(self, by: str = "server", max_groups: int = 10_000) -> None:
        if by not in DIMENSIONS:
            raise ValueError(f"unknown dimension {by!r}")
        self.by = by
        self.key = _key_function(by)
        # the fields read from each record (status, termination, ta, tt, tr, bytes_read,
        # then the grouping key's): LogRecord.pick decodes these only
        grouping = {"server": ("backend", "server"), "status": ("status",),
                    "client": ("client",), "backend": ("backend",),
                    "frontend": ("frontend",), "termination": ("termination",)}.get(by)
        self._ungrouped_by = None if grouping is not None else by  # path: from fields
        self._keys = _VALUE_KEYS + (grouping or ())
        self._key_of = _value_key_function(by)
        self._pickers: dict[int, tuple[object, Callable[[Any], list[object]] | None]] = {}
        self.groups: TopK[str, Group] = TopK(max_groups, Group, lambda g: g.requests,
                                             on_drop=self._dropped)
        # what is in no group now (records without the field, groups dropped): the
        # total is that plus every group (each record is counted once, in one place)
        self._rest = Group()
        self._total: Group | None = None
        self.lines = 0
        self.records = 0
        self.unparsed = 0
        self.events = 0
        self.ungrouped = 0  # records without the grouping field (e.g. no path in TCP)
        self.reasons: dict[str, int] = {}
        self.first_unparsed: list[tuple[int | None, str, str]] = []

    def add(self, result: Result) -> None:
        self.lines += 1
        if not isinstance(result, LogRecord):
            if result.event:
                self.events += 1
                return
            self.unparsed += 1
            reason = result.reason.split(":", 1)[0] if "format" not in result.reason \
                else result.reason
            if len(self.reasons) < 100 or reason in self.reasons:
                self.reasons[reason] = self.reasons.get(reason, 0) + 1
            if len(self.first_unparsed) < 5:
                self.first_unparsed.append((result.line_no, result.reason, result.raw[:200]))
            return
        if result.format == "connect":
            self.events += 1  # a connection accepted: no request, no timers
            return
        self.records += 1
        cf = result._cf
        if cf is not None and result._fields is None:
            got = self._pickers.get(id(cf))
            if got is None or got[0] is not cf:
                got = self._pickers[id(cf)] = (cf, cf.picker(self._keys))
            picker = got[1]
            values = picker(result._m) if picker is not None else result.pick(self._keys)
        else:
            values = result.pick(self._keys)
        if self._ungrouped_by is not None:
            key = self.key(result.fields)
        else:
            key = self._key_of(values)
        ta = values[2]
        if ta is None:
            ta = values[3]
        self._total = None
        if key is None:
            self.ungrouped += 1
            self._rest.add_values(values[0], values[1], ta, values[4], values[5])
            return
        self.groups.get(key).add_values(values[0], values[1], ta, values[4], values[5])

    def _dropped(self, gone: list[tuple[str, Group]]) -> None:
        for _, group in gone:
            self._rest.merge(group)

    @property
    def total(self) -> Group:
        """Every record in one group (requests, errors, timers of all of them)."""
        if self._total is None:
            total = Group()
            total.merge(self._rest)
            for _, group in self.groups:
                total.merge(group)
            self._total = total
        return self._total

    def rows(self, sort: str = "requests") -> list[tuple[str, Group]]:
        """The groups, heaviest first by *sort* (requests, errors, ta_p95, key)."""
        items = list(self.groups)
        if sort == "key":
            return sorted(items)
        if sort == "errors":
            return sorted(items, key=lambda kv: (-kv[1].errors, -kv[1].requests, kv[0]))
        if sort in ("ta_p95", "slow"):
            return sorted(items, key=lambda kv: (-(kv[1].ta.quantile(0.95) or -1), kv[0]))
        return sorted(items, key=lambda kv: (-kv[1].requests, kv[0]))


HALOG_STEPS: list[int] = []
_step = 1
while _step <= 1000:
    HALOG_STEPS.append(_step)
    if 100 <= _step < 900:
        _step += 50
    elif 20 <= _step < 980:
        _step += 10
    else:
        _step += 1


_PCT_KEYS = ("treq", "tw", "tc", "tr", "ta")


class HalogPct:
    """``halog -pct`` on parsed records: lines whose five HTTP timers are all ≥ 0
    count; the columns are TR (``%TR``, halog's "request"), Tc, Tr, and the data time
    ``Ta − TR − Tw − Tc − Tr``. :meth:`table` gives halog's rows exactly."""

    def __init__(self) -> None:
        self.n = 0
        self.sketches = [TimerSketch(max_exact=1 << 30) for _ in range(4)]

    def add(self, result: Result) -> None:
        if not isinstance(result, LogRecord):
            return
        v: list[Any] = result.pick(_PCT_KEYS)
        for x in v:
            if x.__class__ is not int or x < 0:
                return
        self.n += 1
        self.sketches[0].add(v[0])
        self.sketches[1].add(v[2])
        self.sketches[2].add(v[3])
        self.sketches[3].add(v[4] - v[0] - v[1] - v[2] - v[3])

    def table(self) -> list[tuple[str, int, list[int]]]:
        """``(percent, threshold, [req, conn, resp, data])`` per halog row."""
        rows: list[tuple[str, int, list[int]]] = []
        if not self.n:
            return rows
        for step in HALOG_STEPS:
            thres = int(self.n * (step / 1000.0))
            values = [s.halog_quantile(step / 1000.0, self.n) for s in self.sketches]
            rows.append((f"{step / 10.0:.1f}", thres, [v if v is not None else 0
                                                        for v in values]))
        return rows

    def text(self) -> str:
        """The table as halog prints it."""
        return "".join(f"{p} {t} {' '.join(map(str, vals))} \n" for p, t, vals in self.table())
