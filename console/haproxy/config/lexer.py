"""Splitting one configuration line into words, the way HAProxy's parse_line() does.

Rules (HAProxy 2.3+ ``parse_line()`` with every option the config parser enables):

- Blanks (space, tab, vertical tab, form feed) outside quotes separate words.
- ``"…"`` weak quotes: blanks and ``#`` are literal; ``$VAR`` / ``${VAR}`` are
  expanded (only here: an unquoted ``$`` is a plain character); backslash escapes work.
- ``'…'`` strong quotes: everything is literal up to the next ``'``.
- Outside strong quotes ``\\`` escapes: ``\\<blank>``, ``\\\\``, ``\\#``, ``\\'``,
  ``\\"``, ``\\$`` (inside weak quotes only), ``\\t``, ``\\n``, ``\\r``, ``\\xNN``.
  Any other ``\\c`` is kept as two characters.
- Quoted and unquoted pieces next to each other form one word.
- An unquoted ``#`` starts a comment. A NUL or a CR in the middle of a line ends
  what HAProxy reads of it, quoted or not (the rest is ignored, like a comment).

Nothing is lost: a :class:`Word` keeps its raw text and its span in the line, so an
edit can replace one word and keep every other byte.

Where versions differ: an empty word (``""``, ``''``) ends the words a keyword reads,
on every version; HAProxy 3.2 warns that what follows is ignored, 3.4 refuses the
line. :func:`argument_end` and :func:`empty_word_problem` say it for a given version.
(Also 3.4: a weak-quoted expansion of an unset variable is an empty word where older
versions read no word at all; the environment is unknown here, so ``$VAR`` words
are kept as written and marked ``expands``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from console.haproxy.errors import ValidationError

BLANKS = " \t\v\f"
_END = "\r\0"
_SIMPLE_ESCAPES = {" ": " ", "\\": "\\", "#": "#", "'": "'", '"': '"',
                   "t": "\t", "n": "\n", "r": "\r"}
_HEX = "0123456789abcdefABCDEF"
# A plain word needs no quoting at all.
_PLAIN_RE = re.compile(r"[^\s#'\"\\$\x00-\x1f\x7f]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_WORDS = 64


class Word(NamedTuple):
    """One word of a line (immutable; a tuple, cheap to make: a big configuration has
    hundreds of thousands).

    ``raw`` is the exact source text (quotes and backslashes included), ``value``
    what HAProxy reads (unquoted, unescaped; ``$VAR`` is left as written since the
    environment is unknown here). ``start``/``end`` index the line's text.
    """

    raw: str
    value: str
    start: int
    end: int
    expands: bool = False  # holds a ``$`` that HAProxy expands (inside "…")
    # for an expanding word: its literal pieces (already unescaped) and variable
    # references, in order; what an environment makes of it is
    # :func:`console.haproxy.config.environ.expand`'s business
    parts: tuple[str | VarRef, ...] = ()

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class VarRef:
    """``$NAME``, ``${NAME}``, ``${NAME-default}`` or ``${NAME[*]}`` inside weak quotes.

    ``name`` is empty when the reference is malformed (no valid name, unclosed brace):
    nothing can be said of its value.
    """

    name: str
    default: str | None = None


_VAR_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_]*")


def _var_ref(text: str, i: int) -> tuple[VarRef, int]:
    """The reference starting at the ``$`` at *i*, and where it ends (as HAProxy reads it:
    a default runs raw up to the ``}``). A malformed one ends right after the ``$``."""
    brace = text[i + 1:i + 2] == "{"
    m = _VAR_NAME.match(text, i + 2 if brace else i + 1)
    if not m:
        return VarRef(""), i + 1
    j = m.end()
    if not brace:
        return VarRef(m.group()), j
    if text.startswith("[*]", j):
        j += 3
    default = None
    if text[j:j + 1] == "-":
        end = text.find("}", j)
        if end < 0:
            return VarRef(""), i + 1
        default, j = text[j + 1:end], end
    if text[j:j + 1] != "}":
        return VarRef(""), i + 1
    return VarRef(m.group(), default), j + 1


@dataclass(frozen=True)
class Lexed:
    words: tuple[Word, ...]
    tail_start: int | None  # where the ignored tail (comment, CR, NUL) starts
    error: str | None  # unmatched quote, bad \x escape…: HAProxy would refuse the line


# Lines without quotes, backslashes, CR or NUL (nearly all of them) split on blanks, the
# first "#" starting the comment: the same words as the full loop, much faster.
_SPECIAL_RE = re.compile(r"[\"'\\\r\x00]")
_BLANK_WORD_RE = re.compile(r"[^ \t\v\f]+")


def lex(text: str) -> Lexed:
    """Split *text* (one line without its line ending) into words."""
    if _SPECIAL_RE.search(text) is None:
        hash_at = text.find("#")
        body = text if hash_at < 0 else text[:hash_at]
        # (Word's fields given whole to the tuple: a big file has hundreds of thousands)
        return Lexed(tuple([_new_word(Word, (m.group(), m.group(), m.start(), m.end(), False,
                                             ())) for m in _BLANK_WORD_RE.finditer(body)]),
                     hash_at if hash_at >= 0 else None, None)
    return _lex(text)


_new_word = tuple.__new__


def first_plain_word(text: str) -> str | None | bool:
    """The first word of a line without quotes, escapes, CR or NUL (None: no word);
    False when the line has any of those (then :func:`lex` says)."""
    if _SPECIAL_RE.search(text) is not None:
        return False
    hash_at = text.find("#")
    m = _BLANK_WORD_RE.search(text, 0, hash_at if hash_at >= 0 else len(text))
    return m.group() if m else None


def plain_split(text: str) -> list[str]:
    """The words of a line of a file where every line splits plainly (see
    :func:`~console.haproxy.config.model.splits_plainly`): the text before its first
    ``#`` split by ``str.split()``, what :func:`plain_words` gives for it."""
    hash_at = text.find("#")
    return (text if hash_at < 0 else text[:hash_at]).split()


