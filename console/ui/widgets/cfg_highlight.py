"""HAProxy configuration highlighting, and the ``TextArea`` that uses it.

A light regex highlighter, one line at a time (HAProxy's syntax is line based):
section keywords and their names, ``server``/``bind`` lines and their addresses,
the first word of other lines (the directive), comments, quoted strings,
numbers with units, ``if``/``unless`` and ``.if`` blocks, ``${VAR}``.

:class:`ConfigTextArea` computes highlights lazily for the lines it draws (cached
by line text), so typing in a 10,000-line file costs nothing more than in a small
one. Files that are not valid UTF-8 are shown with their undecodable bytes as
private-use characters (U+EF80..U+EFFF, one per byte) so the terminal never sees
a lone surrogate; control characters other than tab and line ends (ESC, NUL, the
C1 range) are shown the same way (U+EF00..U+EF1F, U+EF7F, U+EE80..U+EE9F) so that
none reaches the terminal; :func:`to_display` and :func:`from_display` convert both
ways, and :func:`decode_config` / :func:`encode_config` give the exact bytes back.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from typing import Any

from rich.style import Style
from textual.widgets import TextArea
from textual.widgets.text_area import TextAreaTheme

from console.haproxy.staging import SECTION_KEYWORDS

Highlight = tuple[int, int | None, str]

SERVER_KEYWORDS = frozenset({"server", "default-server", "server-template", "bind"})
CONDITION_WORDS = frozenset({"if", "unless", "or", "||", "!"})

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#.*)
  | (?P<dq>"(?:[^"\\]|\\.)*"?)
  | (?P<sq>'[^']*'?)
  | (?P<esc>\\.?)
  | (?P<bare>[^\s#"'\\]+)
""", re.VERBOSE)
_NUMBER = re.compile(r"^[+-]?[0-9]+(?:\.[0-9]+)?(?:us|ms|s|m|h|d|[kKmMgG])?$")
_ADDRESS = re.compile(
    r"^(?:(?:ipv4@|ipv6@|unix@|abns@|fd@|sockpair@|quic4@|quic6@|tcp@|udp@)?"
    r"(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[?[0-9a-fA-F]*:[0-9a-fA-F:]+\]?|\*|[\w.-]+)?"
    r":[0-9]+(?:-[0-9]+)?|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|/[\w./-]+\.sock)$")
_VARIABLE = re.compile(r"\$\{[^}]*\}?|\$[A-Za-z_][A-Za-z0-9_]*")
_RAW = re.compile("[\uee80-\uee9f\uef00-\uef1f\uef7f\uef80-\uefff]+")

# --------------------------------------------------------------------------- bytes

RAW_BASE = 0xEF00  # byte 0x80..0xFF <-> U+EF80..U+EFFF
_TO_DISPLAY = {0xDC00 + b: RAW_BASE + b for b in range(0x80, 0x100)}
# control characters: C0 (but tab, LF, CR) and DEL at RAW_BASE + code, C1 at U+EE80..
_CONTROLS = {c: RAW_BASE + c for c in [*range(0x20), 0x7F] if c not in (0x09, 0x0A, 0x0D)}
_CONTROLS |= {c: 0xEE00 + c for c in range(0x80, 0xA0)}
_TO_DISPLAY |= _CONTROLS
_FROM_DISPLAY = {v: k for k, v in _TO_DISPLAY.items()}


def to_display(text: str) -> str:
    """Lone surrogates of ``surrogateescape`` and control characters → private-use
    characters."""
    return text.translate(_TO_DISPLAY)


def from_display(text: str) -> str:
    """Private-use characters → the lone surrogates or control characters they stand
    for."""
    return text.translate(_FROM_DISPLAY)


def decode_config(data: bytes) -> tuple[str, int]:
    """The text to edit, and how many bytes were not UTF-8 (shown as raw bytes).

    Raises ``ValueError`` when the file has undecodable bytes *and* real
    characters of the private-use range used for them: the text could not be
    saved back exactly.
    """
    text = data.decode("utf-8", "surrogateescape")
    raw = sum(1 for ch in text if "\udc80" <= ch <= "\udcff" or ord(ch) in _CONTROLS)
    if raw and _RAW.search(text):
        raise ValueError("the file mixes bytes that are not UTF-8 with characters "
                         "U+EF80..U+EFFF: edit it with the external editor (E)")
    return to_display(text), raw


def encode_config(text: str) -> bytes:
    return from_display(text).encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- highlighting

