"""The benchmark's results: the machine, the targets, a plain table and a Markdown table."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from typing import Any

TARGET_SIZE = "10000"


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import textual

        textual_version = textual.__version__
    except (ImportError, AttributeError):
        textual_version = "?"
    try:
        tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    except OSError:
        tmux = "?"
    return {"host": socket.gethostname(), "cpu_model": model or platform.processor(),
            "cores": os.cpu_count(), "memory_bytes": mem, "kernel": platform.release(),
            "python": platform.python_version(), "textual": textual_version, "tmux": tmux}


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it is met (None: not measured).

    Absolute speed differs 2-3x between machines of the same kind, so every speed target
    is a ratio against hatop measured in the same run (A/B alternating on one HAProxy);
    memory growth is a ratio of the console to itself, the time to first data a ratio
    to HAProxy's own dump of every row. Key latency is reported in the table, not
    judged.
    """
    sizes = results.get("sizes", {})
    ten = sizes.get(TARGET_SIZE, {})
    out: list[dict[str, Any]] = []

    def add(name: str, limit: str, value: Any, met: bool | None, note: str = "") -> None:
        out.append({"target": name, "limit": limit, "value": value, "met": met, "note": note})

    hat = results.get("hatop")
    if hat:
        n = hat["servers"]
        for window in ("idle", "churn"):
            r = _get(hat, window, "ratio", "cpu_ms_per_refresh")
            add(f"{n:,} servers, {window}: console CPU per refresh / hatop's", "<= 0.5x", r,
                None if r is None else r <= 0.5)
        for window in ("idle", "churn"):
            b = _get(hat, window, "ratio", "bytes_per_refresh")
            add(f"{n:,} servers, {window}: terminal bytes per refresh / hatop's", "<= 1x", b,
                None if b is None else b <= 1)
        for window in ("idle", "churn"):
            mine = _get(ten, "terminal", window, "cpu_ms_per_refresh")
            theirs = _get(hat, window, "hatop", "cpu_ms_per_refresh")
            ratio = None
            if mine is not None and theirs:
                ratio = (mine / int(TARGET_SIZE)) / (theirs / n)
            add(f"10,000 servers, {window}: console CPU per server per refresh / hatop's "
                f"at {n:,} (hatop cannot show 10,000)", "<= 0.5x", ratio,
                None if ratio is None else ratio <= 0.5)
    fl = results.get("fleet")
    if fl:
        where = f"fleet {fl['nodes']} × {fl['servers']:,} servers at {fl['interval_s']:g} s " \
                "over SSH"
        for view in ("merged", "nodes"):
            r = _get(fl, "cpu", "ratio", view)
            add(f"{where}, {view} view: console CPU (with its ssh) / ten hatops' together",
                "<= 1x", r, None if r is None else r <= 1)
        p95 = _get(fl, "keys", "merged", "cursor_ms", "p95")
        peer = _get(fl, "keys", "ratio_p95")
        add(f"{where}: key→screen p95 on the merged table (absolute: hatop has no merged "
            "view)", "<= 100 ms", p95, None if p95 is None else p95 <= 100,
            "" if peer is None else f"{peer:.1f}x the single-node console's p95")
    cost = results.get("haproxy-cost")
    if cost:
        r = _get(cost, "ratio", "mean_pct")
        add(f"{cost['servers']:,} servers at {cost['interval_s']:g} s: HAProxy's own CPU with "
            "the console attached / with hatop attached (mean over the windows)", "<= 0.1x",
            r, None if r is None else r <= 0.1,
            f"{_f(_get(cost, 'cases', 'console', 'mean_pct'), 2)} % vs "
            f"{_f(_get(cost, 'cases', 'hatop', 'mean_pct'), 2)} % of a core; nothing "
            f"attached {_f(_get(cost, 'cases', 'none', 'mean_pct'), 2)} %")
    growth = None
    for res in sizes.values():
        mem = res.get("memory")
        if mem and mem.get("cycles", 0) >= 2000:
            g = mem["growth_pct"]
            growth = g if growth is None else max(growth, g)
    add("RSS after the last refresh cycle / after 100", "within 5 %", growth,
        None if growth is None else abs(growth) <= 5)
    for size, res in sizes.items():
        start = res.get("start") or {}
        r = start.get("ratio_to_dump")
        if int(size.rstrip("c")) >= 100000 and r is not None:  # the goal: 100,000 usable
            add(f"{_label(size)} servers: spawn to first data on screen / one `show stat` "
                "dump of every row", "<= 4x", r, r <= 4,
                f"{_f(start.get('median_s'), 2)} s vs {_f(start.get('dump_median_s'), 2)} s")
    big = sizes.get("50000")
    if big:
        term = big.get("terminal", {}).get("idle", {})
        stretched = bool(term.get("stretched_polls"))
        said = big.get("terminal", {}).get("header_says_stretched")
        met = None if not term else (said is True if stretched else True)
        add("50,000 servers: a refresh longer than the interval stretches it, and the "
            "header says so", "said when stretched",
            f"stretched to {term.get('stretched_interval')} s, header said it: {said}"
            if stretched else "not stretched", met)
    return out


