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

Memory stays flat however long the console runs, and small where little moves (a large
instance is mostly quiet servers: no sessions, no queue, no errors, or rows off screen
that a partial poll reads once a minute):

* a row keeps the values of its last sample and a log of its changes within the window
  (``array('d')``: the sample, the metric and the value before it, 24 bytes a change);
  a row whose values did not change over the window costs no sample storage at all;
* a metric that changes often gets a fixed-size ring buffer of ``maxlen`` values instead
  (``array('f')``, 4 bytes a value, 1.2 kB at ``maxlen=300``), given up once it held one
  value over the whole window; the snapshot times are kept once, not per row. A row
  costs at most about 5 kB, a quiet one about 0.2 kB;
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
    first: int  # index (snapshot count) of the first sample
    last: int  # index of the last snapshot the row was present in
    now: tuple[float, ...]  # the values of the last sample, per metric
    phase: int  # the slot at which its log and rings are trimmed (see History._compact)
    # the changes within the window, oldest first: (sample, metric, value before it)
    # triples; a metric's value at a sample is the value before its next change, or
    # its value in ``now`` if none followed
    log: array | None = None
    # per metric: a ring of its values (it changed too often for the log), else None;
    # None for the whole row when no metric has a ring
    rings: list[array | None] | None = None
    # what the last sample was made of: the content of the row (None after a gap), its
    # req_rate column (None: empty, use the rate of req_tot) and its rates
    content: Content | None = None
    req: float | None = None
    req_tot: float | None = None
    hrsp_5xx: float | None = None
    scur: float = _NAN
    qcur: float = _NAN


