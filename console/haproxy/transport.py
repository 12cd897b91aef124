"""Async clients for HAProxy's runtime API (stats socket) and master CLI.

Two ways to talk to a socket:

* one connection per command (default): connect, write ``cmd\\n``, shut the
  write side, read to EOF. Stateless, nothing to keep alive, no ``stats
  timeout`` to race with.
* interactive: one connection kept open in ``prompt`` mode, each answer ends
  with the prompt. Saves the connect on every command.

The master CLI is always used one connection per command, in prompt mode:
``reload`` closes every master connection anyway, and the master does not
end a non-interactive answer by itself (2.8 keeps the connection open after
``Can't find the target``, even once the client has shut its write side).

Every exchange, in every mode, ends within one total deadline (connect, send,
the whole answer) and refuses an answer past a size cap: see
:mod:`console.haproxy.limits`.
"""

from __future__ import annotations

import asyncio
import grp
import os
import re
import socket
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from console.haproxy.bounded_read import CHUNK, read_capped, read_until
from console.haproxy.errors import (
    CommandRejected,
    ConnectError,
    ConnectionLost,
    ConnectionRefused,
    HAProxyError,
    NoSuchObject,
    PermissionDenied,
    SocketMissing,
    SocketPermission,
    Timeout,
    UnknownCommand,
    ValidationError,
)
from console.haproxy.limits import TIMEOUT_HINT, too_large
from console.haproxy.limits import current as current_limits
from console.haproxy.parsers_common import classify_error
from console.haproxy.validate import check_command

DEFAULT_CONNECT_TIMEOUT = 3.0
RELOAD_TIMEOUT = 60.0
_LIMIT = 1 << 21  # stream buffer (answers are read in chunks, capped by limits.max_answer)


@dataclass(frozen=True)
class Address:
    """Where a socket lives: a unix path or a TCP host and port."""

    kind: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.kind == "unix":
            return self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


_TCP_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>[0-9]{1,5})$")


def parse_address(text: str) -> Address:
    """Parse ``/path``, ``unix@/path``, ``host:port``, ``ipv4@host:port``, ``ipv6@[::1]:port``."""
    raw = text.strip()
    if not raw:
        raise ValidationError("empty socket address",
                              hint="give a unix socket path or host:port")
    prefix, sep, rest = raw.partition("@")
    if sep and prefix in {"unix", "ipv4", "ipv6", "tcp", "tcp4", "tcp6"}:
        if prefix == "unix":
            return Address("unix", path=rest)
        raw = rest
    elif sep:
        raise ValidationError(f"unknown address family {prefix!r} in {text!r}",
                              hint="use unix@PATH, ipv4@HOST:PORT or ipv6@[ADDR]:PORT")
    m = _TCP_RE.match(raw)
    if m and not raw.startswith(("/", ".")):
        port = int(m.group("port"))
        if not 0 < port < 65536:
            raise ValidationError(f"port {port} out of range in {text!r}")
        return Address("tcp", host=m.group("v6") or m.group("host"), port=port)
    return Address("unix", path=raw)


_SOCKET_NAMES: dict[str, str] = {}


def name_socket(path: str, name: str | None) -> None:
    """Errors about the local socket *path* name it *name* instead: a forward of a node's
    socket is ``lb1:/run/haproxy/admin.sock`` to the engineer, not a path in a private
    temporary directory. ``None`` forgets the name (the forward is closed)."""
    if name is None:
        _SOCKET_NAMES.pop(path, None)
    else:
        _SOCKET_NAMES[path] = name


def socket_name(address: str | Address) -> str:
    """How messages name the socket at *address* (its name from :func:`name_socket`)."""
    text = str(address)
    return _SOCKET_NAMES.get(text, text)