def plain_words(text: str) -> list[str] | None:
    """The words' values of a line without quotes, escapes, CR or NUL (the words
    :func:`lex` gives, as strings); None for any other line."""
    if _SPECIAL_RE.search(text) is not None:
        return None
    hash_at = text.find("#")
    return _BLANK_WORD_RE.findall(text, 0, hash_at if hash_at >= 0 else len(text))


def _lex(text: str) -> Lexed:
    """:func:`lex` for any line: quotes, escapes, variables, CR and NUL."""
    words: list[Word] = []
    i = 0
    n = len(text)
    error: str | None = None
    tail: int | None = None
    while i < n:
        c = text[i]
        if c in BLANKS:
            i += 1
            continue
        if c == "#" or c in _END:
            tail = i
            break
        start = i
        value: list[str] = []
        parts: list[str | VarRef] = []
        mark = 0  # where the literal piece after the last reference starts in value
        squote = dquote = expands = False
        quote_at = -1
        while i < n:
            c = text[i]
            if c in _END:
                break
            if squote:
                if c == "'":
                    squote = False
                else:
                    value.append(c)
                i += 1
                continue
            if c == "\\":
                nxt = text[i + 1] if i + 1 < n else ""
                if nxt == "x":
                    hexa = text[i + 2:i + 4]
                    if len(hexa) == 2 and all(h in _HEX for h in hexa):
                        value.append(chr(int(hexa, 16)))
                        i += 4
                        continue
                    error = error or f"invalid \\x escape at column {i + 1}"
                    value.append(c)
                    i += 1
                    continue
                if nxt == "$" and dquote:
                    value.append("$")
                    i += 2
                    continue
                if nxt and nxt in _SIMPLE_ESCAPES:
                    value.append(_SIMPLE_ESCAPES[nxt])
                    i += 2
                    continue
                value.append(c)
                i += 1
                continue
            if dquote:
                if c == '"':
                    dquote = False
                else:
                    if c == "$":
                        expands = True
                        nxt = text[i + 1:i + 2]
                        name = text[i + 2:i + 3] if nxt == "{" else nxt
                        if not (name.isascii() and (name.isalpha() or name in "_.")) or not name:
                            error = error or f"invalid variable name after '$' at column {i + 1}"
                        ref, end = _var_ref(text, i)
                        parts += ["".join(value[mark:]), ref]
                        value.append(text[i:end])
                        mark = len(value)
                        i = end
                        continue
                    value.append(c)
                i += 1
                continue
            if c in BLANKS or c == "#":
                break
            if c == '"':
                dquote = True
                quote_at = i
            elif c == "'":
                squote = True
                quote_at = i
            else:
                value.append(c)
            i += 1
        if squote or dquote:
            error = error or f"unmatched quote at column {quote_at + 1}"
        if parts:
            parts.append("".join(value[mark:]))
        words.append(Word(text[start:i], "".join(value), start, i, expands, tuple(parts)))
        if i < n and text[i] in _END:
            tail = i
            break
    return Lexed(tuple(words), tail, error)


