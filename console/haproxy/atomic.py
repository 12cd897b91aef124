"""Crash-safe replacement of a configuration file.

The new text goes to a temp file in the same directory as the file it replaces,
named ``.NAME.haconsole-tmp-PID`` (created ``O_CREAT|O_EXCL``, owner, group and
mode copied from the live file), is written and fsynced, renamed over the live
file with ``os.replace`` and the directory is fsynced. At any instant the live
path holds either the whole old text or the whole new one. A symlinked file is
written through to its target; the link stays. Temp files left by a process
killed half-way are recognised by their name and removed by
:func:`clean_leftovers` once their PID no longer runs.

Every ``OSError`` becomes a :class:`WriteError` that says what happened and what
to do (full disk, read-only filesystem, immutable file, bind-mounted file…).

Files haconsole keeps for itself (staged changes, history, the server-state file)
go through :func:`write_private`: a ``mkstemp`` file (``O_EXCL``, random name) in
the target's directory, renamed over the target. A symlink planted at any
predictable name is never followed: the rename replaces a link, it does not write
through it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import signal
import stat
import tempfile
import time

from console.haproxy.errors import HAProxyError

TEMP_MARK = ".haconsole-tmp-"
FAULT_ENV = "HACONSOLE_FAULT"


class WriteError(HAProxyError):
    """A file could not be written; the live file is unchanged unless said otherwise."""

    def __init__(self, what: str, where: str | None = None, hint: str | None = None,
                 *, errno_: int | None = None) -> None:
        self.errno = errno_
        super().__init__(what, where, hint)


_HINTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device",
                   "free some space on that filesystem (df -h), then apply again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or raise the quota"),
    errno.EFBIG: ("file too large for this process's file size limit",
                  "raise the limit (ulimit -f) of the shell running haconsole"),
    errno.EROFS: ("the filesystem is read-only",
                  "remount it read-write (or change the file where it is writable)"),
    errno.EACCES: ("permission denied",
                   "run as the file's owner or as root, or fix the directory's permissions"),
    errno.EPERM: ("operation not permitted",
                  "the file or its directory may be immutable (lsattr; chattr -i), "
                  "or the owner cannot be kept without root"),
    errno.EXDEV: ("the temp file and the config are on different filesystems",
                  "the directory holds a mount point; edit the file where it really lives"),
    errno.EBUSY: ("the file is busy: it is probably a bind mount of a single file",
                  "mount the directory instead of the file (a rename cannot replace a "
                  "mount point), or change the file on the host"),
    errno.EIO: ("input/output error", "the disk may be failing: check dmesg"),
}


def write_error(exc: OSError, action: str, path: str) -> WriteError:
    what, hint = _HINTS.get(exc.errno or 0, (exc.strerror or str(exc), "check the path"))
    return WriteError(f"cannot {action}: {what}", path, hint, errno_=exc.errno)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise WriteError("config file not found", path, "check the path (-c FILE)") from None
    except OSError as exc:
        raise write_error(exc, "read the config file", path) from None


# --------------------------------------------------------------------------- faults

def fault_point(name: str) -> None:
    """A place where the fault-injection tests may kill, pause or fail this process.

    ``HACONSOLE_FAULT`` = ``kill:POINT`` (SIGKILL itself), ``pause:POINT:FILE``
    (create FILE, wait until it is removed, at most 60 s) or ``fail:POINT`` (raise
    an I/O error). Unset, this does nothing.
    """
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    action, _, rest = spec.partition(":")
    point, _, arg = rest.partition(":")
    if point != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "pause" and arg:
        with open(arg, "w") as f:
            f.write(str(os.getpid()))
        deadline = time.monotonic() + 60
        while os.path.exists(arg) and time.monotonic() < deadline:
            time.sleep(0.02)
    elif action == "fail":
        raise OSError(errno.EIO, f"injected fault at {name}")


# --------------------------------------------------------------------------- temp files

def temp_path(target: str, pid: int | None = None) -> str:
    """Where the temp file for *target* (already resolved) goes."""
    directory, base = os.path.split(target)
    return os.path.join(directory, f".{base}{TEMP_MARK}{pid or os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(target: str) -> list[str]:
    """Temp files of *target* whose process is gone (or is this one)."""
    real = os.path.realpath(target)
    directory, base = os.path.split(real)
    pattern = re.compile(re.escape(f".{base}{TEMP_MARK}") + r"([0-9]+)$")
    found: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        m = pattern.match(name)
        if m and (int(m[1]) == os.getpid() or not _alive(int(m[1]))):
            found.append(os.path.join(directory, name))
    return sorted(found)


def clean_leftovers(target: str) -> list[str]:
    """Remove temp files left by a crashed run; returns those removed."""
    removed: list[str] = []
    for path in leftovers(target):
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass
        except OSError:
            continue
    return removed


def _write_all(fd: int, data: bytes, *, fault: bool = False) -> None:
    view = memoryview(data)
    half = len(view) // 2
    done = 0
    while done < len(view):
        end = half if fault and done < half else len(view)
        done += os.write(fd, view[done:end])
        if fault and done == half:
            fault_point("temp-partial")
            fault = False


def write_temp(target: str, data: bytes) -> str:
    """Write *data* next to *target* (resolved through symlinks); return the temp path.

    The temp file gets the live file's owner, group and mode, and is fsynced.
    On error nothing is left behind and :class:`WriteError` is raised.
    """
    real = os.path.realpath(target)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise write_error(exc, "read the config file's attributes", real) from None
    tmp = temp_path(real)
    try:
        os.unlink(tmp)  # our own leftover (same PID): never another process's
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise write_error(exc, "create a temp file next to the config", tmp) from None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except OSError as exc:
        raise write_error(exc, "create a temp file next to the config", tmp) from None
    try:
        try:
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            _write_all(fd, data, fault=True)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise write_error(exc, "write the temp file", tmp) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def discard_temp(tmp: str | None) -> None:
    if tmp:
        _unlink_quietly(tmp)


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_with(tmp: str, target: str) -> str | None:
    """Rename *tmp* over *target*'s real file and fsync the directory.

    Raises :class:`WriteError` (temp removed, live file unchanged) when the rename
    fails. Returns a warning when only the directory fsync failed: the new file is
    in place but may not survive a power cut.
    """
    real = os.path.realpath(target)
    try:
        os.replace(tmp, real)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise write_error(exc, "replace the config file", real) from None
    fault_point("replaced")
    try:
        fsync_dir(os.path.dirname(real))
    except OSError as exc:
        return f"the directory could not be synced to disk: {exc.strerror}"
    return None


def write_atomic(target: str, data: bytes) -> str | None:
    """Temp file + fsync + rename + directory fsync in one call."""
    return replace_with(write_temp(target, data), target)


def _check_directory(directory: str, path: str) -> None:
    """The directory a private file is written in: a directory others cannot race in."""
    try:
        st = os.stat(directory)
    except OSError as exc:
        raise write_error(exc, "use the directory", directory) from None
    if not stat.S_ISDIR(st.st_mode):
        raise WriteError("cannot write the file: its directory is not a directory", path,
                         "check the path")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise WriteError("refused to write the file: its directory is writable by every user",
                         directory, f"chmod o-w {directory} (or +t)")


def write_private(path: str, data: bytes, mode: int = 0o600,
                  action: str = "save haconsole's state") -> None:
    """Atomically write a file haconsole owns (staging, history, server state).

    The data goes to a new ``mkstemp`` file (``O_EXCL``, unpredictable name) in the
    same directory, gets *mode* exactly (no umask), is fsynced and renamed over
    *path*. A symlink at *path* is replaced, never written through.
    """
    directory, base = os.path.split(path)
    directory = directory or "."
    _check_directory(directory, path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}{TEMP_MARK}{os.getpid()}.", dir=directory)
    except OSError as exc:
        raise write_error(exc, action, path) from None
    try:
        try:
            os.fchmod(fd, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise write_error(exc, action, path) from None
    try:
        fsync_dir(directory)
    except OSError:
        pass  # the file is in place; only its durability across a power cut is unsure
