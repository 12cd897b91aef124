"""The steps of the apply pipeline that talk to HAProxy or read the config's meaning.

* :func:`run_check`: ``haproxy -c`` on the candidate with the service's arguments,
  messages mapped back to the candidate's lines;
* :func:`state_file_of`, :func:`runtime_changes`, :func:`save_server_state`: keep
  the runtime server state across the reload, and say what survives;
* :func:`expectations` and :func:`verify_servers`: what the new process must show.

The reload itself, and :func:`bind_conflicts` (why a reload that passed the check
may have failed), are in :mod:`console.haproxy.apply_reload`.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

from console.haproxy.apply_target import ApplyTarget as ApplyTarget  # (re-exported)
from console.haproxy.binaries import Binary, for_service
from console.haproxy.errors import HAProxyError
from console.haproxy.lines import split_lf
from console.haproxy.parsers import (
    SRV_ADMF_CMAINT,
    SRV_ADMF_FDRAIN,
    SRV_ADMF_FMAINT,
    ServerStateRow,
    parse_check_output,
    parse_info,
    parse_servers_state,
    parse_stat,
)
from console.haproxy.staging import SECTION_KEYWORDS, config_words
from console.haproxy.transport import MasterClient, RuntimeClient

CHECK_TIMEOUT = 120.0


async def runtime_run(target: ApplyTarget, command: str, timeout: float = 10.0) -> str:
    """Run a worker command through the master (``@1``) or else the stats socket."""
    if target.master:
        return await MasterClient(target.master, read_timeout=timeout).run_on(1, command)
    if target.socket:
        return await RuntimeClient(target.socket, read_timeout=timeout).run(command)
    raise HAProxyError("no socket to ask HAProxy", hint="give -s SOCKET or -m MASTER")


# --------------------------------------------------------------------------- check

@dataclass
class CheckResult:
    ok: bool
    returncode: int
    errors: list[str]  # "line N: message" (candidate lines) or "FILE:N: message"
    warnings: list[str]
    output: str  # as printed, temp name replaced by the config's
    command: list[str]
    binary: str
    version: str
    seconds: float
    origin: str = ""  # why this binary: "running instance", "PATH", "bundled"…

    def describe_binary(self) -> str:
        """``/usr/sbin/haproxy (HAProxy 2.6.12, running instance)``."""
        return f"{self.binary} (HAProxy {self.version}" + (
            f", {self.origin})" if self.origin else ")")


def check_binary(target: ApplyTarget) -> Binary:
    """The binary that checks the candidate: the one that will run it (see
    :func:`console.haproxy.binaries.for_service`); on a node, the node's."""
    if target.files is not None:
        return target.files.binary(target.haproxy, target.haproxy_origin)
    return for_service(target.haproxy, target.haproxy_origin)


def check_files(target: ApplyTarget, config_path: str, temp: str) -> tuple[list[str], bool]:
    """The ``-f`` list of the service with the candidate in place of the edited file."""
    from console.haproxy.config.fileset import expand_paths

    real = os.path.realpath(config_path)
    out: list[str] = []
    found = False
    for entry in expand_paths(target.config_files or [config_path], target.cwd):
        if os.path.realpath(entry) == real:
            out.append(temp)
            found = True
        else:
            out.append(entry)
    if not found:
        out.insert(0, temp)
    return out, found


_LOCATED = re.compile(r"^(?:config\s*:\s*)?(?:parsing\s*)?\[([^\]]+):([0-9]+)\]\s*:?\s*")


def _describe(message: str, temp: str, config_path: str, several: bool = False) -> str:
    """``line N: …`` for the candidate's lines (``line N (in FILE): …`` when the
    configuration has *several* files), ``FILE:N: …`` for the other files."""
    first, _, rest = message.partition("\n")
    m = _LOCATED.match(first)
    if m:
        body = first[m.end():]
        if m[1] in (temp, os.path.basename(temp)):
            where = f"line {m[2]}" + (f" (in {config_path})" if several else "")
        else:
            where = f"{m[1]}:{m[2]}"
        text = f"{where}: {body}"
    else:
        text = re.sub(r"^config\s*:\s*", "", first)
    text = text.replace(temp, config_path)
    return text + ("\n" + rest if rest else "")


