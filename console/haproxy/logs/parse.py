"""One log line in, one result out: a :class:`LogRecord` or an :class:`Unparsed` with
its reason. Never an exception, whatever the bytes.

A line goes through: a length guard (:data:`MAX_LINE` characters; longer lines are
refused without being looked at), a NUL guard (HAProxy never writes a NUL: such a
line is binary garbage), the syslog header (:func:`~.syslog.split_header`), then the
format. The format is, in order of preference:

* the one given (``LineParser(formats=compile_format(...))``);
* the one of the line's frontend, from a configuration (:mod:`.config_formats`):
  each distinct format of the configuration is tried, last success first, and a
  match is kept only if the frontend named in it uses that format (or is unknown);
* otherwise HAProxy's predefined formats (HTTP, HTTPS, TCP, TCP CLF, CLF).

HAProxy's default format (no ``option *log``: ``Connect from IP:PORT to IP:PORT
(FRONTEND/MODE)``) is recognised in every case. Other messages HAProxy logs
(``Proxy fe stopped``, ``Server be/s is DOWN``…) are :class:`Unparsed` with the
reason ``"an HAProxy event, not a traffic log"`` and ``event=True``, so a caller
can count them apart from garbage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

from console.haproxy.logs.logformat import PREDEFINED, CompiledFormat, compile_format
from console.haproxy.logs.syslog import ANY_HEADER, Header, header_of, match_header

MAX_LINE = 65_536  # characters: HAProxy's largest "len" for a log line is 65535
MAX_RAW_KEPT = 2048  # characters of an unparsed line kept for display
# what the reader appends to the start of a line it cut (see .reader)
OVERLONG = b"\x00<line longer than the limit, cut>"
_PORTS = ("client_port", "frontend_port", "listener")
DETAILED_REASONS = 100  # unparsed lines per parser whose reason says where they fail
AUTO_ORDER = ("http", "https", "tcp", "tcpclf", "clf")

_CONNECT = re.compile(
    r"Connect from (?P<client>[^ ]+):(?P<client_port>[0-9]+) to (?P<frontend_ip>[^ ]+):"
    r"(?P<frontend_port>[0-9]+) \((?P<frontend>[^ /]+)/(?P<mode>HTTP|TCP)\)\Z")
_CONNECT_UNIX = re.compile(
    r"Connect (?:from unknown source )?to (?:unix:|listener )(?P<listener>[0-9]+) "
    r"\((?P<frontend>[^ /]+)/(?P<mode>HTTP|TCP)\)\Z")
_EVENT = re.compile(
    r"(?:Proxy|Server|Backup Server|backend|Health check|Stopping|Pausing|Resuming|"
    r"Enabling|Disabling|Health agent|Connect|Frontend|Backend|Loading|"
    r"\[WARNING\]|\[ALERT\]|\[NOTICE\])\b")


_new = object.__new__


class LogRecord:
    """A parsed traffic log line: its fields (see :mod:`.logformat`), its header, the
    name of the format that read it.

    The parser makes records lazily: ``fields`` is decoded from the match on first
    use, ``header`` made from its match on first use (most consumers look at a few
    fields only: see :meth:`pick`)."""

    __slots__ = ("_fields", "_header", "_m", "_cf", "_hkind", "_hm", "format", "line_no",
                 "raw")

    def __init__(self, fields: dict[str, object] | None = None, header: Header | None = None,
                 format: str = "custom", line_no: int | None = None, raw: str = "") -> None:
        self._fields = fields
        self._header = header
        self._m: re.Match[str] | None = None
        self._cf: CompiledFormat | None = None
        self._hkind = 0
        self._hm: re.Match[str] | None = None
        self.format = format
        self.line_no = line_no
        self.raw = raw  # the line as read (without its line ending)

    @classmethod
    def lazy(cls, m: re.Match[str], compiled: CompiledFormat, hkind: int,
             hm: re.Match[str] | None, format: str, line_no: int | None,
             raw: str) -> LogRecord:
        rec = _new(cls)  # no __init__: a parse makes one of these per line
        rec._fields = rec._header = None
        rec._m, rec._cf, rec._hkind, rec._hm = m, compiled, hkind, hm
        rec.format, rec.line_no, rec.raw = format, line_no, raw
        return rec

    @property
    def fields(self) -> dict[str, object]:
        f = self._fields
        if f is None:
            assert self._cf is not None and self._m is not None
            f = self._fields = self._cf.decode(self._m)
        return f

    @fields.setter
    def fields(self, value: dict[str, object]) -> None:
        self._fields = value

    @property
    def header(self) -> Header:
        h = self._header
        if h is None:
            if self._hkind < 0:  # matched with its header: find it again
                self._hkind, self._hm = match_header(self.raw)
            h = self._header = header_of(self._hkind, self._hm)
        return h

    @header.setter
    def header(self, value: Header) -> None:
        self._header = value

    def pick(self, keys: tuple[str, ...]) -> list[object]:
        """``[fields.get(k) for k in keys]``, without decoding the other fields when
        the format allows it."""
        if self._fields is None and self._cf is not None and self._m is not None:
            picker = self._cf.picker(keys)
            if picker is not None:
                return picker(self._m)
        f = self.fields
        return [f.get(k) for k in keys]

    def get(self, key: str, default: object = None) -> object:
        return self.fields.get(key, default)

    @property
    def ok(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogRecord):
            return NotImplemented
        return (self.fields, self.header, self.format, self.line_no, self.raw) == \
            (other.fields, other.header, other.format, other.line_no, other.raw)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"LogRecord(fields={self.fields!r}, header={self.header!r}, "
                f"format={self.format!r}, line_no={self.line_no!r}, raw={self.raw!r})")


@dataclass(slots=True)
class Unparsed:
    """A line that is not a traffic log: why, and (the start of) what it was."""

    reason: str
    raw: str
    line_no: int | None = None
    event: bool = False  # an HAProxy message (Proxy stopped…), not garbage

    @property
    def ok(self) -> bool:
        return False


Result = LogRecord | Unparsed


@dataclass
class NamedFormat:
    """A compiled format, its name, and the frontends that use it (empty: any)."""

    name: str
    compiled: CompiledFormat
    frontends: frozenset[str] = frozenset()


_BLANK = frozenset(("", " ", "\t", "\x0b", "\x0c"))
_WITH_HEADER: dict[int, tuple[CompiledFormat, re.Pattern[str]]] = {}


def _with_header(compiled: CompiledFormat) -> re.Pattern[str]:
    """*compiled*'s pattern with any syslog header in front (see ANY_HEADER)."""
    got = _WITH_HEADER.get(id(compiled))
    if got is None or got[0] is not compiled:
        if len(_WITH_HEADER) > 256:
            _WITH_HEADER.clear()
        got = _WITH_HEADER[id(compiled)] = (
            compiled, re.compile(ANY_HEADER + compiled.regex.pattern))
    return got[1]


