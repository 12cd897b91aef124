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

from console.haproxy.logs.parse import LogRecord, Result
from console.haproxy.logs.sketch import TimerSketch, TopK

DIMENSIONS = ("server", "backend", "frontend", "path", "client", "status", "termination")
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")


def status_class(status: object) -> str:
    if isinstance(status, int) and 100 <= status <= 599:
        return CLASSES[status // 100 - 1]
    return "other"


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
        self.requests += 1
        status = f.get("status")
        term = f.get("termination")
        cls = status_class(status)
        self.classes[CLASSES.index(cls)] += 1
        if isinstance(term, str):
            self.termination[term] = self.termination.get(term, 0) + 1
        if is_error(status, term):
            self.errors += 1
        ta = f.get("ta")
        if ta is None:
            ta = f.get("tt")
        if isinstance(ta, int) and ta >= 0:
            self.ta.add(ta)
        tr = f.get("tr")
        if isinstance(tr, int) and tr >= 0:
            self.tr.add(tr)
        b = f.get("bytes_read")
        if isinstance(b, int):
            self.bytes_read += b

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


class Summary:
    """Groups records by one dimension (see the module docstring)."""

    def __init__(self, by: str = "server", max_groups: int = 10_000) -> None:
        if by not in DIMENSIONS:
            raise ValueError(f"unknown dimension {by!r}")
        self.by = by
        self.key = _key_function(by)
        self.groups: TopK[str, Group] = TopK(max_groups, Group, lambda g: g.requests)
        self.total = Group()
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
        fields = result.fields
        self.total.add(fields)
        key = self.key(fields)
        if key is None:
            self.ungrouped += 1
            return
        self.groups.get(key).add(fields)

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
        f = result.fields
        v: list[int] = []
        for key in ("treq", "tw", "tc", "tr", "ta"):
            x = f.get(key)
            if not isinstance(x, int):
                return
            v.append(x)
        if min(v) < 0:
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
