"""Where the apply pipeline's effects happen: this machine, or a node over SSH.

The pipeline (:mod:`console.haproxy.apply`) reads and writes the live file, checks the
candidate, saves the server state and runs a reload command. For a local target these
are the local functions of :mod:`console.haproxy.atomic` and friends. For a node
(``ApplyTarget.files`` set, see :mod:`console.haproxy.node_files`) the config path the
pipeline is given is the file's local mirror, and each effect happens on the node: the
temp file next to the node's live file, ``haproxy -c`` with the node's binary, the
replace (refused when the node's file changed meanwhile), the state file, the reload
command. The mirror follows every write, so staging and history stay consistent.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import stat
import time
from collections.abc import Mapping

from console.haproxy.apply_steps import (
    ApplyTarget,
    CheckResult,
    check_binary,
    check_files,
    describe_check,
)
from console.haproxy.atomic import (
    discard_temp,
    read_bytes,
    replace_with,
    write_atomic,
    write_private,
    write_temp,
)
from console.haproxy.errors import HAProxyError
from console.haproxy.node_files import NodeFiles

CHECK_TIMEOUT = 120.0

STATE_WRITE = r"""
p=$1; d=$(dirname -- "$p")
mkdir -p -- "$d" || exit 4
t=$(mktemp "$d/.haconsole.XXXXXXXXXX") || exit 4
trap 'rm -f -- "$t"' EXIT HUP INT TERM
cat > "$t" || exit 5
chmod 644 -- "$t" || exit 5
sync -- "$t" 2>/dev/null || sync
mv -f -- "$t" "$p" || exit 6
trap - EXIT HUP INT TERM
"""


def node_of(target: ApplyTarget) -> NodeFiles | None:
    files = target.files
    return files if isinstance(files, NodeFiles) else None


def shown(target: ApplyTarget, path: str) -> str:
    """*path* as the engineer knows it: ``lb1:/etc/haproxy/haproxy.cfg`` on a node."""
    files = node_of(target)
    return files.where(path) if files else path


def live_path(target: ApplyTarget, config_path: str) -> str:
    """The file that is really replaced: the node's resolved path, or the local one."""
    files = node_of(target)
    if files:
        return files.realpath(files.remote(config_path))
    return os.path.realpath(config_path)


def is_link(target: ApplyTarget, config_path: str) -> bool:
    files = node_of(target)
    if files:
        return files.realpath(files.remote(config_path)) != files.remote(config_path)
    return os.path.islink(config_path)


def read_live(target: ApplyTarget, real: str) -> bytes:
    files = node_of(target)
    return files.read(real) if files else read_bytes(real)


def put_temp(target: ApplyTarget, real: str, data: bytes) -> str:
    files = node_of(target)
    return files.write_temp(real, data) if files else write_temp(real, data)


def drop_temp(target: ApplyTarget, temp: str | None) -> None:
    files = node_of(target)
    if files:
        files.discard(temp)
    else:
        discard_temp(temp)


def _mirror(files: NodeFiles, real: str, config_path: str, data: bytes) -> None:
    """The mirror follows the node: the config path's copy and the resolved path's."""
    for path in {config_path, files.mirror(real)}:
        if os.path.dirname(path) and os.path.isdir(os.path.dirname(path)):
            write_private(path, data, action="update the node's mirror")


def replace(target: ApplyTarget, temp: str, real: str, config_path: str, expect: bytes,
            data: bytes) -> tuple[str | None, str]:
    """Put *temp* in place of the live file; ``(warning, "mode … owner:group")``."""
    files = node_of(target)
    if files:
        desc = files.replace(temp, real, expect)
        _mirror(files, real, config_path, data)
        return None, desc
    warning = replace_with(temp, config_path)
    return warning, owner(real)


def write_whole(target: ApplyTarget, real: str, config_path: str, data: bytes) -> str | None:
    """Atomically write *data* as the live file (the rollback)."""
    files = node_of(target)
    if files:
        files.write_atomic(real, data)
        _mirror(files, real, config_path, data)
        return None
    return write_atomic(config_path, data)


def owner(path: str) -> str:
    st = os.stat(path)
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"mode {stat.filemode(st.st_mode)} {user}:{group}"


# --------------------------------------------------------------------------- the check

def check(target: ApplyTarget, config_path: str, temp: str, *,
          environ: Mapping[str, str] | None) -> CheckResult:
    """``haproxy -c`` on *temp* (blocking), here or on the node."""
    files = node_of(target)
    if not files:
        from console.haproxy.apply_steps import run_check

        return run_check(target, config_path, temp, environ=environ)
    binary = check_binary(target)
    env = None if environ is None else {k: v for k, v in environ.items()
                                        if not k.startswith("HAPROXY_")}
    paths, _ = check_files(target, config_path, temp)
    remote_files = [files.remote(p) for p in paths]
    args = [binary.path, "-c", *target.check_args]
    for f in remote_files:
        args += ["-f", f]
    cwd = target.cwd or os.path.dirname(files.remote(config_path))
    started = time.monotonic()
    try:
        done = files.run_in(cwd, args, environ=env, timeout=CHECK_TIMEOUT,
                            what="haproxy -c")
        output, rc = done.text + done.err, done.code
    except HAProxyError as exc:
        output, rc = str(exc), -1
    seconds = time.monotonic() - started
    remote_config = files.remote(config_path)
    return describe_check(output, rc, args, binary, seconds, temp, remote_config,
                          several=len(remote_files) > 1, shown=shown(target, config_path))


# --------------------------------------------------------------------------- state, reload

async def write_state(target: ApplyTarget, path: str, data: bytes) -> None:
    files = node_of(target)
    if not files:
        directory = os.path.dirname(path) or "."
        await asyncio.to_thread(os.makedirs, directory, exist_ok=True)
        write_private(path, data, mode=0o644, action="write the server state file")
        return
    done = await asyncio.to_thread(files.sh, STATE_WRITE, path, data=data,
                                   what=f"writing the server state to {path}", cap=8192)
    if done.code != 0:
        raise HAProxyError(f"cannot write the server state file on the node: "
                           f"{done.err.strip() or 'exit ' + str(done.code)}",
                           files.where(path), "check the directory (sudo = true?)")


async def run_reload_command(target: ApplyTarget, argv: list[str],
                             wait: float) -> tuple[int, str, str] | None:
    """Run the reload command on the node: ``(exit, output, where)``; None for a local
    target (the caller runs it here)."""
    files = node_of(target)
    if not files:
        return None
    try:
        done = await asyncio.to_thread(files.run, argv, what=" ".join(argv), timeout=wait)
    except HAProxyError as exc:
        return -1, str(exc), files.name
    return done.code, done.err + done.text, files.name
