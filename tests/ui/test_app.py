"""The console as a user drives it: Pilot tests and screenshots of the whole app."""

from __future__ import annotations

import json
import math

import pytest

from console import settings as settings_mod
from console.haproxy.errors import ConnectionRefused
from console.haproxy.journal import read_entries
from console.haproxy.known_bugs import crash_risk
from console.ui.app import HAConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.help import HelpScreen
from console.ui.widgets.table import ProxyTable
from tests.ui.captured import CapturedSource, first_up, target

THEMES = ["dark", "light", "high-contrast", "colorblind", "monochrome"]


def make_app(source: CapturedSource | None = None, theme: str = "dark", level: str = "admin",
             settings=None) -> HAConsoleApp:
    return HAConsoleApp(target(), theme=theme, source=source or CapturedSource(),
                        level=level, settings=settings)


async def refresh(pilot, app: HAConsoleApp) -> None:
    """One poll of the source, and the screen drawn from it."""
    await app.poller.poll_once()
    await pilot.pause(0.05)


async def ready(pilot, app: HAConsoleApp) -> None:
    for _ in range(50):
        if app.monitor.snapshot is not None:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.1)


# -- screenshots -----------------------------------------------------------------------

@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("view", ["1", "2", "3", "4"], ids=["status", "traffic", "http",
                                                            "errors"])
def test_snapshot_views(snap_compare, size, view) -> None:
    async def run_before(pilot) -> None:
        await ready(pilot, pilot.app)
        await pilot.press(view)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 45)],
                         ids=["80x24", "120x40", "160x45"])
