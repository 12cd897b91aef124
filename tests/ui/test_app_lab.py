"""The console headless against the real lab: a server stops, the console sees it."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.widgets.table import ProxyTable
from tests.lab_helpers import start_lab

pytestmark = pytest.mark.haproxy


async def test_server_down_seen_live(haproxy_binary) -> None:
    directory = Path(tempfile.mkdtemp(prefix="haconsole-ui-lab-"))
    try:
        with start_lab(directory, haproxy_binary.path) as lab:
            info = lab.info
            target = Target(name="lab", socket=info["admin_socket"],
                            master=info["master_socket"], interval=0.5)
            app = HAConsoleApp(target)
            async with app.run_test(size=(120, 40)) as pilot:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    snap = app.monitor.snapshot
                    row = snap.get("be_web", "web1") if snap else None
                    if row and row.status.kind == "UP" and not row.status.check_progress:
                        break
                    await pilot.pause(0.2)
                assert app.level == "admin"
                table = app.query_one(ProxyTable)
                assert table.move_cursor_to(("be_web", "web1"))
                answer = await asyncio.to_thread(lab.control, "stop be_web/web1")
                assert answer.startswith("ok"), answer
                deadline = time.monotonic() + 20
                seen_down = False
                while time.monotonic() < deadline:
                    row = app.monitor.snapshot.get("be_web", "web1")
                    events = [e for e in app.monitor.timeline.events
                              if e.target == "be_web/web1" and e.new and "DOWN" in e.new]
                    if row.status.kind == "DOWN" and events:
                        seen_down = True
                        break
                    await pilot.pause(0.2)
                assert seen_down, [e.message for e in app.monitor.timeline.events]
                assert events[-1].severity == "error"
                assert table.cursor_key == ("be_web", "web1")  # the cursor stayed
                # the event log pane shows it too
                log_text = "\n".join(e.message for e in app.query_one("#events").events)
                assert "be_web/web1" in log_text and "DOWN" in log_text
                # and it comes back
                await asyncio.to_thread(lab.control, "start be_web/web1")
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    if app.monitor.snapshot.get("be_web", "web1").status.kind == "UP":
                        break
                    await pilot.pause(0.2)
                assert app.monitor.snapshot.get("be_web", "web1").status.kind == "UP"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_reload_seen_as_new_worker(haproxy_binary) -> None:
    from console.haproxy.transport import MasterClient

    directory = Path(tempfile.mkdtemp(prefix="haconsole-ui-lab-"))
    try:
        with start_lab(directory, haproxy_binary.path) as lab:
            info = lab.info
            app = HAConsoleApp(Target(name="lab", socket=info["admin_socket"], interval=0.3))
            async with app.run_test(size=(120, 40)) as pilot:
                while app.monitor.snapshot is None:
                    await pilot.pause(0.1)
                old_pid = app.monitor.snapshot.info.pid
                await MasterClient(info["master_socket"]).reload()
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    if any(e.kind == "reload" for e in app.monitor.timeline.events):
                        break
                    await pilot.pause(0.2)
                reloads = [e for e in app.monitor.timeline.events if e.kind == "reload"]
                assert reloads and reloads[0].old == str(old_pid)
                assert app.poller.status.state == "live"
    finally:
        shutil.rmtree(directory, ignore_errors=True)
