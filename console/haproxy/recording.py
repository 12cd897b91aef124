"""Recordings of what the console polls, for replay (postmortems, training).

A recording is one append-only file: the magic line ``HACREC1\\n``, then records, each
a fixed frame header and a zlib-compressed JSON payload::

    length:u32  kind:u8  time:f64  flags:u8  crc32:u32  payload[length]

(big-endian; ``crc32`` covers kind, time, flags and the payload). Each record is
written with one ``write``, so a recorder killed at any moment leaves a file readable
up to its last complete record; a record that is cut off, fails its CRC or does not
decode ends the reading there, and the reader says so (:attr:`Recording.damage`).

Kinds: ``H`` the header (format, instance, HAProxy version, start time, interval),
``K`` a keyframe (``show info`` fields and every ``show stat`` line), ``D`` a delta
(the ``show info`` fields that changed, the changed fields of the changed rows),
``F`` a failed poll (its error), ``J`` journal entries, ``M`` the instance's incident
mark set, moved or cleared (from any console on it: the saved mark's JSON, or null),
``L`` the log summaries' buckets (10 s of the console's log windows each, written when
complete: :mod:`console.haproxy.logs.windows`), ``E`` the end (its reason).
Keyframes come every :data:`KEYFRAME_EVERY` seconds and whenever the rows change
(a reload, a server added), so seeking never replays more than that.

The clock columns (``lastchg``, ``downtime``, ``lastsess``), which HAProxy advances by
itself every second on every row, are stored in keyframes and with each row that
changes (a status change resets ``lastchg``, a session ``lastsess`` and moves ``stot``);
in between, the reader advances them by the whole seconds elapsed (``downtime`` while
the row is DOWN, ``lastsess`` once a session was seen), so they are within a second
of HAProxy's. Everything else is exact. The writer recognises a row whose other fields
did not change without splitting it (:class:`LineDiff`), so recording 10k servers
costs a few string comparisons per row and poll.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from console.haproxy.errors import HAProxyError
from console.haproxy.model import Snapshot, SnapshotBuilder
from console.haproxy.parsers import parse_info
from console.haproxy.poller import SocketSource, StatsPageSource
from console.haproxy.statefs import open_nofollow, os_error

if TYPE_CHECKING:
    from console.haproxy.logs.windows import Windows

MAGIC = b"HACREC1\n"
FORMAT = 1
FRAME = struct.Struct(">IBdBI")
MAX_RECORD = 64 << 20  # compressed payload of one record
MAX_DECODED = 256 << 20  # its JSON, decompressed
KEYFRAME_EVERY = 300.0  # seconds
DEFAULT_MAX_BYTES = 2 << 30  # the recorder stops there (a clear message), unless told
CLOCK_COLUMNS = ("lastchg", "downtime", "lastsess")
FLAG_EVENT = 1  # a state changed at this record (a status, the rows, a failure, recovery)

HEADER, KEYFRAME, DELTA, FAILURE, JOURNAL, MARK, LOGS, END = (ord(c) for c in "HKDFJMLE")
KINDS = {HEADER: "header", KEYFRAME: "keyframe", DELTA: "delta", FAILURE: "failure",
         JOURNAL: "journal", MARK: "mark", LOGS: "logs", END: "end"}
POLLS = (KEYFRAME, DELTA, FAILURE)


class RecordingError(HAProxyError):
    """A recording that cannot be written or read."""


def encode(kind: int, at: float, payload: object, flags: int = 0) -> bytes:
    """One record's bytes."""
    data = zlib.compress(json.dumps(payload, separators=(",", ":"),
                                    ensure_ascii=False).encode("utf-8"), 6)
    head = struct.pack(">BdB", kind, at, flags)
    crc = zlib.crc32(data, zlib.crc32(head))
    return FRAME.pack(len(data), kind, at, flags, crc) + data


