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
