"""Bounded-memory counters for log summaries: timer distributions and top keys.

:class:`TimerSketch` counts integer timer values (ms). It stays **exact** (one counter
per distinct value, as ``halog -pct`` keeps them) up to *max_exact* distinct values;
past that it folds every value into a logarithmic bucket that keeps the
:data:`SIGNIFICANT_BITS` high bits of the value (what ``halog`` does with 4 bits for
its graphs), so memory stays under ~32 × :data:`SIGNIFICANT_BITS` ... a few thousand
counters whatever the input, and a quantile is off by less than 1/2^(bits-1) of its
value (``relative_error``). :attr:`TimerSketch.exact` says which mode it is in.

Quantiles:

* :meth:`TimerSketch.quantile` (nearest rank): the smallest value v such that at
  least ``ceil(q × n)`` values are ≤ v;
* :meth:`TimerSketch.halog_quantile`: ``halog -pct``'s rule, the smallest v with at
  least ``floor(n × q)`` values ≤ v (the first value when that is 0), where the
  caller passes halog's ``n`` (the count of lines without a negative timer).

:class:`TopK` keeps the heaviest keys of an unbounded stream (paths, clients) in at
most *capacity* entries: when full it drops the lighter half (lossy counting), and
remembers the heaviest weight it ever dropped (:attr:`TopK.error`): a key's count
may be low by at most that much.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

SIGNIFICANT_BITS = 7


def quantize(value: int, bits: int = SIGNIFICANT_BITS) -> int:
    """*value* with only its *bits* high bits kept (sign kept), like halog's quantify()."""
    if value < 0:
        return -quantize(-value, bits)
    high = value.bit_length()
    if high <= bits:
        return value
    return value & ~((1 << (high - bits)) - 1)


class TimerSketch:
    """Counts of integer values (see the module docstring)."""

    __slots__ = ("counts", "n", "max_exact", "exact", "total", "_sorted")

    def __init__(self, max_exact: int = 4096) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0
        self.max_exact = max_exact
        self.exact = True
        self._sorted: list[tuple[int, int]] | None = None

    def add(self, value: int, count: int = 1) -> None:
        counts = self.counts
        if self.exact:
            c = counts.get(value)
            if c is not None:
                counts[value] = c + count
            else:
                counts[value] = count
                if len(counts) > self.max_exact:
                    self._fold()
        else:
            value = quantize(value)
            counts[value] = counts.get(value, 0) + count
        self.n += count
        self.total += value * count
        self._sorted = None

    def _fold(self) -> None:
        folded: dict[int, int] = {}
        for v, c in self.counts.items():
            q = quantize(v)
            folded[q] = folded.get(q, 0) + c
        self.counts = folded
        self.exact = False

    def merge(self, other: TimerSketch) -> None:
        for v, c in other.counts.items():
            self.add(v, c)
        if not other.exact and self.exact:
            self._fold()

    def state(self) -> list[Any]:
        """What a recording keeps: ``[exact, v1, c1, v2, c2, ...]``."""
        out: list[Any] = [self.exact]
        for v, c in self.counts.items():
            out += (v, c)
        return out

    @classmethod
    def from_state(cls, state: object) -> TimerSketch:
        """:meth:`state` read back; ValueError when it is not one (a hostile file)."""
        if not isinstance(state, list) or not state or not isinstance(state[0], bool) or \
                len(state) % 2 != 1 or len(state) > 2 * 65536 + 1:
            raise ValueError("not a timer sketch")
        out = cls()
        out.exact = state[0]
        for i in range(1, len(state), 2):
            v, c = state[i], state[i + 1]
            if not (v.__class__ is int and c.__class__ is int and v >= 0 and c > 0):
                raise ValueError("not a timer sketch")
            out.counts[v] = out.counts.get(v, 0) + c
            out.n += c
            out.total += v * c
        if out.exact and len(out.counts) > out.max_exact:
            out._fold()
        return out

    @property
    def relative_error(self) -> float:
        return 0.0 if self.exact else 1.0 / (1 << (SIGNIFICANT_BITS - 1))

    def _items(self) -> list[tuple[int, int]]:
        if self._sorted is None:
            self._sorted = sorted(self.counts.items())
        return self._sorted

    def _first_at(self, threshold: int) -> int | None:
        items = self._items()
        if not items:
            return None
        cum = 0
        for v, c in items:
            cum += c
            if cum >= threshold:
                return v
        return items[-1][0]

    def quantile(self, q: float) -> int | None:
        """Nearest-rank quantile, None when empty."""
        if not self.n:
            return None
        return self._first_at(max(1, math.ceil(q * self.n)))

    def halog_quantile(self, q: float, n: int | None = None) -> int | None:
        """``halog -pct``'s value for fraction *q* (0..1) with halog's count *n*."""
        if not self.n:
            return None
        total = self.n if n is None else n
        return self._first_at(int(total * q))

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


K = TypeVar("K")
V = TypeVar("V")


class TopK(Generic[K, V]):
    """Per-key values for the heaviest keys only (see the module docstring).

    *factory* makes the value of a new key; *weight* says how heavy a value is.
    """

    def __init__(self, capacity: int, factory: Callable[[], V],
                 weight: Callable[[V], int],
                 on_drop: Callable[[list[tuple[K, V]]], None] | None = None) -> None:
        self.capacity = max(2, capacity)
        self.factory = factory
        self.weight = weight
        self.on_drop = on_drop  # told the keys dropped, with their values
        self.items: dict[K, V] = {}
        self.error = 0  # the heaviest weight ever dropped
        self.dropped = 0  # how many keys were dropped

    def get(self, key: K) -> V:
        items = self.items
        value = items.get(key)
        if value is None:
            if len(items) >= self.capacity:
                self._prune()
                items = self.items  # a new dict: the key goes into it, not the old one
            value = items[key] = self.factory()
        return value

    def _prune(self) -> None:
        ranked = sorted(self.items.items(), key=lambda kv: self.weight(kv[1]), reverse=True)
        keep = ranked[: self.capacity // 2]
        gone = ranked[self.capacity // 2:]
        if gone:
            self.error = max(self.error, self.weight(gone[0][1]))
            self.dropped += len(gone)
            if self.on_drop is not None:
                self.on_drop(gone)
        self.items = dict(keep)

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return iter(self.items.items())

    def __len__(self) -> int:
        return len(self.items)
