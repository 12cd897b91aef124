"""A list of one-line rows with a row cursor, for rows that never change once added.

A log tail adds rows at one end and drops them at the other; a row, once added, is
never edited. :class:`LineList` draws each row once, when it first comes into view,
and keeps the drawn line (a :class:`~textual.strip.Strip`, :data:`CACHED_ROWS` of them):
adding rows, moving the cursor or laying the screen out again draws no row already
drawn, except the two rows the cursor leaves and reaches. Rows are drawn from their
items by the *draw* function given, and only the rows that come into view: a flood of
thousands of rows costs the rows on screen, not the rows added.

The first line is a fixed header (the columns' labels); the rows scroll under it, both
ways (a long row scrolls horizontally).

Keys: up/down, page up/down, enter (select). Moving the cursor posts
:class:`LineList.Highlighted`, enter :class:`LineList.Selected`; a click moves the
cursor, a click on the cursor's row selects it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

CACHED_ROWS = 400  # drawn rows kept (a few screens' worth)
ROW_WIDTH = 400  # the widest a row is drawn (the rest is cut)


class RowMessage(Message):
    """A message about the row *row* (an index) of a :class:`LineList`."""

    def __init__(self, line_list: LineList, row: int) -> None:
        super().__init__()
        self.line_list, self.row = line_list, row

    @property
    def control(self) -> LineList:
        return self.line_list


class LineList(ScrollView, can_focus=True):
    """Rows of ``(key, item)``, each drawn by *draw* as one line: a ``Text``, or its
    segments (no wider than :data:`ROW_WIDTH`)."""

    DEFAULT_CSS = """
    LineList {
        padding: 0 0 0 1;
        background: $surface;
        color: $foreground;
        &:focus { background-tint: $foreground 5%; }
        & > .line-list--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .line-list--header { background: ansi_bright_blue; color: ansi_default; }
        & > .line-list--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .line-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"line-list--header", "line-list--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class Highlighted(RowMessage):
        """The cursor moved to *row* (an index)."""

    class Selected(RowMessage):
        """Enter (or a click) on the cursor's row *row*."""

    def __init__(self, header: str, draw: Callable[[Any], Text | list[Segment]], *,
                 name: str | None = None, id: str | None = None,  # noqa: A002
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.header = header
        self.draw = draw
        self._rows: list[tuple[str, Any]] = []
        self.cursor_row = 0
        self._strips: LRUCache[tuple[str, Style, bool], Strip] = LRUCache(CACHED_ROWS)
        self._width = len(header)
        self._base: Style | None = None

    # -- rows --------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._rows)

    def key_at(self, row: int) -> str:
        return self._rows[row][0]

    def item_at(self, row: int) -> Any:
        return self._rows[row][1]

    @property
    def cursor_key(self) -> str | None:
        return self._rows[self.cursor_row][0] if self._rows else None

    def append(self, rows: Iterable[tuple[str, Any]]) -> None:
        """Add *rows* at the end (the cursor stays on its row)."""
        had = bool(self._rows)
        self._rows.extend(rows)
        self._resized()
        if not had and self._rows:
            self._highlight()

    def drop_first(self, count: int) -> None:
        """Remove the *count* oldest rows (the cursor stays on its row, or on the first
        row left when its row went)."""
        count = min(count, len(self._rows))
        if count <= 0:
            return
        del self._rows[:count]
        moved = self.cursor_row < count
        self.cursor_row = max(0, self.cursor_row - count)
        if self.scroll_y:
            self.scroll_to(y=max(0, self.scroll_y - count), animate=False, force=True)
        self._resized()
        if moved and self._rows:
            self._highlight()

    def clear(self) -> None:
        self._rows.clear()
        self.cursor_row = 0
        self._strips.clear()
        self.scroll_to(0, 0, animate=False, force=True)
        self._resized()

    def _resized(self) -> None:
        self.virtual_size = Size(self._width, len(self._rows) + 1)
        self.refresh()

    # -- the cursor --------------------------------------------------------------------
    def move_cursor(self, *, row: int, animate: bool = False) -> None:  # noqa: ARG002
        if not self._rows:
            return
        row = max(0, min(row, len(self._rows) - 1))
        old = self.cursor_row
        self.cursor_row = row
        self._show_cursor()
        if row != old:
            self._refresh_row(old)
            self._refresh_row(row)
            self._highlight()

    def _show_cursor(self) -> None:
        """Scroll so that the cursor's row is in view (under the header)."""
        height = self.scrollable_content_region.height
        if height <= 0:  # not laid out yet
            self.call_after_refresh(self._show_cursor)
            return
        rows_in_view = max(1, height - 1)
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, force=True)
        elif self.cursor_row >= top + rows_in_view:
            self.scroll_to(y=self.cursor_row - rows_in_view + 1, animate=False, force=True)

    def _refresh_row(self, row: int) -> None:
        self.refresh_line(row + 1)  # (the header is line 0)

    def _highlight(self) -> None:
        self.post_message(self.Highlighted(self, self.cursor_row))

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + max(1, self.scrollable_content_region.height - 1))

    def action_select(self) -> None:
        if self._rows:
            self.post_message(self.Selected(self, self.cursor_row))

    def on_click(self, event: events.Click) -> None:
        row = event.y - 1 + round(self.scroll_y)
        if event.y < 1 or not 0 <= row < len(self._rows):
            return
        if row == self.cursor_row:
            self.action_select()
        else:
            self.move_cursor(row=row)

    # -- drawing -----------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def _line(self, text: Text) -> list[Segment]:
        console = self.app.console
        options = console.options.update(width=ROW_WIDTH, no_wrap=True, overflow="crop",
                                         height=1)
        lines = console.render_lines(text, options, pad=False)
        return lines[0] if lines else []

    def _strip(self, key: str, item: Any, base: Style, cursor: bool) -> Strip:
        cache_key = (key, base, cursor)
        strip = self._strips.get(cache_key)
        if strip is None:
            drawn = self.draw(item)
            segments = self._line(drawn) if isinstance(drawn, Text) else drawn
            if cursor:
                post = self.get_component_rich_style("line-list--cursor")
                segments = list(Segment.apply_style(segments, base, post))
            else:
                segments = list(Segment.apply_style(segments, base))
            strip = Strip(segments)
            if strip.cell_length > self._width:
                self._width = min(ROW_WIDTH, strip.cell_length)
                self.call_later(self._resized)
            self._strips[cache_key] = strip
        return strip

    def render_lines(self, crop: Region) -> list[Strip]:
        self._base = self.rich_style  # once for the lines drawn together
        try:
            return super().render_lines(crop)
        finally:
            self._base = None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = round(self.scroll_x), round(self.scroll_y)
        base = self._base or self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("line-list--header")
            strip = Strip([Segment(self.header, style)])
            return strip.crop_extend(scroll_x, scroll_x + width, style)
        row = scroll_y + y - 1
        if not 0 <= row < len(self._rows):
            return Strip.blank(width, base)
        key, item = self._rows[row]
        cursor = row == self.cursor_row
        strip = self._strip(key, item, base, cursor)
        if cursor:
            fill = base + self.get_component_rich_style("line-list--cursor")
        else:
            fill = base
        return strip.crop_extend(scroll_x, scroll_x + width, fill)
