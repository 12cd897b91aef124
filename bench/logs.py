"""Offline log summary throughput, side by side with halog (standalone; ``make bench``'s
logs section, :mod:`bench.logs_live`, uses its generator and timers).

Usage: python bench/logs.py [--lines 1000000] [--runs 3] [--keep FILE]

Writes a log file of ``option httplog`` lines in the rfc3164 shape halog reads (the
shape of the captured real lines in tests/data/captured/logs: 40 servers in 4
backends, 2,000 clients, 500 paths, statuses 200/404/500/503, a few aborts and
timeouts, header captures on a third of the lines), then times on the same file,
*runs* times each, alternating:

* ``halog -srv`` (Debian's /usr/sbin/halog, C);
* ``haconsole logs summary --by server`` in process (parse every line with the
  auto-detected format, group by server, percentiles): the full parse;
* the same with ``--format http`` (one known format, the usual case with ``--config``).

Prints the medians in lines/s and the ratio halog / haconsole. Both outputs are
checked to agree (requests per server) so the numbers compare the same work.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console import cli  # noqa: E402

HALOG = shutil.which("halog") or "/usr/sbin/halog"


def generate(path: Path, n: int, seed: int = 14) -> None:
    rng = random.Random(seed)
    servers = [(f"be_{b}", f"srv{s}") for b in ("web", "api", "static", "auth")
               for s in range(10)]
    paths = [f"/{rng.choice(['api', 'app', 'img', 'login'])}/{i}" for i in range(500)]
    clients = [f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
               for _ in range(2000)]
    with open(path, "w", encoding="ascii") as f:
        base = 1_700_000_000
        for i in range(n):
            be, srv = rng.choice(servers)
            status = rng.choices((200, 404, 500, 503), (90, 6, 2, 2))[0]
            tr = int(rng.expovariate(1 / 40))
            tc = rng.randint(0, 2)
            term = "----"
            if rng.random() < 0.01:
                term, tr, status = "sH--", -1, 504
            elif rng.random() < 0.01:
                term, tc, tr, status = "SC--", -1, -1, 503
            ta = max(tr, 0) + tc + rng.randint(0, 5)
            t = base + i // 2000
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(t))
            head = time.strftime("%b %e %H:%M:%S", time.gmtime(t))
            caps = "{www.example.com} " if i % 3 == 0 else ""
            port = rng.randint(1024, 65535)
            f.write(f"<134>{head} lb1 haproxy[4242]: {rng.choice(clients)}:{port} "
                    f"[{stamp}.{i % 1000:03d}] fe_main {be}/{srv} 0/0/{tc}/{tr}/{ta} {status} "
                    f"{rng.randint(0, 50000)} - - {term} 12/12/3/1/0 0/0 {caps}"
                    f"\"GET {rng.choice(paths)}?id={i % 97} HTTP/1.1\"\n")


def time_halog(path: Path, extra: list[str] | None = None) -> tuple[float, dict[str, int]]:
    """halog -srv on *path* (*extra*: more options, e.g. ``-s 2`` for rfc5424 headers)."""
    with open(path, "rb") as f:
        t0 = time.perf_counter()
        out = subprocess.run([HALOG, "-q", "-srv", *(extra or [])], stdin=f,
                             capture_output=True,
                             check=True).stdout.decode()
        elapsed = time.perf_counter() - t0
    counts = {line.split()[0]: int(line.split()[7]) for line in out.splitlines()[1:]}
    return elapsed, counts


def time_haconsole(path: Path, fmt: str | None) -> tuple[float, dict[str, int]]:
    argv = ["logs", "summary", "--file", str(path), "--by", "server", "--json"]
    if fmt:
        argv += ["--format", fmt]
    buf = io.StringIO()
    t0 = time.perf_counter()
    with redirect_stdout(buf):
        rc = cli.main(argv)
    elapsed = time.perf_counter() - t0
    assert rc == 0
    import json

    counts = {g["key"]: g["requests"] for g in json.loads(buf.getvalue())}
    return elapsed, counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", metavar="FILE", help="write the generated log here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="halogbench-") as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "haproxy.log"
        t0 = time.perf_counter()
        generate(path, args.lines)
        size = os.path.getsize(path)
        print(f"generated {args.lines} lines ({size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s: {path}")
        results: dict[str, list[float]] = {"halog -srv": [], "haconsole (auto format)": [],
                                           "haconsole (--format http)": []}
        reference: dict[str, int] | None = None
        for _ in range(args.runs):
            for name in results:
                if name.startswith("halog"):
                    elapsed, counts = time_halog(path)
                else:
                    elapsed, counts = time_haconsole(path, "http" if "--format" in name
                                                     else None)
                if reference is None:
                    reference = counts
                assert counts == reference, f"{name} disagrees with halog"
                results[name].append(elapsed)
        medians = {name: statistics.median(v) for name, v in results.items()}
        for name, m in medians.items():
            print(f"{name:28s} median {m:7.2f} s  {args.lines / m:12,.0f} lines/s  "
                  f"(runs: {', '.join(f'{x:.2f}' for x in results[name])})")
        halog = medians["halog -srv"]
        for name in list(medians)[1:]:
            print(f"ratio halog/{name}: {medians[name] / halog:.1f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
