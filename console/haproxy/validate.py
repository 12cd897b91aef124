"""Validation of everything that goes into a runtime API command.

HAProxy's CLI ends a command at a newline or at an unescaped ``;``; it has no
quoting, only ``\\`` escapes (``\\X`` reads as ``X``). Names (proxies, servers,
tables, maps) must match HAProxy's own name charset. Anything else is refused
here, before a byte reaches a socket.

A command is built from the words it must have (:func:`build_command`): each
word is checked and escaped, the line is split again the way HAProxy splits it,
and the words must come back exactly as intended. The result is a
:class:`Command`, which keeps those words so the sender can check it once more.

Payload mode: HAProxy reads the lines after a command as its payload when the
command line ends with ``<<`` (2.6, 2.8) or when its last blank-separated piece
starts with ``<<`` (3.x, which allows a custom end pattern after it). Such a
command is answered with nothing and does nothing, so it is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from console.haproxy.errors import ValidationError

# HAProxy's invalid_char(): names are made of [A-Za-z0-9-_.:].
NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")
MAX_NAME = 256
MAX_WORDS = 64
MAX_LINE = 16000  # under tune.bufsize (16384) which closes the connection silently
PAYLOAD = "<<"

# C0 controls, DEL and C1 controls: a command cannot carry them.
# C0, DEL, C1 and the Unicode line/paragraph separators (a line break to many readers)
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Lone surrogates: what Python makes of bytes that are not UTF-8 (surrogateescape).
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_BLANKS = " \t"


def _show(value: str) -> str:
    return ascii(value) if len(value) <= 60 else ascii(value[:57] + "...")


class Command(str):
    """A command line built by :func:`build_command`; ``words`` are what HAProxy reads."""

    words: tuple[str, ...]

    def __new__(cls, line: str, words: Sequence[str]) -> Command:
        obj = super().__new__(cls, line)
        obj.words = tuple(words)
        return obj


def check_name(value: str, kind: str = "name") -> str:
    """Return *value* if it is a valid HAProxy object name, else raise."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"empty {kind}", hint=f"give a {kind}")
    if len(value) > MAX_NAME:
        raise ValidationError(f"{kind} too long ({len(value)} characters)",
                              hint=f"a {kind} has at most {MAX_NAME} characters")
    if not NAME_RE.fullmatch(value):
        check_text(value, kind)  # a clearer message for bytes that are not UTF-8
        bad = sorted({c for c in value if not NAME_RE.fullmatch(c)})
        shown = ", ".join(ascii(c) for c in bad)
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
    """A whole number written with ASCII digits, from *lo* to *hi*."""
    if isinstance(value, bool):
        raise ValidationError(f"{kind} {value!r} is not a whole number",
                              hint=f"give a number from {lo} to {hi}")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip(" ")
        if not _INT_RE.fullmatch(text):
            raise ValidationError(f"{kind} {_show(str(value))} is not a whole number",
                                  hint=f"give a number from {lo} to {hi}, in digits 0-9")
        number = int(text, 10)
    if not lo <= number <= hi:
        raise ValidationError(f"{kind} {number} is out of range",
                              hint=f"give a number from {lo} to {hi}")
    return number


_SECONDS_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def seconds(text: str) -> float:
    """A duration in seconds for the command line: ASCII digits and an optional fraction."""
    if not _SECONDS_RE.fullmatch(str(text).strip(" ")):
        raise ValueError(f"not a number of seconds: {text!r}")
    return float(text)


def whole_number(text: str) -> int:
    """A whole number for the command line, in ASCII digits."""
    if not re.fullmatch(r"[0-9]+", str(text).strip(" ")):
        raise ValueError(f"not a whole number: {text!r}")
    return int(text)


def payload_start(text: str) -> bool:
    """Whether *text*, as the end of a command line, would switch HAProxy to payload mode."""
    if text.endswith(PAYLOAD):
        return True
    last = re.split(r"[ \t]", text)[-1]
    return last.startswith(PAYLOAD)