def run_check(target: ApplyTarget, config_path: str, temp: str, *,
              environ: Mapping[str, str] | None = None) -> CheckResult:
    """``haproxy -c`` on *temp* as the service would load it (blocking).

    *environ*: the service's environment (``.if defined()``, ``"$VAR"``), without the
    ``HAPROXY_*`` variables HAProxy sets for itself; None: this process's.
    """
    binary = check_binary(target)
    env = None if environ is None else {k: v for k, v in environ.items()
                                        if not k.startswith("HAPROXY_")}
    files, _ = check_files(target, config_path, temp)
    args = [binary.path, "-c", *target.check_args]
    for f in files:
        args += ["-f", f]
    cwd = target.cwd if target.cwd and os.path.isdir(target.cwd) else \
        os.path.dirname(os.path.realpath(config_path))
    started = time.monotonic()
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                              errors="replace", timeout=CHECK_TIMEOUT,
                              stdin=subprocess.DEVNULL, env=env)
        output, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired:
        output, rc = f"haproxy -c did not finish within {CHECK_TIMEOUT:g} s", -1
    return describe_check(output, rc, args, binary, time.monotonic() - started, temp,
                          config_path, several=len(files) > 1)


def describe_check(output: str, rc: int, args: list[str], binary: Binary, seconds: float,
                   temp: str, config_path: str, *, several: bool,
                   shown: str | None = None) -> CheckResult:
    """The :class:`CheckResult` of ``haproxy -c``'s *output* and exit status *rc*: the
    candidate's *temp* name replaced by *config_path* (or *shown*, as the user knows it)."""
    name = shown or config_path
    messages = parse_check_output(output)
    errors = [_describe(m.message, temp, name, several) for m in messages
              if m.level == "ALERT"]
    located = [e for e in errors if e.startswith("line ") or re.match(r"^\S+:[0-9]+: ", e)]
    if located:
        errors = located + [e for e in errors if e not in located and not re.match(
            r"^(?:Error\(s\) found in configuration file|Fatal errors found)", e)]
    warnings = [_describe(m.message, temp, name, several) for m in messages
                if m.level == "WARNING"]
    if rc == 2 and not errors:
        errors = ["HAProxy would not start: the configuration has no enabled listener "
                  "(no 'bind' line that it would open)"]
    elif rc != 0 and not errors:
        errors = [line.replace(temp, name) for line in split_lf(output.strip())[-3:]]
        errors = errors or [f"haproxy -c failed with exit code {rc}"]
    return CheckResult(rc == 0, rc, errors, warnings, output.replace(temp, name),
                       args, binary.path, binary.version, seconds, binary.origin)


# --------------------------------------------------------------------------- config reading

def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"'":
        return word[1:-1]
    return word


def scan(text: str) -> list[tuple[str, int, list[str]]]:
    """``(section label, line number, words)`` of every line with words."""
    out: list[tuple[str, int, list[str]]] = []
    section = ""
    for n, line in enumerate(split_lf(text), 1):
        words = config_words(line)
        if not words:
            continue
        if words[0] in SECTION_KEYWORDS:
            section = words[0] if len(words) == 1 or words[1] == "from" else \
                f"{words[0]} {_unquote(words[1])}"
        out.append((section, n, [_unquote(w) for w in words]))
    return out


@dataclass(frozen=True)
class StateFile:
    path: str | None  # where HAProxy reads the global state file, resolved
    modes: frozenset[str]  # values of load-server-state-from-file: global, local, none


