"""The captured errors screen (``E``) and the sessions screen (``K``) on a real HAProxy
with captured errors and streams held open (:mod:`tests.triage_helpers`), every
version; and their display of hostile bytes, offline."""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from console.haproxy.captured_errors import parse_errors
from console.haproxy.sessions import parse_sessions
from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.screens import sessions as sessions_screen
from console.ui.screens.captured import NOTHING, CapturedScreen, describe
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.sessions import SessionsScreen
from console.ui.widgets.table import ProxyTable
from tests.triage_helpers import Triage, cli, open_streams, provoke_errors, start_triage, wait_for
from tests.ui.screen_host import Host, until

SIZE = (120, 40)


@pytest.fixture(scope="module")
def triage(haproxy_binary: Any) -> Iterator[Triage]:
    directory = Path(tempfile.mkdtemp(prefix="hac-triage-ui-"))
    t = start_triage(directory, str(haproxy_binary.path))
    try:
        yield t
    finally:
        t.stop()
        shutil.rmtree(directory, ignore_errors=True)


def app_for(socket_path: str, *, read_only: bool = False) -> HAConsoleApp:
    return HAConsoleApp(Target(name="triage", socket=socket_path, interval=0.5,
                               read_only=read_only))


def screen_text(app: HAConsoleApp) -> str:
    """What the terminal shows, as text (the rendered screen)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def reversed_on_screen(app: HAConsoleApp) -> list[str]:
    """The texts the terminal shows in reverse video."""
    return [seg.text for strip in app.screen._compositor.render_strips() for seg in strip
            if seg.style is not None and seg.style.reverse]


def journal() -> list[dict[str, Any]]:
    from console.haproxy.journal import read_entries

    return read_entries()


async def open_errors(app: HAConsoleApp, pilot: Any) -> CapturedScreen:
    await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
    await pilot.press("E")
    await until(pilot, lambda: isinstance(app.screen, CapturedScreen), "the errors screen")
    screen = app.screen
    assert isinstance(screen, CapturedScreen)
    await until(pilot, lambda: screen.state in ("shown", "failed"), "show errors read",
                detail=lambda: screen.status_text)
    return screen


async def open_sessions(app: HAConsoleApp, pilot: Any) -> SessionsScreen:
    await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
    await pilot.press("K")
    await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
    screen = app.screen
    assert isinstance(screen, SessionsScreen)
    await until(pilot, lambda: screen.state in ("shown", "failed"), "show sess read",
                detail=lambda: screen.status_text)
    return screen


def live_ids(t: Triage, source: str) -> set[str]:
    text = cli(t.admin, "show sess").decode("utf-8", "replace")
    return {s.id for s in parse_sessions(text).rows if (s.client or "").startswith(source)}


# --------------------------------------------------------------------------- errors

@pytest.mark.haproxy
async def test_errors_screen_marks_the_faulty_byte_and_never_prints_escapes(
        triage: Triage) -> None:
    provoke_errors(triage)
    app = app_for(triage.admin)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_errors(app, pilot)
        assert screen.state == "shown", screen.message_text
        rows = {r[0]: r for r in screen.table_rows()}
        req, resp = rows["fe_triage"], rows["be_badresp"]
        assert req[1] == "req" and req[3].startswith("127.0.0.2:")
        assert req[2] == "in a header name" and req[5].startswith("#")
        assert resp[1] == "resp" and resp[3].startswith("127.0.0.3:")
        assert "captured since HAProxy started" in screen.status_text
        assert "last per proxy and direction" in screen.status_text
        # the request's entry: the ESC at 27 in reverse, in the text and the hex dump
        table = screen.query_one("#captured-table")
        for _ in range(table.row_count):  # type: ignore[attr-defined]
            chosen = screen.selected()
            if chosen is not None and chosen.proxy == "fe_triage":
                break
            await pilot.press("down")
        chosen = screen.selected()
        assert chosen is not None and chosen.proxy == "fe_triage"
        detail = screen.query_one("#captured-entry").render()
        plain_detail = str(detail)
        assert "faulty byte at position 27: 0x1b (\\x1b)" in plain_detail
        assert "> 00025  X-\\x1b[31mRed" in plain_detail
        assert "00010  " in plain_detail and "X-.[31" in plain_detail  # the hex dump
        text = describe(chosen)
        marked = [text.plain[s.start:s.end] for s in text.spans if "reverse" in str(s.style)]
        assert marked == ["\\x1b", "\\x1b", "1b", "."]  # the byte, the text, hex, ASCII
        await pilot.pause(0.1)
        on_screen = reversed_on_screen(app)
        assert "1b" in on_screen and "\\x1b" in on_screen
        shown = screen_text(app)
        assert "\x1b" not in shown and "\x00" not in shown
        assert "fe_triage" in shown and "invalid request" in shown
        # r reads again
        await pilot.press("r")
        await until(pilot, lambda: screen.state == "shown", "read again")
        assert len(screen.table_rows()) == 2
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CapturedScreen), "closed")


@pytest.mark.haproxy
async def test_both_screens_at_level_user_say_why_in_one_line(triage: Triage) -> None:
    app = app_for(triage.user)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_errors(app, pilot)
        assert screen.state == "failed"
        assert screen.message_text == ("permission denied: 'show errors' needs a stats "
                                       "socket at level operator or admin")
        assert "Traceback" not in screen_text(app)
        assert screen.table_rows() == []
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.monitor, "back")
        sessions = await open_sessions(app, pilot)
        assert sessions.state == "failed"
        assert sessions.message_text == ("permission denied: 'show sess' needs a stats "
                                         "socket at level operator or admin")
        assert sessions.shown_streams() == []


def test_errors_screen_empty_state_says_nothing_captured() -> None:
    import asyncio

    async def run() -> None:
        screen = CapturedScreen(None, None)
        async with Host(screen).run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen.show(parse_errors("Total events captured on [01/Dec/2026:04:02:42.261] : 0\n"))
            await pilot.pause()
            assert screen.message_text.startswith("nothing captured")
            assert NOTHING.split(":")[0] in screen.message_text
            assert "0 invalid requests/responses" in screen.status_text

    asyncio.run(run())


def test_a_hostile_buffer_is_shown_escaped() -> None:
    text = ("Total events captured on [01/Dec/2026:04:02:42.261] : 1\n\n"
            "[01/Dec/2026:04:02:35.554] frontend fe\\e[2J (#2): invalid request\n"
            "  backend <NONE> (#-1), server <NONE> (#-1), event #2, src 127.0.0.2:55013\n"
            "  len 20, wraps at 16344, error at position 5\n"
            "  H1 msg state MSG_HDR_NAME(17), H1 msg flags 0x00001410\n\n"
            "  00000  GET \\e]0;pwned\\x07\\x9b31m\\r\\n\n")
    result = parse_errors(text)
    out = describe(result.entries[0])
    assert "\x1b" not in out.plain and "\x07" not in out.plain and "\x9b" not in out.plain
    assert "\\x1b]0;pwned" in out.plain


# --------------------------------------------------------------------------- sessions

def test_a_hostile_uri_is_shown_escaped() -> None:
    import asyncio

    answer = ("0x55d9c34e6a50: proto=tcpv4 src=127.0.0.4:50327 fe=fe be=be\x1b[2J srv=s1 "
              "ts=00 epoch=0 age=1m5s calls=2 rate=0 cpu=0 lat=0 rq[f=0] rp[f=0] exp=0s rc=0 "
              'uri="GET /\x1b]0;pwned\x07 HTTP/1.1"\n')

    async def run() -> None:
        screen = SessionsScreen(None, None)
        app = Host(screen)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen.show(parse_sessions(answer))
            await pilot.pause()
            assert [s.id for s in screen.shown_streams()] == ["0x55d9c34e6a50"]
            await pilot.press("down")
            await pilot.pause()
            shown = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
            assert "\x1b" not in shown and "\x07" not in shown
            assert "1m5s" in shown
            assert "\\x1b]0;pwned" in screen.detail_text

    asyncio.run(run())


@pytest.mark.haproxy
async def test_sessions_screen_groups_filters_and_cuts_a_stream(triage: Triage) -> None:
    old = open_streams(triage, 3, source="127.0.0.9", path="/stuck")
    assert wait_for(lambda: len(live_ids(triage, "127.0.0.9:")) == 3)
    time.sleep(6)
    fresh_at = time.monotonic()
    open_streams(triage, 1, source="127.0.0.10")
    assert wait_for(lambda: len(live_ids(triage, "127.0.0.10:")) == 1)
    app = app_for(triage.admin)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.level == "admin", "the socket's level")
        screen = await open_sessions(app, pilot)
        assert screen.state == "shown", screen.message_text
        groups = {g.key: g for g in screen.shown_groups()}
        assert groups["be_slow"].count >= 4 and (groups["be_slow"].oldest or 0) >= 2
        streams = screen.shown_streams()
        assert {s.id for s in streams} >= live_ids(triage, "127.0.0.9:")
        ages = [s.age or 0 for s in streams]
        assert ages == sorted(ages, reverse=True)  # the oldest first
        # g cycles the grouping: frontend, server, client
        await pilot.press("g")
        assert screen.by == "frontend" and "fe_triage" in {g.key for g in screen.shown_groups()}
        await pilot.press("g")
        assert "be_slow/slow1" in {g.key for g in screen.shown_groups()}
        await pilot.press("g")
        by_client = {g.key: g for g in screen.shown_groups()}
        assert by_client["127.0.0.9"].count == 3 and by_client["127.0.0.10"].count == 1
        # o with a bad value: a clear message, nothing changes
        await pilot.press("o")
        box = screen.query_one("#sessions-older", Input)
        assert box.has_focus
        box.value = "soon"
        await pilot.press("enter")
        error = str(screen.query_one("#sessions-older-error").render())
        assert "invalid age" in error and "30s" in error
        assert screen.older is None
        # o Ns: only the old ones (N: over the fresh stream's age, under the old ones')
        threshold = math.ceil(time.monotonic() - fresh_at) + 3
        box.value = f"{threshold}s"
        reads = screen.reads
        await pilot.press("enter")
        await until(pilot, lambda: screen.reads > reads, "read with the threshold")
        assert screen.older == threshold and f"at least {threshold}s old" in screen.status_text
        clients = {(s.client or "").split(":")[0] for s in screen.shown_streams()}
        assert "127.0.0.9" in clients and "127.0.0.10" not in clients
        shown = screen_text(app)
        assert "\x1b" not in shown
        # k on a stream, y: it is cut, journaled
        victim = next(s for s in screen.shown_streams()
                      if (s.client or "").startswith("127.0.0.9:"))
        table = screen.query_one("#sessions-table")
        table.move_cursor(row=table.get_row_index(f"s{victim.id}"))  # type: ignore[attr-defined]
        await pilot.pause()
        before = len(journal())
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert f"shutdown session {victim.id}" in confirm.commands
        assert "127.0.0.9" in confirm.body
        await pilot.press("y")
        await until(pilot, lambda: victim.id not in live_ids(triage, "127.0.0.9:"),
                    "the stream cut")
        await until(pilot, lambda: app.screen is screen and
                    victim.id not in {s.id for s in screen.shown_streams()},
                    "the list read again", detail=lambda: screen.message_text)
        assert f"stream {victim.id} cut" in screen.message_text
        sent = [e for e in journal()[before:]
                if e.get("command") == f"shutdown session {victim.id}"]
        assert len(sent) == 1 and not sent[0].get("error"), sent
        assert sent[0]["before"]["client"] == victim.client
        assert len(live_ids(triage, "127.0.0.9:")) == 2
    del old


@pytest.mark.haproxy
async def test_k_on_a_stream_that_ended_is_refused_and_journaled(triage: Triage) -> None:
    (client,) = open_streams(triage, 1, source="127.0.0.14")
    assert wait_for(lambda: len(live_ids(triage, "127.0.0.14:")) == 1)
    (sid,) = live_ids(triage, "127.0.0.14:")
    app = app_for(triage.admin)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.level == "admin", "the socket's level")
        screen = await open_sessions(app, pilot)
        table = screen.query_one("#sessions-table")
        table.move_cursor(row=table.get_row_index(f"s{sid}"))  # type: ignore[attr-defined]
        cli(triage.admin, f"shutdown session {sid}")  # someone else cut it meanwhile
        assert wait_for(lambda: sid not in live_ids(triage, "127.0.0.14:"))
        before = len(journal())
        await pilot.press("k")
        await until(pilot, lambda: any("refused before sending anything" in n.message
                                       for n in app._notifications), "the refusal")
        assert not isinstance(app.screen, ConfirmScreen)
        words = next(n.message for n in app._notifications if "refused" in n.message)
        assert f"no stream {sid}: it may have ended already" in words
        refused = [e for e in journal()[before:] if e.get("via") == "refused"]
        assert len(refused) == 1 and sid in str(refused[0])
    client.close()


@pytest.mark.haproxy
async def test_sessions_screen_prefilters_on_the_selected_server_or_backend(
        triage: Triage) -> None:
    open_streams(triage, 1, source="127.0.0.11")
    assert wait_for(lambda: len(live_ids(triage, "127.0.0.11:")) == 1)
    app = app_for(triage.admin)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
        table = app.monitor.query_one(ProxyTable)
        assert table.move_cursor_to(("be_slow", "slow1"))
        screen = await open_sessions(app, pilot)
        assert screen.only == ("be_slow", "slow1")
        assert "only server be_slow/slow1" in screen.status_text
        streams = screen.shown_streams()
        assert streams and all((s.backend, s.server) == ("be_slow", "slow1") for s in streams)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.monitor, "back")
        assert table.move_cursor_to(("be_badresp", "BACKEND"))
        screen = await open_sessions(app, pilot)
        assert screen.only == ("be_badresp", None)
        assert "only backend be_badresp: 0" in screen.status_text
        assert screen.shown_streams() == []
        assert "no stream on backend be_badresp" in screen.message_text
        await pilot.press("a")
        await until(pilot, lambda: screen.only is None, "every stream")
        assert any(s.backend == "be_slow" for s in screen.shown_streams())
        assert screen.message_text == ""


@pytest.mark.haproxy
@pytest.mark.parametrize("how", ["operator", "read-only"])
async def test_sessions_screen_refuses_k_without_admin(triage: Triage, how: str) -> None:
    source = "127.0.0.12" if how == "operator" else "127.0.0.13"
    (client,) = open_streams(triage, 1, source=source)
    assert wait_for(lambda: len(live_ids(triage, source + ":")) == 1)
    ids = live_ids(triage, source + ":")
    app = app_for(triage.operator) if how == "operator" else app_for(triage.admin,
                                                                    read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.level is not None, "the socket's level")
        screen = await open_sessions(app, pilot)
        assert screen.state == "shown", screen.message_text
        sid = next(iter(ids))
        table = screen.query_one("#sessions-table")
        table.move_cursor(row=table.get_row_index(f"s{sid}"))  # type: ignore[attr-defined]
        await pilot.press("k")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)
        words = screen.message_text
        assert words.startswith("cannot cut a stream:")
        assert ("level operator" in words and "needs level admin" in words) \
            if how == "operator" else "read-only" in words
    assert live_ids(triage, source + ":") == ids
    client.close()


# --------------------------------------------------------------------------- offline

ERRORS = """\
Total events captured on [01/Dec/2026:04:02:42.261] : 4

