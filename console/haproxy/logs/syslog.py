"""The header HAProxy (or a syslog daemon) puts before a log message, recognised and
stripped.

HAProxy's ``log ... format <fmt>`` (``build_log_header()`` in ``src/log.c``, the same
shapes in 2.6 to 3.4) writes:

========== ==========================================================================
rfc3164    ``<134>Dec  1 03:29:19 localhost haproxy[30049]: MSG``
local      ``<134>Dec  1 03:29:19 haproxy[30049]: MSG`` (no host)
rfc5424    ``<134>1 2026-12-01T03:29:19.155493+00:00 host haproxy 30049 - - MSG``
           (``-`` for a missing host, tag, pid, msgid, structured data)
priority   ``<134>MSG``
short      ``<6>MSG`` (the level only)
timed      ``<6>2026-12-01T03:29:19.155523+00:00 MSG``
iso        ``2026-12-01T03:29:19.155529+00:00 MSG``
raw        ``MSG``
========== ==========================================================================

A syslog daemon writing to a file usually drops the ``<PRI>`` and keeps the rest
(``Dec  1 03:29:19 host haproxy[30049]: MSG``, or an RFC 3339 time in front of the
host). :func:`split_header` accepts all of these; whatever is not a header is the
message. The ``short`` and ``priority`` variants cannot be told apart from the
priority alone; ``priority`` is reported when the value carries a facility (≥ 8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PRI = r"(?:<(?P<pri>[0-9]{1,3})>)?"
_LEGACY_TIME = r"[A-Z][a-z]{2} [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
_ISO_TIME = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
             r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?")
# tag[pid]: — a program name has no blank, bracket or colon
_TAG = r"(?P<tag>[^\s\[\]:]{1,64})(?:\[(?P<pid>[0-9]{1,10})\])?: "
_SD = r'(?:-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)'

_RFC5424 = re.compile(
    _PRI + r"1 (?P<time>-|" + _ISO_TIME + r") (?P<host>\S{1,255}) (?P<tag>\S{1,48}) "
    r"(?P<pid>\S{1,128}) (?P<msgid>\S{1,32}) (?P<sd>" + _SD + r") ?")
_TAG_AHEAD = r"(?=[^\s\[\]:]{1,64}(?:\[[0-9]{1,10}\])?: )"
_LEGACY = re.compile(
    _PRI + r"(?P<time>" + _LEGACY_TIME + r") (?:(?P<host>[^\s\[\]]{1,255}) " + _TAG_AHEAD
    + r")?" + _TAG)
_LEGACY_NO_TAG = re.compile(_PRI + r"(?P<time>" + _LEGACY_TIME + r") ")
_ISO = re.compile(
    _PRI + r"(?P<time>" + _ISO_TIME + r") (?:(?:(?P<host>[^\s\[\]]{1,255}) )?" + _TAG + ")?")
_PRI_ONLY = re.compile(r"<(?P<pri>[0-9]{1,3})>")


@dataclass(frozen=True, slots=True)
class Header:
    """What the header said; ``variant`` is the ``format`` HAProxy would have used."""

    variant: str  # rfc3164, local, rfc5424, timed, iso, priority, short, raw
    priority: int | None = None
    time: str | None = None  # as written (legacy "Dec  1 03:29:19" or ISO 8601)
    host: str | None = None
    program: str | None = None
    pid: str | None = None

    @property
    def facility(self) -> int | None:
        return None if self.priority is None else self.priority >> 3

    @property
    def severity(self) -> int | None:
        return None if self.priority is None else self.priority & 7


RAW = Header("raw")


def _nil(value: str | None) -> str | None:
    return None if value in (None, "-") else value


def split_header(line: str) -> tuple[Header, str]:
    """``(header, message)``: the syslog header of *line* recognised and stripped."""
    if not line:
        return RAW, line
    c = line[0]
    if c == "<":
        m = _RFC5424.match(line)
        if m:
            return Header("rfc5424", _pri(m["pri"]), _nil(m["time"]), _nil(m["host"]),
                          _nil(m["tag"]), _nil(m["pid"])), line[m.end():]
    if c == "<" or c.isalpha():
        m = _LEGACY.match(line)
        if m:
            return Header("rfc3164" if m["host"] else "local", _pri(m["pri"]), m["time"],
                          m["host"], m["tag"], m["pid"]), line[m.end():]
        m = _LEGACY_NO_TAG.match(line)
        if m:
            return Header("local", _pri(m["pri"]), m["time"]), line[m.end():]
    if c == "<" or "0" <= c <= "9":
        m = _ISO.match(line)
        if m:
            pri = _pri(m["pri"])
            if m["tag"]:
                variant = "rfc3164" if m["host"] else "local"
            else:
                variant = "iso" if pri is None else "timed"
            return Header(variant, pri, m["time"], m["host"], m["tag"], m["pid"]), \
                line[m.end():]
    if c == "<":
        m = _PRI_ONLY.match(line)
        if m:
            pri = _pri(m["pri"])
            return Header("priority" if pri is not None and pri >= 8 else "short", pri), \
                line[m.end():]
    return RAW, line


def _pri(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    return value if value <= 191 else None
