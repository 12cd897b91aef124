"""Find what can be found about a running HAProxy from one stats socket.

``show info`` gives the worker PID; ``/proc/PID/cmdline`` gives the command
line: the ``-f`` config files, the ``-C`` directory, the ``-S`` master socket,
and ``/proc/PID/exe`` the binary. A config file in turn names its stats
sockets. Debian's default paths are tried when nothing is given.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

from console.haproxy.errors import HAProxyError
from console.haproxy.lines import split_lf
from console.haproxy.sections import HEADER_RE
from console.haproxy.transport import RuntimeClient, parse_address

DEBIAN_SOCKET = "/run/haproxy/admin.sock"
DEBIAN_MASTER = "/run/haproxy-master.sock"
DEBIAN_CONFIG = "/etc/haproxy/haproxy.cfg"


@dataclass
class CommandLine:
    """What a HAProxy process was started with."""

    argv: list[str]
    config_files: list[str] = field(default_factory=list)
    chdir: str | None = None  # -C
    master_socket: str | None = None  # -S, options stripped
    master_worker: bool = False  # -W / -Ws
    pidfile: str | None = None
    cwd: str | None = None
    binary: str | None = None

    @property
    def check_args(self) -> list[str]:
        """Arguments that `haproxy -c` needs besides the candidate file itself."""
        args: list[str] = []
        if self.master_worker:
            args.append("-W")
        if self.chdir:
            args += ["-C", self.chdir]
        return args


def parse_cmdline(argv: list[str], cwd: str | None = None) -> CommandLine:
    """Parse HAProxy's command line as ``/proc/PID/cmdline`` gives it."""
    out = CommandLine(argv=list(argv), cwd=cwd)
    out.binary = argv[0] if argv else None
    i = 1
    while i < len(argv):
        arg = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if arg == "-f" and nxt is not None:
            out.config_files.append(_abs(nxt, cwd))
            i += 2
            continue
        if arg == "-C" and nxt is not None:
            out.chdir = _abs(nxt, cwd)
            i += 2
            continue
        if arg == "-S" and nxt is not None:
            addr = nxt.split(",", 1)[0]
            if addr.startswith("unix@"):
                addr = addr[5:]
            out.master_socket = _abs(addr, cwd) if parse_address(addr).kind == "unix" else addr
            i += 2
            continue
        if arg == "-p" and nxt is not None:
            out.pidfile = _abs(nxt, cwd)
            i += 2
            continue
        if arg in ("-W", "-Ws"):
            out.master_worker = True
        elif arg in ("-sf", "-st"):
            # followed by a list of PIDs until the next option
            i += 1
            while i < len(argv) and argv[i].isascii() and argv[i].isdigit():
                i += 1
            continue
        elif arg in ("-x", "-L", "-N", "-m", "-n", "-dL", "-dM") and nxt is not None \
                and not nxt.startswith("-"):
            i += 2
            continue
        elif arg.startswith("-f") and len(arg) > 2:
            out.config_files.append(_abs(arg[2:], cwd))
        elif arg == "--":
            out.config_files += [_abs(a, cwd) for a in argv[i + 1:] if not a.startswith("-")]
            break
        i += 1
    return out


def _abs(path: str, cwd: str | None) -> str:
    if os.path.isabs(path) or not cwd:
        return path
    return os.path.normpath(os.path.join(cwd, path))


