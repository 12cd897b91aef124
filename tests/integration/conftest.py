"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.haproxy.binaries import Binary
from tests.integration.test_apply import Running, start_haproxy
from tests.sshd import SSHServer, start_sshd


@pytest.fixture
def lb(haproxy_binary: Binary, tmp_path: Path) -> Iterator[Running]:
    """A purpose-made HAProxy (master-worker) with its config file, for one test."""
    running = start_haproxy(tmp_path / "lb", haproxy_binary)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHServer]:
    """A real OpenSSH server on loopback (see tests/sshd.py), for a module's tests."""
    server = start_sshd()
    yield server
    server.stop()
