"""Reading log lines from a file with bounded memory, once or following it.

:func:`read_lines` yields the lines of a binary stream as ``bytes`` without their
line ending. A line longer than *max_line* bytes is never held whole: its first
bytes are yielded with :data:`~.parse.OVERLONG` appended (the parser refuses it as
too long) and the rest is skipped up to the next newline.

:class:`Follower` reads what is appended to a file, like ``tail -F``: when the path
names another file (rotation: a new inode) it finishes the old file and continues
with the new one from its start; when the file shrinks (truncation: ``copytruncate``)
it starts again from the beginning. :meth:`Follower.poll` returns what is complete
now and never blocks, so the caller decides how to wait (a sleep, an event loop).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from console.haproxy.logs.parse import MAX_LINE, MAX_RAW_KEPT, OVERLONG

CHUNK = 1 << 16


def read_lines(stream: BinaryIO, max_line: int = MAX_LINE) -> Iterator[bytes]:
    """Lines of *stream* (see the module docstring)."""
    lines = LineSplitter(max_line)
    while chunk := stream.read(CHUNK):
        yield from lines.feed(chunk)
    for last in lines.flush():
        yield last[:-1] if last.endswith(b"\r") else last


class LineSplitter:
    """Bytes in, complete lines out, never holding more than *max_line* bytes of one."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._pending = b""
        self._skipping = False
        self.cut = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        whole = self._pending + chunk
        out = whole.split(b"\n")
        buf = out.pop()  # after the last newline: the start of a line, or nothing
        if out and self._skipping:  # the end of a line already cut
            self._skipping = False
            del out[0]
        if b"\r" in whole:
            out = [line[:-1] if line.endswith(b"\r") else line for line in out]
        if len(buf) > self.max_line:
            if not self._skipping:
                out.append(buf[:MAX_RAW_KEPT] + OVERLONG)
                self.cut += 1
                self._skipping = True
            buf = b""
        self._pending = buf
        return out

    def flush(self) -> list[bytes]:
        """The unterminated last line, if any (a file rotated or truncated), then a
        fresh start."""
        out = [self._pending] if self._pending and not self._skipping else []
        self.reset()
        return out

    def reset(self) -> None:
        self._pending, self._skipping = b"", False


class Follower:
    """Follows *path* across rotation and truncation (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, from_start: bool = False,
                 max_line: int = MAX_LINE) -> None:
        self.path = os.fspath(path)
        self.max_line = max_line
        self._file: BinaryIO | None = None
        self._inode: tuple[int, int] | None = None
        self._lines = LineSplitter(max_line)
        self.rotations = 0
        self.truncations = 0
        self._open(seek_end=not from_start)

    def _open(self, *, seek_end: bool) -> None:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except OSError:
            self._file, self._inode = None, None
            return
        st = os.fstat(f.fileno())
        if seek_end:
            f.seek(0, os.SEEK_END)
        self._file, self._inode = f, (st.st_dev, st.st_ino)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def poll(self) -> list[bytes]:
        """The complete lines written since the last call (possibly none)."""
        out: list[bytes] = []
        if self._file is None:
            self._open(seek_end=False)
            if self._file is None:
                return out
        self._drain(out)
        try:
            st = os.stat(self.path)
        except OSError:
            return out  # rotated away, the new file not there yet: keep the old one
        assert self._file is not None
        here = self._file.tell()
        if (st.st_dev, st.st_ino) != self._inode:
            self._drain(out)
            self._flush_pending(out)
            self.close()
            self.rotations += 1
            self._open(seek_end=False)
            self._drain(out)
        elif st.st_size < here:
            self._flush_pending(out)
            self.truncations += 1
            self._file.seek(0)
            self._drain(out)
        return out

    def _flush_pending(self, out: list[bytes]) -> None:
        out += self._lines.flush()

    def _drain(self, out: list[bytes]) -> None:
        f = self._file
        if f is None:
            return
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return
            out += self._lines.feed(chunk)
