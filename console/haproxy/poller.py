"""The refresh loop: one async poller per instance.

The next poll is scheduled when the last one ends, so polls never pile up.
A failure keeps the last good snapshot (the UI marks it stale) and retries
with exponential backoff. When a poll takes longer than the interval, the
interval is stretched and the poller says so, rather than falling behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from console.haproxy.errors import HAProxyError
from console.haproxy.events import Event, connection_event, diff, initial_events
from console.haproxy.model import Snapshot, SnapshotBuilder
from console.haproxy.transport import RuntimeClient

BACKOFF_MAX = 30.0
PARSE_IN_THREAD_BYTES = 256 * 1024  # parse big answers off the event loop


class Source(Protocol):
    where: str

    async def fetch(self) -> Snapshot: ...


class SocketSource:
    """``show info`` + ``show stat`` over the stats socket."""

    def __init__(self, client: RuntimeClient) -> None:
        self.client = client
        self.where = str(client.address)
        self.builder = SnapshotBuilder()  # reuses the rows that did not change

    async def fetch(self) -> Snapshot:
        taken = time.monotonic()
        info_text, stat_text = await asyncio.gather(self.client.run("show info"),
                                                    self.client.run("show stat"))
        if len(stat_text) > PARSE_IN_THREAD_BYTES:
            return await asyncio.to_thread(self.parse, info_text, stat_text, taken)
        return self.parse(info_text, stat_text, taken)

    def parse(self, info_text: str, stat_text: str, taken_at: float) -> Snapshot:
        """Build the snapshot from the two answers (on the event loop or in a thread;
        never two at once: polls do not overlap)."""
        return self.builder.build(info_text, stat_text, taken_at=taken_at)


class StatsPageSource:
    """The stats page's ``;csv`` (no ``show info`` there)."""

    def __init__(self, page: object) -> None:
        self.page = page
        self.where = str(getattr(page, "url", "stats page"))
        self.builder = SnapshotBuilder()

    async def fetch(self) -> Snapshot:
        taken = time.monotonic()
        text = await self.page.fetch_csv()  # type: ignore[attr-defined]
        return await asyncio.to_thread(self.builder.build, None, text, taken_at=taken)


@dataclass
class PollStatus:
    """What the header shows about the connection."""

    state: str = "connecting"  # connecting | live | stale | disconnected | paused
    last_ok: float | None = None  # monotonic time of the last good poll
    last_error: str | None = None
    retry_in: float | None = None
    failures: int = 0
    interval: float = 2.0  # the effective interval (stretched when polls are slow)
    stretched: bool = False
    last_duration: float = 0.0
    polls: int = 0
    history: list[float] = field(default_factory=list)

    def stale_for(self, now: float | None = None) -> float | None:
        if self.last_ok is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_ok


class Poller:
    def __init__(self, source: Source, interval: float, *,
                 on_snapshot: Callable[[Snapshot, list[Event]], None],
                 on_status: Callable[[PollStatus, list[Event]], None] | None = None) -> None:
        self.source = source
        self.interval = interval
        self.on_snapshot = on_snapshot
        self.on_status = on_status or (lambda status, events: None)
        self.status = PollStatus(interval=interval)
        self.last: Snapshot | None = None
        self.paused = False
        self._wake = asyncio.Event()
        self._reachable = True

    def refresh_now(self) -> None:
        self._wake.set()

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds
        self.status.interval = seconds
        self._wake.set()

    def pause(self, paused: bool) -> None:
        self.paused = paused
        self._wake.set()

    async def poll_once(self) -> Snapshot | None:
        started = time.monotonic()
        st = self.status
        try:
            snap = await self.source.fetch()
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
        # Stretch the interval when a poll takes more than 80 % of it.
        if duration > 0.8 * self.interval:
            st.interval, st.stretched = round(duration * 1.5, 2), True
        else:
            st.interval, st.stretched = self.interval, False
        st.state = "live"
        self.on_snapshot(snap, events)
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
            elif self.status.stretched:
                delay = self.status.interval - self.status.last_duration
            else:  # keep the cadence: the interval counts from the start of the poll
                delay = max(self.status.interval - self.status.last_duration, 0.05)
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