def _connect_error(exc: OSError, addr: Address, role: str,
                   where: str | None = None) -> ConnectError:
    where = where or str(addr)
    if where != str(addr):  # a forwarded socket: what fails is the way to the node
        return _forward_error(exc, role, where)
    if addr.kind == "unix":
        if isinstance(exc, FileNotFoundError):
            return SocketMissing(
                f"{role} not found", where,
                "is HAProxy running? Check the path against the 'stats socket' line "
                "of the config (or -S for the master socket)")
        if isinstance(exc, PermissionError):
            hint = "run as root or as a member of the socket's group"
            try:
                st = os.stat(addr.path)
                try:
                    group = grp.getgrgid(st.st_gid).gr_name
                except KeyError:
                    group = str(st.st_gid)
                hint = (f"the socket is mode {stat.filemode(st.st_mode)} group {group}: "
                        f"run as root or as a member of group {group}")
            except OSError:
                pass
            return SocketPermission(f"permission denied on the {role}", where, hint)
        if isinstance(exc, ConnectionRefusedError):
            not_socket = os.path.exists(addr.path) and not stat.S_ISSOCK(
                os.stat(addr.path).st_mode)
            if not_socket:
                return ConnectionRefused(f"{role} path is not a socket", where,
                                         "check the path")
            return ConnectionRefused(
                f"connection refused on the {role}", where,
                "HAProxy is not listening there: stopped, or the master is re-executing "
                "during a reload; retry in a moment")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(f"connection refused on the {role}", where,
                                 "nothing listens on that address: is HAProxy running?")
    return ConnectError(f"cannot connect to the {role}: {exc.strerror or exc}", where,
                        "check the address and that HAProxy is running")


def _forward_error(exc: OSError, role: str, where: str) -> ConnectError:
    """A local forward of a node's socket cannot be opened: the ssh connection that
    carries it is gone (the node's own socket is checked by sshd, on the node)."""
    reason = exc.strerror or str(exc)
    return ConnectError(f"cannot reach the {role} through ssh ({reason})", where,
                        "the ssh connection to the node was lost: check that the node and "
                        "its sshd are up, then retry")


_ERROR_CLASSES: dict[str, tuple[type[CommandRejected], str]] = {
    "permission_denied": (PermissionDenied,
                          "this socket's level does not allow it; use a socket with 'level admin'"),
    "unknown_command": (UnknownCommand, "this HAProxy version does not know the command"),
    "no_such_object": (NoSuchObject, "check the name against `show stat`"),
    "invalid_argument": (CommandRejected, "check the command's arguments"),
}


def classify_answer(answer: str, command: str, where: str) -> None:
    """Raise a typed error if *answer* is one of HAProxy's error messages.

    Only the first line is looked at: data dumps (maps, tables) may contain
    anything further down.
    """
    kind = classify_error(answer)
    if kind is None:
        return
    cls, hint = _ERROR_CLASSES[kind]
    first = answer.strip().split("\n", 1)[0].strip()
    raise cls(f"HAProxy refused {command.split()[0]!r}: {first}", where, hint, answer=answer)


# HAProxy serves at most `stats maxconn` (default 10) connections per stats socket and
# closes the rest: never hold more than this many at once to one address.
MAX_CONNECTIONS = 4
_SLOTS: dict[tuple[int, str], asyncio.Semaphore] = {}


BATCH_LINE = 4000
"""Bytes of one line of ``;``-joined commands (:meth:`RuntimeClient.run_batch`): well
under HAProxy's buffer (``tune.bufsize``, 16 kB by default)."""


def _batches(commands: Sequence[str]) -> Iterator[list[str]]:
    """*commands* in order, cut into groups whose ``;``-joined line is at most
    :data:`BATCH_LINE` bytes (a longer command alone)."""
    group: list[str] = []
    size = 0
    for command in commands:
        n = len(command.encode()) + 1
        if group and size + n > BATCH_LINE:
            yield group
            group, size = [], 0
        group.append(command)
        size += n
    if group:
        yield group


def _slots(address: Address) -> asyncio.Semaphore:
    key = (id(asyncio.get_running_loop()), str(address))
    sem = _SLOTS.get(key)
    if sem is None:
        if len(_SLOTS) > 256:
            _SLOTS.clear()
        sem = _SLOTS[key] = asyncio.Semaphore(MAX_CONNECTIONS)
    return sem


