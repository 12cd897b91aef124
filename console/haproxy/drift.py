"""Drift: every difference between the running state and the config file.

Runtime changes (drain, maint, weights, disabled checks, dynamic servers) are
lost at reload or restart unless they are saved. The Drift view lists each one
with two ways out: *revert to config* (runtime changes, planned, confirmed and
sent like any other) and *make permanent* (the equivalent config edit, staged like
every other config change).

:func:`read_drift` reads the files of the configuration and the servers' state from
the socket, and compares them (:func:`compute_drift`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from console.haproxy.actions import Action, describe, preview_commands
from console.haproxy.config.fileset import link
from console.haproxy.config.model import gc_paused
from console.haproxy.config.servers import ServerBrief, server_briefs
from console.haproxy.errors import HAProxyError
from console.haproxy.parsers import ServerStateRow, parse_servers_state

# srv_admin_state bits
FMAINT, IMAINT, CMAINT, FDRAIN = 0x01, 0x02, 0x04, 0x08
# srv_check_state / srv_agent_state bits
CHK_CONFIGURED, CHK_ENABLED = 0x02, 0x04
_KEY = attrgetter("be_name", "srv_name")  # a server's (backend, server)
_CHK = CHK_CONFIGURED | CHK_ENABLED  # (& _CHK == CHK_CONFIGURED: configured, disabled)


@dataclass
class DriftItem:
    backend: str
    server: str
    kind: str  # state | weight | check | agent | runtime_only_server | missing_at_runtime
    runtime: str
    config: str
    message: str
    revert: list[Action] = field(default_factory=list)  # the changes back to the file
    permanent_ops: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    @property
    def ref(self) -> str:
        return f"{self.backend}/{self.server}"

    @property
    def revert_commands(self) -> list[str]:
        """What the revert sends, for display."""
        out: list[str] = []
        for action in self.revert:
            try:
                out += preview_commands(action)
            except HAProxyError as exc:
                out.append(f"{describe(action)} (refused: {exc})")
        return out


def _on(st: ServerStateRow, kind: str, **params: Any) -> Action:
    return Action.server(kind, [(st.be_name, st.srv_name)], **params)


# the servers of the last config files read: the header recounts the drift every 15 s,
# and a big file rarely changes between two counts (only what the drift reads is kept,
# not the parsed files: at 10,000 servers those are some 15 MB)
_last_parsed: tuple[tuple[tuple[str, bytes], ...], dict[tuple[str, str], ServerBrief]] | None = None

ConfigText = bytes | Sequence[tuple[str, bytes]]


def _servers_in_files(named: tuple[tuple[str, bytes], ...]) -> dict[tuple[str, str], ServerBrief]:
    """The servers declared by every file of the configuration, read in order as HAProxy
    reads them (``defaults`` of an earlier file in force in a later one)."""
    global _last_parsed
    last = _last_parsed
    if last is not None and last[0] == named:
        return last[1]
    in_files: dict[tuple[str, str], ServerBrief] = {}
    for cfg in link(named, keep=False):
        briefs = server_briefs(cfg)
        if not in_files:
            in_files = briefs  # (the first file, or the only one: nothing to merge)
            continue
        for key, info in briefs.items():
            if key not in in_files:
                in_files[key] = info
    _last_parsed = (named, in_files)
    return in_files


def compute_drift(config: ConfigText, states: list[ServerStateRow],
                  config_name: str = "haproxy.cfg") -> list[DriftItem]:
    """Compare ``show servers state`` with the servers of the configuration: one file's
    text (named *config_name*), or ``(path, text)`` of every file in HAProxy's order."""
    named = ((config_name, config),) if isinstance(config, bytes) else tuple(config)
    with gc_paused():  # (tens of thousands of servers: no cycle among what is made)
        return _compare(_servers_in_files(named), states)


