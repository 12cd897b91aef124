"""``haconsole serve`` binds its socket before it makes the URL: a free port is held from
the start, and a port already taken is a clear error, not a traceback."""

from __future__ import annotations

import socket

import pytest

from console.haproxy.errors import ValidationError
from console.serve_cli import listening_socket


def test_port_zero_is_bound_and_listening() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        sock.close()


def test_a_port_in_use_is_a_clear_error() -> None:
    taken = listening_socket("127.0.0.1", 0)
    try:
        with pytest.raises(ValidationError) as err:
            listening_socket("127.0.0.1", taken.getsockname()[1]).close()
        assert "cannot listen on 127.0.0.1 port" in str(err.value)
    finally:
        taken.close()
