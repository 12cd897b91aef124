"""ProxyTable: the console's main table of proxies and servers, for 10,000+ rows.

A :class:`~textual.scroll_view.ScrollView` using the Line API: only the lines on
screen are drawn (:meth:`ProxyTable.render_line`), from the in-memory
:class:`~console.ui.widgets.table_model.TableModel`; there is no widget per row.

Layout: line 0 is the column header, fixed while the rest scrolls. Then one group
per proxy in HAProxy's order: a header line (the proxy's BACKEND row, else its
FRONTEND row, with ``3/4 up, 1 down`` after the name), then its children indented
(the FRONTEND of a ``listen`` section, listeners, servers). A group collapses to its
header line.

Sorting by a column sorts the servers (and listeners) within each proxy, and the
proxies by their own header row's value; rows without a value come last, in
HAProxy's order. ``None`` restores HAProxy's order. A live sort follows new values
at each refresh.

The cursor is a key, not a position: it stays on the same ``(proxy, name)`` across
refreshes, sorts, filters and collapses. When its row is hidden it sits on the
nearest visible line, and goes back to the row when it shows again (until the
user moves it).

Design note (cost per refresh): :meth:`set_snapshot` walks the rows once to swap
them in and compare statuses by identity (O(rows), no formatting, the same key
objects reused when the rows did not change); it compares the values the view
shows only for rows that have a cached strip (at most a few thousand, usually a
screenful), dropping the strips of those that changed. The visible order is
rebuilt only when keys, filter, sort, collapse, or a value a live sort or status
filter depends on changed. Only changed lines on screen are refreshed. Formatting
happens in :meth:`render_line`: O(visible lines × columns), whatever the number of
rows.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.haproxy.counters import Mark
from console.haproxy.model import CLOCK_FIELDS, Rates, Row, Snapshot
from console.ui.themes import fallback_theme
from console.ui.widgets.columns import (
    SEPARATOR,
    VIEW_COLUMNS,
    VIEWS,
    Column,
    Placed,
    column_of,
    layout,
    view_fields,
    view_rates,
)
from console.ui.widgets.table_model import Changes, Key, TableModel
from console.ui.widgets.table_render import render_header, render_row

_CACHE_SIZE = 4096

CLOCK_SET = frozenset(CLOCK_FIELDS)  # the fields that move with time alone


class ProxyTable(ScrollView, can_focus=True):
    """Proxies and their servers, one line each; see the module docstring."""

    VIEWS = VIEWS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False, id="table.cursor_up"),
        Binding("down", "cursor_down", "Down", show=False, id="table.cursor_down"),
        Binding("pageup", "cursor_page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "cursor_page_down", "Page down", show=False,
                id="table.page_down"),
        Binding("home", "cursor_home", "First", show=False, id="table.home"),
        Binding("end", "cursor_end", "Last", show=False, id="table.end"),
        Binding("left", "collapse", "Collapse", show=False, id="table.collapse"),
        Binding("right", "expand", "Expand", show=False, id="table.expand"),
        Binding("enter", "activate", "Open", show=False, id="table.activate"),
        Binding("space", "toggle_mark", "Mark or unmark the row (o acts on the marked rows)",
                show=False, id="table.mark"),
    ]

    COMPONENT_CLASSES = {
        "proxytable--header", "proxytable--cursor", "proxytable--marked", "proxytable--group",
    }

    DEFAULT_CSS = """
    ProxyTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        height: 1fr;
        & > .proxytable--header { text-style: bold; color: $text-primary; background: $panel; }
        & > .proxytable--group { text-style: bold; }
        & > .proxytable--marked { background: $accent 20%; }
        & > .proxytable--cursor { background: $block-cursor-blurred-background;
                                  text-style: $block-cursor-blurred-text-style; }
        &:focus > .proxytable--cursor { background: $block-cursor-background;
                                        color: $block-cursor-foreground;
                                        text-style: $block-cursor-text-style; }
    }
    """

    class Highlighted(Message):
        """The cursor moved to another row (``key`` None: the table is empty)."""

        def __init__(self, table: ProxyTable, key: Key | None, row: Row | None) -> None:
            super().__init__()
            self.table, self.key, self.row = table, key, row

        @property
        def control(self) -> ProxyTable:
            return self.table

    class Activated(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: ProxyTable, key: Key, row: Row | None) -> None:
            super().__init__()
            self.table, self.key, self.row = table, key, row

        @property
        def control(self) -> ProxyTable:
            return self.table

    class LinesChanged(Message):
        """The number of lines changed: ``shown`` on screen (the column header aside),
        ``matched`` by the filters (collapsed groups counted expanded), ``total``."""

        def __init__(self, table: ProxyTable, shown: int, matched: int, total: int) -> None:
            super().__init__()
            self.table, self.shown, self.matched, self.total = table, shown, matched, total

        @property
        def control(self) -> ProxyTable:
            return self.table

    def __init__(self, *, view: str = "status", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
        self.view = view
        self.marked: set[Key] = set()  # rows marked with space; after changing it, refresh()
        self._model = TableModel()
        self._model.watch(view_fields(view), view_rates(view))
        self._layout: list[Placed] = []
        self._width = -1
        self._strips: LRUCache[Key, tuple[Strip, bool]] = LRUCache(_CACHE_SIZE)  # (strip, marked)
        self._header: Strip | None = None
        self._base_style: Style | None = None
        self._styles: dict[str, Style] = {}
        self.set_status_styles(fallback_theme().status)
        self._cursor = -1
        self._cursor_key: Key | None = None
        self._wanted: Key | None = None  # where the user put the cursor
        self._stale = False  # the rows are the last data received, not current ones
        self._filter_simplified = ""  # the filter last reported as too slow for a regex
        self._counts = (-1, -1, -1)  # the line counts last told (LinesChanged)

    # ----------------------------------------------------------------- public API

    @property
    def model(self) -> TableModel:
        return self._model

    @property
    def lines(self) -> list[Key]:
        """The keys of the visible lines, top to bottom (header line excluded)."""
        return self._model.lines

    @property
    def cursor_key(self) -> Key | None:
        return self._cursor_key

    def on_screen(self) -> list[Key]:
        """The keys of the lines on screen now, and the cursor's (its detail is shown):
        what a partial poll of a large instance must read every interval."""
        top = self.scroll_offset.y
        keys = self._model.lines[top:top + self._page()]
        if self._cursor_key is not None:
            keys.append(self._cursor_key)
        return keys

    @property
    def cursor_row(self) -> Row | None:
        return self._model.rows.get(self._cursor_key) if self._cursor_key else None

    def set_snapshot(self, snapshot: Snapshot,
                     rates: dict[tuple[str, str], Rates] | None = None) -> None:
        changes = self._model.update(snapshot, rates, self._strips.keys())
        if changes.rebuilt:
            if len(changes.changed) > len(self._strips) // 2:
                self._strips.clear()
            else:
                for key in changes.changed:
                    self._strips.discard(key)
            self.marked.intersection_update(self._model.rows)
            self._relocate()
            self._tell_simplified()
            return
        self._refresh_changed(changes)

    def set_mark(self, mark: Mark | None) -> None:
        """Counters show their delta since ``mark`` (None: since HAProxy's last clear)."""
        model = self._model
        before = list(model.lines)
        model.set_mark(mark)
        self._redraw_all()
        if model.lines != before:
            self._relocate()

    def set_view(self, view: str) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
        if view == self.view:
            return
        self.view = view
        model = self._model
        model.watch(view_fields(view), view_rates(view))
        self._width = -1
        self._redraw_all()
        if model.sort_column is not None and column_of(view, model.sort_column.id) is None:
            model.set_sort(None)
            self._relocate()

    def set_filter(self, text: str) -> None:
        """Substring (case-insensitive) or regex, on proxy, name or ``proxy/name``.
        A regex too slow on these names is dropped for plain text matching, with a
        notice."""
        self._model.set_filter(text)
        self._relocate()
        self._tell_simplified()

    def _tell_simplified(self) -> None:
        model = self._model
        if model.filter_simplified and self._filter_simplified != model.filter_text:
            self._filter_simplified = model.filter_text
            self.notify(f"filter too slow as a regex: {model.filter_text.strip()!r} "
                        "simplified to plain text matching", severity="warning", timeout=8,
                        markup=False)

    @property
    def stale(self) -> bool:
        return self._stale

    def set_stale(self, stale: bool) -> None:
        """Show the rows as stale (the last data received) or current again."""
        if stale != self._stale:
            self._stale = stale
            self.refresh()

    def set_quick_filter(self, name: str, arg: str | None = None) -> None:
        """``all``, ``problems``, ``maint_drain`` or ``backend`` (``arg``: its name)."""
        self._model.set_quick(name, arg)
        self._relocate()

    def clear_filters(self) -> None:
        """Neither the name filter nor a quick filter: every row."""
        self._model.clear_filters()
        self._relocate()

    @property
    def filtering(self) -> bool:
        return self._model.filtering

    @property
    def ranks_every_row(self) -> bool:
        """Which rows are on screen depends on every row's values, not only on their
        names and HAProxy's order: a sort (but by name), or a quick filter on states
        and errors."""
        model = self._model
        column = model.sort_column
        return (column is not None and column.id != "name") or \
            model.quick in ("problems", "maint_drain")

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        """Sort by a column id of the current view; None restores HAProxy's order."""
        found = None
        if column is not None:
            found = column_of(self.view, column)
            if found is None:
                raise ValueError(f"no column {column!r} in the {self.view} view")
        self._model.set_sort(found, reverse)
        self._header = None
        self._relocate()

    def cycle_sort(self) -> None:
        """HAProxy's order → each shown column in turn → HAProxy's order. Numbers
        start with the largest first, text with A first."""
        columns = [p.column for p in self._layout] or list(VIEW_COLUMNS[self.view])
        current = self._model.sort_column
        nxt: Column | None
        if current is None or current not in columns:
            nxt = columns[0]
        else:
            i = columns.index(current) + 1
            nxt = columns[i] if i < len(columns) else None
        self.sort_by(nxt.id if nxt else None, reverse=bool(nxt and nxt.numeric))

    def reverse_sort(self) -> None:
        column = self._model.sort_column
        if column is not None:
            self.sort_by(column.id, not self._model.sort_reverse)

    @property
    def sort_column(self) -> str | None:
        column = self._model.sort_column
        return column.id if column else None

    @property
    def sort_reverse(self) -> bool:
        return self._model.sort_reverse

    def shown_columns(self) -> list[Column]:
        """The columns on screen (the view's, before the first layout)."""
        return [p.column for p in self._layout] or list(VIEW_COLUMNS[self.view])

    def toggle_collapse(self, proxy: str | None = None) -> None:
        """Collapse or expand a group (the cursor's by default)."""
        proxy = proxy or (self._cursor_key[0] if self._cursor_key else None)
        if proxy is None:
            return
        self._set_collapsed(proxy, proxy not in self._model.collapsed)

    def collapse_all(self) -> None:
        self._model.collapse_all(True)
        self._strips.clear()
        self._relocate()

    def expand_all(self) -> None:
        self._model.collapse_all(False)
        self._strips.clear()
        self._relocate()

    def set_status_styles(self, status: dict[str, Style]) -> None:
        """Status styles from the theme (keys of ``themes.STATUS_KEYS``)."""
        styles = dict(status)
        styles["dim"] = Style(dim=True)
        styles.setdefault("warn", status.get("transition") or Style(bold=True))
        self._styles = styles
        self._redraw_all()

    def move_cursor_to(self, key: Key) -> bool:
        """Put the cursor on ``key``, expanding its group if needed; False if not shown."""
        model = self._model
        if key not in model.index and key[0] in model.collapsed and key in model.rows:
            self._set_collapsed(key[0], False)
        index = model.index.get(key)
        if index is None:
            return False
        self._move(index)
        return True

    def toggle_mark_row(self) -> None:
        key = self._cursor_key
        if key is None:
            return
        self.marked.symmetric_difference_update({key})
        self._refresh_index(self._cursor)

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()

    # ----------------------------------------------------------------- actions

    def action_cursor_up(self) -> None:
        self._move(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self._cursor + 1)

    def action_cursor_page_up(self) -> None:
        page = self._page()
        self.scroll_to(y=self.scroll_offset.y - page, animate=False)
        self._move(self._cursor - page)

    def action_cursor_page_down(self) -> None:
        page = self._page()
        self.scroll_to(y=self.scroll_offset.y + page, animate=False)
        self._move(self._cursor + page)

    def action_cursor_home(self) -> None:
        self._move(0)

    def action_cursor_end(self) -> None:
        self._move(len(self._model.lines) - 1)

    def action_collapse(self) -> None:
        key = self._cursor_key
        if key is None:
            return
        group = self._model.group_of(key)
        if group is None:
            return
        if key != group.header:
            self._move(self._model.index[group.header])
        self._set_collapsed(group.proxy, True)

    def action_expand(self) -> None:
        if self._cursor_key is not None:
            self._set_collapsed(self._cursor_key[0], False)

    def action_activate(self) -> None:
        if self._cursor_key is not None:
            self.post_message(self.Activated(self, self._cursor_key, self.cursor_row))

    def action_toggle_mark(self) -> None:
        self.toggle_mark_row()

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        if offset.y == 0:
            for placed in self._layout:
                if placed.x <= offset.x < placed.x + placed.width + SEPARATOR:
                    same = self._model.sort_column is placed.column
                    reverse = not self._model.sort_reverse if same else placed.column.numeric
                    self.sort_by(placed.column.id, reverse)
                    break
            return
        index = self.scroll_offset.y + offset.y - 1
        if 0 <= index < len(self._model.lines):
            self._move(index)
            if event.chain == 2:
                self.action_activate()

    # ----------------------------------------------------------------- rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None
        if hasattr(self, "_strips"):
            self._strips.clear()
            self._header = None

    @property
    def _base(self) -> Style:
        """This widget's Rich style (computed from its ancestors: cached until the next
        style update)."""
        style = getattr(self, "_base_style", None)
        if style is None:
            style = self._base_style = self.rich_style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            self._layout = layout(VIEW_COLUMNS[self.view], width)
            self._strips.clear()
            self._header = None
        base = self._base
        if y == 0:
            if self._header is None:
                style = self.get_component_rich_style("proxytable--header", partial=True)
                self._header = render_header(self._model, self._layout, width, style)
            return self._header.apply_style(base)
        index = self.scroll_offset.y + y - 1
        lines = self._model.lines
        if not 0 <= index < len(lines):
            return Strip.blank(width, base)
        key = lines[index]
        marked = key in self.marked
        cached = self._strips.get(key)
        if cached is not None and cached[1] == marked:
            strip = cached[0]
        else:
            group_style = self.get_component_rich_style("proxytable--group", partial=True)
            strip = render_row(self._model, self._layout, width, key, self._styles,
                               group_style, marked)
            self._strips.set(key, (strip, marked))
        style = base
        if self._stale:
            style += self._styles.get("stale") or Style(dim=True)
        if marked:
            style += self.get_component_rich_style("proxytable--marked")
        if index == self._cursor:
            style += self.get_component_rich_style("proxytable--cursor")
        return strip.apply_style(style)

    # ----------------------------------------------------------------- cursor & refresh

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _move(self, index: int) -> None:
        """Move the cursor as the user asked: the new line becomes the wanted one."""
        lines = self._model.lines
        if not lines:
            return
        index = max(0, min(index, len(lines) - 1))
        old = self._cursor
        self._cursor = index
        self._wanted = lines[index]
        self._set_key(lines[index])
        self._refresh_index(old)
        self._refresh_index(index)
        self._scroll_to_cursor()

    def _set_key(self, key: Key | None) -> None:
        if key != self._cursor_key:
            self._cursor_key = key
            row = self._model.rows.get(key) if key else None
            self.post_message(self.Highlighted(self, key, row))

    def _relocate(self) -> None:
        """After the lines were rebuilt: find the cursor's line again, keep it on the
        same screen row if it was on screen, and redraw."""
        lines = self._model.lines
        self._tell_counts()
        top = self.scroll_offset.y
        sized = bool(self.size.height)
        screen_row = self._cursor - top if sized and 0 <= self._cursor - top < self._page() \
            else None
        self.virtual_size = Size(0, len(lines) + 1)
        if not lines:
            self._cursor = -1
            self._set_key(None)
            self.refresh()
            return
        wanted = self._wanted or self._cursor_key
        index = self._model.nearest(wanted) if wanted is not None else None
        if index is None:
            index = max(0, min(self._cursor, len(lines) - 1))
        self._cursor = index
        self._set_key(lines[index])
        if screen_row is not None and index - screen_row != top:
            self.scroll_to(y=max(0, index - screen_row), animate=False)
        self._scroll_to_cursor()
        self.refresh()

    def _tell_counts(self) -> None:
        model = self._model
        counts = (len(model.lines), model.matched, len(model.full))
        if counts != self._counts:
            self._counts = counts
            self.post_message(self.LinesChanged(self, *counts))

    def _scroll_to_cursor(self) -> None:
        if self._cursor < 0 or not self.size.height:
            return
        top, page = self.scroll_offset.y, self._page()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + page:
            self.scroll_to(y=self._cursor - page + 1, animate=False)

    def _set_collapsed(self, proxy: str, collapsed: bool) -> None:
        model = self._model
        group = model.groups.get(proxy)
        if group is None:
            return
        if collapsed and self._cursor_key is not None and self._cursor_key[0] == proxy:
            self._wanted = group.header
        if model.set_collapsed(proxy, collapsed):
            self._strips.discard(group.header)
            self._relocate()

    def _refresh_index(self, index: int) -> None:
        if index >= 0:
            self.refresh_line(index + 1)

    def _refresh_changed(self, changes: Changes) -> None:
        """Redraw what changed on screen: whole lines for a status (or group summary)
        change, else only the cells whose text or style differs; a line whose cells all
        look the same keeps its strip and is not redrawn. Off-screen changed rows just
        lose their strip."""
        changed = changes.changed
        if not changed:
            return
        lines, model = self._model.lines, self._model
        top, page = self.scroll_offset.y, self._page()
        placed = self._layout if self._width == self.scrollable_content_region.width else []
        on_screen = {lines[i]: i for i in range(top, min(top + page, len(lines)))}
        strips = self._strips
        clocked = [p for p in placed if not CLOCK_SET.isdisjoint(p.column.fields)] \
            if changes.clocks else placed
        for key in changed:
            index = on_screen.get(key)
            previous = changes.before.get(key)
            if index is None or not placed or previous is None or key in changes.whole:
                strips.discard(key)
                if index is not None:
                    self._refresh_index(index)
                continue
            row = model.rows.get(key)
            spans = _changed_spans(clocked if key in changes.clocks else placed, previous[0],
                                   previous[1], row, model.rates.get(key), model.mark)
            if spans:
                strips.discard(key)
                y = index + 1 - top
                for x, width in spans:
                    self.refresh(Region(x, y, width, 1))

    def _redraw_all(self) -> None:
        self._strips.clear()
        self._header = None
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._scroll_to_cursor()


def _changed_spans(placed: list[Placed], old: Row, old_rates: Rates | None, new: Row | None,
                   new_rates: Rates | None, mark: Mark | None) -> list[tuple[int, int]]:
    """``(x, width)`` of the runs of cells that look different for ``new`` than they did
    for ``old`` (the name cell is the key's, it does not change with the values)."""
    spans: list[tuple[int, int]] = []
    if new is None:
        return [(placed[0].x, placed[-1].x + placed[-1].width - placed[0].x)] if placed \
            else []
    for p in placed:
        column = p.column
        if column.id == "name":
            continue
        if column.formatter(old, mark, old_rates) == column.formatter(new, mark, new_rates):
            continue
        if spans and spans[-1][0] + spans[-1][1] + SEPARATOR == p.x:
            x, width = spans[-1]
            spans[-1] = (x, width + SEPARATOR + p.width)
        else:
            spans.append((p.x, p.width))
    return spans
