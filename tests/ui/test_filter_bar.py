"""The filter bar's line: every active filter, N of M rows, fitted to the width."""

from __future__ import annotations

from rich.cells import cell_len

from console.ui.widgets.filter_bar import FilterState, bar_text


def line(state: FilterState, width: int = 120) -> str:
    return "".join(text for text, _ in bar_text(state, width))


def test_inactive_without_filters() -> None:
    assert not FilterState(" ", "all", shown=3, total=3).active
    assert FilterState("api").active and FilterState(quick="problems").active


def test_every_filter_and_the_count() -> None:
    state = FilterState("api", "problems", shown=12, total=48)
    assert line(state) == "filter: api ✕  problems ✕   12 of 48 rows · esc: show all"
    assert line(FilterState(quick="maint_drain", shown=2, total=48)) \
        == "filter: MAINT/DRAIN ✕   2 of 48 rows · esc: show all"
    assert line(FilterState(quick="backend", quick_arg="be_app", shown=14, total=48,
                            clear_key="x")) \
        == "filter: backend be_app ✕   14 of 48 rows · x: show all"
    assert "1 of 1 row " in line(FilterState("a", shown=1, total=1))


def test_each_close_mark_names_its_filter() -> None:
    parts = bar_text(FilterState("api", "problems", shown=1, total=2), 120)
    assert [p for _, p in parts if p.startswith("close:")] == ["close:name", "close:quick"]


def test_control_characters_in_the_filter_are_shown_escaped() -> None:
    assert "\x1b" not in line(FilterState("a\x1b[2Jb", shown=1, total=2))


def test_fits_narrow_terminals_by_dropping_the_hint_then_shortening_the_text() -> None:
    state = FilterState("be_app|be_api|fe_main|very_long_backend_name", "problems",
                        shown=12, total=48)
    for width in (40, 58, 78):
        text = line(state, width)
        assert cell_len(text) <= width, (width, text)
        assert "problems ✕" in text and "12 of 48 rows" in text
        assert "…" in text and "show all" not in text
    short = FilterState("api", "problems", shown=12, total=48)
    assert line(short, 50) == "filter: api ✕  problems ✕   12 of 48 rows"
