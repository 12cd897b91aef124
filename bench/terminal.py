"""Measurements on a real terminal: the console (or hatop) in tmux at 120×40.

Each tool runs in a detached session of a private tmux server (``tmux -L``, no user
config), started through a small wrapper that logs every refresh to a file
(:mod:`bench.console_probe`, :mod:`bench.hatop_probe`). While it runs:

* CPU: ``utime + stime`` of the tool's process from ``/proc/PID/stat``;
* terminal bytes: ``pipe-pane`` copies everything the tool writes to a file;
* refreshes: lines in the wrapper's log;
* first painted data: ``capture-pane`` polled every 10 ms until data rows show.

The tmux server (and with it the tool) is killed on the way out; the tool's process is
waited for and, if it lingers, killed by its PID.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from bench.churn import churning
from bench.haproxy_env import Instance, instance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
TERM_ENV = {"TERM": "tmux-256color", "COLORTERM": "truecolor"}
WIDTH, HEIGHT = 120, 40
_DATA_ROWS = (re.compile(r"\bbe0\b"), re.compile(r"\bs1\b"))


def proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def console_argv(log: str, sock: str, interval: float) -> list[str]:
    return [sys.executable, os.path.join(ROOT, "bench", "console_probe.py"), log,
            "-s", sock, "--interval", f"{interval:g}"]


def hatop_argv(log: str, sock: str, interval: float) -> list[str]:
    return ["/usr/bin/python3", os.path.join(ROOT, "bench", "hatop_probe.py"), log,
            "/usr/bin/hatop", "--", "-s", sock, "-i", str(max(1, round(interval)))]


class Tmux:
    """One private tmux server with one session running one command."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.server = f"haconsole-bench-{os.getpid()}-{time.monotonic_ns()}"
        self.width, self.height = width, height
        self.dir = tempfile.mkdtemp(prefix="haconsole-bench-tmux-")
        self.pid: int | None = None

    def _run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.server, "-f", "/dev/null", *args],
                             capture_output=True, text=True, check=check, timeout=30)
        return out.stdout

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        env = {**TERM_ENV, "PYTHONPATH": ROOT, **(env or {})}
        words = ["exec", "env"] + [f"{k}={v}" for k, v in env.items()] + argv
        self._run("new-session", "-d", "-s", "b", "-x", str(self.width), "-y",
                  str(self.height), " ".join(shlex.quote(w) for w in words))
        self.pid = int(self._run("display-message", "-p", "-t", "b", "#{pane_pid}").strip())
        return self.pid

    def pipe(self, path: str) -> None:
        self._run("pipe-pane", "-t", "b", "-o", f"cat >> {shlex.quote(path)}")

    def capture(self) -> str:
        return self._run("capture-pane", "-p", "-t", "b", check=False)

    def stop(self) -> None:
        self._run("kill-server", check=False)
        pid = self.pid
        if pid is not None:
            deadline = time.monotonic() + 10
            while proc_cpu(pid) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc_cpu(pid) is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _polls(log: str) -> list[list[str]]:
    try:
        with open(log) as f:
            return [line.split() for line in f if line.startswith("poll ")]
    except OSError:
        return []