def _bare_name(word_index: int, first: str, text: str) -> str | None:
    if word_index == 0:
        if text in SECTION_KEYWORDS:
            return "cfg.section"
        if text in SERVER_KEYWORDS:
            return "cfg.server"
        if text.startswith("."):
            return "cfg.condition"
        return "cfg.keyword"
    if first in SECTION_KEYWORDS and word_index == 1:
        return None if text == "from" else "cfg.name"
    if first in ("server", "server-template") and word_index == 1:
        return "cfg.name"
    if (first == "bind" and word_index == 1) or (
            first in ("server", "server-template") and word_index == 2 + (
                first == "server-template")):
        return "cfg.address"
    if text in CONDITION_WORDS:
        return "cfg.condition"
    if _NUMBER.match(text):
        return "cfg.number"
    if _ADDRESS.match(text):
        return "cfg.address"
    return None


@lru_cache(maxsize=8192)
def line_highlights(line: str) -> tuple[tuple[int, int, str], ...]:
    """``(start, end, name)`` character ranges of one line; later ranges win."""
    out: list[tuple[int, int, str]] = []
    word_index, first, in_word = -1, "", False
    for m in _TOKEN.finditer(line):
        kind, start, end = m.lastgroup, m.start(), m.end()
        if kind == "ws":
            in_word = False
            continue
        if kind == "comment" and not in_word:
            out.append((start, len(line), "cfg.comment"))
            break
        if not in_word:
            word_index += 1
            in_word = True
        text = m.group()
        if word_index == 0 and not first:
            first = text if kind == "bare" else "\0"
        if kind in ("dq", "sq"):
            out.append((start, end, "cfg.string"))
            if kind == "dq":
                out += [(start + v.start(), start + v.end(), "cfg.variable")
                        for v in _VARIABLE.finditer(text)]
        elif kind == "bare":
            name = _bare_name(word_index, first, text)
            if name:
                out.append((start, end, name))
    out += [(r.start(), r.end(), "cfg.raw") for r in _RAW.finditer(line)]
    return tuple(out)


def _byte_offsets(line: str, spans: tuple[tuple[int, int, str], ...]) -> list[Highlight]:
    if line.isascii():
        return list(spans)
    offsets = [0]
    for ch in line:
        offsets.append(offsets[-1] + len(ch.encode("utf-8", "surrogatepass")))
    return [(offsets[s], offsets[e], name) for s, e, name in spans]


def syntax_styles(colors: dict[str, str | None]) -> dict[str, Style]:
    """Rich styles for each highlight name, from a theme's colours (names → ``#rrggbb``)."""
    def color(*names: str) -> str | None:
        for name in names:
            if colors.get(name):
                return colors[name]
        return None

    return {
        "cfg.section": Style(color=color("primary"), bold=True),
        "cfg.name": Style(color=color("accent", "primary"), bold=True),
        "cfg.server": Style(color=color("secondary", "primary"), bold=True),
        "cfg.keyword": Style(color=color("primary")),
        "cfg.address": Style(color=color("accent")),
        "cfg.string": Style(color=color("success")),
        "cfg.variable": Style(color=color("warning"), italic=True),
        "cfg.number": Style(color=color("warning")),
        "cfg.condition": Style(color=color("secondary", "accent"), italic=True),
        "cfg.comment": Style(color=color("foreground"), dim=True, italic=True),
        "cfg.raw": Style(color=color("error"), reverse=True),
    }


class _LazyHighlights(defaultdict[int, list[Highlight]]):
    """What ``TextArea`` reads as its highlight map, computed for the lines it asks for."""

    def __init__(self, area: ConfigTextArea) -> None:
        super().__init__(list)
        self._area = area

    def __bool__(self) -> bool:
        return True

    def __missing__(self, row: int) -> list[Highlight]:
        try:
            line = self._area.document.get_line(row)
        except IndexError:
            return []
        return _byte_offsets(line, line_highlights(line))


class ConfigTextArea(TextArea):
    """A ``TextArea`` highlighting HAProxy configuration text (no tree-sitter needed)."""

    THEME_NAME = "haconsole-cfg"

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", False)
        kwargs.setdefault("show_line_numbers", True)
        kwargs.setdefault("tab_behavior", "indent")
        super().__init__(text, **kwargs)
        self._highlights = _LazyHighlights(self)

    def on_mount(self) -> None:
        self._apply_app_theme()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._apply_app_theme())

    def _apply_app_theme(self) -> None:
        theme = self.app.current_theme
        colors = {name: getattr(theme, name, None) for name in (
            "primary", "secondary", "accent", "warning", "error", "success", "foreground")}
        self.register_theme(TextAreaTheme(self.THEME_NAME, syntax_styles=syntax_styles(colors)))
        self.theme = self.THEME_NAME
        self._line_cache.clear()
        self.refresh()

    def _build_highlight_map(self) -> None:
        # Highlights are computed per drawn line (see _LazyHighlights); only the
        # rendered-line cache must go.
        cache = getattr(self, "_line_cache", None)
        if cache is not None:
            cache.clear()

    def goto(self, line: int, column: int = 0) -> None:
        """Put the cursor on *line* (1-based) and scroll it into the middle of the view."""
        row = max(0, min(line - 1, self.document.line_count - 1))
        self.move_cursor((row, column), center=True)
