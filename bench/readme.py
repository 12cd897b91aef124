"""Write the README's performance tables from one benchmark run.

Usage: python bench/readme.py [RESULTS.json]   (default bench/results/latest.json;
``make bench`` runs it after bench/run.py)

Everything between the two markers of README.md is replaced by the tables of that one
run: machine, HAProxy, date, the per-size table, hatop side by side, and the targets as
ratios against hatop measured in the same run. ``tests/unit/test_bench_readme.py``
fails when the README and the results file disagree.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench import report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LATEST = REPO / "bench" / "results" / "latest.json"
START = "<!-- bench: written by bench/readme.py from one run; do not edit by hand -->"
END = "<!-- /bench -->"


def render(results: dict[str, Any]) -> str:
    """The Markdown for *results*: one run, every number from it."""
    line = report.machine_line(results["machine"], results["haproxy"])
    label = f", label `{results['label']}`" if results.get("label") else ""
    quick = " (`--quick`: short windows)" if results.get("options", {}).get("quick") else ""
    parts = [
        f"Measured on {line}, {results['date']} (one run of `make bench`{label}{quick}, "
        f"{results.get('seconds', 0) / 60:.0f} min; `bench/results/latest.json`). "
        "Medians, p95 after the slash; CPU % is of one core.",
        "",
        report.table(results, markdown=True),
    ]
    hat = results.get("hatop")
    if hat:
        parts += ["", f"Side by side with hatop in the same run ({hat['servers']:,} servers, "
                  f"the same HAProxy, 1 s interval, 120×40 tmux, {hat['rounds']} A/B rounds "
                  f"of {hat['seconds']:g} s, medians):", "",
                  report.hatop_table(hat, markdown=True)]
    fl = results.get("fleet")
    if fl:
        parts += ["", f"{report.fleet_title(fl)}; a run of its own (`--sections fleet`) on "
                  f"{report.machine_line(fl['machine'], fl['haproxy'])}. The console's CPU is "
                  "its whole process tree (Python and the ssh ControlMasters); each hatop "
                  "(`-i 2`) reads its node's socket directly (and parses at most 1,000 lines "
                  "of `show stat`, a few dozen short of a node's); load average at the start "
                  f"{fl.get('loadavg_start', '?')}, at the end {fl.get('loadavg_end', '?')}."
                  + (f" {fl['note']}" if fl.get("note") else ""), "",
                  report.fleet_table(fl, markdown=True)]
    logs = results.get("logs")
    if logs:
        from bench import logs_live

        parts += ["", f"{logs_live.title(logs)}; a run of its own (`--sections logs`):", "",
                  logs_live.table(logs, markdown=True), "",
                  logs_live.targets_table(logs.get("targets") or logs_live.targets(logs),
                                          markdown=True)]
    cost = results.get("haproxy-cost")
    if cost:
        from bench import haproxy_cost

        parts += ["", f"{haproxy_cost.title(cost)}; a run of its own (`--sections "
                  f"haproxy-cost`) on {report.machine_line(cost['machine'], cost['haproxy'])}, "
                  f"{cost['date']}; load average {cost.get('loadavg_start', '?')} at the "
                  f"start, {cost.get('loadavg_end', '?')} at the end. CPU % of one core, "
                  f"samples of {cost.get('sample_s', 1):g} s of the worker's `utime + stime`; "
                  "console-plain is the console reading everything at every poll (as before "
                  "partial polls of large instances)."
                  + (f" {cost['note']}" if cost.get("note") else ""), "",
                  haproxy_cost.table(cost, markdown=True)]
    parts += ["", "Targets: ratios against hatop measured in this run (absolute speed "
              "differs 2-3x between machines of the same kind):", "",
              report.targets_table(results["targets"], markdown=True)]
    return "\n".join(parts)


def block(results: dict[str, Any]) -> str:
    return f"{START}\n{render(results)}\n{END}"


def update(readme: str, results: dict[str, Any]) -> str:
    if "merged_from" in results:
        raise SystemExit("the README quotes one run only; this results file merges several")
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md has no {START!r} … {END!r} block")
    return readme[:start] + block(results) + readme[end + len(END):]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else LATEST
    results = json.loads(path.read_text())
    readme = REPO / "README.md"
    readme.write_text(update(readme.read_text(), results))
    print(f"README.md: performance tables from {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
