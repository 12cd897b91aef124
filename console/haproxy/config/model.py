"""A lossless model of an HAProxy configuration file: lines, words, sections.

``ConfigFile.parse(data).to_bytes() == data`` for any input: every line keeps its
text and its own line ending (``\\n``, ``\\r\\n``, or none on a last line without
newline); bytes that are not UTF-8 survive through ``surrogateescape``; a UTF-8
BOM is kept aside and written back.

A section starts at a line whose first word is a section keyword, whatever its
indentation, and runs to the next one. Lines between ``.if`` and its ``.endif``
belong to their section like any other; they are *conditional*
(:meth:`ConfigFile.depth` > 0) since which branch HAProxy takes depends on its
environment and version. Structured edits refuse to change a conditional line.
:meth:`ConfigFile.line_state` says whether HAProxy reads a line, given the
file's :class:`~console.haproxy.config.cond.CondContext` (unknown by default).

A file may be one of a set read in order (``haproxy -f a.cfg -f conf.d/``):
``before`` and ``after`` hold the other files, so that names (backends,
``defaults`` sections, ``track`` targets) resolve across the set, and ``name``
is the file's path, used in every message.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import repeat

from console.haproxy.config.cond import UNKNOWN, CondContext, Env, LineStates, line_states
from console.haproxy.config.lexer import (
    BLANKS,
    Lexed,
    Word,
    first_plain_word,
    lex,
    plain_split,
    plain_words,
)
from console.haproxy.errors import ValidationError
from console.haproxy.sections import SECTION_KEYWORDS as SECTION_KEYWORDS
from console.haproxy.sections import SECTION_SET as SECTION_SET

BOM = b"\xef\xbb\xbf"
# the last files parsed (bytes → the parsed file, never edited itself)
_PARSED: OrderedDict[bytes, ConfigFile] = OrderedDict()
_PARSED_KEPT = 4
# Sections whose header may say ``from DEFAULTS``.
PROXY_SECTIONS = frozenset({"defaults", "frontend", "backend", "listen"})
# Sections without a name.
UNNAMED_SECTIONS = frozenset({"global", "traces"})
DIRECTIVES = frozenset({".if", ".elif", ".else", ".endif",
                        ".notice", ".warning", ".alert", ".diag"})
BLOCK_DIRECTIVES = frozenset({".if", ".elif", ".else", ".endif"})
ENV_KEYWORDS = frozenset({"setenv", "presetenv", "unsetenv", "resetenv"})
# The lines the index of a file is made of (see ConfigFile.marks).
MARKED = SECTION_SET | DIRECTIVES | ENV_KEYWORDS
# A line whose first word may be one of those, read without quotes or escapes (searched
# in the text after a "\n": a literal start, which the regex engine finds fast)…
_MARK_RE = re.compile(
    r"\n[ \t\v\f]*+(" + "|".join(re.escape(k) for k in sorted(MARKED, key=len, reverse=True))
    + r")(?=[ \t\v\f#\r\n]|\Z)")
# …and the lines where that reading may be wrong (quotes, backslashes, NUL, a CR before
# the end of the line): their first word is lexed.
_SUSPECT_CHARS = ('"', "'", "\\", "\x00")
# What makes ``str.split()`` split a line otherwise than on HAProxy's blanks (besides
# the suspects, a CR and any character that is not ASCII).
_SPLIT_APART = (*_SUSPECT_CHARS, "\r", "\x1c", "\x1d", "\x1e", "\x1f")


def splits_plainly(text: str) -> bool:
    """True when every line of *text* is split into its words by ``str.split()`` on the
    part before its first ``#`` (as :func:`~console.haproxy.config.lexer.plain_words`
    splits it): no quote, backslash, NUL or CR, only ASCII, nothing but HAProxy's
    blanks between words."""
    return text.isascii() and not any(c in text for c in _SPLIT_APART)


class Line:
    """One physical line: its text (without line ending), its line ending, its words.

    Immutable. The words are split when first asked for (a big file has hundreds of
    thousands of lines and an edit reads few of them); the keyword of a line without
    quotes or escapes is read without splitting the rest.
    """

    __slots__ = ("text", "eol", "_lexed", "_keyword")

    def __init__(self, text: str, eol: str) -> None:
        self.text = text
        self.eol = eol  # "\n", "\r\n" or "" (last line without newline)
        self._lexed: Lexed | None = None
        self._keyword: str | None | bool = False  # False: not read yet

    @classmethod
    def make(cls, text: str, eol: str) -> Line:
        return cls(text, eol)

    def _lex(self) -> Lexed:
        lexed = self._lexed
        if lexed is None:
            lexed = self._lexed = lex(self.text)
        return lexed

    @property
    def words(self) -> tuple[Word, ...]:
        return self._lex().words

    @property
    def tail_start(self) -> int | None:
        """Start of the comment (or of what HAProxy ignores)."""
        return self._lex().tail_start

    @property
    def error(self) -> str | None:
        """Why HAProxy would refuse this line (unmatched quote…), if it would."""
        return self._lex().error

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Line):
            return NotImplemented
        return self.text == other.text and self.eol == other.eol

    def __hash__(self) -> int:
        return hash((self.text, self.eol))

    def __repr__(self) -> str:
        return f"Line({self.text!r}, {self.eol!r})"

    @property
    def raw(self) -> str:
        return self.text + self.eol

    @property
    def indent(self) -> str:
        """The blanks before the first word (or before the comment)."""
        return self.text[:len(self.text) - len(self.text.lstrip(BLANKS))]

    @property
    def comment(self) -> str | None:
        """The comment, from its ``#`` to the end of the line, if any."""
        if self.tail_start is not None and self.text[self.tail_start] == "#":
            return self.text[self.tail_start:]
        return None

    @property
    def keyword(self) -> str | None:
        kw = self._keyword
        if kw is False:
            if self._lexed is None:
                kw = first_plain_word(self.text)
            if kw is False:
                words = self.words
                kw = words[0].value if words else None
            self._keyword = kw
        return kw  # type: ignore[return-value]

    @property
    def has_words(self) -> bool:
        """``bool(self.words)``, told without splitting a line without quotes or escapes."""
        if self._lexed is None and self._keyword is False:
            first = first_plain_word(self.text)
            if first is not False:
                return first is not None
        return bool(self.words)

    @property
    def values(self) -> list[str]:
        return [w.value for w in self.words]

    @property
    def is_blank(self) -> bool:
        return not self.text.strip(BLANKS)

    @property
    def is_directive(self) -> bool:
        return self.keyword in DIRECTIVES

    def with_text(self, text: str) -> Line:
        return Line.make(text, self.eol)


