"""EventLog: symbols and messages, follow unless scrolled up, bounded, snapshot."""

from __future__ import annotations

from datetime import datetime

from textual.app import App, ComposeResult

from console.haproxy.events import Event
from console.ui.widgets.eventlog import EventLog

T0 = datetime(2024, 5, 1, 12, 0, 0).timestamp()  # local time: the log shows local time
SEVERITIES = ("error", "warning", "ok", "info")


def _events(n: int, start: int = 0) -> list[Event]:
    return [Event(T0 + i, "status", SEVERITIES[i % 4], f"event {i}: server be/s{i} changed",
                  "be", f"s{i}") for i in range(start, start + n)]


class LogApp(App[None]):
    CSS = "EventLog { height: 1fr; }"

    def __init__(self, max_lines: int = 5000) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield EventLog(max_lines=self.max_lines, id="events")


def _screen_lines(app: App[None]) -> list[str]:
    return ["".join(seg.text for seg in strip).rstrip()
            for strip in app.screen._compositor.render_strips()]


async def test_lines_show_time_symbol_and_message() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        assert _screen_lines(app)[0] == "No events yet."
        log.add_events(_events(4))
        await pilot.pause()
        lines = _screen_lines(app)
        assert lines[:4] == [
            "12:00:00  ✖  event 0: server be/s0 changed",
            "12:00:01  ▲  event 1: server be/s1 changed",
            "12:00:02  ●  event 2: server be/s2 changed",
            "12:00:03  ·  event 3: server be/s3 changed",
        ]


async def test_follows_new_events_unless_scrolled_up() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(_events(50))
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y > 0
        assert _screen_lines(app)[-1].endswith("event 49: server be/s49 changed")
        log.scroll_to(y=10, animate=False, immediate=True)
        await pilot.pause()
        log.add_events(_events(5, start=50))
        await pilot.pause()
        assert log.scroll_y == 10  # the user is reading: stay put
        assert "event 10:" in _screen_lines(app)[0]
        log.focus()
        await pilot.press("end")
        await pilot.pause()
        log.add_events(_events(1, start=55))
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
        assert _screen_lines(app)[-1].endswith("event 55: server be/s55 changed")


async def test_scrolled_up_counts_new_events_and_resumes_at_the_bottom() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(_events(50))
        await pilot.pause()
        assert log.following and log.unseen == 0 and not log.border_title
        log.scroll_to(y=10, animate=False, immediate=True)
        await pilot.pause()
        assert not log.following
        log.add_events(_events(2, start=50))
        log.add_event(_events(1, start=52)[0])
        await pilot.pause()
        assert log.unseen == 3 and log.scroll_y == 10
        assert str(log.border_title) == "↓ 3 new · End or e: follow"
        log.scroll_to(y=log.max_scroll_y, animate=False, immediate=True)  # the mouse, say
        await pilot.pause()
        assert log.following and log.unseen == 0 and not log.border_title
        log.scroll_to(y=0, animate=False, immediate=True)
        log.add_events(_events(1, start=53))
        await pilot.pause()
        assert log.unseen == 1
        log.follow()
        await pilot.pause()
        assert log.following and log.scroll_y == log.max_scroll_y and not log.border_title
        log.add_events(_events(1, start=54))
        await pilot.pause()
        assert _screen_lines(app)[-1].endswith("event 54: server be/s54 changed")


async def test_keeps_following_when_resized() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 30)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(_events(40))
        await pilot.pause()
        for size in ((80, 8), (100, 30), (60, 5)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert log.following and log.scroll_y == log.max_scroll_y, size
            assert _screen_lines(app)[-1].endswith("event 39: server be/s39 changed"), size
        log.add_events(_events(1, start=40))
        await pilot.pause()
        assert _screen_lines(app)[-1].endswith("event 40: server be/s40 changed")


async def test_bounded_length_and_clear() -> None:
    app = LogApp(max_lines=100)
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        for k in range(30):
            log.add_events(_events(10, start=10 * k))
        await pilot.pause()
        assert log.line_count == 100
        assert log.events[0].message.startswith("event 200:")
        assert log.virtual_size.height == 100
        assert _screen_lines(app)[-1].endswith("event 299: server be/s299 changed")
        log.clear()
        await pilot.pause()
        assert log.line_count == 0
        assert _screen_lines(app)[0] == "No events yet."


async def test_pruning_keeps_the_lines_being_read() -> None:
    app = LogApp(max_lines=40)
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(_events(40))
        await pilot.pause()
        log.scroll_to(y=20, animate=False, immediate=True)
        await pilot.pause()
        log.add_events(_events(5, start=40))
        await pilot.pause()
        assert log.scroll_y == 15
        assert "event 20:" in _screen_lines(app)[0]


async def test_control_characters_and_other_days() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        log.add_events([Event(T0 - 86_400, "note", "info", "yesterday\nsecond line"),
                        Event(T0, "note", "bogus", "odd severity")])
        await pilot.pause()
        lines = _screen_lines(app)
        assert lines[0] == "04-30 12:00:00  ·  yesterday second line"
        assert lines[1] == "12:00:00  ?  odd severity"


def test_snapshot_80x12(snap_compare) -> None:
    async def run_before(pilot) -> None:
        log = pilot.app.query_one(EventLog)
        log.add_events(_events(9))
        log.add_events([Event(T0 + 9, "unreachable", "error",
                              "instance unreachable (/run/haproxy/admin.sock): connection "
                              "refused — retrying with backoff, the data shown is stale")])
        await pilot.pause()

    assert snap_compare(LogApp(), terminal_size=(80, 12), run_before=run_before)
