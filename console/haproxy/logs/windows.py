"""Live summaries over sliding windows: the last 1, 5 or 15 minutes, or since a mark.

:class:`Windows` takes parsed log lines as they arrive and keeps them as
:class:`~.summary.Summary` groups in time buckets of :data:`BUCKET` seconds (the
arrival time: a ring sends lines as HAProxy writes them), for :data:`KEEP` seconds.
A window's summary is the merge of the buckets it covers: the newest one is still
filling, so "1 min" covers between 50 and 60 s (the status line says "over the last
N s"). "Since the mark" is kept apart, in one accumulator started when the mark is
set, so it covers any age.

Alongside, :class:`Evidence` keeps, per backend and per server, the last few lines
that were errors (5xx, or an abnormal termination state), with their arrival time:
the sample lines of the triage screen and of the export.

Memory is bounded: at most ``KEEP / BUCKET`` buckets, each with at most *max_groups*
groups per dimension (top keys only for paths and clients), and a fixed number of
sample lines per key for a bounded number of keys.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from console.haproxy.logs.parse import LogRecord, Result
from console.haproxy.logs.summary import DIMENSIONS, Group, Summary, is_error

BUCKET = 10.0  # seconds per bucket
KEEP = 900.0  # seconds kept: the longest window
WINDOWS: dict[str, float] = {"1m": 60.0, "5m": 300.0, "15m": 900.0}
WINDOW_NAMES = ("1m", "5m", "15m", "mark")
KEPT_DIMENSIONS = ("server", "backend", "termination", "status", "path", "client")
SAMPLES_PER_KEY = 3
MAX_SAMPLE_KEYS = 2000


def merge_group(into: Group, other: Group) -> None:
    """Add *other*'s counts to *into* (the sketches are merged, not copied)."""
    into.requests += other.requests
    into.errors += other.errors
    for i, n in enumerate(other.classes):
        into.classes[i] += n
    for term, n in other.termination.items():
        into.termination[term] = into.termination.get(term, 0) + n
    into.ta.merge(other.ta)
    into.tr.merge(other.tr)
    into.bytes_read += other.bytes_read


def merge_summaries(by: str, parts: Iterable[Summary], max_groups: int = 10_000) -> Summary:
    """One summary of *parts* (each grouped by *by*)."""
    out = Summary(by, max_groups=max_groups)
    for part in parts:
        out.lines += part.lines
        out.records += part.records
        out.unparsed += part.unparsed
        out.events += part.events
        out.ungrouped += part.ungrouped
        merge_group(out.total, part.total)
        for key, group in part.groups:
            merge_group(out.groups.get(key), group)
    return out


class _Bucket:
    __slots__ = ("index", "summaries")

    def __init__(self, index: int, dims: tuple[str, ...], max_groups: int) -> None:
        self.index = index
        self.summaries = {d: Summary(d, max_groups=max_groups) for d in dims}

    def add(self, result: Result) -> None:
        for s in self.summaries.values():
            s.add(result)


@dataclass(frozen=True, slots=True)
class Sample:
    """One error line kept as evidence: when it arrived, and the line."""

    at: float
    record: LogRecord


class Evidence:
    """The last :data:`SAMPLES_PER_KEY` error lines per backend and per server
    (``backend/server``), for at most :data:`MAX_SAMPLE_KEYS` keys (the least
    recently seen key is forgotten first)."""

    def __init__(self, per_key: int = SAMPLES_PER_KEY, max_keys: int = MAX_SAMPLE_KEYS) -> None:
        self.per_key = per_key
        self.max_keys = max_keys
        self.samples: OrderedDict[str, deque[Sample]] = OrderedDict()

    def add(self, record: LogRecord, at: float) -> None:
        f = record.fields
        if not is_error(f.get("status"), f.get("termination")):
            return
        backend = f.get("backend")
        if not isinstance(backend, str):
            return
        keys = [backend]
        server = f.get("server")
        if isinstance(server, str):
            keys.append(f"{backend}/{server}")
        sample = Sample(at, record)
        for key in keys:
            kept = self.samples.get(key)
            if kept is None:
                if len(self.samples) >= self.max_keys:
                    self.samples.popitem(last=False)
                kept = self.samples[key] = deque(maxlen=self.per_key)
            else:
                self.samples.move_to_end(key)
            kept.append(sample)

    def of(self, key: str, since: float | None = None) -> list[Sample]:
        """The kept error lines of *key* (``be`` or ``be/srv``), oldest first."""
        kept = self.samples.get(key, ())
        return [s for s in kept if since is None or s.at >= since]


