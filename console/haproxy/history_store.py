"""Numbered versions of a configuration file, kept by the apply pipeline.

``<state dir>/history/<key>/NNNN.cfg`` holds a version's exact bytes and
``NNNN.json`` who wrote it, when, from where, why (the message), its status and
the diff from the text it replaced. Directories are mode 0700, files 0600: a
config may hold passwords.

Before an apply, the live file is saved as a version unless the newest version
already is that text (status ``found``: it was live, whoever wrote it). The
candidate is saved as the next version with status ``writing`` before the live
file is replaced, then marked ``applied``, ``written`` (no reload) or
``rolled back``. A version still ``writing`` means an apply was interrupted.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.haproxy.atomic import read_bytes, sha256, write_private
from console.haproxy.errors import NotFound, ValidationError
from console.haproxy.staging import Staging, StagingError, file_key, unified_diff, who
from console.settings import state_dir

_NAME = re.compile(r"^(\d{4,})\.json$")


@dataclass(frozen=True)
class Version:
    number: int
    time: str
    ts: float
    user: str | None
    ssh_origin: str | None
    message: str
    status: str  # found | writing | applied | written | rolled back | failed
    sha256: str
    file: Path
    meta: dict[str, Any] = field(default_factory=dict)

    def data(self) -> bytes:
        return read_bytes(str(self.file))

    @property
    def diff(self) -> str:
        return str(self.meta.get("diff") or "")


def history_dir(config_path: str) -> Path:
    root = state_dir() / "history"
    path = root / file_key(config_path)
    for p in (root, path):
        p.mkdir(exist_ok=True, mode=0o700)
        if p.stat().st_mode & 0o077:
            p.chmod(0o700)
    return path


def _load(path: Path, number: int) -> Version | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Version(number=number, time=str(meta.get("time", "")), ts=float(meta.get("ts", 0)),
                   user=meta.get("user"), ssh_origin=meta.get("ssh_origin"),
                   message=str(meta.get("message", "")), status=str(meta.get("status", "")),
                   sha256=str(meta.get("sha256", "")),
                   file=path.with_suffix(".cfg"), meta=meta)


def history(config_path: str) -> list[Version]:
    """Every saved version of *config_path*, oldest first."""
    directory = history_dir(config_path)
    out: list[Version] = []
    for name in os.listdir(directory):
        m = _NAME.match(name)
        if m:
            version = _load(directory / name, int(m[1]))
            if version and version.file.exists():
                out.append(version)
    return sorted(out, key=lambda v: v.number)


def get_version(config_path: str, number: int) -> Version:
    for version in history(config_path):
        if version.number == number:
            return version
    known = [v.number for v in history(config_path)]
    raise NotFound(f"no version {number} of this file", config_path,
                   f"versions kept: {', '.join(map(str, known)) or 'none yet'} "
                   "(haconsole config history)")


def save_version(config_path: str, data: bytes, *, message: str, status: str,
                 diff: str = "", extra: dict[str, Any] | None = None) -> Version:
    directory = history_dir(config_path)
    existing = [int(m[1]) for n in os.listdir(directory) if (m := _NAME.match(n))]
    number = max(existing, default=0) + 1
    me = who()
    meta: dict[str, Any] = {
        "number": number, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ts": time.time(),
        "user": me["user"], "ssh_origin": me["ssh_origin"], "pid": me["pid"],
        "config": os.path.realpath(config_path), "message": message, "status": status,
        "sha256": sha256(data), "size": len(data), "diff": diff, **(extra or {}),
    }
    base = directory / f"{number:04d}"
    write_private(str(base.with_suffix(".cfg")), data)
    write_private(str(base.with_suffix(".json")), json.dumps(meta, indent=1).encode())
    version = _load(base.with_suffix(".json"), number)
    assert version is not None
    return version


def set_status(config_path: str, number: int, status: str, **extra: Any) -> None:
    path = history_dir(config_path) / f"{number:04d}.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(extra, status=status, status_time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_private(str(path), json.dumps(meta, indent=1).encode())


def ensure_saved(config_path: str, live: bytes) -> Version:
    """The version holding *live*: the newest one if it is that text, else a new one."""
    versions = history(config_path)
    digest = sha256(live)
    if versions and versions[-1].sha256 == digest:
        return versions[-1]
    diff = ""
    message = "the file as found before the first apply"
    if versions:
        last = versions[-1]
        message = f"the file as found: changed outside haconsole since version {last.number}"
        diff = unified_diff(last.data(), live, f"version {last.number}", "live")
    return save_version(config_path, live, message=message, status="found", diff=diff)


def interrupted(config_path: str) -> Version | None:
    """The newest version if an apply stopped while writing or reloading it."""
    versions = history(config_path)
    if versions and versions[-1].status in ("writing", "reloading"):
        return versions[-1]
    return None


def live_version(config_path: str) -> int | None:
    """The newest version whose text is the live file's, if any."""
    digest = sha256(read_bytes(os.path.realpath(config_path)))
    for version in reversed(history(config_path)):
        if version.sha256 == digest:
            return version.number
    return None


def diff_version(config_path: str, number: int) -> str:
    """The change version *number* made to the version before it."""
    version = get_version(config_path, number)
    if version.diff:
        return version.diff
    older = [v for v in history(config_path) if v.number < number]
    prev = older[-1].data() if older else b""
    label = f"version {older[-1].number}" if older else "(nothing)"
    return unified_diff(prev, version.data(), label, f"version {number}")


def stage_rollback(config_path: str, number: int) -> Staging:
    """Stage the change that brings the file back to version *number*."""
    version = get_version(config_path, number)
    staging = Staging.load(config_path)
    if staging.pending:
        raise StagingError("a change is already staged for this file", config_path,
                           "apply or discard it first (haconsole config diff / discard)")
    data = version.data()
    if sha256(data) != version.sha256:
        raise ValidationError(f"version {number} is damaged (its hash does not match)",
                              str(version.file))
    if data == staging.live():
        raise ValidationError(f"the live file already is version {number}", config_path)
    staging.set_candidate(data, note=f"rollback to version {number}")
    return staging
