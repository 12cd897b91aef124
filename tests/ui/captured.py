"""A snapshot source that replays captured real HAProxy output (for UI tests).

UI rendering tests use it so their screenshots are stable; every test that
claims HAProxy behaviour runs against a real HAProxy instead.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from console.haproxy.model import Row, Snapshot
from console.haproxy.parsers import parse_stat
from console.instance import Target

DATA = Path(__file__).resolve().parents[1] / "data" / "captured"
T0 = 1_790_000_000.0  # a fixed wall clock for stable screenshots
os.environ["TZ"] = "UTC"  # event times are shown in local time
time.tzset()


class CapturedSource:
    """Returns the captured ``show info`` + ``show stat`` with a steady clock.

    ``edit(key, **fields)`` changes fields of one row from the next poll on, so a
    test can make a server go DOWN or counters move.
    """

    where = "captured"

    def __init__(self, version: str = "2.8", interval: float = 2.0) -> None:
        self.info_text = (DATA / version / "show_info.txt").read_text()
        self.rows = parse_stat((DATA / version / "show_stat.txt").read_text())
        self.interval = interval
        self.polls = 0
        self.fail_with: Exception | None = None

    def edit(self, proxy: str, name: str, **fields: str) -> None:
        for row in self.rows:
            if row["pxname"] == proxy and row["svname"] == name:
                row.update(fields)
                return
        raise KeyError((proxy, name))

    async def fetch(self) -> Snapshot:
        if self.fail_with is not None:
            raise self.fail_with
        t = self.polls * self.interval
        self.polls += 1
        from console.haproxy.model import ProcessInfo
        from console.haproxy.parsers import parse_info

        return Snapshot(taken_at=1000.0 + t, wall_time=T0 + t,
                        info=ProcessInfo.from_info(parse_info(self.info_text)),
                        rows=tuple(Row.from_fields(dict(r)) for r in self.rows))


def first_up(snapshot: Snapshot) -> Row:
    """The first server that is plainly UP (not in a check transition)."""
    return next(r for r in snapshot.servers if r.status.kind == "UP"
                and not r.status.check_progress)


def target(name: str = "edge") -> Target:
    return Target(name=name, socket=None, url=None, interval=3600.0)