def check_text(value: str, kind: str = "value") -> str:
    """Free text for one argument: UTF-8, no control character, no payload marker.

    The error names the argument (*kind*), so the user knows which one to fix.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{kind} must be text, not {type(value).__name__}")
    if _SURROGATE_RE.search(value):
        raise ValidationError(
            f"{kind} {_show(value)} contains bytes that are not UTF-8 text",
            hint="the runtime API takes UTF-8 text only; retype the value")
    if _CONTROL_RE.search(value):
        raise ValidationError(
            f"{kind} {_show(value)} contains a control character (newline, tab, NUL, ESC...)",
            hint="the runtime API cannot carry it; remove it",
        )
    if any(payload_start(piece) for piece in value.split(" ")):
        raise ValidationError(
            f"{kind} {_show(value)} has '{PAYLOAD}' at the start or end of a word",
            hint=f"HAProxy's CLI reads '{PAYLOAD}' there as the start of a payload and "
                 "would silently do nothing; remove it")
    return value


def escape_word(word: str) -> str:
    """*word* with ``\\`` before ``;``, blank and ``\\`` (HAProxy reads ``\\X`` as ``X``)."""
    return re.sub(r"([\\; ])", r"\\\1", word)


def escape_value(value: str, kind: str = "value") -> str:
    """Check free text (map values, ACL patterns) and escape it with the CLI's rules."""
    return escape_word(check_text(value, kind))


def split_words(line: str) -> list[str]:
    """The words HAProxy reads in *line*: split on unescaped blanks, ``\\X`` read as ``X``."""
    words: list[str] = []
    current: list[str] = []
    in_word = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch in _BLANKS:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
            i += 1
            continue
        in_word = True
        if ch == "\\" and i + 1 < len(line):
            current.append(line[i + 1])
            i += 2
            continue
        current.append(ch)
        i += 1
    if in_word:
        words.append("".join(current))
    return words


def check_command(line: str) -> str:
    """Last guard before a command line is written to a socket.

    The line must be a single command: UTF-8 text, no control characters, no
    unescaped ``;``, no payload marker, at most 64 words, shorter than HAProxy's
    buffer.
    """
    if _SURROGATE_RE.search(line):
        raise ValidationError(f"command {_show(line)} contains bytes that are not UTF-8",
                              hint="the runtime API takes UTF-8 text only")
    if _CONTROL_RE.search(line):
        raise ValidationError(f"command {_show(line)} contains a control character",
                              hint="newlines, CR, NUL and other control characters are refused")
    if not line.strip():
        raise ValidationError("empty command")
    if len(line.encode()) > MAX_LINE:
        raise ValidationError(f"command too long ({len(line.encode())} bytes)",
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
    if payload_start(line.rstrip(_BLANKS)):
        raise ValidationError(
            f"command {_show(line)} ends with '{PAYLOAD}' or a word starting with it",
            hint="HAProxy would read the next lines as a payload and do nothing")
    words = len(split_words(line))
    if words > MAX_WORDS:
        raise ValidationError(f"command has {words} words",
                              hint=f"HAProxy reads at most {MAX_WORDS} words and drops the rest")
    return line


def build_command(*words: str) -> Command:
    """The command line that HAProxy reads as exactly *words* (unescaped), or raise.

    Each word is checked (no control character, valid UTF-8, no payload marker) and
    escaped; the line is split again the way HAProxy splits it and must give back
    the same words, in the same number.
    """
    for word in words:
        if not isinstance(word, str) or not word:
            raise ValidationError(f"empty word in a command ({_show(' '.join(map(str, words)))})",
                                  hint="every argument needs a value")
        check_text(word, "argument")
    line = check_command(" ".join(escape_word(w) for w in words))
    verify_words(line, words)
    return Command(line, words)


def verify_words(line: str, words: Sequence[str]) -> None:
    """Raise unless HAProxy reads *line* as exactly *words*."""
    got = split_words(line)
    if got != list(words):
        raise ValidationError(
            f"command {_show(line)} would be read as {len(got)} word(s) {_show(' | '.join(got))}"
            f", not the {len(words)} intended",
            hint="nothing was sent; an argument carries blanks or escapes it must not")


def verify_command(command: str) -> Command:
    """The check before sending a planned command: built from words, still those words."""
    if not isinstance(command, Command):
        raise ValidationError(f"command {_show(str(command))} was not built from checked words",
                              hint="nothing was sent")
    check_command(command)
    verify_words(command, command.words)
    return command
