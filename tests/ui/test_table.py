"""ProxyTable with Pilot: layout, navigation, sticky cursor, filters, sort, collapse,
views, incident-mark deltas, narrow terminals, 10,000 servers, and one SVG
snapshot per view (tests/ui/__snapshots__/, refreshed with --snapshot-update)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.style import Style
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console.haproxy.counters import Mark
from console.haproxy.model import Rates, Row, Snapshot, rates
from console.ui.widgets import ProxyTable

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "captured"
Key = tuple[str, str]


def captured(version: str = "2.8", taken_at: float = 100.0) -> Snapshot:
    text = (CAPTURED / version / "show_stat.txt").read_text(encoding="utf-8")
    return Snapshot.from_text(None, text, taken_at=taken_at, wall_time=1_700_000_000.0)


def edit(snap: Snapshot, changes: dict[Key, dict[str, str]] | None = None, *,
         drop: Iterable[Key] = (), before: Key | None = None,
         insert: Iterable[dict[str, str]] = (), reverse_proxy: str | None = None,
         taken_at: float | None = None) -> Snapshot:
    """A copy of ``snap`` with some fields changed, rows dropped, rows inserted before
    ``before`` (or at the end) and one proxy's servers in reverse order."""
    changes = changes or {}
    dropped = set(drop)
    rows: list[Row] = []
    extra = [Row.from_fields(f) for f in insert]
    for row in snap.rows:
        if row.key == before:
            rows.extend(extra)
            extra = []
        if row.key in dropped:
            continue
        if row.key in changes:
            row = Row.from_fields({**row.fields, **changes[row.key]})
        rows.append(row)
    rows.extend(extra)
    if reverse_proxy is not None:
        idx = [i for i, r in enumerate(rows) if r.proxy == reverse_proxy and r.type == "server"]
        servers = [rows[i] for i in idx]
        for i, row in zip(idx, reversed(servers), strict=True):
            rows[i] = row
    return Snapshot.from_rows(rows, taken_at=snap.taken_at if taken_at is None else taken_at,
                              wall_time=snap.wall_time)


def server(proxy: str, name: str, status: str = "UP", **fields: str) -> dict[str, str]:
    return {"pxname": proxy, "svname": name, "type": "2", "status": status, "weight": "1",
            "uweight": "1", "check_status": "L7OK", "check_duration": "1", "lastchg": "5",
            "scur": "0", "smax": "0", "stot": "0", **fields}


def backend(proxy: str, **fields: str) -> dict[str, str]:
    return {"pxname": proxy, "svname": "BACKEND", "type": "1", "status": "UP", "scur": "0",
            "stot": "0", **fields}


def big(backends: int = 100, per: int = 100, bump: int = 0) -> Snapshot:
    rows: list[dict[str, str]] = []
    for b in range(backends):
        proxy = f"be_{b:03d}"
        for s in range(per):
            status = "DOWN" if s % 97 == 0 else "UP"
            rows.append(server(proxy, f"srv{s}", status, scur=str((s * 7 + b) % 50),
                               stot=str(s * 10 + bump)))
        rows.append(backend(proxy, stot=str(per * 10 + bump)))
    return Snapshot.from_rows(rows, taken_at=float(bump), wall_time=1_700_000_000.0)


class TableApp(App[None]):
    def __init__(self, snapshot: Snapshot, view: str = "status",
                 rates: dict[Key, Rates] | None = None) -> None:
        super().__init__()
        self.snapshot, self.view, self.rates = snapshot, view, rates
        self.highlighted: list[Key | None] = []
        self.activated: list[Key] = []

    def compose(self) -> ComposeResult:
        yield ProxyTable(view=self.view)

    def on_mount(self) -> None:
        table = self.query_one(ProxyTable)
        table.set_snapshot(self.snapshot, self.rates)
        table.focus()

    def on_proxy_table_highlighted(self, message: ProxyTable.Highlighted) -> None:
        self.highlighted.append(message.key)

    def on_proxy_table_activated(self, message: ProxyTable.Activated) -> None:
        self.activated.append(message.key)


