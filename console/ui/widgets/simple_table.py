"""Columns for the plain :class:`~textual.widgets.DataTable` screens (logs, triage,
summaries, captured errors, streams, clients): ``(label, width)`` pairs, a width of 0
taking what is left."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widgets import DataTable


def add_columns(table: DataTable[Any], columns: Iterable[tuple[str, int]]) -> None:
    """Add *columns* to *table*, each keyed by its label."""
    for label, width in columns:
        if width:
            table.add_column(label, width=width, key=label)
        else:
            table.add_column(label, key=label)
