"""Log throughput: a real HAProxy logging every request to a ring while ``wrk`` drives
it, the console following the ring; then the offline summary side by side with halog.

Usage: python bench/logs_live.py [--seconds 20] [--connections 50] [--runs 3]
                                 [--lines 1000000] [--binary PATH] [--out DIR]

Live (one HAProxy, one thread): a frontend that answers every request itself
(``http-request return status 200``) with ``option httplog``, logging to a ring
(``format rfc5424``) big enough to hold the whole run, so that HAProxy drops nothing
whatever the reader does. ``wrk -t1 -c50 -d20s`` drives it (under ``nice -n 10``: on a
two-core machine the load generator would otherwise take the console's CPU).
Meanwhile, in this process, the console's headless app (``App.run_test``) has the Logs
screen open on that ring: the real follower (``show events RING -w``), parser and table.
Measured:

* requests/s served (wrk's count and HAProxy's ``CumReq``);
* lines the screen received against requests HAProxy logged, once the ring is drained:
  lost = logged − received (the ring kept them all: its drop counter is read too);
* this process's CPU (the console: follower, parser, table, paint) from /proc, in % of
  one core, over the wrk window;
* key press → screen update while following (``d``, the detail pane, at random
  moments), median and p95;
* the ring's backlog when wrk stops (how far behind the console was) and how long it
  took to catch up.

Offline: the same lines (as written by the ring, rfc5424) and a larger generated file
(rfc3164, ``bench/logs.py``'s generator), each summarised *runs* times by ``halog -srv``
and by ``haconsole logs summary --by server`` (in process), alternating: medians, p95
and the ratio.

Prints a table and writes ``bench/results/<date>-<host>-logs.json``. The machine's load
average is recorded at the start and end (the measurement is noisy on a shared machine:
compare the ratios of one run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import logs as offline  # noqa: E402
from bench import report  # noqa: E402
from bench.haproxy_env import free_port, haproxy_version, send  # noqa: E402
from bench.stats import p95, summary  # noqa: E402

RING = "bench_logs"
RESULTS = Path(__file__).resolve().parent / "results"
SHARED_BIN = Path(__file__).resolve().parents[2] / "shared" / "haproxy" / "bin"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
HALOG = offline.HALOG
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pick_binary(wanted: str | None) -> str:
    """*wanted*, else the newest HAProxy in ../shared/haproxy/bin, else Debian's."""
    if wanted:
        return wanted
    found = []
    if SHARED_BIN.is_dir():
        for p in SHARED_BIN.iterdir():
            m = re.fullmatch(r"haproxy-([0-9]+)\.([0-9]+)\.([0-9]+)", p.name)
            if m and os.access(p, os.X_OK):
                found.append((tuple(int(x) for x in m.groups()), str(p)))
    if found:
        return max(found)[1]
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


