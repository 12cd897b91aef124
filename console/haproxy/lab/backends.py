"""Small HTTP/1.1 servers running inside the lab process, one per HAProxy server line.

Each server has a personality that shapes its answers:

- ``healthy``: answers at once, ``/health`` is 200.
- ``slow``: every answer (``/health`` too) comes after 150-800 ms.
- ``sluggish``: every answer but ``/health`` comes after 3-6 s (a server whose
  application stalls while its health check stays fast and green).
- ``flappy``: ``/health`` alternates between 200 and 503 every ~15 s, so the check flaps.
- ``errors``: about 20 % of the requests answer 500 or 503; ``/health`` stays 200.

Any path containing ``missing`` answers 404. A stopped server closes its listening
socket and drops its connections, so HAProxy's check sees a refused connection.

:class:`PortHolder` is another program on the host: it listens on a free loopback
port (without ``SO_REUSEPORT``, so HAProxy cannot bind it too) and answers every
connection with a short text saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import Iterable

log = logging.getLogger(__name__)

PERSONALITIES: tuple[str, ...] = ("healthy", "slow", "sluggish", "flappy", "errors")
FLAP_PERIOD = 15.0
SLOW_RANGE = (0.15, 0.8)
SLUGGISH_RANGE = (3.0, 6.0)
ERROR_RATE = 0.2
MAX_HEADERS = 100
MAX_BODY = 1 << 20
READ_TIMEOUT = 30.0

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Content Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


class BackendServer:
    """One in-process HTTP server on a loopback port."""

    def __init__(self, backend: str, name: str, personality: str) -> None:
        if personality not in PERSONALITIES:
            raise ValueError(f"unknown personality {personality!r}")
        self.backend = backend
        self.name = name
        self.personality = personality
        self.port = 0
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flap_epoch = 0.0

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.name}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def set_personality(self, personality: str) -> None:
        if personality not in PERSONALITIES:
            raise ValueError(f"unknown personality {personality!r}")
        self.personality = personality
        self._flap_epoch = asyncio.get_running_loop().time()

    async def start(self) -> None:
        """Listen on the server's port (a free one the first time)."""
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            self._server = await asyncio.start_server(self._handle, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        if not self._flap_epoch:
            self._flap_epoch = asyncio.get_running_loop().time()

    async def stop(self) -> None:
        """Close the listening socket and every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if self._tasks:  # let the connection handlers see the abort and finish
            _done, pending = await asyncio.wait(list(self._tasks), timeout=2.0)
            for task in pending:  # a handler asleep in a slow answer: not waited for
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)

    def _health_ok(self) -> bool:
        if self.personality != "flappy":
            return True
        elapsed = asyncio.get_running_loop().time() - self._flap_epoch
        return int(elapsed // FLAP_PERIOD) % 2 == 0

    async def _answer(self, method: str, path: str) -> tuple[int, dict[str, object]]:
        health = path.split("?", 1)[0] == "/health"
        if self.personality == "slow":
            await asyncio.sleep(random.uniform(*SLOW_RANGE))
        elif self.personality == "sluggish" and not health:
            await asyncio.sleep(random.uniform(*SLUGGISH_RANGE))
        body: dict[str, object] = {"server": self.key, "personality": self.personality,
                                   "method": method, "path": path}
        if health:
            return (200, body) if self._health_ok() else (503, body)
        if "missing" in path:
            return 404, body
        if self.personality == "errors" and random.random() < ERROR_RATE:
            return random.choice((500, 503)), body
        return 200, body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            # Ending normally: asyncio 3.11 reports a cancelled connection handler as an error.
            pass
        except Exception:  # noqa: BLE001 - one broken connection must not stop the server
            log.exception("backend %s: unexpected error on a connection", self.key)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether the connection stays open."""
        line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await self._send(writer, "HTTP/1.1", 400, {"error": "bad request line"}, False)
            return False
        method, path, version = parts
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            raw = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            await self._send(writer, version, 400, {"error": "too many headers"}, False)
            return False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            await self._send(writer, version, 501, {"error": "chunked bodies"}, False)
            return False
        length = int(headers.get("content-length", "0") or "0")
        if length < 0 or length > MAX_BODY:
            await self._send(writer, version, 413, {"error": "body too large"}, False)
            return False
        if length:
            await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
        connection = headers.get("connection", "").lower()
        keep = ("close" not in connection if version == "HTTP/1.1"
                else "keep-alive" in connection)
        self.requests += 1
        status, body = await self._answer(method, path)
        await self._send(writer, version, status, body, keep, head=method == "HEAD")
        return keep

    async def _send(self, writer: asyncio.StreamWriter, version: str, status: int,
                    body: dict[str, object], keep: bool, *, head: bool = False) -> None:
        payload = (json.dumps({"status": status, **body}) + "\n").encode()
        lines = [f"{version} {status} {_REASONS.get(status, 'Unknown')}",
                 "Content-Type: application/json",
                 f"Content-Length: {len(payload)}",
                 f"X-Lab-Server: {self.key}",
                 "Connection: keep-alive" if keep else "Connection: close"]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer.write(data if head else data + payload)
        await writer.drain()


class BackendPool:
    """Every lab server, keyed ``backend/server``."""

    def __init__(self, servers: Iterable[BackendServer]) -> None:
        self.servers: dict[str, BackendServer] = {s.key: s for s in servers}

    def get(self, key: str) -> BackendServer | None:
        return self.servers.get(key)

    async def start_all(self) -> None:
        for server in self.servers.values():
            await server.start()

    async def stop_all(self) -> None:
        """Every server at once: a slow one does not hold the others up."""
        results = await asyncio.gather(*(s.stop() for s in self.servers.values()),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("lab: a backend did not stop cleanly: %s", result)

    def describe(self) -> dict[str, dict[str, object]]:
        return {key: {"backend": s.backend, "server": s.name, "address": s.address,
                      "personality": s.personality, "running": s.running}
                for key, s in self.servers.items()}


HOLDER_ANSWER = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                 b"metrics agent (another program on this host, run by the haconsole lab)\n")


class PortHolder:
    """Another program on the host, holding a loopback port that HAProxy cannot bind."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> int:
        """Listen on a free loopback port (the same one again after a release)."""
        if self._server is not None:
            return self.port
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:  # no SO_REUSEPORT: while it listens, the port is this socket's alone
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            self._server = await asyncio.start_server(self._answer, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    async def _answer(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(HOLDER_ANSWER)
            await asyncio.wait_for(writer.drain(), 2.0)
        except (TimeoutError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
