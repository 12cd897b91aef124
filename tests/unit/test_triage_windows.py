"""Live windows over parsed log lines, and the "what's hurting now" ranking, on captured
real output (log lines of 3.4, ``show stat`` of 2.8)."""

from __future__ import annotations

import re

import pytest

from console.haproxy.logs.parse import LineParser, LogRecord, Unparsed
from console.haproxy.logs.summary import Summary
from console.haproxy.logs.windows import Evidence, Windows, merge_summaries
from tests.captured_data import CAPTURED, stat_snapshot

LINES = (CAPTURED / "logs" / "3.4" / "rfc3164.log").read_text().splitlines()


def parsed():
    parser = LineParser.auto()
    return [parser.parse(line, i) for i, line in enumerate(LINES, 1)]


class Clock:
    def __init__(self, t: float = 10_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_windows_cover_what_arrived_in_them() -> None:
    clock = Clock()
    w = Windows(clock=clock)
    results = parsed()
    for r in results:
        w.add(r)
    clock.t += 120  # two minutes later, the same lines again
    for r in results:
        w.add(r)
    one = w.summary("server", "1m")
    five = w.summary("server", "5m")
    assert one.records * 2 == five.records
    whole = Summary("server")
    for r in results:
        whole.add(r)
    assert {k: g.requests for k, g in one.groups} == {k: g.requests for k, g in whole.groups}
    assert {k: g.requests * 2 for k, g in whole.groups} == \
        {k: g.requests for k, g in five.groups}
    # 16 minutes on, nothing is left in any window
    clock.t += 16 * 60
    assert w.summary("server", "15m").records == 0
    assert len(w.buckets) <= 2


def test_mark_counts_from_when_it_is_set() -> None:
    clock = Clock()
    w = Windows(clock=clock)
    for r in parsed():
        w.add(r)
    assert w.summary("backend", "mark").records == 0
    w.set_mark()
    clock.t += 5
    results = parsed()
    for r in results[:10]:
        w.add(r)
    assert w.summary("backend", "mark").lines == 10
    assert w.covered("mark") == 5
    w.clear_mark()
    assert w.summary("backend", "mark").lines == 0


def test_merge_keeps_percentiles_and_terminations() -> None:
    results = parsed()
    a, b, whole = Summary("server"), Summary("server"), Summary("server")
    for i, r in enumerate(results):
        (a if i % 2 else b).add(r)
        whole.add(r)
    merged = merge_summaries("server", [a, b])
    for key, g in whole.groups:
        m = merged.groups.items[key]
        assert (m.requests, m.errors, m.classes, m.termination) == \
            (g.requests, g.errors, g.classes, g.termination)
        assert m.ta.quantile(0.95) == g.ta.quantile(0.95)


def test_evidence_keeps_the_last_error_lines_per_key_bounded() -> None:
    ev = Evidence(per_key=2, max_keys=3)
    errors = [r for r in parsed() if not isinstance(r, Unparsed)
              and (r.fields.get("status") or 0) >= 500]
    assert errors, "the captured lines hold 5xx answers"
    for i, r in enumerate(errors * 3):
        ev.add(r, float(i))
    assert len(ev.samples) <= 3
    assert all(len(v) <= 2 for v in ev.samples.values())


def test_garbage_and_clock_going_back_never_raise() -> None:
    clock = Clock()
    w = Windows(clock=clock)
    parser = LineParser.auto()
    for junk in (b"\x00\xff" * 100, b"x" * 100_000, b"<134>Dec  1 03:29:58 h p[1]: 1.2.3.4:"):
        w.add(parser.parse(junk))
    clock.t -= 500
    w.add(parsed()[0])
    assert w.summary("server", "15m").unparsed == 3


def test_unknown_window_or_dimension_is_refused() -> None:
    w = Windows()
    with pytest.raises(ValueError):
        w.summary("server", "2m")
    with pytest.raises(ValueError):
        w.summary("frontend", "1m")


# --------------------------------------------------------------------------- ranking

def test_nothing_hurting_on_a_quiet_instance_but_down_servers_rank() -> None:
    from console.haproxy.hurting import rank

    snap = stat_snapshot()
    triage = rank(snap, {})
    labels = [i.label for i in triage.impacts]
    # be_dead has its only server DOWN: an outage comes first
    assert labels[0] == "be_dead"
    assert "no usable server" in triage.impacts[0].reasons[0]
    assert "be_app/down_closed" in labels
    # a server in MAINT is not "hurting": it was put there
    assert "be_app/maint_cli" not in labels


def test_5xx_rate_and_queue_rank_a_server_above_a_down_one() -> None:
    from console.haproxy.hurting import rank
    from console.haproxy.model import rates

    before = stat_snapshot(t=0.0)
    after = stat_snapshot({("be_app", "up1"): {"hrsp_5xx": "1000", "qcur": "40"}}, t=10.0)
    triage = rank(after, rates(before, after))
    up1 = next(i for i in triage.impacts if i.label == "be_app/up1")
    assert up1.errors_per_s > 0 and up1.queue == 40
    down = next(i for i in triage.impacts if i.label == "be_app/down_closed")
    assert up1.score > down.score
    assert any("queue: 40" in r for r in up1.reasons)


def test_logs_give_errors_samples_and_slowness() -> None:
    from console.haproxy.hurting import rank

    clock = Clock()
    w = Windows(clock=clock)
    parser = LineParser.auto()
    for line in LINES:  # the lines' servers renamed to one of the snapshot's
        w.add(parser.parse(re.sub(r"be_\w+/\w+", "be_app/up1", line)))
    clock.t += 1
    triage = rank(stat_snapshot(), {}, windows=w, window="1m")
    assert "logs (1m)" in triage.sources
    with_samples = [i for i in triage.impacts if i.samples]
    assert with_samples, [i.label for i in triage.impacts]
    assert {i.label for i in with_samples} >= {"be_app", "be_app/up1"}
    up1 = next(i for i in triage.impacts if i.label == "be_app/up1")
    assert up1.errors_per_s > 0 and any("(logs)" in r for r in up1.reasons)
    assert any(r.startswith("slow: Ta p95") for r in up1.reasons)
    assert all(s.record.fields.get("backend") == "be_app"
               for i in with_samples for s in i.samples)


def test_no_snapshot_is_said_not_raised() -> None:
    from console.haproxy.hurting import rank

    triage = rank(None, {})
    assert triage.impacts == [] and "no data" in triage.missing[0]


def test_since_the_mark_outlives_the_15_minutes_and_counts_each_line_once() -> None:
    clock = Clock()
    w = Windows(clock=clock)
    results = parsed()
    for r in results:
        w.add(r)
    w.set_mark()
    for _minute in range(20):  # 20 minutes of the same lines, one batch a minute
        clock.t += 60
        for r in results:
            w.add(r)
    per_batch = Summary("server")
    for r in results:
        per_batch.add(r)
    assert w.summary("server", "mark").records == 20 * per_batch.records
    assert w.summary("server", "15m").records == 15 * per_batch.records
    assert len(w.buckets) <= 91


def test_a_mark_from_the_past_counts_the_buckets_since() -> None:
    clock = Clock()
    w = Windows(clock=clock)
    for r in parsed():
        w.add(r)
    clock.t += 30
    for r in parsed():
        w.add(r)
    w.set_mark(at=clock.t - 10)  # a restored mark: only the second batch is after it
    per_batch = len([r for r in parsed() if r.ok])
    assert w.summary("backend", "mark").records <= per_batch


def test_the_path_read_from_the_end_of_an_http_line_is_the_decoded_one() -> None:
    from console.haproxy.logs.windows import _path

    parser = LineParser.auto()
    seen = 0
    for path in sorted((CAPTURED / "logs").glob("*/*.log")):
        for line in path.read_text().splitlines():
            r = parser.parse(line)
            if r.ok and r.format != "connect":
                seen += r.format in ("http", "https")
                assert _path(r) == r.fields.get("path"), line
    odd = ('<134>Dec  1 03:29:58 h haproxy[1]: 1.2.3.4:5 [01/Dec/2026:03:29:58.683] fe be/s '
           '0/0/0/0/0 400 77 - - ---- 1/1/0/0/0 0/0 "<BADREQ>"')
    r = parser.parse(odd)
    if r.ok:
        assert _path(r) == r.fields.get("path")
    assert seen > 20


def _dicts(s: Summary) -> dict[str, dict[str, object]]:
    return {k: g.to_dict(k) for k, g in s.groups}


def test_buckets_read_back_from_their_state_give_the_same_summaries() -> None:
    """What a recording keeps of the windows (10 s buckets) gives, replayed, the same
    summaries in every grouping, and the same since-the-mark count."""
    import json

    clock = Clock()
    live = Windows(clock=clock)
    results = parsed()
    half = len(results) // 2
    for r in results[:half]:
        live.add(r)
    clock.t += 12
    live.set_mark()
    for r in results[half:]:
        live.add(r)
    clock.t += 11
    live.add(results[0])  # a newer bucket: the ones before are complete
    closed, last = live.closed_states(0)
    rest, _ = live.newest_state(last)
    replay_clock = Clock(clock.t)
    replay = Windows(clock=replay_clock)
    for state in json.loads(json.dumps(closed + rest)):  # as stored
        replay.add_state(state)
    replay.set_mark(live.mark_at)
    for by in ("server", "backend", "termination", "status", "path", "client"):
        assert _dicts(replay.summary(by, "15m")) == _dicts(live.summary(by, "15m"))
        assert _dicts(replay.summary(by, "mark")) == _dicts(live.summary(by, "mark"))
    marked = live.summary("server", "mark")
    assert 0 < marked.records < live.summary("server", "15m").records
    assert replay.summary("server", "mark").records == marked.records
    assert replay.summary("server", "mark").lines == marked.lines


@pytest.mark.parametrize("state", [
    None, [], {"index": "1"}, {"index": 1, "start": float("nan")},
    {"index": 1, "start": 1.0, "lines": -1, "records": 0, "unparsed": 0, "events": 0,
     "reasons": {}, "dims": {}, "total": [0, 0, [0] * 6, {}, [True], [True], 0]},
    {"index": 1, "start": 1.0, "lines": 1, "records": 0, "unparsed": 0, "events": 0,
     "reasons": {}, "dims": {"server": {"groups": [["a", [1, 0, [1] * 5, {}, [True], [True],
                                                        0]]], "rest": None, "ungrouped": 0}},
     "total": [0, 0, [0] * 6, {}, [True], [True], 0]},
    {"index": 1, "start": 1.0, "lines": 1, "records": 0, "unparsed": 0, "events": 0,
     "reasons": {}, "dims": {}, "total": [0, 0, [0] * 6, {}, [True, 5], [True], 0]},
    {"index": 1, "start": 1.0, "lines": 1, "records": 0, "unparsed": 0, "events": 0,
     "reasons": {}, "dims": {}, "total": [0, 0, [0] * 6, {}, [True, -5, 1], [True], 0]},
    {"index": 1, "start": 1.0, "lines": 1, "records": 0, "unparsed": 0, "events": 0,
     "reasons": {}, "dims": "x", "total": [0, 0, [0] * 6, {}, [True], [True], 0]},
])
def test_a_hostile_bucket_state_is_refused(state) -> None:
    w = Windows(clock=Clock())
    with pytest.raises(ValueError):
        w.add_state(state)
    assert not w.buckets


def test_a_bucket_state_too_big_to_be_real_is_refused(monkeypatch) -> None:
    from console.haproxy.logs import windows as wmod

    monkeypatch.setattr(wmod, "MAX_BUCKET_VALUES", 10)
    sketch = [True] + [v for i in range(11) for v in (i, 1)]
    state = {"index": 1, "start": 1.0, "lines": 11, "records": 11, "unparsed": 0,
             "events": 0, "reasons": {}, "dims": {},
             "total": [11, 0, [0, 11, 0, 0, 0, 0], {}, sketch, [True], 0]}
    w = Windows(clock=Clock())
    with pytest.raises(ValueError, match="larger"):
        w.add_state(state)
    state["total"][4] = [True, 1, 11]
    w.add_state(state)
    assert w.buckets


def test_a_batch_counts_what_its_lines_one_by_one_count() -> None:
    """Lines arriving together are counted per kind of line (a flood of the same request
    updates each group once): every summary, and the evidence kept, is what adding the
    lines one by one gives, however many times each line repeats."""
    results = parsed()
    flood = [r for r in results for _ in range(3)] + results[::-1] + [Unparsed("garbage: x", "x")]
    one, batch = Windows(clock=Clock()), Windows(clock=Clock())
    for r in flood:
        one.add(r)
    batch.add_many(flood)
    assert one.lines == batch.lines == len(flood)
    for by in ("server", "backend", "termination", "status", "path", "client"):
        assert _dicts(batch.summary(by, "1m")) == _dicts(one.summary(by, "1m"))
    assert {k: [s.record.raw for s in v] for k, v in batch.evidence.samples.items()} == \
        {k: [s.record.raw for s in v] for k, v in one.evidence.samples.items()}


def test_lines_already_decoded_count_as_the_same_lines_not_decoded() -> None:
    """A line whose fields were read before (the logs screen's filter decodes them) is
    told alike by its values rather than its raw text: the same summaries either way."""
    raw, decoded = parsed(), parsed()
    for r in decoded[::2]:
        _ = r.fields if isinstance(r, LogRecord) else None
    one, other = Windows(clock=Clock()), Windows(clock=Clock())
    one.add_many(raw * 2)
    other.add_many(decoded + raw)
    for by in ("server", "backend", "termination", "status", "path", "client"):
        assert _dicts(other.summary(by, "1m")) == _dicts(one.summary(by, "1m"))
