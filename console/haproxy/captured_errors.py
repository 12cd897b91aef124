"""``show errors``: the last invalid request and response HAProxy captured, per proxy.

HAProxy keeps, for each frontend, the last request it refused as invalid, and for
each backend the last invalid response, with the bytes it had received. The answer
(the same from 2.6 to 3.4)::

    Total events captured on [01/Dec/2026:04:02:42.261] : 4

    [01/Dec/2026:04:02:35.554] frontend fe_triage (#2): invalid request
      backend <NONE> (#-1), server <NONE> (#-1), event #2, src 127.0.0.2:55013
      buffer starts at 0 (including 0 out), 16338 free,
      len 46, wraps at 16344, error at position 27
      H1 connection flags 0x00000000, H1 stream flags 0x00000810
      H1 msg state MSG_HDR_NAME(17), H1 msg flags 0x00001410
      H1 chunk len 0 bytes, H1 body len 0 bytes :

      00000  GET / HTTP/1.1\\r\\n
      00016  Host: x\\r\\n
      00025  X-\\e[31mRed\\e[0m: 1\\r\\n

The dump lines give an offset and the bytes, escaped (``\\r \\n \\t \\e \\\\`` and
``\\xNN``; a ``+`` after the offset continues a long line). :func:`parse_errors`
rebuilds the bytes exactly and keeps them as bytes: they are the client's (or the
server's), hostile by nature. :func:`marked` shows them through
:func:`~console.haproxy.safe_text.visible` with the faulty byte between ``⟦ ⟧``.

Bounded: at most :data:`MAX_ENTRIES` entries and :data:`MAX_BUFFER` bytes each are
kept; what is left out is counted, never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.errors import ParseError
from console.haproxy.lines import split_lf
from console.haproxy.parsers_common import classify_error, fail
from console.haproxy.safe_text import visible

MAX_ENTRIES = 1000
MAX_BUFFER = 1 << 16  # bytes kept of one captured buffer (HAProxy's are 16 kB by default)
MAX_DETAILS = 20  # detail lines kept per entry

_TOTAL = re.compile(r"^Total events captured on \[(?P<time>[^\]]{1,64})\] : (?P<n>[0-9]{1,12})\s*$")
_HEAD = re.compile(r"^\[(?P<time>[^\]]{1,64})\] (?P<kind>frontend|backend) (?P<proxy>\S{1,256}) "
                   r"\(#(?P<pid>-?[0-9]{1,10})\): invalid (?P<dir>request|response)\s*$")
_PEER = re.compile(r"^\s+(?P<ok>frontend|backend) (?P<other>\S{1,256}) \(#-?[0-9]{1,10}\), "
                   r"server (?P<server>\S{1,256}) \(#-?[0-9]{1,10}\), "
                   r"event #(?P<event>[0-9]{1,12}), src (?P<src>\S{1,300})\s*$")
_POS = re.compile(r"^\s+len (?P<len>[0-9]{1,12}), wraps at [0-9]{1,12}, "
                  r"error at position (?P<pos>-?[0-9]{1,12})\s*$")
_STATE = re.compile(r"\bmsg state (?P<state>[A-Z0-9_]{1,40})\(")
_DUMP = re.compile(r"^  (?P<off>[0-9]{5,12})(?P<cont>[ +]) (?P<data>.*)$")
_ESCAPE = re.compile(r"\\(?:x([0-9A-Fa-f]{2})|(.))", re.S)
_NAMED = {"r": b"\r", "n": b"\n", "t": b"\t", "e": b"\x1b", "\\": b"\\"}

# Where the parser stopped, in words (HAProxy's H1 message states).
STATES = {
    "MSG_RQBEFORE": "before the request line",
    "MSG_RQMETH": "in the request method",
    "MSG_RQMETH_SP": "after the request method",
    "MSG_RQURI": "in the request URI",
    "MSG_RQURI_SP": "after the request URI",
    "MSG_RQVER": "in the request's HTTP version",
    "MSG_RQLINE_END": "at the end of the request line",
    "MSG_RPBEFORE": "before the status line",
    "MSG_RPVER": "in the response's HTTP version",
    "MSG_RPVER_SP": "after the response's HTTP version",
    "MSG_RPCODE": "in the status code",
    "MSG_RPCODE_SP": "after the status code",
    "MSG_RPREASON": "in the reason phrase",
    "MSG_RPLINE_END": "at the end of the status line",
    "MSG_HDR_FIRST": "at the first header",
    "MSG_HDR_NAME": "in a header name",
    "MSG_HDR_COL": "at a header's colon",
    "MSG_HDR_L1_SP": "after a header's colon",
    "MSG_HDR_L1_LF": "at a header line's end",
    "MSG_HDR_L1_LWS": "in a folded header line",
    "MSG_HDR_VAL": "in a header value",
    "MSG_HDR_L2_LF": "at a header value's end",
    "MSG_HDR_L2_LWS": "in a folded header value",
    "MSG_LAST_LF": "at the end of the headers",
    "MSG_BODY": "in the body",
    "MSG_CHUNK_SIZE": "in a chunk size",
    "MSG_CHUNK_CRLF": "after a chunk",
    "MSG_TRAILERS": "in the trailers",
}


@dataclass
class CapturedError:
    """One captured invalid request or response."""

    time: str
    proxy: str  # the frontend (request) or backend (response) that refused it
    direction: str  # "request" or "response"
    frontend: str | None = None
    backend: str | None = None
    server: str | None = None
    event: int | None = None
    client: str | None = None
    length: int | None = None
    position: int | None = None  # offset of the faulty byte in :attr:`buffer`
    state: str | None = None  # HAProxy's parser state (MSG_HDR_NAME...)
    details: list[str] = field(default_factory=list)  # the other lines, as printed
    buffer: bytes = b""
    truncated: bool = False  # more bytes than kept (or HAProxy's dump was cut)

    @property
    def reason(self) -> str:
        where = STATES.get(self.state or "", "")
        text = f"invalid {self.direction}"
        if where:
            text += f": {where}"
        elif self.state:
            text += f" ({self.state})"
        return text

    @property
    def faulty_byte(self) -> int | None:
        p = self.position
        return self.buffer[p] if p is not None and 0 <= p < len(self.buffer) else None

    def to_json(self) -> dict[str, Any]:
        """For ``--json``: every text from HAProxy made printable (``visible``), the
        buffer as escaped text and in hex."""
        fb = self.faulty_byte
        return {
            "time": visible(self.time), "proxy": visible(self.proxy),
            "direction": self.direction,
            "frontend": _v(self.frontend), "backend": _v(self.backend),
            "server": _v(self.server), "event": self.event, "client": _v(self.client),
            "reason": visible(self.reason), "state": _v(self.state),
            "length": self.length, "position": self.position,
            "faulty_byte": None if fb is None else f"0x{fb:02x}",
            "faulty_char": None if fb is None else visible(bytes([fb]).decode("latin-1")),
            "context": marked(self, width=60),
            "buffer": visible(self.buffer.decode("utf-8", "surrogateescape")),
            "buffer_hex": self.buffer.hex(),
            "truncated": self.truncated,
            "details": [visible(d) for d in self.details],
        }


def _v(text: str | None) -> str | None:
    return None if text is None else visible(text)


@dataclass
class CapturedErrors:
    """The whole answer: when HAProxy dumped it, how many events it counted in total
    (since start; it keeps only the last one per proxy and direction), the entries."""

    captured_at: str | None
    total_events: int | None
    entries: list[CapturedError]
    left_out: int = 0  # entries past MAX_ENTRIES


def _unescape(text: str) -> tuple[bytes, bool]:
    """The bytes of one dump line; False when an escape is malformed (kept as text)."""
    out = bytearray()
    ok = True
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos:m.start()].encode("latin-1", "replace")
        if m.group(1):
            out.append(int(m.group(1), 16))
        elif m.group(2) in _NAMED:
            out += _NAMED[m.group(2)]
        else:
            ok = False
            out += m.group().encode("latin-1", "replace")
        pos = m.end()
    out += text[pos:].encode("latin-1", "replace")
    return bytes(out), ok


def _none(name: str) -> str | None:
    return None if name in ("<NONE>", "<none>") else name


def parse_errors(text: str, *, max_entries: int = MAX_ENTRIES,
                 max_buffer: int = MAX_BUFFER) -> CapturedErrors:
    """Parse ``show errors``. An answer that is not one (an error message, other text)
    raises :class:`ParseError`; odd lines inside an entry are kept as details."""
    if classify_error(text):
        raise fail("show errors", text)
    lines = split_lf(text)
    first = next((ln for ln in lines if ln.strip()), "")
    m = _TOTAL.match(first)
    if not m:
        raise fail("show errors", text, "expected 'Total events captured on [...] : N'")
    result = CapturedErrors(m["time"], int(m["n"]), [])
    cur: CapturedError | None = None
    buf = bytearray()

    def close() -> None:
        nonlocal cur
        if cur is not None:
            if len(buf) > max_buffer:
                cur.truncated = True
            cur.buffer = bytes(buf[:max_buffer])
            if cur.length is not None and len(cur.buffer) < cur.length:
                cur.truncated = True
            result.entries.append(cur)
        cur = None

    for line in lines[lines.index(first) + 1:]:
        h = _HEAD.match(line)
        if h:
            close()
            buf.clear()
            if len(result.entries) >= max_entries:
                result.left_out += 1
                continue
            cur = CapturedError(h["time"], h["proxy"], h["dir"])
            if h["kind"] == "frontend":
                cur.frontend = h["proxy"]
            else:
                cur.backend = h["proxy"]
            continue
        if cur is None:
            continue
        d = _DUMP.match(line)
        if d:
            if len(buf) > max_buffer:
                continue
            data, ok = _unescape(d["data"])
            off = int(d["off"])
            if off != len(buf) or not ok:
                cur.truncated = True  # a gap or a malformed escape: say the dump is odd
                if off > len(buf) and off - len(buf) <= max_buffer:
                    buf += b"?" * (off - len(buf))
            buf += data
            continue
        p = _PEER.match(line)
        if p:
            if p["ok"] == "frontend":
                cur.frontend = _none(p["other"])
            else:
                cur.backend = _none(p["other"])
            cur.server = _none(p["server"])
            cur.event = int(p["event"])
            cur.client = p["src"].rstrip(",")
            continue
        q = _POS.match(line)
        if q:
            cur.length, cur.position = int(q["len"]), int(q["pos"])
            continue
        s = _STATE.search(line)
        if s:
            cur.state = s["state"]
        if line.strip() and len(cur.details) < MAX_DETAILS:
            cur.details.append(line.strip()[:300])
    close()
    return result


def marked(entry: CapturedError, width: int = 40, mark: tuple[str, str] = ("⟦", "⟧")) -> str:
    """The bytes around the faulty one, on one line, printable (every control byte
    escaped by :func:`visible`), the faulty byte between *mark*."""
    data, pos = entry.buffer, entry.position
    if pos is None or not 0 <= pos < len(data):
        return _show(data[:2 * width])
    start, end = max(0, pos - width), min(len(data), pos + width)
    before, bad, after = data[start:pos], data[pos:pos + 1], data[pos + 1:end]
    return ("…" if start else "") + _show(before) + mark[0] + _show(bad) + mark[1] \
        + _show(after) + ("…" if end < len(data) else "")


def _show(data: bytes) -> str:
    return visible(data.decode("utf-8", "surrogateescape"))


def dump_lines(entry: CapturedError, width: int = 72) -> list[tuple[int, str, bool]]:
    """The buffer as ``(offset, printable text, holds the faulty byte)`` lines, cut at
    each newline and every *width* bytes."""
    out: list[tuple[int, str, bool]] = []
    data, pos = entry.buffer, entry.position
    start = 0
    while start < len(data):
        nl = data.find(b"\n", start, start + width)
        end = nl + 1 if nl >= 0 else min(len(data), start + width)
        chunk = data[start:end]
        has = pos is not None and start <= pos < end
        if has and pos is not None:
            text = _show(chunk[:pos - start]) + "⟦" + _show(chunk[pos - start:pos - start + 1]) \
                + "⟧" + _show(chunk[pos - start + 1:])
        else:
            text = _show(chunk)
        out.append((start, text, has))
        start = end
    return out


__all__ = ["MAX_ENTRIES", "CapturedError", "CapturedErrors", "ParseError", "dump_lines",
           "marked", "parse_errors"]