def state_file_of(data: bytes, cwd: str | None) -> StateFile:
    """The ``server-state-file`` setting of a config, resolved like HAProxy does."""
    name = base = None
    modes: set[str] = set()
    for section, _, words in scan(data.decode("utf-8", "replace")):
        if section == "global" and len(words) >= 2:
            if words[0] == "server-state-file":
                name = words[1]
            elif words[0] == "server-state-base":
                base = words[1]
        if words[0] == "load-server-state-from-file" and len(words) >= 2:
            modes.add(words[1])
    path = None
    if name:
        if os.path.isabs(name):
            path = name
        elif base:
            path = os.path.join(base, name)
        else:
            path = os.path.join(cwd or os.getcwd(), name)
    return StateFile(path, frozenset(modes))


@dataclass(frozen=True)
class ServerSpec:
    backend: str
    name: str
    address: str | None
    port: str | None
    weight: int | None
    disabled: bool


Specs = dict[tuple[str, str], ServerSpec]


def set_specs(named: list[tuple[str, bytes]], cond: object = None) -> Specs:
    """Servers a whole file set declares (``default-server`` resolved across its files)."""
    from console.haproxy.config.cond import UNKNOWN, CondContext
    from console.haproxy.config.fileset import link
    from console.haproxy.config.servers import server_lines

    out: Specs = {}
    for cfg in link(named, cond if isinstance(cond, CondContext) else UNKNOWN):
        for k, i in server_lines(cfg).items():
            if not i.conditional and not i.template:
                out.setdefault(k, ServerSpec(i.backend, i.name, i.address, i.port, i.weight,
                                             i.disabled))
    return out


def _specs(data: bytes | Specs) -> Specs:
    return data if isinstance(data, dict) else server_specs(data)


def server_specs(data: bytes) -> Specs:
    """Servers one file declares (``default-server`` resolved)."""
    return set_specs([("haproxy.cfg", data)])


# --------------------------------------------------------------------------- runtime state

@dataclass
class RuntimeChange:
    backend: str
    server: str
    kind: str  # maint | ready | drain | weight | addr | dynamic | other
    text: str
    survives: bool = False
    value: object = None  # the runtime value: weight, (address, port), None
    carried: bool = False  # the candidate says the same: the reload keeps it anyway


_IP = re.compile(r"^[0-9.]+$|^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$")


def runtime_changes(rows: list[ServerStateRow],
                    specs: dict[tuple[str, str], ServerSpec]) -> list[RuntimeChange]:
    """How the running servers differ from what the live file says."""
    out: list[RuntimeChange] = []
    for row in rows:
        key = (row.be_name, row.srv_name)
        ref = f"{row.be_name}/{row.srv_name}"
        spec = specs.get(key)
        if spec is None:
            out.append(RuntimeChange(*key, "dynamic", f"{ref}: server added at runtime "
                                     "(not in the file)",
                                     value=(row.srv_addr, _port(row.srv_port))))
            continue
        adm = row.srv_admin_state
        if adm & SRV_ADMF_FMAINT and not adm & SRV_ADMF_CMAINT:
            out.append(RuntimeChange(*key, "maint", f"{ref}: maintenance set at runtime"))
        elif adm & SRV_ADMF_CMAINT and not adm & SRV_ADMF_FMAINT:
            out.append(RuntimeChange(*key, "ready", f"{ref}: ready at runtime although the "
                                     "file says disabled"))
        if adm & SRV_ADMF_FDRAIN:
            out.append(RuntimeChange(*key, "drain", f"{ref}: drain set at runtime"))
        if row.srv_uweight != row.srv_iweight:
            out.append(RuntimeChange(*key, "weight", f"{ref}: weight {row.srv_uweight} at "
                                     f"runtime (file: {row.srv_iweight})",
                                     value=row.srv_uweight))
        if spec.address and _IP.match(spec.address) and row.srv_addr and (
                row.srv_addr != spec.address or (spec.port and str(row.srv_port) != spec.port)):
            out.append(RuntimeChange(*key, "addr", f"{ref}: address {row.srv_addr}:"
                                     f"{row.srv_port} at runtime (file: {spec.address}:"
                                     f"{spec.port})",
                                     value=(row.srv_addr, _port(row.srv_port))))
    return out


