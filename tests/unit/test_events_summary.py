"""The events pane sums up a flood of identical changes in one line."""

from __future__ import annotations

from console.haproxy.events import Event, summarize


def _status(i: int, old: str = "no check", new: str = "MAINT", proxy: str = "be1") -> Event:
    return Event(100.0, "status", "warning", f"server {proxy}/s{i} {old} → {new}", proxy,
                 f"s{i}", old, new)


def test_few_events_are_kept_as_they_are() -> None:
    events = [_status(i) for i in range(3)]
    assert summarize(events) == events


def test_many_same_changes_make_one_line_in_place() -> None:
    reload = Event(100.0, "reload", "warning", "HAProxy reloaded: new worker PID 2 (was 1)")
    down = Event(100.0, "status", "error", "server be9/x UP → DOWN", "be9", "x", "UP", "DOWN")
    flood = [_status(i) for i in range(45)]
    out = summarize([reload, *flood[:20], down, *flood[20:]])
    assert [e.kind for e in out] == ["reload", "status", "status"]
    summary = out[1]
    assert summary.message.startswith("45 servers no check → MAINT: be1/s0, be1/s1, be1/s2 …")
    assert "(+42;" in summary.message
    assert summary.extra["count"] == "45" and summary.severity == "warning"
    assert out[2] is down


def test_changes_in_other_directions_are_not_mixed() -> None:
    events = [_status(i) for i in range(5)] + [_status(i, "MAINT", "no check")
                                               for i in range(5, 7)]
    out = summarize(events)
    assert len(out) == 3
    assert out[0].message.startswith("5 servers no check → MAINT")
    assert out[1].message.endswith("MAINT → no check")


def test_problems_at_start_are_summed_up_too() -> None:
    events = [Event(1.0, "status", "error", f"server be/s{i} is DOWN at start", "be",
                    f"s{i}", None, "DOWN") for i in range(10)]
    (one,) = summarize(events)
    assert one.message.startswith("10 servers DOWN at start: be/s0")


def _summary_at(t: float, old: str, new: str, count: int = 10) -> Event:
    (one,) = summarize([Event(t, "status", "warning", f"server be/s{i} {old} → {new}", "be",
                              f"s{i}", old, new) for i in range(count)])
    return one


def test_a_storm_of_back_and_forth_summaries_folds_into_one_counting_line() -> None:
    from console.haproxy.events import fold

    first = _summary_at(100.0, "no check", "MAINT")
    second = _summary_at(101.0, "MAINT", "no check")
    merged = fold(first, second)
    assert merged is not None
    assert merged.message.startswith("servers going no check ⇄ MAINT since ")
    assert "up to 10 at a time" in merged.message and merged.extra["changes"] == "20"
    third = fold(merged, _summary_at(102.0, "no check", "MAINT"))
    assert third is not None and third.extra["changes"] == "30"
    # the line stays still, its time too (the storm's first change)
    assert third.message == merged.message and third.time == merged.time == 100.0
    # a refresh with fewer servers changed leaves it as it is; one with more, the most
    fewer = fold(third, _summary_at(102.5, "MAINT", "no check", count=4))
    assert fewer is not None and fewer.message == merged.message
    assert fewer.extra["changes"] == "34"
    more = fold(fewer, _summary_at(102.7, "no check", "MAINT", count=12))
    assert more is not None and "up to 12 at a time" in more.message
    third = fold(more, _summary_at(102.8, "MAINT", "no check"))
    assert third is not None and "up to 12 at a time" in third.message
    merged = third
    # the window runs from the last change folded in, not from the first
    fourth = fold(third, _summary_at(106.5, "MAINT", "no check"))
    assert fourth is not None and fourth.time == 100.0 and fourth.message == merged.message
    # a pause longer than the window, another change, or a single server: a new line
    assert fold(fourth, _summary_at(120.0, "MAINT", "no check")) is None
    assert fold(third, _summary_at(103.0, "no check", "DOWN")) is None
    assert fold(third, _status(1, "MAINT", "no check")) is None


def test_one_server_flapping_folds_but_two_servers_do_not() -> None:
    from console.haproxy.events import fold

    down = Event(10.0, "status", "error", "server be/web1 UP → DOWN", "be", "web1", "UP",
                 "DOWN")
    up = Event(12.0, "status", "ok", "server be/web1 DOWN → UP", "be", "web1", "DOWN", "UP")
    merged = fold(down, up)
    assert merged is not None
    assert merged.severity == "error"  # the worst of the storm
    assert merged.message.startswith("server be/web1 flapping UP ⇄ DOWN: 2 changes since")
    other = Event(13.0, "status", "error", "server be/web2 UP → DOWN", "be", "web2", "UP",
                  "DOWN")
    assert fold(merged, other) is None
    assert fold(None, up) is None
    start = Event(10.0, "status", "error", "server be/web1 is DOWN at start", "be", "web1",
                  None, "DOWN")
    assert fold(start, up) is None


def test_check_progress_is_worded_as_progress_and_only_a_real_down_is_an_error() -> None:
    """``DOWN → DOWN ↑1/2`` read as an error (✖) to a first-time on-call: it is a
    server recovering. ✖ only for a real DOWN."""
    from console.haproxy.events import change_words
    from console.haproxy.model import normalize_status as st

    assert change_words(st("DOWN"), st("DOWN 1/2")) == ("DOWN, recovering 1/2", "warning")
    assert change_words(st("UP"), st("UP 1/3")) == ("UP, failing 1/3", "warning")
    assert change_words(st("UP 2/3"), st("DOWN")) == ("UP ↓2/3 → DOWN", "error")
    assert change_words(st("DOWN 1/2"), st("DOWN")) == (
        "DOWN again, recovery stopped at 1/2", "warning")
    assert change_words(st("DOWN 1/2"), st("UP")) == ("DOWN ↑1/2 → UP", "ok")
    assert change_words(st("UP 1/3"), st("UP")) == ("UP, checks pass again", "ok")
    assert change_words(st("UP"), st("MAINT")) == ("UP → MAINT", "warning")
