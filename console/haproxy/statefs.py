"""The files haconsole keeps for itself, opened so that no one can turn them against it.

Every state file (journal, staged changes, history, locks) lives in a directory
that was checked first: a real directory, owned by the current user (the private
state directory) or by root or the current user (the shared one), and never
writable by others than its owner (or, for the shared one, its group). Files are
opened with ``O_NOFOLLOW`` (a planted symlink is refused, never followed), new
files are created with ``O_EXCL`` (or ``mkstemp``), and an opened file is checked
with ``fstat``: a regular file, not writable by others.

A problem with one of these files or directories is a :class:`StateError`: what is
wrong, where, and what to do. The command line exits with status 2 on it; the
console shows it as a notice.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from pathlib import Path

from console.haproxy.errors import HAProxyError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class StateError(HAProxyError):
    """A state file or directory is corrupt, unreadable, of the wrong type or unsafe."""


def user_name(uid: int | None = None) -> str:
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def describe_os_error(exc: OSError) -> str:
    """Why an ``OSError`` happened, in words."""
    return {
        errno.ELOOP: "it is a symbolic link (refused: haconsole never follows one there)",
        errno.ENOENT: "its parent directory does not exist",
        errno.EISDIR: "it is a directory",
        errno.ENOTDIR: "a part of the path is not a directory",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted (an immutable file or directory? lsattr)",
        errno.EROFS: "the filesystem is read-only",
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EFBIG: "file too large",
        errno.EIO: "input/output error",
    }.get(exc.errno or 0, exc.strerror or str(exc))


def os_error(exc: OSError, what: str, path: str | Path, hint: str | None = None) -> StateError:
    """A :class:`StateError` for *exc*, raised while doing *what* on *path*."""
    if hint is None:
        hint = {
            errno.ELOOP: "remove the link (a state file must be a plain file)",
            errno.EISDIR: "move that directory away",
            errno.ENOTDIR: "move away the file that stands where a directory should be",
            errno.EPERM: "chattr -i, or point HACONSOLE_STATE_DIR elsewhere",
            errno.EROFS: "remount it read-write, or point HACONSOLE_STATE_DIR elsewhere",
            errno.ENOSPC: "free some space on that filesystem (df -h)",
        }.get(exc.errno or 0, "check the path and its permissions")
    return StateError(f"{what}: {describe_os_error(exc)}", str(path), hint)


# --------------------------------------------------------------------------- directories

def _make_dir(path: Path, mode: int, what: str) -> bool:
    """Create *path* (not its parents' parents); True if this call created it."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return False
    except FileNotFoundError:
        try:
            os.makedirs(path.parent, exist_ok=True)
            os.mkdir(path, mode)
        except FileExistsError:
            return False
        except OSError as exc:
            raise os_error(exc, f"cannot create the {what}", path) from None
    except OSError as exc:
        raise os_error(exc, f"cannot create the {what}", path) from None
    try:
        os.chmod(path, mode)  # mkdir's mode went through the umask
    except OSError as exc:
        raise os_error(exc, f"cannot set the mode of the {what}", path) from None
    return True


def private_dir(path: str | Path, what: str = "state directory", *,
                follow: bool = True, env: str = "HACONSOLE_STATE_DIR") -> Path:
    """*path* as a checked private directory: created 0700, else it must be safe already.

    Refused (:class:`StateError`) when it is not a directory, belongs to another user,
    or is writable by its group or by others. *follow*: the path itself may be a
    symlink (the top state directory, which the user chose); subdirectories may not.
    """
    p = Path(path)
    _make_dir(p, PRIVATE_DIR_MODE, what)
    try:
        st = os.stat(p) if follow else os.lstat(p)
    except OSError as exc:
        raise os_error(exc, f"cannot read the {what}", p) from None
    if stat.S_ISLNK(st.st_mode):
        raise StateError(f"the {what} is a symbolic link (refused)", str(p),
                         "remove the link; haconsole creates the directory itself")
    if not stat.S_ISDIR(st.st_mode):
        raise StateError(f"the {what} is not a directory", str(p),
                         f"move that file away, or set {env} to a directory of your own")
    me = os.geteuid()
    if st.st_uid != me:
        raise StateError(f"the {what} belongs to user {user_name(st.st_uid)}, not to "
                         f"{user_name(me)}", str(p),
                         f"run haconsole as {user_name(st.st_uid)} (under sudo: sudo -H), "
                         f"or set {env} to a directory of your own")
    if st.st_mode & 0o022:
        raise StateError(f"the {what} is writable by other users "
                         f"(mode {stat.filemode(st.st_mode)})", str(p), f"chmod 700 {p}")
    return p


# --------------------------------------------------------------------------- files

def open_nofollow(path: str | Path, flags: int, mode: int = PRIVATE_FILE_MODE, *,
                  what: str, owner_only: bool = True) -> int:
    """``os.open`` with ``O_NOFOLLOW``, then the opened file is checked.

    A regular file, not writable by others (nor by its group when *owner_only*),
    owned by the current user (when *owner_only*) — else :class:`StateError`.
    """
    try:
        # O_NONBLOCK: a FIFO planted in its place must not hang the open (it is then
        # refused as not a regular file); cleared again for the reads and writes
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as exc:
        raise os_error(exc, f"cannot open {what}", path) from None
    try:
        check_fd(fd, path, what=what, owner_only=owner_only)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_fd(fd: int, path: str | Path, *, what: str, owner_only: bool = True) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise StateError(f"{what} is not a regular file", str(path), "move it away")
    me = os.geteuid()
    if owner_only and st.st_uid != me:
        raise StateError(f"{what} belongs to user {user_name(st.st_uid)}, not to "
                         f"{user_name(me)}", str(path),
                         f"run haconsole as {user_name(st.st_uid)}, or move the file away")
    if st.st_mode & (0o022 if owner_only else 0o002):
        raise StateError(f"{what} is writable by other users (mode "
                         f"{stat.filemode(st.st_mode)})", str(path),
                         f"chmod {'600' if owner_only else 'o-w'} {path}")


def read_file(path: str | Path, *, what: str, owner_only: bool = True,
              limit: int = 64 * 1024 * 1024) -> bytes | None:
    """The bytes of a state file (None if it does not exist), read without following links."""
    try:
        fd = open_nofollow(path, os.O_RDONLY, what=what, owner_only=owner_only)
    except StateError:
        if not os.path.lexists(path):
            return None
        raise
    try:
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise StateError(f"{what} is larger than {limit >> 20} MiB", str(path),
                                 "move it away")
        return b"".join(chunks)
    except OSError as exc:
        raise os_error(exc, f"cannot read {what}", path) from None
    finally:
        os.close(fd)


def create_file(path: str | Path, data: bytes, mode: int = PRIVATE_FILE_MODE, *,
                what: str) -> None:
    """Create *path* (``O_EXCL|O_NOFOLLOW``: never an existing file or a link) with *data*."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
    except OSError as exc:
        raise os_error(exc, f"cannot create {what}", path) from None
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise os_error(exc, f"cannot write {what}", path) from None
    os.close(fd)


def read_edited(path: str | Path) -> bytes:
    """The text an editor left at *path*, or a clear error when it left no plain file."""
    if not os.path.lexists(path):
        raise StateError("the editor removed the file instead of saving it: nothing staged",
                         str(path), "edit again and save the file in place")
    if os.path.isdir(path) and not os.path.islink(path):
        raise StateError("the editor replaced the file with a directory: nothing staged",
                         str(path), "edit again and save the file in place")
    data = read_file(path, what="the edited file")
    if data is None:
        raise StateError("the editor removed the file instead of saving it: nothing staged",
                         str(path), "edit again and save the file in place")
    return data


def state_dir() -> Path:
    """Journal, staged changes, logs: created on demand, mode 0700.

    Refused (:class:`StateError`) when it is not a directory, belongs to another user
    or is writable by others.
    """
    from console.paths import state_location

    return private_dir(state_location(), "state directory")


def log_path() -> Path:
    """The console's log file (tracebacks of internal errors): in :func:`state_dir`."""
    from console.paths import LOG_NAME

    return state_dir() / LOG_NAME