@dataclass(frozen=True)
class Section:
    """A section: its keyword, name, ``from`` and lines ``start`` … ``end - 1`` (0-based)."""

    type: str
    name: str | None
    from_: str | None
    start: int  # index of the header line
    end: int  # index after its last line (the next header, or the end of the file)
    body_end: int  # index after its last line holding words (trailing blanks/comments excluded)
    conditional: bool  # the header itself is inside an .if block

    @property
    def header_line(self) -> int:
        """1-based number of the header line."""
        return self.start + 1

    @property
    def line_range(self) -> tuple[int, int]:
        """First and last line numbers (1-based, inclusive)."""
        return self.start + 1, self.end

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}" if self.name else self.type


def _section_header(line: Line, keyword: str | None = None
                    ) -> tuple[str, str | None, str | None] | None:
    """Type, name and ``from`` of a section's header line (*keyword*: its first word,
    when known)."""
    kw = keyword if keyword is not None else line.keyword
    if kw not in SECTION_KEYWORDS:
        return None
    words = plain_words(line.text)  # (the lexer's words, without lexing a plain line)
    rest = words[1:] if words is not None else line.values[1:]
    if kw in UNNAMED_SECTIONS:
        return kw, None, None
    name: str | None = None
    from_: str | None = None
    if rest and rest[0] != "from":
        name = rest.pop(0)
    if kw in PROXY_SECTIONS and len(rest) >= 2 and rest[0] == "from":
        from_ = rest[1]
    return kw, name, from_