class Windows:
    """Sliding-window summaries (see the module docstring).

    *clock*: seconds (``time.time``), read once per :meth:`add` when no time is given.
    """

    def __init__(self, *, dims: tuple[str, ...] = KEPT_DIMENSIONS, bucket: float = BUCKET,
                 keep: float = KEEP, max_groups: int = 500,
                 clock: Callable[[], float] = time.time) -> None:
        for d in dims:
            if d not in DIMENSIONS:
                raise ValueError(f"unknown dimension {d!r}")
        self.dims = dims
        self.bucket = bucket
        self.keep = keep
        self.max_groups = max_groups
        self.clock = clock
        self.buckets: deque[_Bucket] = deque()
        self.mark_at: float | None = None
        self.since_mark: _Bucket | None = None
        self.evidence = Evidence()
        self.started = clock()
        self.lines = 0
        self.last_at: float | None = None

    # -- feeding --------------------------------------------------------------------------
    def add(self, result: Result, at: float | None = None) -> None:
        now = self.clock() if at is None else at
        self.lines += 1
        self.last_at = now
        index = int(now // self.bucket)
        buckets = self.buckets
        if not buckets or buckets[-1].index != index:
            if buckets and index < buckets[-1].index:  # the clock went back: same bucket
                index = buckets[-1].index
            else:
                buckets.append(_Bucket(index, self.dims, self.max_groups))
                oldest = index - int(self.keep // self.bucket)
                while buckets and buckets[0].index <= oldest:
                    buckets.popleft()
        buckets[-1].add(result)
        if self.since_mark is not None:
            self.since_mark.add(result)
        if isinstance(result, LogRecord):
            self.evidence.add(result, now)

    def add_many(self, results: Iterable[Result], at: float | None = None) -> None:
        now = self.clock() if at is None else at
        for r in results:
            self.add(r, now)

    def set_mark(self, at: float | None = None) -> None:
        """Start the "since the mark" accumulator (empty: lines count from now)."""
        self.mark_at = self.clock() if at is None else at
        self.since_mark = _Bucket(0, self.dims, 10_000)

    def clear_mark(self) -> None:
        self.mark_at = None
        self.since_mark = None

    # -- reading --------------------------------------------------------------------------
    def covered(self, window: str, now: float | None = None) -> float:
        """How many seconds *window* covers now (less while the console is young)."""
        now = self.clock() if now is None else now
        if window == "mark":
            if self.mark_at is None:
                return 0.0
            return max(0.0, now - max(self.mark_at, self.started))
        span = WINDOWS[window]
        return max(0.0, min(span, now - self.started))

    def summary(self, by: str, window: str, now: float | None = None) -> Summary:
        """The summary of the lines of *window* (``1m``, ``5m``, ``15m``, ``mark``),
        grouped by *by* (one of :data:`KEPT_DIMENSIONS`)."""
        if by not in self.dims:
            raise ValueError(f"not kept: {by!r}")
        if window == "mark":
            if self.since_mark is None:
                return Summary(by)
            return merge_summaries(by, [self.since_mark.summaries[by]])
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}")
        now = self.clock() if now is None else now
        first = int((now - WINDOWS[window]) // self.bucket) + 1
        parts = [b.summaries[by] for b in self.buckets if b.index >= first]
        return merge_summaries(by, parts)

    def window_start(self, window: str, now: float | None = None) -> float | None:
        """When *window* starts (None: no mark for ``mark``)."""
        now = self.clock() if now is None else now
        if window == "mark":
            return self.mark_at
        return now - WINDOWS[window]
