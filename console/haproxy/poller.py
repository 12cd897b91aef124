"""The refresh loop: one async poller per instance.

The next poll is scheduled when the last one ends, so polls never pile up.
A failure keeps the last good snapshot (the UI marks it stale) and retries
with exponential backoff. When a poll takes longer than the interval, the
interval is stretched and the poller says so, rather than falling behind.

A poll has a deadline: past it, the poll is abandoned and counts as a failure.
Before that, a poll that is late (longer than the interval and than twice the
last one) already turns the status to stale, so the screen never says "live"
over numbers that stopped moving.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from console.haproxy.errors import HAProxyError, NoSuchObject, Timeout
from console.haproxy.events import Event, connection_event, diff, initial_events
from console.haproxy.limits import DEFAULT_INTERVAL, TIMEOUT_HINT
from console.haproxy.limits import current as current_limits
from console.haproxy.model import ProcessInfo, Release, Row, Snapshot, SnapshotBuilder
from console.haproxy.parsers import parse_info
from console.haproxy.partial_poll import (
    FIRST_LOOK_SERVERS,
    SWEEP,
    PartialState,
    Plan,
    cadence,
    joined,
    merge,
    plan,
    serving_servers,
    sweep_due,
)
from console.haproxy.transport import RuntimeClient

if TYPE_CHECKING:
    from console.haproxy.ssh import SSHNode

BACKOFF_MAX = 30.0
PARSE_IN_THREAD_BYTES = 256 * 1024  # parse big answers off the event loop
FIRST_LOOK_PAINT = 0.3
"""Seconds left to the screen to show a first look before every server is read (the
read and its parse would hold the event loop and the GIL while it paints)."""


def default_deadline() -> float:
    """A poll's deadline: twice an exchange's (each exchange of a poll has its own
    deadline; the rest is for parsing a big answer)."""
    return 2 * current_limits().timeout


class Source(Protocol):
    """What the poller reads. A source may also have ``period(interval) -> float |
    None``: a shorter time between two polls' starts that it needs (see
    :meth:`SocketSource.period`)."""

    where: str

    async def fetch(self) -> Snapshot: ...


class SocketSource:
    """``show info`` + ``show stat`` over the stats socket.

    On a large instance (:data:`~console.haproxy.partial_poll.PARTIAL_FROM_ROWS` rows
    or more) whose rows on screen are known (:attr:`visible`), most polls read only
    what the screen needs and what says a server changed state, and a full ``show
    stat`` comes at a slow cadence (:mod:`console.haproxy.partial_poll`). A source
    whose answers are recorded (its ``parse`` wrapped) always reads everything: the
    recording keeps whole answers.
    """

    # rows' values given back to their lines once shown (see model.Release): one
    # instance's quiet rows cost little; a fleet node's rows are all read at each refresh
    RELEASE = True

    def __init__(self, client: RuntimeClient) -> None:
        self.client = client
        self.where = str(client.address)
        release = Release() if self.RELEASE else None
        self.builder = SnapshotBuilder(release)  # reuses the rows that did not change
        # A poll abandoned at its deadline may leave a parse running in its thread:
        # the next parse waits for it rather than sharing the builder.
        self._building = threading.Lock()
        # the keys of the rows on screen (None: everything is needed now); set by the UI
        self.visible: Callable[[], Collection[tuple[str, str]] | None] | None = None
        self.partial = PartialState(release=release)
        self._period: float | None = None  # the poller's time between polls, when told
        self.looked = False  # the first poll's sweep was read (see _first_look_due)
        self.first_look_from = FIRST_LOOK_SERVERS

    def period(self, interval: float) -> float | None:
        """The time the poller should leave between two polls' starts (None: its
        interval): shorter on a large instance at about 1 s (see
        :func:`~console.haproxy.partial_poll.cadence`)."""
        large = self._for_screen() and self.partial.wanted()
        self._period = cadence(interval) if large else None
        return self._period

    async def fetch(self) -> Snapshot:
        taken = time.monotonic()
        shown = self._shown()
        if shown is not None:
            return await self._fetch_partial(taken, shown)
        if self._first_look_due():
            self.looked = True
            info_text, sweep_text = await asyncio.gather(self.client.run("show info"),
                                                         self.client.run(SWEEP))
            sweep = await self._rows(self.partial.sweep, sweep_text)
            serving = serving_servers(sweep)
            if serving >= self.first_look_from:
                return Snapshot(taken, time.time(), ProcessInfo.from_info(parse_info(info_text)),
                                sweep, first_look=serving)
        info_text, stat_text = await asyncio.gather(self.client.run("show info"),
                                                    self.client.run("show stat"))
        snap = await self._parse_full(info_text, stat_text, taken)
        self.partial.after_full(snap, taken, time.monotonic() - taken, "full poll")
        return snap

    async def _parse_full(self, info_text: str, stat_text: str, taken: float) -> Snapshot:
        if len(stat_text) > PARSE_IN_THREAD_BYTES or self._building.locked():
            return await asyncio.to_thread(self.parse, info_text, stat_text, taken)
        return self.parse(info_text, stat_text, taken)

    def _for_screen(self) -> bool:
        """The UI tells which rows are on screen (:attr:`visible`) and the answers are
        not recorded (a recording keeps whole answers): polls may read less."""
        return self.visible is not None and "parse" not in vars(self)

    def _first_look_due(self) -> bool:
        """The first poll of a console (the UI tells :attr:`visible`) whose answers are
        not recorded: the sweep comes first, and a large instance is shown from it."""
        return not self.looked and self._for_screen() and self.partial.last is None

    def _shown(self) -> Collection[tuple[str, str]] | None:
        """The rows on screen when this poll may be partial, else None."""
        visible = self.visible
        if visible is None or not self._for_screen() or not self.partial.wanted():
            return None
        return visible()

    async def _fetch_partial(self, taken: float,
                             shown: Collection[tuple[str, str]]) -> Snapshot:
        """One poll of a large instance (see :mod:`console.haproxy.partial_poll`): never
        two dumps at once, a full one when due or when the answers do not fit.

        Unless a full dump is due by the time, the poll is known to be partial before
        ``show info`` answers (a reload then makes it full after all): ``show info``
        is sent in one exchange with the sweep when one is due, else with the
        proxies on screen (:meth:`RuntimeClient.run_batch`): one or two exchanges
        per poll."""
        state = self.partial
        prev = state.last
        sweeping = sweep_due(taken - state.swept_at, self._period)
        first = ["show info"]
        early: Plan | None = None  # the plan of a poll without a sweep, made at once
        if prev is not None and state.full_due(taken, None) is None:
            if sweeping:
                first.append(SWEEP)
            else:
                early = plan(prev, None, shown, taken - prev.taken_at, state.layout)
                if early is not None:
                    first += early.commands
        answers = await self._batch(first)
        if answers is None:
            info_text = await self.client.run("show info")
            reason: str | None = "answers that do not fit"
        else:
            info_text = answers[0]
            reason = None
        info = ProcessInfo.from_info(parse_info(info_text))
        reason = state.full_due(taken, info.pid) or reason
        if reason is None and prev is not None and answers is not None:
            sweep: tuple[Row, ...] | None = None
            texts: list[str] | None
            if len(first) > 1 and first[1] == SWEEP:
                sweep = await self._rows(state.sweep, answers[1])
                todo = plan(prev, sweep, shown, taken - prev.taken_at, state.layout)
                texts = None
                if todo is not None and not todo.most_moved:
                    texts = await self._batch(todo.commands)
            else:
                todo, texts = early, answers[1:]
            reason = "proxies added or gone"
            if todo is not None and todo.most_moved:
                reason, todo = "most servers moved", None
            if todo is not None:
                text = joined(texts) if texts else None
                fresh = await self._rows(state.shown, text) if text is not None else ()
                snap = None if texts is None or (texts and text is None) else merge(
                    prev, (*(sweep or ()), *fresh), todo.expected, info=info,
                    taken_at=taken, wall_time=time.time(),
                    positions=state.layout.positions if state.layout else None)
                if snap is not None:
                    state.after_partial(snap)
                    if sweep is not None:
                        state.swept_at, state.sweeps = taken, state.sweeps + 1
                    return snap
                reason = "rows added or gone"
        started = time.monotonic()
        snap = await self._parse_full(info_text, await self.client.run("show stat"), taken)
        state.after_full(snap, started, time.monotonic() - started, reason or "")
        return snap

    async def _batch(self, commands: list[str]) -> list[str] | None:
        """The answers of *commands*, in one exchange (see ``RuntimeClient.run_batch``),
        or None when they do not fit: one per command, or a proxy gone ("No such
        proxy.")."""
        try:
            return await self.client.run_batch(commands)
        except NoSuchObject:
            return None

    async def _rows(self, builder: SnapshotBuilder, text: str) -> tuple[Row, ...]:
        """``builder``'s rows of one answer (off the event loop when it is big)."""
        def build() -> tuple[Row, ...]:
            with self._building:
                return builder.rows(text)

        if len(text) > PARSE_IN_THREAD_BYTES or self._building.locked():
            return await asyncio.to_thread(build)
        return build()

    def parse(self, info_text: str, stat_text: str, taken_at: float) -> Snapshot:
        """Build the snapshot from the two answers (on the event loop or in a thread;
        never two at once)."""
        with self._building:
            return self.builder.build(info_text, stat_text, taken_at=taken_at)


class NodeSource(SocketSource):
    """A :class:`SocketSource` whose socket is forwarded from a node over SSH: after a
    failed poll, the connection is checked and opened again before the next one (the
    poller's backoff spaces the tries)."""

    RELEASE = False

    def __init__(self, client: RuntimeClient, node: SSHNode) -> None:
        super().__init__(client)
        self.node = node
        self.where = f"{node.label}: {client.address}"
        self._failed = False

    async def fetch(self) -> Snapshot:
        if self._failed:
            await asyncio.to_thread(self.node.ensure)
        try:
            snap = await super().fetch()
        except BaseException:
            self._failed = True
            raise
        self._failed = False
        return snap


class StatsPageSource:
    """The stats page's ``;csv`` (no ``show info`` there)."""

    def __init__(self, page: object) -> None:
        self.page = page
        self.where = str(getattr(page, "url", "stats page"))
        self.builder = SnapshotBuilder()
        self._building = threading.Lock()

    async def fetch(self) -> Snapshot:
        taken = time.monotonic()
        text = await self.page.fetch_csv()  # type: ignore[attr-defined]
        return await asyncio.to_thread(self.parse, text, taken)

    def parse(self, text: str, taken_at: float) -> Snapshot:
        with self._building:
            return self.builder.build(None, text, taken_at=taken_at)


@dataclass
class PollStatus:
    """What the header shows about the connection."""

    state: str = "connecting"  # connecting | live | stale | disconnected | paused
    last_ok: float | None = None  # monotonic time of the last good poll
    last_error: str | None = None
    retry_in: float | None = None
    failures: int = 0
    interval: float = DEFAULT_INTERVAL  # the effective interval (stretched when polls are slow)
    stretched: bool = False
    last_duration: float = 0.0  # the last poll's fetch
    last_work: float = 0.0  # the last refresh: its fetch, then showing it
    polls: int = 0
    history: list[float] = field(default_factory=list)
    deadline: float = 20.0  # a poll running this long is abandoned (a failure)
    waiting_since: float | None = None  # monotonic start of a late poll still running
    reading: int | None = None  # a first look is shown, every server being read (serving)

    def stale_for(self, now: float | None = None) -> float | None:
        if self.last_ok is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_ok

    def waiting_for(self, now: float | None = None) -> float | None:
        """How long the late poll has been running (None: no poll is late)."""
        if self.waiting_since is None:
            return None
        return (time.monotonic() if now is None else now) - self.waiting_since


class Poller:
    def __init__(self, source: Source, interval: float, *,
                 on_snapshot: Callable[[Snapshot, list[Event]], None],
                 on_status: Callable[[PollStatus, list[Event]], None] | None = None,
                 deadline: float | None = None) -> None:
        self.source = source
        self.interval = interval
        self.on_snapshot = on_snapshot
        self.on_status = on_status or (lambda status, events: None)
        self.status = PollStatus(interval=interval,
                                 deadline=default_deadline() if deadline is None else deadline)
        self.last: Snapshot | None = None
        self.paused = False
        self._wake = asyncio.Event()
        self._reachable = True
        # awaited after a first look is shown, before every server is read (the UI:
        # until the screen is drawn); None: FIRST_LOOK_PAINT seconds
        self.first_look_shown: Callable[[], Awaitable[None]] | None = None
        # awaited with each snapshot before on_snapshot (the UI works out what it can
        # off the event loop)
        self.before_show: Callable[[Snapshot], Awaitable[None]] | None = None

    def refresh_now(self) -> None:
        self._wake.set()

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds
        self.status.interval = seconds
        self._wake.set()

    def pause(self, paused: bool) -> None:
        self.paused = paused
        self._wake.set()

    def period(self) -> float:
        """The time between two polls' starts: the interval, or less when the source
        asks for it."""
        interval = self.status.interval
        ask = getattr(self.source, "period", None)
        wanted = ask(interval) if callable(ask) else None
        return interval if wanted is None else min(interval, wanted)

    @property
    def deadline(self) -> float:
        return self.status.deadline

    @deadline.setter
    def deadline(self, seconds: float) -> None:
        self.status.deadline = seconds

    async def _fetch(self, started: float) -> Snapshot:
        """The source's snapshot within the deadline; a late poll is reported stale
        while it runs."""
        st = self.status
        fetch = asyncio.ensure_future(self.source.fetch())
        try:
            async with asyncio.timeout(st.deadline):
                if self.last is not None:
                    late_after = max(st.interval, 2 * st.last_duration, 1.0)
                    if late_after < st.deadline:
                        done, _ = await asyncio.wait({fetch}, timeout=late_after)
                        if not done:
                            st.waiting_since = started
                            st.state = "stale"
                            self.on_status(st, [])
                return await fetch
        except TimeoutError:
            raise Timeout(f"no complete poll within {st.deadline:g} s", self.source.where,
                          TIMEOUT_HINT) from None
        finally:
            st.waiting_since = None
            if not fetch.done():
                fetch.cancel()

    async def poll_once(self) -> Snapshot | None:
        started = time.monotonic()
        st = self.status
        try:
            snap = await self._fetch(started)
        except HAProxyError as exc:
            st.failures += 1
            st.last_error = str(exc)
            st.retry_in = min(BACKOFF_MAX, 2.0 ** (st.failures - 1))
            st.state = "stale" if self.last is not None and st.failures < 3 else "disconnected"
            events: list[Event] = []
            if self._reachable:
                self._reachable = False
                events.append(connection_event(False, self.source.where, str(exc.what)))
            self.on_status(st, events)
            return None
        duration = time.monotonic() - started
        if snap.first_look is not None:  # shown; the full read follows at once
            self._reachable = True
            st.failures, st.last_error, st.retry_in = 0, None, None
            st.state, st.reading = "live", snap.first_look
            self.on_status(st, [])
            self.on_snapshot(snap, [])
            return snap
        st.reading = None
        if self.before_show is not None:  # (cancelled here: as if this poll never was)
            await self.before_show(snap)
        events = [] if self._reachable else [connection_event(True, self.source.where)]
        self._reachable = True
        if self.last is not None:
            events += diff(self.last, snap, now=snap.wall_time)
        else:
            events += initial_events(snap, now=snap.wall_time)
        self.last = snap
        st.failures, st.last_error, st.retry_in = 0, None, None
        st.last_ok = time.monotonic()
        st.last_duration = duration
        st.polls += 1
        st.state = "live"
        self.on_snapshot(snap, events)
        # Stretch the interval when a refresh (the poll, then showing it: on a large
        # instance most of the time goes there) takes more than 80 % of it.
        work = st.last_work = time.monotonic() - started
        if work > 0.8 * self.interval:
            st.interval, st.stretched = round(work * 1.5, 2), True
        else:
            st.interval, st.stretched = self.interval, False
        self.on_status(st, [])
        return snap

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            if self.paused:
                self.status.state = "paused"
                self.on_status(self.status, [])
                self._wake.clear()
                await self._wake.wait()
                continue
            self._wake.clear()
            snap = await self.poll_once()
            if snap is None:
                delay = self.status.retry_in or 1.0
            elif snap.first_look is not None:  # shown first, then every server read
                if self.first_look_shown is not None:
                    await self.first_look_shown()
                    continue
                delay = FIRST_LOOK_PAINT
            elif self.status.stretched:
                delay = self.status.interval - self.status.last_work
            else:  # keep the cadence: the interval counts from the start of the poll
                delay = max(self.period() - self.status.last_work, 0.05)
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
