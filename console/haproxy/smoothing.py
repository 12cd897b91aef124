"""Rates smoothed over a window, so ``5xx/s`` does not flicker 0 ↔ 0.5 between refreshes.

Rates between two consecutive refreshes jump with every odd request. The table shows
rates between the newest snapshot and one about ``window`` seconds older instead. Only
a few snapshots are kept (one per quarter window), not one per refresh, and of each only
its :class:`~console.haproxy.model.Counters` (a few counters per row, not the rows):
memory stays small whatever the interval and the number of servers, and a refresh
computes rates once, as before. Until ``window`` seconds have passed, the oldest
snapshot kept is used. When the totals went down (a reload, ``clear counters
all``) the window starts again from that snapshot, and the refresh's own rates are
shown meanwhile.

A row a partial poll did not read again (:attr:`Snapshot.held`) has no new rate: it
keeps the last one shown, rather than a 0 that would say its traffic stopped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from console.haproxy.model import (
    Counted,
    Counters,
    Rates,
    Row,
    Snapshot,
    rate_counters,
    rates,
)

DEFAULT_WINDOW = 30.0  # seconds


class RateWindow:
    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        self.window = window
        self._kept: deque[Counters] = deque()
        self._last: dict[tuple[str, str], Rates] = {}
        # the base of the last rates, and the time of the snapshot they are of
        self._base: Counters | None = None
        self._taken_at: float | None = None
        # the counters of the last snapshot added, while they were kept up to date
        # from a kept snapshot's by the fresh rows of merged ones (None: not known)
        self._counts: dict[tuple[str, str], Counted] | None = None

    def base_for(self, snap: Snapshot) -> Counters | None:
        """The kept counters :meth:`add` takes the rates of *snap* against, unless the
        counters were reset (nothing is changed): a caller may work out
        ``rates(base, snap)`` beforehand, off the event loop, and give them to
        :meth:`add`. (The kept counters are never changed in place.)"""
        kept, window, first = self._kept, self.window, 0
        while len(kept) - first > 1 and snap.taken_at - kept[first + 1].taken_at >= window:
            first += 1
        return kept[first] if kept else None

    def add(self, snap: Snapshot, instant: dict[tuple[str, str], Rates],
            against: tuple[Counters, dict[tuple[str, str], Rates]] | None = None
            ) -> dict[tuple[str, str], Rates]:
        """The rates of *snap* against the newest kept snapshot at least ``window`` old
        (else the oldest kept); then *snap* is kept if a quarter window passed since the
        last one kept. *instant*: the rates since the refresh before, used when the
        counters were reset. *against*: a base (:meth:`base_for`) and the rates of
        every row of *snap* against it, used when the base is that one."""
        kept = self._kept
        # merged from the last snapshot added: the rows not read again are its own
        merged = snap.merged_after(self._taken_at)
        counts = self._counts if merged else None
        if counts is not None:
            for row in snap.fresh_rows():
                counts[row.key] = rate_counters(row)
        self._counts = counts
        if kept and _reset(kept[-1], snap.fresh_rows() if merged else snap.rows):
            kept.clear()
            self._keep(snap)
            self._base, self._taken_at = None, snap.taken_at
            return self._hold(snap, instant)
        while len(kept) > 1 and snap.taken_at - kept[1].taken_at >= self.window:
            kept.popleft()
        base = kept[0] if kept else None
        if base is None:
            shown = self._hold(snap, {})
        elif merged and base is self._base and snap.fresh is not None:
            # against the same base, a row not read again has the rates it had (same
            # row, same reading time): only the fresh rows are worked out, and what
            # _hold would keep for the held rows is what was shown for them last time
            # (what was shown for a row is its rates against the base when it had
            # some, else the ones _hold kept: _hold would keep the same)
            fresh = rates(base, snap, snap.fresh_rows())
            shown = dict(self._last)
            for key in snap.fresh:
                shown.pop(key, None)
            shown.update(fresh)
            self._last = shown
        elif against is not None and against[0] is base:
            shown = self._hold(snap, against[1])
        else:
            shown = self._hold(snap, rates(base, snap))
        self._base, self._taken_at = base, snap.taken_at
        if not kept or snap.taken_at - kept[-1].taken_at >= self.window / 4:
            self._keep(snap)
        return shown

    def _keep(self, snap: Snapshot) -> None:
        """Keep the counters of *snap*, the last snapshot added."""
        counts = self._counts
        if counts is None:
            found = Counters(snap)
            self._counts = dict(found._index)
        else:
            found = Counters(snap, dict(counts))
        self._kept.append(found)

    def _hold(self, snap: Snapshot, out: dict[tuple[str, str], Rates]
              ) -> dict[tuple[str, str], Rates]:
        """``out``, with the last rates of the held rows it has none for."""
        if snap.held:
            last = self._last
            kept = {key: last[key] for key in snap.held if key not in out and key in last}
            if kept:
                out = {**out, **kept}
        self._last = out
        return out

    @property
    def span(self) -> float:
        """Seconds between the oldest and the newest snapshot kept."""
        return self._kept[-1].taken_at - self._kept[0].taken_at if len(self._kept) > 1 \
            else 0.0

    def clear(self) -> None:
        self._kept.clear()
        self._last, self._base, self._taken_at, self._counts = {}, None, None, None


def _reset(before: Counters, rows: Iterable[Row]) -> bool:
    """The sessions total of a frontend or backend of *rows* went down: counters were
    reset. (Of a snapshot merged from the last one, its fresh rows are enough: the
    others were compared with ``before`` or are its own.)"""
    for row in rows:
        if row.type not in ("frontend", "backend"):
            continue
        old = before.get(row.proxy, row.name)
        if old is None or old is rate_counters(row):  # gone, or the same counters
            continue
        now, then = row.num("stot"), before.num(row.proxy, row.name, "stot")
        if now is not None and then is not None and now < then:
            return True
    return False
