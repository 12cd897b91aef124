"""``haconsole serve`` in a real browser: Debian's Chromium, headless, driven over the
DevTools protocol, on every HAProxy version. The page with the token connects its
websocket, the spectator console draws into it (the terminal's first bytes arrive and
the screenshot is far from blank), and keys that change things send nothing."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from console.haproxy.journal import read_entries
from tests.conftest import IN_CI

pytestmark = pytest.mark.haproxy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1200,800", "--remote-debugging-port=0"]


@pytest.fixture
def browser() -> Iterator[str]:
    if not os.access(CHROMIUM, os.X_OK):
        if IN_CI:
            pytest.fail("Debian's chromium is required in CI (.ci/run installs it)")
        pytest.skip("no chromium here (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="hac-chromium-")
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_file.exists(), "chromium did not open its DevTools port"
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def served(instance: Any, tmp_path: Path) -> Iterator[str]:
    env = dict(os.environ, HACONSOLE_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-m", "console", "-s", instance.admin, "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            stdin=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Page:
    """One tab, over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        await self.ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(timeout=30)).data)
            if msg.get("id") == n:
                assert "error" not in msg, msg
                return dict(msg.get("result", {}))

    async def js(self, expression: str) -> Any:
        got = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return got.get("result", {}).get("value")

    async def screenshot(self) -> bytes:
        return base64.b64decode((await self.call("Page.captureScreenshot"))["data"])

    async def key(self, char: str) -> None:
        for kind in ("keyDown", "keyUp"):
            params: dict[str, Any] = {"type": kind, "key": char}
            if kind == "keyDown":
                params["text"] = char
            await self.call("Input.dispatchKeyEvent", **params)


async def _visit(devtools: str, url: str, keys: list[str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{devtools}/json/list") as r:
            tab = next(t for t in await r.json() if t["type"] == "page")
        async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            blank = await page.screenshot()
            await page.call("Page.navigate", url=url)
            out: dict[str, Any] = {"blank": len(blank)}
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                out["body"] = await page.js("document.body.className") or ""
                out["terminal"] = await page.js(
                    "(document.querySelector('.textual-terminal')||{}).className") or ""
                if "-first-byte" in out["body"]:
                    break
                await asyncio.sleep(0.3)
            await asyncio.sleep(3)  # the console's first screens
            out["drawn"] = len(await page.screenshot())
            await page.js("document.querySelector('.textual-terminal').focus()")
            for k in keys:
                await page.key(k)
            await asyncio.sleep(2)
            out["after"] = len(await page.screenshot())
            return out


def test_a_browser_watches_and_cannot_change(browser: str, served: str, instance: Any,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen = asyncio.run(_visit(browser, served, ["o", "z", "Z"]))
    assert "-connected" in seen["terminal"], seen
    assert "-first-byte" in seen["body"], seen  # the console's output reached the page
    assert seen["drawn"] > 3 * seen["blank"], seen  # a screen of text, not an empty page
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(tmp_path / "state"))
    assert read_entries(Path(instance.admin).parent.name) == []  # nothing was sent


def test_without_the_token_the_browser_gets_403(browser: str, served: str) -> None:
    async def status() -> tuple[int, str]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{browser}/json/list") as r:
                tab = next(t for t in await r.json() if t["type"] == "page")
            async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                await page.call("Page.navigate", url=served.split("?")[0])
                await asyncio.sleep(2)
                return 0, await page.js("document.body.innerText") or ""

    _, text = asyncio.run(status())
    assert "needs the token" in text
