"""Numbered versions of a configuration file, kept by the apply pipeline.

``<shared place>/history/NNNN.cfg`` holds a version's exact bytes and
``NNNN.json`` who wrote it, when, from where, why (the message), its status and
the diff from the text it replaced. The place is shared by every operator of the
file (:mod:`console.haproxy.shared_state`: directories 2770, files 0660, the
operators' group; a config may hold passwords), or, when no shared place can be
created, the user's private ``<state dir>/history/<key>/`` (0700, 0600) — and then
every listing says so.

A history kept privately by an older haconsole (``<state dir>/history/<key>/``) is
copied into the shared place the first time the file's shared history is used,
if that one is still empty; the private copy stays where it was, marked copied.
Files are read without following symlinks; a version whose metadata is unreadable
or of the wrong types is skipped with a warning, never blocking an apply.

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
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.haproxy import shared_state
from console.haproxy.atomic import WriteError, read_bytes, sha256, write_private
from console.haproxy.errors import NotFound, ValidationError
from console.haproxy.locks import flock, who
from console.haproxy.staging import Staging, StagingError, unified_diff
from console.haproxy.statefs import StateError, create_file, private_dir, read_file, state_dir

_NAME = re.compile(r"^([0-9]{4,})\.json$")
_FILE = re.compile(r"^[0-9]{4,}\.(?:json|cfg)$")
COPIED_MARK = ".copied-to-shared"


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
        data = read_file(self.file, what=f"the text of version {self.number}",
                         owner_only=False)
        if data is None:
            raise StateError(f"the text of version {self.number} is missing", str(self.file),
                             "pick another version (haconsole config history)")
        return data

    @property
    def diff(self) -> str:
        return str(self.meta.get("diff") or "")


def _place(config_path: str) -> tuple[shared_state.Place, str | None]:
    """The checked place of the history, and a note if an old private one was copied."""
    place = shared_state.place(config_path)
    if not place.shared:
        private_dir(place.history_dir.parent, "history directory", follow=False)
        private_dir(place.history_dir, "history directory", follow=False)
        return place, None
    return place, _copy_private(place)


def _copy_private(place: shared_state.Place) -> str | None:
    """Copy the history an older haconsole kept privately, once, into an empty shared one."""
    old = state_dir() / "history" / place.key
    try:
        st = os.lstat(old)
    except FileNotFoundError:
        return None
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or os.path.lexists(old / COPIED_MARK):
        return None
    names = sorted(n for n in os.listdir(old) if _FILE.match(n))
    if not names:
        return None
    with flock(place.history_dir.parent / "history.lock", mode=place.file_mode, shared=True):
        if os.path.lexists(old / COPIED_MARK):
            return None
        if any(_NAME.match(n) for n in os.listdir(place.history_dir)):
            note = (f"your earlier private history of this file stays in {old}: the shared "
                    f"history already had versions, so it was not merged")
        else:
            for name in names:
                data = read_file(old / name, what="a version of the private history")
                if data is not None:
                    _write(place, place.history_dir / name, data)
            note = f"your earlier private history of this file was copied to {place.history_dir}"
        create_file(old / COPIED_MARK, (note + "\n").encode(), what="the copy mark")
        return note


def _write(place: shared_state.Place, path: Path, data: bytes) -> None:
    try:
        write_private(str(path), data, mode=place.file_mode, action="save the history")
    except WriteError as exc:
        raise StateError(exc.what, exc.where, exc.hint) from None


def history_dir(config_path: str) -> Path:
    """Where the versions of *config_path* are kept (created and checked)."""
    return _place(config_path)[0].history_dir


class _Bad(Exception):
    """A version's metadata cannot be used."""


_TYPES: tuple[tuple[str, type | tuple[type, ...], bool], ...] = (
    ("time", str, False), ("ts", (int, float), False), ("user", str, True),
    ("ssh_origin", str, True), ("message", str, False), ("status", str, False),
    ("sha256", str, False))


def _load(path: Path, number: int) -> Version:
    try:
        raw = read_file(path, what=f"the metadata of version {number}", owner_only=False)
    except StateError as exc:
        raise _Bad(exc.what) from None
    if raw is None:
        raise _Bad("its metadata vanished")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Bad(f"its metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise _Bad(f"its metadata is a JSON {type(meta).__name__}, not an object")
    for name, kind, optional in _TYPES:
        value = meta.get(name)
        if (value is None and optional) or (isinstance(value, kind) and
                                            not isinstance(value, bool)):
            continue
        raise _Bad(f"its metadata field {name!r} is missing or of the wrong type")
    cfg = path.with_suffix(".cfg")
    try:
        if not stat.S_ISREG(os.lstat(cfg).st_mode):
            raise _Bad(f"its text ({cfg.name}) is not a regular file")
    except FileNotFoundError:
        raise _Bad(f"its text ({cfg.name}) is missing") from None
    return Version(number=number, time=meta["time"], ts=float(meta["ts"]),
                   user=meta.get("user"), ssh_origin=meta.get("ssh_origin"),
                   message=meta["message"], status=meta["status"], sha256=meta["sha256"],
                   file=cfg, meta=meta)


def history_report(config_path: str) -> tuple[list[Version], list[str]]:
    """Every usable version of *config_path*, oldest first, and what to tell about the rest.

    The notes say when the history is private, when an old private one was copied,
    and which versions were skipped (unreadable metadata, wrong types, a symlink).
    """
    place, copied = _place(config_path)
    notes = [place.note] if place.note else []
    notes += [copied] if copied else []
    out: list[Version] = []
    for name in sorted(os.listdir(place.history_dir)):
        m = _NAME.match(name)
        if not m:
            continue
        try:
            out.append(_load(place.history_dir / name, int(m[1])))
        except _Bad as exc:
            notes.append(f"version {int(m[1])} skipped: {exc} ({place.history_dir / name}); "
                         "move it away to silence this")
    return sorted(out, key=lambda v: v.number), notes


def history(config_path: str) -> list[Version]:
    """Every usable saved version of *config_path*, oldest first."""
    return history_report(config_path)[0]


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
    place, _ = _place(config_path)
    directory = place.history_dir
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
    _write(place, base.with_suffix(".cfg"), data)
    _write(place, base.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    return _load(base.with_suffix(".json"), number)


def set_status(config_path: str, number: int, status: str, **extra: Any) -> None:
    place, _ = _place(config_path)
    path = place.history_dir / f"{number:04d}.json"
    try:
        meta = json.loads((read_file(path, what=f"the metadata of version {number}",
                                     owner_only=False) or b"null").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict):
        raise StateError(f"the metadata of version {number} is missing or unreadable",
                         str(path), "move it away")
    meta.update(extra, status=status, status_time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    _write(place, path, json.dumps(meta, indent=1).encode())


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
        try:
            diff = unified_diff(last.data(), live, f"version {last.number}", "live")
        except StateError:
            diff = ""
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
