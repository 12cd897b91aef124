"""The ring reader: ``show events`` answers captured from the five binaries, the bounded
line splitter, and the follower against a scripted peer (reconnection, reload, drops)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from console.haproxy.errors import NoSuchObject, ValidationError
from console.haproxy.logs import LineParser, LogRecord
from console.haproxy.logs.parse import OVERLONG
from console.haproxy.logs.ring import (
    LineSplitter,
    RingFollower,
    RingLine,
    RingNote,
    check_ring_name,
    dropped_announcement,
    dropped_count,
    parse_sinks,
    user_rings,
)
from console.haproxy.transport import RuntimeClient

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "captured"
VERSIONS = ("2.6", "2.8", "3.0", "3.2", "3.4")


@pytest.mark.parametrize("version", VERSIONS)
def test_captured_sink_list(version: str) -> None:
    text = (CAPTURED / version / "show_events_list.txt").read_text()
    sinks = parse_sinks(text)
    names = [s.name for s in sinks]
    assert names[:3] == ["stdout", "stderr", "buf0"]
    assert [s.name for s in user_rings(sinks)] == ["logs"]
    logs = next(s for s in sinks if s.name == "logs")
    assert logs.is_ring and logs.dropped == 0 and logs.description == "haconsole log ring"
    if version in ("3.2", "3.4"):
        assert "dpapi" in names  # HAProxy's own ring, never picked as "the" ring


@pytest.mark.parametrize("version", VERSIONS)
def test_captured_ring_lines_parse(version: str) -> None:
    data = (CAPTURED / version / "show_events_ring.txt").read_bytes()
    lines = [x for x in LineSplitter().feed(data) if x]
    assert len(lines) == 2
    parser = LineParser.auto()
    recs = [parser.parse(x) for x in lines]
    assert all(isinstance(r, LogRecord) for r in recs)
    assert [r.fields["path"] for r in recs if isinstance(r, LogRecord)] == ["/a", "/b"]
    assert all(r.header.variant == "rfc5424" for r in recs if isinstance(r, LogRecord))
    wait = (CAPTURED / version / "show_events_ring_wait_new.txt").read_bytes()
    new = [parser.parse(x) for x in LineSplitter().feed(wait) if x]
    assert [r.fields["path"] for r in new if isinstance(r, LogRecord)] == ["/c"]
    nosuch = (CAPTURED / version / "show_events_nosuch.txt").read_bytes()
    assert nosuch.startswith(b"No such event sink")


@pytest.mark.parametrize("version", VERSIONS)
def test_captured_drops(version: str) -> None:
    """A follower stalled while 3,000 requests overflowed a 16 kB ring: the listing's
    counter (twice the count on 3.0+) and HAProxy's "N events dropped" line."""
    listing = parse_sinks((CAPTURED / version / "show_events_list_dropping.txt").read_text())
    raw = next(s for s in listing if s.name == "logs").dropped
    major, minor = map(int, version.split("."))
    data = (CAPTURED / version / "show_events_ring_wait_dropped.txt").read_bytes()
    lines = [x for x in LineSplitter().feed(data) if x]
    announced = [n for n in map(dropped_announcement, lines) if n is not None]
    traffic = [x for x in lines if b"GET /f" in x]
    assert dropped_count(raw, (major, minor)) == announced[-1]
    assert len(traffic) + sum(announced) == 3000
    assert dropped_announcement(traffic[0]) is None


def test_splitter_bounds_a_long_line() -> None:
    sp = LineSplitter(max_line=100)
    out = sp.feed(b"a" * 60)
    assert out == []
    out = sp.feed(b"b" * 60)  # 120 pending bytes: cut and marked
    assert len(out) == 1 and out[0].endswith(OVERLONG) and len(out[0]) < 200
    out = sp.feed(b"c" * 500 + b"\nnext\n")  # the rest of that line is skipped
    assert out == [b"next"] and sp.cut == 1
    assert sp.feed(b"x\r\n") == [b"x"]


def test_ring_names() -> None:
    assert check_ring_name("lab_logs") == "lab_logs"
    for bad in ("", "a b", "x;y", "a" * 65, "r\n"):
        with pytest.raises(ValidationError):
            check_ring_name(bad)


# -- the follower against a scripted peer --------------------------------------------

SINKS = ("Supported events sinks are listed below. Add -w(wait), -n(new). Any key to stop\n"
         "    buf0       : type=buffer, 0 dropped, in-memory ring buffer\n"
         "    logs       : type=buffer, {dropped} dropped, haconsole log ring\n\n")
LINE = ('<134>1 2026-12-01T04:01:17.861070+00:00 - haproxy 1 - - 127.0.0.1:42120 '
        '[01/Dec/2026:04:01:17.860] fe_main fe_main/<NOSRV> 0/-1/-1/-1/0 200 73 - - LR-- '
        '1/1/0/0/0 0/0 "GET /{path} HTTP/1.1"')


