"""The log filter language: ``be=be_api status>=500 term~^S client=10.1.0.0/16
path~^/login Ta>500ms``.

An expression is terms separated by blanks, all of which must hold (AND). A term is
``FIELD OP VALUE`` with OP one of ``=  !=  >  >=  <  <=  ~  !~`` (``~``: regex
search). A value with blanks is written in double quotes (``path="/a b"``).

Fields: ``be``/``backend``, ``fe``/``frontend``, ``srv``/``server``, ``status``,
``term``/``termination`` (the 2 letters; ``tsc`` for all 4), ``client``, ``method``,
``path``, ``uri``, ``cap``/``hdr`` (any captured header), the timers ``Tq Tw Tc Tr Ta
Tt TR Th Ti`` (any case but ``TR``, HAProxy's request-receive timer, which differs
from ``Tr``), ``bytes``, ``retries``, and any other field name of a record.

Values: numbers for numeric fields; timers take a duration (``500``, ``500ms``,
``1.5s``, ``2m``; no unit = ms); ``status=5xx`` matches a class; ``client=CIDR``
(``=``/``!=``) matches a network, IPv4 or IPv6. A record without the field fails
every term on it except ``!=`` and ``!~``.

Regexes run on the ``regex`` package with a time limit per search when it is
installed; a search over the limit counts as no match, and after
:data:`MAX_TIMEOUTS` of them the term is dropped (matches nothing) and
:attr:`Filter.degraded` says so. Without ``regex``, a pattern that could backtrack
without bound (:func:`~console.haproxy.regex_guard.safe_for_re`) is refused.
Mistakes raise :class:`~console.haproxy.errors.ValidationError` naming the term.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.errors import ValidationError
from console.haproxy.regex_guard import repeat_weight, safe_for_re

try:
    import regex as _regex
except ImportError:  # the one-file build
    _regex = None

SEARCH_TIMEOUT = 0.01  # seconds per regex search
MAX_TIMEOUTS = 5
MAX_PATTERN = 500
MAX_WEIGHT = 10_000

FIELDS: dict[str, str] = {
    "be": "backend", "backend": "backend", "fe": "frontend", "frontend": "frontend",
    "srv": "server", "server": "server", "status": "status",
    "term": "termination", "termination": "termination", "ts": "termination",
    "tsc": "termination_cookie", "client": "client", "ci": "client", "method": "method",
    "path": "path", "uri": "uri", "bytes": "bytes_read", "retries": "retries",
    "cap": "captures", "hdr": "captures",
}
TIMER_FIELDS: dict[str, str] = {
    "tq": "tq", "tw": "tw", "tc": "tc", "tr": "tr", "ta": "ta", "tt": "tt",
    "th": "th", "ti": "ti", "td": "td", "tu": "tu",
}
NUMERIC = frozenset({"status", "bytes_read", "retries", *TIMER_FIELDS.values(), "treq"})
_TERM = re.compile(r"([A-Za-z_][\w.\[\]()-]*?)(!=|>=|<=|!~|=|>|<|~)(.*)\Z", re.S)
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m)?\Z")


@dataclass
class Term:
    """One compiled term: its text and its test."""

    text: str
    key: str
    op: str
    test: Callable[[Any], bool]


@dataclass
class Filter:
    """A compiled expression: call it on a record's fields."""

    text: str
    terms: list[Term] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)

    def __call__(self, fields: dict[str, object]) -> bool:
        for term in self.terms:
            if term.key == "captures":
                value: object = [*_as_list(fields.get("request_captures")),
                                 *_as_list(fields.get("response_captures"))]
            else:
                value = fields.get(term.key)
            if not term.test(value):
                return False
        return True


def _as_list(v: object) -> list[object]:
    return list(v) if isinstance(v, list) else []


def _bad(what: str, expr: str, term: str, hint: str) -> ValidationError:
    return ValidationError(what, f"filter {expr!r}, term {term!r}", hint)


def parse_filter(expr: str) -> Filter:
    """Compile *expr* (see the module docstring)."""
    try:
        words = shlex.split(expr, posix=True)
    except ValueError as exc:
        raise ValidationError(f"the filter could not be split into terms ({exc})",
                              f"filter {expr!r}",
                              'close the quote: path="/a b"') from None
    flt = Filter(expr)
    for word in words:
        flt.terms.append(_term(word, expr, flt))
    return flt


