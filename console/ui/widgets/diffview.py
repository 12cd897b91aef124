"""A unified diff, drawn one visible line at a time.

Each hunk starts with a header naming the section it changes
(``▸ backend be_app  @@ -12,7 +12,8 @@``); each line shows its old and new line
numbers, a ``+``/``-`` sign and the text. Signs and numbers carry the meaning,
colours only help (``NO_COLOR`` stays readable). A Line-API widget, so a diff of a
whole file (a rollback) costs only the lines on screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.haproxy.safe_text import visible
from console.haproxy.staging import Hunk, hunks_of, section_headers


@dataclass(frozen=True)
class DiffRow:
    kind: str  # hunk | add | del | ctx | note
    old: int | None
    new: int | None
    text: str


def hunk_sections(hunk: Hunk) -> list[str]:
    """Every section a hunk changes lines in (``Hunk.section`` is only the first)."""
    labels = [hunk.section] if hunk.section else []
    current = hunk.section
    for line in hunk.lines:
        sign, text = line[:1], line[1:]
        if sign == "\\":
            continue
        heads = section_headers(text)
        if heads:
            current = heads[0][1]
        if sign in ("+", "-") and current and current not in labels:
            labels.append(current)
    return labels


def rows_of(hunks: list[Hunk]) -> list[DiffRow]:
    rows: list[DiffRow] = []
    for hunk in hunks:
        label = " · ".join(hunk_sections(hunk)) or "(before the first section)"
        rows.append(DiffRow("hunk", None, None, f"{label}  {hunk.header}"))
        old, new = hunk.old_start, hunk.new_start
        for line in hunk.lines:
            sign, text = line[:1], line[1:]
            if sign == "+":
                rows.append(DiffRow("add", None, new, text))
                new += 1
            elif sign == "-":
                rows.append(DiffRow("del", old, None, text))
                old += 1
            elif sign == "\\":
                rows.append(DiffRow("note", None, None, line))
            else:
                rows.append(DiffRow("ctx", old, new, text))
                old, new = old + 1, new + 1
    return rows


class DiffView(ScrollView, can_focus=True):
    """Shows hunks (:meth:`show_hunks`) or a unified diff text (:meth:`show_diff`).

    :meth:`jump_to` scrolls to a line of the new text (the candidate) and marks it;
    :meth:`mark_lines` flags new-text lines (check errors) with ``✖``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_hunk", "Next hunk", show=False, id="diff.next_hunk"),
        Binding("p", "previous_hunk", "Previous hunk", show=False, id="diff.previous_hunk"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "diffview--hunk", "diffview--add", "diffview--del", "diffview--ctx", "diffview--note",
        "diffview--lineno", "diffview--target", "diffview--error", "diffview--empty",
    }
    DEFAULT_CSS = """
    DiffView {
        background: $surface;
        color: $foreground;
        overflow-y: auto;
        overflow-x: auto;
        scrollbar-size-horizontal: 1;
        &:focus { background-tint: $foreground 5%; }
        & > .diffview--hunk { color: $accent; text-style: bold; background: $panel; }
        & > .diffview--add { color: $success; }
        & > .diffview--del { color: $error; }
        & > .diffview--ctx { color: $foreground 80%; }
        & > .diffview--note { color: $text-muted; text-style: italic; }
        & > .diffview--lineno { color: $text-muted; }
        & > .diffview--target { background: $warning 25%; }
        & > .diffview--error { color: $error; text-style: bold; }
        & > .diffview--empty { color: $text-muted; text-style: italic; }
    }
    """

    def __init__(self, *, placeholder: str = "No changes.", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.placeholder = placeholder
        self.rows: list[DiffRow] = []
        self.hunks: list[Hunk] = []
        self.target_line: int | None = None
        self.error_lines: set[int] = set()
        self._digits = 1
        self._cache: LRUCache[int, Strip] = LRUCache(512)

    # ------------------------------------------------------------------ data

    def show_hunks(self, hunks: list[Hunk], placeholder: str | None = None) -> None:
        self.hunks = list(hunks)
        self.rows = rows_of(self.hunks)
        if placeholder is not None:
            self.placeholder = placeholder
        self.target_line = None
        self.error_lines = set()
        numbers = [n for r in self.rows for n in (r.old, r.new) if n is not None]
        self._digits = len(str(max(numbers, default=1)))
        width = max((self._gutter() + cell_len(self._clean(r.text)) for r in self.rows),
                    default=0)
        self._cache.clear()
        self.virtual_size = Size(width, len(self.rows))
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def show_diff(self, diff: str, old: bytes = b"", new: bytes = b"",
                  placeholder: str | None = None) -> None:
        """A unified diff text; *old* and *new* name the sections of its hunks."""
        self.show_hunks(hunks_of(diff, old, new), placeholder)

    @property
    def hunk_rows(self) -> list[int]:
        return [i for i, r in enumerate(self.rows) if r.kind == "hunk"]

    def row_of(self, candidate_line: int) -> int | None:
        """The row showing *candidate_line* of the new text, else the nearest one."""
        best, best_gap = None, None
        for i, row in enumerate(self.rows):
            if row.new is None:
                continue
            gap = abs(row.new - candidate_line)
            if best_gap is None or gap < best_gap:
                best, best_gap = i, gap
                if gap == 0:
                    break
        return best

    def jump_to(self, candidate_line: int) -> bool:
        """Scroll to *candidate_line* (1-based, new text) and mark it.

        Returns True when that exact line is in the diff (else the nearest is shown).
        """
        index = self.row_of(candidate_line)
        self.target_line = candidate_line
        self._cache.clear()
        self.refresh()
        if index is None:
            return False
        self._scroll_to_row(index)
        return self.rows[index].new == candidate_line

    def mark_lines(self, candidate_lines: set[int]) -> None:
        self.error_lines = set(candidate_lines)
        self._cache.clear()
        self.refresh()

    def _scroll_to_row(self, index: int) -> None:
        top = max(0, index - max(1, self.size.height // 3))
        self.scroll_to(y=top, animate=False, immediate=True, force=True)

    def action_next_hunk(self) -> None:
        later = [i for i in self.hunk_rows if i > self.scroll_offset.y]
        if later:
            self.scroll_to(y=later[0], animate=False, force=True)

    def action_previous_hunk(self) -> None:
        earlier = [i for i in self.hunk_rows if i < self.scroll_offset.y]
        if earlier:
            self.scroll_to(y=earlier[-1], animate=False, force=True)

    # ------------------------------------------------------------------ drawing

    @staticmethod
    def _clean(text: str) -> str:
        """Tabs expanded; any other control character shown as an escape (``\\x1b``)."""
        return visible(text.expandtabs(8))

    def _gutter(self) -> int:
        return 2 * self._digits + 5  # "old new ✖+ "

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        index = scroll_y + y
        if not self.rows:
            if y == 0:
                style = base + self.get_component_rich_style("diffview--empty")
                return Strip([Segment(self.placeholder, style)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._line(self.rows[index], base)
            self._cache[index] = strip
        row = self.rows[index]
        if row.kind == "hunk":  # the header band spans the whole width
            style = base + self.get_component_rich_style("diffview--hunk")
            strip = strip.extend_cell_length(scroll_x + width, style)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, index)

    def _line(self, row: DiffRow, base: Style) -> Strip:
        comp = self.get_component_rich_style
        if row.kind == "hunk":
            style = base + comp("diffview--hunk")
            return Strip([Segment(f"▸ {self._clean(row.text)}", style)])
        d = self._digits
        old = f"{row.old:>{d}}" if row.old is not None else " " * d
        new = f"{row.new:>{d}}" if row.new is not None else " " * d
        style = base + comp(f"diffview--{row.kind}")
        lineno = base + comp("diffview--lineno")
        if row.new is not None and row.new == self.target_line:
            target = comp("diffview--target")
            style, lineno = style + target, lineno + target
        flagged = row.new is not None and row.new in self.error_lines
        flag = Segment("✖" if flagged else " ", base + comp("diffview--error"))
        sign = {"add": "+", "del": "-"}.get(row.kind, " ")
        if row.kind == "note":
            return Strip([Segment(" " * (2 * d + 2), base),
                          Segment(self._clean(row.text), style)])
        return Strip([Segment(f"{old} {new} ", lineno), flag, Segment(f"{sign} ", style),
                      Segment(self._clean(row.text), style)])
