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
* a row a partial poll did not read again (:attr:`Snapshot.held`) keeps its last rates,
  as the table does: its next reading gives the rates over the time between its two
  readings (a gap each time would make a quiet row look busy, and cost a ring);
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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from console.haproxy.model import Content, Rates, Row, Snapshot

Key = tuple[str, str]

METRICS = ("req_rate", "scur", "5xx_rate", "qcur")
METRIC_LABELS = {"req_rate": "req/s", "scur": "sessions", "5xx_rate": "5xx/s",
                 "qcur": "queue"}
_NAN = math.nan


@dataclass(slots=True)
class _Entry:
    key: Key  # the row's (the same tuple as the entries' key)
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
        self._taken_at: float | None = None  # that of the last snapshot added
        # what a merged snapshot's sample visits instead of every row (see _add_merged)
        self._full = 0  # the last sample of every row
        self._chain = False  # samples of merged snapshots followed it
        self._ringed: set[Key] = set()  # rows with a ring
        self._absent: list[Key] = []  # rows absent from that sample, not dropped yet
        self._phases: list[list[Key]] | None = None  # the rows per compaction slot

    # ------------------------------------------------------------------ feeding

    def track(self, keys: Collection[Key] | None) -> None:
        """Limit the history to ``keys`` from the next snapshot on (None: every row)."""
        self._track = None if keys is None else frozenset(keys)
        self._taken_at = None  # the next snapshot is read row by row

    def add(self, snapshot: Snapshot, rates: Mapping[Key, Rates] | None = None) -> None:
        """Record one sample per row of ``snapshot``.

        ``rates`` is :func:`console.haproxy.model.rates` between the previous snapshot and
        this one (None or empty for the first snapshot: the rate metrics get a gap).

        A row held by the snapshot (not read again by a partial poll) keeps its last
        rates. A snapshot merged from the last one added has the same rows, and those
        it did not read again are that snapshot's own: only its fresh rows are read,
        and of the others only those with a ring to write or a compaction due.
        """
        rates = rates or {}
        if snapshot.merged_after(self._taken_at) and snapshot.fresh is not None:
            fresh = set(snapshot.fresh)
            if all(key in fresh for key in rates):  # (a held row has no rate)
                self._add_merged(snapshot, rates)
                self._taken_at = snapshot.taken_at
                return
        self._add_rows(snapshot.rows, rates, snapshot.wall_time, snapshot.held)
        self._taken_at = snapshot.taken_at

    def _add_rows(self, rows: Iterable[Row], rates: Mapping[Key, Rates],
                  wall_time: float, held: Mapping[Key, float]) -> None:
        """Sample ``n``: every row of a snapshot."""
        n = self._count
        size = self.maxlen
        slot = n % size
        self._times[slot] = wall_time
        entries = self._entries
        if self._chain:  # the rows present at the last sample were read at n - 1
            full = self._full
            for present in entries.values():
                if present.last >= full:
                    present.last = n - 1
        self._full, self._chain, self._phases, self._absent = n, False, None, []
        track = self._track
        touched = 0
        sample = self._sample
        for row in rows:
            key = row.key
            if track is not None and key not in track:
                continue
            entry = entries.get(key)
            if entry is None:
                entry = entries[key] = _Entry(key, n, n, _GAP, hash(key) % size)
                touched += 1
            else:
                if entry.last != n:  # (a row listed twice is counted once)
                    touched += 1
                entry.last = n
            rate = rates.get(key)
            sample(entry, row, rate, n, slot, rate is None and key in held)
        if touched != len(entries):  # some rows are absent (or not tracked) this time
            self._sweep(n, slot)
        self._count = n + 1

    def _add_merged(self, snapshot: Snapshot, rates: Mapping[Key, Rates]) -> None:
        """Sample ``n`` of a snapshot merged from the last one added (see :meth:`add`):
        the same as :meth:`_add_rows`, row for row, visiting only the fresh rows, the
        rows with a ring, those whose compaction is due and the absent ones.

        Since the last sample of every row (``_full``), the rows of the snapshots are
        the same: a row is present when its ``last`` is that sample or later (a held
        row's is not moved on: :meth:`_add_rows` does it, after a chain)."""
        n = self._count
        size = self.maxlen
        slot = n % size
        self._times[slot] = snapshot.wall_time
        entries = self._entries
        track = self._track
        sample = self._sample
        index = snapshot._index
        full = self._full
        entry: _Entry | None
        phases = self._phases
        if phases is None:
            phases = self._phases = [[] for _ in range(size)]
            for key, entry in entries.items():
                phases[entry.phase].append(key)
        self._chain = True
        for key in snapshot.fresh or ():
            if track is not None and key not in track:
                continue
            entry = entries.get(key)
            if entry is None:  # (not tracked until now: absent from the last sample)
                entry = entries[key] = _Entry(key, n, n, _GAP, hash(key) % size)
                phases[entry.phase].append(key)
            entry.last = n
            sample(entry, index[key], rates.get(key), n, slot, False)
        # held rows, the same row and the same rates: a ring gets the sample again
        ringed = self._ringed
        for key in list(ringed):
            entry = entries.get(key)
            if entry is None or entry.rings is None:
                ringed.discard(key)
                continue
            if entry.last == n or entry.last < full:  # read again, or absent
                continue
            row = index.get(key)
            if row is not None:
                sample(entry, row, None, n, slot, True)
        # and a log is trimmed at its row's own slot
        bucket = phases[slot]
        if bucket:
            kept: list[Key] = []
            for key in bucket:
                entry = entries.get(key)
                if entry is None or entry.key is not key:
                    continue  # dropped
                kept.append(key)
                if entry.last == n or entry.last < full or entry.rings is not None:
                    continue  # read again, absent, or sampled above
                if entry.log is not None:
                    self._compact(entry, n)
            phases[slot] = kept
        if self._absent:  # absent from the last sample too (see _sweep)
            still: list[Key] = []
            for key in self._absent:
                entry = entries.get(key)
                if entry is None or entry.last >= full:
                    continue
                if n - entry.last >= self.drop_after:
                    del entries[key]
                    ringed.discard(key)
                    continue
                still.append(key)
                self._gap(entry, n, slot)
            self._absent = still
        self._count = n + 1

    def _sample(self, entry: _Entry, row: Row, rate: Rates | None, n: int,
                slot: int, held: bool) -> None:
        """Sample ``n`` of a row present in it (``held``: its last rates again)."""
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
        if held:
            req_tot, hrsp_5xx = entry.req_tot, entry.hrsp_5xx
        elif rate is None:
            req_tot = hrsp_5xx = None
        else:
            req_tot, hrsp_5xx = rate.req_tot, rate.hrsp_5xx
        if slot == entry.phase and (entry.log is not None or entry.rings is not None):
            self._compact(entry, n)
        rings = entry.rings
        if rings is None and not fresh and req_tot == entry.req_tot and \
                hrsp_5xx == entry.hrsp_5xx:
            return  # the same sample as the last one, and no ring to write
        entry.req_tot, entry.hrsp_5xx = req_tot, hrsp_5xx
        req_v = entry.req
        nan = _NAN
        if req_v is None:  # no req_rate column: the rate of req_tot
            req_v = nan if req_tot is None else req_tot
        values = (req_v, entry.scur, nan if hrsp_5xx is None else hrsp_5xx, entry.qcur)
        if rings is not None or values != entry.now:
            if entry.first == n:  # its first sample: the window holds only these
                entry.now = values
            else:
                self._write(entry, values, n, slot)

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
            self._ringed.add(entry.key)
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
            self._ringed.discard(entry.key)

    def _sweep(self, n: int, slot: int) -> None:
        """Gaps for rows absent from snapshot ``n``; drop those absent long enough."""
        gone: list[Key] = []
        for key, entry in self._entries.items():
            if entry.last == n:
                continue
            if n - entry.last >= self.drop_after:
                gone.append(key)
                continue
            self._gap(entry, n, slot)
            self._absent.append(key)
        for key in gone:
            del self._entries[key]
            self._ringed.discard(key)

    def _gap(self, entry: _Entry, n: int, slot: int) -> None:
        """Sample ``n`` of a row absent from it: a gap."""
        if slot == entry.phase and (entry.log is not None or entry.rings is not None):
            self._compact(entry, n)
        entry.content = None  # the next sample is read afresh
        if entry.rings is not None or entry.now != _GAP:
            self._write(entry, _GAP, n, slot)

    def clear(self) -> None:
        self._entries.clear()
        self._count = 0
        self._taken_at = None
        self._full, self._chain, self._phases, self._absent = 0, False, None, []
        self._ringed.clear()

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
