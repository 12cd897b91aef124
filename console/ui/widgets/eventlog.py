"""The event timeline pane: one line per event, newest at the bottom.

A Line-API widget (like Textual's ``Log``): only the visible lines are rendered, so
adding events stays cheap however many there are; at most ``max_lines`` are kept.
Each line reads ``HH:MM:SS  ✖  message``; the severity is a symbol as well as a colour
(✖ error, ▲ warning, ● ok, · info), so it reads without colour (``NO_COLOR``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.haproxy.events import Event
from console.haproxy.safe_text import visible

SEVERITY_SYMBOLS = {"error": "✖", "warning": "▲", "ok": "●", "info": "·"}
_GAP = "  "
_BREAKS = re.compile(r"[\r\n\t]+")


def severity_symbol(severity: str) -> str:
    return SEVERITY_SYMBOLS.get(severity, "?")


class EventLog(ScrollView, can_focus=True):
    """Events, oldest first; follows new ones unless the user has scrolled up.

    While scrolled up, the events that arrive are counted in the border title
    (``↓ 3 new``); scrolling back to the bottom (``end``, the mouse) or :meth:`follow`
    follows new events again. Following survives resizes: a pane that shrinks or grows
    while following still shows the newest line.

    ``utc=True`` shows times in UTC (the postmortem export is in UTC); local time
    otherwise. An event from another day than the newest one shows its date too.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "eventlog--time", "eventlog--error", "eventlog--warning", "eventlog--ok",
        "eventlog--info", "eventlog--empty",
    }
    DEFAULT_CSS = """
    EventLog {
        background: $surface;
        color: $foreground;
        overflow-y: auto;
        overflow-x: auto;
        scrollbar-size-horizontal: 1;
        &:focus { background-tint: $foreground 5%; }
        & > .eventlog--time { color: $text-muted; }
        & > .eventlog--error { color: $error; text-style: bold; }
        & > .eventlog--warning { color: $warning; }
        & > .eventlog--ok { color: $success; }
        & > .eventlog--info { color: $text-muted; }
        & > .eventlog--empty { color: $text-muted; text-style: italic; }
        border-title-align: left;
        border-title-color: $warning;
        border-title-style: bold;
    }
    """

    def __init__(self, *, max_lines: int = 5000, utc: bool = False,
                 placeholder: str = "No events yet.", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = max_lines
        self.utc = utc
        self.placeholder = placeholder
        self._events: list[Event] = []
        self._widths: list[int] = []
        self._width = 0
        self._cache: LRUCache[tuple[int, str, str], Strip] = LRUCache(256)
        self._following = True  # at the bottom, showing new events as they come
        self._unseen = 0  # events added below the view while scrolled up

    # ------------------------------------------------------------------ data

    @property
    def events(self) -> list[Event]:
        """The events shown, oldest first (a copy)."""
        return list(self._events)

    @property
    def line_count(self) -> int:
        return len(self._events)

    @property
    def following(self) -> bool:
        """New events scroll into view (False once the user scrolled up)."""
        return self._following

    @property
    def unseen(self) -> int:
        """Events added below the view since the user scrolled up."""
        return self._unseen

    def follow(self) -> None:
        """Back to the newest line, and follow new events again."""
        self._set_following(True)
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def _set_following(self, following: bool) -> None:
        changed = following != self._following or (following and self._unseen)
        self._following = following
        if following:
            self._unseen = 0
        if changed:
            self._show_unseen()

    def _show_unseen(self) -> None:
        self.border_title = f"↓ {self._unseen} new · End or e: follow" \
            if self._unseen and not self._following else None

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Any move of the view (the user's, or following) decides whether it follows:
        it does when it ends at the bottom."""
        super().watch_scroll_y(old_value, new_value)
        self._set_following(new_value >= self.max_scroll_y)

    def on_resize(self) -> None:
        """Another height shows another last line: keep the newest one in view."""
        if self._following:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def add_events(self, events: Iterable[Event]) -> None:
        """Append events (oldest first); follow them if the view was at the bottom."""
        new = list(events)
        if not new:
            return
        follow = self._following and not self.is_vertical_scrollbar_grabbed
        self._events.extend(new)
        widths = [self._line_width(e) for e in new]
        self._widths.extend(widths)
        self._width = max(self._width, max(widths))
        removed = len(self._events) - self.max_lines
        if removed > 0:
            del self._events[:removed]
            del self._widths[:removed]
            self._width = max(self._widths)
            self._cache.clear()  # cached lines are keyed by their index
        self._set_virtual_size(Size(self._width, len(self._events)))
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
            # and again once laid out: a horizontal scrollbar may have appeared
            self.scroll_end(animate=False, x_axis=False, force=True)
        else:
            self._unseen += len(new)
            self._show_unseen()
            if removed > 0:  # keep the lines the user is reading in place
                self.scroll_to(y=max(0, self.scroll_y - removed), animate=False,
                               immediate=True, force=True)
        self.refresh()

    def _set_virtual_size(self, size: Size) -> None:
        """Without a layout of the whole screen when no scrollbar appears or goes: the
        pane's own size does not depend on its lines."""
        old = self.virtual_size
        width, height = self.scrollable_content_region.size
        if old != size and width and height and (old.height > height) == (size.height > height) \
                and (old.width > width) == (size.width > width):
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
            self.refresh()
        else:
            self.virtual_size = size

    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        """A scrollbar that appears after the view followed new lines shows where the view
        is (Textual moves the thumb only while the scrollbar is shown)."""
        if shown:
            self.vertical_scrollbar.position = self.scroll_y

    @property
    def last_event(self) -> Event | None:
        return self._events[-1] if self._events else None

    def replace_last(self, event: Event) -> None:
        """Put ``event`` in place of the last line (a storm's line that keeps counting)."""
        if not self._events:
            self.add_events([event])
            return
        self._events[-1] = event
        self._widths[-1] = width = self._line_width(event)
        if width > self._width:
            self._width = width
            self._set_virtual_size(Size(self._width, len(self._events)))
        self.refresh_line(len(self._events) - 1)

    def add_event(self, event: Event) -> None:
        self.add_events([event])

    def clear(self) -> None:
        self._events.clear()
        self._widths.clear()
        self._width = 0
        self._cache.clear()
        self.virtual_size = Size(0, 0)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self._set_following(True)
        self.refresh()

    # ------------------------------------------------------------------ drawing

    def _stamp(self, ts: float) -> str:
        tz = UTC if self.utc else None
        when = datetime.fromtimestamp(ts, tz)
        newest = self._events[-1].time if self._events else time.time()
        if when.date() != datetime.fromtimestamp(newest, tz).date():
            return when.strftime("%m-%d %H:%M:%S")
        return when.strftime("%H:%M:%S")

    @staticmethod
    def _message(event: Event) -> str:
        """One line: line breaks become blanks, other control characters escapes."""
        return visible(_BREAKS.sub(" ", event.message))

    def _line_width(self, event: Event) -> int:
        stamp = self._stamp(event.time)
        return len(stamp) + len(_GAP) * 2 + 1 + cell_len(self._message(event))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        index = scroll_y + y
        if not self._events:
            if y == 0:
                style = base + self.get_component_rich_style("eventlog--empty")
                return Strip([Segment(self.placeholder, style)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if index >= len(self._events):
            return Strip.blank(width, base)
        strip = self._line(index, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, index)

    def _line(self, index: int, base: Style) -> Strip:
        event = self._events[index]
        stamp = self._stamp(event.time)
        cached = self._cache.get((index, stamp, event.message))
        if cached is not None:
            return cached
        severity = event.severity if event.severity in SEVERITY_SYMBOLS else "info"
        sev_style = base + self.get_component_rich_style(f"eventlog--{severity}")
        message_style = sev_style if severity == "error" else base
        segments = [
            Segment(stamp, base + self.get_component_rich_style("eventlog--time")),
            Segment(_GAP, base),
            Segment(severity_symbol(event.severity), sev_style),
            Segment(_GAP, base),
            Segment(self._message(event), message_style),
        ]
        strip = Strip(segments)
        self._cache[(index, stamp, event.message)] = strip
        return strip
