"""The README's performance tables are those of the committed benchmark run."""

from __future__ import annotations

import json
from pathlib import Path

from bench import readme as bench_readme
from bench import report

REPO = Path(__file__).resolve().parents[2]


def latest() -> dict:
    return json.loads((REPO / "bench" / "results" / "latest.json").read_text())


def test_the_readme_shows_the_committed_run() -> None:
    text = (REPO / "README.md").read_text()
    assert bench_readme.block(latest()) in text, (
        "README.md's performance tables differ from bench/results/latest.json: "
        "run `python bench/readme.py`")


def test_the_targets_are_worked_out_as_the_report_does() -> None:
    results = latest()
    assert results["targets"] == report.targets(results)
    assert "merged_from" not in results


def test_a_stretch_the_header_did_not_say_is_not_met() -> None:
    results = {"sizes": {"50000": {"terminal": {
        "idle": {"stretched_polls": 3, "stretched_interval": 1.7, "poll_s": 0.5},
        "header_says_stretched": False}}}}
    [stretch] = [t for t in report.targets(results) if t["target"].startswith("50,000")]
    assert stretch["met"] is False


def test_speed_targets_are_ratios_against_hatop() -> None:
    hat = {"servers": 900, "rounds": 1, "seconds": 15}
    for window in ("idle", "churn"):
        hat[window] = {"ratio": {"cpu_ms_per_refresh": 0.8, "bytes_per_refresh": 0.5},
                       "hatop": {"cpu_ms_per_refresh": 9.0}, "console": {}}
    results = {"hatop": hat, "sizes": {"10000": {"terminal": {
        "idle": {"cpu_ms_per_refresh": 50.0}, "churn": {"cpu_ms_per_refresh": 200.0}}}}}
    got = {t["target"]: t for t in report.targets(results)}
    idle = got["10,000 servers, idle: console CPU per server per refresh / hatop's at 900 "
               "(hatop cannot show 10,000)"]
    assert abs(idle["value"] - (50 / 10000) / (9 / 900)) < 1e-9 and idle["met"] is True
    churn = [t for k, t in got.items() if k.startswith("10,000 servers, churn")][0]
    assert churn["met"] is False  # 2x hatop's per server
    assert all("%" not in t["limit"] for t in got.values() if "CPU" in t["target"])


def test_a_fleet_only_run_replaces_the_fleet_results_and_keeps_the_rest() -> None:
    from bench import run

    previous = {"date": "old", "sizes": {"900": {}}, "hatop": None, "fleet": {"date": "f0"},
                "targets": []}
    fleet = {"date": "f1", "nodes": 10, "servers": 1000, "interval_s": 2.0,
             "cpu": {"ratio": {"merged": 0.9, "nodes": 1.2}},
             "keys": {"merged": {"cursor_ms": {"p95": 40.0}}, "ratio_p95": 2.0}}
    out = run.into_latest(previous, {"date": "new", "sizes": {}, "fleet": fleet}, {"fleet"})
    assert out["date"] == "old" and out["sizes"] == {"900": {}} and out["fleet"] is fleet
    assert out["targets"] == report.targets(out)
    fleet_targets = [t for t in out["targets"] if t["target"].startswith("fleet")]
    assert [t["met"] for t in fleet_targets] == [True, False, True]  # merged, nodes, keys
    # a run without the fleet section keeps the last fleet results
    again = run.into_latest(out, {"date": "newer", "sizes": {"900": {}}}, {"inprocess"})
    assert again["date"] == "newer" and again["fleet"] is fleet


def test_haproxy_cost_is_a_run_of_its_own_judged_as_a_ratio_against_hatop() -> None:
    from bench import haproxy_cost
    from bench import run as bench_run

    def case(mean: float) -> dict:
        return {"mean_pct": mean, "median_pct": mean, "p95_pct": mean * 1.5,
                "tool_cpu_pct": 3.0}

    cost = {"date": "c1", "servers": 10000, "interval_s": 1.0, "haproxy": "2.8",
            "rounds": 2, "seconds": 60.0, "sample_s": 5.0,
            "machine": {"cpu_model": "x", "cores": 2, "kernel": "k"},
            "cases": {"none": case(0.0), "console": case(0.5),
                      "console-plain": case(7.5), "hatop": case(7.0)},
            "ratio": {"mean_pct": 0.5 / 7, "median_pct": 0.5 / 7, "p95_pct": 0.5 / 7},
            "ratio_plain": {"mean_pct": 7.5 / 7, "median_pct": 7.5 / 7, "p95_pct": 7.5 / 7}}
    previous = {"date": "old", "sizes": {"900": {}}, "hatop": None}
    out = bench_run.into_latest(previous, {"date": "new", "sizes": {}, "haproxy-cost": cost},
                                {"haproxy-cost"})
    assert out["date"] == "old" and out["haproxy-cost"] is cost
    [target] = [t for t in out["targets"] if "HAProxy's own CPU" in t["target"]]
    assert target["met"] is True and target["limit"] == "<= 0.1x"
    table = haproxy_cost.table(cost, markdown=True)
    assert "| console / hatop | 0.07 |" in table and "| console-plain / hatop | 1.07 |" in table


def test_the_first_data_of_100000_servers_is_a_ratio_to_the_dump() -> None:
    def start(ratio: float) -> dict:
        return {"start": {"median_s": 2.0, "dump_median_s": 2.0 / ratio,
                          "ratio_to_dump": ratio}}

    got = report.targets({"sizes": {"100000": start(1.9), "50000": start(4.2)}})
    first = [t for t in got if "first data" in t["target"]]
    assert len(first) == 1 and first[0]["target"].startswith("100,000 servers")
    assert first[0]["met"] is True and first[0]["limit"] == "<= 4x"
    late = report.targets({"sizes": {"100000": start(4.5)}})
    assert [t["met"] for t in late if "first data" in t["target"]] == [False]