def _port(port: int | None) -> str:
    return "" if port is None else str(port)


def carried_by(change: RuntimeChange, new: ServerSpec | None) -> str:
    """How the candidate's server *new* says what the runtime change did ("": it does not).

    Such a change is kept by any reload, with or without a server state file: the
    new process reads it from the file.
    """
    if new is None:
        return ""
    kind = change.kind
    if kind == "weight" and new.weight == change.value:
        return f"the new file says weight {new.weight}"
    if kind == "maint" and new.disabled:
        return "the new file disables it"
    if kind == "ready" and not new.disabled:
        return "the new file enables it"
    if kind == "drain" and new.weight == 0:
        return "the new file says weight 0"
    if kind in ("addr", "dynamic") and isinstance(change.value, tuple):
        addr, port = change.value
        same = new.address == addr and (not new.port or new.port == port)
        if kind == "dynamic" and same:
            return "the new file declares it"
        if kind == "addr" and same:
            return f"the new file says {addr}:{port}"
    return ""


def judge_survival(changes: list[RuntimeChange], state: StateFile,
                   candidate: dict[tuple[str, str], ServerSpec],
                   live: dict[tuple[str, str], ServerSpec]) -> None:
    """Mark which runtime changes the reload keeps: those the candidate says too, and
    those the server state file restores (HAProxy's rules, see the notes)."""
    kept = bool(state.path) and "global" in state.modes
    for c in changes:
        key = (c.backend, c.server)
        new, old = candidate.get(key), live.get(key)
        reason = carried_by(c, new)
        if reason:
            c.survives = c.carried = True
            c.text += f"; {reason}"
        elif not kept or c.kind == "dynamic" or new is None or old is None:
            c.survives = False
        elif c.kind in ("maint", "ready", "drain"):
            c.survives = new.disabled == old.disabled  # a change of `disabled` wins
        elif c.kind == "weight":
            c.survives = new.weight == old.weight
        elif c.kind == "addr":
            c.survives = (new.address, new.port) == (old.address, old.port)


_LOST_COMMANDS = re.compile(
    r"^(?:(?:add|set|del|clear) (?:map|acl)|(?:set|clear) table|"
    r"(?:disable|enable|shutdown) frontend|set maxconn (?:frontend|global)|"
    r"set rate-limit|add ssl|set ssl|del ssl|set dynamic-cookie-key|"
    r"(?:enable|disable) dynamic-cookie)\b")


def journaled_losses(instance: str, since: float) -> list[str]:
    """Runtime commands journaled since *since* that no reload keeps."""
    from console.haproxy.journal import read_entries

    seen: list[str] = []
    for entry in read_entries(instance, limit=2000):
        command = str(entry.get("command", ""))
        if entry.get("ok") and float(entry.get("ts", 0)) >= since and \
                _LOST_COMMANDS.match(command) and command not in seen:
            seen.append(command)
    return seen


async def save_server_state(target: ApplyTarget, path: str) -> int:
    """Dump ``show servers state`` to *path* (temp + rename); returns the server count."""
    text = await runtime_run(target, "show servers state", timeout=30)
    rows = parse_servers_state(text)
    data = text.strip("\n").encode() + b"\n"
    from console.haproxy.apply_io import write_state

    await write_state(target, path, data)
    return len(rows)


# --------------------------------------------------------------------------- verify

@dataclass(frozen=True)
class Expectation:
    backend: str
    server: str
    present: bool
    weight: int | None = None
    disabled: bool | None = None
    address: str | None = None
    port: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.backend}/{self.server}"