# ---------------------------------------------------------------------- formatting

def _f(v: Any, digits: int = 0, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float | int):
        return f"{v:,.{digits}f}{unit}"
    return str(v)


def _mp(d: Any, digits: int = 0) -> str:
    """``median / p95`` of a summary dict."""
    if not isinstance(d, dict) or d.get("median") is None:
        return "-"
    return f"{d['median']:.{digits}f} / {d['p95']:.{digits}f}"


def _label(size: str) -> str:
    n = int(size.rstrip("c"))
    return f"{n:,}" + (" +checks" if size.endswith("c") else "")


ROWS: list[tuple[str, Any]] = [
    ("refresh cycle CPU ms (headless, med/p95)",
     lambda r: _mp(_get(r, "inprocess", "idle", "cycle", "cpu_ms"))),
    ("  socket fetch wall ms", lambda r: _mp(_get(r, "inprocess", "idle", "socket", "wall_ms"))),
    ("  parse CPU ms", lambda r: _mp(_get(r, "inprocess", "idle", "parse", "cpu_ms"))),
    ("  model: events+rates+history CPU ms",
     lambda r: _mp(_get(r, "inprocess", "idle", "model", "cpu_ms"), 1)),
    ("  UI: widget update + paint CPU ms",
     lambda r: _mp(_get(r, "inprocess", "idle", "ui", "cpu_ms"), 1)),
    ("refresh cycle CPU ms under churn",
     lambda r: _mp(_get(r, "inprocess", "churn", "cycle", "cpu_ms"))),
    ("console CPU % idle (tmux, per-s med/p95)",
     lambda r: _pair(_get(r, "terminal", "idle", "cpu_pct_per_s"),
                     _get(r, "terminal", "idle", "cpu_pct_per_s_p95"))),
    ("console CPU % churn (tmux, per-s med/p95)",
     lambda r: _pair(_get(r, "terminal", "churn", "cpu_pct_per_s"),
                     _get(r, "terminal", "churn", "cpu_pct_per_s_p95"))),
    ("terminal bytes/refresh idle / churn",
     lambda r: f"{_f(_get(r, 'terminal', 'idle', 'bytes_per_refresh'))} / "
               f"{_f(_get(r, 'terminal', 'churn', 'bytes_per_refresh'))}"),
    ("refreshes in window (idle), interval",
     lambda r: f"{_f(_get(r, 'terminal', 'idle', 'refreshes'))}, "
               + (f"stretched to {_get(r, 'terminal', 'idle', 'stretched_interval')} s"
                  if _get(r, "terminal", "idle", "stretched_polls") else "1 s")),
    ("key→screen cursor ms idle (med/p95)",
     lambda r: _mp(_get(r, "inprocess", "idle", "keys", "cursor_ms"), 1)),
    ("key→screen filter ms idle (med/p95)",
     lambda r: _mp(_get(r, "inprocess", "idle", "keys", "filter_ms"), 1)),
    ("key→screen cursor ms churn (med/p95)",
     lambda r: _mp(_get(r, "inprocess", "churn", "keys", "cursor_ms"), 1)),
    ("key→screen filter ms churn (med/p95)",
     lambda r: _mp(_get(r, "inprocess", "churn", "keys", "filter_ms"), 1)),
    ("first data painted s (tmux, median)", lambda r: _f(_get(r, "start", "median_s"), 2)),
    ("  server rows too s (tmux, median)",
     lambda r: _f(_get(r, "start", "servers_median_s"), 2)),
    ("  / one show stat dump (its time)",
     lambda r: "-" if _get(r, "start", "ratio_to_dump") is None else
     f"{_get(r, 'start', 'ratio_to_dump'):.1f}x ({_f(_get(r, 'start', 'dump_median_s'), 2)} s)"),
    ("RSS after 100 → last cycle (growth)", lambda r: _rss(r.get("memory"))),
]


def _pair(a: Any, b: Any) -> str:
    return f"{_f(a, 1)} / {_f(b, 1)}"


def _rss(mem: Any) -> str:
    if not mem:
        return "-"
    rss = mem["rss"]
    keys = list(rss)
    first, last = rss[keys[0]], rss[keys[-1]]
    return (f"{first / 2**20:.0f} → {last / 2**20:.0f} MB after {keys[-1]} "
            f"({mem['growth_pct']:+.1f} %)")


def table(results: dict[str, Any], markdown: bool = False) -> str:
    sizes = list(results.get("sizes", {}))
    head = ["servers"] + [_label(s) for s in sizes]
    body = [[name] + [fn(results["sizes"][s]) for s in sizes] for name, fn in ROWS]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)