def read_cmdline(pid: int) -> CommandLine:
    """Read a process's command line from /proc (raises OSError if not allowed)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    cwd = None
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        pass
    out = parse_cmdline(argv, cwd)
    try:
        out.binary = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        pass
    return out


_SECTION_RE = HEADER_RE  # group 1: the keyword


def stats_sockets_in_config(text: str) -> list[tuple[str, str]]:
    """``(address, level)`` of every ``stats socket`` line in the global section.

    Only the lines of the ``global`` sections are read (found by one search for the
    sections' first lines).
    """
    found: list[tuple[str, str]] = []
    marked = "\n" + text
    heads = [(m.start(), m.group(1)) for m in _SECTION_RE.finditer(marked)]
    for k, (at, kw) in enumerate(heads):
        if kw != "global":
            continue
        start = marked.find("\n", at + 1)
        if start < 0:
            break
        end = heads[k + 1][0] + 1 if k + 1 < len(heads) else len(marked)
        for raw in split_lf(marked[start + 1:end]):
            _stats_socket(raw, found)
    return found


def _stats_socket(raw: str, found: list[tuple[str, str]]) -> None:
    """Add the ``stats socket`` of the global section's line *raw*, if it is one."""
    line = raw.split("#", 1)[0].strip()
    if not line:
        return
    try:
        words = shlex.split(line)
    except ValueError:
        return
    if len(words) >= 3 and words[0] == "stats" and words[1] == "socket":
        addr = words[2]
        if addr.startswith("unix@"):
            addr = addr[5:]
        level = "operator"
        if "level" in words[3:]:
            idx = words.index("level", 3)
            if idx + 1 < len(words):
                level = words[idx + 1]
        found.append((addr, level))


def socket_from_config(config_path: str) -> str | None:
    """The best stats socket named by a config file: admin level first."""
    try:
        with open(config_path, encoding="utf-8", errors="replace") as f:
            sockets = stats_sockets_in_config(f.read())
    except OSError:
        return None
    order = {"admin": 0, "operator": 1, "user": 2}
    sockets.sort(key=lambda s: order.get(s[1], 3))
    return sockets[0][0] if sockets else None


@dataclass
class Discovery:
    socket: str | None = None
    master: str | None = None
    config_files: list[str] = field(default_factory=list)
    cmdline: CommandLine | None = None
    pid: int | None = None
    notes: list[str] = field(default_factory=list)


async def discover(socket: str | None = None, master: str | None = None,
                   config: str | None = None) -> Discovery:
    """Fill in what was not given. Never raises: what could not be found is noted."""
    found = Discovery(socket=socket, master=master, config_files=[config] if config else [])
    from_config = False
    if not found.socket and config:
        found.socket = socket_from_config(config)
        if found.socket:
            from_config = True
            found.notes.append(f"stats socket {found.socket} from {config}")
    if not found.socket and not master and os.path.exists(DEBIAN_SOCKET):
        found.socket = DEBIAN_SOCKET
        found.notes.append(f"using Debian's default socket {DEBIAN_SOCKET}")
    if found.socket:
        try:
            answer = await RuntimeClient(found.socket, connect_timeout=2,
                                         read_timeout=5).run("show info")
            from console.haproxy.parsers import parse_info  # (once HAProxy answered)

            info = parse_info(answer)
            found.pid = int(info.get("Pid", "0")) or None
        except (HAProxyError, ValueError) as exc:
            found.notes.append(f"could not ask the socket: {exc}")
            if from_config and not master:  # named by a file, nothing there: not running
                found.notes.append(f"no HAProxy answers on {found.socket}: none assumed "
                                   "running")
                found.socket = None
    if found.pid:
        try:
            found.cmdline = read_cmdline(found.pid)
        except OSError as exc:
            found.notes.append(f"cannot read /proc/{found.pid}/cmdline: {exc.strerror} "
                               "(HAProxy runs in another namespace or as another user)")
    if found.cmdline:
        if not found.config_files and found.cmdline.config_files:
            found.config_files = list(found.cmdline.config_files)
            found.notes.append("config from the process's command line")
        if not found.master and found.cmdline.master_socket:
            found.master = found.cmdline.master_socket
            found.notes.append("master socket from the process's command line (-S)")
    if not found.master and os.path.exists(DEBIAN_MASTER) and (
            not found.socket or found.socket == DEBIAN_SOCKET):
        found.master = DEBIAN_MASTER
    if not found.config_files and os.path.exists(DEBIAN_CONFIG) and (
            found.socket == DEBIAN_SOCKET):
        found.config_files = [DEBIAN_CONFIG]
    return found


# --------------------------------------------------------------------------- environment

def read_environ(pid: int) -> dict[str, str] | None:
    """The environment *pid* was started with (``/proc/PID/environ``), None if unreadable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    out: dict[str, str] = {}
    for item in data.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name:
            out[name.decode("utf-8", "surrogateescape")] = value.decode("utf-8",
                                                                        "surrogateescape")
    return out


def reload_environ(environ: dict[str, str], cmdline: CommandLine | None) -> dict[str, str]:
    """The environment the next reload parses the configuration with.

    A master re-executes itself with its environment plus what HAProxy set in it
    (``HAPROXY_MWORKER``, ``HAPROXY_MWORKER_REEXEC``, ``HAPROXY_CFGFILES``,
    ``HAPROXY_LOCALPEER``); other ``HAPROXY_*`` variables stay unknown.
    """
    import socket as socket_mod

    out = {k: v for k, v in environ.items() if not k.startswith("HAPROXY_")}
    if cmdline is None:
        return out
    argv = cmdline.argv
    peer = argv[argv.index("-L") + 1] if "-L" in argv[:-1] else socket_mod.gethostname()
    out["HAPROXY_LOCALPEER"] = peer
    if cmdline.master_worker:
        out["HAPROXY_MWORKER"] = "1"
        out["HAPROXY_MWORKER_REEXEC"] = "1"
        from console.haproxy.config.fileset import expand_paths

        out["HAPROXY_CFGFILES"] = ";".join(expand_paths(cmdline.config_files, cmdline.cwd))
    return out


async def running_pids(socket: str | None, master: str | None) -> tuple[int | None, int | None]:
    """``(master PID, worker PID)`` of a running HAProxy, as far as they can be asked."""
    from console.haproxy.parsers import parse_info, parse_proc
    from console.haproxy.transport import MasterClient

    master_pid = worker_pid = None
    if master:
        try:
            proc = parse_proc(await MasterClient(master, connect_timeout=2,
                                                 read_timeout=5).run("show proc"))
            master_pid = proc.master.pid if proc.master else None
            worker_pid = proc.workers[0].pid if proc.workers else None
        except (HAProxyError, ValueError):
            pass
    if worker_pid is None and socket:
        try:
            info = parse_info(await RuntimeClient(socket, connect_timeout=2,
                                                  read_timeout=5).run("show info"))
            worker_pid = int(info.get("Pid", "0")) or None
        except (HAProxyError, ValueError):
            pass
    return master_pid, worker_pid


@dataclass
class ServiceEnv:
    """The environment a running HAProxy reads its configuration with."""

    environ: dict[str, str]
    source: str  # "HAProxy master pid 123"


async def service_environ(socket: str | None, master: str | None) -> ServiceEnv | None:
    """The environment of the running HAProxy's next reload; None when not readable."""
    master_pid, worker_pid = await running_pids(socket, master)
    for pid, role in ((master_pid, "master"), (worker_pid, "worker")):
        if not pid:
            continue
        environ = read_environ(pid)
        if environ is None:
            continue
        try:
            cmdline: CommandLine | None = read_cmdline(pid)
        except OSError:
            cmdline = None
        return ServiceEnv(reload_environ(environ, cmdline), f"HAProxy {role} pid {pid}")
    return None
