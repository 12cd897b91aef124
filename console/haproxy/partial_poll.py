"""Partial polls of a large instance: what is on screen every interval, the rest slower.

A full ``show stat`` of 10,000 servers costs HAProxy about 80 ms of CPU (measured on
2.6, from ``/proc``), taken from the threads that forward traffic, while about 35 rows
are on screen. For an instance of :data:`PARTIAL_FROM_ROWS` rows or more, a poll
asks instead for:

* ``show info`` (the worker's PID: a reload means a full dump);
* ``show stat -1 3 -1`` (the *sweep*): every frontend and backend row (a few ms). A
  backend row whose ``act``, ``bck``, ``weight``, ``uweight``, ``status`` or
  ``chkdown`` moved, or whose ``lastchg`` went back, says that one of its servers
  changed state: that backend's servers are read in the same poll (``show stat IID 4
  -1``). The sweep is most of a partial poll's cost, so it is made only as often as
  events within :data:`EVENT_WITHIN` seconds need: at most :data:`SWEEP_LATE` seconds
  apart. At a 1 s interval the polls come every 0.9 s (:func:`cadence`) and every
  other one sweeps;
* the proxies whose rows are on screen (``show stat IID -1 -1``; for a proxy of more
  than :data:`WHOLE_PROXY_ROWS` rows, only its servers on screen, ``IID 4 SID``);
* every :data:`FULL_EVERY` seconds (stretched to 100 times its own duration when a
  dump is slow), a full ``show stat`` that refreshes everything off screen.

Measured on the backend row (HAProxy 2.6 to 3.4): a server going from serving (UP,
no check) to not serving (DOWN, MAINT, DRAIN) or back moves ``act``/``bck`` and the
weights; a change between two states that do not serve (DOWN ↔ MAINT, DRAIN ↔ MAINT),
check progress (``UP ↓1/3``) and check results do not: off screen, those arrive with
the next full dump.

The console's first poll reads the sweep first: when its backends count
:data:`FIRST_LOOK_SERVERS` servers serving or more, those frontend and backend rows
are shown at once (a *first look*, :attr:`Snapshot.first_look`) and every server is
read by the next poll, which starts at once: the first data is on screen in the time
of the sweep, not of the full dump and its parse (about 7 s at 100,000 servers).

The answers are merged into the previous snapshot: rows not read again keep their
values and are listed in :attr:`Snapshot.held` with the time they were read, so rates
count over the time between two readings (and hold the last rate in between). Rows
that appeared or went (a server added or deleted at runtime), a proxy the sweep does
not know, an answer that does not fit: a full dump, in the same poll.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from console.haproxy.lines import split_lf
from console.haproxy.model import (
    ProcessInfo,
    Release,
    Row,
    Snapshot,
    SnapshotBuilder,
    same_content,
)

Key = tuple[str, str]

PARTIAL_FROM_ROWS = 800
"""Below this many rows the plain full poll is cheap enough (and simpler): kept. (At
900 servers a partial poll costs the console about half a full one's CPU; at 450 about
the same under churn.)"""
FULL_EVERY = 60.0
"""Seconds between two full dumps (everything off screen is at most this old)..."""
FULL_SHARE = 0.01
"""...and a full dump takes at most this share of the time (stretched when slow)."""
MOST_MOVED = 0.5
"""When the backends whose servers moved hold more than this share of the servers (a
site going down, a flapping network: thousands of backends at once), the poll is a
full dump."""
WHOLE_PROXY_ROWS = 64
"""A proxy of at most this many rows on screen is read whole, else row by row."""
SWEEP = "show stat -1 3 -1"
"""Every frontend and backend row (type mask 1 | 2), no server, no listener."""

EVENT_WITHIN = 2.0
"""A server off screen that starts or stops serving is an event within this many
seconds (at an interval shorter than it)..."""
SWEEP_LATE = 1.9
"""...so two sweeps are at most this far apart (the rest is the poll's own time)..."""
SWEEP_GAP = 1.8
"""...and planned this far apart (what is left is for polls that start late)."""

FIRST_LOOK_SERVERS = 20000
"""From this many servers serving (the backends' ``act`` + ``bck`` in the sweep), the
first poll shows the sweep's frontends and backends at once (a *first look*) and reads
every server in the next poll: the full dump of 100,000 servers takes HAProxy about a
second and the console several more to parse and count."""

SIGNAL_FIELDS = ("status", "act", "bck", "weight", "uweight", "chkdown")
"""Backend columns that move when one of its servers starts or stops serving."""


def servers_moved(old: Row | None, new: Row, elapsed: float) -> bool:
    """True when the backend row ``new`` says one of its servers changed state since
    ``old`` (read ``elapsed`` seconds before): a :data:`SIGNAL_FIELDS` column moved, or
    ``lastchg`` advanced less than the time did (the backend changed state)."""
    if old is None:
        return True
    if same_content(old, new):
        return False
    if any(old.get(f) != new.get(f) for f in SIGNAL_FIELDS):
        return True
    before, after = old.num("lastchg"), new.num("lastchg")
    return before is not None and after is not None and after + 1.5 < before + elapsed


def serving_servers(sweep: Iterable[Row]) -> int:
    """The servers the sweep's backend rows count as serving (``act`` + ``bck``): a
    lower bound of the instance's servers (those down or in maintenance are not)."""
    total = 0
    for row in sweep:
        if row.type == "backend":
            for f in ("act", "bck"):
                value = _digits(row.get(f))
                total += int(value) if value is not None else 0
    return total


def cadence(interval: float) -> float:
    """Seconds from one partial poll's start to the next: the interval, except between
    ``SWEEP_GAP / 2`` and :data:`SWEEP_GAP` (1 s, say), where polls come every
    ``SWEEP_GAP / 2`` so that a sweep every other poll is enough: rows on screen are
    read more often than asked, HAProxy answers about half as much."""
    half = SWEEP_GAP / 2
    return half if half < interval < SWEEP_GAP else interval


def sweep_due(since: float, period: float | None) -> bool:
    """Whether this poll must sweep, ``since`` seconds after the last sweep, the next
    poll coming ``period`` seconds after this one (None: not known, sweep)."""
    return period is None or since + period > SWEEP_LATE


def _digits(value: str | None) -> str | None:
    """``value`` if it is a plain decimal number (an iid or sid to send), else None."""
    if value and value.isascii() and value.isdigit() and len(value) < 10:
        return value
    return None


@dataclass
class Plan:
    """The commands of one partial poll and the rows they must return."""

    commands: list[str] = field(default_factory=list)
    expected: set[Key] = field(default_factory=set)
    signalled: list[str] = field(default_factory=list)  # backends whose servers moved
    moved_rows: int = 0  # the servers of those backends
    servers: int = 0  # every server

    @property
    def most_moved(self) -> bool:
        """The backends signalled hold more than :data:`MOST_MOVED` of the servers: one
        full dump reads them in one command, rather than one command per backend."""
        return self.moved_rows > MOST_MOVED * self.servers


@dataclass(frozen=True)
class Layout:
    """The rows of a snapshot as :func:`plan` reads them (the keys and types do not
    change between two full dumps: a merge keeps them). It holds the rows' own key
    objects, no copy."""

    by_proxy: dict[str, list[Key]]  # each proxy's rows' keys, in order
    proxies: list[Key]  # the frontend and backend rows' keys, in order (repeats kept)
    others: frozenset[Key]  # the keys of the rows that are not servers
    iids: dict[str, str] | None  # each proxy's id; None: one is not a plain number
    # each row's place in the rows, for merge(); None when a key is listed twice
    positions: dict[Key, int] | None = None


def layout_of(snap: Snapshot) -> Layout:
    by_proxy: dict[str, list[Key]] = {}
    proxies: list[Key] = []
    others: set[Key] = set()
    iids: dict[str, str] | None = {}
    for row in snap.rows:
        kind = row.type
        if kind != "server":
            others.add(row.key)
        if kind in ("frontend", "backend"):
            proxies.append(row.key)
            iid = _digits(row.get("iid"))
            if iid is None or iids is None:
                iids = None
            else:
                iids[row.proxy] = iid
        by_proxy.setdefault(row.proxy, []).append(row.key)
    positions: dict[Key, int] | None = {row.key: n for n, row in enumerate(snap.rows)}
    if positions is not None and len(positions) != len(snap.rows):
        positions = None
    return Layout(by_proxy, proxies, frozenset(others), iids, positions)


def plan(prev: Snapshot, sweep: tuple[Row, ...] | None, shown: Collection[Key],
         elapsed: float, layout: Layout | None = None) -> Plan | None:
    """What to read after the sweep, or None when a full dump is needed (the sweep's
    frontends and backends are not those of ``prev``, or an id is not a number).

    ``sweep``: its rows, or None for a poll without one (the ids are then those of
    ``prev``). ``shown``: the keys of the rows on screen. ``elapsed``: seconds since
    ``prev``. ``layout``: ``prev``'s (:func:`layout_of`), when known.
    """
    if layout is None:
        layout = layout_of(prev)
    out = Plan()
    iids = layout.iids  # (the ids of the proxies do not change until a reload)
    if iids is None:
        return None
    if sweep is not None:
        out.expected.update(row.key for row in sweep)
        if len(out.expected) != len(sweep) or len(out.expected) != len(layout.proxies) \
                or any(key not in out.expected for key in layout.proxies):
            return None  # a proxy gone or added
    by_proxy = layout.by_proxy
    shown_by: dict[str, list[Key]] = {}
    for key in dict.fromkeys(shown):  # (the cursor is on screen too)
        if prev.get(*key) is not None:
            shown_by.setdefault(key[0], []).append(key)
    for proxy, keys in shown_by.items():
        rows = by_proxy.get(proxy, [])
        iid = iids.get(proxy)
        if iid is None:
            return None
        if len(rows) <= WHOLE_PROXY_ROWS:
            out.commands.append(f"show stat {iid} -1 -1")
            out.expected.update(rows)
            continue
        for key in keys:
            one = prev.get(*key)
            if one is None or one.type != "server":
                continue  # frontends and backends come with the sweep
            sid = _digits(one.get("sid"))
            if sid is None:
                return None
            out.commands.append(f"show stat {iid} 4 {sid}")
            out.expected.add(key)
    whole = {proxy for proxy in shown_by if len(by_proxy.get(proxy, ())) <= WHOLE_PROXY_ROWS}
    for row in sweep or ():
        if row.type != "backend" or row.proxy in whole:
            continue
        if servers_moved(prev.get(row.proxy, row.name), row, elapsed):
            out.signalled.append(row.proxy)
            out.commands.append(f"show stat {iids[row.proxy]} 4 -1")
            others = layout.others
            servers = [key for key in by_proxy.get(row.proxy, ()) if key not in others]
            out.expected.update(servers)
            out.moved_rows += len(servers)
    out.servers = len(layout.positions or prev._index) - len(layout.others)
    return out


def joined(texts: Iterable[str]) -> str | None:
    """Several ``show stat`` answers as one (one header, every row), or None when
    one is not a ``show stat`` answer (``No such proxy.``) or their headers differ."""
    header: str | None = None
    body: list[str] = []
    for text in texts:
        lines = split_lf(text)
        if not lines or not lines[0].startswith("# "):
            return None
        if header is None:
            header = lines[0]
        elif lines[0] != header:
            return None
        body.extend(line for line in lines[1:] if line)
    if header is None:
        return None
    return "\n".join([header, *body]) + "\n"


def merge(prev: Snapshot, fresh: Iterable[Row], expected: Collection[Key], *,
          info: ProcessInfo | None, taken_at: float, wall_time: float,
          positions: Mapping[Key, int] | None = None) -> Snapshot | None:
    """``prev`` with the ``fresh`` rows in place of its own (the later of two rows with
    one key wins); the others held, with the time they were read. None when the fresh
    rows are not exactly the ``expected`` keys (rows added or gone: a full dump).
    Beyond the fresh rows, the work is that of copying two dicts and a list.

    ``positions``: each key's place in ``prev``'s rows (:attr:`Layout.positions`), to
    put the fresh rows in place without reading every row."""
    new: dict[Key, Row] = {}
    for row in fresh:
        new[row.key] = row
    if len(new) != len(expected) or any(k not in new for k in expected):
        return None
    rows_of = prev._index
    if any(k not in rows_of for k in new):
        return None
    at = prev.taken_at
    held_before = prev.held
    if prev.fresh is not None:  # held: what prev held, and what it read but this did not
        held = dict(held_before)
        for key in prev.fresh:
            if key not in new:
                held[key] = at
    else:
        held = {key: held_before.get(key, at) for key in rows_of if key not in new}
    for key in new:
        held.pop(key, None)
    index = dict(rows_of)
    index.update(new)
    before = prev.rows
    if positions is not None and _placed(before, positions, new):
        listed = list(before)
        for key, row in new.items():
            listed[positions[key]] = row
        rows = tuple(listed)
        order = tuple(sorted(new, key=positions.__getitem__))
    else:
        get = new.get
        rows = tuple([get(r.key, r) for r in before])  # (a key listed twice: each place)
        order = tuple(dict.fromkeys(r.key for r in rows if r.key in new))
    # the rows of each type prev worked out: the same places (a merge keeps each key)
    types = {kind: tuple([index[r.key] for r in found])
             for kind, found in prev._types.items()}
    return Snapshot(taken_at, wall_time, info, rows, held, fresh=order, base_at=at,
                    _index=index, _types=types)


def _placed(rows: tuple[Row, ...], positions: Mapping[Key, int], keys: Iterable[Key]
            ) -> bool:
    """``positions`` are those of ``rows``, for ``keys`` at least."""
    if len(positions) != len(rows):
        return False
    for key in keys:
        at = positions.get(key)
        if at is None or rows[at].key != key:
            return False
    return True


class PartialState:
    """What the partial polls of one instance remember between polls: the builders of
    their answers (rows reused from one poll to the next), when the last full dump
    was and how long it took."""

    def __init__(self, *, from_rows: int | None = None,
                 full_every: float | None = None, release: Release | None = None) -> None:
        self.from_rows = PARTIAL_FROM_ROWS if from_rows is None else from_rows
        self.full_every = FULL_EVERY if full_every is None else full_every
        self.last: Snapshot | None = None
        self.full_at = -math.inf  # monotonic start of the last full dump
        self.full_took = 0.0
        self.swept_at = -math.inf  # start of the last poll that read every proxy row
        self.sweeps = 0
        self.sweep = SnapshotBuilder(release)
        self.shown = SnapshotBuilder(release)
        self.partial_polls = 0
        self.full_polls = 0
        self.reason = ""  # why the last full dump was made
        self.layout: Layout | None = None  # the same dump's, for plan()

    def wanted(self) -> bool:
        """The instance is large enough for partial polls."""
        return self.last is not None and len(self.last.rows) >= self.from_rows

    def full_due(self, now: float, pid: int | None) -> str | None:
        """Why this poll must be a full dump (None: a partial poll will do)."""
        last = self.last
        if last is None:
            return "first poll"
        if pid is not None and last.info is not None and last.info.pid != pid:
            return "new worker (reload)"
        if now - self.full_at >= max(self.full_every, self.full_took / FULL_SHARE):
            return "periodic"
        return None

    def after_full(self, snap: Snapshot, started: float, took: float, reason: str) -> None:
        self.last, self.full_at, self.full_took = snap, started, took
        self.layout = layout_of(snap) if self.wanted() else None
        self.swept_at = started
        self.full_polls += 1
        self.reason = reason

    def after_partial(self, snap: Snapshot) -> None:
        self.last = snap
        self.partial_polls += 1
