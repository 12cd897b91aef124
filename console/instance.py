"""Which HAProxy the console works on, and how that HAProxy runs.

The wiring below both the command line and the console screens:

* :class:`Request`: what the user asked for (flags; the command line builds it);
* :func:`resolve`: a :class:`Target` from the request, the settings file, the
  environment and discovery (the running process's command line and sockets);
* :func:`apply_target`: the one way to build the config pipeline's
  :class:`~console.haproxy.apply_steps.ApplyTarget` from a target: the binary that
  checks the file, every ``-f`` of the service, its ``-C``/``-L`` arguments and working
  directory, and the reload method of the settings (``master``, ``systemctl``,
  ``command``). ``haconsole config apply`` and the console's config screen both use it,
  so an apply behaves the same from the shell and from the console;
* :class:`ExitStatus`: the exit codes of every command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from console import settings as settings_mod
from console.settings import DEFAULT_INTERVAL, check_interval

if TYPE_CHECKING:  # (imported where used: a config edit does not load them all)
    from console.haproxy.apply_target import ApplyTarget
    from console.haproxy.discovery import CommandLine
    from console.haproxy.node_files import NodeFiles, Process
    from console.haproxy.ssh import SSHNode


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # something failed: HAProxy refused, a reload rolled back…
    DIFFERS = 1  # `config diff`: a change is staged (as diff(1) says files differ)
    USAGE = 2  # refused before anything was done: bad input, read-only, unusable state
    INTERRUPTED = 130  # Ctrl-C


@dataclass
class Request:
    """What the user named: flags of the command line (all optional)."""

    socket: str | None = None
    master: str | None = None
    configs: list[str] = field(default_factory=list)  # every -c, in order
    url: str | None = None
    instance: str | None = None  # a [instances.NAME] of the settings
    settings: str | None = None  # the settings file
    interval: str | float | None = None  # as typed; checked by resolve()
    read_only: bool = False
    ssh: str | None = None  # the node's host, as ssh reads it
    ssh_config: str | None = None  # ssh -F FILE

    @classmethod
    def from_args(cls, args: object) -> Request:
        """From the command line's parsed options (``argparse.Namespace``)."""
        config = getattr(args, "config", None)
        configs = [config] if isinstance(config, str) else list(config or [])
        instance = getattr(args, "instance", None)
        if isinstance(instance, list):  # -i as parsed, before cli.split_instances
            if len(instance) > 1:
                from console.haproxy.errors import ValidationError

                raise ValidationError("-i given more than once names a fleet, not one "
                                      "instance", hint="give one -i NAME here")
            instance = instance[0] if instance else None
        return cls(socket=getattr(args, "socket", None), master=getattr(args, "master", None),
                   configs=configs, url=getattr(args, "url", None),
                   instance=instance,
                   settings=getattr(args, "settings", None),
                   interval=getattr(args, "interval", None),
                   read_only=bool(getattr(args, "read_only", False)),
                   ssh=getattr(args, "ssh", None),
                   ssh_config=getattr(args, "ssh_config", None))

    @property
    def names_an_address(self) -> bool:
        return bool(self.socket or self.master or self.configs or self.url or self.ssh)


@dataclass
class Target:
    """Where the instance is, after flags, settings and discovery are merged."""

    name: str = "haproxy"
    socket: str | None = None
    master: str | None = None
    config: str | None = None  # the first file of the configuration
    url: str | None = None
    url_user: str | None = None
    url_password: str | None = None
    haproxy: str | None = None
    haproxy_origin: str = "given"  # "settings", "running instance"…
    configs: list[str] = field(default_factory=list)  # every -f, files or directories
    read_only: bool = False
    log_file: str | None = None  # the console's log source (else the instance's ring)
    log_journal: str | None = None  # or journald: this unit
    interval: float = DEFAULT_INTERVAL
    notes: list[str] = field(default_factory=list)
    check_args: list[str] = field(default_factory=list)
    reload: str = "master"  # how a new configuration is loaded: master | systemctl | command
    reload_command: str | None = None  # the command, or the unit for systemctl
    cmdline: CommandLine | None = None  # the running master's command line, when read
    discovered: bool = False  # discovery ran (cmdline None then means: not readable)
    ssh: str | None = None  # the node's host when reached over SSH
    ssh_config: str | None = None
    sudo: bool = False
    node: SSHNode | None = None  # the open connection, once connected
    remote_socket: str | None = None  # the paths on the node (socket/master are local
    remote_master: str | None = None  # forwards of these once connected)
    remote_configs: list[str] = field(default_factory=list)
    files: NodeFiles | None = None  # the node's config files, once mirrored (attach_files)
    node_cmdline: CommandLine | None = None  # the node's master command line (node paths)
    node_environ: dict[str, str] | None = None  # its environment for the next reload
    node_environ_source: str = ""

    @property
    def remote_config_note(self) -> str | None:
        """Why the config file is not read, for a node over SSH (None: a local instance,
        or a node whose files are attached)."""
        if not self.ssh or self.files is not None:
            return None
        files = ", ".join(self.remote_configs) or "its configuration"
        return (f"{files} is on {self.ssh} and has not been read yet: F (the config "
                "screen) reads it over ssh")

    def shown_path(self, path: str | None) -> str:
        """A configuration path as the engineer knows it: ``lb1:/etc/haproxy/haproxy.cfg``
        for a node's file (never the local mirror's path), else the path (``-``: none)."""
        if not path:
            return "-"
        if self.files is not None and self.files.in_mirror(path):
            return self.files.where(path)
        return path

    def shown_text(self, text: str) -> str:
        """*text* (a message, an error) with the mirror's paths said as the node's."""
        return self.files.said(text) if self.files is not None else text

    @property
    def label(self) -> str:
        """The instance as the header names it: ``lb1 via ssh`` for a node."""
        return f"{self.name} via ssh" if self.ssh else self.name

    @property
    def socket_where(self) -> str:
        """The stats socket as messages name it: ``lb1:/run/haproxy/admin.sock`` for a
        node over SSH (its path on the node, not the local forward), else the socket."""
        if self.ssh and self.remote_socket:
            return f"{self.name}:{self.remote_socket}"
        return self.socket or "?"

    @property
    def config_paths(self) -> list[str]:
        """The configuration's ``-f`` paths in order (files or directories)."""
        return list(self.configs) or ([self.config] if self.config else [])