def _term(word: str, expr: str, flt: Filter) -> Term:
    m = _TERM.match(word)
    if not m:
        raise _bad("a term is not FIELD OP VALUE", expr, word,
                   "write e.g. be=be_api, status>=500, term~^S, Ta>500ms")
    name, op, raw = m.groups()
    key = FIELDS.get(name.lower())
    if name == "TR":
        key = "treq"
    elif key is None:
        key = TIMER_FIELDS.get(name.lower(), name)
    if op in ("~", "!~"):
        return Term(word, key, op, _regex_test(raw, op == "!~", expr, word, flt))
    if key == "client" and op in ("=", "!=") and "/" in raw:
        try:
            net = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            raise _bad(f"{raw!r} is not a network", expr, word,
                       "write an address or a CIDR: client=10.1.0.0/16") from None
        return Term(word, key, op, _cidr_test(net, op == "!="))
    if key == "status" and re.fullmatch(r"[1-5]xx", raw, re.I):
        if op not in ("=", "!="):
            raise _bad("a status class takes = or != only", expr, word, "status=5xx")
        low = int(raw[0]) * 100
        inside = op == "="
        return Term(word, key, op, lambda v: isinstance(v, int) and (low <= v < low + 100)
                    == inside if v is not None else not inside)
    if key in NUMERIC:
        number = _number(raw, key, expr, word)
        return Term(word, key, op, _compare(op, number))
    if op not in ("=", "!="):
        raise _bad(f"{op} compares numbers; {name} is text", expr, word,
                   f"use = != ~ on {name}, or a numeric field (status, Ta…)")
    return Term(word, key, op, _equal(raw, op == "!="))


def _number(raw: str, key: str, expr: str, word: str) -> float:
    if key in TIMER_FIELDS.values() or key == "treq":
        m = _DURATION.match(raw)
        if not m:
            raise _bad(f"{raw!r} is not a duration", expr, word,
                       "write 500, 500ms, 1.5s or 2m (no unit: milliseconds)")
        factor = {"ms": 1, None: 1, "s": 1000, "m": 60_000}[m[2]]
        return float(m[1]) * factor
    try:
        return float(raw)
    except ValueError:
        raise _bad(f"{raw!r} is not a number", expr, word,
                   "status>=500, bytes>1000000, retries>0") from None


def _compare(op: str, number: float) -> Callable[[Any], bool]:
    ops: dict[str, Callable[[float], bool]] = {
        "=": lambda v: v == number, "!=": lambda v: v != number,
        ">": lambda v: v > number, ">=": lambda v: v >= number,
        "<": lambda v: v < number, "<=": lambda v: v <= number,
    }
    check = ops[op]

    def test(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return op == "!="
        return check(v)
    return test


def _equal(raw: str, negate: bool) -> Callable[[Any], bool]:
    def test(v: Any) -> bool:
        if v is None:
            return negate
        if isinstance(v, list):
            hit = raw in [str(x) for x in v]
        else:
            hit = str(v) == raw
        return hit != negate
    return test


def _cidr_test(net: Any, negate: bool) -> Callable[[Any], bool]:
    cache: dict[str, bool] = {}

    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return negate
        hit = cache.get(v)
        if hit is None:
            try:
                addr = ipaddress.ip_address(v.split("%", 1)[0])
                if addr.version == 6 and addr.ipv4_mapped is not None and net.version == 4:
                    addr = addr.ipv4_mapped
                hit = addr in net
            except ValueError:
                hit = False
            if len(cache) > 100_000:
                cache.clear()
            cache[v] = hit
        return hit != negate
    return test


def _regex_test(pattern: str, negate: bool, expr: str, word: str,
                flt: Filter) -> Callable[[Any], bool]:
    if len(pattern) > MAX_PATTERN or repeat_weight(pattern) > MAX_WEIGHT:
        raise _bad("the regex is too large", expr, word,
                   f"keep it under {MAX_PATTERN} characters and small counted repeats")
    if _regex is None and not safe_for_re(pattern):
        raise _bad("the regex could backtrack without end (no time limit is available)",
                   expr, word, "avoid a quantified group such as (a+)+ or a backreference")
    engine: Any = _regex if _regex is not None else re
    try:
        compiled = engine.compile(pattern)
    except (engine.error, ValueError, OverflowError, RecursionError) as exc:
        raise _bad(f"not a valid regex ({exc})", expr, word,
                   "escape special characters with a backslash: path~^/a\\.b") from None
    timeouts = [0]

    def search(text: str) -> bool:
        if _regex is None:
            return compiled.search(text) is not None
        try:
            return compiled.search(text, timeout=SEARCH_TIMEOUT) is not None
        except TimeoutError:
            timeouts[0] += 1
            if timeouts[0] == MAX_TIMEOUTS:
                flt.degraded.append(f"{word}: regex too slow, dropped (matches nothing)")
            return False

    def test(v: Any) -> bool:
        if timeouts[0] >= MAX_TIMEOUTS:
            return False
        if v is None:
            return negate
        if isinstance(v, list):
            hit = any(search(str(x)) for x in v)
        else:
            hit = search(str(v))
        return hit != negate
    return test
