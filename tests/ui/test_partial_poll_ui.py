"""The console tells its socket source which rows are on screen: a large instance's
partial polls read those (the cursor's too), the header says how old the rows off
screen are, and a screen on top that may show any row means full polls."""

from __future__ import annotations

from rich.style import Style
from textual.pilot import Pilot

from bench.verify import StatAnswers
from console.haproxy.poller import SocketSource
from console.ui.app import HAConsoleApp
from tests.captured_data import read
from tests.ui.captured import target

STAT, INFO = read("2.8", "show_stat.txt"), read("2.8", "show_info.txt")


def _app() -> tuple[StatAnswers, SocketSource, HAConsoleApp]:
    """The console on 2.8's captured answers (a poll when the test asks for one)."""
    answers = StatAnswers(STAT, INFO)
    source = SocketSource(answers)  # type: ignore[arg-type]
    app = HAConsoleApp(target(), source=source, level="admin")
    app.target.interval = 3600
    return answers, source, app


async def _shown(app: HAConsoleApp, pilot: Pilot[int]) -> None:
    """Once the first snapshot is shown (at most 2.5 s)."""
    for _ in range(50):
        if app.monitor.snapshot is not None:
            return
        await pilot.pause(0.05)


async def test_partial_polls_read_the_rows_on_screen() -> None:
    answers, source, app = _app()
    source.partial.from_rows = 0
    async with app.run_test(size=(120, 24)) as pilot:
        await _shown(app, pilot)
        table = app.monitor.table
        shown = source.visible() if source.visible else None
        assert shown is not None
        assert shown[:-1] == table.lines[:len(shown) - 1] and shown[-1] == table.cursor_key
        assert len(shown) < len(table.lines)  # 24 rows: not every line fits
        answers.commands.clear()
        await app.poller.poll_once()
        await pilot.pause(0.05)
        assert source.partial.partial_polls == 1
        assert "show stat 2 -1 -1" in answers.commands  # fe_main, on top
        assert "show stat 8 -1 -1" not in answers.commands  # be_dead, far below
        assert app.monitor.snapshot is not None and app.monitor.snapshot.held
        assert "rows off screen ≤10s old" in str(app.monitor.header.render())
        # a full read between partial polls: the bound stays (the line does not jump)
        source.partial.full_at = -float("inf")  # a full dump is due
        answers.commands.clear()
        await app.poller.poll_once()
        assert "show stat" in answers.commands
        assert not app.monitor.snapshot.held
        assert "rows off screen ≤10s old" in str(app.monitor.header.render())
        # full reads only for more than a minute (a sorted table): no longer said
        assert app.monitor.header._held_at is not None
        app.monitor.header._held_at -= 61.0
        source.partial.full_at = -float("inf")
        await app.poller.poll_once()
        assert "rows off screen" not in str(app.monitor.header.render())
        await pilot.press("question_mark")  # the help: a dialog over the table
        await pilot.pause(0.05)
        assert source.visible() == shown
        await pilot.press("escape")
        await pilot.press("w")  # what's hurting: ranks every row
        await pilot.pause(0.1)
        assert source.visible() is None


async def test_a_large_instance_is_shown_from_its_first_look() -> None:
    """The first poll of a large instance reads the sweep first: its frontends and
    backends are on screen at once, the header says every server is being read, and
    nothing else works from that partial picture (no snapshot for actions, marks or
    drift; no event) until the full read that follows at once."""
    answers, source, app = _app()
    source.first_look_from = 1
    seen: list[tuple[int | None, list[str], str, bool, int]] = []
    async with app.run_test(size=(120, 30)) as pilot:
        monitor = app.monitor
        show = monitor.show_snapshot

        def spy(snap, events):  # type: ignore[no-untyped-def]
            show(snap, events)
            seen.append((snap.first_look, [r.type for r in monitor.table._model.rows.values()],
                         str(monitor.header.render()), monitor.snapshot is None, len(events)))

        monitor.show_snapshot = spy  # type: ignore[method-assign]
        for _ in range(100):
            if monitor.snapshot is not None:
                break
            await pilot.pause(0.05)
    assert answers.commands[:4] == ["show info", "show stat -1 3 -1", "show info", "show stat"]
    (look, look_types, look_header, no_snap, look_events), full = seen[0], seen[1]
    assert look is not None and look > 0 and no_snap and look_events == 0
    assert set(look_types) == {"frontend", "backend"}
    assert f"reading every server ({look:,} serving)" in look_header
    assert full[0] is None and "server" in full[1] and not full[3]
    assert "reading every server" not in full[2] and full[4] > 0  # the events at start


