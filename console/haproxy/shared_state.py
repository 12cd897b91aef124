"""Where the operators of one HAProxy share the apply lock, the history and who stages what.

The root is, in order: the settings' ``shared_state_dir`` (top level, or per
instance; given to :func:`configure`), ``$HACONSOLE_SHARED_STATE_DIR``, else
``/var/lib/haconsole``. Under it, one directory per configuration file (named by
:func:`key`, a hash of the file's real path)::

    <root>/<key>/config            the config file's real path, for people
    <root>/<key>/lock              the apply lock (flock)
    <root>/<key>/history/          the numbered versions: NNNN.cfg + NNNN.json
    <root>/<key>/staged/USER@HOST  one marker per staged change (who, since when)

The staged change itself stays in its author's private state directory; the
marker only lets the others see "bob has a change staged since 14:02".

* The root does not exist and can be created (as root, or with a writable parent):
  it is created mode 2770 (setgid), group = the config file's group; directories
  under it are 2770 and files 0660 (the operators' group: a config may hold
  passwords, so nothing is readable by others).
* It does not exist and cannot be created: the lock and the history stay in the
  user's private state directory, and :attr:`Place.note` says so (shown on every
  apply, history and review), with the command that creates the shared one.
* It exists but is unusable (a symlink, not a directory, writable by every user,
  owned by another user than root or the current one, not writable): refused with a
  :class:`~console.haproxy.statefs.StateError`; never a silent fallback.
"""

from __future__ import annotations

import getpass
import grp
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.haproxy.safe_text import visible
from console.haproxy.statefs import (
    StateError,
    create_file,
    describe_os_error,
    os_error,
    read_file,
    user_name,
)

ENV = "HACONSOLE_SHARED_STATE_DIR"
DEFAULT_ROOT = "/var/lib/haconsole"
SHARED_DIR_MODE = 0o2770
SHARED_FILE_MODE = 0o660

_configured: str | None = None


def hostname() -> str:
    """``socket.gethostname()`` (the node name), without loading ``socket``."""
    return os.uname().nodename


def configure(root: str | None) -> None:
    """The root from the settings (the instance's, else the top level); None: unset."""
    global _configured
    _configured = root or None


def root() -> tuple[Path, str]:
    """The shared root and where it comes from (``settings``, the variable, ``default``)."""
    if _configured:
        return Path(os.path.expanduser(_configured)), "settings (shared_state_dir)"
    env = os.environ.get(ENV)
    if env:
        return Path(env), ENV
    return Path(DEFAULT_ROOT), "default"


def key(config_path: str) -> str:
    """The name of a config file's directory: a hash of its real path."""
    real = os.path.realpath(config_path)
    return hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _me() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return user_name()


@dataclass(frozen=True)
class Place:
    """Where the lock and the history of one config file are kept."""

    config: str  # the config file's real path
    key: str
    shared: bool
    lock_file: Path
    history_dir: Path
    staged_dir: Path | None  # None when private: no one else to tell
    dir_mode: int
    file_mode: int
    note: str | None = None  # said on every apply, history and review when private


# --------------------------------------------------------------------------- checks

def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _config_gid(config: str) -> int | None:
    try:
        return os.stat(config).st_gid
    except OSError:
        return None


def _check_root(path: Path, origin: str) -> None:
    """Refuse a root that exists but cannot be trusted or used (*origin*: who named it)."""
    st = os.lstat(path)
    how = (f"set shared_state_dir in the settings (or {ENV}) to a usable directory "
           f"(this one comes from: {origin})")
    if stat.S_ISLNK(st.st_mode):
        raise StateError("the shared state directory is a symbolic link (refused)", str(path),
                         f"point the setting at the real directory ({os.path.realpath(path)})"
                         f", or {how}")
    if not stat.S_ISDIR(st.st_mode):
        raise StateError("the shared state directory is not a directory", str(path),
                         f"move that file away, or {how}")
    if st.st_uid not in (0, os.geteuid()):
        raise StateError(f"the shared state directory belongs to user "
                         f"{user_name(st.st_uid)} (only root or you are trusted)", str(path),
                         f"chown root {path}, or {how}")
    if st.st_mode & stat.S_IWOTH:
        raise StateError(f"the shared state directory is writable by every user (mode "
                         f"{stat.filemode(st.st_mode)})", str(path), f"chmod 2770 {path}")
    _check_writable(path, st, "the shared state directory")


def _check_writable(path: Path, st: os.stat_result, what: str) -> None:
    if os.access(path, os.W_OK | os.X_OK):
        return
    group = _group_name(st.st_gid)
    me = _me()
    raise StateError(f"{what} is not writable by {me} (owner {user_name(st.st_uid)}, group "
                     f"{group}, mode {stat.filemode(st.st_mode)}): the apply lock and the "
                     "history cannot be shared", str(path),
                     f"add {me} to group {group} (usermod -aG {group} {me}, then log in "
                     f"again), or make it group-writable (chmod 2770 {path}); a read-only "
                     "or immutable filesystem cannot hold them")


def _create_root(path: Path, config: str) -> str | None:
    """Create the root; None when done, else why it cannot be."""
    try:
        os.mkdir(path, SHARED_DIR_MODE)
    except FileExistsError:
        return None
    except OSError as exc:
        return describe_os_error(exc)
    try:
        gid = _config_gid(config)
        if gid is not None and gid != os.stat(path).st_gid:
            try:
                os.chown(path, -1, gid)
            except PermissionError:
                pass  # not a member of that group: the directory keeps ours
        os.chmod(path, SHARED_DIR_MODE)
    except OSError as exc:
        raise os_error(exc, "cannot set up the shared state directory", path) from None
    return None


