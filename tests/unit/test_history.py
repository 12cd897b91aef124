"""History: ring buffers per row, series, gaps, dropped rows, tracking, cost."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from console.haproxy.history import LOG_MAX, METRICS, History
from console.haproxy.model import Rates, Row, Snapshot, rates

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "captured" / "2.8" / "show_stat.txt"


def _row(proxy: str, name: str, **fields: str) -> dict[str, str]:
    row = {"pxname": proxy, "svname": name, "type": "2", "status": "UP", "scur": "0",
           "qcur": "0", "req_tot": "0", "hrsp_5xx": "0"}
    row.update(fields)
    return row


def _snap(i: int, rows: list[dict[str, str]]) -> Snapshot:
    return Snapshot.from_rows(rows, taken_at=float(i), wall_time=1_700_000_000.0 + i)


def test_series_per_metric_from_fields_and_rates() -> None:
    h = History(maxlen=10)
    prev = _snap(0, [_row("be", "s1", scur="1", req_tot="100", hrsp_5xx="5")])
    cur = _snap(2, [_row("be", "s1", scur="3", qcur="2", req_tot="120", hrsp_5xx="9")])
    h.add(prev, None)
    h.add(cur, rates(prev, cur))
    key = ("be", "s1")
    assert h.series(key, "scur") == [1.0, 3.0]
    assert h.series(key, "qcur") == [0.0, 2.0]
    assert h.series(key, "req_rate") == [10.0]  # no rate for the first snapshot: a gap
    assert h.series(key, "5xx_rate") == [2.0]
    assert [t for t, _ in h.points(key, "scur")] == [1_700_000_000.0, 1_700_000_002.0]
    assert h.span(key) == 2.0
    assert h.samples(key) == 2


def test_req_rate_column_wins_over_req_tot_rate() -> None:
    h = History()
    row = {"pxname": "fe", "svname": "FRONTEND", "type": "0", "status": "OPEN",
           "req_rate": "42", "req_tot": "10"}
    h.add(_snap(1, [row]), {("fe", "FRONTEND"): Rates(1.0, req_tot=7.0)})
    assert h.series(("fe", "FRONTEND"), "req_rate") == [42.0]


def test_empty_fields_are_gaps_and_unknowns_are_empty() -> None:
    h = History()
    h.add(_snap(1, [_row("fe", "FRONTEND", qcur="", scur="")]))
    assert h.series(("fe", "FRONTEND"), "qcur") == []
    assert h.series(("nope", "x"), "scur") == []
    with pytest.raises(ValueError):
        h.series(("fe", "FRONTEND"), "bogus")


def test_bounded_to_maxlen() -> None:
    h = History(maxlen=5)
    for i in range(23):
        h.add(_snap(i, [_row("be", "s1", scur=str(i))]))
    assert h.series(("be", "s1"), "scur") == [18.0, 19.0, 20.0, 21.0, 22.0]
    assert h.span(("be", "s1")) == 4.0
    assert h.memory_bytes() <= 5 * 24 + 5 * 8  # the changes of scur within the window


def test_absent_row_leaves_a_gap_then_is_dropped() -> None:
    h = History(maxlen=10, drop_after=3)
    both = [_row("be", "s1", scur="1"), _row("be", "s2", scur="2")]
    h.add(_snap(0, both))
    h.add(_snap(1, [_row("be", "s1", scur="1")]))  # s2 absent once
    h.add(_snap(2, [_row("be", "s1", scur="1"), _row("be", "s2", scur="5")]))
    assert h.series(("be", "s2"), "scur") == [2.0, 5.0]
    assert h.samples(("be", "s2")) == 3
    for i in range(3, 6):
        h.add(_snap(i, [_row("be", "s1", scur="1")]))
    assert ("be", "s2") not in h
    assert len(h) == 1
    h.add(_snap(6, both))  # back again: a fresh history
    assert h.series(("be", "s2"), "scur") == [2.0]


def test_absent_row_swept_even_when_a_new_row_appears() -> None:
    h = History(maxlen=10, drop_after=1)
    h.add(_snap(0, [_row("be", "old")]))
    h.add(_snap(1, [_row("be", "new")]))  # same count, different rows
    assert h.keys() == [("be", "new")]


def test_memory_stays_flat_with_churning_rows() -> None:
    h = History(maxlen=20, drop_after=5)
    for i in range(500):
        h.add(_snap(i, [_row("be", f"s{i // 10}-{k}") for k in range(20)]))
    assert len(h) <= 20 * 2  # current rows plus the ones not dropped yet
    assert h.memory_bytes() <= 40 * len(METRICS) * 20 * 4 + 20 * 8


def test_quiet_rows_keep_no_samples_busy_metrics_get_a_ring_then_lose_it() -> None:
    h = History(maxlen=10)
    quiet = [_row("be", f"s{k}") for k in range(100)]
    for i in range(30):
        h.add(_snap(i, quiet))
    assert h.memory_bytes() == 10 * 8  # the times only
    for i in range(30, 100):  # scur moves at every sample: a ring of 10 values
        h.add(_snap(i, [*quiet[1:], _row("be", "s0", scur=str(i))]))
    assert h.series(("be", "s0"), "scur") == [float(v) for v in range(90, 100)]
    assert h.memory_bytes() <= 10 * 8 + 10 * 4 + LOG_MAX * 24
    for i in range(100, 125):  # steady again: the ring is given up
        h.add(_snap(i, quiet))
    assert h.series(("be", "s0"), "scur") == [0.0] * 10
    assert h.memory_bytes() == 10 * 8


def _reference(samples: list[dict[tuple[str, str], tuple[float, ...]]], maxlen: int,
               drop_after: int) -> dict[tuple[str, str], list[list[float]]]:
    """The window of every row as plain lists (NaN kept), fed like History.add."""
    rows: dict[tuple[str, str], list[list[float]]] = {}
    absent: dict[tuple[str, str], int] = {}
    for sample in samples:
        for key in list(rows):
            if key not in sample:
                absent[key] = absent.get(key, 0) + 1
                if absent[key] >= drop_after:
                    del rows[key], absent[key]
                    continue
                for m in range(len(METRICS)):
                    rows[key][m].append(math.nan)
        for key, values in sample.items():
            absent.pop(key, None)
            series = rows.setdefault(key, [[] for _ in METRICS])
            for m, v in enumerate(values):
                series[m].append(v)
    return {k: [s[-maxlen:] for s in v] for k, v in rows.items()}


@pytest.mark.parametrize("seed", range(6))
def test_same_series_as_plain_lists_whatever_changes(seed: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import random
    from array import array

    from console.haproxy import history

    rng = random.Random(seed)
    if seed % 2:  # short logs: metrics move to rings and back often
        monkeypatch.setattr(history, "LOG_MAX", 4)
        monkeypatch.setattr(history, "RING_AFTER", 2)
    maxlen = rng.choice([3, 8, 20])
    h = History(maxlen, drop_after=rng.choice([2, 50]))
    keys = [("be", f"s{k}") for k in range(6)]
    samples: list[dict[tuple[str, str], tuple[float, ...]]] = []
    prev: Snapshot | None = None
    scur = dict.fromkeys(keys, 0)
    for i in range(150):
        busy = rng.random() < 0.5  # stretches of changes at every sample, then quiet
        rows: list[dict[str, str]] = []
        sample: dict[tuple[str, str], tuple[float, ...]] = {}
        for k, key in enumerate(keys):
            if rng.random() < 0.1:
                continue  # absent: a gap
            if (busy and k < 3) or rng.random() < 0.05:
                scur[key] = rng.randrange(4)
            rows.append(_row(*key, scur=str(scur[key]), req_tot=str(i * k)))
        snap = _snap(i, rows)
        rate = rates(prev, snap) if prev is not None else {}
        for row in snap.rows:
            r = rate.get(row.key)
            req = r.req_tot if r is not None and r.req_tot is not None else math.nan
            sample[row.key] = (req, float(row.num("scur") or 0), 0.0 if r else math.nan, 0.0)
        h.add(snap, rate)
        samples.append(sample)
        prev = snap
        want = _reference(samples, maxlen, h.drop_after)
        assert sorted(h.keys()) == sorted(want)
        for key, series in want.items():
            for m, metric in enumerate(METRICS):
                kept = [v for v in array("f", series[m]) if v == v]
                assert h.series(key, metric) == kept, (i, key, metric)


def test_keys_to_track_limits_rows() -> None:
    h = History(keys_to_track=[("be", "s1")], drop_after=2)
    rows = [_row("be", "s1"), _row("be", "s2")]
    h.add(_snap(0, rows))
    assert h.keys() == [("be", "s1")]
    h.track(None)
    h.add(_snap(1, rows))
    assert set(h.keys()) == {("be", "s1"), ("be", "s2")}
    h.track([("be", "s2")])
    for i in range(2, 5):
        h.add(_snap(i, rows))
    assert h.keys() == [("be", "s2")]


def test_captured_snapshot_every_row() -> None:
    snap = Snapshot.from_text(None, CAPTURED.read_text())
    h = History()
    h.add(snap)
    assert len(h) == len(snap.rows)
    assert h.series(("fe_main", "FRONTEND"), "scur") == [0.0]
    assert not any(math.isnan(v) for v in h.series(("fe_main", "FRONTEND"), "req_rate"))


def test_ten_thousand_rows_is_cheap() -> None:
    rows = [Row.from_fields(_row(f"be{k // 100}", f"s{k}", scur=str(k % 9),
                                 req_tot=str(k))) for k in range(10_000)]
    a = Snapshot.from_rows(rows, taken_at=0.0, wall_time=1.0)
    b = Snapshot.from_rows(rows, taken_at=1.0, wall_time=2.0)
    r = rates(a, b)
    h = History()
    h.add(a, None)
    started = time.perf_counter()
    for _ in range(5):
        h.add(b, r)
    per_add = (time.perf_counter() - started) / 5
    assert len(h) == 10_000
    assert per_add < 0.25, f"history.add took {per_add * 1000:.0f} ms for 10,000 rows"


def test_a_row_a_partial_poll_did_not_read_again_keeps_its_last_rates() -> None:
    """Read every other poll, held in between (:attr:`Snapshot.held`): the chart has
    its rate at every sample, not a gap every other one, and a steady row keeps no
    samples (alternating gaps would fill its log, then cost it a ring)."""
    h = History(maxlen=100)
    key = ("be", "s1")
    row = Row.from_fields(_row("be", "s1", req_tot="0"))
    prev: Snapshot | None = None
    read_at = 0.0
    for i in range(80):
        if i % 2 == 0:  # read again: 10 more requests a second
            row = Row.from_fields(_row("be", "s1", req_tot=str(10 * i)))
            read_at, held = float(i), {}
        else:
            held = {key: read_at}
        cur = Snapshot(float(i), 1_700_000_000.0 + i, None, (row,), held)
        h.add(cur, rates(prev, cur) if prev is not None else None)
        if i % 2:
            assert rates(prev, cur) == {}  # (no rate of its own)
        prev = cur
    assert h.series(key, "req_rate") == [10.0] * (h.samples(key) - 2)  # (no rate yet)
    # the times of the slots, and the row's two changes (no rate, then 10/s): no ring
    assert h.memory_bytes() == 8 * 100 + 2 * 24


def _plain(snap: Snapshot) -> Snapshot:
    """``snap`` without what says it was merged: its sample then reads every row."""
    return Snapshot(snap.taken_at, snap.wall_time, snap.info, snap.rows, snap.held)


@pytest.mark.parametrize("seed", range(6))
def test_a_merged_snapshot_gives_the_history_of_the_same_snapshot_row_by_row(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A partial poll's snapshot, merged from the last one added, is sampled from its
    fresh rows, its rows with a ring, those whose compaction is due and the absent ones:
    the history is that of the same snapshots read row by row, through long chains of
    merged snapshots (longer than the window), full reads with rows added and gone, rows
    getting rings and losing them, a change of the tracked rows."""
    import random

    from console.haproxy import history
    from console.haproxy.partial_poll import merge

    monkeypatch.setattr(history, "LOG_MAX", 4)  # rings come soon
    monkeypatch.setattr(history, "RING_AFTER", 2)
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(40)]
    busy = set(rng.sample(names, 8))
    totals = dict.fromkeys(names, 0)
    present = names[:30]

    def row(name: str) -> Row:
        if name in busy or rng.random() < 0.2:
            totals[name] += rng.randint(0, 30)
        scur = str(rng.randint(0, 3)) if name in busy else "0"
        return Row.from_fields(_row("be", name, req_tot=str(totals[name]), scur=scur))

    pairs = [(History(maxlen=9, drop_after=4), History(maxlen=9, drop_after=4)),
             (History(maxlen=40, drop_after=2), History(maxlen=40, drop_after=2))]
    prev: Snapshot | None = None
    merged = ringed = absent = 0
    for i in range(150):
        wall = 1_700_000_000.0 + i
        if prev is None or rng.random() < 0.06:  # a full read; some rows come and go
            if prev is not None and rng.random() < 0.7:
                present = sorted(rng.sample(names, rng.randint(20, 40)))
            snap = Snapshot.from_rows([row(n) for n in present], taken_at=float(i),
                                      wall_time=wall)
        else:
            fresh = [row(n) for n in present if rng.random() < 0.3]
            got = merge(prev, fresh, [r.key for r in fresh], info=None,
                        taken_at=float(i), wall_time=wall)
            assert got is not None
            snap, merged = got, merged + 1
        if i in (70, 110):
            for pair in pairs:  # (the next snapshot is read row by row)
                keys = [("be", n) for n in rng.sample(names, 25)] if i == 70 else None
                pair[0].track(keys)
                pair[1].track(keys)
        instant = rates(prev, snap) if prev is not None else None
        for fast, plain in pairs:
            fast.add(snap, instant)
            plain.add(_plain(snap), instant)
            assert sorted(fast.keys()) == sorted(plain.keys())
            for key in plain.keys():
                assert fast.samples(key) == plain.samples(key)
                for metric in METRICS:
                    assert fast.points(key, metric) == plain.points(key, metric), (
                        i, key, metric)
            assert fast.memory_bytes() == plain.memory_bytes(), i
            ringed += bool(fast._ringed) and snap.fresh is not None
            absent += bool(fast._absent) and snap.fresh is not None
        prev = snap
    assert merged > 100 and ringed > 50 and absent > 5
