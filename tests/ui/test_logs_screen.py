"""The logs screen (``l``) on a real HAProxy logging to a ring, with real HTTP traffic,
on every version; and its display of hostile bytes, offline."""

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
from textual.widgets import Input

from console.haproxy.logs import LineParser
from console.haproxy.transport import wait_for_socket
from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.screens.help import HelpScreen
from console.ui.screens.logs import NO_RING, LogsScreen, LogTable, filter_for_row
from console.ui.widgets.table import ProxyTable
from tests.instance import free_port, stop_process
from tests.ui.screen_host import Host, until

CONFIG = """\
global
    stats socket {d}/admin.sock level admin
    stats timeout 30s
    log ring@logs local0 info

ring logs
    description "test logs"
    format rfc5424
    maxlen 4096
    size 262144

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe_main
    bind 127.0.0.1:{fe}
    http-request capture req.hdr(x-note) len 40
    use_backend be_down if {{ path_sub /down }}
    default_backend be_app

frontend fe_inner
    bind 127.0.0.1:{inner}
    no log
    http-request return status 500 content-type text/plain string fail if {{ path_sub /fail }}
    http-request return status 200 content-type text/plain string ok

backend be_app
    server app1 127.0.0.1:{inner}

backend be_down
    retries 0
    server dead1 127.0.0.1:{closed}
"""

NO_RING_CONFIG = """\
global
    stats socket {d}/admin.sock level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe_main
    bind 127.0.0.1:{fe}
"""


class Logged:
    def __init__(self, directory: Path, proc: subprocess.Popen[bytes], fe: int) -> None:
        self.dir, self.proc, self.fe = directory, proc, fe
        self.socket = str(directory / "admin.sock")

    def request(self, raw: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.fe), timeout=5) as s:
            s.sendall(raw)
            return s.recv(200)

    def get(self, path: str, headers: str = "") -> bytes:
        return self.request(f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}"
                            "Connection: close\r\n\r\n".encode())

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def start(haproxy: str, template: str) -> Logged:
    directory = Path(tempfile.mkdtemp(prefix="hac-logs-"))
    fe = free_port()
    cfg = directory / "haproxy.cfg"
    cfg.write_text(template.format(d=directory, fe=fe, inner=free_port(), closed=free_port()))
    out = open(directory / "haproxy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([haproxy, "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    handle = Logged(directory, proc, fe)
    if not wait_for_socket(handle.socket):
        handle.stop()
        raise RuntimeError("HAProxy did not start: " + (directory / "haproxy.log").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", fe), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    return handle


@pytest.fixture(scope="module")
def logged(haproxy_binary: Any) -> Iterator[Logged]:
    handle = start(str(haproxy_binary.path), CONFIG)
    yield handle
    handle.stop()


def app_for(h: Logged) -> HAConsoleApp:
    return HAConsoleApp(Target(name="logs", socket=h.socket, interval=0.5))


def table_rows(screen: LogsScreen) -> list[list[str]]:
    table = screen.query_one(LogTable)
    return [screen.row_cells(i) for i in range(table.row_count)]


def paths_shown(screen: LogsScreen) -> list[str]:
    return [r[-1] for r in table_rows(screen)]


async def open_logs(app: HAConsoleApp, pilot: Any) -> LogsScreen:
    await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
    await pilot.press("l")
    await until(pilot, lambda: isinstance(app.screen, LogsScreen), "the logs screen")
    screen = app.screen
    assert isinstance(screen, LogsScreen)
    await until(pilot, lambda: screen.state == "live", "following the ring",
                detail=lambda: screen.status_text)
    return screen


@pytest.mark.haproxy
async def test_l_shows_live_lines_with_their_status(logged: Logged) -> None:
    app = app_for(logged)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_logs(app, pilot)
        tag = f"/live-{time.monotonic_ns()}"
        logged.get(tag)
        logged.get(tag + "/fail")
        await until(pilot, lambda: any(tag + "/fail" in p for p in paths_shown(screen)),
                    "the new lines", detail=lambda: screen.status_text)
        rows = {r[-1]: r for r in table_rows(screen)}
        ok = rows[f"GET {tag}"]
        fail = rows[f"GET {tag}/fail"]
        assert ok[4] == "200" and fail[4] == "500"
        assert ok[2] == "fe_main" and ok[3] == "be_app/app1" and ok[1] == "127.0.0.1"
        assert ok[6] == "--"
        assert "ring logs" in screen.status_text and "live" in screen.status_text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LogsScreen), "closed")


