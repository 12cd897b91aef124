"""Every read has a total deadline and a size cap, whatever the peer does.

The peers are loopback servers this file starts (tests/peers.py): a socket or a
stats page that trickles one byte at a time (no per-read timeout ever fires), or
sends an endless answer. They stand in for a broken peer, not for HAProxy.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time

import pytest

from console.haproxy import errors
from console.haproxy.statspage import StatsPage
from console.haproxy.transport import MasterClient, RuntimeClient
from tests import peers

CAP = 1 << 20  # 1 MiB


def _too_large() -> type[errors.HAProxyError]:
    from console.haproxy.limits import AnswerTooLarge

    return AnswerTooLarge


def _client(kind: str, address: str, **kwargs: object) -> RuntimeClient:
    if kind == "master":
        return MasterClient(address, **kwargs)  # type: ignore[arg-type]
    return RuntimeClient(address, interactive=kind == "interactive", **kwargs)  # type: ignore[arg-type]


async def _run(client: RuntimeClient, kind: str) -> str:
    if isinstance(client, MasterClient):
        return await client.run_on(1, "show stat")
    return await client.run("show stat")


@pytest.mark.parametrize("kind", ["per-command", "interactive", "master"])
async def test_trickling_socket_ends_at_the_deadline(tmp_path, kind) -> None:
    with peers.peer(peers.trickling_socket, str(tmp_path / "s.sock")) as p:
        client = _client(kind, p.address, read_timeout=1.0)
        t0 = time.monotonic()
        with pytest.raises(errors.Timeout) as exc:
            await asyncio.wait_for(_run(client, kind), 10)
        assert peers.elapsed(t0) < 2.5
        assert "within 1 s" in str(exc.value) and p.address in str(exc.value)
        await client.close()


@pytest.mark.parametrize("kind", ["per-command", "interactive", "master"])
async def test_endless_socket_answer_is_capped(tmp_path, kind) -> None:
    with peers.peer(peers.endless_socket, str(tmp_path / "s.sock")) as p:
        client = _client(kind, p.address, read_timeout=5.0, max_answer=CAP)
        t0 = time.monotonic()
        with pytest.raises(_too_large()) as exc:
            await asyncio.wait_for(_run(client, kind), 10)
        assert peers.elapsed(t0) < 2
        assert "larger than 1 MiB" in str(exc.value) and "max_answer_mb" in str(exc.value)
        await client.close()


async def test_interactive_client_reconnects_after_a_deadline(tmp_path) -> None:
    """A half-read answer must not be taken for the next command's answer."""
    def respond(conn, p) -> None:
        peers.read_until(conn, b"\n")
        conn.sendall(b"\n> ")
        line = peers.read_until(conn, b"\n")
        if p.mode == "trickle":
            p.mode = "ok"
            peers.drip(conn, p)
        conn.sendall(b"answer to " + line.strip() + b"\n\n> ")
        peers.read_until(conn, b"\n")

    with peers.peer(respond, str(tmp_path / "s.sock")) as p:
        client = RuntimeClient(p.address, interactive=True, read_timeout=0.5)
        p.mode = "trickle"
        with pytest.raises(errors.Timeout):
            await client.run("show info")
        assert (await client.run("show stat")).strip() == "answer to show stat"
        await client.close()


async def test_trickling_stats_page_ends_at_the_deadline() -> None:
    with peers.peer(peers.trickling_page) as p:
        t0 = time.monotonic()
        async with StatsPage(p.url, timeout=1.0) as page:
            with pytest.raises(errors.Timeout) as exc:
                await asyncio.wait_for(page.fetch_csv(), 10)
        assert peers.elapsed(t0) < 2.5
        assert "within 1 s" in str(exc.value) and p.address in str(exc.value)


async def test_endless_stats_page_is_capped() -> None:
    with peers.peer(peers.endless_page) as p:
        t0 = time.monotonic()
        async with StatsPage(p.url, timeout=5.0, max_answer=CAP) as page:
            with pytest.raises(_too_large()) as exc:
                await asyncio.wait_for(page.fetch_csv(), 10)
        assert peers.elapsed(t0) < 2
        assert "larger than 1 MiB" in str(exc.value)


