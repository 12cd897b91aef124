"""LineList: the logs screen's table of rows that never change once added."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.app import App, ComposeResult

from console.ui.widgets.line_list import LineList


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.drawn: list[Any] = []
        self.highlighted: list[int] = []
        self.selected: list[int] = []

    def draw(self, item: Any) -> list[Segment]:
        self.drawn.append(item)
        return [Segment(f"row {item}")]

    def compose(self) -> ComposeResult:
        yield LineList("header", self.draw, id="list")

    def on_line_list_highlighted(self, event: LineList.Highlighted) -> None:
        self.highlighted.append(event.row)

    def on_line_list_selected(self, event: LineList.Selected) -> None:
        self.selected.append(event.row)


def shown(app: Host) -> list[str]:
    return [strip.text.strip() for strip in app.screen._compositor.render_strips()]


async def test_rows_added_before_the_first_layout_end_in_view() -> None:
    app = Host()
    async with app.run_test(size=(40, 10)) as pilot:
        lst = app.query_one(LineList)
        lst.append((str(i), i) for i in range(50))
        lst.move_cursor(row=49)
        await pilot.pause()
        lines = shown(app)
        assert lines[0] == "header"
        assert lines[-1] == "row 49"
        assert lst.cursor_key == "49"


async def test_each_row_is_drawn_once_whatever_is_added_or_moved() -> None:
    app = Host()
    async with app.run_test(size=(40, 10)) as pilot:
        lst = app.query_one(LineList)
        lst.append((str(i), i) for i in range(100))
        lst.move_cursor(row=99)
        await pilot.pause()
        first = list(app.drawn)
        assert len(first) <= 2 * 10  # the rows in view (and the cursor's row twice)
        app.drawn.clear()
        lst.append([("100", 100)])
        lst.move_cursor(row=100)
        await pilot.pause()
        # the new row, and the row the cursor left (drawn as a plain row): no other
        assert sorted(app.drawn) == [99, 100]
        app.drawn.clear()
        app.screen.refresh(layout=True)
        await pilot.pause()
        assert app.drawn == []


async def test_dropping_rows_keeps_the_cursor_on_its_row() -> None:
    app = Host()
    async with app.run_test(size=(40, 10)) as pilot:
        lst = app.query_one(LineList)
        lst.append((str(i), i) for i in range(30))
        lst.move_cursor(row=20)
        await pilot.pause()
        lst.drop_first(5)
        assert lst.row_count == 25
        assert lst.cursor_key == "20"
        lst.drop_first(100)
        assert lst.row_count == 0 and lst.cursor_key is None
        await pilot.pause()
        assert shown(app)[0] == "header"


async def test_keys_and_clicks_move_and_select() -> None:
    app = Host()
    async with app.run_test(size=(40, 10)) as pilot:
        lst = app.query_one(LineList)
        lst.focus()
        lst.append((str(i), i) for i in range(30))
        await pilot.pause()
        await pilot.press("down", "down", "pagedown")
        await pilot.pause()
        page = lst.scrollable_content_region.height - 1  # the rows under the header
        assert lst.cursor_row == 2 + page
        await pilot.press("up", "enter")
        await pilot.pause()
        assert app.selected == [1 + page]
        assert app.highlighted[-1] == 1 + page
        top = round(lst.scroll_y)
        await pilot.click(LineList, offset=(3, 2))  # the second row in view
        await pilot.pause()
        assert lst.cursor_row == top + 1
        await pilot.click(LineList, offset=(3, 2))
        await pilot.pause()
        assert app.selected[-1] == top + 1


async def test_an_empty_list_and_clear() -> None:
    app = Host()
    async with app.run_test(size=(40, 6)) as pilot:
        lst = app.query_one(LineList)
        lst.move_cursor(row=3)
        lst.action_select()
        await pilot.pause()
        assert app.selected == [] and lst.cursor_key is None
        lst.append([("a", "a")])
        lst.clear()
        await pilot.pause()
        assert lst.row_count == 0
        assert shown(app)[0] == "header"


def test_batches_keep_the_newest_lines_whole() -> None:
    from console.ui.screens.logs import Batches

    b = Batches(5)
    b.add(1, ["a", "b", "c"])  # type: ignore[list-item]
    b.add(4, [])
    b.add(4, ["d", "e", "f"])  # type: ignore[list-item]
    assert len(b) == 6  # the first batch is still needed for 5
    b.add(7, ["g", "h"])  # type: ignore[list-item]
    assert len(b) == 5 and [n for n, _ in b] == [4, 5, 6, 7, 8]
    assert b.newest(3) == [(6, "f"), (7, "g"), (8, "h")]
    assert b.newest(10) == list(b)
    b.clear()
    assert len(b) == 0 and b.newest(3) == []
