"""Real HAProxy output captured from 2.6 to 3.4 (see tests/data/captured/README.md)."""

from __future__ import annotations

from pathlib import Path

CAPTURED = Path(__file__).resolve().parent / "data" / "captured"
VERSIONS = ["2.6", "2.8", "3.0", "3.2", "3.4"]


def read(version: str, name: str) -> str:
    return (CAPTURED / version / name).read_text(encoding="utf-8")


def at_least(version: str, minimum: str) -> bool:
    """Whether the captured *version* ("3.2") is *minimum* ("2.8") or later."""
    return tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))


def stat_snapshot(edits: dict[tuple[str, str], dict[str, str]] | None = None, *,
                  version: str = "2.8", t: float = 0.0, pid: int | None = None):
    """The captured ``show info`` + ``show stat`` of *version* as a Snapshot taken at *t*,
    with the fields of *edits* (``{(proxy, name): {field: value}}``) changed and the
    worker's PID set to *pid* (another PID: a reload)."""
    import re

    from console.haproxy.model import ProcessInfo, Snapshot
    from console.haproxy.parsers import parse_info, parse_stat

    rows = parse_stat(read(version, "show_stat.txt"))
    for row in rows:
        row.update((edits or {}).get((row["pxname"], row["svname"]), {}))
    info = read(version, "show_info.txt")
    if pid is not None:
        info = re.sub(r"(?m)^Pid: [0-9]+$", f"Pid: {pid}", info)
    return Snapshot.from_rows(rows, ProcessInfo.from_info(parse_info(info)), taken_at=t,
                              wall_time=t)
