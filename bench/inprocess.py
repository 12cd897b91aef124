"""In-process measurements on the headless app (``App.run_test``) with the real
``SocketSource`` on a real HAProxy: per-refresh stages, key press to screen update,
time to first painted data, and resident memory over many refresh cycles.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
import unicodedata
from collections.abc import Callable
from typing import Any

from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

from bench import probe as probe_mod
from bench.churn import churning
from bench.haproxy_env import Instance, send
from bench.stats import summary
from console.haproxy.poller import SocketSource
from console.haproxy.transport import RuntimeClient
from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.widgets.table import ProxyTable

SIZE = (120, 40)


def make_app(sock: str, interval: float, source: SocketSource | None = None) -> HAConsoleApp:
    target = Target(name="bench", socket=sock, interval=interval)
    src = source or SocketSource(RuntimeClient(sock))
    app = HAConsoleApp(target, source=src, level="admin", theme="dark")
    app.settle_gc = True  # as in a terminal (the garbage collector's settings, see app.py)
    return app


async def _wait(cond: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if cond():
            return True
        await asyncio.sleep(step)
    return cond()


def stage_summary(refreshes: list[probe_mod.Refresh]) -> dict[str, Any]:
    out: dict[str, Any] = {"refreshes": len(refreshes)}
    for stage in probe_mod.STAGES:
        out[stage] = {"wall_ms": summary([r.wall[stage] * 1000 for r in refreshes]),
                      "cpu_ms": summary([r.cpu[stage] * 1000 for r in refreshes])}
    model = [(r.wall["events"] + r.wall["rates"] + r.wall["history"]) * 1000 for r in refreshes]
    model_cpu = [(r.cpu["events"] + r.cpu["rates"] + r.cpu["history"]) * 1000
                 for r in refreshes]
    out["model"] = {"wall_ms": summary(model), "cpu_ms": summary(model_cpu)}
    ui = [(r.wall["ui_sync"] + r.wall["paint"]) * 1000 for r in refreshes]
    ui_cpu = [(r.cpu["ui_sync"] + r.cpu["paint"]) * 1000 for r in refreshes]
    out["ui"] = {"wall_ms": summary(ui), "cpu_ms": summary(ui_cpu)}
    out["cycle"] = {"wall_ms": summary([(r.cycle_wall or 0) * 1000 for r in refreshes]),
                    "cpu_ms": summary([(r.cycle_cpu or 0) * 1000 for r in refreshes])}
    out["bytes"] = summary([float(r.bytes) for r in refreshes])
    out["layouts"] = summary([float(r.layouts) for r in refreshes])
    out["rows"] = refreshes[-1].rows if refreshes else 0
    return out


# ---------------------------------------------------------------------- keys

def _key_event(key: str) -> events.Key:
    """The event Pilot would send for ``key`` (same name and character lookup)."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    original = REPLACED_KEYS.get(key, key)
    char: str | None
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


async def _press(app: HAConsoleApp, probe: probe_mod.Probe, key: str,
                 timeout: float = 10.0) -> float | None:
    """Send one key; seconds from sending it to the first screen update after the app
    handled it (None on timeout)."""
    probe.key_handled_at = None
    probe.key_painted_at = None
    t0 = time.perf_counter()
    event = _key_event(key)
    event.set_sender(app)
    app._driver.send_message(event)  # type: ignore[union-attr]
    ok = await _wait(lambda: probe.key_painted_at is not None, timeout, 0.001)
    painted = probe.key_painted_at
    probe.key_handled_at = None
    return painted - t0 if ok and painted is not None else None