@pytest.mark.haproxy
async def test_pause_freezes_the_view_and_end_resumes(logged: Logged) -> None:
    app = app_for(logged)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_logs(app, pilot)
        tag = f"/pause-{time.monotonic_ns()}"
        logged.get(tag + "/a")
        await until(pilot, lambda: f"GET {tag}/a" in paths_shown(screen), "the first line")
        await pilot.press("space")
        assert screen.paused
        logged.get(tag + "/b")
        logged.get(tag + "/c")
        await until(pilot, lambda: "PAUSED, 2 new" in screen.status_text, "2 new while paused",
                    detail=lambda: screen.status_text)
        assert f"GET {tag}/b" not in paths_shown(screen)  # the view is frozen
        await pilot.press("end")
        assert not screen.paused
        await until(pilot, lambda: f"GET {tag}/c" in paths_shown(screen), "the lines after")
        table = screen.query_one(LogTable)
        assert table.cursor_row == table.row_count - 1
        # moving back pauses; p resumes
        await pilot.press("up")
        assert screen.paused
        await pilot.press("p")
        assert not screen.paused


@pytest.mark.haproxy
async def test_filter_keeps_only_matching_lines_and_says_mistakes_in_words(
        logged: Logged) -> None:
    app = app_for(logged)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_logs(app, pilot)
        tag = f"/filter-{time.monotonic_ns()}"
        for suffix in ("/1", "/fail", "/2"):
            logged.get(tag + suffix)
        await until(pilot, lambda: f"GET {tag}/2" in paths_shown(screen), "the lines")
        await pilot.press("slash")
        box = screen.query_one("#logs-filter", Input)
        assert box.has_focus
        box.value = "status>="
        await pilot.press("enter")
        error = screen.query_one("#logs-filter-error")
        assert error.display and "not a number" in str(error.render())
        assert box.has_class("visible")  # still open to correct it
        box.value = "status>=500"
        await pilot.press("enter")
        await pilot.pause()
        assert not error.display
        rows = table_rows(screen)
        assert rows and all(int(r[4]) >= 500 for r in rows)
        assert f"GET {tag}/fail" in [r[-1] for r in rows]
        logged.get(tag + "/3")
        logged.get(tag + "/fail2")
        await until(pilot, lambda: f"GET {tag}/fail2" in paths_shown(screen), "a new 500")
        assert f"GET {tag}/3" not in paths_shown(screen)


@pytest.mark.haproxy
async def test_l_from_a_server_row_opens_its_logs(logged: Logged) -> None:
    app = app_for(logged)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
        tag = f"/row-{time.monotonic_ns()}"
        logged.get(tag + "/app")
        logged.get(tag + "/down")
        assert app.query_one(ProxyTable).move_cursor_to(("be_down", "dead1"))
        screen = await open_logs(app, pilot)
        assert screen.filter_text == "be=be_down srv=dead1"
        await until(pilot, lambda: f"GET {tag}/down" in paths_shown(screen), "the server's line",
                    detail=lambda: screen.status_text)
        rows = table_rows(screen)
        assert all(r[3] == "be_down/dead1" for r in rows)
        assert f"GET {tag}/app" not in [r[-1] for r in rows]


@pytest.mark.haproxy
async def test_enter_explains_the_termination_state(logged: Logged) -> None:
    app = app_for(logged)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_logs(app, pilot)
        tag = f"/term-{time.monotonic_ns()}"
        logged.get(tag + "/down")
        await until(pilot, lambda: f"GET {tag}/down" in paths_shown(screen), "the line")
        row = paths_shown(screen).index(f"GET {tag}/down")
        screen.query_one(LogTable).move_cursor(row=row)
        await pilot.press("enter")
        await pilot.pause()
        text = screen.detail_text
        assert "SC: the server refused the connection" in text
        assert "status: 503" in text and "server: dead1" in text
        await pilot.press("escape")  # the detail first
        assert not screen.detail_text and isinstance(app.screen, LogsScreen)


@pytest.mark.haproxy
async def test_hostile_bytes_from_the_wire_never_reach_the_terminal(logged: Logged) -> None:
    app = app_for(logged)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_logs(app, pilot)
        tag = f"/esc-{time.monotonic_ns()}"
        logged.get(tag, headers="X-Note: a\x1b[2Jb\x07\r\n")
        logged.request(b"GET /x\x1b[31mred HTTP/1.1\r\nHost: t\r\n\r\n")
        await until(pilot, lambda: f"GET {tag}" in paths_shown(screen), "the line")
        assert not any("\x1b" in c or "\x07" in c for r in table_rows(screen) for c in r)
        row = paths_shown(screen).index(f"GET {tag}")
        screen.query_one(LogTable).move_cursor(row=row)
        await pilot.press("enter")
        await pilot.pause()
        # HAProxy writes a header capture's control bytes as #XX; shown as written
        assert "#1B[2Jb" in screen.detail_text
        assert "\x1b" not in screen.detail_text


@pytest.mark.haproxy
async def test_a_haproxy_without_a_ring_says_how_to_add_one(haproxy_binary: Any) -> None:
    handle = start(str(haproxy_binary.path), NO_RING_CONFIG)
    try:
        app = app_for(handle)
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, LogsScreen), "the logs screen")
            screen = app.screen
            assert isinstance(screen, LogsScreen)
            await until(pilot, lambda: screen.state == "stopped", "the message")
            assert screen.message == NO_RING
            assert "haconsole config add-log-ring" in str(
                screen.query_one("#logs-message").render())
    finally:
        handle.stop()


