"""Log lines from a HAProxy ``ring`` read over the stats socket (``show events``).

What the runtime API does (checked on 2.6.12, 2.8.25, 3.0.11, 3.2.0 and 3.4.0):

* ``show events`` lists the event sinks, one per line after a header:
  ``    logs       : type=buffer, 0 dropped, haconsole log ring``. Rings are the
  ``type=buffer`` sinks; ``buf0`` (startup messages) and, from 3.2, ``dpapi`` are
  HAProxy's own, every other one is a ``ring`` section of the configuration.
* ``show events RING`` dumps the ring and ends; ``-w`` then keeps the connection open
  and sends each new line as it is written; ``-n`` skips what the ring already holds.
  The wait ends when the client sends anything or shuts its write side (so the write
  side stays open), and on 2.6 also at the socket's ``stats timeout`` when no line
  came (an empty line, then the close); 2.8+ keep waiting.
* ``No such event sink`` answers an unknown name.
* A reader in wait mode holds its place in the ring: HAProxy does not overwrite lines
  a reader has not read; when the ring is full it refuses new lines instead and counts
  them in the sink's ``N dropped`` (on 3.0+ the listing shows the internal value, twice
  the count plus a "being announced" bit: halved here; 2.9 not checked). As soon as a
  line fits again, HAProxy writes ``N events dropped`` (``1 event dropped``; 3.0+ end
  it with a NUL byte) into the ring, with the usual header, and takes N off the
  counter. The follower turns that line into a :class:`RingNote` ``dropped`` with the
  exact count, and reports the counter growing before that (``dropping``, "so far").
  Any other slow reader of the ring makes HAProxy drop lines too. What a ring lost
  while nobody followed it (overwritten lines) cannot be known.
* After a reload the new worker has a new, empty ring of the same name (a ring is the
  memory of a process). The old worker keeps the connection of a follower open, and
  keeps living until it closes (or ``hard-stop-after``): the follower notices the new
  worker by its pid (``show info``) and moves to it.

:class:`RingFollower` yields :class:`RingLine` and :class:`RingNote` objects. Memory is
bounded: one read of :data:`CHUNK` bytes plus one line of at most *max_line* bytes
(longer lines are cut and marked with :data:`~.parse.OVERLONG`, like the file reader);
nothing is queued: when the consumer is slow, HAProxy's ring holds the lines (and
counts what it drops). After a read that brought a few lines only, the follower waits
:data:`COALESCE` before the next one, so that a steady flow of lines is read in a few
large reads a second rather than one read per line or two (lines come at most that
much later).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple

from console.haproxy.errors import ConnectionLost, HAProxyError, NoSuchObject, ValidationError
from console.haproxy.logs.parse import MAX_LINE
from console.haproxy.logs.reader import LineSplitter
from console.haproxy.logs.syslog import split_header
from console.haproxy.transport import RuntimeClient

CHUNK = 1 << 16
COALESCE = 0.05  # seconds to wait after a read that brought less than COALESCE_BELOW
COALESCE_BELOW = 16_384  # bytes
CHECK_INTERVAL = 2.0  # seconds between checks of the worker's pid and the drop counter
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0)  # then 2 s between attempts
MAX_RECONNECTS = 30  # attempts in a row before giving up
BUILTIN_RINGS = frozenset({"buf0", "dpapi"})
NO_SUCH_SINK = b"No such event sink"
_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SINK_RE = re.compile(r"^\s+(?P<name>\S+)\s+:\s+type=(?P<type>[a-z]+),\s+(?P<dropped>[0-9]+)\s+"
                      r"dropped(?:,\s*(?P<desc>.*))?$")
_PID_RE = re.compile(r"^Pid:\s*([0-9]+)\s*$", re.M)
_VERSION_RE = re.compile(r"^Version:\s*([0-9]+)\.([0-9]+)", re.M)
# HAProxy's own line in the ring after it dropped lines (src/sink.c, 2.6 to 3.4)
_DROPPED_LINE_RE = re.compile(r" ([0-9]{1,10}) events? dropped\x00?")


@dataclass(frozen=True)
class Sink:
    """One line of ``show events``."""

    name: str
    type: str  # buffer (a ring), fd (stdout/stderr)
    dropped: int
    description: str = ""

    @property
    def is_ring(self) -> bool:
        return self.type == "buffer"

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_RINGS


def parse_sinks(text: str) -> list[Sink]:
    """The sinks of a ``show events`` answer (lines that do not look like one are
    ignored: the header, the closing empty line)."""
    out: list[Sink] = []
    for line in text.splitlines():
        m = _SINK_RE.match(line)
        if m:
            out.append(Sink(m["name"], m["type"], int(m["dropped"]), (m["desc"] or "").strip()))
    return out


def user_rings(sinks: list[Sink]) -> list[Sink]:
    """The rings declared in the configuration (not HAProxy's own ``buf0``/``dpapi``)."""
    return [s for s in sinks if s.is_ring and not s.builtin]


def check_ring_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ValidationError(f"invalid ring name {name!r}", "--ring",
                              "letters, digits, '_', '-', '.', ':' (at most 64)")
    return name


async def list_sinks(client: RuntimeClient) -> list[Sink]:
    return parse_sinks(await client.run("show events"))


async def worker_pid(client: RuntimeClient) -> int | None:
    return (await process_info(client))[0]


async def process_info(client: RuntimeClient) -> tuple[int | None, tuple[int, int] | None]:
    """The worker's pid and HAProxy's version (major, minor), from ``show info``."""
    text = await client.run("show info")
    m = _PID_RE.search(text)
    v = _VERSION_RE.search(text)
    return (int(m.group(1)) if m else None,
            (int(v.group(1)), int(v.group(2))) if v else None)


def dropped_count(raw: int, version: tuple[int, int] | None) -> int:
    """The number of dropped lines from ``show events``'s value (halved on 3.0+)."""
    return raw >> 1 if version is not None and version >= (3, 0) else raw


_DROPPED_ENDS = (b"dropped", b"dropped\x00")  # how such a message ends (a cheap test first)


def dropped_announcement(line: bytes) -> int | None:
    """N when *line* is HAProxy's ``N events dropped`` message (after its header)."""
    if len(line) > 512 or not line.endswith(_DROPPED_ENDS):
        return None
    _, message = split_header(line.decode("ascii", "replace"))
    m = _DROPPED_LINE_RE.fullmatch(" " + message)
    return int(m.group(1)) if m else None


class RingLine(NamedTuple):
    """One line of the ring (bytes, without its newline; cut lines end marked).
    ``backlog``: the line was in the ring when the follower started (``new_only``
    false): logged before, not as it happens. (A named tuple: one is made per line, at
    tens of thousands of lines a second.)"""

    data: bytes
    backlog: bool = False


@dataclass(frozen=True)
class RingNote:
    """Something the reader should be told: lines lost, a reload, a reconnection.

    ``lost`` is the number of lines lost when HAProxy tells it, ``None`` when it is
    unknown (``kind == "unknown-loss"``)."""

    kind: str  # "dropped", "dropping", "unknown-loss", "reload", "reconnected"
    text: str
    lost: int | None = None


class RingFollower:
    """Follows the ring *ring* of the HAProxy behind *client* (module docstring).

    *new_only*: start after what the ring holds now (``-n``); else its backlog first.
    :meth:`stop` ends :meth:`follow` at its next step, from any task.
    """

    def __init__(self, client: RuntimeClient, ring: str, *, new_only: bool = True,
                 max_line: int = MAX_LINE, check_interval: float = CHECK_INTERVAL) -> None:
        self.client = client
        self.ring = check_ring_name(ring)
        self.new_only = new_only
        self.max_line = max_line
        self.check_interval = check_interval
        self.splitter = LineSplitter(max_line)
        self.lines = 0
        self.pid: int | None = None
        self.version: tuple[int, int] | None = None
        self.dropped = 0  # lines HAProxy said it dropped (its "N events dropped" lines)
        self._dropped: int | None = None
        self._last: bytes | None = None
        self._stopping = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self.backlog_left = 0  # lines of the ring's backlog still to come on the stream

    def stop(self) -> None:
        self._stopping.set()
        if self._writer is not None:
            self._writer.close()

    async def _dropped_now(self) -> int | None:
        for sink in await list_sinks(self.client):
            if sink.name == self.ring:
                return dropped_count(sink.dropped, self.version)
        return None

    async def check(self) -> None:
        """Raise :class:`NoSuchObject` when the ring is not there (with the rings that are)."""
        sinks = await list_sinks(self.client)
        if any(s.name == self.ring for s in sinks):
            return
        rings = [s.name for s in user_rings(sinks)]
        raise NoSuchObject(f"HAProxy has no ring named {self.ring!r}", self.client.where,
                           "its rings: " + ", ".join(rings) if rings else
                           "it declares no ring: add one with `haconsole config add-log-ring`")

    async def follow(self) -> AsyncIterator[RingLine | RingNote]:
        """The ring's lines and notes one at a time (see :meth:`follow_batches`);
        :attr:`pending` says whether more of the same read follow at once."""
        async for batch in self.follow_batches():
            last = len(batch) - 1
            for i, item in enumerate(batch):
                self.pending = i < last
                yield item
            self.pending = False

    async def follow_batches(self) -> AsyncIterator[list[RingLine | RingNote]]:
        """The ring's lines and notes, a read's worth at a time (a line costs no
        generator step of its own: tens of thousands come a second)."""
        await self.check()
        self.pid, self.version = await process_info(self.client)
        self._dropped = await self._dropped_now()
        mode = "-n" if self.new_only else ""
        skip_until: bytes | None = None
        skip_max = 0
        failures = 0
        # the lines the ring holds now, first on the stream: what was logged before
        self.backlog_left = 0 if self.new_only else await self._held_lines()
        while not self._stopping.is_set():
            try:
                reader, writer = await self.client.open_stream(
                    f"show events {self.ring} -w {mode}".rstrip())
            except HAProxyError:
                failures += 1
                if failures > MAX_RECONNECTS:
                    raise
                await self._sleep(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS)) - 1])
                continue
            self._writer = writer
            self.splitter.reset()
            if failures:
                yield [RingNote("reconnected", f"reconnected to the ring {self.ring}")]
            failures = 0
            first = True
            reload_seen = False
            try:
                async for chunk in self._read(reader, writer):
                    if isinstance(chunk, RingNote):
                        if chunk.kind == "reload":
                            reload_seen = True
                            yield [chunk]
                            break
                        yield [chunk]
                        continue
                    out: list[RingLine | RingNote] = []
                    for line in chunk:
                        if first:
                            first = False
                            if line.startswith(NO_SUCH_SINK):
                                raise NoSuchObject(f"HAProxy has no ring named {self.ring!r}",
                                                   self.client.where, "list them: show events")
                        if not line:
                            continue  # the empty line that ends an answer
                        if self.backlog_left:
                            self.backlog_left -= 1
                            if not line.endswith(_DROPPED_ENDS) or \
                                    dropped_announcement(line) is None:
                                self._last = line
                                self.lines += 1
                                out.append(RingLine(line, True))
                            continue
                        lost = (dropped_announcement(line) if line.endswith(_DROPPED_ENDS)
                                else None)
                        if lost is not None and skip_until is None:
                            self._last = line
                            self.dropped += lost
                            self._dropped = 0
                            out.append(RingNote(
                                "dropped", f"HAProxy dropped {lost} line(s): the ring "
                                f"{self.ring} was full (not read fast enough)", lost))
                            continue
                        if skip_until is not None:
                            if line == skip_until:
                                skip_until = None
                                continue
                            skip_max -= 1
                            if skip_max >= 0:
                                continue
                            skip_until = None
                            out.append(RingNote(
                                "unknown-loss", "the ring moved on while the connection "
                                "was down: how many lines were lost cannot be known"))
                        self._last = line
                        self.lines += 1
                        out.append(RingLine(line))
                    if out:
                        yield out
            finally:
                writer.close()
                self._writer = None
            self.backlog_left = 0  # a new connection: skip_until finds where it stopped
            if self._stopping.is_set():
                return
            # the connection ended: the stats timeout (2.6), a reload, HAProxy stopping
            if reload_seen:
                mode, skip_until = "", None  # the new worker's ring: all of it is new
                continue
            try:
                pid = await worker_pid(self.client)
            except HAProxyError:
                pid = None
            if pid is not None and pid != self.pid:
                self.pid, self._dropped = pid, await self._safe_dropped()
                yield [RingNote("reload", f"HAProxy reloaded: following the ring {self.ring} "
                                f"of the new worker (pid {pid}); lines the old worker logged "
                                "after the connection ended are not read")]
                mode, skip_until = "", None
                continue
            # the same worker: replay its ring and skip up to the last line read (none
            # read yet: only new lines again, a line written in between is missed)
            if self._last is not None:
                mode = ""
                skip_until, skip_max = self._last, await self._backlog_lines()

    pending = False  # more lines of the chunk just read follow at once (batch them)

    @property
    def connected(self) -> bool:
        """Whether the ring's stream is open now (lines written from now on are read)."""
        return self._writer is not None

    async def _safe_dropped(self) -> int | None:
        try:
            return await self._dropped_now()
        except HAProxyError:
            return None

    async def _held_lines(self) -> int:
        """How many lines the ring holds now (0 when it cannot be read)."""
        try:
            text = await self.client.run(f"show events {self.ring}")
        except HAProxyError:
            return 0
        return sum(1 for line in text.split("\n") if line)

    async def _backlog_lines(self) -> int:
        try:
            text = await self.client.run(f"show events {self.ring}")
        except HAProxyError:
            return 0
        return text.count("\n")

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                    ) -> AsyncIterator[list[bytes] | RingNote]:
        """Lines of one connection, a read's worth at a time; every *check_interval*,
        the drop counter and the pid."""
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self.check_interval
        read: asyncio.Task[bytes] | None = None
        try:
            while not self._stopping.is_set():
                if read is None:
                    read = asyncio.ensure_future(reader.read(CHUNK))
                wait = max(0.0, next_check - loop.time())
                done, _ = await asyncio.wait({read}, timeout=wait)
                if done:
                    try:
                        chunk = read.result()
                    except (OSError, asyncio.IncompleteReadError):
                        chunk = b""
                    read = None
                    if not chunk:
                        return
                    lines = self.splitter.feed(chunk)
                    if lines:
                        yield lines
                    if len(chunk) < COALESCE_BELOW:
                        # a few lines: let more come before the next read (a read costs
                        # far more than a line; HAProxy and the socket hold what comes)
                        await self._coalesce(writer)
                if loop.time() >= next_check:
                    next_check = loop.time() + self.check_interval
                    async for note in self._check_process():
                        yield note
        finally:
            if read is not None:
                read.cancel()

    async def _coalesce(self, writer: asyncio.StreamWriter) -> None:
        """Wait :data:`COALESCE` seconds with the connection not read meanwhile: the
        socket holds what HAProxy sends, read at once after (a stream read as it comes
        wakes the event loop for each line or two of a busy ring). A connection paused
        already (the stream's buffer full: its reader resumes it once drained) is left
        as it is: resuming it here would let the buffer grow without bound."""
        transport = writer.transport
        try:
            if not transport.is_reading():  # type: ignore[attr-defined]
                await self._sleep(COALESCE)
                return
            transport.pause_reading()  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):
            await self._sleep(COALESCE)
            return
        try:
            await self._sleep(COALESCE)
        finally:
            try:
                transport.resume_reading()  # type: ignore[attr-defined]
            except (AttributeError, RuntimeError):
                pass

    async def _check_process(self) -> AsyncIterator[RingNote]:
        try:
            pid, version = await process_info(self.client)
            self.version = version or self.version
            dropped = await self._dropped_now()
        except (HAProxyError, ConnectionLost):
            return
        if pid is not None and self.pid is not None and pid != self.pid:
            self.pid, self._dropped = pid, dropped
            yield RingNote("reload", f"HAProxy reloaded: following the ring {self.ring} of "
                           f"the new worker (pid {pid})")
            return
        if dropped is not None and self._dropped is not None and dropped > self._dropped:
            yield RingNote("dropping", f"the ring {self.ring} is full: HAProxy is dropping "
                           f"lines ({dropped} so far; the exact count follows when it "
                           "says it)")
        if dropped is not None:
            self._dropped = dropped
