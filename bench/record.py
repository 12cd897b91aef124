"""Recording and replay costs (not part of ``make bench``).

Usage: python bench/record.py [--servers 1000,10000] [--seconds 60] [--replay-servers 10000]

1. ``haconsole record`` (the real CLI, a child process) on a real HAProxy with 1k and
   10k servers at a 1 s interval, idle and under churn (5 % of the servers change
   state every second, bench/churn.py). The recorder's CPU is read from /proc (user +
   system) over the steady part of the run (after the first keyframe), per 10 s window;
   the file's growth over the same part, plus one keyframe per 5 minutes, gives the
   bytes per hour.
2. Replay at 60× of a 10k-server recording (3,000 polls, 1 s apart: real answers
   captured under churn, written in turn), headless (``App.run_test``): key press
   (cursor down/up) to the first screen update, median and p95.

Prints a JSON summary; the numbers quoted in the README come from it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench import probe as probe_mod  # noqa: E402
from bench.churn import churning  # noqa: E402
from bench.haproxy_env import instance, send  # noqa: E402
from bench.inprocess import _mark_handled, _press  # noqa: E402
from bench.stats import summary  # noqa: E402
from console.haproxy.recording import (  # noqa: E402
    KEYFRAME,
    KEYFRAME_EVERY,
    Recording,
    RecordingWriter,
)

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def record_run(sock: str, seconds: float, warmup: float = 12.0) -> dict[str, Any]:
    """The recorder for *seconds*: CPU % of a core per 10 s window after *warmup*, and
    the bytes per hour."""
    directory = tempfile.mkdtemp(prefix="haconsole-rec-")
    out = os.path.join(directory, "r.hacrec")
    proc = subprocess.Popen([sys.executable, "-m", "console", "--interval", "1", "record",
                             "-s", sock, "-o", out, "--duration", f"{seconds + warmup + 5:g}s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(warmup)
        t0, c0, s0 = time.monotonic(), cpu_seconds(proc.pid), os.path.getsize(out)
        windows: list[float] = []
        last_t, last_c = t0, c0
        while time.monotonic() - t0 < seconds:
            time.sleep(10.0)
            t, c = time.monotonic(), cpu_seconds(proc.pid)
            windows.append(100.0 * (c - last_c) / (t - last_t))
            last_t, last_c = t, c
        t1, c1, s1 = time.monotonic(), cpu_seconds(proc.pid), os.path.getsize(out)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    with Recording(out) as rec:
        keys = [e.length for e in rec.entries if e.kind == KEYFRAME]
        polls = len(rec.polls)
        deltas = [e.length for e in rec.entries if e.kind != KEYFRAME]
    os.unlink(out)
    os.rmdir(directory)
    delta_per_hour = (s1 - s0) / (t1 - t0) * 3600
    key_per_hour = statistics.median(keys) * 3600 / KEYFRAME_EVERY
    return {
        "cpu_pct_of_a_core": {"overall": 100.0 * (c1 - c0) / (t1 - t0),
                              "windows": summary(windows), "max_window": max(windows)},
        "polls": polls,
        "keyframe_bytes": statistics.median(keys),
        "delta_bytes": summary([float(d) for d in deltas]),
        "mb_per_hour": (delta_per_hour + key_per_hour) / 1e6,
        "stderr_tail": err.strip().splitlines()[-1:] if err else [],
    }


def busy_writer(sock: str, polls: int = 120, seed: int = 3) -> dict[str, Any]:
    """The worst case for the format, in process: every row's traffic counters move at
    every poll (a real answer of *sock*, its counters advanced at random on every row).
    CPU of the writer (split, diff, compress, write) per poll, and the bytes per hour;
    the socket exchange is not included (the ``record_run`` numbers include it)."""
    rng = random.Random(seed)
    info, stat = send(sock, "show info"), send(sock, "show stat")
    lines = stat.split("\n")
    names = lines[0].lstrip("# ").split(",")
    moving = [names.index(c) for c in ("stot", "bin", "bout", "lbtot", "rate", "hrsp_2xx",
                                       "ttime", "rtime", "scur", "smax") if c in names]
    rows = [line.split(",") for line in lines[1:] if line]
    for r in rows:
        for c in moving:
            r[c] = r[c] or "0"
    directory = tempfile.mkdtemp(prefix="haconsole-busy-")
    path = os.path.join(directory, "r.hacrec")
    w = RecordingWriter(path, instance="bench", where=sock, interval=1.0, max_bytes=1 << 40)
    t0 = 1_790_000_000.0
    cpu: list[float] = []
    size0 = 0
    for i in range(polls):
        for r in rows:
            for c in moving:
                r[c] = str(int(r[c]) + rng.randint(0, 40))
        text = lines[0] + "\n" + "".join(",".join(r) + "\n" for r in rows)
        c0 = time.process_time()
        w.poll(info, text, at=t0 + i, mono=t0 + i)
        if i:
            cpu.append((time.process_time() - c0) * 1000)
        else:
            size0 = w.size
    per_poll = (w.size - size0) / (polls - 1)
    w.close("bench")
    with Recording(path) as rec:
        key = [e.length for e in rec.entries if e.kind == KEYFRAME][0]
    os.unlink(path)
    os.rmdir(directory)
    return {"writer_cpu_ms_per_poll": summary(cpu),
            "cpu_pct_of_a_core_at_1s": statistics.median(cpu) / 10,
            "delta_bytes_per_poll": per_poll, "keyframe_bytes": key,
            "mb_per_hour": (per_poll * 3600 + key * 3600 / KEYFRAME_EVERY) / 1e6}


def make_replay_file(sock: str, backends: int, path: str, polls: int = 3000,
                     captured: int = 60) -> None:
    """*polls* polls 1 s apart from *captured* real answers (taken under churn)."""
    answers: list[tuple[str, str]] = []
    with churning(sock, backends):
        for _ in range(captured):
            answers.append((send(sock, "show info"), send(sock, "show stat")))
            time.sleep(0.25)
    w = RecordingWriter(path, instance="bench", where=sock, interval=1.0,
                        max_bytes=1 << 40)
    t0 = 1_790_000_000.0
    for i in range(polls):
        info, stat = answers[i % len(answers)]
        w.poll(info, stat, at=t0 + i, mono=t0 + i)
    w.close("bench")


async def replay_keys(path: str, presses: int = 60, seed: int = 7) -> dict[str, Any]:
    from console.ui.replay import ReplayApp
    from console.ui.widgets.table import ProxyTable

    probe_mod.install()
    probe = probe_mod.Probe()
    probe.encode = False
    probe_mod.activate(probe)
    rng = random.Random(seed)
    app = ReplayApp(Recording(path), speed=60)
    lat: list[float] = []
    missed = 0
    try:
        async with app.run_test(size=(120, 40)):
            deadline = time.monotonic() + 60
            while app._monitor is None or app.monitor.snapshot is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the replay showed nothing in 60 s")
                await asyncio.sleep(0.05)
            _mark_handled(app.query_one(ProxyTable), probe)
            await asyncio.sleep(1.0)
            start_at = app.monitor.snapshot.wall_time
            for i in range(presses):
                await asyncio.sleep(rng.uniform(0.12, 0.45))
                got = await _press(app, probe, "down" if i % 5 != 4 else "up")  # type: ignore[arg-type]
                if got is None:
                    missed += 1
                else:
                    lat.append(got * 1000)
            advanced = app.monitor.snapshot.wall_time - start_at
            st = app.poller.status
            interval, stretched = st.interval, st.stretched
    finally:
        probe_mod.activate(None)
    return {"key_to_screen_ms": summary(lat), "missed": missed,
            "recorded_seconds_replayed": advanced, "poll_interval": interval,
            "stretched": stretched}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", default="1000,10000")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--replay-servers", type=int, default=10000)
    ap.add_argument("--skip-record", action="store_true")
    args = ap.parse_args()
    results: dict[str, Any] = {"record": {}, "interval_s": 1.0}
    if not args.skip_record:
        for n in (int(x) for x in args.servers.split(",")):
            with instance(n) as inst:
                results["version"] = inst.version
                idle = record_run(inst.socket, args.seconds)
                with churning(inst.socket, inst.backends):
                    churn = record_run(inst.socket, args.seconds)
                busy = busy_writer(inst.socket)
                results["record"][str(n)] = {"idle": idle, "churn_5pct_per_s": churn,
                                             "every_row_counting": busy}
                print(json.dumps({str(n): results["record"][str(n)]}, indent=1), flush=True)
    if args.replay_servers:
        with instance(args.replay_servers) as inst:
            directory = tempfile.mkdtemp(prefix="haconsole-replay-")
            path = os.path.join(directory, "r.hacrec")
            make_replay_file(inst.socket, inst.backends, path)
        try:
            results["replay_60x"] = asyncio.run(replay_keys(path))
            results["replay_60x"]["servers"] = args.replay_servers
            results["replay_60x"]["file_mb"] = os.path.getsize(path) / 1e6
        finally:
            os.unlink(path)
            os.rmdir(directory)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
