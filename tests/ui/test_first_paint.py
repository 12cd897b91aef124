"""A large instance's first snapshot is on screen before its first history sample and
rate-window counters are taken (a second of work at 50,000 rows): they come right
after the first paint, and before the next snapshot at the latest."""

from __future__ import annotations

import console.ui.screens.monitor as monitor_mod
from console.haproxy.history import History
from console.ui.app import HAConsoleApp
from tests.ui.captured import CapturedSource, target


async def test_the_first_samples_of_a_large_instance_come_after_its_first_paint(
        monkeypatch) -> None:
    monkeypatch.setattr(monitor_mod, "FIRST_SAMPLES_AFTER_PAINT", 1)  # "large": any size
    order: list[str] = []
    add, show = History.add, monitor_mod.MonitorScreen.show_snapshot

    def history_add(self, snap, rates=None) -> None:
        order.append("history")
        add(self, snap, rates)

    def show_snapshot(self, snap, events) -> None:
        show(self, snap, events)
        order.append("shown")

    monkeypatch.setattr(History, "add", history_add)
    monkeypatch.setattr(monitor_mod.MonitorScreen, "show_snapshot", show_snapshot)
    source = CapturedSource()
    app = HAConsoleApp(target(), source=source, level="admin", theme="dark")
    app.target.interval = 3600
    async with app.run_test(size=(120, 30)) as pilot:
        monitor = app.monitor
        for _ in range(100):
            if "history" in order:
                break
            await pilot.pause(0.02)
        assert order[:2] == ["shown", "history"], order
        assert len(monitor.history) > 0
        assert monitor.rates == {}
        # the next snapshot has its rates: the window kept the first one's counters
        source.edit("be_app", "up1", stot="999999")
        await app.poller.poll_once()
        await pilot.pause(0.05)
        assert order[2:4] == ["history", "shown"], order
        assert monitor.rates and any(r.stot for r in monitor.rates.values())
        # a snapshot arriving before the deferred samples were taken: they go first
        monitor._first_samples = monitor.snapshot
        order.clear()
        snap = monitor.snapshot
        show(monitor, snap, [])
        assert order == ["history", "history"] and monitor._first_samples is None


async def test_a_small_instance_takes_its_first_samples_at_once() -> None:
    app = HAConsoleApp(target(), source=CapturedSource(), level="admin", theme="dark")
    app.target.interval = 3600
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(100):
            if app.monitor.snapshot is not None:
                break
            await pilot.pause(0.02)
        assert app.monitor._first_samples is None and len(app.monitor.history) > 0
