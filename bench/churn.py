"""Churn: every second, 5 % of the servers change state between MAINT and READY.

Usage: python bench/churn.py SOCKET BACKENDS [FRACTION]

The servers are cut into windows of ``FRACTION`` of the total. On even ticks one
window goes to MAINT, on the next tick it goes back to READY and the following tick
moves on to the next window. So every second ``FRACTION`` of the servers change state,
at most ``FRACTION`` are in MAINT at a time, and over a minute many different servers
are touched. Commands go through the admin socket, ``;``-joined in batches. Runs until
terminated (SIGTERM); on the way out the window in MAINT is put back to READY.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench.haproxy_env import SERVERS_PER_BACKEND, send  # noqa: E402

BATCH = 150  # commands per connection (one line, well under HAProxy's buffer)


def _apply(sock: str, servers: list[tuple[str, str]], state: str) -> None:
    for i in range(0, len(servers), BATCH):
        line = ";".join(f"set server {b}/{s} state {state}" for b, s in servers[i:i + BATCH])
        send(sock, line)


def run(sock: str, backends: int, fraction: float = 0.05) -> None:
    names = [(f"be{b}", f"s{s}") for b in range(backends) for s in range(SERVERS_PER_BACKEND)]
    size = max(1, int(len(names) * fraction))
    # interleave so that a window spans many backends
    names = names[::7] + [n for i, n in enumerate(names) if i % 7]
    windows = [names[i:i + size] for i in range(0, len(names) - size + 1, size)]
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    tick = 0
    in_maint: list[tuple[str, str]] = []
    next_at = time.monotonic()
    while not stop:
        window = windows[(tick // 2) % len(windows)]
        if tick % 2 == 0:
            _apply(sock, window, "maint")
            in_maint = window
        else:
            _apply(sock, window, "ready")
            in_maint = []
        tick += 1
        next_at += 1.0
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    if in_maint:
        _apply(sock, in_maint, "ready")


@contextmanager
def churning(sock: str, backends: int, fraction: float = 0.05) -> Iterator[None]:
    """Run the churn in a child process (not a thread: it must not share our GIL)."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), sock, str(backends),
                             str(fraction)], stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.05)
