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

from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from console.haproxy.config.cond import UNKNOWN, CondContext, Env, LineStates, line_states
from console.haproxy.config.lexer import BLANKS, Lexed, Word, first_plain_word, lex
from console.haproxy.errors import ValidationError

BOM = b"\xef\xbb\xbf"
SECTION_KEYWORDS: tuple[str, ...] = (
    "global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
    "userlist", "ring", "cache", "http-errors", "mailers", "program", "log-forward",
    "crt-store", "traces", "log-profile", "acme", "fcgi-app",
)
SECTION_SET = frozenset(SECTION_KEYWORDS)
# the last files parsed (name and bytes → the parsed file, never edited itself)
_PARSED: OrderedDict[tuple[str, bytes], ConfigFile] = OrderedDict()
_PARSED_KEPT = 4
# Sections whose header may say ``from DEFAULTS``.
PROXY_SECTIONS = frozenset({"defaults", "frontend", "backend", "listen"})
# Sections without a name.
UNNAMED_SECTIONS = frozenset({"global", "traces"})
DIRECTIVES = frozenset({".if", ".elif", ".else", ".endif",
                        ".notice", ".warning", ".alert", ".diag"})


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


def _section_header(line: Line) -> tuple[str, str | None, str | None] | None:
    kw = line.keyword
    if kw not in SECTION_KEYWORDS:
        return None
    rest = line.values[1:]
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
                 _index: ConfigFile | None = None) -> None:
        self.lines: list[Line] = list(lines)
        self.bom = bom
        self.name = name
        self.sections: list[Section] = []
        self._depth: list[int] = []
        self._block_end: dict[int, int] = {}
        self.cond: CondContext = UNKNOWN  # what `.if` conditions depend on
        self.env_in: Env | None = None  # the environment when HAProxy starts this file
        self.before: list[ConfigFile] = []  # files HAProxy reads before this one
        self.after: list[ConfigFile] = []  # and after it
        self._states: LineStates | None = None
        if _index is not None and _index.lines == self.lines:
            # the same lines: the same index (its lists are replaced, never changed)
            self.sections, self._depth = _index.sections, _index._depth
            self._block_end = dict(_index._block_end)
        else:
            self.reindex()

    # -- reading and writing -------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, name: str = "haproxy.cfg", *, keep: bool = True
              ) -> ConfigFile:
        """``keep=False``: not kept for the next parse of the same bytes (a reader that
        keeps what it needs of a big file itself)."""
        if not isinstance(data, bytes | bytearray):
            raise TypeError("ConfigFile.parse() takes bytes")
        data = bytes(data)
        key = (name, data)
        parsed = _PARSED.get(key)
        if parsed is None:
            bom = BOM if data.startswith(BOM) else b""
            text = data[len(bom):].decode("utf-8", "surrogateescape")
            parsed = ConfigFile(split_lines(text), bom=bom, name=name)
            if keep:
                _PARSED[key] = parsed
                while len(_PARSED) > _PARSED_KEPT:
                    _PARSED.popitem(last=False)
        else:
            _PARSED.move_to_end(key)
        # a copy: its line list is its own (lines are immutable), the kept one never
        # changes; a command parses the same files several times
        out = parsed.copy()
        return out if cls is ConfigFile else cls(out.lines, bom=out.bom, name=name)

    def to_text(self) -> str:
        """The file as text (non-UTF-8 bytes as surrogates), without the BOM."""
        return "".join(line.raw for line in self.lines)

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

    def undecided_by(self, index: int) -> int | None:
        """The ``.if``/``.elif`` line whose unknown condition makes *index* unknown."""
        return self._line_states().blame[index]

    def env_out(self) -> Env:
        """The environment after HAProxy read this file (for the next one of a set)."""
        return self._line_states().env_out

    # -- structure -----------------------------------------------------------------------

    def reindex(self) -> None:
        """Recompute conditional depths and sections after ``lines`` changed."""
        lines = self.lines
        keywords = [line.keyword for line in lines]
        block_end: dict[int, int] = {}
        stack: list[int] = []
        headers: list[tuple[int, tuple[str, str | None, str | None]]] = []
        if any(kw in DIRECTIVES for kw in keywords):
            depth: list[int] = []
            for i, kw in enumerate(keywords):
                if kw == ".endif" and stack:
                    block_end[stack.pop()] = i
                    depth.append(len(stack))
                elif kw in (".elif", ".else") and stack:
                    depth.append(len(stack))
                else:
                    depth.append(len(stack))
                    if kw == ".if":
                        stack.append(i)
        else:  # no .if anywhere (most files): every line at depth 0
            depth = [0] * len(lines)
        self._depth = depth
        self._block_end = block_end
        self._states = None

        for i, kw in enumerate(keywords):
            if kw in SECTION_SET:
                head = _section_header(lines[i])
                if head:
                    headers.append((i, head))
        sections = []
        for k, (start, (kind, name, from_)) in enumerate(headers):
            end = headers[k + 1][0] if k + 1 < len(headers) else len(self.lines)
            body_end = start + 1
            for j in range(end - 1, start, -1):
                if self.lines[j].words:
                    body_end = j + 1
                    break
            sections.append(Section(kind, name, from_, start, end, body_end, depth[start] > 0))
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

    def replace_line(self, index: int, text: str) -> None:
        self.lines[index] = self.lines[index].with_text(text)
        self.reindex()

    def insert_line(self, index: int, text: str, eol: str | None = None) -> None:
        """Insert a line before *index*; the previous line gets a newline if it had none."""
        eol = eol or self.dominant_eol()
        if index > 0 and not self.lines[index - 1].eol:
            self.lines[index - 1] = Line(self.lines[index - 1].text, eol)
        self.lines.insert(index, Line.make(text, eol))
        self.reindex()

    def delete_line(self, index: int) -> None:
        del self.lines[index]
        self.reindex()


def split_lines(text: str) -> list[Line]:
    """Split on ``\\n`` only (as HAProxy does); a ``\\r`` before it is part of the ending."""
    parts = text.split("\n")
    lines: list[Line] = []
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        if last:
            if part:
                lines.append(Line.make(part, ""))
            break
        if part.endswith("\r"):
            lines.append(Line.make(part[:-1], "\r\n"))
        else:
            lines.append(Line.make(part, "\n"))
    return lines
