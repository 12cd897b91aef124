"""Live summaries over sliding windows: the last 1, 5 or 15 minutes, or since a mark.

:class:`Windows` takes parsed log lines as they arrive and keeps them as
:class:`~.summary.Summary` groups in time buckets of :data:`BUCKET` seconds (the
arrival time: a ring sends lines as HAProxy writes them), for :data:`KEEP` seconds.
A window's summary is the merge of the buckets it covers: the newest one is still
filling, so "1 min" covers between 50 and 60 s. "Since the mark" is the buckets from
the mark on (setting a mark starts a new bucket, so it is exact), plus the buckets
that left the 15 minutes since, merged as they leave: it covers any age, and each
line is counted once.

Alongside, :class:`Evidence` keeps, per backend and per server, the last few lines
that were errors (5xx, or an abnormal termination state), with their arrival time:
the sample lines of the triage screen and of the export.

Memory is bounded: at most ``KEEP / BUCKET`` buckets, each with at most *max_groups*
groups per dimension (top keys only for paths and clients), and a fixed number of
sample lines per key for a bounded number of keys.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from console.haproxy.logs.parse import LogRecord, Result
from console.haproxy.logs.sketch import TopK
from console.haproxy.logs.summary import DIMENSIONS, Group, Summary, classify, is_error

BUCKET = 10.0  # seconds per bucket
KEEP = 900.0  # seconds kept: the longest window
WINDOWS: dict[str, float] = {"1m": 60.0, "5m": 300.0, "15m": 900.0}
WINDOW_NAMES = ("1m", "5m", "15m", "mark")
KEPT_DIMENSIONS = ("server", "backend", "termination", "status", "path", "client")
SAMPLES_PER_KEY = 3
MAX_SAMPLE_KEYS = 2000


def merge_summaries(by: str, parts: Iterable[Summary], max_groups: int = 10_000) -> Summary:
    """One summary of *parts* (each grouped by *by*)."""
    out = Summary(by, max_groups=max_groups)
    for part in parts:
        out.lines += part.lines
        out.records += part.records
        out.unparsed += part.unparsed
        out.events += part.events
        out.ungrouped += part.ungrouped
        for reason, n in part.reasons.items():
            out.reasons[reason] = out.reasons.get(reason, 0) + n
        out._rest.merge(part._rest)
        for key, group in part.groups:
            out.groups.get(key).merge(group)
    out._total = None
    return out


# what a bucket reads of each line (decoded only for these, when the format allows)
_KEYS = ("status", "termination", "ta", "tt", "tr", "bytes_read", "backend", "server",
         "client", "frontend")


_REQUEST_RE = re.compile(r"([^ ]+) ([^ ]+)(?: HTTP/[^ ]+)?")


def _path(r: LogRecord) -> str | None:
    """The path of the request (``fields["path"]``). HAProxy's HTTP formats end with
    the quoted request (a ``"`` in it is logged as ``#22``): read there rather than
    decoding the whole line; any other format, or an odd end, is decoded."""
    if r.format in ("http", "https"):
        raw = r.raw
        if raw.endswith('"'):
            start = raw.rfind('"', 0, len(raw) - 1)
            m = _REQUEST_RE.fullmatch(raw, start + 1, len(raw) - 1) if start >= 0 else None
            if m:
                return m[2].split("?", 1)[0]
    p = r.fields.get("path")
    return None if p is None else str(p)


def _request_key(r: LogRecord) -> object:
    """What a line's path is read from: the quoted request that ends HAProxy's HTTP
    formats (the path is worked out once per kind of line, see :func:`_path`), else the
    path itself (tagged: never equal to a request's text)."""
    if r.format in ("http", "https"):
        raw = r.raw
        if raw.endswith('"'):
            start = raw.rfind('"', 0, len(raw) - 1)
            if start >= 0:
                return raw[start + 1:-1]
    return ("path", _path(r))


_PATH = len(_KEYS)  # where a line's path follows the values of _KEYS in its kind


def _dim_key(by: str) -> Callable[[tuple[Any, ...]], str | None]:
    """The group key for dimension *by* of a kind of line: the values of :data:`_KEYS`
    and then the path."""
    if by == "server":
        def server(v: tuple[Any, ...]) -> str | None:
            be, srv = v[6], v[7]
            if be is None and srv is None:
                return None
            return f"{be if be is not None else '-'}/{srv if srv is not None else '-'}"
        return server
    if by == "status":
        def status(v: tuple[Any, ...]) -> str | None:
            return str(v[0]) if isinstance(v[0], int) else "other"
        return status
    at = {"termination": 1, "backend": 6, "client": 8, "frontend": 9, "path": _PATH}[by]

    def field_value(v: tuple[Any, ...]) -> str | None:
        x = v[at]
        return None if x is None else str(x)
    return field_value


MAX_BUCKET_VALUES = 4_000_000  # timer values (each a value and its count) of one bucket


def _check_size(total: object, kept: dict[str, Any], dims: tuple[str, ...],
                max_groups: int) -> None:
    """A bucket read back holds no more timer values than :data:`MAX_BUCKET_VALUES`
    (ValueError: a file made to fill the memory of the one replaying it)."""
    n = 0
    groups = [total]
    for d in dims:
        dim = kept.get(d)
        if isinstance(dim, dict):
            groups.append(dim.get("rest"))
            items = dim.get("groups")
            if isinstance(items, list):
                groups += [i[1] for i in items[:max_groups]
                           if isinstance(i, list) and len(i) == 2]
    for g in groups:
        if isinstance(g, list) and len(g) == 7:
            n += sum(len(t) for t in (g[4], g[5]) if isinstance(t, list))
    if n > 2 * MAX_BUCKET_VALUES:
        raise ValueError("a log bucket larger than any the console writes")


class _Bucket:
    """The lines of one time slice: one total and, per dimension, one
    :class:`~.summary.Group` per key (and one for the rest: lines without the key,
    groups dropped). A line's values are read once and counted in every dimension."""

    __slots__ = ("index", "start", "serial", "dims", "keys", "with_tr", "groups", "rests",
                 "total",
                 "lines", "records", "unparsed", "events", "ungrouped", "reasons")

    def __init__(self, index: int, dims: tuple[str, ...], max_groups: int) -> None:
        self.index = index
        self.start = 0.0  # the arrival time of its first line (or the mark that opened it)
        self.serial = 0  # its rank among the buckets ever made
        self.dims = dims
        self.keys = [_dim_key(d) for d in dims]
        # Tr is kept per server and backend only (what is shown elsewhere is Ta)
        self.with_tr = [d in ("server", "backend") for d in dims]
        self.rests = [Group() for _ in dims]
        self.groups: list[TopK[str, Group]] = [
            TopK(max_groups, Group, _requests, on_drop=self._dropper(i))
            for i in range(len(dims))]
        self.total = Group()
        self.lines = self.records = self.unparsed = self.events = 0
        self.ungrouped = [0] * len(dims)
        self.reasons: dict[str, int] = {}

    def _dropper(self, i: int) -> Callable[[list[tuple[str, Group]]], None]:
        def dropped(gone: list[tuple[str, Group]]) -> None:
            for _, group in gone:
                self.rests[i].merge(group)
        return dropped

    def add_many(self, results: list[Result], evidence: Evidence | None, at: float) -> None:
        """*results*, arrived at *at*; their error lines also go to *evidence*. Lines
        alike (the same values and path, as a flood of the same request is) are counted
        together: each group is updated once per kind of line, not once per line. A kind
        is told by the raw text of the fields counted (one call on the line's match)
        and of its request, and decoded once."""
        self.lines += len(results)
        # a kind of line: [how many, one of them, its values (None: not decoded yet)]
        tally: dict[tuple[Any, ...], list[Any]] = {}
        order: list[tuple[Any, ...] | None] = []  # each line's kind, for the evidence
        with_path = "path" in self.dims
        for result in results:
            if not isinstance(result, LogRecord):
                order.append(None)
                if result.event:
                    self.events += 1
                    continue
                self.unparsed += 1
                reason = result.reason.split(":", 1)[0]
                if len(self.reasons) < 100 or reason in self.reasons:
                    self.reasons[reason] = self.reasons.get(reason, 0) + 1
                continue
            if result.format == "connect":
                order.append(None)
                self.events += 1
                continue
            self.records += 1
            cf, m = result._cf, result._m
            raw = m is not None and result._fields is None and cf is not None
            groups = cf.groups_of(_KEYS) if raw else None  # type: ignore[union-attr]
            values: tuple[Any, ...] | None
            if groups is not None:
                kind: tuple[Any, ...] = (id(cf), m.group(*groups),  # type: ignore[union-attr]
                                         _request_key(result) if with_path else None)
                values = None
            else:
                values = (*result.pick(_KEYS), _path(result) if with_path else None)
                kind = (None, *values)
            entry = tally.get(kind)
            if entry is None:
                tally[kind] = [1, result, values]
            else:
                entry[0] += 1
            order.append(kind)
        errors: dict[tuple[Any, ...], tuple[Any, Any]] = {}  # kind: its backend, server
        counted: list[tuple[tuple[Any, ...], int, int, bool]] = []
        for kind, (n, first, values) in tally.items():
            if values is None:
                values = (*first.pick(_KEYS), _path(first) if with_path else None)
            cls, error = classify(values[0], values[1])
            if error:
                errors[kind] = (values[6], values[7])
            counted.append((values, n, cls, error))
        if errors and evidence is not None:
            for result, its_kind in zip(results, order, strict=True):
                be_srv = errors.get(its_kind) if its_kind is not None else None
                if be_srv is not None:
                    assert isinstance(result, LogRecord)
                    evidence.add_error(result, at, *be_srv)
        self._count(counted)

    def _count(self, counted: list[tuple[tuple[Any, ...], int, int, bool]]) -> None:
        """Each kind of line (the values of :data:`_KEYS` and the path), *n* times, with
        its status class and whether it is an error (:func:`~.summary.classify`)."""
        keys = self.keys
        with_tr = self.with_tr
        groups, rests, ungrouped = self.groups, self.rests, self.ungrouped
        for kind, n, cls, error in counted:
            term, ta, tr, nbytes = kind[1], kind[2], kind[4], kind[5]
            if ta is None:
                ta = kind[3]
            self.total.add_counted(cls, error, term, ta, tr, nbytes, n)
            for i, key_of in enumerate(keys):
                key = key_of(kind)
                t = tr if with_tr[i] else None
                if key is None:
                    ungrouped[i] += n
                    rests[i].add_counted(cls, error, term, ta, t, nbytes, n)
                else:
                    groups[i].get(key).add_counted(cls, error, term, ta, t, nbytes, n)

    def state(self) -> dict[str, Any]:
        """What a recording keeps of this bucket (:meth:`from_state` reads it back)."""
        return {"index": self.index, "start": self.start, "lines": self.lines,
                "records": self.records, "unparsed": self.unparsed, "events": self.events,
                "reasons": self.reasons, "total": self.total.state(),
                "dims": {d: {"groups": [[k, g.state()] for k, g in self.groups[i]],
                             "rest": self.rests[i].state(), "ungrouped": self.ungrouped[i]}
                         for i, d in enumerate(self.dims)}}

    @classmethod
    def from_state(cls, state: object, dims: tuple[str, ...], max_groups: int) -> _Bucket:
        """:meth:`state` read back (the dimensions of *dims* it has; at most
        *max_groups* groups each); ValueError when it is not one (a hostile file)."""
        if not isinstance(state, dict):
            raise ValueError("not a log bucket")
        index, start = state.get("index"), state.get("start")
        counts = [state.get(k) for k in ("lines", "records", "unparsed", "events")]
        reasons, kept = state.get("reasons"), state.get("dims")
        if index.__class__ is not int or not isinstance(start, int | float) or \
                not math.isfinite(start) or \
                not all(c.__class__ is int and c >= 0 for c in counts) or \
                not isinstance(reasons, dict) or len(reasons) > 100 or \
                not all(isinstance(k, str) and v.__class__ is int and v >= 0
                        for k, v in reasons.items()) or not isinstance(kept, dict):
            raise ValueError("not a log bucket")
        _check_size(state.get("total"), kept, dims, max_groups)
        out = cls(index, dims, max_groups)
        out.start = float(start)
        out.lines, out.records, out.unparsed, out.events = (int(c or 0) for c in counts)
        out.reasons = dict(reasons)
        out.total = Group.from_state(state.get("total"))
        for i, d in enumerate(dims):
            dim = kept.get(d)
            if dim is None:
                continue
            if not isinstance(dim, dict):
                raise ValueError("not a log bucket")
            groups, ungrouped = dim.get("groups"), dim.get("ungrouped")
            if not isinstance(groups, list) or ungrouped.__class__ is not int or ungrouped < 0:
                raise ValueError("not a log bucket")
            out.rests[i] = Group.from_state(dim.get("rest"))
            out.ungrouped[i] = ungrouped
            for item in groups[:max_groups]:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise ValueError("not a log bucket")
                out.groups[i].get(item[0]).merge(Group.from_state(item[1]))
        return out

    def summary(self, by: str) -> Summary:
        """This bucket as a :class:`~.summary.Summary` grouped by *by* (shared groups:
        read it, merge it, never add to it)."""
        i = self.dims.index(by)
        out = Summary(by)
        out.groups = self.groups[i]
        out._rest = self.rests[i]
        out._total = self.total
        out.lines, out.records, out.unparsed = self.lines, self.records, self.unparsed
        out.events, out.ungrouped = self.events, self.ungrouped[i]
        out.reasons = self.reasons
        return out


def _requests(g: Group) -> int:
    return g.requests


@dataclass(frozen=True, slots=True)
class Sample:
    """One error line kept as evidence: when it arrived, and the line."""

    at: float
    record: LogRecord


_EVIDENCE_KEYS = ("status", "termination", "backend", "server")


class Evidence:
    """The last :data:`SAMPLES_PER_KEY` error lines per backend and per server
    (``backend/server``), for at most :data:`MAX_SAMPLE_KEYS` keys (the least
    recently seen key is forgotten first)."""

    def __init__(self, per_key: int = SAMPLES_PER_KEY, max_keys: int = MAX_SAMPLE_KEYS) -> None:
        self.per_key = per_key
        self.max_keys = max_keys
        self.samples: OrderedDict[str, deque[Sample]] = OrderedDict()

    def add(self, record: LogRecord, at: float) -> None:
        status, term, backend, server = record.pick(_EVIDENCE_KEYS)
        if is_error(status, term):
            self.add_error(record, at, backend, server)

    def add_error(self, record: LogRecord, at: float, backend: object, server: object) -> None:
        """*record*, an error line of *backend* and *server*, arrived at *at*."""
        if not isinstance(backend, str):
            return
        keys = [backend]
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
        self.folded: dict[str, Summary] = {}  # since the mark, buckets past the 15 min
        self.mark_serial: int | None = None  # the first bucket counted since the mark
        self.serials = 0
        self.evidence = Evidence()
        self.started = clock()
        self.lines = 0
        self.last_at: float | None = None
        self.restored = False  # fed by add_state (a replay), not by lines

    # -- feeding --------------------------------------------------------------------------
    def add(self, result: Result, at: float | None = None) -> None:
        self.add_many([result], at)

    def add_many(self, results: Iterable[Result], at: float | None = None) -> None:
        """*results*, arrived together at *at* (default now)."""
        batch = results if isinstance(results, list) else list(results)
        if not batch:
            return
        now = self.clock() if at is None else at
        self.lines += len(batch)
        self.last_at = now
        index = int(now // self.bucket)
        buckets = self.buckets
        if not buckets or buckets[-1].index < index:
            self._new_bucket(index, now)
        # else the same slice, or the clock went back: the newest bucket
        buckets[-1].add_many(batch, self.evidence, now)

    def _new_bucket(self, index: int, start: float) -> None:
        buckets = self.buckets
        bucket = _Bucket(index, self.dims, self.max_groups)
        bucket.start = start
        self.serials += 1
        bucket.serial = self.serials
        buckets.append(bucket)
        oldest = index - int(self.keep // self.bucket)
        while buckets and buckets[0].index <= oldest:
            gone = buckets.popleft()
            if self.mark_serial is not None and gone.serial >= self.mark_serial:
                self._fold(gone)

    def _fold(self, bucket: _Bucket) -> None:
        """A bucket leaving the 15 minutes, counted since the mark: kept merged."""
        folded = self.folded
        for by in self.dims:
            folded[by] = merge_summaries(by, [folded[by], bucket.summary(by)]) \
                if by in folded else merge_summaries(by, [bucket.summary(by)])

    def closed_states(self, after: int) -> tuple[list[dict[str, Any]], int]:
        """The buckets past serial *after* that are complete (a newer one started), as
        a recording keeps them, and the serial of the last one."""
        out = [b.state() for b in list(self.buckets)[:-1] if b.serial > after]
        last = self.buckets[-2].serial if len(self.buckets) > 1 else 0
        return out, max(after, last)

    def newest_state(self, after: int) -> tuple[list[dict[str, Any]], int]:
        """Like :meth:`closed_states`, with the bucket still filling (at the end)."""
        out = [b.state() for b in self.buckets if b.serial > after]
        last = self.buckets[-1].serial if self.buckets else 0
        return out, max(after, last)

    def add_state(self, state: object) -> None:
        """A bucket read back from a recording, as if its lines had arrived
        (ValueError when it is not one; older than what is kept: ignored)."""
        bucket = _Bucket.from_state(state, self.dims, self.max_groups)
        buckets = self.buckets
        self.restored = True
        if buckets and (bucket.index < buckets[-1].index or bucket.start < buckets[-1].start):
            return  # older than what is kept (a mark splits a slice: same index, later)
        self.serials += 1
        bucket.serial = self.serials
        buckets.append(bucket)
        self.lines += bucket.lines
        self.last_at = bucket.start
        oldest = bucket.index - int(self.keep // self.bucket)
        while buckets and buckets[0].index <= oldest:
            gone = buckets.popleft()
            if self.mark_serial is not None and gone.serial >= self.mark_serial:
                self._fold(gone)
        if self.mark_at is not None:
            self._remark(self.mark_at)

    def _remark(self, mark: float) -> None:
        """Restored buckets: "since the mark" is those that started at the mark or
        later (they arrive when complete, after the mark that split them)."""
        serial = self.serials + 1
        for b in reversed(self.buckets):
            if b.start < mark:
                break
            serial = b.serial
        self.mark_serial = serial

    def set_mark(self, at: float | None = None) -> None:
        """Count "since the mark" from *at* (default now): the lines that arrived from
        then on. A mark set now starts a new bucket, so the count is exact."""
        now = self.clock()
        mark = self.mark_at = now if at is None else at
        self.folded = {}
        if self.restored:
            self._remark(mark)
            return
        buckets = self.buckets
        if buckets and buckets[-1].start <= mark:
            if buckets[-1].lines:
                self._new_bucket(buckets[-1].index, mark)  # later lines go to a new one
            self.mark_serial = buckets[-1].serial
        else:  # a mark from the past: the buckets that started since
            self.mark_serial = next((b.serial for b in buckets if b.start >= mark),
                                    self.serials + 1)

    def clear_mark(self) -> None:
        self.mark_at = self.mark_serial = None
        self.folded = {}

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
            serial = self.mark_serial
            if serial is None:
                return Summary(by)
            parts = [self.folded[by]] if by in self.folded else []
            parts += [b.summary(by) for b in self.buckets if b.serial >= serial]
            return merge_summaries(by, parts)
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}")
        now = self.clock() if now is None else now
        first = int((now - WINDOWS[window]) // self.bucket) + 1
        parts = [b.summary(by) for b in self.buckets if b.index >= first]
        return merge_summaries(by, parts)

    def window_start(self, window: str, now: float | None = None) -> float | None:
        """When *window* starts (None: no mark for ``mark``)."""
        now = self.clock() if now is None else now
        if window == "mark":
            return self.mark_at
        return now - WINDOWS[window]
