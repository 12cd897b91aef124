"""The lab's port holder (control commands ``hold`` and ``release``) and ``sluggish``."""

from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path

import pytest

from console.haproxy.lab.backends import BackendPool, BackendServer
from console.haproxy.lab.control import ControlServer


def cannot_bind(port: int) -> bool:
    """Whether binding 127.0.0.1:PORT as HAProxy does (SO_REUSEADDR, SO_REUSEPORT) fails."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        return False
    except OSError as exc:
        assert exc.errno == errno.EADDRINUSE
        return True
    finally:
        sock.close()


async def test_hold_and_release(tmp_path: Path) -> None:
    changes: list[int] = []
    control = ControlServer(tmp_path / "c.sock", BackendPool([]),
                            on_change=lambda: changes.append(1))
    answer = await control.execute("hold")
    assert answer.startswith("ok holding 127.0.0.1:")
    port = int(answer.rsplit(":", 1)[1])
    assert control.held_port == port and cannot_bind(port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert b"another program" in await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert await control.execute("hold") == answer  # the same port again
    assert await control.execute("release") == f"ok released 127.0.0.1:{port}"
    assert control.held_port is None and not cannot_bind(port)
    assert await control.execute("release") == "ok no port held"
    assert (await control.execute("hold")).endswith(f":{port}")  # same port after release
    assert (await control.execute("hold 80")).startswith("error unknown command")
    await control.close()
    assert control.held_port is None and changes


@pytest.mark.parametrize(("path", "slow"), [("/", True), ("/health", False)])
async def test_sluggish_answers_late_but_its_health_check_at_once(
        monkeypatch: pytest.MonkeyPatch, path: str, slow: bool) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    server = BackendServer("be", "s1", "sluggish")
    monkeypatch.setattr(asyncio, "sleep", sleep)
    status, _ = await server._answer("GET", path)
    assert status == 200
    assert (bool(slept) and 3.0 <= slept[0] <= 6.0) if slow else not slept