def screen(table: ProxyTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def line_of(table: ProxyTable, key: Key) -> str:
    """The text of ``key``'s line (scrolling it into view first)."""
    assert table.move_cursor_to(key)
    y = table.lines.index(key) - table.scroll_offset.y + 1
    return table.render_line(y).text


# --------------------------------------------------------------------------- layout


async def test_groups_in_haproxy_order_with_headers_and_children() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(ProxyTable)
        lines = table.lines
        assert lines[:4] == [("fe_main", "FRONTEND"), ("fe_main", "main"),
                             ("fe_stopped", "FRONTEND"), ("fe_shut", "FRONTEND")]
        i = lines.index(("be_app", "BACKEND"))
        assert lines[i + 1] == ("be_app", "up1")
        # a listen section: BACKEND on the header line, its FRONTEND first child
        j = lines.index(("tcp_hold", "BACKEND"))
        assert lines[j + 1: j + 3] == [("tcp_hold", "FRONTEND"), ("tcp_hold", "hold1")]
        text = screen(table)
        assert text[0].split()[:2] == ["name", "status"]
        header = line_of(table, ("be_app", "BACKEND"))
        assert "▾ be_app" in header and "7/13 up" in header and "● UP" in header
        assert "▼ DOWN" in line_of(table, ("be_app", "down_closed"))
        assert "▲ UP 2/3" in line_of(table, ("be_app", "flap_down"))
        assert "△ DOWN 1/3" in line_of(table, ("be_app", "flap_up"))
        assert "◐ DRAIN" in line_of(table, ("be_app", "drain_cli"))
        assert "○ no check" in line_of(table, ("be_app", "nocheck"))
        assert "■ STOP" in line_of(table, ("fe_shut", "FRONTEND"))
        assert "◐ PAUSED" in line_of(table, ("fe_stopped", "FRONTEND"))
        assert "◆ MAINT (via" in line_of(table, ("be_track", "trk_maint"))
        assert "L4CON 0ms" in line_of(table, ("be_app", "down_closed"))


async def test_header_line_stays_while_scrolling() -> None:
    app = TableApp(big(10, 20))
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(ProxyTable)
        await pilot.press("end")
        assert table.scroll_offset.y > 0
        assert screen(table)[0].split()[:2] == ["name", "status"]


# --------------------------------------------------------------------------- navigation


async def test_keyboard_navigation() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(ProxyTable)
        lines = table.lines
        assert table.cursor_key == lines[0]
        await pilot.press("down", "down")
        assert table.cursor_key == lines[2]
        await pilot.press("up")
        assert table.cursor_key == lines[1]
        await pilot.press("pagedown")
        page = table.scrollable_content_region.height - 1
        assert table.cursor_key == lines[1 + page]
        await pilot.press("end")
        assert table.cursor_key == lines[-1]
        top = table.scroll_offset.y
        assert top <= len(lines) - 1 < top + page
        await pilot.press("pageup")
        assert table.cursor_key == lines[-1 - page]
        await pilot.press("home")
        assert table.cursor_key == lines[0]
        assert table.scroll_offset.y == 0
        await pilot.press("up")
        assert table.cursor_key == lines[0]
        assert app.highlighted[0] == lines[0]
        assert app.highlighted[-1] == lines[0]
        await pilot.press("enter")
        assert app.activated == [lines[0]]


async def test_click_moves_the_cursor_and_header_click_sorts() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProxyTable)
        await pilot.click(ProxyTable, offset=(5, 3))
        assert table.cursor_key == table.lines[2]
        await pilot.click(ProxyTable, offset=(3, 0))  # the "name" title
        assert table.sort_column == "name"


