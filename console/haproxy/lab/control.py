"""The lab's control socket: one-line commands to stop, start and reshape backend servers.

Commands (one per line, one line answered, starting with ``ok`` or ``error``):

- ``list``: every server as ``backend/server:personality:running|stopped``
- ``stop BACKEND/SERVER``: close the server's listening socket
- ``start BACKEND/SERVER``: listen again on the same port
- ``personality BACKEND/SERVER NAME``: healthy, slow, sluggish, flappy or errors
- ``traffic``: what the traffic generator sent and got back
- ``rate N``: requests per second of the traffic generator (0 pauses it)
- ``abuse PATH N``: an abusive client, from 127.0.0.2, sends N GET PATH per second to
  fe_web (0 stops it)
- ``hold``: another program listens on a free loopback port, so that HAProxy cannot
  bind it (answer: ``ok holding 127.0.0.1:PORT``; the port is also in lab.json's
  ``held_port``); the same port each time
- ``release``: that program stops listening
- ``help``
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from console.haproxy.errors import (
    ConnectError,
    ConnectionLost,
    ConnectionRefused,
    SocketMissing,
    SocketPermission,
    Timeout,
    ValidationError,
)

from .backends import PERSONALITIES, BackendPool, PortHolder
from .traffic import Traffic

log = logging.getLogger(__name__)

SOCKET_NAME = "lab-control.sock"
MAX_LINE = 4096
USAGE = ("commands: list, stop B/S, start B/S, personality B/S "
         + "|".join(PERSONALITIES) + ", traffic, rate N, abuse PATH N, hold, release, help")


class ControlServer:
    """Serves the control socket inside the lab's event loop."""

    def __init__(self, path: Path, pool: BackendPool, traffic: Traffic | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.path = path
        self.pool = pool
        self.traffic = traffic
        self.on_change = on_change
        self.holder = PortHolder()
        self._server: asyncio.AbstractServer | None = None

    @property
    def held_port(self) -> int | None:
        """The port the lab's other program listens on (None when it does not)."""
        return self.holder.port if self.holder.running else None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path),
                                                       limit=MAX_LINE)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        await self.holder.stop()
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = await self.execute(line.decode(errors="replace").strip())
                writer.write(answer.encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            # Ending normally: asyncio 3.11 reports a cancelled connection handler as an error.
            pass
        finally:
            writer.close()

    async def execute(self, line: str) -> str:
        """Run one command line and return its one-line answer."""
        words = line.split()
        if not words:
            return "error empty command; " + USAGE
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd == "help":
                return "ok " + USAGE
            if cmd == "list":
                return "ok " + " ".join(
                    f"{s.key}:{s.personality}:{'running' if s.running else 'stopped'}"
                    for s in self.pool.servers.values())
            if cmd in ("stop", "start", "personality"):
                return await self._server_command(cmd, args)
            if cmd in ("hold", "release") and not args:
                return await self._hold(cmd)
            if cmd == "traffic" and self.traffic is not None:
                return "ok " + self.traffic.summary()
            if cmd == "rate" and self.traffic is not None and len(args) == 1:
                self.traffic.set_rate(float(args[0]))
                return f"ok traffic rate {self.traffic.rate:g}/s"
            if cmd == "abuse" and self.traffic is not None and len(args) == 2:
                self.traffic.set_abuse(args[0], float(args[1]))
                return (f"ok abusive client {self.traffic.abuse_rate:g}/s on "
                        f"{self.traffic.abuse_path}")
        except ValueError as exc:
            return f"error {exc}"
        except OSError as exc:
            return f"error {exc.strerror or exc}"
        return f"error unknown command {line!r}; {USAGE}"

    async def _hold(self, cmd: str) -> str:
        if cmd == "hold":
            port = await self.holder.start()
            result = f"ok holding 127.0.0.1:{port}"
        else:
            if not self.holder.running:
                return "ok no port held"
            await self.holder.stop()
            result = f"ok released 127.0.0.1:{self.holder.port}"
        if self.on_change is not None:
            self.on_change()
        return result

    async def _server_command(self, cmd: str, args: list[str]) -> str:
        want = 2 if cmd == "personality" else 1
        if len(args) != want:
            usage = "personality BACKEND/SERVER NAME" if want == 2 else f"{cmd} BACKEND/SERVER"
            return f"error usage: {usage}"
        server = self.pool.get(args[0])
        if server is None:
            return f"error no server {args[0]!r}; 'list' shows them"
        if cmd == "stop":
            if not server.running:
                return f"ok {server.key} already stopped"
            await server.stop()
            result = f"ok {server.key} stopped (port {server.port} closed)"
        elif cmd == "start":
            if server.running:
                return f"ok {server.key} already running"
            await server.start()
            result = f"ok {server.key} running on {server.address}"
        else:
            if args[1] not in PERSONALITIES:
                return f"error unknown personality {args[1]!r}; one of " + ", ".join(
                    PERSONALITIES)
            server.set_personality(args[1])
            result = f"ok {server.key} is now {server.personality}"
        if self.on_change is not None:
            self.on_change()
        return result


def socket_path(directory_or_socket: str) -> str:
    """The control socket of a lab directory, or the path itself if it is not a directory."""
    path = os.fspath(directory_or_socket)
    return os.path.join(path, SOCKET_NAME) if os.path.isdir(path) else path


def control(directory_or_socket: str, command: str, timeout: float = 10.0) -> str:
    """Send one command to a running lab and return its one-line answer."""
    if "\n" in command or "\r" in command or not command.strip():
        raise ValidationError("a lab command is one non-empty line", hint=USAGE)
    path = socket_path(directory_or_socket)
    where = f"lab control socket {path}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except FileNotFoundError:
            raise SocketMissing("no lab control socket here", where,
                                "is the lab running? start it with: haconsole lab") from None
        except PermissionError:
            raise SocketPermission("not allowed to open the lab control socket", where,
                                   "run as the user who started the lab") from None
        except ConnectionRefusedError:
            raise ConnectionRefused("the lab control socket refused the connection", where,
                                    "the lab has stopped; start it again") from None
        except TimeoutError:
            raise
        except OSError as exc:
            if exc.errno in (errno.ENOTSOCK, errno.ENOTDIR):
                raise ConnectError(f"cannot use {path} as a lab control socket", where,
                                   "give the lab directory or its lab-control.sock") from None
            raise ConnectError(f"cannot reach the lab: {exc.strerror or exc}", where) from None
        sock.sendall(command.strip().encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        raise Timeout(f"the lab did not answer {command.strip()!r} within {timeout:g} s",
                      where) from None
    finally:
        sock.close()
    if not data:
        raise ConnectionLost("the lab closed the control connection without answering", where)
    return data.decode(errors="replace").rstrip("\n")
