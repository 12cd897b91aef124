"""The journal: every change sent to HAProxy, and every refused or failed one.

JSON lines in ``<state dir>/journal.jsonl``: time, OS user, SSH origin,
instance, the exact command, HAProxy's answer or the error, and the state
before and after when the caller knows them. Appended with one ``write`` of a
whole line under ``O_APPEND``, so concurrent consoles do not interleave.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from pathlib import Path
from typing import Any

from console.settings import state_dir


def journal_path() -> Path:
    return state_dir() / "journal.jsonl"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def record(target: Any, command: str, *, answer: str | None = None, error: str | None = None,
           before: Any = None, after: Any = None, via: str = "socket") -> dict[str, Any]:
    """Append one entry and return it."""
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
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    fd = os.open(journal_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)
    return entry


def read_entries(instance: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    """The newest *limit* entries, optionally for one instance; bad lines are skipped."""
    try:
        with open(journal_path(), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()[-limit:]
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if instance is None or entry.get("instance") == instance:
            out.append(entry)
    return out
