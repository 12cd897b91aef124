"""Reading small text files (settings, themes) that may be anything at all.

The path comes from the user or the environment: it may name a FIFO (an open
that would wait for a writer forever), ``/dev/zero`` (an endless read), a
multi-gigabyte file, or bytes that are not UTF-8. Each case ends as a
:class:`~console.haproxy.errors.ConfigError` naming the file; a missing file
raises :class:`FileNotFoundError` so the caller decides what that means.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from console.haproxy.errors import ConfigError
from console.haproxy.limits import format_size

MAX_TEXT_FILE = 1024 * 1024  # 1 MiB: far above any settings or theme file


def read_text_capped(path: str | Path, what: str, limit: int = MAX_TEXT_FILE) -> str:
    """The UTF-8 text of *path*, a regular file (or ``/dev/null``) of at most *limit*
    bytes. *what* names the file in messages ("settings file", "theme file")."""
    where = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror or exc}", where) from None
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) or _is_devnull(st)):
            raise ConfigError(f"the {what} is not a regular file ({_kind(st.st_mode)})", where,
                              "point to a TOML file")
        if st.st_size > limit:
            raise _too_big(what, where, limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise _too_big(what, where, limit)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror or exc}", where) from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the {what} is not UTF-8 text (byte {exc.start})", where) from None


def _too_big(what: str, where: str, limit: int) -> ConfigError:
    return ConfigError(f"the {what} is larger than {format_size(limit)}: not read", where,
                       "is this the right file?")


def _is_devnull(st: os.stat_result) -> bool:
    try:
        return os.path.samestat(st, os.stat(os.devnull))
    except OSError:
        return False


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file"
