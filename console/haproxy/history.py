"""A bounded in-memory history per stat row, for the detail charts.

Every snapshot adds one sample per row and metric:

``req_rate``
    requests per second: the ``req_rate`` column (HTTP frontends), else the rate of
    ``req_tot`` between the last two snapshots.
``scur``
    current sessions.
``5xx_rate``
    HTTP 5xx responses per second (rate of ``hrsp_5xx``).
``qcur``
    current queue.

Memory stays flat however long the console runs:

* samples live in fixed-size ring buffers, ``array('f')`` (4 bytes a value), one block of
  ``len(METRICS) * maxlen`` floats per row; the snapshot times are kept once, not per row.
  At ``maxlen=300`` a row costs about 5 kB, 10,000 rows about 50 MB;
* a row that is absent from a snapshot gets a gap (NaN) and is dropped once it has been
  absent for ``drop_after`` snapshots in a row (a server removed, a reload with a new
  config); it starts afresh if it comes back later.

``keys_to_track`` limits the history to some rows (for instance the visible or selected
ones, when there are very many): rows outside it are treated as absent, so their history
is dropped after ``drop_after`` snapshots. ``None`` (the default) tracks every row.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from console.haproxy.model import Content, Rates, Snapshot

Key = tuple[str, str]

METRICS = ("req_rate", "scur", "5xx_rate", "qcur")
METRIC_LABELS = {"req_rate": "req/s", "scur": "sessions", "5xx_rate": "5xx/s",
                 "qcur": "queue"}
_NAN = math.nan


@dataclass(slots=True)
class _Entry:
    buf: array  # len(METRICS) * maxlen floats, metric-major
    first: int  # index (snapshot count) of the first sample
    last: int  # index of the last snapshot the row was present in
    content: Content | None = None  # the content of the row last sampled
    req: float | None = None  # its req_rate column (None: empty, use the rate of req_tot)
    scur: float = _NAN
    qcur: float = _NAN


def _num(text: str | None) -> float:
    if not text:
        return _NAN
    try:
        return float(text)
    except ValueError:
        return _NAN


class History:
    """Samples of :data:`METRICS` per row ``(proxy, name)``, the last ``maxlen`` snapshots.

    Not thread-safe: feed it and read it from the same thread (the UI's event loop).
    """

    def __init__(self, maxlen: int = 300, *, drop_after: int = 30,
                 keys_to_track: Collection[Key] | None = None) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        if drop_after < 1:
            raise ValueError("drop_after must be at least 1")
        self.maxlen = maxlen
        self.drop_after = drop_after
        self._track: frozenset[Key] | None = None
        self.track(keys_to_track)
        self._entries: dict[Key, _Entry] = {}
        self._times = array("d", bytes(8 * maxlen))  # wall time of each slot
        self._count = 0  # snapshots added so far
        self._blank = array("f", [_NAN]) * (len(METRICS) * maxlen)

    # ------------------------------------------------------------------ feeding

    def track(self, keys: Collection[Key] | None) -> None:
        """Limit the history to ``keys`` from the next snapshot on (None: every row)."""
        self._track = None if keys is None else frozenset(keys)

    def add(self, snapshot: Snapshot, rates: Mapping[Key, Rates] | None = None) -> None:
        """Record one sample per row of ``snapshot``.

        ``rates`` is :func:`console.haproxy.model.rates` between the previous snapshot and
        this one (None or empty for the first snapshot: the rate metrics get a gap).
        """
        n = self._count
        size = self.maxlen
        slot = n % size
        s1, s2, s3 = slot + size, slot + 2 * size, slot + 3 * size
        self._times[slot] = snapshot.wall_time
        entries = self._entries
        rates = rates or {}
        track = self._track
        blank = self._blank
        nan = _NAN
        touched = 0
        for row in snapshot.rows:
            key = row.key
            if track is not None and key not in track:
                continue
            entry = entries.get(key)
            if entry is None:
                entry = entries[key] = _Entry(array("f", blank), n, n)
                touched += 1
            else:
                if entry.last != n:  # (a row listed twice is counted once)
                    touched += 1
                entry.last = n
            content = row.content
            if content is None or content is not entry.content:
                # columns read once per content: a row whose content did not change
                # (only its clock fields) gives the same values
                get = row.get
                req = get("req_rate")
                entry.req = _num(req) if req else None
                entry.scur, entry.qcur = _num(get("scur")), _num(get("qcur"))
                entry.content = content
            rate = rates.get(key)
            req_v = entry.req
            if req_v is None:  # no req_rate column: the rate of req_tot
                req_v = nan if rate is None or rate.req_tot is None else rate.req_tot
            buf = entry.buf
            buf[slot] = req_v
            buf[s1] = entry.scur
            h5 = rate.hrsp_5xx if rate is not None else None
            buf[s2] = nan if h5 is None else h5
            buf[s3] = entry.qcur
        if touched != len(entries):  # some rows are absent (or not tracked) this time
            self._sweep(n, slot)
        self._count = n + 1

    def _sweep(self, n: int, slot: int) -> None:
        """Gaps for rows absent from snapshot ``n``; drop those absent long enough."""
        size = self.maxlen
        gone: list[Key] = []
        for key, entry in self._entries.items():
            if entry.last == n:
                continue
            if n - entry.last >= self.drop_after:
                gone.append(key)
                continue
            buf = entry.buf
            for m in range(len(METRICS)):
                buf[slot + m * size] = _NAN
        for key in gone:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
        self._count = 0

    # ------------------------------------------------------------------ reading

    def _window(self, entry: _Entry) -> range:
        n = self._count
        start = max(entry.first, n - self.maxlen)
        return range(start, n)

    def points(self, key: Key, metric: str) -> list[tuple[float, float]]:
        """``(wall time, value)`` of ``metric`` for row ``key``, oldest first, gaps left out."""
        m = METRICS.index(metric)
        entry = self._entries.get(key)
        if entry is None:
            return []
        size = self.maxlen
        buf, times = entry.buf, self._times
        out: list[tuple[float, float]] = []
        for i in self._window(entry):
            s = i % size
            v = buf[s + m * size]
            if v == v:  # not NaN
                out.append((times[s], v))
        return out

    def series(self, key: Key, metric: str) -> list[float]:
        """The values of ``metric`` for row ``key``, oldest first, gaps left out.

        ``metric`` is one of :data:`METRICS` (ValueError otherwise); an unknown row gives
        an empty list.
        """
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        return [v for _, v in self.points(key, metric)]

    def span(self, key: Key) -> float:
        """Seconds between the oldest and newest snapshot kept for row ``key`` (0 if none)."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        window = self._window(entry)
        if len(window) < 2:
            return 0.0
        size = self.maxlen
        return self._times[window[-1] % size] - self._times[window[0] % size]

    def samples(self, key: Key) -> int:
        """How many snapshots of row ``key`` are kept (gaps included)."""
        entry = self._entries.get(key)
        return 0 if entry is None else len(self._window(entry))

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        """Rows with a history."""
        return len(self._entries)

    def keys(self) -> list[Key]:
        return list(self._entries)

    def memory_bytes(self) -> int:
        """An estimate of the sample storage (buffers only)."""
        per_row = len(METRICS) * self.maxlen * self._blank.itemsize
        return len(self._entries) * per_row + self._times.itemsize * self.maxlen