def _compare(in_file: dict[tuple[str, str], ServerBrief],
             states: list[ServerStateRow]) -> list[DriftItem]:
    """The drift items of *states* against the servers of the files (*in_file*)."""
    items: list[DriftItem] = []
    keys = list(map(_KEY, states))
    seen = set(keys)
    backends: set[str] | None = None  # the files' (made at the first server not in them)
    for st, info in zip(states, map(in_file.get, keys), strict=True):
        if info is not None:  # nearly every server: nothing differs, nothing more read
            if info.template or info.conditional:
                continue  # not editable as one line; shown in the table, not here
            weight = info.weight
            if not (st.srv_admin_state & (FMAINT | FDRAIN) or info.disabled
                    or st.srv_uweight != (1 if weight is None else weight)
                    or st.srv_check_state & _CHK == CHK_CONFIGURED
                    or st.srv_agent_state & _CHK == CHK_CONFIGURED):
                continue
        ref = f"{st.be_name}/{st.srv_name}"
        if info is None:
            if backends is None:
                backends = {b for b, _s in in_file}
            if st.be_name in backends:
                addr = f"{st.srv_addr}:{st.srv_port}" if st.srv_port else str(st.srv_addr)
                items.append(DriftItem(
                    st.be_name, st.srv_name, "runtime_only_server", f"present ({addr})",
                    "absent", f"{ref} exists at runtime only (added with 'add server')",
                    [_on(st, "server_state", state="maint"), _on(st, "server_del")],
                    [{"op": "server_add", "backend": st.be_name, "server": st.srv_name,
                      "addr": addr, "params": {"weight": str(st.srv_uweight)}}],
                    "a dynamic server is lost at reload unless it is in the file"))
            continue
        admin = st.srv_admin_state
        file_disabled = bool(info.disabled)
        runtime_maint = bool(admin & FMAINT)
        config_maint_cleared = file_disabled and not (admin & (CMAINT | FMAINT))
        if runtime_maint and not file_disabled:
            items.append(DriftItem(
                st.be_name, st.srv_name, "state", "MAINT", "enabled",
                f"{ref} is in MAINT at runtime but enabled in the file",
                [_on(st, "server_state", state="ready")],
                [{"op": "server_set", "backend": st.be_name, "server": st.srv_name,
                  "set": {"disabled": True}}]))
        elif config_maint_cleared:
            items.append(DriftItem(
                st.be_name, st.srv_name, "state", "ready", "disabled",
                f"{ref} is serving at runtime but 'disabled' in the file",
                [_on(st, "server_state", state="maint")],
                [{"op": "server_set", "backend": st.be_name, "server": st.srv_name,
                  "set": {"disabled": False}}]))
        if admin & FDRAIN:
            items.append(DriftItem(
                st.be_name, st.srv_name, "state", "DRAIN", "ready",
                f"{ref} is in DRAIN at runtime",
                [_on(st, "server_state", state="ready")],
                [{"op": "server_set", "backend": st.be_name, "server": st.srv_name,
                  "set": {"weight": "0"}}],
                "made permanent as weight 0 in the file (no new traffic)"))
        file_weight = info.weight if info.weight is not None else 1
        if st.srv_uweight != file_weight:
            items.append(DriftItem(
                st.be_name, st.srv_name, "weight", str(st.srv_uweight), str(file_weight),
                f"{ref} weight {st.srv_uweight} at runtime, {file_weight} in the file",
                [_on(st, "weight", value=str(file_weight))],
                [{"op": "server_set", "backend": st.be_name, "server": st.srv_name,
                  "set": {"weight": str(st.srv_uweight)}}]))
        chk = st.srv_check_state
        if chk & CHK_CONFIGURED and not chk & CHK_ENABLED:
            items.append(DriftItem(
                st.be_name, st.srv_name, "check", "disabled", "enabled",
                f"{ref} health checks disabled at runtime",
                [_on(st, "health_check", op="enable")],
                [{"op": "server_set", "backend": st.be_name, "server": st.srv_name,
                  "set": {"check": False}}]))
        agent = st.srv_agent_state
        if agent & CHK_CONFIGURED and not agent & CHK_ENABLED:
            items.append(DriftItem(
                st.be_name, st.srv_name, "agent", "disabled", "enabled",
                f"{ref} agent checks disabled at runtime",
                [_on(st, "agent_check", op="enable")], [],
                "no file equivalent is staged for agent checks: remove agent-check by hand"))
    missing = in_file.keys() - seen
    runtime_backends = {st.be_name for st in states}
    for backend, server in in_file:  # (in the files' order)
        if (backend, server) in missing and backend in runtime_backends:
            items.append(DriftItem(
                backend, server, "missing_at_runtime", "absent", "present",
                f"{backend}/{server} is in the file but not running (deleted at runtime, "
                "or the file changed since the last reload)", [],
                [{"op": "server_del", "backend": backend, "server": server}],
                "revert needs a reload"))
    return items


async def read_drift(client: Any, files: Sequence[str]) -> list[DriftItem]:
    """The drift between the running servers (``show servers state`` through *client*)
    and the configuration's *files*, read in HAProxy's order.

    A large answer (:data:`DRIFT_IN_THREAD_BYTES`) is parsed and compared in a thread:
    at 100,000 servers that is seconds, which the event loop (the screen, the keys)
    does not wait for. A smaller one is worked on at once (a thread's own memory
    would cost more than the wait)."""
    named = _read_files(files)
    answer = await client.run("show servers state")
    if len(answer) > DRIFT_IN_THREAD_BYTES:
        return await asyncio.to_thread(_drift_of, named, answer)
    return _drift_of(named, answer)


DRIFT_IN_THREAD_BYTES = 4 << 20
"""``show servers state`` answers above this size (about 25,000 servers) are worked
on in a thread."""


def _read_files(files: Sequence[str]) -> list[tuple[str, bytes]]:
    named: list[tuple[str, bytes]] = []
    for path in files:
        try:
            named.append((path, Path(path).read_bytes()))
        except OSError as exc:
            raise HAProxyError(f"cannot read the config file: {exc.strerror}", path) \
                from None
    return named


def _drift_of(named: list[tuple[str, bytes]], answer: str) -> list[DriftItem]:
    return compute_drift(named, parse_servers_state(answer, keep_fields=False))