def config(directory: str, port: int, ring_bytes: int) -> str:
    text = f"""global
    stats socket {directory}/admin.sock level admin mode 600
    stats timeout 10m
    nbthread 1
    maxconn 2000
    log ring@{RING} local0 info

ring {RING}
    description "logs_live bench ring"
    format rfc5424
    maxlen 4096
    size {ring_bytes}

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend fe_bench
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string ok
"""
    path = os.path.join(directory, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(text)
    return path


def _wait_socket(path: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"HAProxy exited: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
                               )
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("HAProxy's stats socket did not appear")


def cpu_seconds(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cum_req(sock: str) -> int:
    """HTTP requests the bench frontend received (``req_tot``; ``CumReq`` would count
    the stats socket's commands too)."""
    text = send(sock, "show stat")
    lines = text.splitlines()
    head = lines[0].lstrip("# ").split(",")
    col = head.index("req_tot")
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > col and f[0] == "fe_bench" and f[1] == "FRONTEND":
            return int(f[col] or 0)
    return -1


def ring_dropped(sock: str) -> tuple[int, str]:
    from console.haproxy.logs.ring import parse_sinks

    text = send(sock, "show events")
    for sink in parse_sinks(text):
        if sink.name == RING:
            return sink.dropped, text
    return -1, text


def parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"([0-9]+) requests in ([0-9.]+)(m?s)", text)
    if m:
        out["requests"] = int(m.group(1))
        out["seconds"] = float(m.group(2)) * (0.001 if m.group(3) == "ms" else 1.0)
    m = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    if m:
        out["requests_per_s"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s*([0-9]+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", text)
    out["socket_errors"] = m.group(1).strip() if m else ""
    return out


# ----------------------------------------------------------------------- live

async def follow_under_load(sock: str, port: int, seconds: float, connections: int,
                            presses: int, nice: int = 10, seed: int = 11) -> dict[str, Any]:
    """The headless app with the Logs screen on the ring while wrk runs."""
    from bench import inprocess
    from bench import probe as probe_mod
    from console.haproxy.poller import SocketSource
    from console.haproxy.transport import RuntimeClient
    from console.instance import Target
    from console.ui.app import HAConsoleApp
    from console.ui.screens.logs import LogsScreen

    rng = random.Random(seed)
    probe_mod.install()
    probe = probe_mod.Probe()
    probe.encode = False  # no rendering of frames to count bytes: CPU is measured here
    target = Target(name="bench", socket=sock, interval=1.0)
    app = HAConsoleApp(target, source=SocketSource(RuntimeClient(sock)), level="admin",
                       theme="dark")
    app.settle_gc = True  # as in a terminal (the garbage collector's settings, see app.py)
    out: dict[str, Any] = {}
    probe_mod.activate(probe)
    try:
        async with app.run_test(size=inprocess.SIZE):
            screen = LogsScreen(target, RuntimeClient(sock), ring=RING)
            await app.push_screen(screen)
            original = screen.action_toggle_detail

            def toggle(show: bool | None = None) -> None:
                original(show)
                probe.key_handled_at = time.perf_counter()

            screen.action_toggle_detail = toggle  # type: ignore[method-assign]
            ok = await inprocess._wait(lambda: screen.state == "live", 20.0)
            if not ok:
                raise RuntimeError(f"the logs screen is not following: {screen.status_text}")
            await asyncio.sleep(1.0)
            base_total = screen.total
            base_req = cum_req(sock)
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            wrk = await asyncio.create_subprocess_exec(
                "nice", "-n", str(nice), WRK, "-t1", f"-c{connections}", f"-d{seconds:g}s",
                "--latency", f"http://127.0.0.1:{port}/", stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            lat: list[float] = []
            missed = 0
            deadline = time.perf_counter() + seconds - 1.0
            await asyncio.sleep(1.0)  # wrk up to speed
            # first half: following only (the CPU of following); second half: key
            # presses too (each redraws the whole table: their CPU is apart)
            quiet = max(1.0, seconds / 2 - 1.0)
            total0, cpu_q0, wall_q0 = screen.total, cpu_seconds(), time.perf_counter()
            await asyncio.sleep(quiet)
            cpu_q1, wall_q1 = cpu_seconds(), time.perf_counter()
            quiet_lines = screen.total - total0
            samples: list[tuple[float, int]] = []
            while time.perf_counter() < deadline and len(lat) + missed < presses:
                await asyncio.sleep(rng.uniform(0.1, 0.4))
                samples.append((time.perf_counter(), screen.total))
                got = await inprocess._press(app, probe, "d", timeout=5.0)
                if got is None:
                    missed += 1
                else:
                    lat.append(got * 1000)
            wrk_out = (await wrk.communicate())[0].decode()
            cpu1, wall1 = cpu_seconds(), time.perf_counter()
            served = cum_req(sock) - base_req
            behind = served - (screen.total - base_total)
            # drain: the ring holds what the console has not read yet
            t_drain = time.perf_counter()
            await inprocess._wait(lambda: screen.total - base_total >= served, 120.0, 0.05)
            drain_s = time.perf_counter() - t_drain
            cpu2, wall2 = cpu_seconds(), time.perf_counter()
            await asyncio.sleep(1.0)  # anything late
            received = screen.total - base_total
            dropped, events_text = ring_dropped(sock)
            out = {
                "wrk": parse_wrk(wrk_out),
                "wrk_output": wrk_out[-1500:],
                "served": served,
                "received": received,
                "lost": served - received,
                "ring_dropped": dropped,
                "behind_at_end": behind,
                "drain_s": round(drain_s, 3),
                "cpu_pct_load": round(100 * (cpu_q1 - cpu_q0) / (wall_q1 - wall_q0), 1),
                "cpu_window_s": round(wall_q1 - wall_q0, 2),
                "lines_per_s_in_cpu_window": round(quiet_lines / (wall_q1 - wall_q0)),
                "cpu_pct_with_keys": round(100 * (cpu1 - cpu_q1) / (wall1 - wall_q1), 1),
                "cpu_pct_with_drain": round(100 * (cpu2 - cpu0) / (wall2 - wall0), 1),
                "lines_per_s": round(received / (wall2 - wall0), 1),
                "keys_ms": summary(lat),
                "keys_missed": missed,
                "unparsed": screen.unparsed,
                "events": screen.events,
                "rows_shown": len(screen.shown),
                "status": screen.status_text,
                "state": screen.state,
                "show_events": events_text.strip()[-500:],
                "received_over_time": [(round(t - wall0, 2), n - base_total)
                                       for t, n in samples[::4]],
            }
    finally:
        probe_mod.activate(None)
    return out


def cli_follower(sock: str, port: int, seconds: float, connections: int, nice: int,
                 directory: str) -> dict[str, Any]:
    """``haconsole logs --ring RING --follow`` (the command line: follower, parser, one
    printed line per log line, into a file) in a process of its own while wrk runs:
    its CPU from /proc, the lines it printed against the requests served."""
    out_path = os.path.join(directory, "follow.out")
    repo = str(Path(__file__).resolve().parents[1])
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "console", "-s", sock, "logs", "--ring",
                                 RING, "--follow"], cwd=repo, stdout=out,
                                stderr=subprocess.PIPE)
        try:
            time.sleep(2.0)  # connected, past the start-up imports
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
            base = cum_req(sock)
            cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
            wrk = subprocess.run(["nice", "-n", str(nice), WRK, "-t1", f"-c{connections}",
                                  f"-d{seconds:g}s", f"http://127.0.0.1:{port}/"],
                                 capture_output=True, text=True, check=False)
            cpu1, wall1 = cpu_seconds(proc.pid), time.perf_counter()
            served = cum_req(sock) - base
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with open(out_path, "rb") as f:
                    printed = sum(c.count(b"\n") for c in iter(lambda: f.read(1 << 20), b""))
                if printed >= served:
                    break
                time.sleep(0.2)
            behind_s = round(time.perf_counter() - wall1, 1)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"wrk": parse_wrk(wrk.stdout), "served": served, "printed": printed,
            "lost": served - printed, "caught_up_after_s": behind_s,
            "cpu_pct": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1),
            "lines_per_s": round(served / (wall1 - wall0))}