def hatop_table(hat: dict[str, Any], markdown: bool = False) -> str:
    head = ["", "console", "hatop", "ratio"]
    body = []
    for window in ("idle", "churn"):
        w = hat[window]
        c, h, r = w["console"], w["hatop"], w["ratio"]
        body.append([f"CPU ms per refresh ({window})", _f(c["cpu_ms_per_refresh"], 1),
                     _f(h["cpu_ms_per_refresh"], 1), _f(r["cpu_ms_per_refresh"], 2, "x")])
        body.append([f"terminal bytes per refresh ({window})", _f(c["bytes_per_refresh"]),
                     _f(h["bytes_per_refresh"]), _f(r["bytes_per_refresh"], 1, "x")])
        body.append([f"CPU % of one core ({window})", _f(c["cpu_pct"], 1), _f(h["cpu_pct"], 1),
                     _f(r["cpu_pct"], 2, "x")])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in [head, *body])


def fleet_title(fl: dict[str, Any]) -> str:
    quick = ", --quick" if fl.get("quick") else ""
    return (f"Fleet: {fl['nodes']} nodes × {fl['servers']:,} servers over SSH (sshd on "
            f"loopback), {fl['interval_s']:g} s interval, 120×40 tmux, "
            f"{fl['cpu']['rounds']} A/B rounds of {fl['cpu']['seconds']:g} s, "
            f"{fl['date']}{quick}")


def fleet_table(fl: dict[str, Any], markdown: bool = False) -> str:
    """The fleet console against ten hatops (CPU), and key→screen on the merged table."""
    cpu = fl["cpu"]
    cn, cm, h = cpu["console_nodes"], cpu["console_merged"], cpu["hatops"]
    rounds = cpu["per_round"]

    def per_round(key: str) -> str:
        return ", ".join(_f(r[key], 1) for r in rounds)

    head = ["", "console, nodes view", "console, merged view", f"{fl['nodes']} hatops"]
    body = [
        ["CPU % of one core (median of rounds)", _f(cn["cpu_pct"], 1), _f(cm["cpu_pct"], 1),
         _f(h["cpu_pct"], 1)],
        ["  per round", per_round("console_nodes_pct"), per_round("console_merged_pct"),
         per_round("hatops_pct")],
        ["  of which ssh ControlMasters", _f(cn["cpu_pct_children"], 1),
         _f(cm["cpu_pct_children"], 1), "-"],
        ["CPU % per second, median / p95", _pair(cn["cpu_pct_per_s"], cn["cpu_pct_per_s_p95"]),
         _pair(cm["cpu_pct_per_s"], cm["cpu_pct_per_s_p95"]),
         _pair(h["cpu_pct_per_s"], h["cpu_pct_per_s_p95"])],
        ["ratio to the hatops together (median of rounds)", _f(cpu["ratio"]["nodes"], 2, "x"),
         _f(cpu["ratio"]["merged"], 2, "x"), "1x"],
        ["refreshes in the window (all nodes)", _f(cn["refreshes"]), _f(cm["refreshes"]),
         _f(h["refreshes"])],
        ["terminal bytes/s", _f(cn["bytes_per_s"]), _f(cm["bytes_per_s"]),
         _f(h["bytes_per_s"])],
        ["sshd, the nodes' side (not counted)", _f(cn["sshd_cpu_pct"], 1),
         _f(cm["sshd_cpu_pct"], 1), "no ssh"],
    ]
    k = fl["keys"]
    keys_head = ["key→screen, cursor (ms)", "median / p95", "keys", "rows"]
    keys_body = [
        [f"fleet, merged table ({fl['nodes']} nodes over SSH)",
         _mp(k["merged"]["cursor_ms"], 1), _f(k["merged"]["cursor_ms"]["n"]),
         _f(k["merged"]["merged_rows"])],
        ["single-node console on node1, same run (the peer)", _mp(k["single"]["cursor_ms"], 1),
         _f(k["single"]["cursor_ms"]["n"]), _f(k["single"]["rows"])],
        ["p95 ratio fleet / single node", _f(k["ratio_p95"], 2, "x"), "", ""],
    ]
    return _grid(head, body, markdown) + "\n\n" + _grid(keys_head, keys_body, markdown)


def _grid(head: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in [head, *body])


def targets_table(items: list[dict[str, Any]], markdown: bool = False) -> str:
    lines = []
    if markdown:
        lines += ["| target | limit | measured | met |", "|---|---|---|---|"]
    for t in items:
        v = t["value"]
        value = _f(v, 2) if isinstance(v, float | int) else (str(v) if v is not None else "-")
        met = {True: "yes", False: "NO", None: "not measured"}[t["met"]]
        if markdown:
            lines.append(f"| {t['target']} | {t['limit']} | {value} | {met} |")
        else:
            lines.append(f"[{met:>12}] {t['target']}: {value} ({t['limit']})")
    return "\n".join(lines)


def machine_line(m: dict[str, Any], haproxy: str) -> str:
    mem = f", {m['memory_bytes'] / 2**30:.0f} GB RAM" if m.get("memory_bytes") else ""
    return (f"{m['cpu_model']}, {m['cores']} cores{mem}; Linux {m['kernel']}; "
            f"Python {m['python']}, Textual {m['textual']}; HAProxy {haproxy}; {m['tmux']}")
