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
    kind, m = match_header(line)
    if m is None:
        return RAW, line
    return header_of(kind, m), line[m.end():]


# the kinds of match_header(): which regular expression matched
RFC5424, LEGACY, LEGACY_NO_TAG, ISO, PRI_ONLY = range(5)


def match_header(line: str) -> tuple[int, re.Match[str] | None]:
    """``(kind, match)`` of the header of *line* (``match`` None: no header; the message
    starts at ``match.end()``). The :class:`Header` itself is made by :func:`header_of`,
    only when someone asks for it."""
    if not line:
        return 0, None
    c = line[0]
    if c == "<":
        m = _RFC5424.match(line)
        if m:
            return RFC5424, m
    if c == "<" or c.isalpha():
        m = _LEGACY.match(line)
        if m:
            return LEGACY, m
        m = _LEGACY_NO_TAG.match(line)
        if m:
            return LEGACY_NO_TAG, m
    if c == "<" or "0" <= c <= "9":
        m = _ISO.match(line)
        if m:
            return ISO, m
    if c == "<":
        m = _PRI_ONLY.match(line)
        if m:
            return PRI_ONLY, m
    return 0, None


def header_of(kind: int, m: re.Match[str] | None) -> Header:
    """The :class:`Header` of a :func:`match_header` result."""
    if m is None:
        return RAW
    if kind == RFC5424:
        return Header("rfc5424", _pri(m["pri"]), _nil(m["time"]), _nil(m["host"]),
                      _nil(m["tag"]), _nil(m["pid"]))
    if kind == LEGACY:
        return Header("rfc3164" if m["host"] else "local", _pri(m["pri"]), m["time"],
                      m["host"], m["tag"], m["pid"])
    if kind == LEGACY_NO_TAG:
        return Header("local", _pri(m["pri"]), m["time"])
    if kind == ISO:
        pri = _pri(m["pri"])
        if m["tag"]:
            variant = "rfc3164" if m["host"] else "local"
        else:
            variant = "iso" if pri is None else "timed"
        return Header(variant, pri, m["time"], m["host"], m["tag"], m["pid"])
    pri = _pri(m["pri"])
    return Header("priority" if pri is not None and pri >= 8 else "short", pri)


def _pri(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    return value if value <= 191 else None


def _unnamed(pattern: str) -> str:
    return re.sub(r"\(\?P<[a-z]+>", "(?:", pattern)


# every header match_header() recognises, in its order, as one atomic group: put in
# front of a message pattern, it strips the header exactly as match_header() would (the
# first variant that matches, never another one when the message does not match)
ANY_HEADER = ("(?>(?=<)" + _unnamed(_RFC5424.pattern) + "|" + _unnamed(_LEGACY.pattern)
              + "|" + _unnamed(_LEGACY_NO_TAG.pattern) + "|" + _unnamed(_ISO.pattern) + "|"
              + _unnamed(_PRI_ONLY.pattern) + "|)")
