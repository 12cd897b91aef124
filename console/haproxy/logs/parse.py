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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from console.haproxy.logs.logformat import PREDEFINED, CompiledFormat, compile_format
from console.haproxy.logs.syslog import Header, split_header

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


@dataclass(slots=True)
class LogRecord:
    """A parsed traffic log line: its fields (see :mod:`.logformat`), its header, the
    name of the format that read it."""

    fields: dict[str, object]
    header: Header
    format: str
    line_no: int | None = None
    raw: str = ""  # the line as read (without its line ending)

    def get(self, key: str, default: object = None) -> object:
        return self.fields.get(key, default)

    @property
    def ok(self) -> bool:
        return True


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
        if not line.strip():
            return Unparsed("empty line", "", line_no)
        if "\x00" in line:
            return Unparsed("binary data (NUL bytes): not a log line", _keep(line), line_no)
        header, message = split_header(line)
        formats = self.formats
        count = len(formats)
        first = self._last
        for k in range(count):
            i = (first + k) % count
            nf = formats[i]
            m = nf.compiled.regex.match(message)
            if m is None:
                continue
            fields = nf.compiled.decode(m)
            if self.by_frontend:
                fe = fields.get("frontend")
                want = self.by_frontend.get(fe) if isinstance(fe, str) else None
                if want is not None and want != nf.name:
                    continue
            self._last = i
            return LogRecord(fields, header, nf.name, line_no, line)
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


def parse_lines(parser: LineParser, lines: Iterable[str | bytes],
                start: int = 1) -> Iterable[Result]:
    """Each line parsed, numbered from *start*."""
    for n, line in enumerate(lines, start):
        yield parser.parse(line, n)