async def test_space_marks_rows() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProxyTable)
        await pilot.press("down", "space", "down", "down", "space")
        assert table.marked == {table.lines[1], table.lines[3]}
        assert line_of(table, table.lines[1]).startswith("*")  # moves the cursor there
        assert not line_of(table, table.lines[2]).startswith("*")
        await pilot.press("up", "space")
        assert table.marked == {table.lines[3]}
        table.clear_marks()
        assert not table.marked


# --------------------------------------------------------------------------- sticky cursor


async def test_cursor_follows_its_row_across_a_refresh_that_reorders_and_adds() -> None:
    snap = captured()
    app = TableApp(snap)
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(ProxyTable)
        target = ("be_app", "maint_cli")
        assert table.move_cursor_to(target)
        before_index = table.lines.index(target)
        screen_row = before_index - table.scroll_offset.y
        new = [backend("be_new"), server("be_new", "n1"), server("be_new", "n2")]
        table.set_snapshot(edit(snap, insert=[new[1], new[2], new[0]],
                                before=("fe_main", "FRONTEND"), reverse_proxy="be_app"))
        await pilot.pause()
        assert table.cursor_key == target
        index = table.lines.index(target)
        assert index != before_index
        assert index - table.scroll_offset.y == screen_row  # same place on screen
        assert table.lines[0] == ("be_new", "BACKEND")
        # the row goes away: the cursor stays near it, never back to the top
        table.set_snapshot(edit(snap, drop=[target]))
        await pilot.pause()
        assert table.cursor_key is not None and table.cursor_key[0] == "be_app"


async def test_cursor_survives_sort_and_filter_and_comes_back() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProxyTable)
        target = ("be_app", "weight0")
        table.move_cursor_to(target)
        table.sort_by("name")
        assert table.cursor_key == target
        assert table.lines.index(("be_app", "backup1")) < table.lines.index(target)
        table.sort_by("scur", reverse=True)
        assert table.cursor_key == target
        table.set_filter("api")
        await pilot.pause()
        assert table.cursor_key is not None and table.cursor_key[0] == "be_api"
        table.set_filter("")
        await pilot.pause()
        assert table.cursor_key == target
        table.sort_by(None)
        assert table.lines[0] == ("fe_main", "FRONTEND")
        assert table.cursor_key == target


async def test_cycle_and_reverse_sort_mark_the_header() -> None:
    app = TableApp(captured("2.6"))
    async with app.run_test(size=(120, 40)):
        table = app.query_one(ProxyTable)
        table.cycle_sort()
        assert table.sort_column == "name"
        assert "name▲" in table.render_line(0).text
        assert table.lines[0] == ("be_api", "BACKEND")  # proxies by name
        table.reverse_sort()
        assert "name▼" in table.render_line(0).text
        assert table.lines[0] == ("tcp_hold", "BACKEND")
        table.cycle_sort()
        assert table.sort_column == "status"
        be_app = [k[1] for k in table.lines if k[0] == "be_app"]
        assert be_app[:3] == ["BACKEND", "down_closed", "bad_reason"]  # the worst first
        for _ in range(20):
            table.cycle_sort()
            if table.sort_column is None:
                break
        assert table.sort_column is None
        assert table.lines[0] == ("fe_main", "FRONTEND")


# --------------------------------------------------------------------------- filters


async def test_filter_by_text_and_regex() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(120, 40)):
        table = app.query_one(ProxyTable)
        table.set_filter("BE_AP")  # case-insensitive substring, on the proxy
        assert {k[0] for k in table.lines} == {"be_app", "be_api"}
        assert ("be_app", "up1") in table.lines
        table.set_filter(r"^up[12]$")  # a regex, on server names
        assert table.lines == [("be_app", "BACKEND"), ("be_app", "up1"), ("be_app", "up2")]
        table.set_filter("fe_main/main")  # proxy/name
        assert table.lines == [("fe_main", "FRONTEND"), ("fe_main", "main")]
        table.set_filter("up[")  # not a valid regex: a plain substring, found nowhere
        assert table.lines == []
        assert table.cursor_key is None
        table.set_filter("")
        assert len(table.lines) == 34