def _mark_handled(table: ProxyTable, probe: probe_mod.Probe) -> None:
    for name in ("action_cursor_down", "action_cursor_up", "set_filter"):
        original = getattr(table, name)

        def wrapper(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            result = _original(*args, **kwargs)
            probe.key_handled_at = time.perf_counter()
            return result

        setattr(table, name, wrapper)


async def key_latencies(app: HAConsoleApp, probe: probe_mod.Probe, presses: int,
                        typed: int, rng: random.Random) -> dict[str, Any]:
    """Cursor down ``presses`` times then type ``typed`` filter characters, at random
    moments (so some land while a refresh is parsed or drawn)."""
    cursor: list[float] = []
    missed = 0
    for i in range(presses):
        await asyncio.sleep(rng.uniform(0.12, 0.45))
        lat = await _press(app, probe, "down" if i % 5 != 4 else "up")
        if lat is None:
            missed += 1
        else:
            cursor.append(lat * 1000)
    await _press(app, probe, "slash")  # opens the filter box (no table change)
    await asyncio.sleep(0.2)
    filt: list[float] = []
    text = "be1s5" * 10
    for i in range(typed):
        await asyncio.sleep(rng.uniform(0.12, 0.45))
        key = text[i % len(text)] if i % 6 != 5 else "backspace"
        lat = await _press(app, probe, key)
        if lat is None:
            missed += 1
        else:
            filt.append(lat * 1000)
    await _press(app, probe, "escape")
    await asyncio.sleep(0.3)
    return {"cursor_ms": summary(cursor), "filter_ms": summary(filt), "missed": missed}


# ---------------------------------------------------------------------- the session

async def _collect(probe: probe_mod.Probe, count: int, timeout: float) -> list[probe_mod.Refresh]:
    start = len(probe.completed())
    await _wait(lambda: len(probe.completed()) - start >= count, timeout, 0.05)
    return probe.completed()[start:start + count]


async def session(inst: Instance, *, refreshes: int, presses: int, typed: int,
                  interval: float = 1.0, churn: bool = True,
                  seed: int = 7) -> dict[str, Any]:
    """One headless app on ``inst``: first paint, stages idle, keys idle, then the same
    under churn."""
    probe_mod.install()
    probe = probe_mod.Probe()
    app = make_app(inst.socket, interval)
    probe.attach(app)
    probe_mod.activate(probe)
    rng = random.Random(seed)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        async with app.run_test(size=SIZE):
            table = app.query_one(ProxyTable)
            _mark_handled(table, probe)
            await _wait(lambda: probe.first_paint_after_data is not None, 60.0)
            if probe.first_paint_after_data is not None:
                out["first_paint_s"] = probe.first_paint_after_data - t0
            out["color_system"] = app.console.color_system
            budget = refreshes * max(interval, 3.0) + 60
            await _collect(probe, 2, 60)  # warm-up
            out["idle"] = stage_summary(await _collect(probe, refreshes, budget))
            out["idle"]["keys"] = await key_latencies(app, probe, presses, typed, rng)
            out["stretched"] = app.poller.status.stretched
            out["effective_interval"] = app.poller.status.interval
            if churn:
                with churning(inst.socket, inst.backends):
                    await _collect(probe, 2, budget)
                    out["churn"] = stage_summary(await _collect(probe, refreshes, budget))
                    out["churn"]["keys"] = await key_latencies(app, probe, presses, typed, rng)
    finally:
        probe_mod.activate(None)
    return out


# ---------------------------------------------------------------------- memory

class ReplaySource(SocketSource):
    """Replays answers fetched from the real HAProxy, through the same parse path as
    :class:`SocketSource`, with a clock that advances one interval per poll."""

    def __init__(self, client: RuntimeClient, info: str, stats: list[str]) -> None:
        super().__init__(client)
        self.info, self.stats = info, stats
        self.polls = 0

    async def fetch(self) -> Any:
        text = self.stats[self.polls % len(self.stats)]
        self.polls += 1
        return self.parse(self.info, text, 1000.0 + self.polls)


def capture_answers(inst: Instance, count: int, spacing: float) -> tuple[str, list[str]]:
    """``count`` real ``show stat`` answers under churn, ``spacing`` seconds apart."""
    info = send(inst.socket, "show info")
    stats = []
    with churning(inst.socket, inst.backends):
        for _ in range(count):
            stats.append(send(inst.socket, "show stat"))
            time.sleep(spacing)
    return info, stats


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def memory(inst: Instance, cycles: int, checkpoints: tuple[int, ...],
                 captures: int = 12, spacing: float = 1.0) -> dict[str, Any]:
    """Drive the app's refresh path ``cycles`` times (poll, events, rates, history,
    table, paint) with replayed real answers; RSS at the checkpoints (after gc)."""
    info, stats = capture_answers(inst, captures, spacing)
    source = ReplaySource(RuntimeClient(inst.socket), info, stats)
    app = make_app(inst.socket, 3600.0, source)
    probe_mod.install()
    probe = probe_mod.Probe()
    probe.encode = False
    probe_mod.activate(probe)
    rss: dict[str, int] = {}
    t0 = time.perf_counter()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await _wait(lambda: app.monitor.snapshot is not None, 30)
            table = app.query_one(ProxyTable)
            for n in range(1, cycles + 1):
                await app.poller.poll_once()
                if n % 50 == 0:  # move around so other rows get drawn and cached
                    table.action_cursor_page_down() if n % 100 else table.action_cursor_home()
                await pilot.pause()
                app.screen._on_timer_update()
                if n in checkpoints:
                    gc.collect()
                    rss[str(n)] = rss_bytes()
    finally:
        probe_mod.activate(None)
    first, last = rss[str(checkpoints[0])], rss[str(checkpoints[-1])]
    snap = app.monitor.snapshot
    return {"cycles": cycles, "rss": rss, "rows": len(snap.rows) if snap else 0,
            "growth_pct": (last - first) / first * 100, "seconds": time.perf_counter() - t0,
            "history_rows": len(app.monitor.history)}
