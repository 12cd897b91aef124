"""Run Debian's hatop unchanged, logging each stats update to a file.

Usage: python3 bench/hatop_probe.py LOGFILE [HATOP] -- HATOP-ARGS...

hatop is one script whose entry point is its ``if __name__ == '__main__':`` block. This
wrapper executes the script's definitions, wraps ``SocketData.update_stat`` to append
``poll MONOTONIC`` to LOGFILE after each update, then runs the entry block, so the
benchmark counts hatop's refreshes exactly as it does the console's.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    log_path = sys.argv[1]
    rest = sys.argv[2:]
    script = "/usr/bin/hatop"
    if rest and rest[0] != "--":
        script, rest = rest[0], rest[1:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    with open(script, encoding="utf-8") as f:
        source = f.read()
    marker = "\nif __name__ == '__main__':"
    head, sep, tail = source.partition(marker)
    if not sep:
        raise SystemExit(f"{script}: no main block found")
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    log.write(f"start {time.monotonic():.6f}\n")
    namespace = {"__name__": "__main__", "__file__": script}
    exec(compile(head, script, "exec"), namespace)  # noqa: S102 - the tool under test
    data_class = namespace["SocketData"]
    original = data_class.update_stat

    def update_stat(self: object) -> None:
        original(self)
        log.write(f"poll {time.monotonic():.6f}\n")

    data_class.update_stat = update_stat
    sys.argv = [script, *rest]
    exec(compile("\n" * (head.count("\n") + 1) + sep.lstrip("\n") + tail, script, "exec"),
         namespace)  # noqa: S102


if __name__ == "__main__":
    main()
