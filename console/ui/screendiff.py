"""Only the cells that changed go to the terminal.

Textual redraws whole widget regions: a header whose idle percentage moved by one
resends both of its lines, a table line with one new value resends the line. Over SSH,
every second, that adds up. :class:`ScreenDiff` keeps a copy of what the terminal shows
(one character and one style per cell) and turns each compositor update into cursor
moves and the runs of cells that differ, as curses does.

The terminal's SGR attributes are known too, so a change of colour sends only the
colour. The copy is dropped, and the next update written whole, when the screen size
changes, after the application was suspended (the terminal was someone else's
meanwhile), and on :meth:`ScreenDiff.reset` (``ctrl+l``, redraw).

It works on plain data: line spans ``(y, x, cells)`` whose cells hold Rich styles.
:mod:`console.ui.textual_seam` reads them from Textual's compositor updates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from rich.cells import get_character_cell_size
from rich.color import ColorSystem
from rich.style import Style
from textual.strip import Strip

# a cell: (character, style); the right half of a wide character has character None
Cell = tuple[str | None, Style | None]
# a span of a line: (y, x, the cells from column x on)
Line = tuple[int, int, list[Cell]]
_UNKNOWN: Cell = ("\0unknown", None)  # never equal to a drawn cell

# unchanged cells between two changed runs that are sent again rather than paying for
# a cursor move (a move is 6 to 8 bytes)
MERGE_GAP = 4
# a block of whole lines scrolled up by 1 to SCROLL_MAX_SHIFT lines is scrolled in the
# terminal rather than drawn again (blocks of at least SCROLL_MIN_LINES lines)
SCROLL_MIN_LINES = 4
SCROLL_MAX_SHIFT = 3
STRIP_CACHE = 4096
# control characters in a widget's text (zero cells wide for Rich): dropped, as a last
# guard; widgets show outside text with its control characters escaped
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _cells(segments: Iterable[tuple[str, Style | None, object]], out: list[Cell]) -> None:
    """Append the cells of ``segments`` to ``out``."""
    extend, append = out.extend, out.append
    for text, style, control in segments:
        if control or not text:
            continue
        if not text.isprintable():  # a control character never reaches the terminal
            text = _CONTROL.sub("", text)
        if text.isascii():
            extend([(ch, style) for ch in text])
            continue
        for ch in text:
            width = get_character_cell_size(ch)
            if width == 1:
                append((ch, style))
            elif width == 2:
                append((ch, style))
                append((None, style))
            elif out:  # zero width: joins the character before it
                prev, prev_style = out[-1]
                if prev is not None:
                    out[-1] = (prev + ch, prev_style)


# Rich's attributes, the SGR code that sets each and the one that turns it off (22 turns
# bold and dim off together)
_NAMES = ("bold", "dim", "italic", "underline", "blink", "blink2", "reverse", "conceal",
          "strike", "underline2", "frame", "encircle", "overline")
_ON = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "21", "51", "52", "53")
_OFF = ("22", "22", "23", "24", "25", "25", "27", "28", "29", "24", "54", "54", "55")


@lru_cache(maxsize=1024)
def _attributes(style: Style) -> int:
    """The attributes ``style`` turns on, bit i for ``_NAMES[i]``."""
    return sum(1 << bit for bit, name in enumerate(_NAMES) if getattr(style, name))


def _sgr_change(prev: Style | None | bool, new: Style | None, codes: str,
                color_system: ColorSystem) -> str:
    """The SGR sequence from ``prev``'s attributes (the terminal's now; False or None:
    not known, or none) to ``new``'s (``codes``: all of them): what differs, when that
    is shorter than a reset and ``codes``."""
    full = f"\x1b[0;{codes}m" if codes else "\x1b[0m"
    if not isinstance(prev, Style) or new is None or prev.link:
        return full
    change: list[str] = []
    was, now = _attributes(prev), _attributes(new)
    if was != now:
        gone, added = was & ~now, now & ~was
        for bit in range(len(_ON)):
            if gone & (1 << bit):
                off = _OFF[bit]
                if off not in change:
                    change.append(off)
        if gone & 0b11:  # 22 took bold and dim both: put back the one that stays
            added |= now & 0b11
        change.extend(_ON[bit] for bit in range(len(_ON)) if added & (1 << bit))
    if prev.color != new.color:
        change.extend(new.color.downgrade(color_system).get_ansi_codes()
                      if new.color is not None else ("39",))
    if prev.bgcolor != new.bgcolor:
        change.extend(new.bgcolor.downgrade(color_system).get_ansi_codes(False)
                      if new.bgcolor is not None else ("49",))
    if not change:
        return ""
    partial = f"\x1b[{';'.join(change)}m"
    return partial if len(partial) < len(full) else full


def _close(new: list[Cell], old: list[Cell]) -> bool:
    """The same line but for a few cells (a scrollbar's thumb, say)."""
    if new == old:
        return True
    if len(new) != len(old):
        return False
    allowed = len(new) // 16
    for a, b in zip(new, old, strict=True):
        if a != b:
            allowed -= 1
            if allowed < 0:
                return False
    return True


@lru_cache(maxsize=1024)
def _blank_look(style: Style | None) -> tuple[object, ...]:
    """What a space shows of ``style``: its background (its colour when reversed) and
    the lines drawn through a cell; its foreground, bold or italic show nothing."""
    if style is None:
        return (None, None, False)
    reverse = bool(style.reverse)
    return (style.color if reverse else None, style.bgcolor, reverse, bool(style.underline),
            bool(style.underline2), bool(style.strike), bool(style.overline),
            bool(style.conceal), style.link)


def _same(a: Cell, b: Cell) -> bool:
    """Whether two cells look the same (a space in another foreground colour does)."""
    return a == b or (a[0] == " " == b[0] and _blank_look(a[1]) == _blank_look(b[1]))


def _runs(new: list[Cell], old: list[Cell]) -> list[tuple[int, int]]:
    """``(start, end)`` of the runs where ``new`` differs from ``old`` (same length),
    close runs merged, never starting on the right half of a wide character nor ending
    on its left half. Cells that look the same are not a difference (see :func:`_same`):
    a row's padding that only changes colour is not written again."""
    runs: list[tuple[int, int]] = []
    n = len(new)
    i = 0
    while i < n:
        if new[i] == old[i] or _same(new[i], old[i]):
            i += 1
            continue
        start = i
        while i < n and not _same(new[i], old[i]):
            i += 1
        if runs and start - runs[-1][1] <= MERGE_GAP:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((start, i))
    fixed = []
    for start, end in runs:
        while start > 0 and new[start][0] is None:
            start -= 1
        while end < n and new[end][0] is None:
            end += 1
        fixed.append((start, end))
    return fixed


def _move_cost(cursor: tuple[int, int], y: int, column: int) -> int:
    """The bytes of the cursor move from ``cursor`` (``(y, x)``) to a run's start."""
    if cursor[0] == y and cursor[1] < column:
        return 3 + len(str(column - cursor[1]))
    return 4 + len(str(y + 1)) + len(str(column + 1))


def _ordered(runs: list[tuple[int, int, list[Cell]]], style: Style | None | bool,
             color_system: ColorSystem) -> list[tuple[int, int, list[Cell]]]:
    """``runs`` in the order that writes them in the fewest bytes, near enough: the
    next run in screen order, or an earlier-drawn look's next run when a colour change
    costs more than the cursor move saved (a state that flips on many rows writes its
    cells in one colour, then the next column's in another, not the two colours in
    turn on each row). ``style``: the terminal's attributes now (None: not known).
    Runs that overlap keep their order (never, from Textual's compositor)."""
    spans = sorted((y, column, column + len(cells)) for y, column, cells in runs)
    for (y0, _, end0), (y1, start1, _) in zip(spans, spans[1:], strict=False):
        if y0 == y1 and start1 < end0:
            return runs
    render_ansi = Strip.render_ansi

    def key(look: Style | None) -> str:
        if look is None:
            return ""
        return "\0link" if look.link else render_ansi(look, color_system)

    starts = [key(cells[0][1]) for _, _, cells in runs]
    ends = ["" if cells[-1][1] is not None and cells[-1][1].link else key(cells[-1][1])
            for _, _, cells in runs]
    by_start: dict[str, list[int]] = {}
    for index, start in enumerate(starts):
        by_start.setdefault(start, []).append(index)
    taken_from = dict.fromkeys(by_start, 0)
    done = [False] * len(runs)
    order: list[tuple[int, int, list[Cell]]] = []
    natural = 0
    current: str | None = key(style) if isinstance(style, Style) else None
    current_style = style if isinstance(style, Style) else None
    cursor = (-1, -1)
    for _ in range(len(runs)):
        while done[natural]:
            natural += 1
        pick = natural
        same = by_start.get(current) if current is not None else None
        if same is not None and starts[natural] != current:
            at = taken_from[current]  # type: ignore[index]
            while at < len(same) and done[same[at]]:
                at += 1
            taken_from[current] = at  # type: ignore[index]
            if at < len(same):
                candidate = same[at]
                y, column, cells = runs[natural]
                look = cells[0][1]
                switch = len(_sgr_change(current_style, look, render_ansi(look, color_system)
                                         if look else "", color_system))
                cy, ccolumn, _ = runs[candidate]
                if _move_cost(cursor, cy, ccolumn) < _move_cost(cursor, y, column) + switch:
                    pick = candidate
        done[pick] = True
        y, column, cells = runs[pick]
        order.append(runs[pick])
        cursor = (y, column + len(cells))
        current = ends[pick]
        current_style = cells[-1][1] if current else None
    return order


class ScreenDiff:
    """What the terminal shows, and the difference an update makes to it."""

    def __init__(self) -> None:
        self.width = 0
        self.height = 0
        self.lines: list[list[Cell]] = []
        self._sgr: str | None = None  # the terminal's SGR attributes (None: not known)
        self._sgr_style: Style | None | bool = False  # and the style they are for
        # cells of the strips seen lately, by identity (Textual reuses the strips of
        # unchanged lines): {id: (strip, cells)}, the strip kept so its id stays its own
        self._strip_cells: dict[int, tuple[object, list[Cell]]] = {}

    def cells_of(self, strip: Iterable[tuple[str, Style | None, object]]) -> list[Cell]:
        """The cells of ``strip`` (Rich segments; not to be changed: shared with the
        cache)."""
        cache = self._strip_cells
        hit = cache.get(id(strip))
        if hit is not None and hit[0] is strip:
            return hit[1]
        cells: list[Cell] = []
        _cells(strip, cells)
        if len(cache) >= STRIP_CACHE:
            cache.clear()
        cache[id(strip)] = (strip, cells)
        return cells

    def reset(self, width: int | None = None, height: int | None = None) -> None:
        """Forget what the terminal shows: the next update is written whole."""
        if width is not None and height is not None:
            self.width, self.height = width, height
        self.lines = [[_UNKNOWN] * self.width for _ in range(self.height)]
        self._sgr, self._sgr_style = None, False

    def render(self, updates: list[Line], color_system: ColorSystem,
               size: tuple[int, int]) -> str:
        """The terminal output for the line spans of an update (``color_system``: the
        terminal's): cursor moves and changed cells only (an empty string when nothing
        on screen changes)."""
        width, height = size
        if (width, height) != (self.width, self.height):
            self.reset(width, height)
        parts: list[str] = []
        append = parts.append
        lines = self.lines
        render_ansi = Strip.render_ansi
        # the SGR attributes the terminal has now (None: not known) and for which style;
        # they stay set between updates (nothing else writes attributes)
        sgr, sgr_style = self._sgr, self._sgr_style
        self._scroll(updates, append)
        runs: list[tuple[int, int, list[Cell]]] = []  # (y, column, the cells to write)
        for y, x, cells in updates:
            if not 0 <= y < height or x >= width or x < 0:
                continue
            cells = cells[:width - x]
            row = lines[y]
            end = x + len(cells)
            old = row[x:end]
            if old == cells:
                continue
            runs.extend((y, x + start, cells[start:stop]) for start, stop in _runs(cells, old))
            row[x:end] = cells
        if len(runs) > 1:
            runs = _ordered(runs, sgr_style if sgr is not None else None, color_system)
        cursor_y = cursor_x = -1  # where the cursor is after the last run written
        for y, column, cells in runs:
            if cursor_y == y and cursor_x < column:  # on from the last run (CUF)
                append(f"\x1b[{column - cursor_x}C")
            else:
                append(f"\x1b[{y + 1};{column + 1}H")
            # where the cursor ends: sure only after ASCII (a terminal may draw an
            # ambiguous-width character wide) and short of the right margin
            cursor_y, cursor_x = y, column + len(cells)
            if cursor_x >= width:
                cursor_y = -1
            for ch, style in cells:
                if ch is None:
                    continue
                if not ch.isascii():
                    cursor_y = -1
                if style is not None and style.link:  # Textual's renderer, reset after
                    if sgr != "":
                        append("\x1b[0m")
                    append(Strip.render_style(style, ch, color_system))
                    sgr, sgr_style = "", None
                    continue
                if style is not sgr_style:
                    codes = render_ansi(style, color_system) if style else ""
                    if codes != sgr:
                        append(_sgr_change(sgr_style if sgr is not None else None,
                                           style, codes, color_system))
                        sgr = codes
                    sgr_style = style
                append(ch)
        self._sgr, self._sgr_style = sgr, sgr_style
        return "".join(parts)

    def _scroll(self, updates: list[tuple[int, int, list[Cell]]], append: Callable[[str], None]
                ) -> None:
        """When a block of whole lines is mostly the lines below it moved up (a log pane
        taking new lines), scroll that block in the terminal (DECSTBM + SU): the lines
        already there move without being sent again, and only the new ones are drawn."""
        width, lines = self.width, self.lines
        pieces: dict[int, list[tuple[int, list[Cell]]]] = {}
        for y, x, cells in updates:
            if 0 <= y < self.height:
                pieces.setdefault(y, []).append((x, cells))
        full: dict[int, list[Cell]] = {}  # the lines drawn whole (in one or more pieces)
        for y, items in pieces.items():
            items.sort(key=lambda item: item[0])
            merged: list[Cell] = []
            for x, cells in items:
                if x != len(merged):
                    break
                merged.extend(cells)
            else:
                if len(merged) >= width:
                    full[y] = merged[:width]
        y = 0
        while y < self.height:
            if y not in full:
                y += 1
                continue
            top = y
            while y + 1 in full:
                y += 1
            bottom = y
            y += 1
            if bottom - top + 1 < SCROLL_MIN_LINES:
                continue
            best: tuple[int, int, int] | None = None  # (rows saved, first row, shift)
            for k in range(1, SCROLL_MAX_SHIFT + 1):
                # the longest run of rows that show what the row k below showed
                run = 0
                for row in range(top, bottom + 1 - k):
                    if _close(full[row], lines[row + k]):
                        run += 1
                        if run >= SCROLL_MIN_LINES - 1 and (best is None or run > best[0]):
                            best = (run, row - run + 1, k)
                    else:
                        run = 0
            if best is None:
                continue
            run, first, k = best
            region_bottom = first + run - 1 + k
            unshifted = sum(1 for row in range(first, region_bottom + 1)
                            if full[row] == lines[row])
            if run <= unshifted:
                continue
            append(f"\x1b[{first + 1};{region_bottom + 1}r\x1b[{k}S\x1b[r")
            lines[first:region_bottom + 1 - k] = lines[first + k:region_bottom + 1]
            lines[region_bottom + 1 - k:region_bottom + 1] = [[_UNKNOWN] * width
                                                              for _ in range(k)]
