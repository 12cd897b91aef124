"""The console's performance benchmark (``make bench``).

Usage: python bench/run.py [--quick] [--sizes 1000,10000,10000c,50000] [--label NAME]
                           [--sections inprocess,terminal,start,memory,hatop,fleet,logs,
                                       haproxy-cost]

For each size (servers; ``c`` = with health checks against closed ports), starts the
bundled HAProxy 2.8 with 20 servers per backend on loopback and measures:

* inprocess: the headless app with the real socket source at a 1 s interval: per
  refresh the socket fetch, parse, model (events, rates, history) and UI (widget update,
  paint) — wall and CPU time, median and p95 — idle and under churn; key press (cursor
  down, filter typing) to the next screen update during refreshes;
* terminal: the real console in tmux at 120×40 on the main view for a window idle and a
  window under churn (5 % of the servers change between MAINT and READY every second):
  CPU from /proc, terminal bytes from ``pipe-pane``, refreshes from the poll log;
* start: spawn to first data rows on screen (tmux);
* memory: RSS after 100 and after N refresh cycles of the in-process app fed with real
  answers (leak check);
* hatop: the console and hatop side by side on a 900-server instance, A/B alternating;
* fleet: ``haconsole --fleet`` on 10 nodes × 1,000 servers at 2 s over SSH (a real sshd
  on loopback) against ten hatops on the same sockets, CPU A/B alternating, and key
  press to screen update on the merged table (:mod:`bench.fleet`);
* logs: log throughput (:mod:`bench.logs_live`): HAProxy answering ``wrk`` itself and
  logging every request to a ring, the console's Logs screen following it in process
  (lines lost, CPU, key press to screen update), and the offline summary side by side
  with halog on the same files;
* haproxy-cost: HAProxy's own CPU (its worker, from /proc) with the console attached,
  with hatop attached and with nothing attached, on one 10,000-server instance at 1 s,
  rounds alternating (:mod:`bench.haproxy_cost`).

Prints the results, a Markdown table for the README, and writes
``bench/results/<date>-<host>[-label].json`` (this run) and ``bench/results/latest.json``.
The fleet, logs and haproxy-cost sections are runs of their own in latest.json (their
own date, machine and options under ``fleet``/``logs``/``haproxy-cost``): ``--sections
fleet`` (or ``logs``, ``haproxy-cost``) alone replaces only that, keeping the other
results of the last full run; a run without it keeps its last results.
HAProxy, tmux and churn processes started here are stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench import report  # noqa: E402
from bench.haproxy_env import haproxy_binary, haproxy_version, instance  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SECTIONS = ("inprocess", "terminal", "start", "memory", "hatop", "fleet", "logs",
            "haproxy-cost")
OWN_RUN = ("fleet", "logs", "haproxy-cost")  # kept in latest.json as runs of their own
SIZE_SECTIONS = ("inprocess", "terminal", "start", "memory")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="short windows and fewer repeats (a few minutes)")
    p.add_argument("--sizes", default="900,10000,10000c,50000",
                   help="servers per run, comma-separated; suffix c: with health checks")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"what to measure (default: all of {','.join(SECTIONS)})")
    p.add_argument("--label", default="", help="added to the result file name and JSON")
    p.add_argument("--leak", default=None,
                   help="SIZE:CYCLES for the memory check, comma-separated "
                        "(default 900:10000,10000:2000; quick 900:1000)")
    p.add_argument("--hatop-servers", type=int, default=900,
                   help="servers for the hatop comparison (hatop reads at most 1,000 lines)")
    p.add_argument("--seconds", type=float, default=None,
                   help="length of each tmux window (default 60, quick 15)")
    p.add_argument("--rounds", type=int, default=None,
                   help="A/B rounds against hatop (default 3, quick 1; fleet: 2)")
    p.add_argument("--fleet-nodes", type=int, default=10, help="nodes of the fleet section")
    p.add_argument("--fleet-servers", type=int, default=1000,
                   help="servers per node in the fleet section")
    p.add_argument("--logs-seconds", type=float, default=None,
                   help="length of the wrk run of the logs section (default 20, quick 8)")
    p.add_argument("--logs-lines", type=int, default=None,
                   help="lines of the generated file of the logs section (default 1,000,000, "
                        "quick 200,000)")
    p.add_argument("--cost-servers", type=int, default=10000,
                   help="servers of the haproxy-cost section")
    p.add_argument("--cost-binary", default=None,
                   help="HAProxy binary of the haproxy-cost section (default: the bench's)")
    p.add_argument("--note", default="",
                   help="a sentence about the conditions of the run, kept with the fleet "
                        "results and shown in the README (e.g. other work on the machine)")
    p.add_argument("--out", default=RESULTS, help="directory for the JSON results")
    p.add_argument("--no-verify", action="store_true",
                   help="skip bench/verify.py (the optimized refresh path gives the same "
                        "results as the plain one) before measuring")
    return p.parse_args(argv)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def measure_size(token: str, args: argparse.Namespace, leak: dict[str, int]) -> dict[str, Any]:
    from bench import inprocess, terminal

    servers, checks = int(token.rstrip("c")), token.endswith("c")
    sections = set(args.sections.split(","))
    quick = args.quick
    seconds = args.seconds or (15.0 if quick else 60.0)
    big = servers >= 50000
    out: dict[str, Any] = {"servers": servers, "checks": checks}
    # a fresh instance per section: the churn of one section must not leave recently
    # changed servers (whose lastchg ticks every second) in the next one's idle window

    def fresh() -> Any:
        return instance(servers, checks=checks)

    if "inprocess" in sections:
        _log(f"{token}: in-process stages and keys")
        with fresh() as inst:
            out["rows"] = inst.servers + inst.backends + 1
            out["inprocess"] = asyncio.run(inprocess.session(
                inst, refreshes=(5 if big else 8) if quick else (10 if big else 30),
                presses=12 if quick else (25 if big else 50),
                typed=6 if quick else (12 if big else 24)))
    if "terminal" in sections:
        _log(f"{token}: console in tmux, {seconds:g} s idle + {seconds:g} s churn")
        with fresh() as inst:
            out["terminal"] = terminal.run_tool(
                "console", inst, [terminal.Window("idle", seconds),
                                  terminal.Window("churn", seconds)])
    if "start" in sections:
        _log(f"{token}: time to first data")
        with fresh() as inst:
            out["start"] = terminal.first_paint(inst, 2 if quick else 5)
    if "memory" in sections and token in leak:
        cycles = leak[token]
        checkpoints = tuple(c for c in (100, 1000, 2000, 5000, 10000, cycles) if c <= cycles)
        _log(f"{token}: memory over {cycles} refresh cycles")
        with fresh() as inst:
            out["memory"] = asyncio.run(inprocess.memory(
                inst, cycles, tuple(sorted(set(checkpoints))),
                captures=6 if quick else 12, spacing=0.3 if quick else 1.0))
    return out


def logs_live_title(res: dict[str, Any]) -> str:
    from bench import logs_live

    return logs_live.title(res)


def _logs_table(res: dict[str, Any], markdown: bool = False) -> str:
    from bench import logs_live

    return logs_live.table(res, markdown) + "\n\n" + logs_live.targets_table(
        res.get("targets") or logs_live.targets(res), markdown)


def into_latest(previous: dict[str, Any] | None, results: dict[str, Any],
                sections: set[str]) -> dict[str, Any]:
    """What latest.json becomes after this run. The fleet section is a run of its own
    (it carries its date and machine): a fleet-only run replaces the previous file's
    fleet results and keeps the rest; a run without it keeps the previous fleet
    results. Anything else is this run alone."""
    if previous is None:
        return results
    if sections and sections <= set(OWN_RUN):
        out = {**previous, **{s: results[s] for s in sections if s in results}}
    else:
        kept = {s: previous[s] for s in OWN_RUN if s not in sections and s in previous}
        if not kept:
            return results
        out = {**results, **kept}
    out["targets"] = report.targets(out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = set(args.sections.split(","))
    unknown = sections - set(SECTIONS)
    if unknown:
        print(f"unknown sections: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    skipped = []
    if not shutil.which("tmux"):
        skipped += sorted(sections & {"terminal", "start", "hatop", "fleet", "haproxy-cost"})
        sections -= {"terminal", "start", "hatop", "fleet", "haproxy-cost"}
    for needs_hatop in ("hatop", "fleet", "haproxy-cost"):
        if needs_hatop in sections and not os.access("/usr/bin/hatop", os.X_OK):
            skipped.append(needs_hatop)
            sections.discard(needs_hatop)
    if "fleet" in sections and not os.access("/usr/sbin/sshd", os.X_OK):
        skipped.append("fleet")
        sections.discard("fleet")
    if skipped:
        _log(f"skipped (tmux, /usr/bin/hatop or /usr/sbin/sshd missing): "
             f"{', '.join(skipped)}")
    args.sections = ",".join(s for s in SECTIONS if s in sections)
    leak_spec = args.leak or ("900:1000" if args.quick else "900:10000,10000:2000")
    leak = {k: int(v) for k, v in (item.split(":") for item in leak_spec.split(",") if item)}
    binary = haproxy_binary()
    own_only = bool(sections) and sections <= set(OWN_RUN)
    if not args.no_verify and not own_only:
        from bench import verify

        _log("checking that the refresh path gives the same results (bench/verify.py)")
        verify.main([])
    results: dict[str, Any] = {
        "label": args.label, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": report.machine(), "haproxy": haproxy_version(binary),
        "options": {"quick": args.quick, "sizes": args.sizes, "sections": args.sections,
                    "leak": leak_spec, "interval_s": 1.0, "terminal": "120x40",
                    "servers_last_change": "a day ago (server-state file)"},
        "sizes": {},
    }
    started = time.monotonic()
    if sections & set(SIZE_SECTIONS):
        for token in [t.strip() for t in args.sizes.split(",") if t.strip()]:
            results["sizes"][token] = measure_size(token, args, leak)
    if "hatop" in sections:
        from bench import terminal

        rounds = args.rounds or (1 if args.quick else 3)
        seconds = args.seconds or (15.0 if args.quick else 60.0)
        _log(f"hatop comparison: {args.hatop_servers} servers, {rounds} A/B rounds")
        results["hatop"] = terminal.versus_hatop(args.hatop_servers, rounds, seconds)
    if "fleet" in sections:
        from bench import fleet

        fleet_started = time.strftime("%Y-%m-%d %H:%M:%S")
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
        results["fleet"] = {
            "date": fleet_started, "machine": results["machine"],
            "haproxy": results["haproxy"], "quick": args.quick, "note": args.note,
            "loadavg_start": load,
            **fleet.run(quick=args.quick, rounds=args.rounds, seconds=args.seconds,
                        nodes=args.fleet_nodes, servers=args.fleet_servers, log=_log)}
        results["fleet"]["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    if "logs" in sections:
        from bench import logs_live

        logs_args = logs_live.parse_args([
            "--seconds", str(args.logs_seconds or (8.0 if args.quick else 20.0)),
            "--lines", str(args.logs_lines or (200_000 if args.quick else 1_000_000)),
            "--runs", str(args.rounds or (2 if args.quick else 5)),
            "--note", args.note])
        _log(f"logs: wrk {logs_args.seconds:g} s against a ring, the Logs screen "
             "following; offline summary against halog")
        results["logs"] = logs_live.run(logs_args)
        results["logs"]["targets"] = logs_live.targets(results["logs"])
    if "haproxy-cost" in sections:
        from bench import haproxy_cost

        cost_started = time.strftime("%Y-%m-%d %H:%M:%S")
        seconds = args.seconds or (20.0 if args.quick else 60.0)
        rounds = args.rounds or (1 if args.quick else 2)
        _log(f"haproxy-cost: {args.cost_servers} servers; nothing, the console, the console "
             f"polling in full, hatop attached; {rounds} rounds of {seconds:g} s")
        results["haproxy-cost"] = {
            "date": cost_started, "machine": results["machine"], "quick": args.quick,
            "note": args.note, "loadavg_start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
            **haproxy_cost.run(args.cost_servers, rounds, seconds, args.cost_binary, _log)}
        results["haproxy-cost"]["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    results["seconds"] = time.monotonic() - started
    results["targets"] = report.targets(results)

    line = report.machine_line(results["machine"], results["haproxy"])
    print(f"\nhaconsole benchmark, {results['date']}, {line}")
    print("interval 1 s, terminal 120x40, main (status) view; idle = nothing changes "
          "(servers last changed a day ago), churn = 5 % of the servers MAINT<->READY each s\n")
    if results["sizes"]:
        print(report.table(results))
    if "hatop" in results:
        print(f"\nvs hatop, {results['hatop']['servers']} servers, "
              f"{results['hatop']['rounds']} A/B rounds (medians):")
        print(report.hatop_table(results["hatop"]))
    if "fleet" in results:
        print(f"\n{report.fleet_title(results['fleet'])}:")
        print(report.fleet_table(results["fleet"]))
    if "logs" in results:
        print(f"\n{logs_live_title(results['logs'])}:")
        print(_logs_table(results["logs"]))
    if "haproxy-cost" in results:
        from bench import haproxy_cost

        print(f"\n{haproxy_cost.title(results['haproxy-cost'])}:")
        print(haproxy_cost.table(results["haproxy-cost"]))
    print("\nTargets:")
    print(report.targets_table(results["targets"]))
    print("\n--- Markdown (README) ---\n")
    print(f"Measured on {line} (`make bench`, {results['date'][:10]}).\n")
    if results["sizes"]:
        print(report.table(results, markdown=True))
    if "hatop" in results:
        print(f"\nSide by side with hatop ({results['hatop']['servers']} servers, "
              "same HAProxy, 1 s, 120x40 tmux):\n")
        print(report.hatop_table(results["hatop"], markdown=True))
    if "fleet" in results:
        print(f"\n{report.fleet_title(results['fleet'])}:\n")
        print(report.fleet_table(results["fleet"], markdown=True))

    if "logs" in results:
        print(f"\n{logs_live_title(results['logs'])}:\n")
        print(_logs_table(results["logs"], markdown=True))

    os.makedirs(args.out, exist_ok=True)
    host = results["machine"]["host"]
    name = f"{time.strftime('%Y-%m-%d')}-{host}" + (f"-{args.label}" if args.label else "")
    if own_only:
        name += "-" + "-".join(sorted(sections))
    latest = os.path.join(args.out, "latest.json")
    previous = None
    if os.path.exists(latest):
        with open(latest) as f:
            previous = json.load(f)
    for path, data in ((os.path.join(args.out, f"{name}.json"), results),
                       (latest, into_latest(previous, results, sections))):
        with open(path, "w") as f:
            json.dump(data, f, indent=1, sort_keys=False)
            f.write("\n")
    print(f"\nresults: {os.path.join(args.out, name + '.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