def test_snapshot_detail(snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await ready(pilot, pilot.app)
        await pilot.press("down", "down", "down", "down", "down")
        if size[0] < 140:
            await pilot.press("enter")  # enter opens the detail pane on a narrow terminal
        await pilot.pause(0.1)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
def test_snapshot_themes(snap_compare, theme) -> None:
    async def run_before(pilot) -> None:
        await ready(pilot, pilot.app)

    assert snap_compare(make_app(theme=theme), terminal_size=(120, 40), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_filter_bar(snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await ready(pilot, pilot.app)
        await pilot.press("slash", "a", "p", "i", "enter", "exclamation_mark")
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_snapshot_events_pane_takes_the_free_height(snap_compare) -> None:
    async def run_before(pilot) -> None:
        await ready(pilot, pilot.app)
        await pilot.press("slash", *"be_app", "enter")
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=run_before)


def test_snapshot_events_pane_scrolled_up(snap_compare) -> None:
    source = CapturedSource()

    async def run_before(pilot) -> None:
        app = pilot.app
        await ready(pilot, app)
        app.monitor.event_log.focus()
        await pilot.press("home")
        await server_goes_down(pilot, app, source)
        await server_goes_down(pilot, app, source)
        await pilot.pause(0.2)

    assert snap_compare(make_app(source), terminal_size=(80, 24), run_before=run_before)


# -- behaviour -------------------------------------------------------------------------

async def test_views_and_filter_keys() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        for key, view in (("2", "traffic"), ("3", "http"), ("4", "errors"), ("1", "status")):
            await pilot.press(key)
            assert table.view == view
        total = len(table.lines)
        await pilot.press("slash", "b", "e", "_", "a", "p", "p")
        await pilot.pause(0.1)
        assert 0 < len(table.lines) < total
        assert all(k[0] == "be_app" for k in table.lines)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert len(table.lines) == total


async def test_problems_filter_and_cursor_stability() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        await pilot.press("down", "down", "down")
        key = table.cursor_key
        await pilot.press("r")
        await pilot.pause(0.2)
        assert table.cursor_key == key
        await pilot.press("exclamation_mark")
        await pilot.pause(0.1)
        rows = [app.monitor.snapshot.get(*k) for k in table.lines]
        servers = [r for r in rows if r and r.type == "server"]
        assert servers and all(r.status.problem for r in servers)
        await pilot.press("exclamation_mark")
        await pilot.pause(0.1)
        assert len(table.lines) > len(rows)


async def test_server_down_makes_an_event() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        up = first_up(app.monitor.snapshot)
        source.edit(up.proxy, up.name, status="DOWN", check_status="L4CON")
        await pilot.press("r")
        await pilot.pause(0.3)
        assert app.monitor.snapshot.get(*up.key).status.kind == "DOWN"
        msgs = [e.message for e in app.monitor.timeline.events]
        assert any(f"{up.proxy}/{up.name}" in m and "DOWN" in m for m in msgs), msgs


async def test_a_flapping_server_keeps_one_counting_line_in_the_events_pane() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        up = first_up(app.monitor.snapshot)
        pane = app.query_one("#events")
        before = len(pane.events)
        for i in range(4):
            down = i % 2 == 0
            source.edit(up.proxy, up.name, status="DOWN" if down else "UP",
                        check_status="L4CON" if down else "L7OK")
            await refresh(pilot, app)
        mine = [e for e in app.monitor.timeline.events if e.target == f"{up.proxy}/{up.name}"]
        assert len(mine) == 4  # the timeline (and the export) keep every change
        assert len(pane.events) == before + 1
        line = pane.events[-1].message
        assert line.startswith(f"server {up.proxy}/{up.name} flapping ") and "4 changes" in line
        assert pane.events[-1].severity == "error"


async def test_the_detail_pane_shows_a_servers_recent_checks_and_events() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        up = first_up(app.monitor.snapshot)
        assert app.query_one(ProxyTable).move_cursor_to(up.key)
        for status, check in (("UP", "L7OK"), ("DOWN", "L4CON"), ("DOWN 1/2", "L7OK")):
            source.edit(up.proxy, up.name, status=status, check_status=check)
            await refresh(pilot, app)
        recent = str(app.query_one("#detail-recent").render())
        assert recent.startswith("checks ✓") and "✗" in recent and "since " in recent
        assert "✖ UP → DOWN (check L4CON)" in recent and "last failure" in recent
        assert "▲ DOWN, recovering 1/2 (check L7OK)" in recent  # progress, not an error


async def test_mark_shows_deltas_without_clearing() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        row = next(r for r in app.monitor.snapshot.servers if r.num("stot") is not None)
        await pilot.press("m")
        assert app.monitor.mark is not None
        source.edit(row.proxy, row.name, stot=str(row.num("stot") + 42))
        await pilot.press("r")
        await pilot.pause(0.3)
        new = app.monitor.snapshot.get(*row.key)
        assert app.monitor.mark.delta(new, "stot") == 42
        assert "Δ since mark" in str(app.query_one("#header").render())
        await pilot.press("M")
        assert app.monitor.mark is None


async def test_a_reload_during_a_mark_keeps_what_was_counted_before_it() -> None:
    """A reload restarts HAProxy's counters: Δreq went from 131 to 30 while the header
    still said "Δ since mark". The Δ now carry the totals counted before the reload."""
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        row = next(r for r in app.monitor.snapshot.servers if r.num("stot") is not None)
        stot = row.num("stot") or 0
        await pilot.press("m")
        source.edit(row.proxy, row.name, stot=str(stot + 131))
        await refresh(pilot, app)
        source.info_text = source.info_text.replace("Pid: 5606", "Pid: 7777")  # a reload:
        source.edit(row.proxy, row.name, stot="30")  # the new worker counts from zero
        await refresh(pilot, app)
        mark = app.monitor.mark
        assert mark is not None
        assert mark.delta(app.monitor.snapshot.get(*row.key), "stot") == 161
        notes = [e.message for e in app.monitor.timeline.events if e.kind == "note"]
        assert any("reload during the incident mark" in n for n in notes), notes
        source.edit(row.proxy, row.name, stot="40")
        await app.poller.poll_once()
        assert mark.delta(app.monitor.snapshot.get(*row.key), "stot") == 171


async def test_the_mark_is_kept_for_the_next_start_and_cleared_with_m() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        row = next(r for r in app.monitor.snapshot.servers if r.num("stot") is not None)
        stot = row.num("stot") or 0
        await pilot.press("m")
        source.edit(row.proxy, row.name, stot=str(stot + 5))
        await refresh(pilot, app)
    again = make_app(source)
    async with again.run_test(size=(120, 40)) as pilot:
        await ready(pilot, again)
        mark = again.monitor.mark
        assert mark is not None
        assert mark.delta(again.monitor.snapshot.get(*row.key), "stot") == 5
        assert "Δ since mark" in str(again.query_one("#header").render())
        notes = [e.message for e in again.monitor.timeline.events if e.kind == "note"]
        assert any("restored from the last session" in n for n in notes), notes
        await pilot.press("M")
    third = make_app(source)
    async with third.run_test(size=(120, 40)) as pilot:
        await ready(pilot, third)
        assert third.monitor.mark is None


async def test_pick_the_sort_column_directly() -> None:
    """5xx were reached by pressing s five times: < then the column's key sorts by it."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        await pilot.press("4", "less_than_sign")
        await pilot.pause()
        body = str(app.screen.query_one(".dialog-body Static").render())
        assert " 4  5xx%" in body and " 0  HAProxy's order  ← now" in body
        await pilot.press("down", "down", "down")
        await pilot.press("4")
        await pilot.pause()
        assert (table.sort_column, table.sort_reverse) == ("5xx_pct", True)  # largest first
        assert table._cursor == 0  # picked to find the worst: the cursor on the top row
        await pilot.press("less_than_sign", "4")
        await pilot.pause()
        assert (table.sort_column, table.sort_reverse) == ("5xx_pct", False)  # reversed
        await pilot.press("less_than_sign", "escape")
        await pilot.pause()
        assert table.sort_column == "5xx_pct"
        await pilot.press("less_than_sign", "0")
        await pilot.pause()
        assert table.sort_column is None


async def test_help_lists_bindings_with_ids() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        assert {"quit", "filter", "mark.set", "counters.clear", "view.http"} <= ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_help_names_the_stats_page_the_config_declares(tmp_path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text("listen stats\n    bind 127.0.0.1:4567\n    stats uri /stats\n")
    app = make_app()
    app.target.config = str(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        assert "stats page: http://127.0.0.1:4567/stats (from the config)" in app.screen.notes[0]
        await pilot.press("escape")
        app.target.url = "http://10.0.0.1/s"
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert "stats page: http://10.0.0.1/s" in app.screen.notes[0]


async def test_keys_remapped_from_settings(tmp_path) -> None:
    p = tmp_path / "settings.toml"
    p.write_text('[keys]\n"view.http" = "h"\n')
    app = make_app(settings=settings_mod.load(p))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("h")
        assert app.query_one(ProxyTable).view == "http"


async def test_theme_switch_is_remembered_with_comments(tmp_path) -> None:
    p = tmp_path / "settings.toml"
    p.write_text("# mine\n[ui]\ntheme = \"dark\"  # keep this comment\n")
    app = make_app(settings=settings_mod.load(p))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("t")
        await pilot.pause(0.1)
        assert app.theme_name != "dark"
    text = p.read_text()
    assert f'theme = "{app.theme_name}"' in text
    assert "# keep this comment" in text and "# mine" in text


async def test_broken_theme_falls_back(tmp_path, monkeypatch) -> None:
    app = make_app(theme="no-such-theme")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        assert app.theme_name == "dark"


async def test_unreachable_keeps_last_data_and_recovers() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        before = app.monitor.snapshot
        source.fail_with = ConnectionRefused("connection refused", "/x.sock")
        await pilot.press("r")
        await pilot.pause(0.3)
        assert app.monitor.snapshot is before  # last good data kept
        assert app.poller.status.state in ("stale", "disconnected")
        header = str(app.query_one("#header").render())
        assert "stale" in header or "disconnected" in header
        assert any(e.kind == "unreachable" for e in app.monitor.timeline.events)
        source.fail_with = None
        app.poller.refresh_now()
        await pilot.pause(0.3)
        assert app.poller.status.state == "live"
        assert any(e.kind == "reachable" for e in app.monitor.timeline.events)


async def test_export_timeline(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(tmp_path))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("m", "x")
        for _ in range(40):
            await pilot.pause(0.05)
            if list(tmp_path.glob("haconsole-timeline-*.md")):
                break
    files = list(tmp_path.glob("haconsole-timeline-*.md"))
    assert len(files) == 1
    text = files[0].read_text()
    assert "incident mark" in text and "## Summary" in text
    assert "## What was hurting" in text and "## Log summaries" in text
    assert "per backend:" in text  # the deltas since the mark, from the latest snapshot


# -- clear counters against a real HAProxy ----------------------------------------------

@pytest.mark.haproxy
async def test_clear_counters_no_sends_nothing_yes_sends_exact_command(instance) -> None:
    from console.instance import Target

    app = HAConsoleApp(Target(name="t", socket=instance.admin, interval=3600))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("z")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmScreen)
        assert "clear counters" in app.screen.commands
        await pilot.press("n")
        await pilot.pause(0.2)
        assert read_entries("t") == []
        await pilot.press("z")
        await pilot.pause(0.1)
        await pilot.press("y")
        for _ in range(40):
            if read_entries("t"):
                break
            await pilot.pause(0.05)
        entries = read_entries("t")
        assert [e["command"] for e in entries] == ["clear counters"]
        assert entries[0]["ok"] is True and entries[0]["socket"] == instance.admin
        await pilot.press("Z")
        await pilot.pause(0.1)
        if crash_risk("clear_counters_all", app.monitor.snapshot.info.version):
            # HAProxy 3.4.0 crashes on it under traffic: refused, nothing sent, journaled
            assert not isinstance(app.screen, ConfirmScreen)
            last = read_entries("t")[-1]
            assert last["via"] == "refused" and "3.4.0's worker crashes" in last["error"]
            return
        # clear counters all needs the instance's name typed, as on the command line
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.type_to_confirm == "t"
        await pilot.press("y", "enter")  # typing "y" is not a confirmation
        await pilot.pause(0.1)
        assert read_entries("t")[-1]["command"] == "clear counters"
        await pilot.press("t", "enter")
        for _ in range(40):
            if len(read_entries("t")) == 2:
                break
            await pilot.pause(0.05)
        assert [e["command"] for e in read_entries("t")] == ["clear counters",
                                                              "clear counters all"]
    json.dumps(read_entries("t"))


@pytest.mark.haproxy
async def test_operator_socket_cannot_clear_all(instance) -> None:
    from console.instance import Target

    app = HAConsoleApp(Target(name="op", socket=instance.operator, interval=3600))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        for _ in range(20):
            if app.level:
                break
            await pilot.pause(0.05)
        assert app.level == "operator"
        assert "read-only" in str(app.query_one("#header").render())
        await pilot.press("Z")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)
        assert read_entries("op") == []


async def test_garbage_answer_keeps_last_data() -> None:
    from console.haproxy.errors import ParseError

    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        before = app.monitor.snapshot
        source.fail_with = ParseError("'show stat' answer is not HAProxy's CSV", "show stat")
        await pilot.press("r")
        await pilot.pause(0.3)
        assert app.monitor.snapshot is before
        banner = app.query_one("#banner")
        assert banner.has_class("visible")
        assert "not HAProxy's CSV" in str(banner.render())
        source.fail_with = None
        await pilot.press("r")
        await pilot.pause(0.3)
        assert not banner.has_class("visible")


async def test_a_poll_longer_than_the_interval_stretches_it_and_the_header_says_so() -> None:
    import asyncio

    from console.instance import Target
    from console.ui.header import HeaderBar

    class Slow(CapturedSource):
        async def fetch(self):
            await asyncio.sleep(0.3)  # a poll that takes longer than the interval
            return await super().fetch()

    app = HAConsoleApp(Target(name="edge", socket=None, url=None, interval=0.2),
                       theme="dark", source=Slow(), level="admin")
    async with app.run_test(size=(160, 40)) as pilot:
        for _ in range(60):
            if app.poller.status.polls >= 1:
                break
            await pilot.pause(0.05)
        status = app.poller.status
        assert status.stretched and status.interval >= 0.4
        header = str(app.query_one(HeaderBar).render())
        assert f"interval stretched to {status.interval:g}s" in header, header


# -- the filter bar ----------------------------------------------------------------------

def bar(app: HAConsoleApp) -> str:
    return app.monitor.filter_bar.text


@pytest.mark.parametrize("clear", ["a", "escape"])
async def test_a_and_escape_clear_the_name_filter(clear) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        total = len(table.lines)
        assert bar(app) == "" and not app.monitor.filter_bar.display
        await pilot.press("slash", "a", "p", "i", "enter")
        await pilot.pause(0.1)
        assert table.has_focus and 0 < len(table.lines) < total
        assert all("api" in k[0] or "api" in k[1] for k in table.lines)
        assert app.monitor.filter_bar.display
        assert bar(app).startswith("filter: api ✕")
        await pilot.press(clear)
        await pilot.pause(0.1)
        assert len(table.lines) == total
        assert bar(app) == "" and not app.monitor.filter_bar.display
        assert app.monitor.filter_box.value == ""
        assert not app.monitor.filter_box.has_class("visible")


@pytest.mark.parametrize("clear", ["a", "escape"])
async def test_a_and_escape_clear_every_filter(clear) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        total = len(table.lines)
        await pilot.press("slash", "a", "p", "i", "enter", "exclamation_mark")
        await pilot.pause(0.1)
        assert bar(app).startswith("filter: api ✕  problems ✕   ")
        await pilot.press(clear)
        await pilot.pause(0.1)
        assert len(table.lines) == total and table.model.quick == "all"
        assert bar(app) == ""
        for keys in (("D",), ("b",), ("down", "down", "down", "down", "b")):
            await pilot.press(*keys)
            await pilot.pause(0.1)
            assert bar(app) and len(table.lines) < total
            await pilot.press(clear)
            await pilot.pause(0.1)
            assert bar(app) == "" and len(table.lines) == total


async def test_the_bar_counts_the_rows_the_filters_let_through() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        total = len(table.model.full)
        await pilot.press("slash", "a", "p", "i", "enter")
        await pilot.pause(0.1)
        shown = len(table.lines)
        assert bar(app) == f"filter: api ✕   {shown} of {total} rows · esc: show all"
        await pilot.press("left")  # collapsing the group does not change the count
        await pilot.pause(0.1)
        assert len(table.lines) < shown
        assert f"   {shown} of {total} rows" in bar(app)
        await pilot.press("exclamation_mark")
        await pilot.pause(0.1)
        problems = table.model.matched
        assert 0 < problems < shown
        assert bar(app) == (f"filter: api ✕  problems ✕   {problems} of {total} rows"
                            " · esc: show all")
        await pilot.press("exclamation_mark")  # the quick filter goes, the name filter stays
        await pilot.pause(0.1)
        assert bar(app).startswith(f"filter: api ✕   {shown} of {total} rows")


async def test_escape_in_the_filter_box_clears_only_the_name_filter() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        await pilot.press("exclamation_mark", "slash", "a", "p", "i")
        await pilot.pause(0.1)
        assert "api ✕  problems ✕" in bar(app)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert table.has_focus and table.model.quick == "problems"
        assert bar(app).startswith("filter: problems ✕   ")


def typed_in_one_read(app: HAConsoleApp, keys: list[tuple[str, str | None]]) -> None:
    """Keys as the terminal driver sends them when they arrive in one read: all posted
    before any is handled (Pilot.press waits for each)."""
    from textual import events

    for key, character in keys:
        app.post_message(events.Key(key, character))


async def test_keys_typed_right_after_slash_go_into_the_filter() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        # "/api⏎" in one read: before, "a" cleared the filters and "p" paused the console
        typed_in_one_read(app, [("slash", "/"), ("a", "a"), ("p", "p"), ("i", "i"),
                                ("enter", "\r")])
        await pilot.pause(0.3)
        assert table.model.filter_text == "api" and table.has_focus
        assert not app.poller.paused
        assert "api ✕" in bar(app)
        await pilot.press("slash", "end")  # a slash typed in the box is text
        typed_in_one_read(app, [("slash", "/"), ("x", "x")])
        await pilot.pause(0.3)
        assert app.screen.filter_box.value == "api/x"


async def test_a_click_on_a_cross_removes_that_filter() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("slash", "a", "p", "i", "enter", "exclamation_mark")
        await pilot.pause(0.1)
        text = bar(app)
        await pilot.click("#filterbar", offset=(1 + text.index("✕", text.index("problems")), 0))
        await pilot.pause(0.1)
        assert app.monitor.table.model.quick == "all"
        assert bar(app).startswith("filter: api ✕   ")
        await pilot.click("#filterbar", offset=(1 + bar(app).index("✕"), 0))
        await pilot.pause(0.1)
        assert bar(app) == "" and not app.monitor.table.filtering


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_the_bar_fits_on_one_line(size) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await ready(pilot, app)
        await pilot.press("slash", *"be_app|be_api|fe_main", "enter", "exclamation_mark")
        await pilot.pause(0.1)
        filter_bar = app.monitor.filter_bar
        assert filter_bar.size.height == 1
        text = filter_bar.text
        assert len(text) <= filter_bar.content_region.width
        assert "problems ✕" in text and " of " in text


# -- the events pane -------------------------------------------------------------------

def screen_lines(app: HAConsoleApp) -> list[str]:
    return ["".join(seg.text for seg in strip).rstrip()
            for strip in app.screen._compositor.render_strips()]


def pane_lines(app: HAConsoleApp) -> list[str]:
    """The events pane's lines as on screen (its top border first)."""
    region = app.monitor.event_log.region
    return screen_lines(app)[region.y:region.bottom]


async def server_goes_down(pilot, app: HAConsoleApp, source: CapturedSource) -> str:
    """A server goes DOWN at the next poll; returns its ``proxy/name``."""
    up = first_up(app.monitor.snapshot)
    source.edit(up.proxy, up.name, status="DOWN", check_status="L4CON")
    await app.poller.poll_once()
    await pilot.pause(0.1)
    return f"{up.proxy}/{up.name}"


async def test_the_events_pane_takes_the_height_the_table_does_not_need() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        table, log = app.query_one(ProxyTable), app.monitor.event_log
        body = app.query_one("#body").size.height
        assert log.outer_size.height == 8  # the table needs more than the body: the minimum
        assert table.size.height == body - 8
        await pilot.press("slash", *"be_app", "enter")
        await pilot.pause(0.2)
        body = app.query_one("#body").size.height  # the filter bar took a row
        need = len(table.lines) + 1  # its column header and lines
        assert body - need > 8
        assert table.size.height == need and log.outer_size.height == body - need
        await pilot.press("escape", "slash", *"be_api", "enter")  # a few rows
        await pilot.pause(0.2)
        assert 0 < len(table.lines) + 1 < math.ceil(body / 3)
        # the table keeps a third of the body, the events pane at most the rest
        assert table.size.height == math.ceil(body / 3)
        assert log.outer_size.height == body - table.size.height
        await pilot.press("escape", "escape")
        await pilot.pause(0.2)
        assert table.model.filter_text == "" and log.outer_size.height == 8
        await pilot.press("e")  # hidden: the table takes it all
        await pilot.pause(0.2)
        assert not log.display and table.size.height == app.query_one("#body").size.height


async def test_the_events_pane_follows_new_events() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        for _ in range(3):
            name = await server_goes_down(pilot, app, source)
            assert name in pane_lines(app)[-1] and "DOWN" in pane_lines(app)[-1]


async def test_scrolled_up_the_pane_counts_new_events_until_e_or_end() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        log = app.monitor.event_log
        log.focus()
        await pilot.press("home")
        await pilot.pause(0.1)
        assert not log.following
        top = pane_lines(app)[1]
        first = await server_goes_down(pilot, app, source)
        second = await server_goes_down(pilot, app, source)
        assert pane_lines(app)[1] == top  # the lines being read stay put
        assert "↓ 2 new · End or e: follow" in pane_lines(app)[0]
        await pilot.press("e")  # back to the newest, following again, still shown
        await pilot.pause(0.1)
        assert log.display and log.following
        assert second in pane_lines(app)[-1] and first in pane_lines(app)[-2]
        assert "new" not in pane_lines(app)[0]
        await pilot.press("home")
        await pilot.pause(0.1)
        await server_goes_down(pilot, app, source)
        assert "↓ 1 new" in pane_lines(app)[0]
        await pilot.press("end")
        await pilot.pause(0.1)
        assert log.following and "new" not in pane_lines(app)[0]
        third = await server_goes_down(pilot, app, source)
        assert third in pane_lines(app)[-1]
        await pilot.press("e")  # following: e hides the pane, and shows it again
        await pilot.pause(0.1)
        assert not log.display
        fourth = await server_goes_down(pilot, app, source)
        await pilot.press("e")
        await pilot.pause(0.1)
        assert log.display and fourth in pane_lines(app)[-1]


async def test_the_events_pane_keeps_following_across_resizes() -> None:
    source = CapturedSource()
    app = make_app(source)
    async with app.run_test(size=(60, 20)) as pilot:
        await ready(pilot, app)
        for size in ((120, 40), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause(0.2)
        name = await server_goes_down(pilot, app, source)
        last = pane_lines(app)[-1]
        assert name in last and "DOWN" in last, pane_lines(app)


def test_events_height_splits_the_body() -> None:
    from console.ui.screens.monitor import events_height

    # the table needs more than there is: the events pane keeps its minimum
    assert events_height(37, 35, short=False) == 8
    assert events_height(21, 35, short=True) == 4
    # the table gets what it needs, the events pane the rest...
    assert events_height(37, 16, short=False) == 21
    # ...up to all but a third of the body
    assert events_height(36, 6, short=False) == 24
    assert events_height(20, 2, short=True) == 13
    # no data yet: the minimum, so the first frame does not jump
    assert events_height(37, None, short=False) == 8
    # a tiny body keeps 3 rows of table
    assert events_height(6, 40, short=True) == 3
    assert events_height(0, 5, short=True) == 4


@pytest.mark.parametrize(("value", "expected"), [
    ("", 20_000), ("50000", 50_000), ("abc", 20_000), ("-5", 20_000), ("10", 20_000),
    ("٣٠٠٠", 20_000), ("99999999999", 20_000), (" 30000 ", 30_000)])
def test_gc_young_from_the_environment(monkeypatch, value, expected) -> None:
    from console.ui.app import _gc_young

    monkeypatch.setenv("HACONSOLE_GC_YOUNG", value)
    assert _gc_young() == expected