[01/Dec/2026:04:02:35.554] frontend fe_triage (#2): invalid request
  backend <NONE> (#-1), server <NONE> (#-1), event #2, src 127.0.0.2:55013
  buffer starts at 0 (including 0 out), 16338 free,
  len 46, wraps at 16344, error at position 27
  H1 connection flags 0x00000000, H1 stream flags 0x00000810
  H1 msg state MSG_HDR_NAME(17), H1 msg flags 0x00001410
  H1 chunk len 0 bytes, H1 body len 0 bytes :

  00000  GET / HTTP/1.1\\r\\n
  00016  Host: x\\r\\n
  00025  X-\\e[31mRed\\e[0m: 1\\r\\n
  00044  \\r\\n
"""

SESS = "".join(
    f"0x55d9c34e{n:04x}: proto=tcpv4 src=127.0.0.{4 + n % 2}:{50000 + n} fe=fe_triage "
    f"be=be_slow srv=slow1 ts=00 epoch=0 age={100 - n}s calls=2 rate=0 cpu=0 lat=0 "
    f'rq[f=0] rp[f=0] exp=0s rc=0 uri="GET /slow/{n} HTTP/1.1"\n' for n in range(5))


class StaticClient:
    """Answers from a table; an error for anything else (a gone socket)."""

    where = "static"

    def __init__(self, answers: dict[str, str], error: Exception | None = None) -> None:
        self.answers, self.error = answers, error

    async def run(self, command: str, **_: Any) -> str:
        if self.error is not None:
            raise self.error
        return self.answers[command]


def test_snapshot_errors_80x24(snap_compare: Any) -> None:
    screen = CapturedScreen(Target(name="edge"),
                            StaticClient({"show errors": ERRORS}))  # type: ignore[arg-type]

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: screen.state == "shown", "show errors read")

    assert snap_compare(Host(screen), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_sessions_80x24(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_screen.time, "strftime", lambda _f: "04:02:42")
    screen = SessionsScreen(Target(name="edge"),
                            StaticClient({"show sess show-uri": SESS}),  # type: ignore[arg-type]
                            version="3.2.0")

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: screen.state == "shown", "show sess read")
        await pilot.press("g", "g", "g", "down")

    assert snap_compare(Host(screen), terminal_size=(80, 24), run_before=run_before)


def test_a_gone_socket_is_one_line_on_both_screens() -> None:
    import asyncio

    from console.haproxy.errors import ConnectError
    from console.haproxy.transport import RuntimeClient

    async def run() -> None:
        for make in (lambda c: CapturedScreen(None, c), lambda c: SessionsScreen(None, c)):
            screen = make(RuntimeClient("/nonexistent/haproxy.sock"))
            async with Host(screen).run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda s=screen: s.state == "failed", "the failure")
                words = screen.message_text
                assert words.startswith("cannot read the ") and "\n" not in words.strip()
                assert "nonexistent" in words
                await pilot.press("r")
                await until(pilot, lambda s=screen: s.state == "failed", "again")
        screen = CapturedScreen(None, StaticClient({}, ConnectError("gone", "x.sock")))
        async with Host(screen).run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: screen.state == "failed", "the failure")
            assert screen.message_text == "cannot read the captured errors: gone (x.sock)"

    asyncio.run(run())


def test_a_capped_answer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    async def run() -> None:
        screen = SessionsScreen(None, None)
        async with Host(screen).run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screen.show(parse_sessions(SESS, max_rows=2))
            await pilot.pause()
            assert "5 streams" in screen.status_text
            assert "capped: the 2 oldest kept, 3 left out" in screen.status_text
            assert [s.age for s in screen.shown_streams()] == [100.0, 99.0]
            (group,) = screen.shown_groups()
            assert group.count == 5  # every stream is counted, kept or not
            await pilot.press("g", "g", "g")  # by client: 2 groups, 3 rows each at most
            monkeypatch.setattr(sessions_screen, "MAX_SHOWN", 3)
            screen.show(parse_sessions(SESS))
            await pilot.pause()
            assert [g.key for g in screen.shown_groups()] == ["127.0.0.4"]
            assert [s.age for s in screen.shown_streams()] == [100.0, 98.0]
            assert "listed: 2 streams, 1 of 2 groups (the oldest)" in screen.status_text

    asyncio.run(run())


def test_k_on_a_group_row_or_without_a_socket_says_why() -> None:
    import asyncio

    async def run() -> None:
        screen = SessionsScreen(None, StaticClient({"show sess show-uri": SESS}),
                                version="3.2.0", level="admin",
                                operations=object())  # type: ignore[arg-type]
        app = Host(screen)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: screen.state == "shown", "read")
            assert screen.refusal() is None
            await pilot.press("k")  # the cursor is on the group row
            await pilot.pause()
            assert any("select a stream" in n.message for n in app._notifications)
        bare = SessionsScreen(None, None, level="admin")
        async with Host(bare).run_test(size=(80, 24)) as pilot:
            await pilot.press("k")
            await pilot.pause()
            assert bare.message_text == "cannot cut a stream: no stats socket"

    asyncio.run(run())
