"""What's hurting now (``w``, ``--triage``) and the log summaries (``s``) on a real
HAProxy logging to a ring, with real traffic, on every version: a backend with its only
server down, a server answering 500 to part of the requests, streams stuck on a silent
server, an invalid request captured."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.haproxy.transport import RuntimeClient, wait_for_socket
from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.screens.hurting import HurtingScreen
from console.ui.screens.log_summary import LogSummaryScreen
from console.ui.screens.logs import LogsScreen
from tests.instance import free_port, stop_process
from tests.triage_helpers import _Server, send_raw
from tests.ui.screen_host import until

CONFIG = """\
global
    stats socket {d}/admin.sock level admin
    stats timeout 30s
    log ring@logs local0 info
    log stdout format raw local0 info

ring logs
    format rfc5424
    maxlen 4096
    size 262144

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend fe_main
    bind 127.0.0.1:{fe}
    use_backend be_slow if {{ path_beg /slow }}
    use_backend be_down if {{ path_beg /down }}
    default_backend be_app

frontend fe_inner
    bind 127.0.0.1:{inner}
    no log
    http-request return status 500 content-type text/plain string fail if {{ path_sub /fail }}
    http-request return status 200 content-type text/plain string ok

backend be_app
    server app1 127.0.0.1:{inner}

backend be_slow
    server slow1 127.0.0.1:{slow}

backend be_down
    retries 0
    server dead1 127.0.0.1:{closed} check inter 200 fall 1
