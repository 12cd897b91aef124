"""``haconsole replay``: the console on a recording made from a real HAProxy, driven as a
user drives it: play, pause, speeds, the next event; read-only."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from console.haproxy.recording import Recording, RecordingWriter
from console.haproxy.transport import RuntimeClient
from console.ui.replay import ReplayApp

pytestmark = pytest.mark.haproxy

T0 = 1_790_000_000.0


async def make_recording(instance, path: Path, polls: int = 30) -> None:
    """*polls* real polls, stamped 1 s apart: be_app/app1 goes to MAINT at the 10th
    and comes back at the 20th."""
    client = RuntimeClient(instance.admin)
    w = RecordingWriter(str(path), instance="lb1\x1b[2J", where=instance.admin, interval=1.0)
    try:
        for t in range(polls):
            if t == 10:
                await client.run("disable server be_app/app1")
            if t == 20:
                await client.run("enable server be_app/app1")
            info, stat = await asyncio.gather(client.run("show info"),
                                              client.run("show stat"))
            w.poll(info, stat, at=T0 + t, mono=T0 + t)
    finally:
        w.close("duration reached")
        await client.run("enable server be_app/app1")


async def wait_for(pilot, cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def test_replay_plays_pauses_and_jumps_to_the_next_event(instance, tmp_path) -> None:
    path = tmp_path / "r.hacrec"
    await make_recording(instance, path)
    app = ReplayApp(Recording(str(path)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.monitor.snapshot is not None)
        header = app.monitor.header
        assert app.read_only_reason == "replay"
        assert "\x1b" not in app.target.name  # the recorded name is made visible
        assert "▶ replay 1×" in str(header.render())
        await pilot.press("p")  # pause
        assert not app.replay.playing
        assert "paused" in str(header.render())
        at = app.monitor.snapshot.wall_time
        await pilot.pause(1.2)
        assert app.monitor.snapshot.wall_time == at  # paused: the time stands still
        await pilot.press("greater_than_sign")  # the next event: app1 to MAINT
        await wait_for(pilot, lambda: app.monitor.snapshot.wall_time == T0 + 10)
        row = app.monitor.snapshot.get("be_app", "app1")
        assert row is not None and row.status.kind == "MAINT"
        assert any(e.target == "be_app/app1" and e.new and "MAINT" in e.new
                   for e in app.monitor.timeline.events)
        assert "read-only (replay)" in str(header.render())
        await pilot.press("o")  # no action offered
        await pilot.pause(0.2)
        assert app.screen is app.monitor
        await pilot.press("full_stop", "full_stop")  # 1× → 10× → 60×
        assert app.replay.speed == 60
        await pilot.press("p")  # play at 60×: to the end in under a second
        await wait_for(pilot, lambda: app.replay.ended)
        await pilot.pause(0.3)
        assert app.monitor.snapshot.wall_time == T0 + 29
        assert app.monitor.snapshot.get("be_app", "app1").status.kind != "MAINT"
        assert "replay ended" in str(header.render())
        await pilot.press("greater_than_sign")  # nothing further: says so
        await pilot.pause(0.1)


async def test_replay_of_a_cut_off_recording(instance, tmp_path) -> None:
    path = tmp_path / "r.hacrec"
    await make_recording(instance, path, polls=12)
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # the end record and part of the last poll gone
    app = ReplayApp(Recording(str(path)), speed=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.replay.ended)
        await pilot.pause(0.3)
        assert app.monitor.snapshot.wall_time in (T0 + 10, T0 + 11)
        assert app.replay.damage and "cut off" in app.replay.damage


async def test_the_live_console_records_what_it_polls(instance, tmp_path) -> None:
    from console.instance import Target
    from console.ui.app import HAConsoleApp
    from console.ui.replay import start_recording

    path = tmp_path / "live.hacrec"
    app = HAConsoleApp(Target(name="lb1", socket=instance.admin, interval=0.2))
    recorder = start_recording(app, str(path))
    client = RuntimeClient(instance.admin)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.monitor.snapshot is not None)
            await client.run("disable server be_app/app1")
            await wait_for(pilot, lambda: app.monitor.snapshot.get(
                "be_app", "app1").status.kind == "MAINT")
            await client.run("enable server be_app/app1")
            await wait_for(pilot, lambda: app.monitor.snapshot.get(
                "be_app", "app1").status.kind != "MAINT")
    finally:
        recorder.close("console closed")
        await client.run("enable server be_app/app1")
    with Recording(str(path)) as rec:
        assert rec.end_reason == "console closed" and rec.damage is None
        kinds = []
        for frame in rec.frames():
            from console.haproxy.parsers import parse_stat

            rows = {(r["pxname"], r["svname"]): r for r in parse_stat(frame.stat_text or "")}
            kinds.append(rows["be_app", "app1"]["status"])
        assert "MAINT" in kinds and kinds[-1] != "MAINT"


async def test_a_full_recording_stops_and_the_console_goes_on(instance, tmp_path) -> None:
    from console.haproxy.poller import SocketSource
    from console.haproxy.recording import RecordingSource

    told: list[str] = []
    writer = RecordingWriter(str(tmp_path / "small.hacrec"), instance="lb1",
                             where=instance.admin, interval=1.0, max_bytes=3000)
    source = RecordingSource(SocketSource(RuntimeClient(instance.admin)), writer,
                             on_stop=told.append)
    for _ in range(20):
        snap = await source.fetch()
        assert snap.get("be_app", "app1") is not None
    assert len(told) == 1 and "size limit (0.00286 MiB)" in told[0]
    with Recording(str(tmp_path / "small.hacrec")) as rec:
        assert rec.end_reason == "size limit reached" and rec.polls


async def test_a_mark_set_while_recording_is_replayed_and_jumped_to(instance, tmp_path) -> None:
    """The operator sets an incident mark in the recording console; the replay sets it
    at the same point (the counters' Δ since it as they were), ``]`` jumps to it, and
    the replay saves no mark of its own."""
    from console.haproxy import marks
    from console.instance import Target
    from console.ui.app import HAConsoleApp
    from console.ui.replay import start_recording

    path = tmp_path / "marked.hacrec"
    app = HAConsoleApp(Target(name="lb1", socket=instance.admin, interval=0.2))
    recorder = start_recording(app, str(path))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.monitor.snapshot is not None)
            await pilot.pause(1.0)
            await pilot.press("m")
            mark_time = app.monitor.mark.wall_time
            await pilot.pause(1.0)  # polls after the mark carry it into the recording
    finally:
        recorder.close("console closed")
    with Recording(str(path)) as rec:
        assert [e.event for e in rec.entries if e.kind == ord("M")] == [True]
    saved_before = sorted(p.name for p in marks.mark_path("x").parent.iterdir())
    replay = ReplayApp(Recording(str(path)))
    async with replay.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: replay.monitor.snapshot is not None)
        assert replay.monitor.mark is None
        await pilot.press("p")  # pause, then jump
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: replay.monitor.mark is not None)
        assert replay.monitor.mark.wall_time == mark_time
        assert "Δ since mark" in str(replay.monitor.header.render())
        await pilot.press("right_square_bracket")  # no further mark: says so, no crash
        await pilot.pause(0.1)
        await pilot.press("M")  # cleared in the replay: nothing removed on disk
        await pilot.pause(0.1)
    assert sorted(p.name for p in marks.mark_path("x").parent.iterdir()) == saved_before