def decode(data: bytes) -> Any:
    """A record's payload, bounded (a zlib bomb or a JSON too deep is an error)."""
    d = zlib.decompressobj()
    try:
        raw = d.decompress(data, MAX_DECODED)
        if d.unconsumed_tail:
            raise RecordingError(f"a record decompresses to more than {MAX_DECODED >> 20} MiB")
        return json.loads(raw.decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecordingError(f"a record does not decode: {type(exc).__name__}") from None


# --------------------------------------------------------------------------- stat rows

def split_line(line: str) -> list[str]:
    """One CSV line's fields (quoted fields, which HAProxy writes when a value holds a
    comma or a quote, unquoted)."""
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return line.split(",")


def join_row(row: list[str]) -> str:
    """The fields back as a CSV line (quoted where needed: parsed, the same fields)."""
    return ",".join(f if not any(ch in f for ch in ',"\r\n') else
                    '"' + f.replace('"', '""') + '"' for f in row)


def split_stat(text: str) -> tuple[str, list[list[str]]]:
    """``show stat``'s header line and its rows as fields."""
    lines = text.split("\n")
    head = lines[0].rstrip("\r") if lines else ""
    return head, [split_line(line) for line in lines[1:] if line]


def join_stat(head: str, rows: list[list[str]]) -> str:
    return head + "\n" + "".join(join_row(r) + "\n" for r in rows)


def _clock_positions(head: str) -> tuple[int, ...]:
    names = head.lstrip("# ").split(",")
    return tuple(names.index(c) for c in CLOCK_COLUMNS if c in names)


def _status_position(head: str) -> int | None:
    names = head.lstrip("# ").split(",")
    return names.index("status") if "status" in names else None


def _predict(value: str, dt: int, column: int, lastchg: int, downtime: int,
             status: str) -> str:
    """The reader's guess of a clock column after *dt* seconds."""
    digits = value.lstrip("-")
    if not value or not (digits.isascii() and digits.isdigit()):
        return value
    n = int(value)
    if column == lastchg or (column == downtime and status.startswith("DOWN")) or \
            (column not in (lastchg, downtime) and n >= 0):
        return str(n + dt)
    return value


@dataclass
class StatState:
    """The rows as the reader has them (the writer keeps the same, to diff against)."""

    head: str = ""
    rows: list[list[str]] = field(default_factory=list)
    clock: tuple[int, ...] = ()
    status: int | None = None
    lastchg: int = -1
    downtime: int = -1
    at: float = 0.0
    # the reader advances a row's clock columns only when the row changes or a poll is
    # shown: the seconds elapsed in all, and up to which each row has them
    total: int = 0
    synced: list[int] = field(default_factory=list)

    def reset(self, head: str, rows: list[list[str]], at: float) -> None:
        self.head, self.rows, self.at = head, rows, at
        self.total, self.synced = 0, [0] * len(rows)
        self.clock = _clock_positions(head)
        self.status = _status_position(head)
        names = head.lstrip("# ").split(",")
        self.lastchg = names.index("lastchg") if "lastchg" in names else -1
        self.downtime = names.index("downtime") if "downtime" in names else -1

    def advance(self, at: float) -> int:
        """Seconds (whole) from the previous poll, the same on both sides."""
        dt = max(0, round(at) - round(self.at))
        self.at = at
        return dt


class LineDiff:
    """The writer's side: the last answer's lines, and for each the text between its
    clock columns, so that a row whose other fields did not change is recognised
    without splitting it (a few string comparisons); only the rows that changed are
    split and compared field by field.

    A changed row is stored with its changed fields and all its clock columns; the
    clock columns of the other rows are the reader's to advance (see the module)."""

    def __init__(self, head: str, lines: list[str]) -> None:
        self.head = head
        names = head.lstrip("# ").split(",")
        self.clock = _clock_positions(head)
        self.status = _status_position(head)
        groups: list[list[int]] = []
        for c in sorted(self.clock):
            if groups and groups[-1][0] + groups[-1][1] == c:
                groups[-1][1] += 1
            else:
                groups.append([c, 1])
        self.groups = [(g[0], g[1]) for g in groups]
        self.width = len(names)
        self.lines = lines
        self.segs = [self._segments(line) for line in lines]

    def _segments(self, line: str) -> tuple[str, ...] | None:
        """The text around the clock columns (None: not recognisable so)."""
        if '"' in line or not self.groups:
            return None
        fields = line.split(",")
        out: list[str] = []
        prev = 0
        for first, count in self.groups:
            if first + count > len(fields):
                return None
            out.append(("," if prev else "") + ",".join(fields[prev:first]) + ",")
            prev = first + count
        out.append("," + ",".join(fields[prev:]) if prev < len(fields) else "")
        return tuple(out)

    def _same_but_clock(self, new: str, segs: tuple[str, ...]) -> bool:
        pos = 0
        for (_first, count), seg in zip(self.groups, segs, strict=False):
            if not new.startswith(seg, pos):
                return False
            p = pos + len(seg)
            for _ in range(count - 1):
                p = new.find(",", p) + 1
                if not p:
                    return False
            e = new.find(",", p)
            pos = len(new) if e < 0 else e
        tail = segs[-1]
        return len(new) - len(tail) == pos and new.endswith(tail)

    def diff(self, lines: list[str]) -> tuple[list[list[Any]], bool] | None:
        """The changes to *lines*, and whether a status changed; None when a keyframe
        is needed (rows added, removed or moved)."""
        if len(lines) != len(self.lines):
            return None
        out: list[list[Any]] = []
        event = False
        old_lines, segs_of, clock, status = self.lines, self.segs, self.clock, self.status
        same = self._same_but_clock
        for i, new in enumerate(lines):
            old = old_lines[i]
            if new == old:
                continue
            segs = segs_of[i]
            if segs is not None and same(new, segs):
                old_lines[i] = new
                continue
            nf, of = split_line(new), split_line(old)
            if len(nf) != len(of) or nf[0] != of[0] or nf[1] != of[1]:
                return None
            changes = [[c, v] for c, (v, o) in enumerate(zip(nf, of, strict=True))
                       if v != o]
            changes += [[c, nf[c]] for c in clock if nf[c] == of[c]]  # all clock columns
            if status is not None and nf[status] != of[status]:
                event = True
            out.append([i, changes])
            old_lines[i] = new
            segs_of[i] = self._segments(new)
        return out, event


def apply_rows(state: StatState, changes: object, at: float) -> None:
    """The reader's side of :func:`diff_rows` (the changes checked: a hostile file
    raises :class:`RecordingError`)."""
    if not isinstance(changes, list):
        raise RecordingError("a delta's rows are not a list")
    dt = state.advance(at)
    rows = state.rows
    given: dict[int, list[Any]] = {}
    for item in changes:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)
                and 0 <= item[0] < len(rows) and isinstance(item[1], list)):
            raise RecordingError("a delta names a row that is not there")
        given[item[0]] = item[1]
    before = state.total
    state.total += dt
    status = state.status
    for i, ch in given.items():
        row = rows[i]
        catch_up(state, i, before)
        set_cols: set[int] = set()
        for pair in ch:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int)
                    and 0 <= pair[0] < len(row) and isinstance(pair[1], str)):
                raise RecordingError("a delta names a field that is not there")
            row[pair[0]] = pair[1]
            set_cols.add(pair[0])
        st = row[status] if status is not None else ""
        for c in state.clock:
            if c not in set_cols:
                row[c] = _predict(row[c], dt, c, state.lastchg, state.downtime, st)
        state.synced[i] = state.total


