"""Recent health-check results per server, for the detail pane's strip ``✓✓✗✗✓``.

HAProxy tells, at each refresh, the last check's result (``check_status``) and how many
checks failed since it started (``chkfail``). One mark per refresh says what happened
since the one before: ``✗`` when a check failed meanwhile (``chkfail`` grew) or the last
result is a failure, ``✓`` when checks pass. So the strip is per refresh, not per check:
two failures between two refreshes make one ``✗`` whose ``failed`` says 2.

Memory stays small with many servers: a steady server keeps one run (its first and last
time and a count), a new run starts only when the result changes; at most ``keep`` marks
are remembered per server.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from console.haproxy.model import Row, Snapshot

Key = tuple[str, str]
OK_CHECKS = frozenset({"L4OK", "L6OK", "L7OK", "L7OKC"})
PASS, FAIL = "✓", "✗"


@dataclass
class Run:
    """Consecutive refreshes with the same mark."""

    mark: str  # PASS or FAIL
    first: float
    last: float
    count: int = 1
    status: str = ""  # the check_status of the last refresh of the run
    failed: int = 0  # checks failed during the run (chkfail grew by that much)


class CheckLog:
    def __init__(self, keep: int = 40) -> None:
        self.keep = keep
        self._runs: dict[Key, deque[Run]] = {}
        self._total: dict[Key, int] = {}  # marks kept per server (the runs' counts)
        self._chkfail: dict[Key, int] = {}
        # a row's content (shared by the snapshots while it does not change) and its mark
        # without a new failure: an unchanged row is not read again
        self._seen: dict[Key, tuple[object, str, str]] = {}
        # servers a partial poll did not read again: their marks since the refresh
        # ``tick`` (the first at ``first``, None: its run is already that mark's) are
        # their steady mark, added when they are read or asked for (_settle)
        self._pending: dict[Key, tuple[int, float | None]] = {}
        self._ticks = 0  # refreshes observed
        self._now = 0.0  # the time of the last one
        self._taken_at: float | None = None  # the monotonic time of its snapshot
        self._read: list[Key] = []  # the servers it read

    def observe(self, snapshot: Snapshot, now: float) -> None:
        """One mark per checked server of *snapshot*, taken at *now*.

        Of a snapshot merged from the last one observed (a partial poll), only the
        servers read again are read: the others are that snapshot's own rows, whose
        mark is the one they had again (added when the server is read or asked for:
        :meth:`_settle`)."""
        tick, before = self._ticks + 1, self._now
        rows: list[Row] | None = None
        held: list[Key] = []
        if snapshot.merged_after(self._taken_at) and snapshot.fresh is not None:
            index = snapshot._index
            rows = [row for row in (index[key] for key in snapshot.fresh)
                    if row.type == "server"]
            read = {row.key for row in rows}
            for key in self._read:  # read the last time, not this time
                if key in read or key not in self._runs:
                    continue
                known, row = self._seen.get(key), index.get(key)
                if known is None or row is None or row.content is None or \
                        row.content is not known[0]:
                    rows = None  # (not that snapshot's own row): read every row
                    break
                held.append(key)
        pending = self._pending
        if rows is None:
            rows = [row for row in snapshot.rows if row.type == "server"]
            for key in list(pending):
                self._settle(key, tick - 1, before, again=False)
            merged = False
        else:
            start = (tick, now)  # (one tuple for them all)
            for key in held:
                pending[key] = start
            merged = True
        self._ticks, self._now, self._taken_at = tick, now, snapshot.taken_at
        seen: set[Key] = set()
        for row in rows:
            key, content = row.key, row.content
            if key in pending:
                self._settle(key, tick - 1, before, again=False)
            known = self._seen.get(key)
            if content is not None and known is not None and known[0] is content:
                seen.add(key)  # same checks, same failures as at the last refresh
                self._add(key, known[1], known[2], 0, now)
                continue
            status = row.check_status
            if not status or status == "INI":
                continue
            seen.add(key)
            fails = row.num("chkfail")
            before_fails = self._chkfail.get(key)
            if fails is not None:
                self._chkfail[key] = fails
            new = fails - before_fails if fails is not None and before_fails is not None \
                and fails >= before_fails else 0
            steady = PASS if status.lstrip("* ") in OK_CHECKS else FAIL
            if content is not None:
                self._seen[key] = (content, steady, status)
            self._add(key, FAIL if new > 0 else steady, status, new, now)
        self._read = [row.key for row in rows]
        # gone, or its checks were turned off (a held server has its mark again)
        gone = [k for k in (self._read if merged else self._runs)
                if k not in seen and k in self._runs]
        for key in gone:
            del self._runs[key]
            self._total.pop(key, None)
            self._chkfail.pop(key, None)
            self._seen.pop(key, None)

    def _settle(self, key: Key, upto: int, at: float, *, again: bool) -> None:
        """Add the marks of a pending server (see :attr:`_pending`) up to the refresh
        ``upto``, taken at ``at``; ``again``: it stays pending after it."""
        start, first = self._pending.pop(key)
        count = upto - start + 1
        if count > 0:
            _, mark, status = self._seen[key]
            self._add(key, mark, status, 0, at if first is None else first, count=count,
                      last=at)
        if again:
            self._pending[key] = (upto + 1, None)

    def _add(self, key: Key, mark: str, status: str, new: int, now: float, *,
             count: int = 1, last: float | None = None) -> None:
        """``count`` marks, the first at ``now`` (the last at ``last``, default ``now``)."""
        end = now if last is None else last
        runs = self._runs.setdefault(key, deque())
        if runs and runs[-1].mark == mark:
            run = runs[-1]
            run.last, run.count, run.status = end, run.count + count, status
            run.failed += new
        else:
            runs.append(Run(mark, now, end, count, status, new))
        total = self._total.get(key, 0) + count
        while total > self.keep:
            extra = total - self.keep
            if runs[0].count > extra:
                runs[0].count -= extra
                total = self.keep
            else:
                total -= runs.popleft().count
        self._total[key] = total

    def _asked(self, key: Key) -> deque[Run]:
        """The runs of ``key``, its pending marks added (it stays pending)."""
        if key in self._pending:
            self._settle(key, self._ticks, self._now, again=True)
        return self._runs.get(key, deque())

    def runs(self, key: Key) -> list[Run]:
        return list(self._asked(key))

    def strip(self, key: Key, width: int) -> str:
        """The newest *width* marks, oldest first."""
        marks = "".join(r.mark * r.count for r in self._asked(key))
        return marks[-width:] if width > 0 else ""

    def clear(self) -> None:
        for kept in (self._runs, self._total, self._chkfail, self._seen, self._pending):
            kept.clear()
        self._read, self._taken_at = [], None

    def __len__(self) -> int:
        return len(self._runs)