# -- the command line, as a user runs it ------------------------------------------------

def _limit_memory() -> None:
    """The child may not grow past 1 GiB: without a cap it would fail, not eat the host."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def haconsole(*args: str, env: dict[str, str] | None = None,
              timeout: float = 30) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                         text=True, timeout=timeout, env={**os.environ, **(env or {})},
                         preexec_fn=_limit_memory)
    return out, time.monotonic() - t0


def _one_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode != 0, out.stdout[-500:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    return lines[0]


def test_show_stat_on_a_trickling_page_ends_with_one_line() -> None:
    with peers.peer(peers.trickling_page) as p:
        out, took = haconsole("--url", p.url, "show", "stat",
                              env={"HACONSOLE_TIMEOUT": "1"})
    line = _one_line(out)
    assert took < 8, took  # the interpreter's start-up included
    assert "within 1 s" in line and p.address in line and "HACONSOLE_TIMEOUT" in line


def test_show_stat_on_an_endless_socket_ends_with_one_line(tmp_path) -> None:
    with peers.peer(peers.endless_socket, str(tmp_path / "s.sock")) as p:
        out, took = haconsole("-s", p.address, "show", "stat",
                              env={"HACONSOLE_MAX_ANSWER_MB": "1", "HACONSOLE_TIMEOUT": "8"})
    line = _one_line(out)
    assert took < 8, took
    assert "larger than 1 MiB" in line and p.address in line


@pytest.mark.parametrize("make,what", [
    (lambda d: "/dev/zero", "not a regular file"),
    (lambda d: _big_file(d), "larger than 1 MiB"),
    (lambda d: _fifo(d), "not a regular file"),
], ids=["dev-zero", "huge-file", "fifo"])
def test_unreadable_settings_end_quickly_with_one_line(tmp_path, make, what) -> None:
    path = make(tmp_path)
    out, took = haconsole("-s", "/nonexistent.sock", "show", "info",
                          env={"HACONSOLE_SETTINGS": path}, timeout=20)
    line = _one_line(out)
    assert took < 8, took
    assert what in line and path in line and "settings file" in line


def _big_file(d) -> str:
    path = d / "settings.toml"
    path.write_text("# " + "x" * (2 << 20) + "\n")
    return str(path)


def _fifo(d) -> str:
    path = d / "settings.fifo"
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize("sweep", ["trickle", "endless"])
async def test_a_hostile_sweep_at_the_first_look_ends_at_the_deadline_or_the_cap(
        tmp_path, sweep: str) -> None:
    """The console's first poll reads ``show info`` and the sweep (``show stat -1 3
    -1``) before anything else: a sweep that trickles, or never ends, is bounded by the
    same deadline and cap as any answer, and the poll after it reads in full."""
    from console.haproxy.partial_poll import SWEEP
    from console.haproxy.poller import SocketSource
    from tests.captured_data import read

    info = read("2.8", "show_info.txt").encode()
    stat = read("2.8", "show_stat.txt").encode()

    def respond(conn, p) -> None:
        request = peers.read_until(conn, b"\n")
        if request.startswith(SWEEP.encode()):
            (peers.drip if sweep == "trickle" else peers.flood)(conn, p)
        conn.sendall(info if request.startswith(b"show info") else stat)

    with peers.peer(respond, str(tmp_path / "s.sock")) as p:
        client = RuntimeClient(p.address, read_timeout=1.0, max_answer=CAP)
        source = SocketSource(client)
        source.visible = lambda: []
        t0 = time.monotonic()
        with pytest.raises(_too_large() if sweep == "endless" else errors.Timeout) as exc:
            await asyncio.wait_for(source.fetch(), 10)
        assert peers.elapsed(t0) < 2.5
        assert p.address in str(exc.value)
        snap = await asyncio.wait_for(source.fetch(), 10)  # no second first look
        assert snap.first_look is None and len(snap.rows) == stat.count(b"\n") - 2
        await client.close()


@pytest.mark.parametrize("mangle", ["one more empty line", "answers run together",
                                    "not a stat answer"])
async def test_batched_answers_that_do_not_split_one_per_command_mean_a_full_dump(
        tmp_path, mangle: str) -> None:
    """A partial poll reads the proxies on screen in one exchange (``;``-joined, see
    ``RuntimeClient.run_batch``) and tells the answers apart at their empty lines. A peer
    whose answers do not split one per command, or are not ``show stat`` answers, is
    never merged: the poll is a full dump, and its rows are the dump's."""
    from console.haproxy.partial_poll import SWEEP
    from console.haproxy.poller import SocketSource
    from tests.captured_data import read

    info = read("2.8", "show_info.txt").encode()
    stat = read("2.8", "show_stat.txt").encode()
    lines = stat.split(b"\n")
    sweep = b"\n".join([lines[0], *(ln for ln in lines[1:] if b",BACKEND," in ln
                                     or b",FRONTEND," in ln)]) + b"\n\n"
    batches: list[bytes] = []

    def respond(conn, p) -> None:
        commands = peers.read_until(conn, b"\n").strip().split(b";")
        answer = {b"show info": info.rstrip(b"\n") + b"\n\n", SWEEP.encode(): sweep,
                  b"show stat": stat}
        proxies = [c for c in commands if c not in answer]
        out = b"".join(answer[c] for c in commands if c in answer)
        if proxies:  # the proxies on screen, answered as the test wants
            batches.append(b";".join(proxies))
            count = len(proxies)
            out += {"one more empty line": stat.rstrip(b"\n") + b"\n\n\n" * (count + 1),
                    "answers run together": stat.rstrip(b"\n") + b"\n" * count,
                    "not a stat answer": b"Name: HAProxy\n\n" * count}[mangle]
        conn.sendall(out)

    with peers.peer(respond, str(tmp_path / "s.sock")) as p:
        client = RuntimeClient(p.address, read_timeout=2.0, max_answer=CAP)
        source = SocketSource(client)
        source.partial.from_rows = 0
        full = await asyncio.wait_for(source.fetch(), 10)
        proxy = next(r.proxy for r in full.rows if r.type == "backend")
        source.visible = lambda: [r.key for r in full.rows if r.proxy == proxy]
        snap = await asyncio.wait_for(source.fetch(), 10)
        assert batches, "the poll was not partial"
        assert source.partial.partial_polls == 0 and source.partial.full_polls == 2
        assert not snap.held and [r.key for r in snap.rows] == [r.key for r in full.rows]
        await client.close()


