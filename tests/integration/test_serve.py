"""``haconsole serve`` on a real HAProxy, on every version: the URL with its token on the
first line, 403 without the token (page and websocket), and over the websocket a real
spectator console that draws the instance and refuses every change key."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from console.haproxy.journal import read_entries

pytestmark = pytest.mark.haproxy

ANSI = re.compile(rb"\x1b(\[[0-9;?$]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url
        self.base, self.token = url.split("/?token=")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.stderr.read() if self.proc.stderr else ""


@pytest.fixture
def served(instance: Any, tmp_path: Path) -> Iterator[Served]:
    env = dict(os.environ, HACONSOLE_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-m", "console", "-s", instance.admin, "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()  # the first line: the full URL
    s = Served(proc, url)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+/\?token=[A-Za-z0-9_-]{32}", url), url
        # printed once the server listens: the URL answers at once, without a retry
        port = int(url.split(":")[2].split("/")[0])
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        yield s
    finally:
        s.stop()


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        await r.read()
        return r.status


async def _watch(s: Served, keys: list[str], seconds: float) -> str:
    """The screen text a browser would get over *seconds*, pressing *keys* midway."""
    ws_url = s.base.replace("http://", "ws://") + f"/ws/{s.token}?width=120&height=40"
    buf = b""
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json(["resize", {"width": 120, "height": 40}])
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        sent = False
        while loop.time() < end:
            if not sent and loop.time() > end - seconds / 2:
                for key in keys:
                    await ws.send_json(["stdin", key])
                sent = True
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.5)
            except TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.BINARY:
                buf += msg.data
            elif msg.type == aiohttp.WSMsgType.TEXT:
                buf += msg.data.encode()
            else:
                break
    return ANSI.sub(b"", buf).decode("utf-8", "replace")


def test_the_page_needs_the_token(served: Served) -> None:
    assert asyncio.run(_status(served.base + "/")) == 403
    assert asyncio.run(_status(served.base + "/?token=" + "x" * 32)) == 403
    assert asyncio.run(_status(served.url)) == 200

    async def ws_status(token: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"{served.base.replace('http', 'ws')}/ws/"
                                              f"{token}?width=80&height=24"):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(ws_status("nope")) == 403


def test_a_spectator_sees_the_instance_and_changes_nothing(served: Served, instance: Any,
                                                           tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # o: actions, z: clear counters, Z: clear all, m then x: export, F: config
    text = asyncio.run(_watch(served, ["o", "z", "Z", "m", "x", "F"], 14.0))
    assert "spectator" in text
    assert "be_app" in text  # the table is drawn from the real HAProxy
    assert "a spectator watches" in text  # z (or Z) was refused in words
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(tmp_path / "state"))
    name = Path(instance.admin).parent.name
    assert read_entries(name) == []  # nothing was sent to HAProxy
    state = tmp_path / "state"
    written = [p for p in state.rglob("*") if p.is_file() and p.name != "haconsole.log"] \
        if state.exists() else []
    assert not [p for p in written if "timeline" in p.name or "marks" in str(p)], written
