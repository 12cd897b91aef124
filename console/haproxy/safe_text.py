"""Text from outside (HAProxy's answers, config lines, map values, journal and history
fields) made safe to print: no byte of it can drive the terminal.

:func:`visible` shows every control character as an escape written in plain text
(ESC as ``\\x1b``, a newline as ``\\n``), and bytes that were not UTF-8 (kept by
Python as lone surrogates) as ``\\xNN``. Tabs are kept only where the layout
allows them. :func:`check_message` refuses control characters in a message the
user types (``-m``), so that a history line cannot be forged.
"""

from __future__ import annotations

import re

from console.haproxy.errors import ValidationError

# C0 controls, DEL, C1 controls (8-bit CSI, OSC...), the line and paragraph
# separators (U+2028, U+2029: a line break for Python and some terminals), lone
# surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_UNSAFE_BUT_TAB = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_UNSAFE_BUT_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code > 0xFF:
        return f"\\u{code:04x}"
    return f"\\x{code:02x}"


def visible(text: object, *, tab: bool = False) -> str:
    """*text* on one line with every control character shown as an escape.

    With *tab*, tabs are kept as they are (for aligned config lines).
    """
    return (_UNSAFE_BUT_TAB if tab else _UNSAFE).sub(_escape, str(text))


def visible_lines(text: object, *, tab: bool = True) -> str:
    """Like :func:`visible`, but newlines stay line breaks (a diff, a block of lines).

    A carriage return, which would let a line overwrite the one before, is shown
    as ``\\r``.
    """
    pattern = _UNSAFE_BUT_LAYOUT if tab else re.compile(
        "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
    return pattern.sub(_escape, str(text))


def has_control(text: str) -> bool:
    return bool(_UNSAFE.search(text))


def check_message(message: str, what: str = "message") -> str:
    """A one-line message typed by the user: no control characters (newline, ESC...)."""
    if has_control(message):
        raise ValidationError(
            f"the {what} {visible(message)[:80]!r} contains a control character "
            "(newline, tab, ESC...)",
            hint=f"write the {what} on one line, without control characters")
    return message
