"""The journal: every change sent to HAProxy, and every refused or failed one.

JSON lines in ``<state dir>/journal.jsonl``: time, OS user, SSH origin,
instance, the exact command, HAProxy's answer or the error, and the state
before and after when the caller knows them. Appended with one ``write`` of a
whole line under ``O_APPEND``, so concurrent consoles do not interleave.

The file is opened with ``O_NOFOLLOW`` (a symlink there is refused, never
appended through) and must be a regular file of the current user, not writable
by others. :func:`check_writable` is called before anything is sent or written:
a journal that cannot be written stops a change before it is made. A failure
after the change (a disk filled meanwhile) raises :class:`JournalError`, which the
callers report loudly without undoing the change.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from pathlib import Path
from typing import Any

from console.haproxy.lines import split_lf
from console.haproxy.statefs import StateError, open_nofollow, os_error, read_file, state_dir
from console.paths import JOURNAL_NAME

WHAT = "the journal"


class JournalError(StateError):
    """The journal cannot be written (or read)."""


def journal_path() -> Path:
    return state_dir() / JOURNAL_NAME


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _open_for_append() -> tuple[int, Path]:
    try:
        path = journal_path()
        return open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600,
                             what=WHAT), path
    except StateError as exc:
        raise JournalError(exc.what, exc.where, exc.hint) from None


def check_writable() -> Path:
    """The journal's path, if an entry can be appended to it; else :class:`JournalError`.

    Opens the file for appending (creating it if needed) and writes nothing. A disk
    that fills up later is only found by :func:`record`.
    """
    fd, path = _open_for_append()
    os.close(fd)
    return path


def record(target: Any, command: str, *, answer: str | None = None, error: str | None = None,
           before: Any = None, after: Any = None, via: str = "socket",
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append one entry and return it; :class:`JournalError` if it cannot be written.

    *extra*: more keys (an apply's ``config``, ``version`` and ``message``)."""
    ssh = os.environ.get("SSH_CONNECTION", "")
    entry: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "ts": round(time.time(), 3),
        "user": _user(),
        "ssh_origin": ssh.split()[0] if ssh else None,
        "instance": getattr(target, "name", str(target)),
        "socket": getattr(target, "socket", None),
        "via": via,
        "command": command,
        "ok": error is None,
        "answer": answer.strip() if answer is not None else None,
        "error": error,
    }
    if before is not None:
        entry["before"] = before
    if after is not None:
        entry["after"] = after
    for key, value in (extra or {}).items():
        if value is not None and key not in entry:
            entry[key] = value
    # ASCII JSON: a value holding bytes that were not UTF-8 (a socket path given as
    # such) is written as a \\uXXXX escape instead of failing after the change was sent
    line = (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")
    fd, path = _open_for_append()
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(28, "No space left on device")  # a short write: the disk is full
    except OSError as exc:
        err = os_error(exc, "the journal could not record the entry", path)
        raise JournalError(err.what, err.where, err.hint) from None
    finally:
        os.close(fd)
    return entry


def read_entries(instance: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    """The newest *limit* entries, optionally for one instance; bad lines are skipped."""
    try:
        data = read_file(journal_path(), what=WHAT, limit=1 << 30)
    except StateError as exc:
        raise JournalError(exc.what, exc.where, exc.hint) from None
    if data is None:
        return []
    lines = split_lf(data.decode("utf-8", errors="replace"))[-limit:]
    out: list[dict[str, Any]] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and (instance is None or entry.get("instance") == instance):
            out.append(entry)
    return out
