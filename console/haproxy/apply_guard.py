"""What an apply takes away from the running service, before anything is written.

A candidate that ``haproxy -c`` accepts may still leave HAProxy serving less than
the operator meant: an emptied file (an editor that truncated it) declares no
listener, no stats socket and no server, and with ``-W`` the check passes. The
*consequence* of a candidate compares the whole configuration (every file of
the set, the candidate in place of the edited one) with what runs now:

- the frontends and ``listen`` sections that would listen (a ``bind`` line HAProxy
  reads, the proxy not ``disabled``), before and after;
- the servers running now (``show servers state``; without a running HAProxy the
  servers of the live files) that the candidate no longer declares;
- the stats socket the console uses, declared now and no longer.

It needs a confirmation that names it (:attr:`Consequence.phrase`) when the
candidate leaves no listener, drops that stats socket, or removes more than half
of the running servers. Lines inside an ``.if`` the console cannot evaluate count
as read: the verify step after the reload checks what HAProxy really did.

:func:`declared_sockets` and :func:`serving_frontends` are also what the verify
step holds the new worker to.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from console.haproxy.apply_steps import (
    ApplyTarget,
    check_binary,
    frontend_losses,
    journaled_losses,
    runtime_run,
    set_specs,
    state_file_of,
    survival_lines,
    worker_start,
)
from console.haproxy.atomic import read_bytes
from console.haproxy.binaries import build_info
from console.haproxy.config.cond import CondContext
from console.haproxy.config.fileset import expand_paths, link
from console.haproxy.config.grammar import parse_server_line, template_names
from console.haproxy.config.model import ConfigFile
from console.haproxy.discovery import service_environ
from console.haproxy.errors import HAProxyError
from console.haproxy.parsers import parse_info, parse_servers_state, parse_stat
from console.haproxy.transport import RuntimeClient

Named = Sequence[tuple[str, bytes]]  # (path, text) of each file of a set, in order


def norm_socket(address: str, cwd: str | None) -> str:
    """A stats socket address in one spelling (``unix@``/``ipv4@`` dropped, paths absolute)."""
    a = address.strip()
    prefix, sep, rest = a.partition("@")
    if sep and prefix in ("unix", "ipv4", "ipv6", "tcp", "tcp4", "tcp6"):
        a = rest
    if "/" in a:
        return os.path.normpath(os.path.join(cwd or "/", a))
    return a


@dataclass
class Declared:
    """What a set of files declares, as HAProxy would read it."""

    frontends: list[str] = field(default_factory=list)  # would listen
    servers: set[tuple[str, str]] = field(default_factory=set)
    sockets: list[str] = field(default_factory=list)  # normalised stats socket addresses
    uncertain: list[str] = field(default_factory=list)  # lines counted though undecided


def _read(cfg: ConfigFile, index: int, what: str, out: Declared) -> bool:
    state = cfg.line_state(index)
    if state is None:
        out.uncertain.append(f"{cfg.where(index)}: {what} inside an .if the console cannot "
                             "evaluate: counted as read")
    return state is not False


def declared(files: Sequence[ConfigFile], cwd: str | None) -> Declared:
    """Frontends that would listen, servers and stats sockets of a linked set."""
    out = Declared()
    for cfg in files:
        for section in cfg.sections:
            if not _read(cfg, section.start, section.label, out):
                continue
            body = [(i, line) for i, line in cfg.section_lines(section)
                    if line.words and cfg.line_state(i) is not False]
            if section.type == "global":
                for i, line in body:
                    v = line.values
                    if v[:2] == ["stats", "socket"] and len(v) > 2 and \
                            _read(cfg, i, "stats socket", out):
                        out.sockets.append(norm_socket(v[2], cwd))
            if section.type in ("frontend", "listen") and section.name:
                disabled = any(line.values == ["disabled"] for _, line in body)
                binds = [i for i, line in body if line.keyword == "bind"]
                if binds and not disabled and any(
                        _read(cfg, i, f"bind of {section.label}", out) for i in binds):
                    out.frontends.append(section.name)
            if section.type in ("backend", "listen") and section.name:
                for _, line in body:
                    parsed = parse_server_line(line)
                    if parsed is None or not parsed.name or parsed.kind == "default-server":
                        continue
                    names = [parsed.name] if parsed.kind == "server" else \
                        template_names(parsed.name, parsed.count or "")
                    out.servers.update((section.name, n) for n in names)
    return out


def serving_frontends(named: Named, cond: CondContext, cwd: str | None = None) -> list[str]:
    """Frontends (and ``listen`` sections) of a set that would listen."""
    return declared(link(named, cond), cwd).frontends


def declared_sockets(named: Named, cond: CondContext, cwd: str | None) -> list[str]:
    """Stats sockets a set declares (normalised, see :func:`norm_socket`)."""
    return declared(link(named, cond), cwd).sockets


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


@dataclass
class Consequence:
    """What the candidate removes from the running service (see the module docstring)."""

    running_servers: int
    removed_servers: list[str]  # "backend/server"
    frontends_before: list[str]
    frontends_after: list[str]
    socket: str | None  # the console's stats socket, as given
    socket_removed: bool
    servers_from: str  # "running now" or "in the live files"
    uncertain: list[str] = field(default_factory=list)

    @property
    def removed_frontends(self) -> list[str]:
        return [f for f in self.frontends_before if f not in self.frontends_after]

    @property
    def serves_nothing(self) -> bool:
        return bool(self.frontends_before) and not self.frontends_after

    @property
    def most_servers(self) -> bool:
        return 2 * len(self.removed_servers) > self.running_servers > 0

    @property
    def needs_confirmation(self) -> bool:
        return self.serves_nothing or self.socket_removed or self.most_servers

    @property
    def phrase(self) -> str:
        """What the operator types (or ``--allow-removal`` stands for) to confirm it."""
        parts = []
        if self.removed_servers:
            parts.append(_count(len(self.removed_servers), "server"))
        if self.removed_frontends:
            parts.append(_count(len(self.removed_frontends), "frontend"))
        if self.socket_removed:
            parts.append("the stats socket")
        if not parts:
            return ""
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"remove {listed}"

    def summary(self) -> str:
        """One line: ``this removes 12 servers and 3 frontends; HAProxy will serve nothing``."""
        if not self.phrase:
            return "this removes no frontend, no stats socket and at most a few servers"
        text = "this " + self.phrase.replace("remove ", "removes ", 1)
        if self.serves_nothing:
            text += "; HAProxy will serve nothing"
        elif self.most_servers:
            text += f" ({len(self.removed_servers)} of the {self.running_servers} servers " \
                f"{self.servers_from})"
        if self.socket_removed:
            text += f"; the console loses its stats socket {self.socket}"
        return text

    def lines(self) -> list[str]:
        """Detail lines for the plan."""
        out: list[str] = []
        if self.removed_servers:
            shown = ", ".join(self.removed_servers[:10])
            more = len(self.removed_servers) - 10
            out.append(f"servers removed ({len(self.removed_servers)} of "
                       f"{self.running_servers} {self.servers_from}): {shown}"
                       + (f" and {more} more" if more > 0 else ""))
        if self.removed_frontends:
            out.append("frontends that stop listening: " + ", ".join(self.removed_frontends))
        if self.serves_nothing:
            out.append("no frontend or listen section with a bind line is left")
        if self.socket_removed:
            out.append(f"the stats socket the console uses ({self.socket}) is no longer "
                       "declared")
        return out + self.uncertain


def assess(live: Named, candidate: Named, cond: CondContext, *,
           running: Sequence[tuple[str, str]] | None = None, socket: str | None = None,
           cwd: str | None = None) -> Consequence:
    """The consequence of replacing the set *live* by *candidate*.

    *running*: the ``(backend, server)`` pairs running now (None: take the live
    files' servers); *socket*: the stats socket the console uses.
    """
    before = declared(link(live, cond), cwd)
    after = declared(link(candidate, cond), cwd)
    servers = sorted(set(running)) if running is not None else sorted(before.servers)
    removed = [f"{b}/{s}" for b, s in servers if (b, s) not in after.servers]
    wanted = norm_socket(socket, cwd) if socket else None
    socket_removed = bool(wanted) and wanted in before.sockets and wanted not in after.sockets
    return Consequence(len(servers), removed, before.frontends, after.frontends, socket,
                       socket_removed, "running now" if running is not None else
                       "in the live files", after.uncertain)


# --------------------------------------------------------------------------- with HAProxy

def set_files(target: ApplyTarget, config_path: str) -> list[str]:
    """The files of the service's configuration, in order, the edited one included."""
    files = expand_paths(target.config_files or [config_path], target.cwd)
    real = os.path.realpath(config_path)
    if not any(os.path.realpath(f) == real for f in files):
        files.insert(0, os.path.abspath(config_path))
    return files


def named_set(files: Sequence[str], config_path: str, text: bytes) -> list[tuple[str, bytes]]:
    """``(path, text)`` of each file, *text* for the edited one, the others as they are."""
    real = os.path.realpath(config_path)
    out: list[tuple[str, bytes]] = []
    for f in files:
        if os.path.realpath(f) == real:
            out.append((f, text))
            continue
        try:
            out.append((f, read_bytes(f)))
        except (OSError, HAProxyError):
            out.append((f, b""))  # the check says why it cannot be read
    return out


async def service_cond(target: ApplyTarget, binary: str | None,
                       version: str | None) -> CondContext:
    """What ``.if`` conditions depend on for this service: its binary and environment."""
    if not binary:
        features, ssl = None, None
    elif target.files is not None:
        features, ssl = target.files.build_info(binary)
    else:
        features, ssl = build_info(binary)
    environ, source = target.environ, target.environ_source or "the settings"
    if environ is None and target.files is None and target.running and \
            (target.socket or target.master):
        found = await service_environ(target.socket, target.master)
        if found is not None:
            environ, source = found.environ, found.source
    return CondContext(version=version, features=features, ssl_library=ssl,
                       environ=environ, source=source)


async def running_servers(target: ApplyTarget) -> list[tuple[str, str]] | None:
    """``(backend, server)`` of every server the running HAProxy has; None if unknown."""
    if not target.has_runtime:
        return None
    try:
        rows = parse_servers_state(await runtime_run(target, "show servers state"))
    except HAProxyError:
        return None
    return [(r.be_name, r.srv_name) for r in rows]


async def consequence_of(target: ApplyTarget, config_path: str, live: bytes, candidate: bytes,
                         cond: CondContext) -> Consequence:
    """:func:`assess` for replacing *live* by *candidate* in the service's file set."""
    files = set_files(target, config_path)
    return assess(named_set(files, config_path, live), named_set(files, config_path, candidate),
                  cond, running=await running_servers(target),
                  socket=target.socket_name, cwd=target.cwd)


def probe_address(address: str) -> str | None:
    """Where to connect to reach a declared stats socket (None: not reachable from here)."""
    if "/" in address:
        return address
    if "@" in address:
        return None  # abns@, fd@, sockpair@…
    host, sep, port = address.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):
        return None
    host = host.strip("[]")
    host = {"": "127.0.0.1", "*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(
        host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def socket_pid(address: str, timeout: float = 3.0,
                     target: ApplyTarget | None = None) -> int | None:
    """The PID that answers ``show info`` on a stats socket, None if nothing answers
    (or it cannot be reached from here: see :meth:`ApplyTarget.reachable`)."""
    probe = target.reachable(address) if target is not None else probe_address(address)
    if probe is None:
        return None
    try:
        info = parse_info(await RuntimeClient(probe, connect_timeout=timeout,
                                              read_timeout=timeout).run("show info"))
        return int(info.get("Pid", "0")) or None
    except (HAProxyError, ValueError, OSError):
        return None


async def answering_sockets(addresses: Sequence[str],
                            target: ApplyTarget | None = None) -> list[str]:
    """The stats sockets among *addresses* that answer now."""
    pids = await asyncio.gather(*(socket_pid(a, target=target) for a in addresses))
    return [a for a, pid in zip(addresses, pids, strict=True) if pid]


async def frontend_states(target: ApplyTarget) -> dict[str, str]:
    """Frontend name → status (``OPEN``, ``STOP``, ``PAUSED``…) of the current worker."""
    rows = parse_stat(await runtime_run(target, "show stat -1 1 -1"))
    return {r["pxname"]: r.get("status", "") for r in rows if r.get("svname") == "FRONTEND"}


# --------------------------------------------------------------------------- the plan

@dataclass
class Plan:
    """What an apply will do and take away, for the confirmation."""

    binary: str  # the binary that checks (and will run) the candidate, described
    consequence: Consequence
    runtime: list[str]  # runtime changes kept or lost at the reload
    cond: CondContext
    files: list[str]  # the configuration's files, in order


async def plan_apply(config_path: str, base: bytes, candidate: bytes, target: ApplyTarget, *,
                     no_reload: bool = False) -> Plan:
    """The consequence of applying *candidate* in place of *base*, and what the reload keeps."""
    try:
        binary = check_binary(target)
        described = f"{binary.path} (HAProxy {binary.version}, {binary.origin})"
        cond = await service_cond(target, binary.path, binary.version)
    except HAProxyError as exc:
        described, cond = f"none: {exc}", await service_cond(target, None, None)
    consequence = await consequence_of(target, config_path, base, candidate, cond)
    runtime = [] if no_reload else await runtime_preview(config_path, base, candidate, target,
                                                         cond)
    return Plan(described, consequence, runtime, cond, set_files(target, config_path))


async def runtime_preview(config_path: str, base: bytes, candidate: bytes, target: ApplyTarget,
                          cond: CondContext) -> list[str]:
    """What a reload would keep or lose of the runtime changes."""
    if not target.has_runtime:
        return []
    try:
        rows = parse_servers_state(await runtime_run(target, "show servers state"))
    except HAProxyError:
        return []
    files = set_files(target, config_path)
    old, new = named_set(files, config_path, base), named_set(files, config_path, candidate)
    sf = state_file_of(b"\n".join(t for _, t in new), target.cwd)
    lines = survival_lines(rows, set_specs(old, cond), set_specs(new, cond), sf)
    lines += await frontend_losses(target, b"\n".join(t for _, t in old),
                                   b"\n".join(t for _, t in new))
    since = await worker_start(target)
    if since:
        lines += [f"lost: runtime command `{c}`" for c in journaled_losses(target.name, since)]
    return lines
