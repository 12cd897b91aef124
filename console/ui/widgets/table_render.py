"""Drawing one line of the proxy table into a Strip (no Textual widget state).

The strips carry the cells' own styles only (status colours, the group header's
bold); the widget adds its base, marked and cursor styles when it shows them, so
one cached strip serves every position and cursor state.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from console.haproxy.model import Row
from console.ui.widgets.columns import SEPARATOR, Placed, fit
from console.ui.widgets.table_model import Key, TableModel

_GAP = " " * SEPARATOR
MARK_STYLE = Style(bold=True, reverse=True)  # a marked row's "*"


def _pad(segments: list[Segment], width: int, style: Style | None) -> Strip:
    strip = Strip(segments)
    return strip.adjust_cell_length(width, style) if strip.cell_length != width else strip


def render_header(model: TableModel, placed: Sequence[Placed], width: int,
                  style: Style) -> Strip:
    """Column titles; the sorted one ends with ▲ (ascending) or ▼; counters start
    with Δ while a mark is set."""
    marked = model.mark is not None
    segments: list[Segment] = []
    for p in placed:
        column = p.column
        title = (" " if column.id == "name" else "") + column.title(marked)
        if model.sort_column is column:
            arrow = "▼" if model.sort_reverse else "▲"
            title = fit(title, p.width - 1).rstrip() + arrow
        segments.append(Segment(fit(title, p.width, column.align), style))
        segments.append(Segment(_GAP, style))
    return _pad(segments, width, style)


def render_row(model: TableModel, placed: Sequence[Placed], width: int, key: Key,
               styles: dict[str, Style], group_style: Style, marked: bool) -> Strip:
    """One proxy header line or one child line, ``width`` cells long."""
    row = model.rows.get(key)
    group = model.group_of(key)
    header_style = group_style if group is not None and group.header == key else None
    rates = model.rates.get(key)
    segments: list[Segment] = []
    for p in placed:
        column = p.column
        if column.id == "name":
            segments.extend(_name_cell(model, key, row, header_style, styles, marked, p.width))
        else:
            text, style_key = ("", None) if row is None else \
                column.formatter(row, model.mark, rates)
            style = styles.get(style_key) if style_key else None
            if header_style is not None:
                style = header_style + style if style else header_style
            segments.append(Segment(fit(text, p.width, column.align), style))
        segments.append(Segment(_GAP, header_style))
    return _pad(segments, width, None)


def _name_cell(model: TableModel, key: Key, row: Row | None, header_style: Style | None,
               styles: dict[str, Style], marked: bool, width: int) -> list[Segment]:
    """``* ▾ be_app  3/4 up, 1 down`` for a group header; ``*   srv1`` for a child
    (``*`` only when the row is marked, in reverse video so that it shows under the
    cursor too; listeners get ``⇢``)."""
    if width < 1:
        return []
    mark = Segment("*", styles.get("mark") or MARK_STYLE) if marked else Segment(" ")
    if header_style is None:
        prefix = "⇢ " if row is not None and row.type == "listener" else ""
        return [mark, Segment(fit(f"  {prefix}{key[1]}", width - 1))]
    if not marked:
        mark = Segment(" ", header_style)
    proxy = key[0]
    has_children = model.groups[proxy].has_children
    arrow = ("▸ " if proxy in model.collapsed else "▾ ") if has_children else "  "
    text = f"{arrow}{proxy}"
    summary = model.summary(proxy)
    used = 1 + cell_len(text)
    if summary and width - used - 2 >= 4:
        return [mark, Segment(text, header_style),
                Segment(fit("  " + summary, width - used), styles.get("dim"))]
    return [mark, Segment(fit(text, width - 1), header_style)]