@pytest.mark.haproxy
async def test_shift_a_stages_a_ring_and_opens_the_config_screen(haproxy_binary: Any) -> None:
    from console.haproxy.staging import Staging
    from console.ui.screens.config import ConfigScreen

    handle = start(str(haproxy_binary.path), NO_RING_CONFIG)
    cfg = str(handle.dir / "haproxy.cfg")
    try:
        app = HAConsoleApp(Target(name="logs", socket=handle.socket, config=cfg,
                                  haproxy=str(haproxy_binary.path), interval=0.5))
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, LogsScreen)
                        and app.screen.state == "stopped", "no ring")
            await pilot.press("A")
            await until(pilot, lambda: isinstance(app.screen, ConfigScreen), "the config screen",
                        timeout=20)
            staging = Staging.load(cfg)
            assert staging.pending
            candidate = bytes(staging.candidate).decode()
            assert "ring haconsole_logs" in candidate
            assert "log ring@haconsole_logs local0 info" in candidate
            # the live file is untouched until the change is applied
            assert "ring haconsole_logs" not in (handle.dir / "haproxy.cfg").read_text()
    finally:
        handle.stop()


# -- offline: bytes HAProxy would not write, but a file or a hostile syslog relay might ----

HOSTILE = (b"<134>1 2026-12-01T04:50:15.053394+00:00 - haproxy 1 - - 10.0.0.1:5 "
           b"[01/Dec/2026:04:50:15.053] fe_main be_app/app1 0/0/0/0/0 200 73 - - SD-- "
           b"4/1/0/0/0 0/0 \"GET /a\x1b[31m\x1b]0;pwned\x07b HTTP/1.1\"")


async def test_raw_control_bytes_in_a_line_are_shown_escaped() -> None:
    parser = LineParser.auto()
    screen = LogsScreen(None, None, parser=parser)
    async with Host(screen).run_test(size=(160, 40)) as pilot:
        screen.add_results([parser.parse(HOSTILE, 1), parser.parse(b"\x1b[2Jgarbage\x00", 2),
                            parser.parse(b"not a log line at all", 3)])
        await until(pilot, lambda: screen.query_one(LogTable).row_count == 3, "the lines")
        rows = table_rows(screen)
        assert rows[0][-1] == "GET /a\\x1b[31m\\x1b]0;pwned\\x07b"
        assert rows[0][6] == "SD"
        assert rows[1][-1].startswith("(unparsed) \\x1b[2Jgarbage")
        assert all("\x1b" not in c and "\x07" not in c for r in rows for c in r)
        assert "2 unparsed" in screen.status_text
        screen.query_one(LogTable).move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert "SD: the server closed the connection while sending data" in screen.detail_text
        assert "\x1b" not in screen.detail_text and "\x07" not in screen.detail_text
        # no socket: the screen says where logs come from
        assert "stats socket" in screen.message


def test_filter_for_a_main_table_row() -> None:
    class R:
        def __init__(self, type_: str, proxy: str, name: str) -> None:
            self.type, self.proxy, self.name = type_, proxy, name

    assert filter_for_row(R("server", "be_api", "api1")) == "be=be_api srv=api1"
    assert filter_for_row(R("backend", "be_api", "BACKEND")) == "be=be_api"
    assert filter_for_row(R("frontend", "fe", "FRONTEND")) == "fe=fe"
    assert filter_for_row(R("listener", "fe", "l1")) == ""
    assert filter_for_row(None) == ""


async def test_help_on_the_logs_screen_lists_its_keys() -> None:
    from tests.ui.test_app import make_app

    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen), "the logs screen")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        ids = {r[2] for r in help_screen.rows}
        assert {"logs.close", "logs.pause", "logs.filter", "logs.live"} <= ids
        texts = " ".join(r[1] for r in help_screen.rows)
        assert "scroll back" in texts and "termination state in words" in texts


@pytest.mark.haproxy
async def test_one_reader_the_screen_shows_the_collectors_lines(logged: Logged) -> None:
    """The console reads its ring once: the logs screen shows the log collector's lines
    (the ring's backlog, logged before the console started, then the live ones) and
    follows nothing itself; the backlog is not counted in the live windows."""
    before = f"/before-{time.monotonic_ns()}"
    logged.get(before)
    app = app_for(logged)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.collector is not None and app.collector.caught_up,
                    "the collector read the backlog")
        screen = await open_logs(app, pilot)
        assert screen._follower is None and screen._unlisten is not None
        await until(pilot, lambda: f"GET {before}" in paths_shown(screen),
                    "the line logged before the console", detail=lambda: screen.status_text)
        after = f"/after-{time.monotonic_ns()}"
        logged.get(after)
        await until(pilot, lambda: f"GET {after}" in paths_shown(screen), "the live line")
        assert paths_shown(screen).count(f"GET {after}") == 1
        assert app.collector is not None
        counted = {k for k, _ in app.collector.windows.summary("path", "15m").groups}
        assert after in counted and before not in counted