def live(binary: str, seconds: float, connections: int, presses: int,
         directory: str, keep_lines: Path | None, nice: int = 10) -> dict[str, Any]:
    port = free_port()
    # rfc5424 + httplog: ~200 bytes a line; room for 60k lines/s over the run
    ring_bytes = min(1 << 30, max(64 << 20, int(seconds * 60_000 * 256)))
    cfg = config(directory, port, ring_bytes)
    sock = os.path.join(directory, "admin.sock")
    proc = subprocess.Popen([binary, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_socket(sock, proc)
        result = asyncio.run(follow_under_load(sock, port, seconds, connections, presses,
                                               nice))
        result["ring_bytes"] = ring_bytes
        _log(f"live: haconsole logs --ring {RING} --follow in a process of its own, "
             f"wrk {seconds / 2:g} s")
        result["cli"] = cli_follower(sock, port, seconds / 2, connections, nice, directory)
        if keep_lines is not None:
            # what the ring holds now: the run's lines, for the offline comparison
            with socket.socket(socket.AF_UNIX) as s, open(keep_lines, "wb") as f:
                s.connect(sock)
                s.sendall(f"show events {RING}\n".encode())
                while True:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------- offline

def side_by_side(path: Path, runs: int, lines: int,
                 halog_args: list[str] | None = None) -> dict[str, Any]:
    """halog -srv and haconsole logs summary on *path*, alternating, *runs* times
    (*halog_args*: ``-s 3`` for rfc5424 headers, which have 3 fields more)."""
    times: dict[str, list[float]] = {"halog": [], "haconsole": []}
    reference: dict[str, int] | None = None
    for _ in range(runs):
        for name in times:
            if name == "halog":
                elapsed, counts = offline.time_halog(path, halog_args)
            else:
                elapsed, counts = offline.time_haconsole(path, None)
            if reference is None:
                reference = counts
            if counts != reference:
                raise AssertionError(f"{name} disagrees with halog on {path}")
            times[name].append(elapsed)
    out: dict[str, Any] = {"lines": lines, "bytes": path.stat().st_size, "runs": runs}
    for name, values in times.items():
        rates = [lines / v for v in values]
        out[name] = {"seconds": values, "median_s": statistics.median(values),
                     "p95_s": p95(values), "lines_per_s_median": lines / statistics.median(values),
                     "lines_per_s_worst": min(rates)}
    out["ratio"] = out["haconsole"]["median_s"] / out["halog"]["median_s"]
    return out


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


# ----------------------------------------------------------------------- report

def table(res: dict[str, Any], markdown: bool = False) -> str:
    rows: list[tuple[str, str]] = []
    lv = res.get("live")
    if lv:
        w = lv["wrk"]
        k = lv["keys_ms"]
        rows += [
            ("requests/s (wrk, 1 thread, 50 connections)",
             f"{w.get('requests_per_s', 0):,.0f}"),
            ("lines logged / received by the Logs screen",
             f"{lv['served']:,} / {lv['received']:,}"),
            ("lines lost (ring kept all: dropped by HAProxy)",
             f"{lv['lost']:,} ({lv['ring_dropped']})"),
            ("console CPU while following, % of one core (lines/s then)",
             f"{lv['cpu_pct_load']:.0f} % ({lv.get('lines_per_s_in_cpu_window', 0):,})"),
            ("the same with a key press every 0.1-0.4 s",
             f"{lv.get('cpu_pct_with_keys', 0):.0f} %"),
            ("`haconsole logs --ring --follow` (own process): CPU at lines/s, lost",
             f"{lv['cli']['cpu_pct']:.0f} % at {lv['cli']['lines_per_s']:,}, "
             f"{lv['cli']['lost']:,} lost" if lv.get("cli") else "-"),
            ("behind when wrk stopped / caught up in",
             f"{lv['behind_at_end']:,} lines / {lv['drain_s']:.1f} s"),
            ("key → screen while following, median / p95",
             f"{k['median'] or 0:.0f} / {k['p95'] or 0:.0f} ms (n={k['n']})"),
        ]
    for name in ("ring_file", "generated"):
        o = res.get("offline", {}).get(name)
        if not o:
            continue
        what = "the ring's lines (rfc5424)" if name == "ring_file" else "generated (rfc3164)"
        rows.append((f"offline summary, {what}, {o['lines']:,} lines: halog / haconsole "
                     "lines/s (median)",
                     f"{o['halog']['lines_per_s_median']:,.0f} / "
                     f"{o['haconsole']['lines_per_s_median']:,.0f} "
                     f"(halog {o['ratio']:.0f}× faster; haconsole p95 "
                     f"{o['haconsole']['p95_s']:.2f} s)"))
    if markdown:
        return "\n".join(["| | |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows])
    width = max(len(a) for a, _ in rows) if rows else 0
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def title(res: dict[str, Any]) -> str:
    return (f"Log throughput, {res['date']}, HAProxy {res['haproxy']} "
            f"({res['haproxy_binary']}), load average {res['loadavg_start']} at the start, "
            f"{res.get('loadavg_end', '?')} at the end")


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for the live run (met: True/False, None when not measured)."""
    out: list[dict[str, Any]] = []
    lv = res.get("live")

    def add(name: str, limit: str, value: Any, met: bool | None) -> None:
        out.append({"target": name, "limit": limit, "value": value, "met": met})

    rps = lv["wrk"].get("requests_per_s") if lv else None
    add("logs: requests/s driven (wrk)", ">= 20,000", rps, None if rps is None else rps >= 20000)
    lost = lv["lost"] if lv else None
    add("logs: lines lost that the ring kept", "0", lost, None if lost is None else lost == 0)
    cpu = lv["cpu_pct_load"] if lv else None
    add("logs: console CPU while following, % of a core", "<= 50", cpu,
        None if cpu is None else cpu <= 50)
    key = lv["keys_ms"]["p95"] if lv else None
    add("logs: key → screen p95 while following, ms", "<= 100", key,
        None if key is None else key <= 100)
    for name in ("ring_file", "generated"):
        o = res.get("offline", {}).get(name)
        if o:
            add(f"logs: offline summary time / halog's ({name.replace('_', ' ')})",
                "said", round(o["ratio"], 1), None)
    return out


def targets_table(items: list[dict[str, Any]], markdown: bool = False) -> str:
    return report.targets_table(items, markdown)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--presses", type=int, default=60)
    ap.add_argument("--runs", type=int, default=5, help="offline runs per tool")
    ap.add_argument("--lines", type=int, default=1_000_000,
                    help="lines of the generated file for the offline comparison")
    ap.add_argument("--binary", default=None, help="HAProxy binary")
    ap.add_argument("--wrk-nice", type=int, default=10,
                    help="wrk runs under nice -n N: on a small machine the load generator "
                         "must not take the console's CPU (HAProxy runs at normal priority)")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-offline", action="store_true")
    ap.add_argument("--label", default="")
    ap.add_argument("--note", default="")
    ap.add_argument("--out", default=str(RESULTS))
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    res = run(args)
    res["targets"] = targets(res)
    print(title(res))
    print(table(res))
    print()
    print(targets_table(res["targets"]))
    print("\n--- Markdown ---\n")
    print(table(res, markdown=True))
    print()
    print(targets_table(res["targets"], markdown=True))
    host = res["machine"]["host"]
    name = f"{time.strftime('%Y-%m-%d')}-{host}-logs" + (f"-{args.label}" if args.label else "")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, name + ".json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(f"\nresults: {path}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    binary = pick_binary(args.binary)
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": report.machine(),
        "haproxy": haproxy_version(binary), "haproxy_binary": binary,
        "options": {"seconds": args.seconds, "connections": args.connections,
                    "wrk_threads": 1, "haproxy_threads": 1, "runs": args.runs,
                    "wrk_nice": args.wrk_nice,
                    "lines": args.lines},
        "note": args.note,
        "loadavg_start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    with tempfile.TemporaryDirectory(prefix="logslive-") as tmp:
        ring_file = Path(tmp) / "ring.log"
        if not args.skip_live:
            _log(f"live: {binary} ({res['haproxy']}), wrk -t1 -c{args.connections} "
                 f"-d{args.seconds:g}s, the Logs screen following the ring")
            res["live"] = live(binary, args.seconds, args.connections, args.presses, tmp,
                               ring_file, args.wrk_nice)
            res["loadavg_after_live"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
        res["offline"] = {}
        if ring_file.exists() and ring_file.stat().st_size and not args.skip_offline:
            n = count_lines(ring_file)
            _log(f"offline: the ring's {n:,} lines, {args.runs} runs each")
            res["offline"]["ring_file"] = side_by_side(ring_file, args.runs, n, ["-s", "3"])
        if args.skip_offline:
            return res
        gen = Path(tmp) / "generated.log"
        offline.generate(gen, args.lines)
        _log(f"offline: {args.lines:,} generated lines, {args.runs} runs each")
        res["offline"]["generated"] = side_by_side(gen, args.runs, args.lines)
    res["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return res


if __name__ == "__main__":
    raise SystemExit(main())