class RuntimeClient:
    """A client for one stats socket (or the master CLI, see :class:`MasterClient`).

    Each exchange (waiting for a connection slot, connecting, sending, reading the
    whole answer) must end within *read_timeout* seconds in total, and an answer
    larger than *max_answer* bytes is refused; both default to the process-wide
    :mod:`~console.haproxy.limits`.
    """

    role = "stats socket"
    batches = True  # run_batch joins commands on one line (not through the master CLI)

    def __init__(self, address: str | Address, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 read_timeout: float | None = None, interactive: bool = False,
                 max_answer: int | None = None, where: str | None = None) -> None:
        self.address = address if isinstance(address, Address) else parse_address(address)
        # how errors name the socket: ``lb1:/run/haproxy/admin.sock`` for a forward
        self.where = where or socket_name(self.address)
        limits = current_limits()
        self.connect_timeout = connect_timeout
        self.read_timeout = limits.timeout if read_timeout is None else read_timeout
        self.max_answer = limits.max_answer if max_answer is None else max_answer
        self.interactive = interactive
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()
        self._prompt = b"\n> "

    def __repr__(self) -> str:
        mode = "interactive" if self.interactive else "per-command"
        return f"<{type(self).__name__} {self.address} {mode}>"

    # -- connection ---------------------------------------------------------
    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        addr = self.address
        try:
            if addr.kind == "unix":
                coro = asyncio.open_unix_connection(addr.path, limit=_LIMIT)
            else:
                coro = asyncio.open_connection(addr.host, addr.port, limit=_LIMIT)
            return await asyncio.wait_for(coro, self.connect_timeout)
        except TimeoutError:
            raise Timeout(f"no connection to the {self.role} within {self.connect_timeout:g} s",
                          self.where, "HAProxy may be overloaded or stuck; retry") from None
        except OSError as exc:
            raise _connect_error(exc, addr, self.role, self.where) from None

    def _drop(self) -> None:
        """Forget the interactive connection without waiting (its state is unknown)."""
        conn, self._conn = self._conn, None
        if conn:
            conn[1].close()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn:
            conn[1].close()
            try:
                await conn[1].wait_closed()
            except OSError:
                pass

    async def __aenter__(self) -> RuntimeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- commands -----------------------------------------------------------
    async def run(self, command: str, *, timeout: float | None = None,
                  check: bool = True) -> str:
        """Send one command and return HAProxy's answer as text.

        The command is checked first (no control characters, no unescaped
        ``;``). With *check*, an error answer raises a typed error. *timeout*
        is the deadline of the whole exchange (default: the client's).
        """
        line = check_command(command)
        data = await self._exchange(line, timeout or self.read_timeout)
        answer = data.decode("utf-8", "replace")
        if check:
            classify_answer(answer, line, self.where)
        return answer

    async def run_many(self, commands: list[str], *, timeout: float | None = None,
                       check: bool = True) -> list[str]:
        """Run several commands; each is checked and sent on its own."""
        return [await self.run(c, timeout=timeout, check=check) for c in commands]

    async def run_batch(self, commands: Sequence[str], *,
                        timeout: float | None = None) -> list[str] | None:
        """Read-only commands whose answers hold no empty line (``show stat``, ``show
        info``), in as few exchanges as fit: each command is checked on its own
        (:func:`check_command`: no ``;`` in it), then they are joined by ``;`` on lines
        of at most :data:`BATCH_LINE` bytes. HAProxy runs them in order and ends every
        answer, an error too, with an empty line: that is where they are told apart.

        Returns each command's answer (an error answer raises as :meth:`run`'s), or
        None when an exchange's answers are not one per command (a peer that does not
        answer as HAProxy does). Each exchange has the deadline and the size cap of
        one command. A connection kept open (interactive), or the master CLI, runs them
        one by one.
        """
        checked = [check_command(c) for c in commands]
        if self.interactive or not self.batches:
            return await self.run_many(checked, timeout=timeout)
        out: list[str] = []
        for group in _batches(checked):
            line = ";".join(group)
            data = await self._exchange(line, timeout or self.read_timeout)
            parts = data.decode("utf-8", "replace").split("\n\n")
            if len(parts) != len(group) + 1 or parts[-1]:
                return None
            for command, part in zip(group, parts, strict=False):
                answer = part + "\n"
                classify_answer(answer, command, self.where)
                out.append(answer)
        return out

    async def _exchange(self, line: str, timeout: float) -> bytes:
        """One exchange under one total deadline, whatever the peer does."""
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange_body(line)
        except TimeoutError:
            raise self._timeout(line, timeout) from None

    async def _exchange_body(self, line: str) -> bytes:
        if self.interactive:
            async with self._lock:
                return await self._exchange_interactive(line)
        async with _slots(self.address):
            return await self._exchange_once(line)

    async def _exchange_once(self, line: str) -> bytes:
        reader, writer = await self._open()
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            data = await read_capped(reader, self.max_answer, _what(line), self.where)
        except OSError as exc:
            raise ConnectionLost(f"{self.role} closed the connection during "
                                 f"{_what(line)!r}: {exc.strerror or exc}",
                                 self.where, self._lost_hint) from None
        finally:
            writer.close()
        if not data:
            # HAProxy ends every answer with a newline, even an empty one: no byte at all
            # is a connection closed before answering (a node's socket gone behind its
            # ssh forward), and whether the command was done is unknown
            raise ConnectionLost(f"no answer to {_what(line)!r}: the {self.role} closed the "
                                 "connection without answering", self.where,
                                 "check that HAProxy runs and listens there, then retry")
        return data

    async def _exchange_interactive(self, line: str) -> bytes:
        for attempt in (1, 2):
            fresh = self._conn is None
            try:
                if fresh:
                    reader, writer = await self._open()
                    self._conn = (reader, writer)
                    try:
                        writer.write(b"prompt\n")
                        await writer.drain()
                        await self._read_prompted(reader, "prompt")
                    except (asyncio.IncompleteReadError, OSError):
                        self._drop()
                        raise ConnectionLost(f"{self.role} closed the connection on 'prompt'",
                                             self.where) from None
                assert self._conn is not None
                reader, writer = self._conn
                try:
                    writer.write(line.encode() + b"\n")
                    await writer.drain()
                    return await self._read_prompted(reader, line) + b"\n"
                except (asyncio.IncompleteReadError, ConnectionResetError,
                        BrokenPipeError) as exc:
                    self._drop()
                    partial = getattr(exc, "partial", b"")
                    # An idle connection closed by HAProxy (stats timeout) answers
                    # nothing: the command was never read, so it is safe to retry once.
                    if attempt == 1 and not fresh and not partial:
                        continue
                    raise ConnectionLost(f"{self.role} closed the connection during "
                                         f"{_what(line)!r}", self.where,
                                         "retry; HAProxy may be reloading") from None
            except BaseException:
                # a deadline, a cap or a cancel in the middle of an answer: the rest of
                # it would be read as the next command's answer
                self._drop()
                raise
        raise AssertionError("unreachable")

    async def _read_prompted(self, reader: asyncio.StreamReader, line: str) -> bytes:
        """The answer up to the prompt (excluded); anything after it means the
        connection is out of step, so it is dropped for the next command."""
        data, extra = await read_until(reader, self._prompt, self.max_answer, _what(line),
                                       self.where)
        if extra:
            self._drop()
        return data

    @property
    def _lost_hint(self) -> str:
        if self.where != str(self.address):  # a forward: sshd could not open the node's
            return ("on the node, is HAProxy running, and is this its socket path? "
                    "(sshd could not open it)")
        return "retry; HAProxy may be reloading"

    async def open_stream(self, command: str) -> tuple[asyncio.StreamReader,
                                                       asyncio.StreamWriter]:
        """Open a connection of its own and send *command* without ending the write side:
        for a long-lived answer (``show events RING -w``) read by the caller, who bounds
        it and closes the writer. The connect is bounded by *connect_timeout*."""
        line = check_command(command)
        reader, writer = await self._open()
        try:
            writer.write(line.encode() + b"\n")
            await asyncio.wait_for(writer.drain(), self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            writer.close()
            raise ConnectionLost(f"{self.role} closed the connection during {_what(line)!r}: "
                                 f"{exc}", self.where, self._lost_hint) from None
        return reader, writer

    def _timeout(self, line: str, timeout: float) -> Timeout:
        return Timeout(f"no complete answer to {_what(line)!r} within {timeout:g} s",
                       self.where, TIMEOUT_HINT)


def _what(line: str) -> str:
    """The command's first words, to name it in a message."""
    return " ".join(line.split()[:2])[:60]


_MASTER_PROMPT_START = re.compile(rb"^\n?master[^>\n]*> ")
_MASTER_PROMPT_LINE = re.compile(rb"master[^>\n]*> ")
_TARGET_RE = re.compile(r"^(?:|[0-9]{1,3}|![0-9]{1,10})$")


def _master_prompt_at_end(buf: bytearray, body_start: int) -> int | None:
    """Where the closing ``master…> `` prompt starts, if the last line of
    ``buf[body_start:]`` is one (only the last line is looked at: no rescan)."""
    newline = buf.rfind(b"\n", body_start)
    line_start = body_start if newline < 0 else newline + 1
    if len(buf) - line_start > 256:
        return None
    if _MASTER_PROMPT_LINE.fullmatch(buf, line_start):
        return line_start
    return None


class MasterClient(RuntimeClient):
    """The master CLI (``-S`` socket): routes commands to the master or a worker."""

    role = "master socket"
    batches = False  # its answers end at a prompt: one command per exchange

    def __init__(self, address: str | Address, **kwargs: object) -> None:
        kwargs.pop("interactive", None)
        super().__init__(address, interactive=False, **kwargs)  # type: ignore[arg-type]

    async def run_on(self, target: str | int | None, command: str, *,
                     timeout: float | None = None, check: bool = True) -> str:
        """Run *command* on a process.

        *target*: ``None`` or ``""`` for the master itself, ``1`` (or ``"1"``)
        for the current worker, ``"!PID"`` (or an int PID > 999) for a given process.
        """
        if target is None or target == "":
            prefix = "@"
        else:
            text = str(target)
            if isinstance(target, int) and target > 999:
                text = f"!{target}"
            if not _TARGET_RE.match(text):
                raise ValidationError(f"invalid master CLI target {text!r}",
                                      hint="use 1 for the current worker or !PID")
            prefix = f"@{text}"
        check_command(command)
        answer = await self.run(f"{prefix} {command}", timeout=timeout, check=False)
        if answer.startswith("Can't find the target"):
            raise NoSuchObject(f"no process matches {prefix}", self.where,
                               "list processes with `show proc` on the master", answer=answer)
        if check:
            classify_answer(answer, command, self.where)
        return answer

    async def _exchange_body(self, line: str) -> bytes:
        # The master only ends a non-interactive answer on EOF from the client, and
        # 2.8 never ends it after "Can't find the target": use prompt mode on a
        # fresh connection and stop at the next prompt (or EOF: 2.6 closes on errors,
        # and `reload` closes every master connection).
        reader, writer = await self._open()
        buf = bytearray()
        body_start: int | None = None
        try:
            writer.write(b"prompt\n" + line.encode() + b"\n")
            await writer.drain()
            while True:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > self.max_answer:
                    raise too_large(repr(_what(line)), self.where, self.max_answer)
                if body_start is None:
                    m = _MASTER_PROMPT_START.match(buf)
                    if m is None:
                        continue
                    body_start = m.end()
                end = _master_prompt_at_end(buf, body_start)
                if end is not None:
                    return bytes(buf[body_start:end])
            return _MASTER_PROMPT_START.sub(b"", bytes(buf), count=1)
        except (ConnectionResetError, BrokenPipeError):
            return _MASTER_PROMPT_START.sub(b"", bytes(buf), count=1)
        finally:
            writer.close()

    async def reload(self, timeout: float = RELOAD_TIMEOUT) -> str:
        """Send ``reload``. 2.7+ answer ``Success=...``; 2.6 answers nothing."""
        try:
            return await self.run("reload", timeout=timeout, check=False)
        except ConnectionLost:
            return ""


def run_sync(coro: object) -> object:
    """Run a coroutine from synchronous code (the one-shot CLI)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


def wait_for_socket(path: str, timeout: float = 15.0) -> bool:
    """Block until a unix socket accepts connections (used by the lab and tests)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return True
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    return False


__all__ = [
    "Address",
    "HAProxyError",
    "MasterClient",
    "RuntimeClient",
    "classify_answer",
    "parse_address",
    "run_sync",
    "wait_for_socket",
]
