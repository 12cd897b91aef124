"""The console's own log reader: the instance's logs followed for as long as the console
runs, feeding the live summaries (:class:`~.windows.Windows`) behind the triage screen
(``w``), the summary screen and the incident export.

Sources, the first given:

* a log file (``--log-file PATH``), followed across rotation and truncation
  (:class:`~.reader.Follower`), from its end;
* journald (``--log-journal UNIT``): ``journalctl -u UNIT -o cat -f -n 0``;
* else the ring the logs screen would read (the instance's only user ring, else the
  first one declared) with :class:`~.ring.RingFollower`: the lines it holds already
  (its backlog) are kept as they are, unparsed, for the logs screen (:attr:`recent`)
  and not counted in the windows; the lines written from then on are.

With no source it stays idle and says why (:attr:`LogCollector.state`,
:attr:`LogCollector.why`): the triage screen then works from the counters alone and
says so. Listeners (:meth:`LogCollector.listen`) get every parsed batch: the logs
screen shows what the collector reads through them (the last :data:`RECENT` lines,
then each batch), so a line is read and parsed once however many views show it.

Parsing runs on the event loop in bounded slices: after :data:`SLICE` lines the
collector yields to the loop so a key press is never behind more than one slice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable

from console.haproxy.errors import HAProxyError
from console.haproxy.logs.parse import LineParser, Result
from console.haproxy.logs.ring import RingFollower, RingNote, list_sinks, user_rings
from console.haproxy.logs.windows import Windows
from console.haproxy.safe_text import visible
from console.haproxy.transport import RuntimeClient

log = logging.getLogger("haconsole.logs")

SLICE = 200  # lines parsed between two yields to the event loop
RECENT = 5000  # the last lines read, kept as read (for a logs screen opened later)
BUDGET = 0.35  # of each second, at most this much spent on lines (then wait)
FILE_POLL = 0.25  # seconds between two reads of a followed file
Listener = Callable[[list[Result]], None]


class LogCollector:
    """Follows *client*'s ring into :attr:`windows` (see the module docstring)."""

    def __init__(self, client: RuntimeClient | None, parser_factory: Callable[[], LineParser],
                 *, ring: str | None = None, windows: Windows | None = None,
                 log_file: str | None = None, journal_unit: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.log_file = log_file
        self.journal_unit = journal_unit
        self.listeners: list[Listener] = []
        self._connected = False
        self.parser_factory = parser_factory
        self.ring = ring
        self.windows = windows if windows is not None else Windows(clock=clock)
        self.clock = clock
        self.state = "starting"  # starting | following | no-ring | stopped
        self.why = ""
        self.notes: list[str] = []
        self.total = 0
        self.unparsed = 0
        self.dropped = 0
        self._follower: RingFollower | None = None
        self._stopped = False
        self._second = time.perf_counter()
        self._spent = 0.0
        self.throttled = 0  # seconds cut short by the budget
        self.recent: deque[bytes] = deque(maxlen=RECENT)
        self._replayed: str | None = None

    @property
    def following(self) -> bool:
        """Reading the source now: lines written from now on are counted."""
        if self.state != "following":
            return False
        follower = self._follower
        return follower.connected if follower is not None else self._connected

    def replayed(self, where: str) -> None:
        """Fed by a recording (its windows filled with :meth:`Windows.add_state`), not
        by a source: says so, and counts as following."""
        self.state, self._connected, self._replayed = "following", True, where

    @property
    def caught_up(self) -> bool:
        """Following, and the ring's backlog read (:attr:`recent` holds it)."""
        follower = self._follower
        return self.state == "following" and (
            self.client is None or self.log_file is not None or self.journal_unit is not None
            or (follower is not None and follower.connected and not follower.backlog_left))

    @property
    def source(self) -> str:
        """Where the lines come from, in words."""
        if self._replayed is not None:
            return f"the log summaries of {visible(self._replayed)}"
        if self.log_file is not None:
            return f"file {visible(self.log_file)}"
        if self.journal_unit is not None:
            return f"journald unit {visible(self.journal_unit)}"
        return f"ring {visible(self.ring or '?')}"

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call *listener* with every batch of parsed lines; returns how to stop."""
        self.listeners.append(listener)

        def stop() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)
        return stop

    def describe(self) -> str:
        """One line: where the logs come from, or why there are none."""
        if self.state == "following":
            lost = f", {self.dropped:,} lost by the ring" if self.dropped else ""
            if self._replayed is not None:
                return (f"logs: {self.source}, {self.windows.lines:,} lines so far "
                        "(each 10 s shown once complete)")
            return (f"logs: {self.source}, {self.total:,} lines since "
                    f"the console started{lost}")
        if self.state == "starting":
            return "logs: looking for a ring…"
        return f"logs: none ({self.why})" if self.why else "logs: none"

    def stop(self) -> None:
        self._stopped = True
        if self._follower is not None:
            self._follower.stop()

    async def run(self) -> None:
        """Follow until stopped; never raises (the reason is kept in :attr:`why`)."""
        try:
            if self.log_file is not None:
                await self._run_file(self.log_file)
                return
            if self.journal_unit is not None:
                await self._run_journal(self.journal_unit)
                return
        except HAProxyError as exc:
            self._idle("stopped", f"reading {self.source} stopped: {exc}"
                       + (f" — {exc.hint}" if exc.hint else ""))
            return
        except Exception as exc:  # noqa: BLE001 - kept as the reason, logged in full
            log.exception("following %s", self.source)
            self._idle("stopped", f"reading {self.source} stopped after an internal error: "
                       f"{type(exc).__name__}: {exc}")
            return
        await self._run_ring()

    def _take(self, parser: LineParser, lines: list[bytes]) -> None:
        """Parse *lines* into the windows and hand them to the listeners."""
        if not lines:
            return
        started = time.perf_counter()
        windows = self.windows
        batch = parser.parse_many(lines, self.total + 1)
        self.total += len(lines)
        self.recent.extend(lines)
        for result in batch:
            if not result.ok and not getattr(result, "event", False):
                self.unparsed += 1
        windows.add_many(batch, self.clock())
        for listener in list(self.listeners):
            listener(batch)
        self._spent += time.perf_counter() - started

    async def _budget(self) -> None:
        """Yield to the event loop; past :data:`BUDGET` of a second spent on lines in
        this second, wait for the next one (HAProxy's ring holds the lines meanwhile, and
        counts what it has to drop: the console stays responsive at any log rate)."""
        now = time.perf_counter()
        if now - self._second >= 1.0:
            self._second, self._spent = now, 0.0
        if self._spent > BUDGET:
            self.throttled += 1
            await asyncio.sleep(max(0.0, 1.0 - (now - self._second)))
            self._second, self._spent = time.perf_counter(), 0.0
        else:
            await asyncio.sleep(0)

    async def _run_file(self, path: str) -> None:
        from console.haproxy.errors import NotFound
        from console.haproxy.logs.reader import Follower

        if not os.path.exists(path):
            raise NotFound(f"no log file {path}", path,
                           "check the path given to --log-file (it is followed once it "
                           "appears)")
        if not os.access(path, os.R_OK):
            raise NotFound(f"cannot read the log file {path}: permission denied", path,
                           "run as a user who can read it (often the adm group)")
        follower = Follower(path)
        parser = self.parser_factory()
        self.state, self._connected = "following", True
        try:
            while not self._stopped:
                lines = follower.poll()
                for start in range(0, len(lines), SLICE):
                    self._take(parser, lines[start:start + SLICE])
                    await self._budget()
                await asyncio.sleep(FILE_POLL)
        finally:
            follower.close()
        self._idle("stopped", "the console stopped following the file")

    async def _run_journal(self, unit: str) -> None:
        from console.haproxy.errors import NotFound
        from console.haproxy.logs.journal import journal_argv
        from console.haproxy.logs.reader import LineSplitter

        argv = journal_argv(unit, follow=True)
        exe = shutil.which(argv[0])
        if exe is None:
            raise NotFound("journalctl is not installed here (no systemd journal to read)",
                           "--log-journal", "give the log file instead (--log-file PATH)")
        proc = await asyncio.create_subprocess_exec(
            exe, *argv[1:], stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        parser = self.parser_factory()
        splitter = LineSplitter()
        self.state, self._connected = "following", True
        try:
            while not self._stopped:
                chunk = await proc.stdout.read(1 << 16)
                if not chunk:
                    break
                lines = splitter.feed(chunk)
                for start in range(0, len(lines), SLICE):
                    self._take(parser, lines[start:start + SLICE])
                    await self._budget()
            if not self._stopped:
                err = (await proc.stderr.read(4096)).decode("utf-8", "replace").strip()
                rc = await proc.wait()
                raise NotFound(f"journalctl ended (exit {rc})", " ".join(argv),
                               visible(err.splitlines()[0]) if err else None)
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except TimeoutError:
                    proc.kill()
        self._idle("stopped", "the console stopped following journald")

    async def _run_ring(self) -> None:
        if self.client is None:
            self._idle("no-ring", "no stats socket")
            return
        try:
            if self.ring is None:
                rings = user_rings(await list_sinks(self.client))
                if not rings:
                    self._idle("no-ring", "this HAProxy declares no ring: "
                               "`haconsole config add-log-ring` adds one")
                    return
                self.ring = rings[0].name
            parser = self.parser_factory()
            self.state = "following"
            follower = self._follower = RingFollower(self.client, self.ring, new_only=False)
            recent = self.recent
            async for items in follower.follow_batches():
                if self._stopped:
                    break
                batch: list[bytes] = []
                for item in items:
                    if isinstance(item, RingNote):
                        self._note(item)
                    elif item.backlog:
                        recent.append(item.data)
                    else:
                        batch.append(item.data)
                for start in range(0, len(batch), SLICE):
                    if self._stopped:
                        break
                    self._take(parser, batch[start:start + SLICE])
                    await self._budget()
        except HAProxyError as exc:
            self._idle("stopped", f"following the ring {self.ring} stopped: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - kept as the reason, logged in full
            log.exception("following the ring %s", self.ring)
            self._idle("stopped", f"following the ring {self.ring} stopped after an internal "
                       f"error: {type(exc).__name__}: {exc}")
            return
        self._idle("stopped", "the console stopped following the ring")

    def _idle(self, state: str, why: str) -> None:
        self.state = state
        self.why = visible(why)

    def _note(self, note: RingNote) -> None:
        if note.kind == "dropped" and note.lost:
            self.dropped += note.lost
        if len(self.notes) >= 20:
            del self.notes[0]
        self.notes.append(visible(note.text))
