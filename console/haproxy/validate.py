"""Validation of everything that goes into a runtime API command.

HAProxy's CLI ends a command at a newline or at an unescaped ``;``; it has no
quoting, only ``\\`` escapes for ``;``, blank and ``\\``. Names (proxies,
servers, tables, maps) must match HAProxy's own name charset. Anything else is
refused here, before a byte reaches a socket.
"""

from __future__ import annotations

import re

from console.haproxy.errors import ValidationError

# HAProxy's invalid_char(): names are made of [A-Za-z0-9-_.:].
NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")
MAX_NAME = 256
MAX_WORDS = 64
MAX_LINE = 16000  # under tune.bufsize (16384) which closes the connection silently

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _show(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")


def check_name(value: str, kind: str = "name") -> str:
    """Return *value* if it is a valid HAProxy object name, else raise."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"empty {kind}", hint=f"give a {kind}")
    if len(value) > MAX_NAME:
        raise ValidationError(f"{kind} too long ({len(value)} characters)",
                              hint=f"a {kind} has at most {MAX_NAME} characters")
    if not NAME_RE.fullmatch(value):
        bad = sorted({c for c in value if not NAME_RE.fullmatch(c)})
        shown = ", ".join(repr(c) for c in bad)
        raise ValidationError(
            f"invalid {kind} {_show(value)}: it contains {shown}",
            hint="HAProxy names use only letters, digits, '-', '_', '.' and ':'",
        )
    return value


def check_server_ref(ref: str) -> tuple[str, str]:
    """Split and check ``BACKEND/SERVER``."""
    if not isinstance(ref, str) or ref.count("/") != 1:
        raise ValidationError(f"invalid server reference {_show(str(ref))}",
                              hint="write it as BACKEND/SERVER")
    backend, server = ref.split("/")
    return check_name(backend, "backend name"), check_name(server, "server name")


def check_int(value: str | int, kind: str, lo: int, hi: int) -> int:
    try:
        number = int(str(value).strip(), 10)
    except ValueError:
        raise ValidationError(f"{kind} {_show(str(value))} is not a whole number",
                              hint=f"give a number from {lo} to {hi}") from None
    if not lo <= number <= hi:
        raise ValidationError(f"{kind} {number} is out of range",
                              hint=f"give a number from {lo} to {hi}")
    return number


def escape_value(value: str, kind: str = "value") -> str:
    """Escape free text (map values, ACL patterns) with the CLI's rules.

    ``\\`` escapes ``;``, blank and ``\\``. Control characters cannot be
    escaped and are refused.
    """
    if _CONTROL_RE.search(value):
        raise ValidationError(
            f"{kind} {_show(value)} contains a control character (newline, tab, NUL...)",
            hint="the runtime API cannot carry it; remove it",
        )
    return re.sub(r"([\\; ])", r"\\\1", value)


def check_command(line: str) -> str:
    """Last guard before a command line is written to a socket.

    The line must be a single command: no control characters, no unescaped
    ``;``, at most 64 words, shorter than HAProxy's buffer.
    """
    if _CONTROL_RE.search(line):
        raise ValidationError(f"command {_show(line)} contains a control character",
                              hint="newlines, CR, NUL and other control characters are refused")
    if not line.strip():
        raise ValidationError("empty command")
    if len(line) > MAX_LINE:
        raise ValidationError(f"command too long ({len(line)} bytes)",
                              hint=f"HAProxy drops lines over {MAX_LINE} bytes")
    escaped = False
    for ch in line:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ";":
            raise ValidationError(f"command {_show(line)} contains an unescaped ';'",
                                  hint="';' would start a second command; it is refused")
    if escaped:
        raise ValidationError(f"command {_show(line)} ends with a lone '\\'",
                              hint="a trailing backslash would escape the end of the line")
    words = len(re.findall(r"(?:\\.|[^ \\])+", line))
    if words > MAX_WORDS:
        raise ValidationError(f"command has {words} words",
                              hint=f"HAProxy reads at most {MAX_WORDS} words and drops the rest")
    return line


def build_command(*words: str) -> str:
    """Join words that are already valid (names checked, values escaped)."""
    return check_command(" ".join(words))