async def test_quick_filters() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(120, 40)):
        table = app.query_one(ProxyTable)
        table.set_quick_filter("problems")
        be_app = [k[1] for k in table.lines if k[0] == "be_app"]
        assert be_app == ["BACKEND", "drain_cli", "maint_cfg", "maint_cli", "down_closed",
                          "bad_reason", "flap_down", "flap_up"]
        assert ("fe_main", "FRONTEND") not in table.lines
        assert ("fe_shut", "FRONTEND") in table.lines  # STOP is a problem
        assert ("be_dead", "dead1") in table.lines
        table.set_quick_filter("maint_drain")
        names = {k[1] for k in table.lines if k[1] != "BACKEND"}
        assert names == {"drain_cli", "maint_cfg", "maint_cli", "agent_drain", "trk_maint",
                         "dns1"}
        table.set_quick_filter("backend", "be_api")
        assert {k[0] for k in table.lines} == {"be_api"} and len(table.lines) == 5
        table.set_filter("nolb")
        assert table.lines == [("be_api", "BACKEND"), ("be_api", "api_nolb")]
        table.set_filter("")
        table.set_quick_filter("all")
        assert len(table.lines) == 34


async def test_clear_filters_and_the_counts_told() -> None:
    counts: list[tuple[int, int, int]] = []

    class Counting(TableApp):
        def on_proxy_table_lines_changed(self, message: ProxyTable.LinesChanged) -> None:
            counts.append((message.shown, message.matched, message.total))

    app = Counting(captured())
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProxyTable)
        model = table.model
        assert not table.filtering and model.matched == len(model.full) == 34
        table.set_filter("api")
        table.set_quick_filter("problems")
        assert table.filtering and model.matched == len(table.lines) == 4
        table.toggle_collapse("be_api")
        assert len(table.lines) == 1 and model.matched == 4  # collapsed rows still count
        table.clear_filters()
        assert not table.filtering and model.filter_text == "" and model.quick == "all"
        assert model.matched == 34 and len(table.lines) == 30  # be_api stays collapsed
        await pilot.pause()
        assert counts[-1] == (30, 34, 34) and (1, 4, 34) in counts


async def test_problems_filter_follows_status_changes() -> None:
    snap = captured()
    app = TableApp(snap)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProxyTable)
        table.set_quick_filter("problems")
        assert ("be_app", "up1") not in table.lines
        table.set_snapshot(edit(snap, {("be_app", "up1"): {"status": "UP 1/3"}}))
        await pilot.pause()
        assert ("be_app", "up1") in table.lines
        assert "▲ UP 1/3" in line_of(table, ("be_app", "up1"))


# --------------------------------------------------------------------------- collapse


async def test_collapse_and_expand_a_backend() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(ProxyTable)
        table.move_cursor_to(("be_app", "down_closed"))
        await pilot.press("left")
        assert table.cursor_key == ("be_app", "BACKEND")
        assert ("be_app", "up1") not in table.lines
        header = line_of(table, ("be_app", "BACKEND"))
        assert "▸ be_app" in header and "7/13 up, 3 down, 2 maint, 1 drain" in header
        await pilot.press("right")
        assert ("be_app", "up1") in table.lines
        assert "▾ be_app" in line_of(table, ("be_app", "BACKEND"))
        table.collapse_all()
        assert all(k in table.model.headers for k in table.lines)
        # a hidden row: moving to it expands its group
        assert table.move_cursor_to(("be_api", "api_nolb"))
        assert ("be_api", "api_ok") in table.lines and ("be_app", "up1") not in table.lines
        table.expand_all()
        assert len(table.lines) == 34
        table.toggle_collapse("be_dead")
        assert ("be_dead", "dead1") not in table.lines


# --------------------------------------------------------------------------- views & mark