def _shared_dir(path: Path, what: str) -> None:
    """A directory under the root: created 2770, else a real, usable directory."""
    try:
        os.mkdir(path, SHARED_DIR_MODE)
        os.chmod(path, SHARED_DIR_MODE)
        return
    except FileExistsError:
        pass
    except OSError as exc:
        raise os_error(exc, f"cannot create {what}", path) from None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise StateError(f"{what} is {kind} (refused)", str(path),
                         "move it away; haconsole creates it again")
    if st.st_mode & stat.S_IWOTH:
        raise StateError(f"{what} is writable by every user (mode "
                         f"{stat.filemode(st.st_mode)})", str(path), f"chmod 2770 {path}")
    _check_writable(path, st, what)


# --------------------------------------------------------------------------- the place

def place(config_path: str) -> Place:
    """The checked place of *config_path*'s lock and history (see the module docstring)."""
    from console.haproxy.statefs import state_dir

    real = os.path.realpath(config_path)
    k = key(config_path)
    base, origin = root()
    if not os.path.lexists(base):
        why = _create_root(base, real)
        if why is not None:
            private = state_dir()
            gid = _config_gid(real)
            group = "GROUP" if gid is None else _group_name(gid)
            note = (f"lock and history are private to user {_me()}: {base} does not exist "
                    f"and cannot be created ({why}); to share them with the other "
                    f"operators: install -d -m 2770 -g {group} {base}")
            return Place(real, k, False, private / "staging" / f"{k}.lock",
                         private / "history" / k, None, 0o700, 0o600, note)
    try:
        _check_root(base, origin)
    except FileNotFoundError:
        raise StateError("the shared state directory vanished", str(base)) from None
    directory = base / k
    _shared_dir(directory, "the shared directory of this config file")
    _shared_dir(directory / "history", "the shared history directory")
    _shared_dir(directory / "staged", "the shared directory of staged-change markers")
    name_file = directory / "config"
    if not os.path.lexists(name_file):
        try:
            create_file(name_file, (real + "\n").encode("utf-8", "surrogateescape"),
                        SHARED_FILE_MODE, what="the file naming the config")
        except StateError:
            if not os.path.lexists(name_file):  # (else another operator just wrote it)
                raise
    return Place(real, k, True, directory / "lock", directory / "history",
                 directory / "staged", SHARED_DIR_MODE, SHARED_FILE_MODE)


# --------------------------------------------------------------------------- markers

def _marker_name(user: str, host: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{user}@{host}") + ".json"


def mark_staged(config_path: str, info: dict[str, Any]) -> None:
    """Tell the other operators that this user has a change staged on *config_path*."""
    p = place(config_path)
    if p.staged_dir is None:
        return
    from console.haproxy.atomic import WriteError, write_private

    user, host = str(info.get("user") or _me()), hostname()
    doc = {"user": user, "host": host, "ssh_origin": info.get("ssh_origin"),
           "since": info.get("since"), "updated": time.time(),
           "edits": info.get("edits"), "summary": str(info.get("summary") or "")[:300]}
    try:
        write_private(str(p.staged_dir / _marker_name(user, host)),
                      json.dumps(doc).encode(), mode=p.file_mode,
                      action="tell the other operators about the staged change")
    except WriteError as exc:
        raise StateError(exc.what, exc.where, exc.hint) from None


def unmark_staged(config_path: str) -> None:
    p = place(config_path)
    if p.staged_dir is None:
        return
    try:
        os.unlink(p.staged_dir / _marker_name(_me(), hostname()))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise os_error(exc, "cannot remove the staged-change marker", p.staged_dir) from None


def others_staged(config_path: str) -> list[dict[str, Any]]:
    """The markers of the other operators' staged changes on *config_path*."""
    p = place(config_path)
    if p.staged_dir is None:
        return []
    mine = _marker_name(_me(), hostname())
    out: list[dict[str, Any]] = []
    for name in sorted(os.listdir(p.staged_dir)):
        if name == mine or not name.endswith(".json"):
            continue
        try:
            doc = json.loads(read_file(p.staged_dir / name, what="a staged-change marker",
                                       owner_only=False) or b"null")
        except (StateError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("user"), str):
            out.append(doc)
    return out


def _clock(ts: object) -> str:
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return "?"
    when = time.localtime(ts)
    if time.strftime("%Y-%m-%d", when) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M", when)
    return time.strftime("%Y-%m-%d %H:%M", when)


def describe_marker(doc: dict[str, Any]) -> str:
    """``bob has a change staged since 14:02 (from 10.0.0.5 on lb1: 2 edits)``."""
    where = [f"from {doc['ssh_origin']}" if doc.get("ssh_origin") else "",
             f"on {doc['host']}" if doc.get("host") else ""]
    edits = doc.get("edits")
    what = f"{edits} edit{'s' if edits != 1 else ''}" if isinstance(edits, int) else ""
    detail = " ".join(w for w in where if w) + (f": {what}" if what else "")
    # the marker is a file any operator can write: nothing of it reaches a terminal raw
    return visible(f"{doc.get('user', '?')} has a change staged since "
                   f"{_clock(doc.get('since'))}" + (f" ({detail})" if detail else ""))


def notes(config_path: str) -> list[str]:
    """What every apply, history and review says about the shared place."""
    p = place(config_path)
    out = [visible(p.note)] if p.note else []
    return out + [describe_marker(d) for d in others_staged(config_path)]
