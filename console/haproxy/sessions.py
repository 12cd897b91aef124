"""``show sess``: the streams HAProxy is serving, to find the long-running and stuck ones.

Two forms of the answer are read:

* the one-line form of ``show sess`` (every version; ``show sess show-uri`` adds
  ``uri="..."`` from 3.1)::

    0x5598043dca10: proto=tcpv4 src=127.0.0.4:50327 fe=fe_triage be=be_slow srv=slow1
    ts=00 epoch=0 age=1s calls=2 rate=0 cpu=0 lat=0 rq[...] rp[...] scf=[...] scb=[...]
    exp=0s rc=0 c_exp=

  (2.6 has ``rx=``/``wx=`` inside ``rq[]``, the others ``rex=``/``wex=`` in ``scf``;
  only the fields named below are read);
* ``show sess older <seconds>`` (2.9+), which HAProxy answers in the long form
  (``show sess all``): one block per stream, of which only the first line, the
  ``frontend=``, ``backend=``, ``server=``, ``task=... age=`` and ``txn=... uri=``
  lines are read.

Before 2.9 ``older`` is ignored by HAProxy (every stream is listed) and the age is
filtered here. The CLI's own streams (``fe=GLOBAL``) are counted, not listed.

Bounded: a busy HAProxy may list 100,000 streams. Every stream is counted in the
groups, but only the :data:`MAX_ROWS` oldest are kept as rows, and the result says
how many were left out. Every text comes from HAProxy (a URI is the client's): print
it through :func:`~console.haproxy.safe_text.visible`.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.errors import ValidationError
from console.haproxy.lines import split_lf
from console.haproxy.parsers_common import classify_error, fail
from console.haproxy.safe_text import visible

MAX_ROWS = 10_000
MAX_GROUPS = 10_000
GROUP_BY = ("frontend", "backend", "server", "client")
OLDER_SINCE = (2, 9)  # `show sess older <age>`
SHOW_URI_SINCE = (3, 1)  # `show sess show-uri`

_ID = r"0x[0-9a-fA-F]{1,16}"
_SHORT = re.compile(rf"^(?P<id>{_ID}): proto=")
_LONG = re.compile(rf"^(?P<id>{_ID}): \[(?P<time>[^\]]{{1,64}})\] id=[0-9]{{1,20}} "
                   r"proto=(?P<proto>\S{1,40}) source=(?P<src>\S{1,300})")
_FIELD = {k: re.compile(rf"(?:^| ){k}=(\S{{0,300}})") for k in
          ("proto", "src", "fe", "be", "srv", "age", "calls", "cpu", "lat", "exp")}
_URI = re.compile(r' uri="(.{0,8192})"\s*$')
_LONG_FIELD = re.compile(r"^  (frontend|backend|server)=(\S{1,300})")
_LONG_AGE = re.compile(r"^  task=.* age=([0-9a-z<>]{1,40})\)")
_UNIT = re.compile(r"([0-9]{1,12})(d|h|ms|m|us|s)")
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
SESSION_ID = re.compile(rf"^{_ID}$")


def age_seconds(text: str | None) -> float | None:
    """HAProxy's human durations (``3s``, ``4m5s``, ``1d2h``) as seconds; None if not one."""
    if not text:
        return None
    pos, total = 0, 0.0
    for m in _UNIT.finditer(text):
        if m.start() != pos:
            return None
        total += int(m[1]) * _UNITS[m[2]]
        pos = m.end()
    return total if pos == len(text) and pos else None


def check_session_id(text: str) -> str:
    """A stream's id as ``show sess`` prints it (``0x`` and up to 16 hex digits)."""
    word = str(text).strip()
    if not SESSION_ID.match(word):
        raise ValidationError(f"invalid session id {visible(word)[:40]!r}",
                              hint="give the 0x... pointer that 'haconsole sessions' lists")
    return word.lower()


@dataclass
class Session:
    """One stream."""

    id: str
    proto: str | None = None
    client: str | None = None
    frontend: str | None = None
    backend: str | None = None
    server: str | None = None
    age: float | None = None  # seconds
    age_text: str | None = None
    calls: int | None = None
    cpu: int | None = None
    lat: int | None = None
    expires: str | None = None
    uri: str | None = None

    @property
    def client_ip(self) -> str | None:
        c = self.client
        if c is None or ":" not in c:
            return c
        host = c.rsplit(":", 1)[0]
        return host.strip("[]")

    def key(self, by: str) -> str:
        value = self.client_ip if by == "client" else getattr(self, by)
        if by == "server" and value is not None:
            value = f"{self.backend}/{value}"
        return value if value is not None else "-"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "proto": _v(self.proto), "client": _v(self.client),
                "frontend": _v(self.frontend), "backend": _v(self.backend),
                "server": _v(self.server), "age": self.age, "age_text": _v(self.age_text),
                "calls": self.calls, "cpu": self.cpu, "lat": self.lat,
                "expires": _v(self.expires), "uri": _v(self.uri)}


def _v(text: str | None) -> str | None:
    return None if text is None else visible(text)


@dataclass
class Group:
    key: str
    count: int = 0
    oldest: float | None = None
    oldest_id: str | None = None

    def add(self, s: Session) -> None:
        self.count += 1
        if s.age is not None and (self.oldest is None or s.age > self.oldest):
            self.oldest, self.oldest_id = s.age, s.id

    def to_json(self) -> dict[str, Any]:
        return {"key": visible(self.key), "sessions": self.count, "oldest_age": self.oldest,
                "oldest_id": self.oldest_id}