def quote_word(value: str, what: str = "value") -> str:
    """Write *value* so that HAProxy reads it back as exactly one word equal to it.

    Plain words are written as they are. A word with blanks, ``#``, quotes,
    backslashes or ``$`` is put in strong quotes ``'…'`` (nothing is interpreted
    there), or, if it holds a ``'``, in weak quotes with ``\\``, ``"`` and ``$``
    escaped. Empty values and control characters (newline, CR, tab, NUL…) are
    refused: they cannot be written safely on one line.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text, not {type(value).__name__}")
    if value == "":
        raise ValidationError(f"empty {what}",
                              hint="HAProxy drops an empty word at the end of a line; give a value")
    bad = _CONTROL_RE.search(value)
    if bad:
        raise ValidationError(
            f"{what} {value!r} contains a control character ({bad.group()!r})",
            hint="newlines, CR, tabs, NUL and other control characters would break the "
                 "line; remove them")
    if _PLAIN_RE.fullmatch(value):
        out = value
    elif "'" not in value:
        out = f"'{value}'"
    else:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
        out = f'"{escaped}"'
    lexed = lex(out)
    if lexed.error or lexed.tail_start is not None or [w.value for w in lexed.words] != [value]:
        raise ValidationError(f"{what} {value!r} cannot be written as one word",
                              hint="remove the characters HAProxy would interpret")
    return out


def check_plain(value: str, what: str) -> str:
    """Refuse *value* unless it is a plain word (needs no quoting)."""
    if not isinstance(value, str) or not _PLAIN_RE.fullmatch(value):
        raise ValidationError(
            f"invalid {what} {value!r}",
            hint="it must be one word without blanks, quotes, '#', '\\', '$' or "
                 "control characters")
    return value


def argument_end(words: tuple[Word, ...] | list[Word]) -> int:
    """How many words HAProxy reads: the words before the first empty one.

    An empty word marks the end of the argument list on every version (2.6 to 3.0
    silently, 3.2 with a warning); 3.4 refuses such a line (see
    :func:`empty_word_problem`).
    """
    for i, word in enumerate(words):
        if word.value == "" and not word.expands:
            return i
    return len(words)


def empty_word_problem(words: tuple[Word, ...] | list[Word],
                       version: tuple[int, int] | None = None) -> str | None:
    """What HAProxy *version* says of an empty word followed by others, if any.

    ``None`` when every word is read. From 3.4 on it is an error; before, the words
    after it are ignored (3.2 warns). Without a version the older behaviour is told.
    """
    end = argument_end(words)
    if end >= len(words) - 1:  # none, or a last empty word: HAProxy drops it
        return None
    position = words[end].start + 1
    if version is not None and version >= (3, 4):
        return (f"word {end + 1} (column {position}) is empty: HAProxy {version[0]}."
                f"{version[1]} refuses the line")
    return (f"word {end + 1} (column {position}) is empty: HAProxy ignores the "
            f"{len(words) - end - 1} word(s) after it")
