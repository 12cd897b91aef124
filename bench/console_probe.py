"""Run the real console (``python -m console ARGS``) and log each poll to a file.

Usage: python bench/console_probe.py LOGFILE ARGS...

The benchmark starts this in tmux instead of ``python -m console``: the console is
unchanged, except that ``Poller.poll_once`` appends one line per successful poll to
LOGFILE (``monotonic duration interval stretched rows``), so the benchmark can count
refreshes and see the interval stretch. The first line is the process start time, and
``poll_start`` marks when the first poll began (imports and start-up done).

``BENCH_GC=freeze`` (or ``threshold``) in the environment: after the first poll, freeze
the objects of the start-up out of the collector's sight (and raise its thresholds), to
measure what that would give the app. ``BENCH_PLAIN_POLL=1``: a full ``show stat`` at
every poll whatever the size (the console before partial polls of large instances).
"""

from __future__ import annotations

import gc
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main() -> int:
    log_path, args = sys.argv[1], sys.argv[2:]
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    log.write(f"start {time.monotonic():.6f}\n")

    gc_mode = os.environ.get("BENCH_GC", "")
    if os.environ.get("BENCH_PLAIN_POLL"):  # the full poll at every size (as before)
        from console.haproxy import partial_poll

        partial_poll.PARTIAL_FROM_ROWS = 10 ** 12

    from console.cli import main as console_main
    from console.haproxy.poller import Poller

    original = Poller.poll_once

    async def poll_once(self: Poller) -> object:
        if not self.status.polls:
            log.write(f"poll_start {time.monotonic():.6f}\n")
        snap = await original(self)
        if snap is not None and self.status.polls == 1 and gc_mode:
            # experiment (BENCH_GC): what the app would gain by tuning the collector once
            # its start-up objects exist
            gc.collect()
            gc.freeze()
            if gc_mode == "threshold":
                gc.set_threshold(50_000, 20, 20)
        if snap is not None:
            st = self.status
            log.write(f"poll {time.monotonic():.6f} {st.last_duration:.4f} {st.interval:g} "
                      f"{int(st.stretched)} {len(snap.rows)}\n")  # type: ignore[attr-defined]
        return snap

    Poller.poll_once = poll_once  # type: ignore[method-assign]
    return console_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
