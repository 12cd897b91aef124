"""An incident mark kept across a restart of the console, per instance.

``<state dir>/marks/<instance>.json`` holds, for every row, what it had counted since
the mark (``counted``) and its raw value then (``raw``), with the worker's PID. Started
again on the same instance, the console gets its mark back:

* same worker: Δ = ``counted`` + (now − ``raw``), exactly what was shown before;
* another worker (reloaded meanwhile): Δ = ``counted`` + now; what was counted between
  the save and the reload is not known and the events say so.

Saved when the mark is set, after a reload carried it over, and when the console quits;
removed when the mark is cleared. The file is private (0600), written atomically, read
without following a link and refused when it is not the console's (bad JSON, wrong
shape, too big): the console then starts without a mark and says why.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.haproxy.counters import COUNTER_FIELDS, Mark
from console.haproxy.model import Snapshot
from console.haproxy.statefs import StateError, private_dir, read_file, state_dir

WHAT = "the saved incident mark"
MAX_BYTES = 64 << 20


def mark_path(instance: str) -> Path:
    """``marks/<name>-<hash>.json``: a readable name, and a hash so that two names
    differing only in characters not kept in a file name do not share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", instance)[:60] or "instance"
    digest = hashlib.sha256(instance.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return private_dir(state_dir() / "marks", "marks directory", follow=False) / \
        f"{safe}-{digest}.json"


def save(instance: str, mark: Mark, current: Snapshot) -> Path:
    """Write *mark* as it stands at *current* (see the module docstring)."""
    from console.haproxy.atomic import write_private

    rows: dict[str, dict[str, list[int]]] = {}
    for row in current.rows:
        counts: dict[str, list[int]] = {}
        for name in COUNTER_FIELDS:
            raw = row.num(name)
            counted = mark.delta(row, name)
            if raw is not None and counted is not None and (raw or counted):
                counts[name] = [counted, raw]
        if counts:
            rows[f"{row.proxy}/{row.name}"] = counts
    data = {"version": 1, "instance": instance, "wall_time": mark.wall_time,
            "label": mark.label, "pid": current.info.pid if current.info else None,
            "rows": rows}
    path = mark_path(instance)
    write_private(str(path), json.dumps(data, ensure_ascii=True).encode("ascii"),
                  action="save the incident mark")
    return path


def forget(instance: str) -> None:
    try:
        os.unlink(mark_path(instance))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StateError(f"cannot remove {WHAT}: {exc.strerror}", str(mark_path(instance)),
                         "remove it by hand") from None


@dataclass
class Restored:
    mark: Mark
    reloaded: bool  # the worker changed while the console was away


def load(instance: str, current: Snapshot) -> Restored | None:
    """The saved mark of *instance* applied to *current* (None: no mark saved).

    Raises :class:`StateError` when the file is unusable (the caller says so and starts
    without a mark)."""
    path = mark_path(instance)
    data = read_file(path, what=WHAT, limit=MAX_BYTES)
    if data is None:
        return None
    return from_doc(data, instance, current, where=str(path))


def read_doc(instance: str) -> dict[str, Any] | None:
    """The saved mark of *instance* as its JSON object, checked for shape (None: no
    mark saved); :class:`StateError` when the file is unusable."""
    path = mark_path(instance)
    data = read_file(path, what=WHAT, limit=MAX_BYTES)
    if data is None:
        return None
    try:
        doc = json.loads(data)
        _check(doc, instance)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise StateError(f"{WHAT} is not usable ({exc})", str(path),
                         "it was ignored; set a new mark with m") from None
    return doc


def _check(doc: Any, instance: str) -> tuple[float, str, Any, dict[str, Any]]:
    if not isinstance(doc, dict):
        raise ValueError("wrong shape")
    wall_time, label = float(doc["wall_time"]), str(doc.get("label") or "")
    pid, rows = doc.get("pid"), doc["rows"]
    if not isinstance(rows, dict) or doc.get("instance") != instance or \
            not math.isfinite(wall_time):
        raise ValueError("wrong shape")
    return wall_time, label, pid, rows


def from_doc(data: bytes | dict[str, Any], instance: str, current: Snapshot, *,
             where: str = "") -> Restored:
    """A saved mark (the file's bytes, or its JSON object as a recording keeps it)
    applied to *current*; :class:`StateError` when it is not usable."""
    try:
        doc = json.loads(data) if isinstance(data, bytes) else data
        wall_time, label, pid, rows = _check(doc, instance)
        reloaded = bool(current.info and pid is not None and current.info.pid != pid)
        carried: dict[tuple[str, str], dict[str, int]] = {}
        for ref, counts in rows.items():
            proxy, _, name = str(ref).partition("/")
            if not isinstance(counts, dict):
                raise ValueError("wrong shape")
            carried[(proxy, name)] = {
                str(f): _int(v[0]) - (0 if reloaded else _int(v[1]))
                for f, v in counts.items() if f in COUNTER_FIELDS}
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise StateError(f"{WHAT} is not usable ({exc})", where,
                         "it was ignored; set a new mark with m") from None
    mark = Mark(current, wall_time, label)
    for row in current.rows:  # rows the saved mark did not know count from zero now
        carried.setdefault(row.key, {f: -v for f in COUNTER_FIELDS
                                     if (v := row.num(f)) and not reloaded})
    mark.carried.update(carried)
    return Restored(mark, reloaded)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a count: {value!r}")
    return value

