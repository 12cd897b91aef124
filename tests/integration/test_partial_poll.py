"""Partial polls on real HAProxy (every version): the rows on screen are read at every
poll, and a server off screen that stops serving is an event at the next poll."""

from __future__ import annotations

import asyncio
import time

from console.haproxy.events import diff
from console.haproxy.model import CLOCK_FIELDS
from console.haproxy.partial_poll import SWEEP
from console.haproxy.poller import SocketSource
from console.haproxy.transport import RuntimeClient


def _fields(row) -> dict[str, str]:
    return {k: v for k, v in row.fields.items() if k not in CLOCK_FIELDS}


def test_rows_on_screen_are_fresh_and_an_off_screen_change_is_an_event(instance) -> None:
    async def run() -> None:
        client = RuntimeClient(instance.admin)
        source = SocketSource(client)
        source.partial.from_rows = 0
        first = await source.fetch()
        shown = [r.key for r in first.rows if r.proxy == "be_app"]
        source.visible = lambda: shown
        prev = await source.fetch()
        assert source.partial.partial_polls == 1
        assert not any(key in prev.held for key in shown)
        assert ("be_other", "other1") in prev.held
        now = await SocketSource(RuntimeClient(instance.admin)).fetch()
        for key in shown:
            assert _fields(prev.get(*key)) == _fields(now.get(*key)), key
        await client.run("disable server be_other/other1")
        try:
            changed = time.monotonic()
            snap = await source.fetch()
            seen = time.monotonic() - changed
            events = [(e.proxy, e.name, e.new) for e in diff(prev, snap)]
            assert ("be_other", "other1", "MAINT") in events
            assert seen < 2.0 and source.partial.partial_polls == 2
        finally:
            await client.run("enable server be_other/other1")

    asyncio.run(run())


def test_with_the_poller_at_one_second_the_event_comes_within_two_seconds(instance) -> None:
    """The real loop: polls every 0.9 s, a sweep every other one; a server stopped off
    screen at a bad moment (just after a sweep) is still an event within 2 s."""
    from console.haproxy.poller import Poller

    async def run() -> None:
        client = RuntimeClient(instance.admin)
        source = SocketSource(client)
        source.partial.from_rows = 0
        seen: list[float] = []
        snaps: list[object] = []

        def on_snapshot(snap, events) -> None:
            snaps.append(snap)
            if any((e.proxy, e.name, e.new) == ("be_other", "other1", "MAINT")
                   for e in events):
                seen.append(time.monotonic())

        poller = Poller(source, 1.0, on_snapshot=on_snapshot)
        task = asyncio.create_task(poller.run())
        try:
            for _ in range(100):
                await asyncio.sleep(0.02)
                if snaps:
                    break
            source.visible = lambda: [r.key for r in snaps[0].rows if r.proxy == "be_app"]
            sweeps = source.partial.sweeps
            while source.partial.sweeps == sweeps:  # right after a sweep: the worst case
                await asyncio.sleep(0.01)
            changed = time.monotonic()
            await client.run("disable server be_other/other1")
            while not seen and time.monotonic() - changed < 4:
                await asyncio.sleep(0.02)
            assert seen and seen[0] - changed < 2.0
            assert source.partial.partial_polls >= 3 and source.partial.sweeps >= 2
        finally:
            task.cancel()
            await client.run("enable server be_other/other1")

    asyncio.run(run())


def test_a_partial_poll_takes_one_exchange_or_two_with_a_sweep(instance, monkeypatch) -> None:
    """However many proxies are on screen, their rows come in one exchange
    (``;``-joined): with ``show info`` in a poll without a sweep, after ``show info``
    and the sweep in a poll with one. The rows are those of a plain full read."""
    async def run() -> None:
        client = RuntimeClient(instance.admin)
        source = SocketSource(client)
        source.partial.from_rows = 0
        first = await source.fetch()
        shown = [r.key for r in first.rows]
        proxies = len({proxy for proxy, _ in shown})
        assert proxies >= 3
        source.visible = lambda: shown
        lines: list[str] = []
        real = RuntimeClient._exchange

        async def exchange(self, line, timeout):
            lines.append(line)
            return await real(self, line, timeout)

        monkeypatch.setattr(RuntimeClient, "_exchange", exchange)
        await source.fetch()  # the period is not known yet: a sweep
        assert source.partial.partial_polls == 1, source.partial.reason
        assert len(lines) == 2 and lines[0] == f"show info;{SWEEP}"
        assert lines[1].count(";") + 1 == proxies and "show info" not in lines[1]
        assert source.period(1.0) is not None  # the next sweep is due in two polls
        lines.clear()
        snap = await source.fetch()
        assert source.partial.partial_polls == 2, source.partial.reason
        assert len(lines) == 1 and lines[0].startswith("show info;show stat ")
        assert lines[0].count(";") == proxies
        now = await SocketSource(RuntimeClient(instance.admin)).fetch()
        for key in shown:
            assert _fields(snap.get(*key)) == _fields(now.get(*key)), key

    asyncio.run(run())