class ConfigFile:
    """The whole file. Edits (see :mod:`console.haproxy.config.edit`) change it in place."""

    def __init__(self, lines: list[Line], *, bom: bytes = b"", name: str = "haproxy.cfg",
                 _index: ConfigFile | None = None, _text: str | None = None) -> None:
        self.lines: list[Line] = list(lines)
        self.bom = bom
        self.name = name
        self.sections: list[Section] = []
        self._depth: list[int] = []
        self._block_end: dict[int, int] = {}
        self._marks: dict[int, str] = {}
        self.plain = False  # every line splits plainly (see splits_plainly)
        self._defaults: tuple[list[Section], list[Section]] | None = None
        self.cond: CondContext = UNKNOWN  # what `.if` conditions depend on
        self.env_in: Env | None = None  # the environment when HAProxy starts this file
        self.before: list[ConfigFile] = []  # files HAProxy reads before this one
        self.after: list[ConfigFile] = []  # and after it
        self._states: LineStates | None = None
        if _index is not None and _index.lines == self.lines:
            # the same lines: the same index (its lists are replaced, never changed)
            self.sections, self._depth = _index.sections, _index._depth
            self._block_end = dict(_index._block_end)
            self._marks = _index._marks
            self.plain = _index.plain
        else:
            self.reindex(_text)

    # -- reading and writing -------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, name: str = "haproxy.cfg", *, keep: bool = True
              ) -> ConfigFile:
        """``keep=False``: not kept for the next parse of the same bytes (a reader that
        keeps what it needs of a big file itself)."""
        if not isinstance(data, bytes | bytearray):
            raise TypeError("ConfigFile.parse() takes bytes")
        data = bytes(data)
        parsed = _PARSED.get(data)
        if parsed is None:
            bom = BOM if data.startswith(BOM) else b""
            text = data[len(bom):].decode("utf-8", "surrogateescape")
            with gc_paused():
                parsed = ConfigFile(split_lines(text), bom=bom, name=name, _text=text)
            if keep:
                _PARSED[data] = parsed
                while len(_PARSED) > _PARSED_KEPT:
                    _PARSED.popitem(last=False)
        else:
            _PARSED.move_to_end(data)
        # a copy: its line list is its own (lines are immutable), the kept one never
        # changes; a command parses the same files several times
        out = parsed.copy()
        out.name = name
        return out if cls is ConfigFile else cls(out.lines, bom=out.bom, name=name)

    def remember(self, data: bytes) -> None:
        """Keep this file's index as the parse of *data* (its bytes, just written by
        :meth:`to_bytes`): a command that made a text by edits does not read it again."""
        kept = ConfigFile(self.lines, bom=self.bom, name=self.name, _index=self)
        _PARSED[data] = kept
        _PARSED.move_to_end(data)
        while len(_PARSED) > _PARSED_KEPT:
            _PARSED.popitem(last=False)

    def to_text(self) -> str:
        """The file as text (non-UTF-8 bytes as surrogates), without the BOM."""
        out: list[str] = []
        add = out.append
        for line in self.lines:  # (a big file: plain attribute reads, one join)
            add(line.text)
            add(line.eol)
        return "".join(out)

    def to_bytes(self) -> bytes:
        return self.bom + self.to_text().encode("utf-8", "surrogateescape")

    def copy(self) -> ConfigFile:
        out = ConfigFile(self.lines, bom=self.bom, name=self.name, _index=self)
        out.cond, out.env_in = self.cond, self.env_in
        out.before, out.after = list(self.before), list(self.after)
        return out

    @property
    def others(self) -> list[ConfigFile]:
        """The other files of the set, in HAProxy's order."""
        return [*self.before, *self.after]

    # -- conditional blocks --------------------------------------------------------------

    def _line_states(self) -> LineStates:
        if self._states is None:
            env = self.env_in if self.env_in is not None else Env.of(self.cond.environ)
            self._states = line_states(self, self.cond, env)
        return self._states

    def line_state(self, index: int) -> bool | None:
        """Whether HAProxy reads line *index*: True, False, or None (unknown)."""
        return self._line_states().states[index]

    def line_states(self) -> list[bool | None]:
        """:meth:`line_state` of every line, in one list (never changed in place)."""
        return self._line_states().states

    def undecided_by(self, index: int) -> int | None:
        """The ``.if``/``.elif`` line whose unknown condition makes *index* unknown."""
        return self._line_states().blame[index]

    def env_out(self) -> Env:
        """The environment after HAProxy read this file (for the next one of a set)."""
        return self._line_states().env_out

    # -- structure -----------------------------------------------------------------------

    @property
    def marks(self) -> dict[int, str]:
        """Index → first word of every line that starts a section, is a directive
        (``.if``…) or sets the environment (``setenv``…), in the file's order: what the
        structure of the file and :mod:`.cond` read (never changed in place)."""
        return self._marks

    @property
    def has_blocks(self) -> bool:
        """True when the file has ``.if`` blocks (which lines HAProxy reads may then
        depend on its version and environment)."""
        return any(kw in BLOCK_DIRECTIVES for kw in self._marks.values())

    def reindex(self, text: str | None = None) -> None:
        """Recompute conditional depths and sections after ``lines`` changed.

        *text*: the lines' text, when the caller has it. The lines that matter are
        found by a scan of the whole text (see :func:`scan_marks`); only those are read.
        """
        if text is None:
            text = self.to_text()
        self.plain = splits_plainly(text)
        self._index(scan_marks(self.lines, text))

    def _index(self, marks: dict[int, str]) -> None:
        lines = self.lines
        n = len(lines)
        self._marks = marks
        block_end: dict[int, int] = {}
        blocks = [i for i, kw in marks.items() if kw in BLOCK_DIRECTIVES]
        if blocks:
            depth: list[int] = []
            stack: list[int] = []
            prev = 0
            for i in blocks:
                depth += [len(stack)] * (i - prev)
                kw = marks[i]
                if kw == ".endif" and stack:
                    block_end[stack.pop()] = i
                depth.append(len(stack))
                if kw == ".if":
                    stack.append(i)
                prev = i + 1
            depth += [len(stack)] * (n - prev)
        else:  # no .if anywhere (most files): every line at depth 0
            depth = [0] * n
        self._depth = depth
        self._block_end = block_end
        self._states = None

        headers: list[tuple[int, tuple[str, str | None, str | None]]] = []
        for i, kw in marks.items():
            if kw in SECTION_SET:
                head = _section_header(lines[i], kw)
                if head:
                    headers.append((i, head))
        sections = []
        for k, (start, (kind, name, from_)) in enumerate(headers):
            end = headers[k + 1][0] if k + 1 < len(headers) else n
            sections.append(Section(kind, name, from_, start, end,
                                    self._body_end(start, end), depth[start] > 0))
        self.sections = sections

    def _body_end(self, start: int, end: int) -> int:
        lines, plain = self.lines, self.plain
        for j in range(end - 1, start, -1):
            line = lines[j]
            text = line.text
            if not text:
                continue  # (an empty line: no word)
            if plain:  # no quote nor escape in the file: its words split plainly
                if plain_split(text):
                    return j + 1
            elif line.has_words:
                return j + 1
        return start + 1

    def _section_at(self, index: int, *, before: bool = False) -> int | None:
        """Position in ``sections`` of the section holding line *index* (*before*: a
        line inserted before *index*, which joins the section above a header)."""
        lo, hi = 0, len(self.sections)
        while lo < hi:  # the last section starting before (or at) index
            mid = (lo + hi) // 2
            start = self.sections[mid].start
            if start < index or (start == index and not before):
                lo = mid + 1
            else:
                hi = mid
        return lo - 1 if lo else None

    def _simple_edit(self, *texts: Line) -> bool:
        """True when lines like *texts* change no structure: no section header, no
        directive, no environment line, and the file has no ``.if`` block."""
        return not self._block_end and not self.has_blocks and all(
            line.keyword not in MARKED for line in texts)

    def _shift(self, index: int, by: int, holder: int | None) -> None:
        """Lines from *index* on moved by *by*; the section at *holder* grew or shrank."""
        self._marks = {(i + by if i >= index else i): kw for i, kw in self._marks.items()}
        self._depth = [0] * len(self.lines)
        self._states = None
        sections = list(self.sections)
        for k in range(len(sections)):
            sec = sections[k]
            if k == holder:
                end = sec.end + by
                sections[k] = replace(sec, end=end, body_end=self._body_end(sec.start, end))
            elif sec.start >= index:
                sections[k] = Section(sec.type, sec.name, sec.from_, sec.start + by,
                                      sec.end + by, sec.body_end + by, sec.conditional)
        self.sections = sections

    def depth(self, index: int) -> int:
        """How many ``.if`` blocks enclose line *index* (0-based); 0 = unconditional.

        The ``.if`` and ``.endif`` lines of a block have the depth outside it; the
        ``.elif``/``.else`` lines and everything between have one more.
        """
        return self._depth[index]

    def depth_after(self, index: int) -> int:
        """The depth a line inserted right after line *index* would have."""
        return self._depth[index] + (1 if self.lines[index].keyword == ".if" else 0)

    def outer_block_end(self, index: int) -> int | None:
        """Index of the ``.endif`` closing the outermost block around line *index*."""
        if self._depth[index] == 0:
            return None
        for opener, closer in self._block_end.items():
            if opener < index < closer and self._depth[opener] == 0:
                return closer
        return None  # an .if never closed

    def where(self, index: int | None = None) -> str:
        return self.name if index is None else f"{self.name}:{index + 1}"

    def find_sections(self, type_: str, name: str | None = None) -> list[Section]:
        return [s for s in self.sections if s.type == type_ and s.name == name]

    def section(self, type_: str, name: str | None = None) -> Section | None:
        """The one section of that type and name; None if absent; error if several."""
        found = self.find_sections(type_, name)
        if len(found) > 1:
            lines = ", ".join(str(s.header_line) for s in found)
            label = f"{type_} {name}" if name else type_
            raise ValidationError(f"{len(found)} sections '{label}' in {self.name}",
                                  where=f"{self.name} lines {lines}",
                                  hint="edit this file as text to remove the ambiguity")
        return found[0] if found else None

    def defaults_sections(self) -> list[Section]:
        """The ``defaults`` sections, in order (kept while ``sections`` is the same list:
        every server of a big file asks for them)."""
        kept = self._defaults
        if kept is None or kept[0] is not self.sections:
            kept = self._defaults = (self.sections,
                                     [s for s in self.sections if s.type == "defaults"])
        return kept[1]

    def backends(self) -> list[Section]:
        """Sections that can hold servers: ``backend`` and ``listen``."""
        return [s for s in self.sections if s.type in ("backend", "listen")]

    def frontends(self) -> list[Section]:
        """Sections that can hold ``bind`` lines: ``frontend`` and ``listen``."""
        return [s for s in self.sections if s.type in ("frontend", "listen")]

    def proxy(self, name: str) -> Section | None:
        """The backend or listen section called *name* (None if absent, error if several)."""
        found = [s for s in self.backends() if s.name == name]
        if len(found) > 1:
            raise ValidationError(f"{len(found)} backends named {name} in {self.name}",
                                  where=self.where(found[1].start),
                                  hint="HAProxy refuses duplicate proxy names; fix the file")
        return found[0] if found else None

    def section_lines(self, section: Section) -> Iterator[tuple[int, Line]]:
        """Body lines of *section* with their indexes (header excluded)."""
        for i in range(section.start + 1, section.end):
            yield i, self.lines[i]

    def section_of(self, index: int) -> Section | None:
        for s in self.sections:
            if s.start <= index < s.end:
                return s
        return None

    # -- line endings and indentation ----------------------------------------------------

    def dominant_eol(self) -> str:
        counts = Counter(line.eol for line in self.lines if line.eol)
        if not counts:
            return "\n"
        crlf, lf = counts.get("\r\n", 0), counts.get("\n", 0)
        return "\r\n" if crlf > lf else "\n"

    def body_indent(self, section: Section | None = None) -> str:
        """Indentation of body lines: the section's own, else the file's, else 4 blanks."""
        candidates: list[Section] = [section] if section else []
        candidates += [s for s in self.sections if s is not section]
        for sec in candidates:
            for i in range(sec.body_end - 1, sec.start, -1):
                line = self.lines[i]
                if line.words and not line.is_directive and line.indent:
                    return line.indent
        return "    "

    # -- structured edits (see console.haproxy.config.edit) ------------------------------

    def set_server_option(self, backend: str, server: str, key: str, value: object) -> None:
        from console.haproxy.config import edit

        edit.set_server_options(self, backend, server, {key: value})

    def set_server_options(self, backend: str, server: str, changes: dict[str, object]) -> None:
        from console.haproxy.config import edit

        edit.set_server_options(self, backend, server, changes)

    def add_server(self, backend: str, name: str, addr: str,
                   params: dict[str, object] | None = None) -> int:
        from console.haproxy.config import edit

        return edit.add_server(self, backend, name, addr, params)

    def remove_server(self, backend: str, name: str) -> None:
        from console.haproxy.config import edit

        edit.remove_server(self, backend, name)

    def set_keyword(self, section_type: str, section_name: str | None,
                    keyword_words: list[str], value_words: list[str]) -> None:
        from console.haproxy.config import keywords

        keywords.set_keyword(self, section_type, section_name, keyword_words, value_words)

    def remove_keyword(self, section_type: str, section_name: str | None,
                       keyword_words: list[str]) -> None:
        from console.haproxy.config import keywords

        keywords.remove_keyword(self, section_type, section_name, keyword_words)

    def add_section(self, type_: str, name: str | None, body_lines: list[str]) -> None:
        from console.haproxy.config import keywords

        keywords.add_section(self, type_, name, body_lines)

    # -- mutation helpers used by the edits ----------------------------------------------

    # A line that starts no section, is no directive and sets no environment, in a file
    # without .if blocks, moves the sections after it and the end of its own: only that
    # is recomputed (a big file is not indexed again for one line).

    def replace_line(self, index: int, text: str) -> None:
        old = self.lines[index]
        new = self.lines[index] = old.with_text(text)
        self.plain = self.plain and splits_plainly(text)
        if not self._simple_edit(old, new):
            self.reindex()
            return
        self._states = None
        k = self._section_at(index)
        if k is not None:
            sec = self.sections[k]
            sections = list(self.sections)
            sections[k] = replace(sec, body_end=self._body_end(sec.start, sec.end))
            self.sections = sections

    def insert_line(self, index: int, text: str, eol: str | None = None) -> None:
        """Insert a line before *index*; the previous line gets a newline if it had none."""
        eol = eol or self.dominant_eol()
        if index > 0 and not self.lines[index - 1].eol:
            self.lines[index - 1] = Line(self.lines[index - 1].text, eol)
        line = Line.make(text, eol)
        self.lines.insert(index, line)
        self.plain = self.plain and splits_plainly(text + eol)
        if self._simple_edit(line):
            self._shift(index, 1, self._section_at(index, before=True))
        else:
            self.reindex()

    def delete_line(self, index: int) -> None:
        line = self.lines.pop(index)
        if self._simple_edit(line):
            self._shift(index, -1, self._section_at(index))
        else:
            self.reindex()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a big file is read: that makes hundreds
    of thousands of small objects (lines, words, none in a cycle), which the collector
    would otherwise walk again and again. Left as it was found."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def split_lines(text: str) -> list[Line]:
    """Split on ``\\n`` only (as HAProxy does); a ``\\r`` before it is part of the ending."""
    parts = text.split("\n")
    last = parts.pop()
    if "\r" not in text:  # (most files: every line made in one call)
        lines = list(map(Line, parts, repeat("\n")))
    else:
        lines = [Line(part[:-1], "\r\n") if part.endswith("\r") else Line(part, "\n")
                 for part in parts]
    if last:
        lines.append(Line(last, ""))
    return lines


