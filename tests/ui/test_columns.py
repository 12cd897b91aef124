"""The table's columns as data: number formats, status cells, layout by width, and the
model's filters and sort (no Textual app needed)."""

from __future__ import annotations

import pytest

from console.haproxy.counters import Mark
from console.haproxy.model import Row, Snapshot, normalize_status
from console.ui.widgets.columns import (
    VIEW_COLUMNS,
    VIEWS,
    column_of,
    compact,
    fit,
    human_bytes,
    layout,
    natural_key,
    status_cell,
    status_rank,
)
from console.ui.widgets.table_model import TableModel, make_matcher


@pytest.mark.parametrize(("n", "text"), [
    (0, "0"), (42, "42"), (9999, "9999"), (10_000, "10.0k"), (12_345, "12.3k"),
    (123_456, "123k"), (999_499, "999k"), (999_949, "1.0M"), (1_234_567, "1.2M"),
    (3_000_000_000, "3.0G"), (0.25, "0.2"), (3.7, "3.7"), (12.6, "13"), (2.0, "2"),
])
def test_compact(n: float, text: str) -> None:
    assert compact(n) == text


@pytest.mark.parametrize(("n", "text"), [
    (0, "0"), (1023, "1023"), (1536, "1.5K"), (200 * 1024, "200K"),
    (int(3.9 * 1024 ** 2), "3.9M"), (120 * 1024 ** 3, "120G"), (1000 * 1024, "1.0M"),
])
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_fit_pads_aligns_and_crops_with_an_ellipsis() -> None:
    assert fit("abc", 5) == "abc  "
    assert fit("abc", 5, "right") == "  abc"
    assert fit("abcdef", 4) == "abc…"
    assert fit("● UP", 4) == "● UP"


@pytest.mark.parametrize(("raw", "text", "key"), [
    ("UP", "● UP", "up"),
    ("DOWN", "▼ DOWN", "down"),
    ("MAINT", "◆ MAINT", "maint"),
    ("MAINT (via be/srv)", "◆ MAINT (via be/srv)", "maint"),
    ("MAINT (resolution)", "◆ MAINT (resolution)", "maint"),
    ("DRAIN", "◐ DRAIN", "drain"),
    ("DRAIN (agent)", "◐ DRAIN (agent)", "drain"),
    ("NOLB", "◐ NOLB", "nolb"),
    ("no check", "○ no check", "nocheck"),
    ("UP 1/3", "▲ UP 1/3", "transition"),
    ("DOWN 1/2", "△ DOWN 1/2", "transition"),
    ("OPEN", "● OPEN", "open"),
    ("STOP", "■ STOP", "stop"),
    ("PAUSED", "◐ PAUSED", "drain"),
    ("WAITING", "? WAITING", "nocheck"),
    ("", "-", "dim"),
])
def test_status_cell_has_text_and_symbol(raw: str, text: str, key: str) -> None:
    assert status_cell(normalize_status(raw)) == (text, key)


def test_status_rank_puts_the_worst_first() -> None:
    order = ["UP", "MAINT", "DOWN 1/2", "DOWN", "UP 1/3", "no check", "DRAIN"]
    ranked = sorted(order, key=lambda s: status_rank(normalize_status(s)))
    assert ranked == ["DOWN", "UP 1/3", "DOWN 1/2", "MAINT", "DRAIN", "no check", "UP"]


def test_natural_key() -> None:
    assert sorted(["srv10", "srv2", "Srv1"], key=natural_key) == ["Srv1", "srv2", "srv10"]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("width", [60, 78, 80, 100, 120, 200])
def test_layout_fits_and_keeps_name_and_status(view: str, width: int) -> None:
    placed = layout(VIEW_COLUMNS[view], width)
    assert [p.column.id for p in placed[:2]] == ["name", "status"]
    end = placed[-1].x + placed[-1].width
    assert end <= width
    ids = [p.column.id for p in placed]
    assert ids == [c.id for c in VIEW_COLUMNS[view] if c.id in ids]  # the view's order
    if width >= 80:
        assert len(placed) >= 5


def test_wider_terminals_show_more_columns() -> None:
    counts = [len(layout(VIEW_COLUMNS["status"], w)) for w in (80, 100, 120, 200)]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert len(layout(VIEW_COLUMNS["status"], 200)) == len(VIEW_COLUMNS["status"])


def _row(**f: str) -> Row:
    base = {"pxname": "be", "svname": "s1", "type": "2", "status": "UP"}
    return Row.from_fields({**base, **f})


def test_counters_show_deltas_since_a_mark() -> None:
    stot = column_of("traffic", "stot")
    scur = column_of("traffic", "scur")
    assert stot is not None and scur is not None and stot.counter and not scur.counter
    a = _row(stot="100", scur="3")
    b = _row(stot="112", scur="5")
    mark = Mark.now(Snapshot.from_rows([a]))
    assert stot.formatter(b, mark, None)[0] == "12"
    assert stot.formatter(b, None, None)[0] == "112"
    assert scur.formatter(b, mark, None)[0] == "5"
    assert stot.title(True) == "Δstot" and scur.title(True) == "scur"
    assert stot.formatter(_row(stot=""), None, None) == ("-", "dim")


