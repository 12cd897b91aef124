"""Reading an answer from a stream without trusting the peer to ever stop.

Both readers take the answer in chunks and refuse to hold more than a cap; the
caller puts them under its deadline (see :mod:`console.haproxy.limits`).
"""

from __future__ import annotations

import asyncio

from console.haproxy.limits import too_large

CHUNK = 1 << 20


async def read_capped(reader: asyncio.StreamReader, cap: int, what: str, where: str) -> bytes:
    """Everything up to EOF, refusing more than *cap* bytes."""
    buf = bytearray()
    while True:
        chunk = await reader.read(CHUNK)
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > cap:
            raise too_large(repr(what), where, cap)


async def read_until(reader: asyncio.StreamReader, separator: bytes, cap: int, what: str,
                     where: str) -> tuple[bytes, bytes]:
    """The bytes before the first *separator*, and any bytes read after it; raises
    :class:`asyncio.IncompleteReadError` on EOF first, and refuses more than *cap* bytes."""
    buf = bytearray()
    while True:
        chunk = await reader.read(CHUNK)
        if not chunk:
            raise asyncio.IncompleteReadError(bytes(buf), None)
        start = max(0, len(buf) - len(separator) + 1)
        buf += chunk
        found = buf.find(separator, start)
        if found >= 0:
            return bytes(buf[:found]), bytes(buf[found + len(separator):])
        if len(buf) > cap:
            raise too_large(repr(what), where, cap)
