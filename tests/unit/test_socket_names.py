"""Errors about a forwarded socket name the node's socket (``lb1:/path``), not the local
forward; a peer that closes without one byte of answer is a lost connection (HAProxy
ends every answer, even an empty one, with a newline)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.haproxy.errors import ConnectError, ConnectionLost, SocketMissing
from console.haproxy.transport import RuntimeClient, name_socket, socket_name

NODE = "lb1:/run/haproxy/admin.sock"


@contextlib.contextmanager
def named(path: str, name: str) -> Iterator[None]:
    name_socket(path, name)
    try:
        yield
    finally:
        name_socket(path, None)


def test_a_named_socket_is_said_by_its_name(tmp_path: Path) -> None:
    local = str(tmp_path / "stats.sock")
    with named(local, NODE):
        assert socket_name(local) == NODE and RuntimeClient(local).where == NODE
        with pytest.raises(ConnectError) as err:
            asyncio.run(RuntimeClient(local).run("show info"))
    text = str(err.value)
    assert f"({NODE})" in text and local not in text
    assert "the ssh connection to the node was lost" in text
    assert socket_name(local) == local  # forgotten


def test_an_explicit_name_wins_and_a_plain_socket_keeps_its_path(tmp_path: Path) -> None:
    local = str(tmp_path / "admin.sock")
    with pytest.raises(SocketMissing) as err:
        asyncio.run(RuntimeClient(local).run("show info"))
    assert f"({local})" in str(err.value)
    assert RuntimeClient(local, where="lb9:/x.sock").where == "lb9:/x.sock"


@pytest.mark.parametrize("name", [None, NODE])
def test_no_byte_of_answer_is_a_lost_connection(tmp_path: Path, name: str | None) -> None:
    path = str(tmp_path / "closer.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)

    def close_without_answer() -> None:
        conn, _ = server.accept()
        conn.recv(100)
        conn.close()

    thread = threading.Thread(target=close_without_answer, daemon=True)
    thread.start()
    try:
        with named(path, name) if name else contextlib.nullcontext():
            with pytest.raises(ConnectionLost, match="closed the connection without "
                                                      "answering") as err:
                asyncio.run(RuntimeClient(path).run("set server be/s state drain"))
        assert f"({name or path})" in str(err.value)
    finally:
        thread.join(5)
        server.close()