def test_the_errors_view_shows_5xx_and_the_shares_of_5xx_and_4xx() -> None:
    ids = [c.id for c in VIEW_COLUMNS["errors"]]
    assert ids[:6] == ["name", "status", "err_5xx", "5xx_pct", "4xx_pct", "5xx_s"]
    pct = column_of("errors", "5xx_pct")
    assert pct is not None and pct.counter
    a = _row(hrsp_2xx="90", hrsp_4xx="5", hrsp_5xx="5")
    assert pct.formatter(a, None, None) == ("5.0%", "warn")
    b = _row(hrsp_2xx="190", hrsp_4xx="5", hrsp_5xx="5")  # since a mark: 100 more, no 5xx
    assert pct.formatter(b, Mark.now(Snapshot.from_rows([a])), None) == ("0%", None)
    assert pct.formatter(_row(hrsp_2xx="2000", hrsp_5xx="1"), None, None)[0] == "0.05%"
    assert pct.formatter(_row(), None, None) == ("-", "dim")  # no responses: no share
    assert pct.sort_value(a, None, None) == 0.05


def test_matcher_substring_and_regex() -> None:
    m = make_matcher("API")
    assert m is not None and m(("be_api", "x")) and not m(("be_app", "x"))
    r = make_matcher(r"^web\d+$")
    assert r is not None and r(("be", "web12")) and not r(("be", "web"))
    p = make_matcher("be_app/up")
    assert p is not None and p(("be_app", "up1"))
    assert make_matcher("  ") is None


def test_model_sort_within_proxies_and_proxies_by_their_row() -> None:
    rows = [
        {"pxname": "b1", "svname": "s1", "type": "2", "status": "UP", "scur": "1"},
        {"pxname": "b1", "svname": "s2", "type": "2", "status": "UP", "scur": "9"},
        {"pxname": "b1", "svname": "BACKEND", "type": "1", "status": "UP", "scur": "10"},
        {"pxname": "b2", "svname": "t1", "type": "2", "status": "UP", "scur": ""},
        {"pxname": "b2", "svname": "t2", "type": "2", "status": "UP", "scur": "4"},
        {"pxname": "b2", "svname": "BACKEND", "type": "1", "status": "UP", "scur": "40"},
    ]
    model = TableModel()
    model.update(Snapshot.from_rows(rows), None)
    assert model.lines == [("b1", "BACKEND"), ("b1", "s1"), ("b1", "s2"),
                           ("b2", "BACKEND"), ("b2", "t1"), ("b2", "t2")]
    model.set_sort(column_of("status", "scur"), reverse=True)
    assert model.lines == [("b2", "BACKEND"), ("b2", "t2"), ("b2", "t1"),  # no value: last
                           ("b1", "BACKEND"), ("b1", "s2"), ("b1", "s1")]
    # a live sort follows new values
    rows[0] = {**rows[0], "scur": "50"}
    changes = model.update(Snapshot.from_rows(rows), None)
    assert changes.rebuilt
    assert model.lines[3:] == [("b1", "BACKEND"), ("b1", "s1"), ("b1", "s2")]
    # same values again: nothing to do
    changes = model.update(Snapshot.from_rows(rows), None)
    assert not changes.rebuilt and not changes.changed


def test_problems_include_a_server_whose_5xx_share_is_well_above_its_backends() -> None:
    def rows(bad_5xx: str) -> list[dict[str, str]]:
        def server(name: str, fives: str) -> dict[str, str]:
            return {"pxname": "be", "svname": name, "type": "2", "status": "UP",
                    "hrsp_2xx": "100", "hrsp_5xx": fives}
        return [server("s1", "1"), server("s2", "0"), server("s3", bad_5xx),
                {"pxname": "be", "svname": "BACKEND", "type": "1", "status": "UP",
                 "hrsp_2xx": "300", "hrsp_5xx": str(1 + int(bad_5xx))}]

    model = TableModel()
    model.update(Snapshot.from_rows(rows("2")), None)
    model.set_quick("problems")
    assert ("be", "s3") not in model.lines  # 2 % is not well above the backend's 1 %
    changes = model.update(Snapshot.from_rows(rows("40")), None)
    assert changes.rebuilt and ("be", "s3") in model.lines  # 29 % vs the backend's 12 %
    assert ("be", "s1") not in model.lines and ("be", "s2") not in model.lines
    mark = Mark.now(Snapshot.from_rows(rows("40")))
    model.set_mark(mark)  # since the mark nothing happened: no outlier any more
    assert ("be", "s3") not in model.lines
