"""Small statistics helpers: median and p95 (nearest rank)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def p95(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``{"median", "p95", "n"}`` (None when there are no values)."""
    if not values:
        return {"median": None, "p95": None, "n": 0}
    return {"median": statistics.median(values), "p95": p95(values), "n": len(values)}


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