def expectations(old: bytes | Specs, new: bytes | Specs) -> list[Expectation]:
    """What the runtime must show for every server the change touches (*old* and *new*:
    a file's text, or the :func:`set_specs` of a file set)."""
    before, after = _specs(old), _specs(new)
    out: list[Expectation] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if b is None:
            out.append(Expectation(*key, present=False))
        elif a is None:
            out.append(Expectation(*key, present=True, weight=b.weight, disabled=b.disabled,
                                   address=b.address, port=b.port))
        elif a != b:
            out.append(Expectation(
                *key, present=True,
                weight=None if a.weight == b.weight else b.weight,
                disabled=None if a.disabled == b.disabled else b.disabled,
                address=None if a.address == b.address else b.address,
                port=None if a.port == b.port else b.port))
    return out


def check_expectations(rows: list[ServerStateRow],
                       expected: list[Expectation]) -> tuple[list[str], list[str], list[str]]:
    """``(confirmed, failures, warnings)`` for each expectation against the runtime rows."""
    by_key = {(r.be_name, r.srv_name): r for r in rows}
    ok: list[str] = []
    bad: list[str] = []
    soft: list[str] = []
    for e in expected:
        row = by_key.get((e.backend, e.server))
        if not e.present:
            (bad if row else ok).append(f"{e.ref} removed" + (" but still present" if row
                                                               else ", absent"))
            continue
        if row is None:
            bad.append(f"{e.ref} missing from the running process")
            continue
        said = [f"{e.ref} present"]
        if e.weight is not None:
            if row.srv_iweight == e.weight:
                said.append(f"weight {e.weight}")
            else:
                bad.append(f"{e.ref} weight {row.srv_iweight}, the file says {e.weight}")
        if e.disabled is not None:
            if bool(row.srv_admin_state & SRV_ADMF_CMAINT) == e.disabled:
                said.append("disabled (MAINT)" if e.disabled else "enabled")
            else:
                bad.append(f"{e.ref} is {'not ' if e.disabled else ''}in maintenance from "
                           "the file, the file says " + ("disabled" if e.disabled else
                                                         "enabled"))
        if e.address and _IP.match(e.address):
            if row.srv_addr == e.address and (not e.port or str(row.srv_port) == e.port):
                said.append(f"address {e.address}" + (f":{e.port}" if e.port else ""))
            else:
                soft.append(f"{e.ref} runs with address {row.srv_addr}:{row.srv_port}, "
                            f"the file says {e.address}:{e.port or ''}")
        ok.append(" ".join(said))
    return ok, bad, soft


async def frontend_losses(target: ApplyTarget, live: bytes,
                          candidate: bytes | None = None) -> list[str]:
    """Frontends stopped or paused at runtime that the live file does not disable, and
    that the *candidate* (None: the live file) does not disable either."""
    try:
        rows = parse_stat(await runtime_run(target, "show stat -1 1 -1"))
    except HAProxyError:
        return []
    disabled = _disabled_proxies(live)
    after = disabled if candidate is None else _disabled_proxies(candidate)
    out: list[str] = []
    for r in rows:
        name = r.get("pxname")
        if r.get("svname") != "FRONTEND" or r.get("status") not in ("STOP", "PAUSED") or \
                name in disabled:
            continue
        if name in after:
            out.append(f"kept: frontend {name}: {r['status']} at runtime; the new file "
                       "disables it")
        else:
            out.append(f"lost: frontend {name}: {r['status']} at runtime (the file enables "
                       "it)")
    return out


def _disabled_proxies(text: bytes) -> set[str]:
    return {section.partition(" ")[2] for section, _, words in
            scan(text.decode("utf-8", "replace")) if words == ["disabled"]}


def survival_lines(rows: list[ServerStateRow], live: bytes | Specs, candidate: bytes | Specs,
                   sf: StateFile) -> list[str]:
    old_specs, new_specs = _specs(live), _specs(candidate)
    changes = runtime_changes(rows, old_specs)
    judge_survival(changes, sf, new_specs, old_specs)
    return [("kept: " if c.survives else "lost: ") + c.text for c in changes]


async def worker_start(target: ApplyTarget) -> float | None:
    try:
        info = parse_info(await runtime_run(target, "show info"))
        return time.time() - float(info.get("Uptime_sec", "0")) - 1  # whole seconds
    except (HAProxyError, ValueError):
        return None
