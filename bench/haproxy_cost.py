"""What watching HAProxy costs HAProxy: its worker's CPU with the console attached,
with hatop attached, and with nothing attached, in one run on one instance.

Usage: python bench/haproxy_cost.py [--servers 10000] [--rounds 2] [--seconds 60]
                                    [--binary PATH] [--out FILE.json]
       (also ``python bench/run.py --sections haproxy-cost``)

One HAProxy (``servers`` servers, 20 per backend, last state changes a day old) runs
for the whole run; each round measures the three cases in turn (the order alternates
between rounds: none, console, console-plain, hatop, then back). ``console-plain`` is
the console reading a full ``show stat`` at every poll, as it did before partial polls
of large instances (``BENCH_PLAIN_POLL``, :mod:`bench.console_probe`). Each tool runs in
tmux at 120×40 with a 1 s interval (:mod:`bench.terminal`); after it shows data and a
warm-up, HAProxy's CPU (``utime + stime`` of the worker, ``/proc/PID/stat``) is
sampled every :data:`SAMPLE_S` seconds for ``seconds``. The console's full ``show stat`` comes every
60 s on a large instance: a window of 60 s or more holds its share.

Reported per case: CPU % of one core, median and p95 of the samples and the mean
over the windows; the ratio console / hatop of each, from the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.haproxy_env import Instance, haproxy_binary, haproxy_version, instance  # noqa: E402
from bench.stats import median, p95  # noqa: E402
from bench.terminal import Tmux, console_argv, hatop_argv, proc_cpu, wait_for_data  # noqa: E402

CASES = ("none", "console", "console-plain", "hatop")
WARMUP = 8.0  # seconds after data shows (the console's first full dump and parse)
SAMPLE_S = 5.0
"""The samples' length: the kernel counts CPU in 10 ms ticks, so a 1 s sample of a
process using 0.5 % reads 0 % or 1 %; over 5 s the step is 0.2 %."""


def sample(pid: int, seconds: float, step: float = SAMPLE_S) -> tuple[list[float], float]:
    """CPU % of one core of ``pid`` in each ``step`` of a window, and the mean over it."""
    samples: list[float] = []
    start_t, start_c = time.monotonic(), proc_cpu(pid)
    last_t, last_c = start_t, start_c
    end = start_t + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(step - ((now - start_t) % step), end - now))
        t, c = time.monotonic(), proc_cpu(pid)
        if c is None or last_c is None:
            raise RuntimeError(f"process {pid} exited during the measurement")
        if t - last_t > step / 2:
            samples.append((c - last_c) / (t - last_t) * 100)
        last_t, last_c = t, c
    assert start_c is not None and last_c is not None
    return samples, (last_c - start_c) / (last_t - start_t) * 100


def measure(case: str, inst: Instance, seconds: float, interval: float = 1.0
            ) -> dict[str, Any]:
    """One window of ``case`` on ``inst``: HAProxy's CPU (and the tool's)."""
    if case == "none":
        samples, mean = sample(inst.pid, seconds)
        return {"samples": samples, "mean_pct": mean}
    tmux = Tmux()
    log = os.path.join(tmux.dir, "polls.log")
    make = hatop_argv if case == "hatop" else console_argv
    env = {"BENCH_PLAIN_POLL": "1"} if case == "console-plain" else None
    try:
        pid = tmux.start(make(log, inst.socket, interval), env)
        if wait_for_data(tmux, 120.0) is None:
            raise RuntimeError(f"{case} showed no data:\n{tmux.capture()}")
        time.sleep(WARMUP)
        tool0 = proc_cpu(pid)
        samples, mean = sample(inst.pid, seconds)
        tool1 = proc_cpu(pid)
        with open(log) as f:
            polls = sum(1 for line in f if line.startswith("poll "))
    finally:
        tmux.stop()
    tool = None if tool0 is None or tool1 is None else (tool1 - tool0) / seconds * 100
    return {"samples": samples, "mean_pct": mean, "tool_cpu_pct": tool, "polls": polls}


def run(servers: int = 10000, rounds: int = 2, seconds: float = 60.0,
        binary: str | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    binary = binary or haproxy_binary()
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CASES}
    with instance(servers, binary=binary) as inst:
        for r in range(rounds):
            order = CASES if r % 2 == 0 else tuple(reversed(CASES))
            for case in order:
                log(f"haproxy-cost: round {r + 1}/{rounds}, {case}, {seconds:g} s")
                runs[case].append(measure(case, inst, seconds))
        rows = inst.servers + inst.backends + 1
    out: dict[str, Any] = {"servers": servers, "rows": rows, "rounds": rounds,
                           "seconds": seconds, "interval_s": 1.0, "sample_s": SAMPLE_S,
                           "haproxy": haproxy_version(binary), "binary": binary,
                           "cases": {}}
    for case in CASES:
        samples = [s for run_ in runs[case] for s in run_["samples"]]
        means = [run_["mean_pct"] for run_ in runs[case]]
        tool = [run_["tool_cpu_pct"] for run_ in runs[case] if run_.get("tool_cpu_pct")]
        out["cases"][case] = {
            "median_pct": median(samples), "p95_pct": p95(samples),
            "mean_pct": median(means), "means": means, "samples": len(samples),
            "tool_cpu_pct": median(tool) if tool else None,
            "polls": [run_.get("polls") for run_ in runs[case]]}
    c, h = out["cases"]["console"], out["cases"]["hatop"]
    out["ratio"] = {k: (c[k] / h[k]) if c[k] is not None and h[k] else None
                    for k in ("mean_pct", "median_pct", "p95_pct")}
    plain = out["cases"]["console-plain"]
    out["ratio_plain"] = {k: (plain[k] / h[k]) if plain[k] is not None and h[k] else None
                          for k in ("mean_pct", "median_pct", "p95_pct")}
    return out


def table(res: dict[str, Any], markdown: bool = False) -> str:
    """HAProxy's CPU per case, and the ratios."""
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    head = ("attached", "HAProxy CPU % mean", "median", "p95", "tool's own CPU %")
    lines = []
    if markdown:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in CASES:
        d = res["cases"][case]
        cells = (case, f(d["mean_pct"]), f(d["median_pct"]), f(d["p95_pct"]),
                 f(d["tool_cpu_pct"]))
        lines.append("| " + " | ".join(cells) + " |" if markdown else
                     f"{cells[0]:>8}: mean {cells[1]:>6} %, median {cells[2]:>6}, "
                     f"p95 {cells[3]:>6}, tool {cells[4]:>6} %")
    ratio = res["ratio"]
    cells = ("console / hatop", f(ratio["mean_pct"]), f(ratio["median_pct"]),
             f(ratio["p95_pct"]), "")
    lines.append("| " + " | ".join(cells) + " |" if markdown else
                 f"console / hatop: mean {cells[1]}, median {cells[2]}, p95 {cells[3]}")
    plain = res.get("ratio_plain")
    if plain:
        cells = ("console-plain / hatop", f(plain["mean_pct"]), f(plain["median_pct"]),
                 f(plain["p95_pct"]), "")
        lines.append("| " + " | ".join(cells) + " |" if markdown else
                     f"console-plain / hatop: mean {cells[1]}, median {cells[2]}, "
                     f"p95 {cells[3]}")
    return "\n".join(lines)


def title(res: dict[str, Any]) -> str:
    return (f"HAProxy's own CPU while watched ({res['servers']:,} servers, HAProxy "
            f"{res['haproxy']}, 1 s interval, 120×40 tmux, {res['rounds']} rounds of "
            f"{res['seconds']:g} s per case, same instance)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/haproxy_cost.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--binary", default=None, help="HAProxy binary (default: the bench's)")
    p.add_argument("--out", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    res = run(args.servers, args.rounds, args.seconds, args.binary)
    print(title(res) + ":")
    print(table(res))
    if args.out:
        import json

        from bench import report

        with open(args.out, "w") as f:
            json.dump({"date": started, "machine": report.machine(), **res}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
