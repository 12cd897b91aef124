"""The per-server strip of recent check results: one mark per refresh, failures from
``chkfail`` growing between two refreshes, bounded memory."""

from __future__ import annotations

from console.haproxy.checks import FAIL, PASS, CheckLog
from console.haproxy.model import Snapshot
from tests.captured_data import stat_snapshot


def _snapshot(t: float, chkfail: int, status: str) -> Snapshot:
    """The captured stat with be_app/up1's check failures and status set."""
    return stat_snapshot({("be_app", "up1"): {"chkfail": str(chkfail),
                                              "check_status": status}}, t=t)


def test_one_mark_per_refresh_failures_from_chkfail() -> None:
    log = CheckLog()
    key = ("be_app", "up1")
    log.observe(_snapshot(0, 5, "L7OK"), 0)  # failures before the console started: ✓
    log.observe(_snapshot(2, 5, "L7OK"), 2)
    log.observe(_snapshot(4, 7, "L7OK"), 4)  # two failed and it passes again: still ✗
    log.observe(_snapshot(6, 8, "L7STS"), 6)
    log.observe(_snapshot(8, 8, "L7OK"), 8)
    assert log.strip(key, 10) == PASS * 2 + FAIL * 2 + PASS
    runs = log.runs(key)
    assert [(r.mark, r.count, r.failed) for r in runs] == [(PASS, 2, 0), (FAIL, 2, 3),
                                                            (PASS, 1, 0)]
    assert runs[1].status == "L7STS" and (runs[1].first, runs[1].last) == (4, 6)
    assert log.strip(key, 3) == FAIL * 2 + PASS


def test_a_counter_reset_is_not_a_failure_and_memory_is_bounded() -> None:
    log = CheckLog(keep=5)
    key = ("be_app", "up1")
    log.observe(_snapshot(0, 9, "L7OK"), 0)
    log.observe(_snapshot(2, 0, "L7OK"), 2)  # a reload or clear counters: reset, not ✗
    assert log.strip(key, 10) == PASS * 2
    for t in range(20):
        log.observe(_snapshot(10 + t, t % 2, "L7OK"), 10 + t)  # a failure every other one
    assert len(log.strip(key, 100)) == 5 and sum(r.count for r in log.runs(key)) == 5
    no_check = ("be_app", "maint_cfg")
    assert log.runs(no_check) == [] or all(r.status for r in log.runs(no_check))


def test_a_server_gone_or_no_longer_checked_loses_its_strip() -> None:
    log = CheckLog()
    key = ("be_app", "up1")
    log.observe(_snapshot(0, 0, "L7OK"), 0)
    log.observe(_snapshot(2, 0, "L7OK"), 2)
    assert log.strip(key, 10) == PASS * 2
    first = _snapshot(4, 0, "L7OK")
    without = Snapshot(first.taken_at, first.wall_time, first.info,
                       tuple(r for r in first.rows if r.key != key))
    log.observe(without, 4)  # removed (del server, a reload with a new config)
    assert log.runs(key) == [] and log.strip(key, 10) == ""
    log.observe(_snapshot(6, 0, "L7OK"), 6)  # back: a new strip
    assert log.strip(key, 10) == PASS
    log.observe(_snapshot(8, 0, ""), 8)  # its checks turned off
    assert log.runs(key) == []
