"""The configuration as a set of files, for ``haconsole config`` and the console.

``-c`` may be repeated and may name a directory (``-c haproxy.cfg -c conf.d/``,
or settings ``config = [...]``): the files are HAProxy's (see
:mod:`console.haproxy.config.fileset`). A structured edit resolves names across
all of them and is staged on the one file holding the line it changes; every
file has its own staged change, applied one after the other, each checked with
every ``-f`` of the service.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from console.haproxy.errors import HAProxyError, ValidationError


def files_of(target: Any) -> list[str]:
    """The files of *target*'s configuration, in HAProxy's order."""
    from console.haproxy.config.fileset import expand_paths

    paths = list(getattr(target, "config_paths", None) or
                 ([target.config] if target.config else []))
    files = expand_paths(paths)
    if not files:
        raise ValidationError("no configuration file: " + ", ".join(paths) + " holds no *.cfg "
                              "file", hint="HAProxy reads the *.cfg files of a directory")
    return files


def shown_file(target: Any) -> str | None:
    """The file to review: of the configuration's files, the first with a staged change."""
    from console.haproxy.staging import Staging

    paths = list(getattr(target, "config_paths", None) or [])
    if len(paths) <= 1 and not any(os.path.isdir(p) for p in paths):
        return target.config
    try:
        files = files_of(target)
    except HAProxyError:
        return target.config
    for path in files:
        try:
            if Staging.load(path).status() != "empty":
                return path
        except HAProxyError:
            continue
    return target.config


def current_text(staging: Any) -> bytes:
    """A file as the set will be once its staged change is applied (live if none)."""
    try:
        return bytes(staging.candidate) if staging.status() == "pending" else staging.live()
    except HAProxyError:
        return b""


def cond_context(at: Any) -> Any:
    """What ``.if`` conditions depend on for the service (binary, environment)."""
    import asyncio

    from console.haproxy.apply_guard import service_cond
    from console.haproxy.apply_steps import check_binary
    from console.haproxy.config.cond import UNKNOWN

    try:
        binary = check_binary(at)
    except HAProxyError:
        try:
            return asyncio.run(service_cond(at, None, None))
        except HAProxyError:
            return UNKNOWN
    return asyncio.run(service_cond(at, binary.path, binary.version))


@dataclass
class Staged:
    staging: Any  # the Staging of the file the edit landed in
    path: str
    changed: bool  # the edit changed the staged text
    files: int  # how many files the configuration has
    context: Any = None  # the rest of the set (to describe the edit)


def stage_op(target: Any, at: Any, op: dict[str, Any], stagings: dict[str, Any]) -> Staged:
    """Stage *op* on the file of the set that holds its line (names resolved across all).

    *stagings*: path → ``Staging`` of every file of the set. *at*: the service's
    ``ApplyTarget``, or a function giving it (called only when the files have ``.if``
    blocks, which are read as the running HAProxy reads them).
    """
    from console.haproxy.config.cond import UNKNOWN
    from console.haproxy.config.fileset import SetContext, link, route
    from console.haproxy.staging import compute_candidate

    files = files_of(target)
    if len(files) == 1:
        _rebuild(stagings[files[0]], files[0])
    named = [(f, current_text(stagings[f])) for f in files]
    linked = link(named)
    cond = UNKNOWN
    if any(cfg.has_blocks for cfg in linked):  # which lines are read depends on the service
        cond = cond_context(at() if callable(at) else at)
        linked = link(named, cond)
    k = route(linked, op)
    path = files[k]
    staging = stagings[path]
    context = SetContext(tuple(named[:k]), tuple(named[k + 1:]), cond)
    before = staging.candidate
    # the staged text with the edit, made as staging it makes it (from the base and
    # every edit: computed once for both)
    if compute_candidate(staging.base, [*staging.ops, op], name=path,
                         context=context) == before:
        return Staged(staging, path, False, len(files), context)  # nothing to stage
    staging.add_ops([op], context=context)
    return Staged(staging, path, staging.candidate != before, len(files), context)


def _rebuild(staging: Any, path: str) -> None:
    """Make the staged text from the base and the staged edits: the edit to stage reads
    it, and is then staged from the base; both from one reading of the base (a big file
    is not read twice). Nothing is changed; a failure is left to the staging to say."""
    from console.haproxy.staging import compute_candidate

    if not staging.ops or staging.has_raw_edit or staging.status() != "pending":
        return
    try:
        compute_candidate(staging.base, staging.ops, name=path)
    except HAProxyError:
        pass


def runtime_disagrees(at: Any, op: dict[str, Any]) -> list[str]:
    """Where the running HAProxy contradicts a ``server_set`` the file already satisfies."""
    if op.get("op") != "server_set" or not at.has_runtime:
        return []
    import asyncio

    from console.haproxy.apply_steps import runtime_run
    from console.haproxy.parsers import SRV_ADMF_CMAINT, parse_servers_state

    try:
        rows = parse_servers_state(asyncio.run(runtime_run(
            at, f"show servers state {op['backend']}")))
    except HAProxyError:
        return []
    row = next((r for r in rows if r.srv_name == op["server"]), None)
    if row is None:
        return [f"the running HAProxy has no server {op['backend']}/{op['server']}"]
    out: list[str] = []
    changes = op.get("set") or {}
    for key, value in changes.items():
        if key in ("disabled", "enabled") and isinstance(value, bool):
            want = value if key == "disabled" else not value
            has = bool(row.srv_admin_state & SRV_ADMF_CMAINT)
            if has != want:
                out.append(f"{op['backend']}/{op['server']} is {'' if has else 'not '}"
                           "disabled by the configuration it runs")
        elif key == "weight" and re.fullmatch("[0-9]+", str(value)) \
                and row.srv_iweight != int(value):
            out.append(f"{op['backend']}/{op['server']} runs with weight {row.srv_iweight} "
                       "from its configuration")
    return out


def stage_log_ring(target: Any, at: Any, name: str, size: int,
                   frontends: list[str] | None = None
                   ) -> tuple[list[str], list[str], list[str]]:
    """Stage the ``ring`` section and the ``log ring@NAME`` lines
    (:func:`~console.haproxy.logs.ring_config.log_ring_ops`) on *target*'s files.

    Returns what was staged (one description per edit; empty: the configuration already
    says that), the notes (frontends that would log one line per connection) and the
    staging's warnings. Runs ``.if`` conditions the service's way: call it outside an
    event loop (a thread, from the console).
    """
    from console.haproxy.atomic import clean_leftovers
    from console.haproxy.config.model import ConfigFile
    from console.haproxy.logs.ring_config import log_ring_ops
    from console.haproxy.staging import Staging, describe_op

    files = files_of(target)
    stagings: dict[str, Any] = {}
    for f in files:
        try:
            clean_leftovers(f)
        except OSError:
            pass
        stagings[f] = Staging.load(f)
    parsed = [ConfigFile.parse(current_text(stagings[f]), name=f) for f in files]
    main = parsed[0]
    main.after = parsed[1:]
    ops, notes = log_ring_ops(main, name, size, frontends)
    staged_lines: list[str] = []
    warnings: list[str] = []
    for op in ops:
        staged = stage_op(target, at, op, stagings)
        warnings += list(getattr(staged.staging, "warnings", []))
        if staged.changed:
            staged_lines.append(str(describe_op(op, None, staged.context)))
    return staged_lines, notes, warnings
