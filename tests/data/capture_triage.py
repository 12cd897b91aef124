"""Capture real ``show errors`` and ``show sess`` answers for the triage parser tests.

Usage: python tests/data/capture_triage.py HAPROXY_BINARY OUTDIR

Starts HAProxy (``tests/triage_helpers.py``: a frontend whose server never answers,
another whose server answers an invalid response), sends malformed requests (a space
and an ESC sequence in header names, a NUL in the URI), opens a few long-running
streams, and saves verbatim to OUTDIR: ``show_errors.txt``, ``show_sess.txt``,
``show_sess_older.txt`` (``show sess older 1``, 2.9+), ``show_sess_show_uri.txt``
(``show sess show-uri``, 3.1+; the answer of an older version, an error, is saved
too). Every process it starts is stopped before it exits.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.triage_helpers import cli, open_streams, provoke_errors, start_triage  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, outdir = argv[1], Path(argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        t = start_triage(Path(work), binary)
        try:
            provoke_errors(t)
            open_streams(t, 3)
            time.sleep(1.5)
            open_streams(t, 1, source="127.0.0.5", path="/fresh")
            time.sleep(0.2)
            for name, cmd in (("show_errors", "show errors"), ("show_sess", "show sess"),
                              ("show_sess_older", "show sess older 1"),
                              ("show_sess_show_uri", "show sess show-uri"),
                              ("show_sess_help", "show sess help")):
                (outdir / f"{name}.txt").write_bytes(cli(t.admin, cmd))
        finally:
            t.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
