"""Dates HAProxy writes in logs, read as seconds since the epoch (fast, cached per day).

``%t``/``%tr``/``%trl`` (``01/Dec/2026:03:29:58.683``) and ``%T``/``%trg``/``%Tl``
(``01/Dec/2026:03:29:58 +0000``). The local-time forms carry no zone: they are read
as UTC, which keeps their order and differences right within one file (what windows
need), not their absolute value.
"""

from __future__ import annotations

import calendar
import re

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_DAY_CACHE: dict[str, float] = {}
_DATE = re.compile(r"([0-9]{2})/([A-Z][a-z]{2})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2})"
                   r"(?:\.([0-9]{3}))?(?: ([+-])([0-9]{2})([0-9]{2}))?\Z")
DATE_FIELDS = ("request_date", "accept_date", "request_date_gmt", "accept_date_gmt",
               "request_date_local", "accept_date_local")


def parse_date(text: str) -> float | None:
    """*text* as epoch seconds, None if it is not one of HAProxy's log dates."""
    m = _DATE.match(text)
    if not m:
        return None
    day_key = text[:11]
    base = _DAY_CACHE.get(day_key)
    if base is None:
        month = MONTHS.get(m[2])
        if month is None:
            return None
        try:
            base = float(calendar.timegm((int(m[3]), month, int(m[1]), 0, 0, 0)))
        except (ValueError, OverflowError):
            return None
        if len(_DAY_CACHE) > 4096:
            _DAY_CACHE.clear()
        _DAY_CACHE[day_key] = base
    t = base + int(m[4]) * 3600 + int(m[5]) * 60 + int(m[6])
    if m[7]:
        t += int(m[7]) / 1000.0
    if m[8]:
        offset = int(m[9]) * 3600 + int(m[10]) * 60
        t -= offset if m[8] == "+" else -offset
    return t


def record_time(fields: dict[str, object]) -> float | None:
    """The record's date (the first date field it has), as epoch seconds."""
    for key in DATE_FIELDS:
        value = fields.get(key)
        if isinstance(value, str):
            return parse_date(value)
    return None


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\Z")


def parse_duration(text: str) -> float | None:
    """``"5m"``, ``"90s"``, ``"1.5h"``, ``"500ms"`` as seconds (no unit: seconds);
    None if it is not a duration."""
    m = _DURATION.match(text.strip())
    if not m:
        return None
    factor = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
    return float(m[1]) * factor
