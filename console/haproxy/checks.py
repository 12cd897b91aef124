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

from console.haproxy.model import Snapshot

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

    def observe(self, snapshot: Snapshot, now: float) -> None:
        """One mark per checked server of *snapshot*, taken at *now*."""
        seen: set[Key] = set()
        for row in snapshot.rows:
            if row.type != "server":
                continue
            key, content = row.key, row.content
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
            before = self._chkfail.get(key)
            if fails is not None:
                self._chkfail[key] = fails
            new = fails - before if fails is not None and before is not None \
                and fails >= before else 0
            steady = PASS if status.lstrip("* ") in OK_CHECKS else FAIL
            if content is not None:
                self._seen[key] = (content, steady, status)
            self._add(key, FAIL if new > 0 else steady, status, new, now)
        for key in [k for k in self._runs if k not in seen]:
            del self._runs[key]  # gone, or its checks were turned off
            self._total.pop(key, None)
            self._chkfail.pop(key, None)
            self._seen.pop(key, None)

    def _add(self, key: Key, mark: str, status: str, new: int, now: float) -> None:
        runs = self._runs.setdefault(key, deque())
        if runs and runs[-1].mark == mark:
            last = runs[-1]
            last.last, last.count, last.status = now, last.count + 1, status
            last.failed += new
        else:
            runs.append(Run(mark, now, now, 1, status, new))
        total = self._total.get(key, 0) + 1
        while total > self.keep:
            extra = total - self.keep
            if runs[0].count > extra:
                runs[0].count -= extra
                total = self.keep
            else:
                total -= runs.popleft().count
        self._total[key] = total

    def runs(self, key: Key) -> list[Run]:
        return list(self._runs.get(key, ()))

    def strip(self, key: Key, width: int) -> str:
        """The newest *width* marks, oldest first."""
        marks = "".join(r.mark * r.count for r in self._runs.get(key, ()))
        return marks[-width:] if width > 0 else ""

    def clear(self) -> None:
        for kept in (self._runs, self._total, self._chkfail, self._seen):
            kept.clear()

    def __len__(self) -> int:
        return len(self._runs)
