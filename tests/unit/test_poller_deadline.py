"""A poll that does not end is abandoned at its deadline; a late one shows stale first."""

from __future__ import annotations

import asyncio
import time

from console.haproxy.poller import Poller, PollStatus
from tests.ui.captured import CapturedSource


class Hanging(CapturedSource):
    """Answers until ``hang`` is set, then never again (a fetch stuck for good)."""

    hang = False

    async def fetch(self):
        if self.hang:
            await asyncio.Event().wait()
        return await super().fetch()


async def test_a_stuck_poll_fails_at_its_deadline_and_keeps_the_data() -> None:
    states: list[tuple[str, float | None]] = []
    source = Hanging()
    poller = Poller(source, 0.2, on_snapshot=lambda s, e: None,
                    on_status=lambda st, e: states.append((st.state, st.last_error)))
    poller.deadline = 0.5
    assert await poller.poll_once() is not None
    source.hang = True
    t0 = time.monotonic()
    assert await asyncio.wait_for(poller.poll_once(), 5) is None
    assert time.monotonic() - t0 < 1.0
    st = poller.status
    assert st.state == "stale" and poller.last is not None
    assert "no complete poll within 0.5 s" in (st.last_error or "")
    assert states[-1] == ("stale", st.last_error)
    assert st.waiting_since is None
    # twice more and it is disconnected
    await poller.poll_once()
    await poller.poll_once()
    assert poller.status.state == "disconnected"


async def test_a_late_poll_is_stale_before_its_deadline() -> None:
    seen: list[PollStatus] = []
    source = Hanging()
    poller = Poller(source, 0.2, on_snapshot=lambda s, e: None, deadline=3.0,
                    on_status=lambda st, e: seen.append(
                        PollStatus(state=st.state, waiting_since=st.waiting_since)))
    assert poller.deadline == 3.0
    await poller.poll_once()
    source.hang = True
    task = asyncio.ensure_future(poller.poll_once())
    await asyncio.sleep(1.3)  # late after max(interval, 2 × last poll, 1 s)
    assert poller.status.state == "stale"
    assert poller.status.waiting_for() is not None and poller.status.waiting_for() >= 1.0
    assert seen[-1].state == "stale" and seen[-1].waiting_since is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_the_default_deadline_follows_the_configured_exchange_deadline() -> None:
    from console.haproxy.limits import configure, current, reset

    try:
        configure(timeout=4)
        poller = Poller(CapturedSource(), 2.0, on_snapshot=lambda s, e: None)
        assert current().timeout == 4 and poller.deadline == 8
    finally:
        reset()


async def test_a_refresh_slow_to_show_stretches_the_interval() -> None:
    """A fast poll whose showing is slow (a large instance's table, rates and history)
    stretches the interval too: the header then says how long a refresh takes, instead
    of "live" at an interval that is not kept."""
    told: list[tuple[bool, float]] = []
    poller = Poller(CapturedSource(), 0.2, on_snapshot=lambda s, e: time.sleep(0.3),
                    on_status=lambda st, e: told.append((st.stretched, st.interval)))
    assert await poller.poll_once() is not None
    st = poller.status
    assert st.last_duration < 0.2 <= 0.3 <= st.last_work
    assert st.stretched and st.interval >= 0.45 and told[-1] == (True, st.interval)
    fast = Poller(CapturedSource(), 0.2, on_snapshot=lambda s, e: None)
    await fast.poll_once()
    assert not fast.status.stretched and fast.status.interval == 0.2


async def test_a_poll_cancelled_before_it_is_shown_leaves_nothing_behind() -> None:
    """Cancelled while the UI works out what it can off the event loop (before_show),
    the poll is as if it never was: the last snapshot is still the one shown, and the
    next poll's events are worked out against it."""
    shown: list[object] = []
    source = CapturedSource()
    poller = Poller(source, 0.2, on_snapshot=lambda s, e: shown.append(s))
    first = await poller.poll_once()
    assert first is not None and poller.last is first
    started = asyncio.Event()

    async def before_show(snap: object) -> None:
        started.set()
        await asyncio.Event().wait()  # a thread still working when the app quits

    poller.before_show = before_show  # type: ignore[assignment]
    task = asyncio.ensure_future(poller.poll_once())
    await started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert poller.last is first and shown == [first]
