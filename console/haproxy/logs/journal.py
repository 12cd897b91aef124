"""journald as a log source: ``journalctl -u UNIT -o cat`` (the messages as written).

The unit name is checked before anything runs (systemd's characters only, never an
option): it is an argument of ``journalctl``, never pasted into a shell.
"""

from __future__ import annotations

import re

from console.haproxy.errors import ValidationError

UNIT_RE = re.compile(r"[A-Za-z0-9@_.:\\-]{1,255}")


def journal_argv(unit: str | None, *, follow: bool) -> list[str]:
    """``journalctl`` for *unit*'s messages as written (``-o cat``); following starts
    with the next message (``-n 0``)."""
    unit = "haproxy" if unit is None else unit
    if not UNIT_RE.fullmatch(unit) or unit.startswith("-"):
        raise ValidationError(f"invalid systemd unit name {unit!r}", "--unit",
                              "e.g. haproxy or haproxy@main.service")
    argv = ["journalctl", "-u", unit, "-o", "cat", "--no-pager"]
    if follow:
        argv += ["-f", "-n", "0"]
    return argv
