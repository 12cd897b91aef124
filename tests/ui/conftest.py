"""Fixtures of the console tests that need a node reached over SSH."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sshd import SSHServer, start_sshd


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHServer]:
    """A real OpenSSH server on loopback (see tests/sshd.py), for a module's tests."""
    server = start_sshd()
    yield server
    server.stop()
