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