"""

STUCK_AGE = 1.0


class Lab:
    def __init__(self, directory: Path, proc: subprocess.Popen[bytes], fe: int,
                 slow: _Server) -> None:
        self.dir, self.proc, self.fe, self.slow = directory, proc, fe, slow
        self.socket = str(directory / "admin.sock")
        self.clients: list[socket.socket] = []

    def get(self, path: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.fe), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            return s.recv(200)

    def hold(self, n: int) -> None:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.fe), timeout=5)
            s.sendall(b"GET /slow/held HTTP/1.1\r\nHost: t\r\n\r\n")
            self.clients.append(s)

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        stop_process(self.proc)
        self.slow.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[Lab]:
    directory = Path(tempfile.mkdtemp(prefix="hac-hurt-"))
    slow = _Server(None)
    fe = free_port()
    (directory / "haproxy.cfg").write_text(CONFIG.format(
        d=directory, fe=fe, inner=free_port(), closed=free_port(), slow=slow.port))
    out = open(directory / "haproxy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(haproxy_binary.path), "-f", str(directory / "haproxy.cfg")],
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    handle = Lab(directory, proc, fe, slow)
    if not wait_for_socket(handle.socket):
        handle.stop()
        raise RuntimeError("HAProxy did not start: " + (directory / "haproxy.log").read_text())
    yield handle
    handle.stop()


def app_for(lab: Lab, **kw: Any) -> HAConsoleApp:
    return HAConsoleApp(Target(name="hurt", socket=lab.socket, interval=0.5), **kw)


async def open_hurting(app: HAConsoleApp, pilot: Any) -> HurtingScreen:
    await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
    await until(pilot, lambda: app.collector is not None and app.collector.following,
                "the log collector", detail=lambda: app.collector.describe()
                if app.collector else "none")
    # as w opens it, with streams stuck after 1 s instead of 30 s
    app.push_screen(HurtingScreen(app, RuntimeClient(app.target.socket or ""),
                                  stuck_age=STUCK_AGE))
    await until(pilot, lambda: isinstance(app.screen, HurtingScreen)
                and app.screen.triage is not None, "the triage screen")
    screen = app.screen
    assert isinstance(screen, HurtingScreen)
    return screen


def labels(screen: HurtingScreen) -> list[str]:
    return [r[1] for r in screen.rows_text]


@pytest.mark.haproxy
async def test_w_ranks_what_hurts_with_its_evidence(lab: Lab) -> None:
    app = app_for(lab)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_hurting(app, pilot)
        tag = f"/t{time.monotonic_ns()}"
        for i in range(6):
            lab.get(f"{tag}/{i}")
            lab.get(f"{tag}/{i}/fail")
        lab.hold(2)
        send_raw(lab.fe, b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n")
        time.sleep(STUCK_AGE + 0.2)
        screen.action_reread()

        def ready() -> bool:
            names = labels(screen)
            return {"be_down", "be_app/app1", "be_slow", "fe_main"} <= set(names)

        await until(pilot, ready, "the ranking", timeout=15,
                    detail=lambda: f"{screen.rows_text} / {screen.status_text}")
        names = labels(screen)
        assert names[0] == "be_down", names  # no usable server outranks everything
        rows = {r[1]: r for r in screen.rows_text}
        assert "no usable server" in rows["be_down"][3]
        assert "errors" in rows["be_app/app1"][3]
        assert rows["be_slow"][8] == "2"  # two stuck streams
        assert "invalid request" in rows["fe_main"][3]
        assert "logs (1m)" in screen.status_text and "sessions" in screen.status_text

        # the evidence of be_app/app1: the reason and the 500 lines from the logs
        table = screen.query_one("#hurt-table")
        table.move_cursor(row=names.index("be_app/app1"))  # type: ignore[attr-defined]
        await pilot.pause(0.1)
        assert "last error lines" in screen.evidence
        assert f"{tag}/" in screen.evidence and "/fail" in screen.evidence
        assert "500" in screen.evidence

        # l: its logs, filtered on it
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen), "the logs screen")
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        assert logs.filter_text == "be=be_app srv=app1"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "back on the triage")

        # s: the summaries; by server, be_app/app1 counts its 500s
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, LogSummaryScreen), "summaries")
        summary = app.screen
        assert isinstance(summary, LogSummaryScreen)
        await until(pilot, lambda: any(r[0] == "be_app/app1" for r in summary.rows_text),
                    "be_app/app1 in the summary", detail=lambda: summary.status_text)
        row = next(r for r in summary.rows_text if r[0] == "be_app/app1")
        assert int(row[1].replace(",", "")) >= 12 and int(row[3].replace(",", "")) >= 6
        await pilot.press("g")  # by backend
        await pilot.pause(0.1)
        assert any(r[0] == "be_app" for r in summary.rows_text)
        for _ in range(3):  # 5m -> 15m -> mark
            await pilot.press("w")
        await pilot.pause(0.1)
        assert summary.window == "mark"
        assert "no incident mark" in summary.status_text
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "back on the triage")

        # enter: to the row on the main screen
        table.move_cursor(row=labels(screen).index("be_down"))  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is app.monitor, "the main screen")
        assert app.monitor.table.cursor_key == ("be_down", "BACKEND")


@pytest.mark.haproxy
async def test_export_holds_the_ranking_summaries_and_sample_lines(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(tmp_path))
    app = app_for(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
        await until(pilot, lambda: app.collector is not None and app.collector.following,
                    "the log collector")
        await pilot.pause(0.3)
        tag = f"/exp{time.monotonic_ns()}"
        for i in range(4):
            lab.get(f"{tag}/{i}/fail")
        lab.get(f"{tag}/\x1b[2Jesc/fail")  # HAProxy refuses it: an invalid request
        assert app.collector is not None
        await until(pilot, lambda: app.collector.windows.summary("server", "15m").records >= 5,
                    "the lines")
        await until(pilot, lambda: app.monitor.snapshot is not None
                    and app.monitor.snapshot.get("be_down", "dead1") is not None
                    and app.monitor.snapshot.get("be_down", "dead1").status.kind == "DOWN",
                    "be_down's server DOWN")
        await pilot.press("x")
        await until(pilot, lambda: list(tmp_path.glob("haconsole-timeline-*.md")), "the file")
    text = next(tmp_path.glob("haconsole-timeline-*.md")).read_text()
    assert "## What was hurting" in text
    hurting = text.split("## What was hurting", 1)[1]
    assert "backend be_down" in hurting and "no usable server" in hurting
    assert "## Log summaries: the last 15 minutes" in text
    assert "### Per server" in text and "| be_app/app1 |" in text
    assert "### Top paths by errors" in text and f"{tag}/0/fail" in text
    assert "## Sample error lines" in text and "### server be_app/app1" in text
    assert "\x1b" not in text


@pytest.mark.haproxy
async def test_mark_window_counts_from_the_mark(lab: Lab) -> None:
    app = app_for(lab)
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
        await until(pilot, lambda: app.collector is not None and app.collector.following,
                    "the log collector")
        await pilot.pause(0.3)  # HAProxy reads the command that opened the stream
        lab.get("/before-the-mark/fail")
        assert app.collector is not None
        windows = app.collector.windows
        await until(pilot, lambda: any("before-the-mark" in k for k, _ in
                                       windows.summary("path", "1m").groups),
                    "the line before the mark")  # lines count when they arrive
        await pilot.press("m")
        await until(pilot, lambda: app.collector.windows.mark_at is not None, "the mark")
        tag = f"/after-{time.monotonic_ns()}"
        lab.get(tag + "/fail")
        await until(pilot, lambda: windows.summary("path", "mark").records >= 1,
                    "the line after the mark")
        paths = [k for k, _ in windows.summary("path", "mark").groups]
        assert any(tag in p for p in paths) and not any("before-the-mark" in p for p in paths)
        await pilot.press("M")
        await until(pilot, lambda: windows.mark_at is None, "the mark cleared")


@pytest.mark.haproxy
async def test_triage_flag_opens_on_what_hurts(lab: Lab) -> None:
    app = app_for(lab, triage=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HurtingScreen)
                    and app.screen.triage is not None, "the triage screen")
        screen = app.screen
        assert isinstance(screen, HurtingScreen)
        await until(pilot, lambda: "be_down" in labels(screen), "be_down ranked",
                    detail=lambda: screen.status_text)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.monitor, "the main screen")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, HurtingScreen), "w opens it")


@pytest.mark.haproxy
async def test_a_log_file_as_the_source(lab: Lab) -> None:
    """HAProxy also logs to its stdout, a file here: --log-file follows it."""
    path = lab.dir / "haproxy.log"
    app = HAConsoleApp(Target(name="hurt", socket=lab.socket, interval=0.5,
                              log_file=str(path)))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.collector is not None and app.collector.following,
                    "the file followed")
        assert app.collector is not None and app.collector.source == f"file {path}"
        tag = f"/file-{time.monotonic_ns()}"
        lab.get(tag + "/fail")
        windows = app.collector.windows
        await until(pilot, lambda: any(tag in k for k, _ in
                                       windows.summary("path", "1m").groups),
                    "the line from the file", detail=lambda: app.collector.describe()
                    if app.collector else "")
        assert "logs: file" in app.collector.describe()
        # the logs screen shows the file's lines too
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen), "the logs screen")
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        await until(pilot, lambda: logs.state == "live", "live")
        assert f"file {path}" in logs.status_text
        tag2 = f"/file2-{time.monotonic_ns()}"
        lab.get(tag2)
        await until(pilot, lambda: any(tag2 in str(r) for r in logs.buffer),
                    "the line on the logs screen", detail=lambda: logs.status_text)


async def test_missing_sources_are_said_not_raised(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from console.haproxy.logs.collector import LogCollector
    from console.haproxy.logs.parse import LineParser

    c = LogCollector(None, LineParser.auto, log_file=str(tmp_path / "nope.log"))
    await c.run()
    assert c.state == "stopped" and "no log file" in c.why and "--log-file" in c.why
    monkeypatch.setenv("PATH", str(tmp_path))
    c = LogCollector(None, LineParser.auto, journal_unit="haproxy")
    await c.run()
    assert c.state == "stopped" and "journalctl is not installed" in c.why
    c = LogCollector(None, LineParser.auto)
    await c.run()
    assert c.state == "no-ring" and "no stats socket" in c.describe()


async def test_a_recording_keeps_the_log_summaries_and_the_mark(lab: Lab, tmp_path: Path) -> None:
    """The recording console's log windows go into the recording; the replay's
    summaries (and its since-the-mark window) count what the live ones counted."""
    from console.haproxy.recording import LOGS, Recording
    from console.ui.replay import ReplayApp, start_recording
    from console.ui.screens.log_summary import LogSummaryScreen

    path = tmp_path / "logs.hacrec"
    app = app_for(lab)
    recorder = start_recording(app, str(path))
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
            await until(pilot, lambda: app.collector is not None and app.collector.following,
                        "the log collector")
            await pilot.pause(0.3)
            assert app.collector is not None
            windows = app.collector.windows
            for _ in range(3):
                lab.get("/before/fail")
            await until(pilot, lambda: windows.summary("server", "15m").records >= 3,
                        "the lines before the mark")
            await pilot.press("m")
            for _ in range(4):
                lab.get("/after/fail")
            await until(pilot, lambda: windows.summary("path", "mark").records >= 4,
                        "the lines after the mark")
            await pilot.pause(0.6)  # a poll after the mark carries it into the recording
            live = {k: g.requests for k, g in windows.summary("path", "15m").groups}
            live_mark = {k: g.requests for k, g in windows.summary("path", "mark").groups}
    finally:
        recorder.close("console closed")
    with Recording(str(path)) as rec:
        assert any(e.kind == LOGS for e in rec.entries)
    replay = ReplayApp(Recording(str(path)), speed=60)
    async with replay.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: replay.replay.ended, "the end of the replay")
        await pilot.pause(0.3)
        collector = replay.collector
        assert collector is not None and collector.following
        replayed = {k: g.requests for k, g in
                    collector.windows.summary("path", "15m").groups}
        assert replayed == live
        assert replay.monitor.mark is not None
        assert {k: g.requests for k, g in
                collector.windows.summary("path", "mark").groups} == live_mark
        replay.monitor.navigation.open_log_summary()
        await until(pilot, lambda: isinstance(replay.screen, LogSummaryScreen),
                    "the summaries screen")
        screen = replay.screen
        assert isinstance(screen, LogSummaryScreen)
        await pilot.pause(0.3)  # mounted, its first refresh done
        await until(pilot, lambda: bool(screen.rows_text), "the summary rows")
        assert "the log summaries of" in screen.status_text


def test_the_recorder_records_the_rings_log_summaries(lab: Lab, tmp_path: Path) -> None:
    """``haconsole record`` follows the instance's ring: its 10 s log buckets are in the
    file (the last one at the end), with the requests made meanwhile."""
    import sys

    from console.haproxy.logs.windows import Windows
    from console.haproxy.recording import FrameReader, Recording

    path = tmp_path / "rec.hacrec"
    proc = subprocess.Popen([sys.executable, "-m", "console", "-s", lab.socket, "record",
                             "-o", str(path), "--duration", "6s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    said = [proc.stderr.readline(), proc.stderr.readline()]  # recording…, then the logs
    assert said[1].endswith(": log summaries recorded from now on\n"), said
    for _ in range(5):
        lab.get("/recorded/fail")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, said + [err]
    with Recording(str(path)) as rec:
        reader = FrameReader(rec)
        for i in range(len(rec.entries)):
            reader.step(i)
    windows = Windows()
    for state in reader.logs:
        windows.add_state(state)
    paths = {k: g.requests for k, g in windows.summary("path", "15m", now=windows.last_at)
             .groups}
    assert paths.get("/recorded/fail") == 5, paths