def _with(stat_text: str, step: int) -> str:
    """The captured answer with every row's sessions and bytes totals moved by *step*."""
    lines = stat_text.split("\n")
    names = lines[0][2:].split(",")
    at = [names.index(n) for n in ("stot", "bin", "bout", "req_tot", "hrsp_5xx")]
    out = [lines[0]]
    for line in lines[1:]:
        f = line.split(",")
        if len(f) == len(names):
            for i in at:
                if f[i].isascii() and f[i].isdigit():
                    f[i] = str(int(f[i]) + step * (3 + i % 5))
        out.append(",".join(f))
    return "\n".join(out)


async def test_a_refresh_of_every_row_has_its_rates_worked_out_in_a_thread(
        monkeypatch) -> None:
    """A large snapshot read in full has its rates (since the last refresh, and over the
    window) worked out off the event loop: the table and the charts get the same rates
    as when they are worked out on it."""
    import threading

    from console.haproxy import smoothing
    from console.haproxy.history import METRICS, History
    from console.haproxy.model import rates as plain_rates
    from console.haproxy.smoothing import RateWindow
    from console.ui.screens import monitor as monitor_mod

    monkeypatch.setattr(monitor_mod, "PREPARE_FROM", 0)
    where: list[bool] = []

    def rates(*args: object) -> object:
        where.append(threading.current_thread() is threading.main_thread())
        return plain_rates(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(monitor_mod, "rates", rates)
    monkeypatch.setattr(smoothing, "rates", rates)  # the window's own, if it worked any
    answers, source, app = _app()
    window, history, prev = RateWindow(), History(), None
    async with app.run_test(size=(120, 24)) as pilot:
        await _shown(app, pilot)
        monitor = app.monitor
        for step in range(1, 12):
            answers.set(_with(STAT, step * step))
            where.clear()
            await app.poller.poll_once()
            snap = monitor.snapshot
            assert snap is not None and snap.fresh is None  # read in full
            assert where and not any(where)  # every rate worked out in a thread
            if prev is None:
                prev = monitor.prev
                assert prev is not None
                window.add(prev, {})
                history.add(prev, {})
            instant = plain_rates(prev, snap)
            history.add(snap, instant)
            assert monitor.rates == window.add(snap, instant)
            assert monitor.rates and any(r.stot for r in monitor.rates.values())
            prev = snap
        for key in (("be_app", "up1"), ("be_app", "BACKEND"), ("fe_main", "FRONTEND")):
            for metric in METRICS:
                assert monitor.history.points(key, metric) == history.points(key, metric)
        assert monitor.history.points(("fe_main", "FRONTEND"), "req_rate")


async def test_a_sorted_table_or_a_state_filter_reads_every_row(monkeypatch) -> None:
    """Sorted, or showing problems or MAINT/DRAIN only, the rows on screen depend on
    every row's values: every row is read at each poll while that is cheap; above
    RANKED_FULL_BELOW rows the partial polls go on (the header says how old the rest
    is). Back in HAProxy's order with every row, the polls are partial again."""
    from console.ui.screens import monitor as monitor_mod

    answers, source, app = _app()
    source.partial.from_rows = 0
    async with app.run_test(size=(120, 24)) as pilot:
        await _shown(app, pilot)
        table = app.monitor.table
        assert source.visible is not None and source.visible() is not None
        for ranked in (lambda: table.sort_by("scur", reverse=True),
                       lambda: table.set_quick_filter("problems"),
                       lambda: table.set_quick_filter("maint_drain")):
            ranked()
            assert source.visible() is None
            answers.commands.clear()
            await app.poller.poll_once()
            assert "show stat" in answers.commands  # every row
            monkeypatch.setattr(monitor_mod, "RANKED_FULL_BELOW", 10)
            assert source.visible() is not None  # a large instance: partial polls
            monkeypatch.undo()
            table.sort_by(None)
            table.clear_filters()
            assert source.visible() is not None
        table.set_filter("app")
        assert source.visible() is not None  # a name filter: the rows are known
        table.sort_by("name")
        assert source.visible() is not None  # sorted by name: the same


def test_the_age_of_the_rows_off_screen_is_a_bound_in_steps() -> None:
    """Shown in steps of 10 s (the header does not change at every poll), and never
    less than the age itself."""
    from console.ui.header import held_bound

    assert [held_bound(a) for a in (0.0, 0.4, 9.9, 10.0, 10.2, 23.0, 59.5, 60.0, 61.0)] \
        == [10, 10, 10, 10, 20, 30, 60, 60, 70]
    for tenth in range(0, 2000):
        assert held_bound(tenth / 10) >= tenth / 10


async def test_rates_that_fail_in_the_thread_are_worked_out_on_the_loop(monkeypatch) -> None:
    """The thread is a speed-up only: whatever goes wrong there, the snapshot is shown
    with its rates worked out as before, and polls go on."""
    import threading

    from console.haproxy.model import rates as plain_rates
    from console.ui.screens import monitor as monitor_mod

    monkeypatch.setattr(monitor_mod, "PREPARE_FROM", 0)

    def rates(*args: object) -> object:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("broken in the thread")
        return plain_rates(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(monitor_mod, "rates", rates)
    answers, source, app = _app()
    async with app.run_test(size=(120, 24)) as pilot:
        await _shown(app, pilot)
        for step in (1, 2):
            answers.set(_with(STAT, step))
            shown = await app.poller.poll_once()
            assert shown is not None and app.monitor.snapshot is shown
        assert any(r.stot for r in app.monitor.rates.values())


async def test_the_header_is_drawn_again_only_when_it_changes(monkeypatch) -> None:
    """A refresh whose header reads as before does not draw it again (at 900 servers
    that was about a tenth of an idle refresh's CPU); a change in its figures, its
    state or the theme's styles does."""
    from console.ui.header import HeaderBar

    answers, source, app = _app()
    drawn: list[str] = []
    real = HeaderBar.render

    def render(self: HeaderBar) -> object:
        text = real(self)
        drawn.append(str(text))
        return text

    monkeypatch.setattr(HeaderBar, "render", render)
    async with app.run_test(size=(120, 24)) as pilot:
        await _shown(app, pilot)
        await pilot.pause(0.1)
        header = app.monitor.header
        for _ in range(3):
            await app.poller.poll_once()
            await pilot.pause(0.05)
        drawn.clear()
        for _ in range(3):  # the same answers: the same header
            await app.poller.poll_once()
            await pilot.pause(0.05)
        assert drawn == []
        answers.set(STAT, INFO.replace("CurrConns: ", "CurrConns: 7"))
        await app.poller.poll_once()
        await pilot.pause(0.05)
        assert drawn and "conn 7" in drawn[-1]
        drawn.clear()
        header.update_state(level="operator")
        await pilot.pause(0.05)
        assert drawn and "level: operator" in drawn[-1]
        drawn.clear()
        app.monitor.set_status_styles({**header.styles_map,
                                       "up": header.styles_map["up"] + Style(italic=True)})
        header.update_state()
        await pilot.pause(0.05)
        assert len(drawn) == 1