@dataclass
class Sessions:
    """The streams listed (the :data:`MAX_ROWS` oldest), the total counted, the groups
    (over every stream, not only those kept), the CLI streams left out."""

    rows: list[Session]
    total: int
    groups: dict[str, dict[str, Group]] = field(default_factory=dict)
    left_out: int = 0
    cli_streams: int = 0
    unparsed: int = 0  # lines that started a stream but could not be read

    def grouped(self, by: str) -> list[Group]:
        """Groups by *by*, most sessions first, then oldest first."""
        return sorted(self.groups.get(by, {}).values(),
                      key=lambda g: (-g.count, -(g.oldest or 0.0), g.key))


def _none(v: str | None) -> str | None:
    return None if v is None or v in ("<NONE>", "<none>", "") else v


def _int(v: str | None) -> int | None:
    return int(v) if v is not None and v.isascii() and v.isdigit() and len(v) < 20 else None


def _short(line: str, sid: str) -> Session:
    f = {k: (m[1] if (m := r.search(line)) else None) for k, r in _FIELD.items()}
    uri = _URI.search(line)
    return Session(sid, f["proto"], f["src"], _none(f["fe"]), _none(f["be"]), _none(f["srv"]),
                   age_seconds(f["age"]), f["age"], _int(f["calls"]), _int(f["cpu"]),
                   _int(f["lat"]), f["exp"] or None, uri[1] if uri else None)


def _streams(lines: list[str]) -> Iterable[Session]:
    """Every stream of either form, in HAProxy's order."""
    cur: Session | None = None
    for line in lines:
        m = _SHORT.match(line)
        if m:
            if cur is not None:
                yield cur
                cur = None
            yield _short(line, m["id"].lower())
            continue
        m = _LONG.match(line)
        if m:
            if cur is not None:
                yield cur
            cur = Session(m["id"].lower(), m["proto"], m["src"])
            continue
        if cur is None:
            continue
        f = _LONG_FIELD.match(line)
        if f:
            name = _none(f[2])
            if f[1] == "frontend":
                cur.frontend = name
            elif f[1] == "backend":
                cur.backend = name
            else:
                cur.server = name
            continue
        a = _LONG_AGE.match(line)
        if a:
            cur.age_text, cur.age = a[1], age_seconds(a[1])
            continue
        if line.startswith("  txn="):
            uri = _URI.search(line)
            if uri:
                cur.uri = uri[1]
    if cur is not None:
        yield cur


def parse_sessions(text: str, *, older: float | None = None, max_rows: int = MAX_ROWS,
                   include_cli: bool = False) -> Sessions:
    """Parse ``show sess`` (one-line form) or ``show sess older N`` (long form).

    *older*: keep only streams at least that many seconds old (HAProxy before 2.9
    ignores ``older``). An error answer raises :class:`ParseError`; an empty answer is
    no stream.
    """
    if classify_error(text) or text.lstrip().startswith(("Unsupported option", "Invalid age")):
        raise fail("show sess", text)
    lines = split_lf(text)
    result = Sessions([], 0, {by: {} for by in GROUP_BY})
    heap: list[tuple[float, int, Session]] = []
    n = seen = 0
    for s in _streams(lines):
        seen += 1
        if s.frontend == "GLOBAL" and not include_cli:
            result.cli_streams += 1
            continue
        if older is not None and (s.age is None or s.age < older):
            continue
        result.total += 1
        for by in GROUP_BY:
            groups = result.groups[by]
            k = s.key(by)
            g = groups.get(k)
            if g is None:
                if len(groups) >= MAX_GROUPS:
                    k = "(other)"
                    g = groups.get(k)
                if g is None:
                    g = groups[k] = Group(k)
            g.add(s)
        n += 1
        item = (s.age if s.age is not None else -1.0, -n, s)
        if len(heap) < max_rows:
            heapq.heappush(heap, item)
        else:
            heapq.heappushpop(heap, item)
            result.left_out += 1
    started = sum(1 for ln in lines if ln.startswith("0x"))
    result.unparsed = max(0, started - seen)
    result.rows = [s for _, _, s in sorted(heap, key=lambda t: (-t[0], -t[1]))]
    return result


def version_tuple(version: str | None) -> tuple[int, int] | None:
    m = re.match(r"^([0-9]{1,3})\.([0-9]{1,3})", version or "")
    return (int(m[1]), int(m[2])) if m else None


def show_sess_command(version: str | None, older: float | None) -> str:
    """The command for HAProxy *version*: ``older`` natively from 2.9 (whole seconds,
    rounded down: the rest is filtered here), ``show-uri`` from 3.1."""
    v = version_tuple(version)
    if older is not None and v is not None and v >= OLDER_SINCE:
        # `show-uri` goes after `older` (3.2 refuses the other order)
        uri = " show-uri" if v >= SHOW_URI_SINCE else ""
        return f"show sess older {int(older)}{uri}"
    if v is not None and v >= SHOW_URI_SINCE:
        return "show sess show-uri"
    return "show sess"


def parse_older(text: str) -> float:
    """``--older 30s`` (``500ms``, ``2m``, ``1h``; no unit: seconds) as seconds."""
    m = re.fullmatch(r"\s*([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*(ms|s|m|h|d)?\s*", str(text))
    if not m:
        raise ValidationError(f"invalid age {visible(str(text))[:40]!r}",
                              hint="give a duration such as 30s, 5m, 1h (no unit: seconds)")
    return float(m[1]) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


__all__ = ["GROUP_BY", "MAX_ROWS", "Group", "Session", "Sessions", "age_seconds",
           "check_session_id", "parse_older", "parse_sessions", "show_sess_command",
           "version_tuple"]