_GAP = (_NAN,) * len(METRICS)
_ORDER = range(len(METRICS))
LOG_MAX = 48
"""Changes a row's log holds before its most changing metrics get a ring."""
RING_AFTER = 12
"""A metric with this many changes in a full log gets a ring (the busiest one always)."""


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
        self._times[slot] = snapshot.wall_time
        entries = self._entries
        rates = rates or {}
        track = self._track
        nan = _NAN
        write = self._write
        touched = 0
        for row in snapshot.rows:
            key = row.key
            if track is not None and key not in track:
                continue
            entry = entries.get(key)
            if entry is None:
                entry = entries[key] = _Entry(n, n, _GAP, hash(key) % size)
                touched += 1
            else:
                if entry.last != n:  # (a row listed twice is counted once)
                    touched += 1
                entry.last = n
            content = row.content
            fresh = content is None or content is not entry.content
            if fresh:
                # columns read once per content: a row whose content did not change
                # (only its clock fields) gives the same values
                get = row.get
                req = get("req_rate")
                entry.req = _num(req) if req else None
                entry.scur, entry.qcur = _num(get("scur")), _num(get("qcur"))
                entry.content = content
            rate = rates.get(key)
            if rate is None:
                req_tot = hrsp_5xx = None
            else:
                req_tot, hrsp_5xx = rate.req_tot, rate.hrsp_5xx
            if slot == entry.phase and (entry.log is not None or entry.rings is not None):
                self._compact(entry, n)
            rings = entry.rings
            if rings is None and not fresh and req_tot == entry.req_tot and \
                    hrsp_5xx == entry.hrsp_5xx:
                continue  # the same sample as the last one, and no ring to write
            entry.req_tot, entry.hrsp_5xx = req_tot, hrsp_5xx
            req_v = entry.req
            if req_v is None:  # no req_rate column: the rate of req_tot
                req_v = nan if req_tot is None else req_tot
            values = (req_v, entry.scur, nan if hrsp_5xx is None else hrsp_5xx, entry.qcur)
            if rings is not None or values != entry.now:
                if entry.first == n:  # its first sample: the window holds only these
                    entry.now = values
                else:
                    write(entry, values, n, slot)
        if touched != len(entries):  # some rows are absent (or not tracked) this time
            self._sweep(n, slot)
        self._count = n + 1

    def _write(self, entry: _Entry, values: tuple[float, ...], n: int, slot: int) -> None:
        """Sample ``n`` of a row that has a ring or whose values changed: into the rings,
        and the changes of the other metrics into the log."""
        rings = entry.rings
        log = entry.log
        for m, v, old in zip(_ORDER, values, entry.now, strict=True):
            ring = rings[m] if rings is not None else None
            if ring is not None:
                ring[slot] = v
            elif not (v == old or (v != v and old != old)):  # changed (NaN: a gap)
                if log is None:
                    log = entry.log = array("d")
                log.extend((n, m, old))
        entry.now = values
        if log is not None:
            if log[0] <= n + 1 - self.maxlen:  # changes older than the window
                self._trim(entry, n)
            elif len(log) > 3 * LOG_MAX:
                self._to_rings(entry, n)

    def _trim(self, entry: _Entry, n: int) -> None:
        """Forget the changes no sample of the window depends on (after sample ``n``)."""
        log = entry.log
        if log is None:
            return
        start = n + 1 - self.maxlen  # the window's first sample once ``n`` is in
        k = 0
        while k < len(log) and log[k] <= start:
            k += 3
        if k == len(log):
            entry.log = None
        elif k:
            del log[:k]

    def _to_rings(self, entry: _Entry, n: int) -> None:
        """A full log: its most changing metrics get a ring (filled with the values of
        the window so far, sample ``n`` included), their changes leave the log."""
        log = entry.log
        if log is None:
            return
        counts = [0] * len(METRICS)
        for k in range(1, len(log), 3):
            counts[int(log[k])] += 1
        busiest = max(counts)
        moved = {m for m, c in enumerate(counts) if c >= min(RING_AFTER, busiest)}
        size = self.maxlen
        start = max(entry.first, n + 1 - size)
        rings = entry.rings
        if rings is None:
            rings = entry.rings = [None] * len(METRICS)
        for m in moved:
            ring = rings[m] = array("f", _GAP[:1]) * size
            for i, v in zip(range(start, n + 1), self._values(entry, m, start, n + 1),
                            strict=True):
                ring[i % size] = v
        kept = array("d")
        for k in range(0, len(log), 3):
            if int(log[k + 1]) not in moved:
                kept.extend(log[k:k + 3])
        entry.log = kept or None

    def _compact(self, entry: _Entry, n: int) -> None:
        """Once per window and row (at the row's own slot, so that rows take turns, before
        sample ``n``): forget the changes older than the window, give up the rings that
        hold one value."""
        self._trim(entry, n - 1)
        rings = entry.rings
        if rings is None:
            return
        size = self.maxlen
        for m, ring in enumerate(rings):
            if ring is not None:
                data = ring.tobytes()
                if data == data[:ring.itemsize] * size:
                    rings[m] = None
        if all(ring is None for ring in rings):
            entry.rings = None

    def _sweep(self, n: int, slot: int) -> None:
        """Gaps for rows absent from snapshot ``n``; drop those absent long enough."""
        gone: list[Key] = []
        for key, entry in self._entries.items():
            if entry.last == n:
                continue
            if n - entry.last >= self.drop_after:
                gone.append(key)
                continue
            if slot == entry.phase and (entry.log is not None or entry.rings is not None):
                self._compact(entry, n)
            entry.content = None  # the next sample is read afresh
            if entry.rings is not None or entry.now != _GAP:
                self._write(entry, _GAP, n, slot)
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

    def _values(self, entry: _Entry, m: int, start: int, stop: int) -> list[float]:
        """The values of metric ``m`` at samples ``start`` to ``stop - 1``, from the log
        (not rounded to a ring's 4 bytes)."""
        changes: list[tuple[float, float]] = []
        log = entry.log
        if log is not None:
            changes = [(log[k], log[k + 2]) for k in range(0, len(log), 3)
                       if log[k + 1] == m]
        out: list[float] = []
        j, last = 0, entry.now[m]
        for i in range(start, stop):
            while j < len(changes) and changes[j][0] <= i:
                j += 1
            out.append(changes[j][1] if j < len(changes) else last)
        return out

    def points(self, key: Key, metric: str) -> list[tuple[float, float]]:
        """``(wall time, value)`` of ``metric`` for row ``key``, oldest first, gaps left out."""
        m = METRICS.index(metric)
        entry = self._entries.get(key)
        if entry is None:
            return []
        size = self.maxlen
        times = self._times
        window = self._window(entry)
        ring = entry.rings[m] if entry.rings is not None else None
        if ring is None:  # rounded as a ring would keep them
            values = array("f", self._values(entry, m, window.start, window.stop))
            return [(times[i % size], v) for i, v in zip(window, values, strict=True)
                    if v == v]  # not NaN
        out: list[tuple[float, float]] = []
        for i in window:
            s = i % size
            v = ring[s]
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
        """An estimate of the sample storage (logs and rings, not their headers)."""
        total = self._times.itemsize * self.maxlen
        for entry in self._entries.values():
            if entry.log is not None:
                total += entry.log.itemsize * len(entry.log)
            for ring in entry.rings or ():
                if ring is not None:
                    total += ring.itemsize * len(ring)
        return total