def catch_up(state: StatState, i: int, upto: int) -> None:
    """Row *i*'s clock columns advanced to *upto* (its status did not change meanwhile,
    else it would have been caught up then)."""
    pending = upto - state.synced[i]
    if pending and state.clock:
        row = state.rows[i]
        st = row[state.status] if state.status is not None else ""
        for c in state.clock:
            row[c] = _predict(row[c], pending, c, state.lastchg, state.downtime, st)
    state.synced[i] = upto


def caught_up(state: StatState) -> list[list[str]]:
    """Every row with its clock columns up to date (to show a poll)."""
    for i in range(len(state.rows)):
        if state.synced[i] != state.total:
            catch_up(state, i, state.total)
    return state.rows


# --------------------------------------------------------------------------- writing

class RecordingWriter:
    """Appends records to a new file (never an existing one, never through a link).

    :meth:`poll` takes the two answers of a poll; :meth:`close` writes the end record.
    Past *max_bytes* it raises :class:`RecordingFull` (the file stays complete).
    """

    def __init__(self, path: str, *, instance: str, where: str, interval: float,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 keyframe_every: float = KEYFRAME_EVERY) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keyframe_every = keyframe_every
        try:
            fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND,
                               0o600, what="the recording")
        except HAProxyError as exc:
            if os.path.lexists(path):
                raise RecordingError("the recording file exists already", path,
                                     "give a new file name (a recording is never "
                                     "overwritten)") from None
            raise RecordingError(str(exc), path) from None
        self.fd: int | None = fd
        self.size = 0
        self.polls = 0
        self.started = time.time()
        self._mono0 = time.monotonic()
        self.lines: LineDiff | None = None
        self.info: dict[str, str] | None = None
        self._last_key = -1e18
        self._failed = False
        self._instance, self._where, self._interval = instance, where, interval
        self._header_written = False
        self._write_bytes(MAGIC)

    def _write_bytes(self, data: bytes) -> None:
        if self.fd is None:
            raise RecordingError("the recording is closed", self.path)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            raise RecordingError(str(os_error(exc, "cannot write the recording", self.path)),
                                 self.path) from None
        self.size += len(data)

    def _record(self, kind: int, at: float, payload: object, flags: int = 0) -> None:
        data = encode(kind, at, payload, flags)
        if kind != END and self.size + len(data) > self.max_bytes:
            raise RecordingFull(f"the recording reached its size limit "
                                f"({self.max_bytes / (1 << 20):.3g} MiB)", self.path,
                                "give a larger --max-size, or a shorter --duration")
        self._write_bytes(data)

    def _header(self, info: dict[str, str] | None, at: float) -> None:
        self._header_written = True
        self._record(HEADER, at, {
            "format": FORMAT, "instance": self._instance, "where": self._where,
            "version": (info or {}).get("Version", ""), "node": (info or {}).get("node", ""),
            "started": self.started, "interval": self._interval,
            "keyframe_every": self.keyframe_every})

    def poll(self, info_text: str | None, stat_text: str, at: float | None = None,
             mono: float | None = None) -> None:
        at = time.time() if at is None else at
        m = round((time.monotonic() if mono is None else mono) - self._mono0, 3)
        info = parse_info(info_text) if info_text else None
        if not self._header_written:
            self._header(info, at)
        all_lines = stat_text.split("\n")
        head = all_lines[0].rstrip("\r")
        lines = [line for line in all_lines[1:] if line]
        event = self._failed
        self._failed = False
        key = (self.lines is None or at - self._last_key >= self.keyframe_every
               or head != self.lines.head)
        changes = None
        if not key and self.lines is not None:
            found = self.lines.diff(lines)
            if found is None:
                key, event = True, True
            else:
                changes, ev = found
                event = event or ev
        if key or changes is None:
            payload: dict[str, Any] = {"m": m, "info": info, "head": head, "rows": lines}
            self.lines = LineDiff(head, list(lines))
            self._last_key = at
            self.info = info
            self._record(KEYFRAME, at, payload, FLAG_EVENT if event else 0)
        else:
            info_changes: dict[str, str | None] | None = None
            if info is not None and self.info is not None:
                info_changes = {k: v for k, v in info.items() if self.info.get(k) != v}
                info_changes.update({k: None for k in self.info if k not in info})
            elif info is not None:
                info_changes = dict(info)
            self.info = info
            self._record(DELTA, at, {"m": m, "info": info_changes, "rows": changes},
                         FLAG_EVENT if event else 0)
        self.polls += 1

    def failure(self, error: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        if not self._header_written:
            self._header(None, at)
        flag = 0 if self._failed else FLAG_EVENT
        self._failed = True
        self._record(FAILURE, at, {"error": error}, flag)

    def journal(self, entries: list[dict[str, Any]], at: float | None = None) -> None:
        if entries:
            self._record(JOURNAL, time.time() if at is None else at, {"entries": entries},
                         FLAG_EVENT)

    def logs(self, buckets: list[dict[str, Any]], at: float | None = None) -> None:
        """Complete buckets of the log windows (their ``state()``)."""
        if buckets:
            at = time.time() if at is None else at
            if not self._header_written:
                self._header(None, at)
            self._record(LOGS, at, {"buckets": buckets})

    def mark(self, doc: dict[str, Any] | None, at: float | None = None) -> None:
        """The incident mark as saved (:mod:`console.haproxy.marks`), or None: cleared."""
        at = time.time() if at is None else at
        if not self._header_written:
            self._header(None, at)
        self._record(MARK, at, {"mark": doc}, FLAG_EVENT)

    def close(self, reason: str) -> None:
        if self.fd is None:
            return
        try:
            if not self._header_written:
                self._header(None, time.time())
            self._record(END, time.time(), {"reason": reason})
            os.fsync(self.fd)
        except (RecordingError, OSError):
            pass  # what was written stays readable
        finally:
            os.close(self.fd)
            self.fd = None


class RecordingFull(RecordingError):
    """The size limit is reached."""


class JournalTail:
    """The journal entries appended since the recording started (the changes made from
    any console on this instance), read from where the last read stopped."""

    def __init__(self, path: str, instance: str) -> None:
        self.path = path
        self.instance = instance
        try:
            self.offset = os.stat(path).st_size
        except OSError:
            self.offset = 0
        self.pending = b""

    def read(self, limit: int = 1 << 20) -> list[dict[str, Any]]:
        try:
            fd = open_nofollow(self.path, os.O_RDONLY, what="the journal")
        except HAProxyError:
            return []
        try:
            size = os.fstat(fd).st_size
            if size < self.offset:  # rotated or truncated: from its start
                self.offset, self.pending = 0, b""
            os.lseek(fd, self.offset, os.SEEK_SET)
            data = os.read(fd, min(limit, max(0, size - self.offset)))
        except OSError:
            return []
        finally:
            os.close(fd)
        self.offset += len(data)
        data = self.pending + data
        lines = data.split(b"\n")
        self.pending = lines.pop()[-limit:]
        out: list[dict[str, Any]] = []
        for line in lines:
            try:
                entry = json.loads(line.decode("utf-8", errors="replace"))
            except ValueError:
                continue
            if isinstance(entry, dict) and self.wanted(entry):
                out.append(entry)
        return out

    def wanted(self, entry: dict[str, Any]) -> bool:
        """Whether *entry* is one of those read: those of the instance."""
        return entry.get("instance") == self.instance


class MarkWatch:
    """The instance's saved incident mark, watched: set, moved or cleared by any console
    on the instance, each change is returned once by :meth:`changes` (a mark already
    set when the recording starts is its first change). The file is read only when its
    ``stat`` changes; an unusable one is no mark."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._seen: tuple[int, int, int] | None = None
        self._known: tuple[float, str] | None = None

    def changes(self) -> list[dict[str, Any] | None]:
        from console.haproxy import marks

        try:
            st = os.stat(marks.mark_path(self.instance), follow_symlinks=False)
            seen: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except (OSError, HAProxyError):
            seen = None
        if seen == self._seen:
            return []
        self._seen = seen
        try:
            doc = marks.read_doc(self.instance) if seen is not None else None
        except (HAProxyError, OSError):
            doc = None
        known = None if doc is None else (float(doc["wall_time"]),
                                          str(doc.get("label") or ""))
        if known == self._known:
            return []  # saved again (on quit, after a reload): the same mark
        self._known = known
        return [doc]


# --------------------------------------------------------------------------- reading

@dataclass(frozen=True, slots=True)
class Entry:
    """One record of the file's index (its payload read on demand)."""

    kind: int
    at: float
    flags: int
    offset: int
    length: int

    @property
    def event(self) -> bool:
        return bool(self.flags & FLAG_EVENT)


@dataclass
class Frame:
    """What the instance looked like at one poll (or why the poll failed)."""

    at: float
    mono: float
    info_text: str | None
    stat_text: str | None
    error: str | None = None
    index: int = 0
    built: bool = True  # False: the texts are not made yet (FrameReader.build)


class Recording:
    """A recording opened for reading: its header, an index of its records, and whether
    it ends cleanly or where it is damaged."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = open_nofollow(path, os.O_RDONLY, what="the recording", owner_only=False)
        except HAProxyError as exc:
            raise RecordingError(str(exc), path) from None
        self.file: BinaryIO = os.fdopen(fd, "rb")
        self.entries: list[Entry] = []
        self.damage: str | None = None
        self.end_reason: str | None = None
        self.header: dict[str, Any] = {}
        try:
            self._index()
        except BaseException:
            self.file.close()
            raise

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _index(self) -> None:
        f = self.file
        if f.read(len(MAGIC)) != MAGIC:
            raise RecordingError("not a haconsole recording (or a newer format)", self.path)
        offset = len(MAGIC)
        while True:
            head = f.read(FRAME.size)
            if not head:
                break
            if len(head) < FRAME.size:
                self.damage = f"cut off at byte {offset} (an incomplete record)"
                break
            length, kind, at, flags, crc = FRAME.unpack(head)
            if kind not in KINDS or length > MAX_RECORD or not math.isfinite(at):
                self.damage = f"damaged at byte {offset} (not a record)"
                break
            data = f.read(length)
            if len(data) < length:
                self.damage = f"cut off at byte {offset} (an incomplete record)"
                break
            if zlib.crc32(data, zlib.crc32(struct.pack(">BdB", kind, at, flags))) != crc:
                self.damage = f"damaged at byte {offset} (checksum)"
                break
            entry = Entry(kind, at, flags, offset + FRAME.size, length)
            offset += FRAME.size + length
            if kind == HEADER and not self.header:
                payload = decode(data)
                if not isinstance(payload, dict) or payload.get("format") != FORMAT:
                    raise RecordingError("the recording's header is not one this version "
                                         "reads", self.path)
                self.header = payload
                continue
            if kind == END:
                payload = decode(data)
                self.end_reason = str(payload.get("reason", "")) if isinstance(
                    payload, dict) else ""
                continue
            self.entries.append(entry)
        if not self.header:
            raise RecordingError("the recording has no header (empty or damaged)", self.path)

    @property
    def polls(self) -> list[int]:
        """Indexes in :attr:`entries` of the polls (keyframes, deltas, failures)."""
        return [i for i, e in enumerate(self.entries) if e.kind in POLLS]

    @property
    def instance(self) -> str:
        return str(self.header.get("instance", "haproxy"))

    @property
    def started(self) -> float:
        v = self.header.get("started")
        return float(v) if isinstance(v, int | float) else 0.0

    def payload(self, entry: Entry) -> Any:
        self.file.seek(entry.offset)
        return decode(self.file.read(entry.length))

    def frames(self, start: int = 0) -> Iterator[Frame]:
        """Every poll from entry *start* on, rebuilt (start at or before a keyframe)."""
        reader = FrameReader(self)
        for i in range(start, len(self.entries)):
            frame = reader.step(i)
            if frame is not None:
                yield frame

    def keyframe_before(self, index: int) -> int:
        """The last keyframe at or before entry *index* (0 if none)."""
        for i in range(min(index, len(self.entries) - 1), -1, -1):
            if self.entries[i].kind == KEYFRAME:
                return i
        return 0


class FrameReader:
    """Rebuilds the polls of a recording, one entry at a time, forward."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.stat = StatState()
        self.info: dict[str, str] | None = None
        self.keyed = False
        self.journal: list[dict[str, Any]] = []  # the journal entries met on the way
        # the incident marks met on the way: (time, the saved mark's JSON or None)
        self.marks: list[tuple[float, dict[str, Any] | None]] = []
        self.logs: list[Any] = []  # the log buckets met on the way (checked when added)
        self._build = True

    def step(self, index: int, *, build: bool = True) -> Frame | None:
        """Entry *index* applied; the poll it is (None: not a poll). *build*: with its
        texts (else :meth:`build` makes them, before the next step)."""
        entry = self.recording.entries[index]
        self._build = build
        try:
            return self._step(entry, index)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise RecordingError(f"a record does not decode ({type(exc).__name__})",
                                 self.recording.path) from None

    def _step(self, entry: Entry, index: int) -> Frame | None:
        if entry.kind == JOURNAL:
            payload = self.recording.payload(entry)
            found = payload.get("entries") if isinstance(payload, dict) else None
            if isinstance(found, list):
                self.journal += [e for e in found if isinstance(e, dict)]
            return None
        if entry.kind == MARK:
            payload = self.recording.payload(entry)
            mark = payload.get("mark", False) if isinstance(payload, dict) else False
            if mark is not None and not isinstance(mark, dict):
                raise RecordingError("a mark record is neither a mark nor null")
            self.marks.append((entry.at, mark))
            return None
        if entry.kind == LOGS:
            payload = self.recording.payload(entry)
            found = payload.get("buckets") if isinstance(payload, dict) else None
            if not isinstance(found, list):
                raise RecordingError("a logs record holds no buckets")
            self.logs += found
            return None
        if entry.kind == FAILURE:
            payload = self.recording.payload(entry)
            error = payload.get("error") if isinstance(payload, dict) else None
            return Frame(entry.at, 0.0, None, None, str(error or "poll failed"), index)
        if entry.kind == KEYFRAME:
            p = self.recording.payload(entry)
            if not isinstance(p, dict):
                raise RecordingError("a keyframe is not an object")
            self.info = _info_of(p.get("info"))
            head, rows = p["head"], p["rows"]
            if not isinstance(head, str) or not isinstance(rows, list) or \
                    not all(isinstance(r, str) for r in rows):
                raise RecordingError("a keyframe's rows are not text")
            self.stat.reset(head, [split_line(r) for r in rows], entry.at)
            self.keyed = True
            return self._frame(entry, p, index)
        if entry.kind == DELTA:
            if not self.keyed:
                return None  # started past a keyframe: nothing to apply to yet
            p = self.recording.payload(entry)
            if not isinstance(p, dict):
                raise RecordingError("a delta is not an object")
            changes = p.get("info")
            if isinstance(changes, dict):
                info = dict(self.info or {})
                for k, v in changes.items():
                    if v is None:
                        info.pop(k, None)
                    elif isinstance(v, str):
                        info[str(k)] = v
                self.info = info
            apply_rows(self.stat, p.get("rows"), entry.at)
            return self._frame(entry, p, index)
        return None

    def _frame(self, entry: Entry, p: dict[str, Any], index: int) -> Frame:
        m = p.get("m")
        mono = float(m) if isinstance(m, int | float) else entry.at
        frame = Frame(entry.at, mono, None, None, None, index, built=False)
        return self.build(frame) if self._build else frame

    def build(self, frame: Frame) -> Frame:
        """*frame*'s texts, from the state as it is (the frame's, if nothing was
        stepped since)."""
        info_text = None if self.info is None else "".join(
            f"{k}: {v}\n" for k, v in self.info.items())
        return Frame(frame.at, frame.mono, info_text,
                     join_stat(self.stat.head, caught_up(self.stat)), None, frame.index)


def _info_of(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RecordingError("a keyframe's info is not text")
    return {str(k): v for k, v in value.items()}


# --------------------------------------------------------------------------- replay

SPEEDS = (1, 10, 60)


class ReplaySource:
    """The poller's :class:`~console.haproxy.poller.Source` on a recording: each fetch
    returns the poll recorded at the replay clock (which runs at 1×, 10× or 60×, or is
    paused); a recorded failure is raised as it was. Forward only."""

    def __init__(self, recording: Recording, *, speed: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recording = recording
        self.where = f"recording {recording.path}"
        self.polls = recording.polls
        if not self.polls:
            raise RecordingError("the recording holds no poll", recording.path)
        self.speed = speed if speed in SPEEDS else 1
        self.playing = True
        self.ended = False
        self.clock = clock
        self.position = recording.entries[self.polls[0]].at
        self._real: float | None = None
        self._reader = FrameReader(recording)
        self._next = 0  # next entry to read
        self._jumped = -1  # the record the last jump went to
        self.frame: Frame | None = None
        self.snapshot: Snapshot | None = None
        self._built_for = -1
        self._builder = SnapshotBuilder()
        self.damage: str | None = recording.damage  # where reading stops, when it does
        self.journal: list[dict[str, Any]] = []  # entries met since the last take
        self.marks: list[tuple[float, dict[str, Any] | None]] = []  # likewise, marks
        self.logs: list[Any] = []  # and log buckets

    # -- controls
    def toggle(self) -> bool:
        """Play or pause (at the end: from the start is not offered; stays paused)."""
        self._tick()
        self.playing = not self.playing and not self.ended
        return self.playing

    def next_speed(self) -> int:
        self._tick()
        self.speed = SPEEDS[(SPEEDS.index(self.speed) + 1) % len(SPEEDS)]
        return self.speed

    def next_event(self) -> float | None:
        """Moves to the next poll that changed a state (a status, the rows, a failure,
        a journal entry), paused there; its time, or None if there is none."""
        return self._jump(lambda e: e.event)

    def _jump(self, wanted: Callable[[Entry], bool]) -> float | None:
        """To the next record *wanted* past what is shown (and past the last jump)."""
        self._tick()
        after = self.frame.index if self.frame is not None else -1
        start = max(after + 1, self._next, self._jumped + 1)
        for i in range(start, len(self.recording.entries)):
            e = self.recording.entries[i]
            if wanted(e):
                self.position = max(self.position, e.at)
                self.playing = False
                self._jumped = i
                return e.at
        return None

    def next_mark(self) -> float | None:
        """Moves to the next incident mark set or cleared, paused there; its time, or
        None if there is none."""
        return self._jump(lambda e: e.kind == MARK)

    def label(self) -> str:
        """``▶ replay 10× 03:12:44`` (the recorded time), for the header."""
        at = self.frame.at if self.frame is not None else self.position
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
        if self.ended:
            state = "■ replay ended"
        elif self.playing:
            state = f"▶ replay {self.speed}×"
        else:
            state = f"‖ replay paused ({self.speed}×)"
        return f"{state} {stamp}"

    def take_journal(self) -> list[dict[str, Any]]:
        out, self.journal = self.journal, []
        return out

    def take_marks(self) -> list[tuple[float, dict[str, Any] | None]]:
        out, self.marks = self.marks, []
        return out

    def take_logs(self) -> list[Any]:
        out, self.logs = self.logs, []
        return out

    # -- the source
    def _tick(self) -> None:
        now = self.clock()
        if self.playing and self._real is not None:
            self.position += (now - self._real) * self.speed
        self._real = now

    def _seek(self) -> None:
        entries = self.recording.entries
        # far ahead: start from the last keyframe before the target rather than
        # applying every delta on the way
        target = self._next
        while target < len(entries) and entries[target].at <= self.position:
            target += 1
        try:
            if target > self._next + 1:
                key = self.recording.keyframe_before(target - 1)
                if key > self._next:
                    # the polls on the way are skipped, not what was done meanwhile
                    for i in range(self._next, key):
                        if entries[i].kind in (JOURNAL, MARK, LOGS):
                            self._next = i
                            self._reader.step(i, build=False)
                    self._next = key
                    self._reader.keyed = False
            while self._next < len(entries) and entries[self._next].at <= self.position:
                frame = self._reader.step(self._next, build=False)
                self._next += 1
                if frame is not None:
                    self.frame = frame
        except RecordingError as exc:
            stamp = time.strftime("%H:%M:%S", time.localtime(entries[self._next].at))
            self.damage = f"{exc.what} (at {stamp}); replayed up to there"
            self._next = len(entries)
        if self.frame is not None and not self.frame.built and self.frame.error is None:
            self.frame = self._reader.build(self.frame)
        self.journal += self._reader.journal
        self._reader.journal = []
        self.marks += self._reader.marks
        self._reader.marks = []
        self.logs += self._reader.logs
        self._reader.logs = []
        if self._next >= len(entries):
            self.ended = True
            self.playing = False

    async def fetch(self) -> Snapshot:
        self._tick()
        self._seek()
        frame = self.frame
        if frame is None:
            raise RecordingError("nothing recorded yet at this time", self.where)
        if frame.error is not None or frame.stat_text is None:
            raise ReplayedFailure(frame.error or "poll failed", self.where)
        if self._built_for != frame.index or self.snapshot is None:
            self.snapshot = await asyncio.to_thread(
                self._builder.build, frame.info_text, frame.stat_text,
                taken_at=frame.mono, wall_time=frame.at)
            self._built_for = frame.index
        return self.snapshot


class ReplayedFailure(HAProxyError):
    """A poll that failed when it was recorded."""


class RecordingSource:
    """A live source whose answers are also written to a recording (the console's
    ``--record FILE``). A recording that cannot go on (its size limit, a full disk)
    stops, once, with *on_stop*'s message; the console keeps running."""

    def __init__(self, inner: SocketSource | StatsPageSource, writer: RecordingWriter,
                 *, journal: JournalTail | None = None, marks: MarkWatch | None = None,
                 logs: Callable[[], Windows | None] | None = None,
                 on_stop: Callable[[str], None] | None = None) -> None:
        self.inner, self.writer, self.journal, self.marks = inner, writer, journal, marks
        self.logs = logs  # the console's log windows, when it has some
        self._logs_serial = 0  # the last bucket written
        self.where = inner.where
        self.on_stop = on_stop or (lambda message: None)
        self.stopped: str | None = None
        self._told = False
        self._lock = threading.Lock()
        if isinstance(inner, StatsPageSource):
            page_parse = inner.parse

            def parse_page(text: str, taken_at: float) -> Snapshot:
                self._write(None, text, taken_at)
                return page_parse(text, taken_at)

            inner.parse = parse_page  # type: ignore[method-assign]
        else:
            socket_parse = inner.parse

            def parse_socket(info_text: str, stat_text: str, taken_at: float) -> Snapshot:
                self._write(info_text, stat_text, taken_at)
                return socket_parse(info_text, stat_text, taken_at)

            inner.parse = parse_socket  # type: ignore[method-assign]

    def _write(self, info_text: str | None, stat_text: str, taken_at: float) -> None:
        with self._lock:
            if self.stopped is not None:
                return
            try:
                self.writer.poll(info_text, stat_text, mono=taken_at)
                if self.journal is not None:
                    self.writer.journal(self.journal.read())
                if self.marks is not None:
                    for doc in self.marks.changes():
                        self.writer.mark(doc)
                self._write_logs(final=False)
            except HAProxyError as exc:
                self._stop(exc)

    def _write_logs(self, *, final: bool) -> None:
        windows = self.logs() if self.logs is not None else None
        if windows is None or not windows.buckets:
            return
        take = windows.newest_state if final else windows.closed_states
        states, self._logs_serial = take(self._logs_serial)
        self.writer.logs(states)

    def _stop(self, exc: HAProxyError) -> None:
        self.stopped = f"recording stopped: {exc}"
        self.writer.close("size limit reached" if isinstance(exc, RecordingFull)
                          else f"stopped: {exc.what}")

    async def fetch(self) -> Snapshot:
        try:
            return await self.inner.fetch()
        except HAProxyError as exc:
            with self._lock:
                if self.stopped is None:
                    try:
                        self.writer.failure(str(exc))
                    except HAProxyError as write_exc:
                        self._stop(write_exc)
            raise
        finally:
            if self.stopped is not None and not self._told:
                self._told = True
                self.on_stop(self.stopped)

    def close(self, reason: str) -> None:
        with self._lock:
            if self.stopped is None:
                self.stopped = reason
                try:
                    self._write_logs(final=True)
                except HAProxyError:
                    pass  # the polls written stay readable
                self.writer.close(reason)