_PREDEFINED_CACHE: dict[str, CompiledFormat] = {}


def predefined(name: str) -> CompiledFormat:
    """HAProxy's predefined format *name* (``http``, ``https``, ``tcp``, ``clf``,
    ``tcpclf``), compiled once."""
    if name not in _PREDEFINED_CACHE:
        _PREDEFINED_CACHE[name] = compile_format(PREDEFINED[name])
    return _PREDEFINED_CACHE[name]


@dataclass
class LineParser:
    """Parses lines with the formats it was given (see the module docstring).

    *formats*: one format, several (tried in order, the last success first), or
    None for HAProxy's predefined ones. *by_frontend*: frontend name → format name,
    from a configuration, to refuse a match by the wrong format.
    """

    formats: list[NamedFormat] = field(default_factory=list)
    by_frontend: Mapping[str, str] = field(default_factory=dict)
    _last: int = 0
    _detailed: int = 0

    @classmethod
    def for_format(cls, compiled: CompiledFormat, name: str = "custom") -> LineParser:
        return cls([NamedFormat(name, compiled)])

    @classmethod
    def auto(cls) -> LineParser:
        return cls([NamedFormat(n, predefined(n)) for n in AUTO_ORDER])

    def __post_init__(self) -> None:
        if not self.formats:
            self.formats = [NamedFormat(n, predefined(n)) for n in AUTO_ORDER]

    def parse(self, line: str | bytes, line_no: int | None = None) -> Result:
        """The result for *line* (bytes are read as UTF-8, other bytes kept as
        surrogates so that :func:`~console.haproxy.safe_text.visible` shows them)."""
        try:
            return self._parse(line, line_no)
        except Exception as exc:  # noqa: BLE001 - a line never raises; say what happened
            return Unparsed(f"internal parser error: {type(exc).__name__}",
                            _keep(line), line_no)

    def _parse(self, line: str | bytes, line_no: int | None) -> Result:
        if isinstance(line, bytes | bytearray):
            if line.endswith(OVERLONG):
                return Unparsed(f"line too long (more than {MAX_LINE} bytes)",
                                _keep(line[:-len(OVERLONG)]), line_no)
            if len(line) > MAX_LINE * 4:
                return Unparsed(f"line too long ({len(line)} bytes, more than {MAX_LINE})",
                                _keep(line), line_no)
            line = bytes(line).decode("utf-8", "surrogateescape")
        if len(line) > MAX_LINE:
            return Unparsed(f"line too long ({len(line)} characters, more than {MAX_LINE})",
                            _keep(line), line_no)
        line = line.rstrip("\r\n")
        if not line or line.isspace():
            return Unparsed("empty line", "", line_no)
        if "\x00" in line:
            return Unparsed("binary data (NUL bytes): not a log line", _keep(line), line_no)
        hkind, hm = match_header(line)
        pos = hm.end() if hm is not None else 0
        formats = self.formats
        count = len(formats)
        first = self._last
        by_frontend = self.by_frontend
        for k in range(count):
            i = (first + k) % count
            nf = formats[i]
            compiled = nf.compiled
            m = compiled.regex.match(line, pos)
            if m is None:
                continue
            if by_frontend:
                fe = compiled.frontend_of(m)
                want = by_frontend.get(fe) if isinstance(fe, str) else None
                if want is not None and want != nf.name:
                    continue
            self._last = i
            return LogRecord.lazy(m, compiled, hkind, hm, nf.name, line_no, line)
        header = header_of(hkind, hm)
        message = line[pos:]
        m = _CONNECT.match(message) or _CONNECT_UNIX.match(message)
        if m:
            found: dict[str, object] = {}
            for name, value in m.groupdict().items():
                found[name] = int(value) if name in _PORTS and value is not None else value
            return LogRecord(found, header, "connect", line_no, line)
        if _EVENT.match(message):
            return Unparsed("an HAProxy event, not a traffic log", _keep(line), line_no,
                            event=True)
        return Unparsed(self._why(message), _keep(line), line_no)

    def parse_many(self, lines: Sequence[bytes], start: int = 1) -> list[Result]:
        """``[parse(line, n) for n, line in enumerate(lines, start)]``, faster: the lines
        are decoded at once, and matched (header and format in one regular expression)
        with the format of the last line that parsed; what does not match goes through
        :meth:`parse`, so the results are the same, line by line."""
        if not lines:
            return []
        if self.by_frontend or not isinstance(lines[0], bytes):
            return [self.parse(line, n) for n, line in enumerate(lines, start)]
        try:
            blob = b"\n".join(lines)
        except TypeError:
            return [self.parse(line, n) for n, line in enumerate(lines, start)]
        if b"\x00" in blob or b"\r" in blob or max(map(len, lines)) > MAX_LINE:
            return [self.parse(line, n) for n, line in enumerate(lines, start)]
        texts = blob.decode("utf-8", "surrogateescape").split("\n")
        if len(texts) != len(lines):  # a line with a newline inside
            return [self.parse(line, n) for n, line in enumerate(lines, start)]
        out: list[Result] = []
        append = out.append
        lazy = LogRecord.lazy
        formats = self.formats
        count = len(texts)
        k = 0
        while k < count:
            nf = formats[self._last]
            compiled = nf.compiled
            name = nf.name
            rest = texts[k:] if k else texts
            matches = list(map(_with_header(compiled).match, rest))
            for m in matches:
                text = texts[k]
                if m is None or (text[:1] in _BLANK and (not text or text.isspace())):
                    last = self._last
                    append(self.parse(lines[k], start + k))
                    k += 1
                    if self._last != last:
                        break  # another format now: match the rest with it
                    continue
                append(lazy(m, compiled, -1, None, name, start + k, text))
                k += 1
        return out

    def _why(self, message: str) -> str:
        """The reason a message matched no format: where it stops matching the format
        it got furthest in. Worked out for the first :data:`DETAILED_REASONS` lines
        only, so that a flood of garbage costs no more than the matching itself."""
        if len(self.formats) == 1:
            nf = self.formats[0]
            if self._detailed >= DETAILED_REASONS:
                return f"{nf.name} format: does not match"
            self._detailed += 1
            return f"{nf.name} format: {nf.compiled.failure_point(message)}"
        names = ", ".join(nf.name for nf in self.formats)
        if self._detailed >= DETAILED_REASONS:
            return f"matches none of the formats ({names})"
        self._detailed += 1
        best = max(((nf.compiled.failure(message), -i, nf.name)
                    for i, nf in enumerate(self.formats)))
        return f"matches none of the formats ({names}); closest, {best[2]}: {best[0][1]}"


def _keep(line: str | bytes) -> str:
    if isinstance(line, bytes | bytearray):
        line = bytes(line[:MAX_RAW_KEPT * 4]).decode("utf-8", "surrogateescape")
    return line[:MAX_RAW_KEPT]


BATCH = 1024  # lines parsed together by parse_lines (LineParser.parse_many)


def parse_lines(parser: LineParser, lines: Iterable[str | bytes],
                start: int = 1) -> Iterator[Result]:
    """Each line parsed, numbered from *start* (in batches of :data:`BATCH` lines:
    a result comes once its batch is read, or the input ended)."""
    it = iter(lines)
    n = start
    while True:
        batch = list(islice(it, BATCH))
        if not batch:
            return
        yield from parser.parse_many(batch, n)  # type: ignore[arg-type]
        n += len(batch)