def resolve(request: Request, *, discover: bool = True) -> Target:
    """The target of *request*: flags over environment over settings over discovery."""
    settings = settings_mod.load(request.settings)
    settings.limits.apply()
    t = Target(interval=settings.ui.interval)
    inst = settings.instance(request.instance) \
        if (request.instance or not request.names_an_address) else None
    if inst:
        t.name = inst.name
        t.socket, t.master, t.url = inst.socket, inst.master, inst.stats_url
        t.configs = list(inst.configs)
        t.url_user, t.url_password = inst.stats_user, inst.stats_password
        t.haproxy, t.read_only = inst.haproxy, inst.read_only
        t.reload, t.reload_command = inst.reload, inst.reload_command
        t.ssh, t.ssh_config, t.sudo = inst.ssh, inst.ssh_config, inst.sudo
        if inst.haproxy:
            t.haproxy_origin = "settings"
    from console.haproxy import shared_state

    shared_state.configure((inst.shared_state_dir if inst else None) or
                           settings.shared_state_dir)
    # Credentials for the stats page from the environment: never in an argv (ps).
    t.url_user = os.environ.get("HACONSOLE_STATS_USER") or t.url_user
    t.url_password = os.environ.get("HACONSOLE_STATS_PASSWORD") or t.url_password
    t.socket = request.socket or t.socket
    t.master = request.master or t.master
    if request.configs:
        t.configs = [os.path.abspath(p) for p in request.configs]
    set_configs(t, t.configs)
    t.url = request.url or t.url
    t.read_only = request.read_only or t.read_only
    if request.interval is not None:
        t.interval = check_interval(request.interval, "--interval")
    t.ssh = request.ssh or t.ssh
    t.ssh_config = request.ssh_config or t.ssh_config
    if t.ssh:
        connect_ssh(t)
        return t
    if discover and (t.socket or t.master or t.config or not t.url):
        _discover(t)
    if t.socket and t.name == "haproxy":
        t.name = os.path.basename(os.path.dirname(t.socket)) or t.socket \
            if "/" in t.socket else t.socket
    return t


DEFAULT_NODE_SOCKET = "/run/haproxy/admin.sock"  # Debian's and Ubuntu's stats socket


def connect_ssh(t: Target) -> None:
    """Open the connection to the node of *t* and forward its sockets.

    ``t.socket`` and ``t.master`` become local unix sockets that reach the node's (the
    paths on the node stay in ``remote_socket``/``remote_master``). The connection is
    closed at exit; on Linux its ssh process also dies with the console. The node's
    configuration files are kept as ``remote_configs``: nothing reads a local file of
    the same name in their place.
    """
    import atexit

    from console.haproxy.ssh import SSHNode, check_remote_path

    node = SSHNode(t.ssh or "", sudo=t.sudo, ssh_config=t.ssh_config)
    t.remote_socket = check_remote_path(t.socket or DEFAULT_NODE_SOCKET, "stats socket")
    t.remote_master = check_remote_path(t.master, "master socket") if t.master else None
    t.remote_configs, t.configs, t.config = list(t.configs), [], None
    if t.name == "haproxy":
        t.name = t.ssh or t.name
    node.start()
    atexit.register(node.close)
    t.node = node
    t.socket = node.forward(t.remote_socket, "stats", f"{t.name}:{t.remote_socket}")
    if t.remote_master:
        t.master = node.forward(t.remote_master, "master", f"{t.name}:{t.remote_master}")
    t.notes.append(f"{t.ssh}: stats socket {t.remote_socket}"
                   + (f", master {t.remote_master}" if t.remote_master else "")
                   + " over ssh")


