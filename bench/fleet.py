"""The fleet section of the benchmark: ten nodes of 1,000 servers at a 2 s interval,
reached over SSH.

Setup: ``nodes`` HAProxy instances (the bundled 2.8, ``servers`` servers each, master-worker
mode with an admin and a master socket, every server's last change a day old), one real
sshd on loopback (:mod:`tests.sshd`: its own keys and config, ssh run as ``nobody``), and
a settings file with one ``[instances.nodeN]`` per node (``ssh = "lb1"``, the node's
socket and master) and ``[fleets.bench]`` naming them all. Every node is its own
``SSHNode``: its own ssh ControlMaster and forwarded sockets, as on a real fleet.

* CPU: the real console (``haconsole --fleet bench --interval 2``, through
  :mod:`bench.console_probe`) in tmux at 120×40, a window on the nodes view (the
  default) then, after ``2``, a window on the merged table; then ten hatops (Debian's,
  unchanged, through :mod:`bench.hatop_probe`), each in its own 120×40 tmux on one
  node's admin socket directly with ``-i 2``, for one window of the same length. The
  console's CPU is that of its whole process tree (the Python process, the ssh
  ControlMasters it started, and whatever child it reaped: ``cutime + cstime``), from
  ``/proc``; the hatops' is the sum of the ten processes. The sshd serving the
  console's connections is the nodes' side: measured, reported, not counted. A/B
  alternating (console, hatops, console, hatops…); per round the CPU % of each, the
  median over the rounds, and the ratio console / ten hatops.
* key→screen: the fleet app in-process (``App.run_test``, 120×40) on the same ten nodes
  over SSH with every poller running at 2 s: on the merged table, ``down`` (every fifth
  key ``up``) at random moments; from sending the key to the first screen update after
  the table handled it (:func:`bench.inprocess._press`, as for the single-node
  console). The merged table has no filter box, so there is no typing to time. The peer:
  the single-node console in-process on node 1's socket at 2 s, the same keys, in the
  same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from bench.haproxy_env import Instance, instance
from bench.stats import median, summary
from bench.terminal import CLK_TCK, Tmux, console_argv, hatop_argv, wait_for_data

FLEET = "bench"
NODES = 10
SERVERS = 1000
INTERVAL = 2.0
HEADER_LIVE = "● {n} live"


# --------------------------------------------------------------------------- the setup

@dataclass
class FleetEnv:
    nodes: list[Instance]
    sshd: Any  # tests.sshd.SSHServer
    dir: str
    settings: str

    @property
    def env(self) -> dict[str, str]:
        """What the console needs in its environment: the settings, the unprivileged
        ssh of the test sshd, a private state directory."""
        return {"HACONSOLE_SETTINGS": self.settings, **self.sshd.env(),
                "HACONSOLE_STATE_DIR": os.path.join(self.dir, "state")}

    @property
    def names(self) -> list[str]:
        return [f"node{i + 1}" for i in range(len(self.nodes))]


def settings_text(ssh_config: str, nodes: list[Instance]) -> str:
    lines = []
    for i, inst in enumerate(nodes):
        lines += [f"[instances.node{i + 1}]", 'ssh = "lb1"', f'ssh_config = "{ssh_config}"',
                  f'socket = "{inst.socket}"']
        if inst.master:
            lines.append(f'master = "{inst.master}"')
        lines.append("")
    names = ", ".join(f'"node{i + 1}"' for i in range(len(nodes)))
    lines += [f"[fleets.{FLEET}]", f"instances = [{names}]", ""]
    return "\n".join(lines)


def _ssh_clients(config: str) -> list[int]:
    from tests.sshd import _clients_of

    return _clients_of(config)


@contextmanager
def fleet_env(nodes: int = NODES, servers: int = SERVERS) -> Iterator[FleetEnv]:
    """``nodes`` HAProxy instances and one sshd; all stopped on the way out (and the ssh
    clients of this sshd's config that are still alive: the consoles' ControlMasters)."""
    from tests.sshd import start_sshd

    with ExitStack() as stack:
        insts = [stack.enter_context(instance(servers, master=True)) for _ in range(nodes)]
        sshd = start_sshd()
        stack.callback(shutil.rmtree, str(sshd.dir), True)
        stack.callback(sshd.stop)
        stack.callback(_kill_clients, sshd.config)
        d = tempfile.mkdtemp(prefix="haconsole-bench-fleet-")
        stack.callback(shutil.rmtree, d, True)
        os.makedirs(os.path.join(d, "state"), mode=0o700)
        settings = os.path.join(d, "settings.toml")
        with open(settings, "w") as f:
            f.write(settings_text(sshd.config, insts))
        yield FleetEnv(insts, sshd, d, settings)


def _kill_clients(config: str) -> None:
    for pid in _ssh_clients(config):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --------------------------------------------------------------------------- CPU

def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[0] != "Z":
                out.setdefault(int(st[1]), []).append(int(entry))
    return out


def descendants(root: int, kids: dict[int, list[int]] | None = None) -> list[int]:
    kids = _children() if kids is None else kids
    out: list[int] = []
    todo = [root]
    while todo:
        found = kids.get(todo.pop(), [])
        out += found
        todo += found
    return out


def tree_cpu(root: int) -> dict[str, float] | None:
    """CPU seconds of *root* (with its reaped children's) and of its live descendants;
    None once *root* is gone."""
    st = _stat(root)
    if st is None:
        return None
    own = sum(int(x) for x in st[11:15]) / CLK_TCK  # utime stime cutime cstime
    below = 0.0
    for pid in descendants(root):
        s = _stat(pid)
        if s is not None:
            below += (int(s[11]) + int(s[12])) / CLK_TCK
    return {"self": own, "children": below, "total": own + below}


def _sum_cpu(pids: list[int]) -> float | None:
    total = 0.0
    for pid in pids:
        c = tree_cpu(pid)
        if c is None:
            return None
        total += c["total"]
    return total


def _window(pids: list[int], seconds: float, sshd_pid: int | None = None) -> dict[str, Any]:
    """CPU of the process trees of *pids* over *seconds*: the total, per-second samples,
    and (for the console) the split between the Python process and its children."""
    parts0 = [tree_cpu(p) for p in pids]
    node0 = _sshd_cpu(sshd_pid)
    t0 = time.monotonic()
    samples: list[float] = []
    last_t, last_c = t0, _sum_cpu(pids)
    end = t0 + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(1.0 - ((now - t0) % 1.0), end - now))
        t, c = time.monotonic(), _sum_cpu(pids)
        if c is None or last_c is None:
            raise RuntimeError("a measured process exited during the window")
        if t - last_t > 0.5:
            samples.append((c - last_c) / (t - last_t) * 100)
        last_t, last_c = t, c
    parts1 = [tree_cpu(p) for p in pids]
    node1 = _sshd_cpu(sshd_pid)
    elapsed = time.monotonic() - t0
    if any(p is None for p in parts0 + parts1):
        raise RuntimeError("a measured process exited during the window")
    total = sum(p1["total"] - p0["total"]  # type: ignore[index]
                for p0, p1 in zip(parts0, parts1, strict=True))
    own = sum(p1["self"] - p0["self"]  # type: ignore[index]
              for p0, p1 in zip(parts0, parts1, strict=True))
    out: dict[str, Any] = {
        "seconds": elapsed, "cpu_s": total, "cpu_pct": total / elapsed * 100,
        "cpu_pct_self": own / elapsed * 100, "cpu_pct_children": (total - own) / elapsed * 100,
        "cpu_pct_per_s": median(samples), "cpu_pct_per_s_p95": summary(samples)["p95"],
    }
    if node0 is not None and node1 is not None:
        out["sshd_cpu_pct"] = (node1 - node0) / elapsed * 100
    return out


def _sshd_cpu(pid: int | None) -> float | None:
    if pid is None:
        return None
    c = tree_cpu(pid)
    return None if c is None else c["total"]


def _polls(path: str) -> int:
    try:
        with open(path) as f:
            return sum(1 for line in f if line.startswith("poll "))
    except OSError:
        return 0


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _wait_screen(tmux: Tmux, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in tmux.capture():
            return True
        time.sleep(0.1)
    return False


def console_run(env: FleetEnv, seconds: float, warmup: float) -> dict[str, Any]:
    """The fleet console in tmux: a window on the nodes view, one on the merged table."""
    tmux = Tmux()
    log = os.path.join(tmux.dir, "polls.log")
    out = os.path.join(tmux.dir, "out.bin")
    argv = console_argv(log, "", INTERVAL)
    argv = argv[:3] + ["--fleet", FLEET, "--interval", f"{INTERVAL:g}"]
    result: dict[str, Any] = {}
    try:
        spawned = time.monotonic()
        pid = tmux.start(argv, env.env)
        tmux.pipe(out)
        live = HEADER_LIVE.format(n=len(env.nodes))
        if not _wait_screen(tmux, live, 120.0):
            raise RuntimeError(f"the fleet console never showed {live!r}:\n{tmux.capture()}")
        result["all_live_s"] = time.monotonic() - spawned
        time.sleep(warmup)
        for view, key in (("nodes", None), ("merged", "2")):
            if key is not None:
                tmux._run("send-keys", "-t", "b", key)
                if not _wait_screen(tmux, "view: merged", 30.0):
                    raise RuntimeError(f"no merged view after {key!r}:\n{tmux.capture()}")
                time.sleep(warmup)
            b0, p0 = _size(out), _polls(log)
            w = _window([pid], seconds, env.sshd.proc.pid)
            w["refreshes"] = _polls(log) - p0
            w["bytes_per_s"] = (_size(out) - b0) / w["seconds"]
            w["ssh_processes"] = len(descendants(pid))
            result[view] = w
    finally:
        tmux.stop()
        _kill_clients(env.sshd.config)  # normally gone with the console (PDEATHSIG)
    return result


def hatops_run(env: FleetEnv, seconds: float, warmup: float) -> dict[str, Any]:
    """Ten hatops, each in its own tmux on one node's admin socket, for one window."""
    panes: list[Tmux] = []
    try:
        pids = []
        for inst in env.nodes:
            tmux = Tmux()
            panes.append(tmux)
            log = os.path.join(tmux.dir, "polls.log")
            pids.append(tmux.start(hatop_argv(log, inst.socket, INTERVAL)))
            tmux.pipe(os.path.join(tmux.dir, "out.bin"))
        for tmux in panes:
            if wait_for_data(tmux, 60.0, 0.05) is None:
                raise RuntimeError(f"hatop showed no data:\n{tmux.capture()}")
        time.sleep(warmup)
        logs = [os.path.join(t.dir, "polls.log") for t in panes]
        outs = [os.path.join(t.dir, "out.bin") for t in panes]
        b0, p0 = sum(_size(o) for o in outs), sum(_polls(lg) for lg in logs)
        w = _window(pids, seconds)
        w["refreshes"] = sum(_polls(lg) for lg in logs) - p0
        w["bytes_per_s"] = (sum(_size(o) for o in outs) - b0) / w["seconds"]
        w["per_hatop_cpu_pct"] = w["cpu_pct"] / len(pids)
        return w
    finally:
        for tmux in panes:
            tmux.stop()


def cpu_rounds(env: FleetEnv, rounds: int, seconds: float,
               warmup: float = 5.0, log: Any = None) -> dict[str, Any]:
    """A/B: console then hatops, hatops then console…, ``rounds`` times."""
    runs: dict[str, list[dict[str, Any]]] = {"console": [], "hatops": []}
    for r in range(rounds):
        order = ("console", "hatops") if r % 2 == 0 else ("hatops", "console")
        for tool in order:
            if log:
                log(f"fleet: round {r + 1}/{rounds}, {tool}")
            runs[tool].append(console_run(env, seconds, warmup) if tool == "console"
                              else hatops_run(env, seconds, warmup))
    per_round = []
    for c, h in zip(runs["console"], runs["hatops"], strict=True):
        per_round.append({
            "console_nodes_pct": c["nodes"]["cpu_pct"],
            "console_merged_pct": c["merged"]["cpu_pct"],
            "hatops_pct": h["cpu_pct"],
            "ratio_nodes": c["nodes"]["cpu_pct"] / h["cpu_pct"] if h["cpu_pct"] else None,
            "ratio_merged": c["merged"]["cpu_pct"] / h["cpu_pct"] if h["cpu_pct"] else None,
        })

    def med(tool: str, view: str | None, key: str) -> float | None:
        vals = [(run[view] if view else run).get(key) for run in runs[tool]]
        return median([v for v in vals if v is not None])

    keys = ("cpu_pct", "cpu_pct_self", "cpu_pct_children", "cpu_pct_per_s",
            "cpu_pct_per_s_p95", "refreshes", "bytes_per_s", "sshd_cpu_pct")
    agg = {
        "console_nodes": {k: med("console", "nodes", k) for k in keys},
        "console_merged": {k: med("console", "merged", k) for k in keys},
        "hatops": {k: med("hatops", None, k) for k in keys[:-1] + ("per_hatop_cpu_pct",)},
    }
    ratios = {}
    for view in ("nodes", "merged"):
        vals = [p[f"ratio_{view}"] for p in per_round if p[f"ratio_{view}"] is not None]
        ratios[view] = median(vals)
    return {"rounds": rounds, "seconds": seconds, "runs": runs, "per_round": per_round,
            **agg, "ratio": ratios}


# --------------------------------------------------------------------------- keys

async def _fleet_keys(env: FleetEnv, presses: int, rng: random.Random) -> dict[str, Any]:
    from bench import probe as probe_mod
    from bench.inprocess import SIZE, _press, _wait
    from console import fleet
    from console.ui.fleet_app import FleetApp

    probe_mod.install()
    probe = probe_mod.Probe()
    probe.encode = True
    out: dict[str, Any] = {}
    targets, failed = await asyncio.to_thread(fleet.connect, env.names, None,
                                              interval=INTERVAL)
    try:
        if failed:
            raise RuntimeError(f"fleet nodes not reached: {failed}")
        app = FleetApp(FLEET, env.names, targets, failed, theme="dark")
        async with app.run_test(size=SIZE) as pilot:
            screen = app.fleet_screen
            rows = len(env.nodes[0].server_names()) + env.nodes[0].backends
            ok = await _wait(lambda: all(n.state.state == "live" for n in app.nodes)
                             and len(screen.merged) >= rows, 120.0, 0.05)
            if not ok:
                raise RuntimeError("the fleet app did not get every node live")
            await pilot.press("2")
            await pilot.pause(0.5)
            table = screen.merged_table
            for name in ("action_cursor_down", "action_cursor_up"):
                original = getattr(table, name)

                def wrapper(*a: Any, _original: Any = original, **k: Any) -> Any:
                    result = _original(*a, **k)
                    probe.key_handled_at = time.perf_counter()
                    return result

                setattr(table, name, wrapper)
            probe_mod.activate(probe)
            await asyncio.sleep(2 * INTERVAL)
            polls0 = sum(n.poller.status.polls for n in app.nodes if n.poller)
            t0 = time.perf_counter()
            cursor: list[float] = []
            missed = 0
            for i in range(presses):
                await asyncio.sleep(rng.uniform(0.12, 0.45))
                lat = await _press(app, probe, "down" if i % 5 != 4 else "up")
                if lat is None:
                    missed += 1
                else:
                    cursor.append(lat * 1000)
            elapsed = time.perf_counter() - t0
            polls = sum(n.poller.status.polls for n in app.nodes if n.poller) - polls0
            out = {"cursor_ms": summary(cursor), "missed": missed,
                   "merged_rows": len(screen.merged), "seconds": elapsed,
                   "node_polls": polls, "polls_per_s": polls / elapsed,
                   "live_nodes": sum(n.state.state == "live" for n in app.nodes)}
    finally:
        probe_mod.activate(None)
        await asyncio.to_thread(fleet.close_all, targets)
    return out


async def _single_keys(inst: Instance, presses: int, rng: random.Random) -> dict[str, Any]:
    from bench import probe as probe_mod
    from bench.inprocess import SIZE, _mark_handled, _press, _wait, make_app
    from console.ui.widgets.table import ProxyTable

    probe_mod.install()
    probe = probe_mod.Probe()
    app = make_app(inst.socket, INTERVAL)
    probe.attach(app)
    probe_mod.activate(probe)
    try:
        async with app.run_test(size=SIZE):
            _mark_handled(app.query_one(ProxyTable), probe)
            await _wait(lambda: probe.first_paint_after_data is not None, 60.0)
            await asyncio.sleep(2 * INTERVAL)
            cursor: list[float] = []
            missed = 0
            for i in range(presses):
                await asyncio.sleep(rng.uniform(0.12, 0.45))
                lat = await _press(app, probe, "down" if i % 5 != 4 else "up")
                if lat is None:
                    missed += 1
                else:
                    cursor.append(lat * 1000)
            return {"cursor_ms": summary(cursor), "missed": missed,
                    "rows": len(app.monitor.snapshot.rows) if app.monitor.snapshot else 0}
    finally:
        probe_mod.activate(None)


def keys(env: FleetEnv, presses: int, seed: int = 11) -> dict[str, Any]:
    with environ(env.env):
        merged = asyncio.run(_fleet_keys(env, presses, random.Random(seed)))
    single = asyncio.run(_single_keys(env.nodes[0], presses, random.Random(seed)))
    fp, sp = merged["cursor_ms"]["p95"], single["cursor_ms"]["p95"]
    return {"presses": presses, "merged": merged, "single": single,
            "ratio_p95": fp / sp if fp is not None and sp else None}


# --------------------------------------------------------------------------- the section

def run(*, quick: bool, rounds: int | None = None, seconds: float | None = None,
        nodes: int = NODES, servers: int = SERVERS, presses: int | None = None,
        log: Any = None) -> dict[str, Any]:
    rounds = rounds or 2
    seconds = seconds or (20.0 if quick else 60.0)
    presses = presses or (60 if quick else 200)
    started = time.monotonic()
    if log:
        log(f"fleet: starting {nodes} HAProxy x {servers} servers and sshd")
    with fleet_env(nodes, servers) as env:
        out: dict[str, Any] = {"nodes": nodes, "servers": servers, "interval_s": INTERVAL,
                               "rows_per_node": servers + env.nodes[0].backends + 1,
                               "transport": "ssh (one ControlMaster per node, sshd on "
                                            "loopback)",
                               "hatop": "/usr/bin/hatop -i 2 on each node's admin socket "
                                        "(reads at most 1,000 lines of show stat)"}
        if log:
            log(f"fleet: CPU, {rounds} A/B rounds of {seconds:g} s per window")
        out["cpu"] = cpu_rounds(env, rounds, seconds, log=log)
        if log:
            log(f"fleet: key→screen, {presses} presses on the merged table, then on one node")
        out["keys"] = keys(env, presses)
    out["section_seconds"] = time.monotonic() - started
    return out