class Peer:
    """A fake stats socket: ``show info``/``show events`` answers, and a script per
    ``show events logs -w`` connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = 100
        self.dropped = 0
        self.ring: list[str] = []
        self.streams: list[Callable[[asyncio.StreamWriter], object]] = []
        self.commands: list[str] = []
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self.handle, self.path)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode().strip()
        self.commands.append(line)
        try:
            if line == "show info":
                writer.write(f"Name: HAProxy\nPid: {self.pid}\n\n".encode())
            elif line == "show events":
                writer.write(SINKS.format(dropped=self.dropped).encode())
            elif line == "show events logs":
                writer.write(("".join(x + "\n" for x in self.ring) + "\n").encode())
            elif line.startswith("show events logs -w"):
                script = self.streams.pop(0) if self.streams else None
                if script is not None:
                    await script(writer)  # type: ignore[misc]
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def _run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, 20))  # type: ignore[arg-type]


async def _collect(follower: RingFollower, n: int) -> list[RingLine | RingNote]:
    got: list[RingLine | RingNote] = []
    async for item in follower.follow():
        got.append(item)
        if sum(isinstance(x, RingLine) for x in got) >= n:
            follower.stop()
    return got


def test_follow_resumes_after_close_without_repeating(tmp_path: Path) -> None:
    async def main() -> list[RingLine | RingNote]:
        peer = Peer(str(tmp_path / "s.sock"))
        await peer.start()

        async def first(w: asyncio.StreamWriter) -> None:
            peer.ring += [LINE.format(path="a"), LINE.format(path="b")]
            w.write(b"".join(x.encode() + b"\n" for x in peer.ring))
            await w.drain()
            await asyncio.sleep(0.05)
            w.write(b"\n")  # 2.6's stats timeout: an empty line, then the close

        async def second(w: asyncio.StreamWriter) -> None:
            peer.ring.append(LINE.format(path="c"))
            # the backlog again (no -n after a reconnection), then the new line
            w.write(b"".join(x.encode() + b"\n" for x in peer.ring))
            await w.drain()
            await asyncio.sleep(5)

        peer.streams += [first, second]
        client = RuntimeClient(peer.path, read_timeout=2)
        got = await _collect(RingFollower(client, "logs", check_interval=0.2), 3)
        assert peer.commands.count("show events logs -w -n") == 1
        assert "show events logs -w" in peer.commands
        return got

    got = _run(main())
    paths = [i.data.rsplit(b"GET /", 1)[1][:1] for i in got if isinstance(i, RingLine)]
    assert paths == [b"a", b"b", b"c"]


def test_follow_reports_drops_and_moves_to_a_new_worker(tmp_path: Path) -> None:
    async def main() -> list[RingLine | RingNote]:
        peer = Peer(str(tmp_path / "s.sock"))
        await peer.start()

        async def old_worker(w: asyncio.StreamWriter) -> None:
            w.write(LINE.format(path="a").encode() + b"\n")
            await w.drain()
            peer.dropped = 7  # HAProxy refused 7 lines meanwhile
            await asyncio.sleep(0.4)
            # a line fits again: HAProxy says how many it dropped (3.x: a NUL at the end)
            peer.dropped = 0
            w.write(b"<133>1 2026-12-01T04:17:34.286015+00:00 - haproxy 1 - - "
                    b"7 events dropped\x00\n")
            await w.drain()
            await asyncio.sleep(0.3)
            peer.pid = 200  # a reload: the old worker keeps this connection open
            await asyncio.sleep(10)

        async def new_worker(w: asyncio.StreamWriter) -> None:
            w.write(LINE.format(path="n").encode() + b"\n")
            await w.drain()
            await asyncio.sleep(10)

        peer.streams += [old_worker, new_worker]
        client = RuntimeClient(peer.path, read_timeout=2)
        return await _collect(RingFollower(client, "logs", check_interval=0.1), 2)

    got = _run(main())
    notes = [i for i in got if isinstance(i, RingNote)]
    assert [n.kind for n in notes] == ["dropping", "dropped", "reload"]
    assert notes[0].lost is None and "7 so far" in notes[0].text
    assert notes[1].lost == 7
    assert [i.data[-12:] for i in got if isinstance(i, RingLine)][-1].endswith(b"/n HTTP/1.1\"")


def test_follow_unknown_ring_names_the_others(tmp_path: Path) -> None:
    async def main() -> None:
        peer = Peer(str(tmp_path / "s.sock"))
        await peer.start()
        client = RuntimeClient(peer.path, read_timeout=2)
        with pytest.raises(NoSuchObject, match="no ring named 'nope'") as exc:
            async for _ in RingFollower(client, "nope").follow():
                pass
        assert "logs" in (exc.value.hint or "")

    _run(main())


def test_journal_argv_and_missing_journalctl(monkeypatch: pytest.MonkeyPatch) -> None:
    from console import logs_cli

    assert logs_cli.journal_argv(None, follow=True) == [
        "journalctl", "-u", "haproxy", "-o", "cat", "--no-pager", "-f", "-n", "0"]
    assert logs_cli.journal_argv("haproxy@edge.service", follow=False)[:3] == [
        "journalctl", "-u", "haproxy@edge.service"]
    for bad in ("-x", "a b", "x;rm", ""):
        with pytest.raises(ValidationError):
            logs_cli.journal_argv(bad, follow=False)
    monkeypatch.setattr(logs_cli.shutil, "which", lambda name: None)
    from console.cli import main

    assert main(["logs", "--journal"]) != 0


def test_coalescing_never_resumes_a_connection_its_stream_paused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """While lines gather, the ring's connection is not read, then read again; one the
    stream paused itself (its buffer full, until the reader drains it) stays paused:
    resuming it would let the buffer grow without bound under a slow reader."""
    import socket

    from console.haproxy.logs import ring

    async def run() -> tuple[bool, bool]:
        ours, theirs = socket.socketpair()
        try:
            _, writer = await asyncio.open_connection(sock=ours)
            follower = ring.RingFollower(RuntimeClient("/nonexistent.sock"), "r")
            transport = writer.transport
            await follower._coalesce(writer)
            resumed = transport.is_reading()
            transport.pause_reading()  # as the stream does when its buffer is full
            await follower._coalesce(writer)
            still = not transport.is_reading()
            writer.close()
            return resumed, still
        finally:
            theirs.close()

    monkeypatch.setattr(ring, "COALESCE", 0.01)
    assert asyncio.run(run()) == (True, True)
