"""Locks: the apply lock of a configuration file, and the small ``flock`` helper.

The apply lock lives in the file's shared place (:mod:`console.haproxy.shared_state`),
so every operator of the file — and ``sudo`` — is serialised by the same lock; the
holder's name (user, PID, SSH origin, since) is written in it for the one refused.
Lock files are opened with ``O_NOFOLLOW`` and checked like every state file.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from console.haproxy import shared_state
from console.haproxy.errors import HAProxyError
from console.haproxy.safe_text import visible
from console.haproxy.statefs import StateError, open_nofollow, private_dir, read_file


class LockHeld(HAProxyError):
    """Another apply holds the file's lock."""

    def __init__(self, what: str, where: str | None = None, hint: str | None = None,
                 *, holder: dict[str, Any] | None = None) -> None:
        self.holder = holder or {}
        super().__init__(what, where, hint)


def who() -> dict[str, Any]:
    """The OS user, PID, SSH origin and host of this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    ssh = os.environ.get("SSH_CONNECTION", "")
    return {"user": user, "pid": os.getpid(), "ssh_origin": ssh.split()[0] if ssh else None,
            "host": shared_state.hostname()}


# --------------------------------------------------------------------------- locks

@contextlib.contextmanager
def flock(path: Path, blocking: bool = True, mode: int = 0o600,
          shared: bool = False) -> Iterator[int]:
    """Hold ``flock`` on *path* (created *mode*, never through a symlink)."""
    fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, mode, what="the lock file",
                       owner_only=not shared)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)  # (the umask narrowed it: the other operators need it)
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def apply_lock(config_path: str) -> Iterator[dict[str, Any]]:
    """Hold the apply lock of *config_path*, or raise :class:`LockHeld` naming its holder.

    The lock is in the shared place of the file, so every operator (and ``sudo``)
    is serialised by the same one; when that place is private, ``me["note"]`` says
    so. ``flock`` dies with its process, so a crashed apply never leaves it locked.
    """
    place = shared_state.place(config_path)
    if not place.shared:
        private_dir(place.lock_file.parent, "staging directory", follow=False)
    path = place.lock_file
    try:
        with flock(path, blocking=False, mode=place.file_mode, shared=place.shared) as fd:
            me = dict(who(), since=time.strftime("%Y-%m-%d %H:%M:%S"), ts=time.time(),
                      config=os.path.realpath(config_path))
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            yield dict(me, note=place.note, lock=str(path))
    except BlockingIOError:
        holder: dict[str, Any] = {}
        for _ in range(3):  # the holder may be writing its name right now
            try:
                holder = json.loads(read_file(path, what="the lock file",
                                              owner_only=False) or b"{}")
                if not isinstance(holder, dict):
                    holder = {}
                break
            except (StateError, ValueError):
                time.sleep(0.05)
        raise LockHeld(f"another apply is running on this file: {describe_holder(holder)}",
                       os.path.realpath(config_path),
                       "wait for it to finish, then look at `haconsole config history`",
                       holder=holder) from None


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "holder unknown"
    text = f"{holder.get('user', '?')} (pid {holder.get('pid', '?')}"
    if holder.get("ssh_origin"):
        text += f", from {holder['ssh_origin']}"
    return visible(text + f") since {holder.get('since', '?')}")  # a file others can write
