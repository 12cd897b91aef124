"""Helpers shared by the parser modules: error answers and error messages."""

from __future__ import annotations

import re

from console.haproxy.errors import ParseError
from console.haproxy.lines import split_lf

# --------------------------------------------------------------------------- JSON

JsonValue = str | int | float | None
_JSON_INT = re.compile(r"-?[0-9]+")
_JSON_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?")


def json_value(value: str | None, text: bool = False) -> JsonValue:
    """One field of an answer, typed for JSON: None for an empty value or ``-``; a
    *text* field as printed; a number as an int or a float; anything else (a field
    this code does not know yet) as printed."""
    if value is None or value in ("", "-"):
        return None
    if text:
        return value
    if _JSON_INT.fullmatch(value):
        return int(value)
    if _JSON_FLOAT.fullmatch(value):
        return float(value)
    return value


# --------------------------------------------------------------------------- errors

_ERROR_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Unknown command\b"), "unknown_command"),
    (re.compile(r"Permission denied\b"), "permission_denied"),
    (re.compile(r"No such \w+|Can't find \w+|Unknown (?:map|ACL) identifier\b"
                r"|Key not found\b|Unable to find\b"), "no_such_object"),
    (re.compile(r"Require '[^']*'|'[^']*' expects\b|Empty weight string\b"
                r"|Unknown data type\b|Integer value expected\b|Invalid\b|Value out of range\b"
                r"|Backend is using a static LB algorithm\b|Missing\b|Frontend (?:is|was) already"
                r"|Server is not\b|Unknown (?:action|argument|option)\b"), "invalid_argument"),
)
_SEVERITY_PREFIX = re.compile(r"^\[([0-9])\]: ")


def classify_error(answer: str) -> str | None:
    """Recognize an error answer from the runtime API.

    Returns ``"unknown_command"``, ``"permission_denied"``, ``"no_such_object"``,
    ``"invalid_argument"``, or ``None`` for a normal answer (including empty ones).
    Only the first line is looked at: data dumps never start with these phrases.
    A ``set severity-output number`` prefix is understood; an unrecognized message
    with an error severity (``[0]``..``[3]``) counts as ``invalid_argument``.
    """
    first = answer.lstrip("\n").split("\n", 1)[0].strip()
    if not first:
        return None
    severity: int | None = None
    m = _SEVERITY_PREFIX.match(first)
    if m:
        severity = int(m[1])
        first = first[m.end():]
    for pattern, kind in _ERROR_PATTERNS:
        if pattern.match(first):
            return kind
    if severity is not None and severity <= 3:
        return "invalid_argument"
    return None


def fail(what: str, text: str, hint: str | None = None) -> ParseError:
    """A ParseError; quotes HAProxy's answer when it is an error message."""
    first = text.strip().split("\n", 1)[0][:120]
    if not text.strip():
        return ParseError(what, "empty answer", hint or "HAProxy sent nothing back")
    if classify_error(text):
        return ParseError(what, f"HAProxy answered {first!r}", hint)
    return ParseError(what, f"got {first!r}", hint)


def nonblank_lines(text: str) -> list[str]:
    return [line for line in split_lf(text) if line.strip()]
