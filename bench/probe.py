"""Instrumentation of one headless :class:`HAConsoleApp` (in-process measurements).

Wraps, without changing what they do:

* ``source.fetch`` (socket + parse) and ``SocketSource.parse`` (a full read's parse
  alone, timed with the CPU clock of the thread it runs in, the event loop or a worker
  thread; hooked on the class, so that the source still polls as it does on screen,
  partial polls included: a source whose own ``parse`` is wrapped counts as recorded
  and reads every row at every poll);
* ``console.haproxy.poller.diff`` / ``initial_events`` (events), the main screen's
  ``rates`` and ``RateWindow.add`` (rates), ``History.add`` (history) and the poller's
  ``on_snapshot`` callback (the app's
  ``_on_snapshot``: what is left once rates and history are taken out is the widget
  update, "ui sync");
* Textual's screen update (``Screen._on_timer_update``, ``_refresh_layout``,
  ``_compositor_refresh``: the outermost call is timed, "paint"), and ``App._display``:
  headless Textual skips turning the update into terminal bytes, so the probe does it
  (``render_segments`` with the app's console, as the Linux driver would) to count the
  bytes and include that cost in "paint".

Per refresh, wall time (``perf_counter``) and CPU time (``thread_time`` of the thread
doing the work; ``process_time`` for the whole cycle) are recorded. A refresh is the
span from one fetch start to the next; painting is charged to the refresh whose
snapshot came last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.app import App
from textual.screen import Screen

import console.haproxy.poller as poller_mod
import console.ui.screens.monitor as monitor_mod
from console.haproxy.history import History
from console.haproxy.smoothing import RateWindow

STAGES = ("fetch", "socket", "parse", "events", "rates", "history", "ui_sync", "paint")


@dataclass
class Refresh:
    started: float
    cpu_started: float
    wall: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    bytes: int = 0
    paints: int = 0
    layouts: int = 0  # full screen layouts (Screen._refresh_layout)
    cycle_wall: float | None = None
    cycle_cpu: float | None = None
    snapshot_at: float | None = None
    rows: int = 0


class Probe:
    """One probe per app session; :func:`install` routes Textual's hooks to it."""

    def __init__(self) -> None:
        self.refreshes: list[Refresh] = []
        self.current: Refresh | None = None
        self.displays: list[tuple[float, int]] = []
        self.first_snapshot_at: float | None = None
        self.first_paint_after_data: float | None = None
        self.key_handled_at: float | None = None
        self.key_painted_at: float | None = None
        self._depth = 0
        self._paint_start = (0.0, 0.0)
        self.encode = True

    # ------------------------------------------------------------------ attaching

    def attach(self, app: Any) -> None:
        source = app.source
        fetch = source.fetch
        probe = self

        async def timed_fetch() -> Any:
            now, cpu = time.perf_counter(), time.process_time()
            prev = probe.current
            if prev is not None:
                prev.cycle_wall, prev.cycle_cpu = now - prev.started, cpu - prev.cpu_started
            probe.current = ref = Refresh(now, cpu)
            probe.refreshes.append(ref)
            snap = await fetch()
            ref.wall["fetch"] = time.perf_counter() - now
            ref.cpu["fetch"] = time.process_time() - cpu
            ref.wall["socket"] = ref.wall["fetch"] - ref.wall["parse"]
            ref.cpu["socket"] = max(0.0, ref.cpu["fetch"] - ref.cpu["parse"])
            ref.rows = len(snap.rows)
            return snap

        # (the parse is timed by a hook on the class, see install(): a source whose
        # own parse is wrapped counts as recorded, and reads every row at every poll)
        source.fetch = timed_fetch
        on_snapshot = app.poller.on_snapshot

        def timed_on_snapshot(snap: Any, events: Any) -> None:
            w, c = time.perf_counter(), time.thread_time()
            ref = probe.current
            before_w = before_c = 0.0
            if ref is not None:
                before_w = ref.wall["rates"] + ref.wall["history"]
                before_c = ref.cpu["rates"] + ref.cpu["history"]
            on_snapshot(snap, events)
            if ref is not None:
                inner_w = ref.wall["rates"] + ref.wall["history"] - before_w
                inner_c = ref.cpu["rates"] + ref.cpu["history"] - before_c
                ref.wall["ui_sync"] += time.perf_counter() - w - inner_w
                ref.cpu["ui_sync"] += time.thread_time() - c - inner_c
                ref.snapshot_at = time.perf_counter()
            if probe.first_snapshot_at is None:
                probe.first_snapshot_at = time.perf_counter()

        app.poller.on_snapshot = timed_on_snapshot

    def _add(self, stage: str, wall: float, cpu: float) -> None:
        ref = self.current
        if ref is not None:
            ref.wall[stage] += wall
            ref.cpu[stage] += cpu

    def _timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        probe = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                probe._add(stage, time.perf_counter() - w, time.thread_time() - c)

        return wrapper

    # ------------------------------------------------------------------ paint hooks

    def paint_enter(self) -> None:
        if self._depth == 0:
            self._paint_start = (time.perf_counter(), time.thread_time())
        self._depth += 1

    def paint_exit(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            w0, c0 = self._paint_start
            self._add("paint", time.perf_counter() - w0, time.thread_time() - c0)

    def displayed(self, app: Any, renderable: Any) -> None:
        size = 0
        if self.encode and renderable is not None and hasattr(renderable, "render_segments"):
            size = len(renderable.render_segments(app.console).encode("utf-8"))
        now = time.perf_counter()
        self.displays.append((now, size))
        ref = self.current
        if ref is not None:
            ref.bytes += size
            ref.paints += 1
        if self.first_paint_after_data is None and self.first_snapshot_at is not None:
            self.first_paint_after_data = now
        if self.key_handled_at is not None and self.key_painted_at is None:
            self.key_painted_at = now

    def completed(self) -> list[Refresh]:
        """Refreshes whose whole cycle (up to the next fetch) was seen."""
        return [r for r in self.refreshes if r.cycle_wall is not None and r.snapshot_at]


_ACTIVE: list[Probe] = []
_INSTALLED = False


def activate(probe: Probe | None) -> None:
    _ACTIVE[:] = [probe] if probe else []


def install() -> None:
    """Patch Textual's screen update and display, and the console's stage functions
    (idempotent; inactive hooks cost one list check)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True

    def paint_hook(name: str) -> None:
        original = getattr(Screen, name)

        def hooked(self: Screen, *args: Any, **kwargs: Any) -> Any:
            probe = _ACTIVE[0] if _ACTIVE else None
            if probe is None:
                return original(self, *args, **kwargs)
            if name == "_refresh_layout" and probe.current is not None:
                probe.current.layouts += 1
            probe.paint_enter()
            try:
                return original(self, *args, **kwargs)
            finally:
                probe.paint_exit()

        setattr(Screen, name, hooked)

    for name in ("_on_timer_update", "_refresh_layout", "_compositor_refresh"):
        paint_hook(name)

    original_display = App._display

    def display(self: App[Any], screen: Screen, renderable: Any) -> None:
        original_display(self, screen, renderable)
        probe = _ACTIVE[0] if _ACTIVE else None
        if probe is not None and renderable is not None:
            probe.displayed(self, renderable)

    App._display = display  # type: ignore[method-assign]

    def stage_hook(module: Any, name: str, stage: str) -> None:
        original = getattr(module, name)

        def hooked(*args: Any, **kwargs: Any) -> Any:
            probe = _ACTIVE[0] if _ACTIVE else None
            if probe is None:
                return original(*args, **kwargs)
            w, c = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                probe._add(stage, time.perf_counter() - w, time.thread_time() - c)

        setattr(module, name, hooked)

    parse = poller_mod.SocketSource.parse

    def timed_parse(self: Any, *args: Any, **kwargs: Any) -> Any:
        probe = _ACTIVE[0] if _ACTIVE else None
        if probe is None:
            return parse(self, *args, **kwargs)
        w, c = time.perf_counter(), time.thread_time()
        try:
            return parse(self, *args, **kwargs)
        finally:
            probe._add("parse", time.perf_counter() - w, time.thread_time() - c)

    poller_mod.SocketSource.parse = timed_parse  # type: ignore[method-assign]
    stage_hook(poller_mod, "diff", "events")
    stage_hook(poller_mod, "initial_events", "events")
    stage_hook(monitor_mod, "rates", "rates")
    stage_hook(RateWindow, "add", "rates")
    stage_hook(History, "add", "history")