async def test_view_switch_changes_headers() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(160, 40)):
        table = app.query_one(ProxyTable)
        expected = {"status": ["check", "lastchg", "weight", "scur", "queue", "downtime"],
                    "traffic": ["stot", "bin", "bout", "in/s", "out/s", "rate"],
                    "http": ["req_tot", "1xx", "5xx", "other", "5xx/s"],
                    "errors": ["dreq", "econ", "eresp", "chkfail", "downtime"]}
        for view in ProxyTable.VIEWS:
            table.set_view(view)
            header = table.render_line(0).text
            for title in expected[view]:
                assert title in header, (view, title, header)
        table.set_view("http")
        table.sort_by("hrsp_5xx")
        table.set_view("status")  # no 5xx column here: back to HAProxy's order
        assert table.sort_column is None


async def test_mark_shows_counter_deltas() -> None:
    a = captured()
    key = ("be_app", "up1")
    bumped = {"stot": "101", "bin": "1052", "bout": "2077", "scur": "4"}
    b = edit(a, {key: bumped}, taken_at=a.taken_at + 2)
    app = TableApp(a, view="traffic")
    async with app.run_test(size=(140, 40)) as pilot:
        table = app.query_one(ProxyTable)
        table.set_mark(Mark.now(a))
        table.set_snapshot(b, rates(a, b))
        await pilot.pause()
        header = table.render_line(0).text
        assert "Δstot" in header and "Δbin" in header and "Δscur" not in header
        cells = line_of(table, key).split()
        assert cells[cells.index("UP") + 1: cells.index("UP") + 5] == ["4", "1", "-", "100"]
        assert "1000" in cells  # Δ bytes in
        assert "500" in cells  # in/s: 1000 bytes in 2 s
        table.set_mark(None)
        assert "Δ" not in table.render_line(0).text
        assert "101" in line_of(table, key).split()


# --------------------------------------------------------------------------- width & scale


async def test_80_columns_keeps_name_and_status() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(ProxyTable)
        assert table.size.width <= 80
        for y in range(table.size.height):
            assert table.render_line(y).cell_length <= 80
        header = table.render_line(0).text.split()
        assert header[:2] == ["name", "status"]
        assert "scur" in header
        line = line_of(table, ("be_app", "maint_cfg"))
        assert "maint_cfg" in line and "◆ MAINT" in line


async def test_ten_thousand_servers_render_scroll_and_refresh() -> None:
    app = TableApp(big(100, 100))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProxyTable)
        assert len(table.lines) == 10_100
        await pilot.press("end")
        assert table.cursor_key == ("be_099", "srv99")
        assert "srv99" in screen(table)[-1]
        for _ in range(5):
            await pilot.press("pageup")
        table.move_cursor_to(("be_050", "srv50"))
        assert "srv50" in line_of(table, ("be_050", "srv50"))
        rendered = set(table._strips.keys())
        table.set_snapshot(big(100, 100, bump=0))  # same values: no redraw at all
        assert set(table._strips.keys()) == rendered
        table.set_snapshot(big(100, 100, bump=1))  # every row changed
        await pilot.pause()
        assert table.cursor_key == ("be_050", "srv50")
        table.sort_by("scur", reverse=True)
        table.set_quick_filter("problems")
        assert len(table.lines) == 300  # a header and two DOWN servers per backend
        table.set_quick_filter("all")
        assert table.cursor_key == ("be_050", "srv50")


async def test_refresh_redraws_only_changed_rows() -> None:
    snap = captured()
    app = TableApp(snap)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(ProxyTable)
        cached = set(table._strips.keys())
        assert ("be_app", "up2") in cached
        table.set_snapshot(edit(snap, {("be_app", "up1"): {"scur": "9"}}))
        assert set(table._strips.keys()) == cached - {("be_app", "up1")}
        await pilot.pause()
        assert " 9 " in line_of(table, ("be_app", "up1"))