def attach_files(t: Target) -> None:
    """Make the configuration of the node of *t* usable: its files mirrored locally.

    The node's master command line is read on the node (``/proc/PID/cmdline``, ``cwd``,
    ``exe`` of the master, else the worker), so ``haproxy -c`` gets the node's binary,
    its ``-f`` files and ``-C``; the instance's ``config`` is used when the process
    cannot be read. Its environment is read there too (``.if defined(...)``). The files
    are copied to the mirror (:mod:`console.haproxy.node_files`); ``t.config`` and
    ``t.configs`` become the mirror's paths, which staging and history work on.
    """
    from console.haproxy.errors import ValidationError
    from console.haproxy.node_files import NodeFiles
    from console.haproxy.statefs import state_dir

    if not t.ssh or t.node is None:
        return
    files = t.files or NodeFiles.for_instance(t.node, t.name, str(state_dir()))
    _read_node_process(t, files, environ=True)
    paths = list(t.remote_configs) or (t.node_cmdline.config_files if t.node_cmdline else [])
    if not paths:
        raise ValidationError(f"the configuration files of {t.name} are not known: the "
                              "running process could not be read on the node",
                              f"{t.name} (ssh {t.ssh})", "set config = [\"/etc/haproxy/"
                              "haproxy.cfg\"] in the instance's settings, or sudo = true")
    mirrored = files.sync(paths)
    t.files = files
    set_configs(t, mirrored)
    if t.node_environ is not None and t.node_cmdline and t.node_cmdline.master_worker:
        from console.haproxy.config.fileset import expand_paths

        t.node_environ["HAPROXY_CFGFILES"] = ";".join(
            files.remote(p) for p in expand_paths(mirrored))
    note = f"{t.name}: configuration {', '.join(paths)} read over ssh"
    if note not in t.notes:
        t.notes.append(note)


def _read_node_process(t: Target, files: NodeFiles, *, environ: bool) -> None:
    """The node's running master (else worker) command line as ``t.node_cmdline`` and,
    with *environ*, its environment for the next reload; left as they were when the
    process cannot be read on the node. One round trip per process asked."""
    import asyncio

    from console.haproxy.discovery import running_pids

    master_pid, worker_pid = asyncio.run(running_pids(t.socket, t.master))
    for pid, role in ((master_pid, "master"), (worker_pid, "worker")):
        if pid:
            proc = files.process(pid)
            cmdline = _node_cmdline(proc)
            if cmdline is not None:
                t.node_cmdline = cmdline
                if environ:
                    t.node_environ = _node_environ(proc, cmdline)
                    if t.node_environ is not None:
                        t.node_environ_source = f"HAProxy {role} pid {pid} on {t.name}"
                break


def node_config_paths(t: Target, files: NodeFiles) -> list[str]:
    """The ``-f`` paths on the node of *t*: the instance's ``config``, else those of
    its running process (read on the node the first time, then kept)."""
    if t.remote_configs:
        return list(t.remote_configs)
    if t.node_cmdline is None:
        _read_node_process(t, files, environ=False)
    return list(t.node_cmdline.config_files) if t.node_cmdline else []


def resync_files(t: Target) -> None:
    """Copy the node's files of *t* into the mirror again (attached by
    :func:`attach_files`): a change made on the node since is seen, and a staged change
    made on the old text becomes stale. Nothing to do for a local instance."""
    if t.files is not None:
        t.files.sync([t.files.remote(p) for p in t.configs])


def _node_cmdline(proc: Process) -> CommandLine | None:
    from console.haproxy.discovery import parse_cmdline

    if not proc.cmdline:
        return None
    argv = [a.decode("utf-8", "replace") for a in proc.cmdline.split(b"\0") if a]
    out = parse_cmdline(argv, proc.cwd)
    out.binary = proc.exe or out.binary
    return out


def _node_environ(proc: Process, cmdline: CommandLine) -> dict[str, str] | None:
    """The node's environment for the next reload (see discovery.reload_environ);
    ``HAPROXY_CFGFILES`` is added once the files are read (attach_files)."""
    if proc.environ is None:
        return None
    env: dict[str, str] = {}
    for item in proc.environ.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key and not key.startswith(b"HAPROXY_"):
            env[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8",
                                                                       "surrogateescape")
    argv = cmdline.argv
    if "-L" in argv[:-1]:
        env["HAPROXY_LOCALPEER"] = argv[argv.index("-L") + 1]
    elif proc.host:
        env["HAPROXY_LOCALPEER"] = proc.host
    if cmdline.master_worker:
        env["HAPROXY_MWORKER"] = "1"
        env["HAPROXY_MWORKER_REEXEC"] = "1"
    return env


