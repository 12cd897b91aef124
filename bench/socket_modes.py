"""Measure one connection per command against one interactive connection.

Usage: python bench/socket_modes.py [HAPROXY_BINARY] [N]

Starts a real HAProxy with 200 servers on loopback, then times N rounds of
`show info` + `show stat` in each mode, alternating A/B so machine noise
hits both equally. Prints medians and p95 in milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from console.haproxy import binaries  # noqa: E402
from console.haproxy.transport import RuntimeClient, wait_for_socket  # noqa: E402


def make_config(directory: str, servers: int) -> str:
    lines = [
        "global",
        f"  stats socket {directory}/admin.sock level admin",
        "  stats timeout 30s",
        "defaults",
        "  mode http",
        "  timeout connect 1s",
        "  timeout client 5s",
        "  timeout server 5s",
    ]
    for b in range(servers // 20):
        lines.append(f"backend be{b}")
        for s in range(20):
            lines.append(f"  server s{s} 127.0.0.1:{10000 + s}")
    path = os.path.join(directory, "haproxy.cfg")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


async def measure(sock: str, rounds: int) -> dict[str, list[float]]:
    per = RuntimeClient(sock)
    inter = RuntimeClient(sock, interactive=True)
    results: dict[str, list[float]] = {"per-command": [], "interactive": []}
    await inter.run("show info")  # open the connection once
    for _ in range(rounds):
        for name, client in (("per-command", per), ("interactive", inter)):
            t0 = time.perf_counter()
            await client.run("show info")
            await client.run("show stat")
            results[name].append((time.perf_counter() - t0) * 1000)
    await inter.close()
    return results


def main() -> int:
    binary = binaries.resolve(sys.argv[1] if len(sys.argv) > 1 else None)
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    with tempfile.TemporaryDirectory() as d:
        cfg = make_config(d, 200)
        proc = subprocess.Popen([binary.path, "-f", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            if not wait_for_socket(f"{d}/admin.sock"):
                print("HAProxy did not start", file=sys.stderr)
                return 1
            res = asyncio.run(measure(f"{d}/admin.sock", rounds))
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{binary.describe()}, 200 servers, {rounds} rounds of show info + show stat")
    for name, vals in res.items():
        vals.sort()
        p95 = vals[int(len(vals) * 0.95) - 1]
        print(f"  {name:12s} median {statistics.median(vals):.3f} ms  p95 {p95:.3f} ms")
    ratio = statistics.median(res["per-command"]) / statistics.median(res["interactive"])
    print(f"  per-command / interactive median ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