async def test_theme_styles_apply() -> None:
    app = TableApp(captured())
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProxyTable)
        table.set_status_styles({"down": Style(color="#123456")})
        await pilot.pause()
        table.move_cursor_to(("fe_main", "FRONTEND"))
        y = table.lines.index(("be_dead", "dead1")) + 1
        styles = [s.style for s in table.render_line(y) if "DOWN" in s.text]
        assert styles and styles[0].color is not None
        assert styles[0].color.name == "#123456"


# --------------------------------------------------------------------------- snapshots


def _rates_app(view: str) -> TableApp:
    a = captured(taken_at=100.0)
    b = edit(a, {("be_app", "up1"): {"stot": "41", "bin": "204852", "bout": "4096077",
                                     "req_tot": "41", "hrsp_5xx": "4"},
                 ("fe_main", "FRONTEND"): {"stot": "1207", "bin": "1048960", "req_tot": "1207"}},
             taken_at=110.0)
    return TableApp(b, view=view, rates=rates(a, b))


async def _cursor_down(pilot: Pilot[None]) -> None:
    await pilot.press("down", "down", "down", "down", "down")


def test_snapshot_status_view(snap_compare) -> None:
    assert snap_compare(_rates_app("status"), terminal_size=(120, 40), run_before=_cursor_down)


def test_snapshot_traffic_view(snap_compare) -> None:
    assert snap_compare(_rates_app("traffic"), terminal_size=(120, 40), run_before=_cursor_down)


def test_snapshot_http_view(snap_compare) -> None:
    assert snap_compare(_rates_app("http"), terminal_size=(120, 40), run_before=_cursor_down)


def test_snapshot_errors_view(snap_compare) -> None:
    assert snap_compare(_rates_app("errors"), terminal_size=(120, 40), run_before=_cursor_down)


async def test_a_row_whose_clock_alone_moved_compares_only_the_clock_columns(
        monkeypatch) -> None:
    """``lastchg`` ticks on every row at every refresh: such a row's other cells cannot
    have changed, only those of the columns reading a clock field are compared (and
    drawn again when they read otherwise). A row whose content moved too is compared
    whole."""
    from console.haproxy.model import SnapshotBuilder
    from console.ui.widgets import table as table_mod

    text = (CAPTURED / "2.8" / "show_stat.txt").read_text(encoding="utf-8")
    header, *body = text.split("\n")
    names = header[2:].split(",")
    at, scur = names.index("lastchg"), names.index("scur")

    def answer(lastchg: str, busy: str = "0") -> str:
        out = [header]
        for line in body:
            f = line.split(",")
            if len(f) > at and f[at]:
                f[at] = lastchg
            if line.startswith("be_app,up2,"):
                f[scur] = busy
            out.append(",".join(f))
        return "\n".join(out)

    builder = SnapshotBuilder()

    def snap(lastchg: str, taken_at: float, busy: str = "0") -> Snapshot:
        return Snapshot.from_rows(builder.rows(answer(lastchg, busy)), taken_at=taken_at,
                                  wall_time=1_700_000_000.0)

    compared: dict[Key, list[str]] = {}
    real = table_mod._changed_spans

    def spy(placed, old, old_rates, new, new_rates, mark):
        compared[old.key] = [p.column.id for p in placed]
        return real(placed, old, old_rates, new, new_rates, mark)

    monkeypatch.setattr(table_mod, "_changed_spans", spy)
    app = TableApp(snap("30", 100.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(ProxyTable)
        assert "<1m" in line_of(table, ("be_app", "up1"))
        table.set_snapshot(snap("90", 160.0, busy="7"))
        await pilot.pause()
        assert compared[("be_app", "up1")] == ["lastchg", "downtime"]
        assert len(compared[("be_app", "up2")]) > 5  # its scur moved: every column
        assert "1m" in line_of(table, ("be_app", "up1"))
        assert " 7 " in line_of(table, ("be_app", "up2"))