def _marks(log: str) -> dict[str, float]:
    """``start`` and ``poll_start`` times of the wrapper's log."""
    out: dict[str, float] = {}
    try:
        with open(log) as f:
            for line in f:
                word, _, rest = line.partition(" ")
                if word in ("start", "poll_start") and word not in out:
                    out[word] = float(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def wait_for_data(tmux: Tmux, timeout: float, step: float = 0.01) -> float | None:
    """Monotonic time at which the screen first showed data rows, a backend's and a
    server's (None: never)."""
    return wait_for_rows(tmux, timeout, step)[1]


def wait_for_rows(tmux: Tmux, timeout: float, step: float = 0.01
                  ) -> tuple[float | None, float | None]:
    """Monotonic times at which the screen first showed a backend's row (the first
    data: a large instance's first look shows its frontends and backends), then a
    server's row too (None: never)."""
    deadline = time.monotonic() + timeout
    proxy = None
    backend, server = _DATA_ROWS
    while time.monotonic() < deadline:
        screen = tmux.capture()
        if proxy is None and backend.search(screen):
            proxy = time.monotonic()
        if proxy is not None and server.search(screen):
            return proxy, time.monotonic()
        time.sleep(step)
    return proxy, None


@dataclass
class Window:
    name: str  # "idle" or "churn"
    seconds: float


def run_tool(tool: str, inst: Instance, windows: list[Window], *, interval: float = 1.0,
             warmup: float = 5.0) -> dict[str, Any]:
    """Start ``tool`` ("console" or "hatop") in tmux on ``inst`` and measure each window."""
    tmux = Tmux()
    log = os.path.join(tmux.dir, "polls.log")
    out = os.path.join(tmux.dir, "out.bin")
    make = console_argv if tool == "console" else hatop_argv
    result: dict[str, Any] = {"tool": tool}
    try:
        spawned = time.monotonic()
        pid = tmux.start(make(log, inst.socket, interval))
        tmux.pipe(out)
        shown = wait_for_data(tmux, 120.0)
        result["first_data_s"] = None if shown is None else shown - spawned
        time.sleep(warmup)
        for window in windows:
            ctx = churning(inst.socket, inst.backends) if window.name == "churn" \
                else nullcontext()
            with ctx:
                if window.name == "churn":
                    time.sleep(3.0)
                b0, c0, p0, t0 = _size(out), proc_cpu(pid), len(_polls(log)), time.monotonic()
                per_second = _sample(pid, t0, window.seconds)
                b1, c1, t1 = _size(out), proc_cpu(pid), time.monotonic()
                polls = _polls(log)
            if c0 is None or c1 is None:
                raise RuntimeError(f"{tool} exited during the measurement:\n{tmux.capture()}")
            elapsed, cpu, n = t1 - t0, c1 - c0, len(polls) - p0
            seen = polls[p0:]
            stretched = [p for p in seen if len(p) > 4 and p[4] == "1"]
            result[window.name] = {
                "seconds": elapsed, "refreshes": n, "cpu_s": cpu,
                "cpu_pct": cpu / elapsed * 100,
                "cpu_pct_per_s": _median(per_second), "cpu_pct_per_s_p95": _p95(per_second),
                "cpu_ms_per_refresh": cpu * 1000 / n if n else None,
                "bytes": b1 - b0, "bytes_per_s": (b1 - b0) / elapsed,
                "bytes_per_refresh": (b1 - b0) / n if n else None,
                "stretched_polls": len(stretched),
                "stretched_interval": float(stretched[-1][3]) if stretched else None,
                "poll_s": _median([float(p[2]) for p in seen if len(p) > 2]),
            }
        screen = tmux.capture()
        result["header_says_stretched"] = "interval stretched" in screen
    finally:
        tmux.stop()
    return result


def _sample(pid: int, t0: float, seconds: float) -> list[float]:
    """CPU % of one core in each second of the window (the clock ticks are 10 ms)."""
    samples: list[float] = []
    last_t, last_c = t0, proc_cpu(pid)
    end = t0 + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(1.0 - ((now - t0) % 1.0), end - now))
        t, c = time.monotonic(), proc_cpu(pid)
        if c is None or last_c is None:
            break
        if t - last_t > 0.5:
            samples.append((c - last_c) / (t - last_t) * 100)
        last_t, last_c = t, c
    return samples


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def first_paint(inst: Instance, runs: int, interval: float = 1.0) -> dict[str, Any]:
    """Seconds from spawning the console to data rows on screen (a backend's row: the
    first look of a large instance), then to server rows too, ``runs`` times, and the
    time ``show stat`` takes to dump every row (wall, read whole, before each run): the
    goal is a ratio of the first and the last."""
    from bench.haproxy_env import send

    times: list[float] = []
    with_servers: list[float] = []
    dumps: list[float] = []
    first_poll: list[float] = []
    started: list[float] = []
    poll_started: list[float] = []
    for _ in range(runs):
        t = time.monotonic()
        send(inst.socket, "show stat")
        dumps.append(time.monotonic() - t)
        tmux = Tmux()
        log = os.path.join(tmux.dir, "polls.log")
        try:
            spawned = time.monotonic()
            tmux.start(console_argv(log, inst.socket, interval))
            shown, servers = wait_for_rows(tmux, 60.0)
            if shown is not None:
                times.append(shown - spawned)
            if servers is not None:
                with_servers.append(servers - spawned)
            polls = _polls(log)
            if polls:
                first_poll.append(float(polls[0][1]) - spawned)
            marks = _marks(log)
            if "start" in marks:
                started.append(marks["start"] - spawned)
            if "poll_start" in marks:
                poll_started.append(marks["poll_start"] - spawned)
        finally:
            tmux.stop()
        time.sleep(0.5)
    median, dump = _median(times), _median(dumps)
    return {"runs": times, "median_s": median, "max_s": max(times) if times else None,
            "servers_runs": with_servers, "servers_median_s": _median(with_servers),
            "dump_runs": dumps, "dump_median_s": dump,
            "ratio_to_dump": None if median is None or not dump else median / dump,
            "python_started_s": _median(started), "first_poll_started_s": _median(poll_started),
            "first_poll_done_s": _median(first_poll)}


def versus_hatop(servers: int, rounds: int, seconds: float,
                 interval: float = 1.0) -> dict[str, Any]:
    """The console and hatop alternately (A/B, B/A…), each on a fresh instance with the
    same config (so that the churn of one run leaves nothing ticking in the next)."""
    runs: dict[str, list[dict[str, Any]]] = {"console": [], "hatop": []}
    rows = 0
    for r in range(rounds):
        order = ("console", "hatop") if r % 2 == 0 else ("hatop", "console")
        for tool in order:
            with instance(servers) as inst:
                rows = inst.servers + inst.backends + 1
                runs[tool].append(run_tool(tool, inst, [Window("idle", seconds),
                                                        Window("churn", seconds)],
                                           interval=interval))
    out: dict[str, Any] = {"rounds": rounds, "seconds": seconds, "servers": servers,
                           "rows": rows, "runs": runs}
    for window in ("idle", "churn"):
        agg: dict[str, Any] = {}
        for tool in runs:
            vals = [run[window] for run in runs[tool]]
            agg[tool] = {k: _median([v[k] for v in vals if v.get(k) is not None])
                         for k in ("cpu_pct", "cpu_pct_per_s", "cpu_ms_per_refresh",
                                   "bytes_per_refresh", "bytes_per_s", "refreshes")}
        c, h = agg["console"], agg["hatop"]
        agg["ratio"] = {k: (c[k] / h[k]) if c[k] is not None and h[k] else None
                        for k in ("cpu_ms_per_refresh", "bytes_per_refresh", "cpu_pct")}
        out[window] = agg
    return out