async def test_a_batch_whose_answers_do_not_split_one_per_command_is_none(tmp_path) -> None:
    def respond(conn, p) -> None:
        request = peers.read_until(conn, b"\n")
        conn.sendall(b"# pxname,svname\n" * (request.count(b";") + 1) + b"\n")

    with peers.peer(respond, str(tmp_path / "s.sock")) as p:
        client = RuntimeClient(p.address, read_timeout=2.0, max_answer=CAP)
        assert await client.run_batch(["show stat 3 -1 -1", "show stat 4 -1 -1"]) is None
        assert await client.run_batch(["show stat 3 -1 -1"]) == ["# pxname,svname\n"]


@pytest.mark.parametrize("answer", ["trickle", "endless"])
async def test_a_batch_that_trickles_or_never_ends_stops_at_the_deadline_or_the_cap(
        tmp_path, answer: str) -> None:
    """The commands joined on one line are one exchange with the deadline and the size
    cap of one command: a peer that trickles or floods its answer to them is bounded."""
    def respond(conn, p) -> None:
        peers.read_until(conn, b"\n")
        (peers.drip if answer == "trickle" else peers.flood)(conn, p)

    with peers.peer(respond, str(tmp_path / "s.sock")) as p:
        client = RuntimeClient(p.address, read_timeout=1.0, max_answer=CAP)
        t0 = time.monotonic()
        with pytest.raises(_too_large() if answer == "endless" else errors.Timeout) as exc:
            await asyncio.wait_for(client.run_batch(["show info", "show stat 3 -1 -1"]), 10)
        assert peers.elapsed(t0) < 2.5 and p.address in str(exc.value)