def _discover(t: Target) -> None:
    import asyncio

    from console.haproxy.discovery import discover as run_discovery

    found = asyncio.run(run_discovery(t.socket, t.master, t.config))
    t.discovered = True
    t.socket = t.socket or found.socket
    t.master = t.master or found.master
    if not t.configs and found.config_files:
        set_configs(t, found.config_files)
    if found.cmdline:
        t.cmdline = found.cmdline
        if not t.haproxy and found.cmdline.binary:
            t.haproxy, t.haproxy_origin = found.cmdline.binary, "running instance"
        t.check_args = found.cmdline.check_args
    t.notes += found.notes


def set_configs(t: Target, paths: list[str]) -> None:
    """The configuration's paths, and its first file as ``config``."""
    from console.haproxy.config.fileset import expand_paths

    t.configs = list(paths)
    files = expand_paths(paths) if paths else []
    t.config = files[0] if files else (paths[0] if paths else None)


async def apply_target(target: Target) -> ApplyTarget:
    """How the HAProxy of *target* loads a new configuration: the only way one is built.

    The running master's command line (read by discovery, or now from ``show proc``
    when discovery did not run or could not read it) gives the service's ``-f`` files,
    ``-C``/``-L`` arguments and working directory; without it, the target's own
    configuration paths. The settings' binary wins over the running one for
    ``haproxy -c``; the reload method and command come from the settings.
    """
    if target.files is not None:
        return _node_apply_target(target)
    if target.ssh:  # never this machine's /proc for a node's process
        from console.haproxy.errors import ValidationError

        raise ValidationError(f"the configuration of {target.name} is not read yet",
                              f"{target.name} (ssh {target.ssh})",
                              "read it first (console.instance.attach_files)")
    cmdline = target.cmdline
    if cmdline is None and not target.discovered and (target.socket or target.master):
        from console.haproxy.discovery import discover

        cmdline = (await discover(target.socket, target.master, target.config)).cmdline
    if cmdline is None and target.master:
        cmdline = await _master_cmdline(target.master)
    return apply_target_from(target, cmdline)


def apply_target_from(target: Target, cmdline: CommandLine | None) -> ApplyTarget:
    """The :class:`ApplyTarget` of *target* once the master's command line is known (or
    known to be unreadable: ``None``); :func:`apply_target` is the way to get one."""
    from console.haproxy.apply_target import ApplyTarget

    haproxy, origin = target.haproxy, target.haproxy_origin
    if origin != "settings" and cmdline and cmdline.binary:
        haproxy, origin = cmdline.binary, "running instance"
    out = ApplyTarget(name=target.name, socket=target.socket, master=target.master,
                      haproxy=haproxy, haproxy_origin=origin,
                      running=bool(target.socket or target.master),
                      reload=target.reload, reload_command=target.reload_command)
    if cmdline:
        out.config_files = list(cmdline.config_files)
        out.check_args = list(cmdline.check_args)
        if "-L" in cmdline.argv[:-1]:
            out.check_args += ["-L", cmdline.argv[cmdline.argv.index("-L") + 1]]
        out.cwd = cmdline.cwd
    else:
        out.config_files = target.config_paths
        out.check_args = list(target.check_args)
    return out


def _node_apply_target(target: Target) -> ApplyTarget:
    """The :class:`ApplyTarget` of a node: the mirror's paths for the files, the node's
    for everything that runs there (binary, ``-C``, working directory, sockets)."""
    import dataclasses

    files = target.files
    assert files is not None
    cmdline = target.node_cmdline
    if cmdline is not None:
        cmdline = dataclasses.replace(cmdline, config_files=[
            files.mirror(p) for p in cmdline.config_files])
    out = apply_target_from(target, cmdline)
    if cmdline is None:
        out.config_files = list(target.configs)
    out.files = files
    out.node_socket = target.remote_socket
    out.forwards = {target.remote_socket: target.socket} \
        if target.remote_socket and target.socket else {}
    if target.node_environ is not None:
        out.environ, out.environ_source = dict(target.node_environ), target.node_environ_source
    return out


async def _master_cmdline(master: str) -> CommandLine | None:
    """The master's command line from /proc, its pid asked with ``show proc``."""
    from console.haproxy.discovery import read_cmdline
    from console.haproxy.errors import HAProxyError
    from console.haproxy.parsers import parse_proc
    from console.haproxy.transport import MasterClient

    try:
        info = parse_proc(await MasterClient(master).run("show proc"))
        return read_cmdline(info.master.pid) if info.master else None
    except (HAProxyError, OSError):
        return None