def _line_numbers(text: str, positions: Iterable[int]) -> Iterator[int]:
    """The 0-based line of each position (in increasing order) of *text*."""
    line = at = 0
    for pos in positions:
        line += text.count("\n", at, pos)
        at = pos
        yield line


def _suspects(text: str) -> list[int]:
    """Start of each line holding quotes, backslashes, NUL or an inner CR, in order."""
    starts: set[int] = set()

    def each(char: str, inner_cr: bool = False) -> None:
        pos = text.find(char)
        while pos >= 0:
            if inner_cr and text.startswith("\n", pos + 1):
                pos = text.find(char, pos + 1)
                continue
            starts.add(text.rfind("\n", 0, pos) + 1)
            end = text.find("\n", pos)
            if end < 0:
                return
            pos = text.find(char, end)

    for char in _SUSPECT_CHARS:
        each(char)
    if text.count("\r") != text.count("\r\n"):  # a CR not ending its line
        each("\r", inner_cr=True)
    return sorted(starts)


def scan_marks(lines: list[Line], text: str) -> dict[int, str]:
    """Index → first word of the lines whose first word is in ``MARKED``.

    *text* is the lines' text. One regular expression finds the lines that start
    with such a word, read as a plain line; the lines where a plain reading may be
    wrong (quotes, escapes…) are lexed instead. Every other line is left unread: on
    a big file that is nearly all of them.
    """
    suspects = set(_line_numbers(text, _suspects(text)))
    text = "\n" + text  # line k starts after the k-th "\n" now
    matches = list(_MARK_RE.finditer(text))
    found = {i: m.group(1) for i, m in zip(
        _line_numbers(text, (m.start() + 1 for m in matches)), matches, strict=True)
        if i - 1 not in suspects}
    found = {i - 1: kw for i, kw in found.items()}
    for i in suspects:
        kw = lines[i].keyword
        if kw in MARKED:
            found[i] = kw
    return dict(sorted(found.items()))
