"""The filter bar: one line under the header, shown only while a filter hides rows.

``filter: api ✕  problems ✕   12 of 48 rows · esc: show all`` — every filter that is on
(the name filter's text, the quick filter), how many rows they let through of how
many there are, and the key that clears them all. Clicking a ``✕`` removes that filter.
With no filter on the bar takes no room, so an unfiltered screen is unchanged.

It fits on one line from 40 columns: the key hint goes first, then the name filter's
text is shortened with ``…``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from textual.content import Content
from textual.widget import Widget

from console.haproxy.safe_text import visible

QUICK_LABELS = {"problems": "problems", "maint_drain": "MAINT/DRAIN"}
_PREFIX = "filter: "
_CLOSE = " ✕"
_GAP = "  "


@dataclass(frozen=True, slots=True)
class FilterState:
    """What the table is filtered by, and how many rows that leaves."""

    text: str = ""  # the name filter
    quick: str = "all"  # all, problems, maint_drain, backend
    quick_arg: str | None = None  # backend: its name
    shown: int = 0  # rows the filters let through
    total: int = 0  # rows there are
    clear_key: str = "esc"

    @property
    def active(self) -> bool:
        return bool(self.text.strip()) or self.quick != "all"

    def items(self) -> list[tuple[str, str]]:
        """``(label, which)`` per active filter; ``which`` is ``name`` or ``quick``."""
        found: list[tuple[str, str]] = []
        if self.text.strip():
            found.append((visible(self.text.strip()), "name"))
        if self.quick == "backend":
            found.append((f"backend {visible(self.quick_arg or '?')}", "quick"))
        elif self.quick != "all":
            found.append((QUICK_LABELS.get(self.quick, self.quick), "quick"))
        return found

    def count(self) -> str:
        return f"{self.shown} of {self.total} row{'s' if self.total != 1 else ''}"


def _shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, ending with ``…`` if cut (at least ``x…``)."""
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        w = cell_len(char)
        if used + w > max(1, width - 1):
            break
        out.append(char)
        used += w
    return "".join(out) + "…"


def bar_text(state: FilterState, width: int) -> list[tuple[str, str]]:
    """The bar's pieces, ``(text, part)``, fitted to ``width`` cells; ``part`` is
    ``prefix``, ``name``/``quick`` (a filter's label), ``close:name``/``close:quick``,
    ``gap``, ``count`` or ``hint``."""
    items = state.items()
    count = f"   {state.count()}"
    hint = f" · {state.clear_key}: show all"

    def fixed(with_hint: bool, name_width: int | None) -> int:
        size = cell_len(_PREFIX) + cell_len(count) + (cell_len(hint) if with_hint else 0)
        for i, (label, which) in enumerate(items):
            size += (cell_len(_GAP) if i else 0) + cell_len(_CLOSE)
            size += name_width if which == "name" and name_width is not None \
                else cell_len(label)
        return size

    with_hint = fixed(True, None) <= width
    labels = [label for label, _ in items]
    if not with_hint and fixed(False, None) > width:
        for i, (label, which) in enumerate(items):
            if which == "name":
                room = width - fixed(False, 0)
                labels[i] = _shorten(label, max(2, room))
    parts: list[tuple[str, str]] = [(_PREFIX, "prefix")]
    for i, ((_, which), label) in enumerate(zip(items, labels, strict=True)):
        if i:
            parts.append((_GAP, "gap"))
        parts.append((label, which))
        parts.append((_CLOSE, f"close:{which}"))
    parts.append((count, "count"))
    if with_hint:
        parts.append((hint, "hint"))
    return parts


class FilterBar(Widget):
    """One line naming the filters that are on; hidden when none is."""

    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        display: none;
        padding: 0 1;
        background: $warning-muted;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        &.active { display: block; }
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.state = FilterState()

    def show_state(self, state: FilterState) -> None:
        if state != self.state:
            self.state = state
            self.set_class(state.active, "active")
            self.refresh()

    @property
    def text(self) -> str:
        """The bar as plain text (empty when no filter is on)."""
        if not self.state.active:
            return ""
        return "".join(t for t, _ in bar_text(self.state, max(20, self.content_region.width)))

    def render(self) -> Content:
        if not self.state.active:
            return Content("")
        pieces: list[str | tuple[str, str]] = []
        for text, part in bar_text(self.state, max(20, self.content_region.width)):
            if part == "prefix":
                pieces.append((text, "bold"))
            elif part in ("name", "quick"):
                pieces.append((text, "bold"))
            elif part.startswith("close:"):
                which = part.split(":", 1)[1]
                pieces.append((text, f"@click=screen.clear_filter('{which}')"))
            elif part == "hint":
                pieces.append((text, "dim"))
            else:
                pieces.append(text)
        return Content.assemble(*pieces)
