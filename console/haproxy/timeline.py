"""The event timeline: every event of the session, and its export for a postmortem.

:class:`Timeline` keeps the last ``maxlen`` events (state changes, reachability, the
user's notes). :func:`to_markdown` turns events, incident marks and the journal of
changes sent into a Markdown report; :func:`export_markdown` writes it to a file
atomically. Times in the report are UTC, with the date.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from console.haproxy.counters import Mark, format_age
from console.haproxy.events import Event
from console.haproxy.model import Snapshot
from console.haproxy.safe_text import visible

SEVERITY_SYMBOLS = {"error": "✖", "warning": "▲", "ok": "●", "info": "·"}
FILE_PREFIX = "haconsole-timeline-"
# Counters summed over a mark in the report, by HAProxy's names.
MARK_COUNTERS = ("req_tot", "stot", "hrsp_4xx", "hrsp_5xx", "econ", "eresp", "ereq",
                 "chkdown")
_ERROR_COUNTERS = ("hrsp_5xx", "econ", "eresp", "chkdown")
_JOURNAL_FIRST = ("time", "user", "command", "answer")


class Timeline:
    """The last ``maxlen`` events, oldest first. ``dropped`` counts the ones let go."""

    def __init__(self, maxlen: int = 5000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self.dropped = 0

    @property
    def maxlen(self) -> int:
        return self._events.maxlen or 0

    def add(self, event: Event) -> None:
        if len(self._events) == self.maxlen:
            self.dropped += 1
        self._events.append(event)

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def add_note(self, text: str, *, now: float | None = None) -> Event:
        """A note from the user ("rolled back deploy 42"), stamped now."""
        event = Event(time.time() if now is None else now, "note", "info",
                      f"note: {text.strip()}")
        self.add(event)
        return event

    @property
    def events(self) -> list[Event]:
        """The events kept, oldest first (a copy)."""
        return list(self._events)

    def since(self, start: float) -> list[Event]:
        """The events at or after wall-clock time ``start``, oldest first."""
        return [e for e in self._events if e.time >= start]

    def clear(self) -> None:
        self._events.clear()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)


# --------------------------------------------------------------------------- markdown

def utc(ts: float) -> str:
    """``2024-05-01 12:00:03`` for a wall-clock time, in UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: object) -> str:
    """Text safe inside a Markdown table cell (and in a terminal: control characters
    are shown escaped, a line break becomes ``<br>``)."""
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(visible(line.rstrip()) for line in text.strip().split("\n"))


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _events_section(events: Sequence[Event]) -> list[str]:
    out = ["## Events", ""]
    if not events:
        return out + ["No events.", ""]
    rows = ([_cell(utc(e.time)), f"{SEVERITY_SYMBOLS.get(e.severity, '?')} {e.severity}",
             _cell(e.target or "—"), _cell(e.message)] for e in events)
    return out + _table(("Time (UTC)", "Severity", "Target", "Message"), rows) + [""]


def _frontend_totals(snapshot: Snapshot, mark: Mark | None) -> dict[str, int]:
    """Counters summed over the frontends: values, or deltas since ``mark``."""
    totals: dict[str, int] = {}
    for row in snapshot.rows:
        if row.type != "frontend":
            continue
        for name in MARK_COUNTERS:
            v = row.num(name) if mark is None else mark.delta(row, name)
            if v is not None:
                totals[name] = totals.get(name, 0) + v
    return totals


def _error_rows(mark: Mark, current: Snapshot, limit: int = 10) -> list[list[str]]:
    """Backends and servers with errors since the mark, the most first."""
    found: list[tuple[int, list[str]]] = []
    for row in current.rows:
        if row.type not in ("backend", "server"):
            continue
        deltas = [mark.delta(row, name) or 0 for name in _ERROR_COUNTERS]
        if any(deltas):
            target = row.proxy if row.type == "backend" else f"{row.proxy}/{row.name}"
            found.append((sum(deltas), [_cell(target), row.type] + [str(d) for d in deltas]))
    found.sort(key=lambda item: -item[0])
    return [cells for _, cells in found[:limit]]


def _mark_section(mark: Mark, number: int, events: Sequence[Event], now: float,
                  current: Snapshot | None) -> list[str]:
    title = f"## Incident mark {number}" + (f": {visible(mark.label)}" if mark.label else "")
    out = [title, "", f"- Set at: {utc(mark.wall_time)} UTC "
           f"({format_age(now - mark.wall_time)} before this report)"]
    after = [e for e in events if e.time >= mark.wall_time]
    counts = {s: sum(1 for e in after if e.severity == s) for s in ("error", "warning")}
    out.append(f"- Events since the mark: {len(after)} ({_count(counts['error'], 'error')}, "
               f"{_count(counts['warning'], 'warning')})")
    if current is not None:
        totals = _frontend_totals(current, mark)
        if totals:
            out.append("- Frontend counters since the mark: "
                       + ", ".join(f"{k} +{v}" for k, v in totals.items()))
        rows = _error_rows(mark, current)
        if rows:
            out += ["", "Backends and servers with errors since the mark:", ""]
            out += _table(("Target", "Type") + _ERROR_COUNTERS, rows)
    else:
        totals = _frontend_totals(mark.snapshot, None)
        if totals:
            out.append("- Frontend counters at the mark (the baseline of every Δ): "
                       + ", ".join(f"{k} {v}" for k, v in totals.items()))
    if after:
        out += ["", "First events after the mark:", ""]
        out += [f"- {utc(e.time)} {SEVERITY_SYMBOLS.get(e.severity, '?')} {_cell(e.message)}"
                for e in after[:10]]
        if len(after) > 10:
            out.append(f"- … and {len(after) - 10} more (see Events)")
    return out + [""]


def _journal_value(key: str, value: object) -> str:
    if key == "time" and isinstance(value, int | float) and not isinstance(value, bool):
        return utc(float(value))
    if key == "command" and value:
        return "`" + _cell(value).replace("`", "'") + "`"
    return _cell(value)


def _journal_section(journal: Sequence[Mapping[str, object]]) -> list[str]:
    out = ["## Changes sent", ""]
    if not journal:
        return out + ["No changes were sent.", ""]
    keys: list[str] = [k for k in _JOURNAL_FIRST if any(k in j for j in journal)]
    for entry in journal:
        keys += [k for k in entry if k not in keys]
    header = ["time (UTC)" if k == "time" else k for k in keys]
    rows = ([_journal_value(k, entry.get(k)) for k in keys] for entry in journal)
    return out + _table(header, rows) + [""]


def to_markdown(events: Sequence[Event], *, instance: str, version: str,
                mark: Mark | Sequence[Mark] | None = None,
                journal: Sequence[Mapping[str, object]] | None = None,
                current: Snapshot | None = None, dropped: int = 0,
                now: float | None = None) -> str:
    """A postmortem report: title, instance, time range, events, marks, changes sent.

    ``mark`` is one incident mark or several (one section each). ``journal`` entries are
    dicts with at least ``time`` (epoch seconds), ``user``, ``command`` and ``answer``;
    every key present is shown. ``current``, the latest snapshot, adds the counters
    since each mark. ``dropped`` is how many older events the timeline let go.
    """
    now = time.time() if now is None else now
    events = sorted(events, key=lambda e: e.time)
    marks: list[Mark] = [] if mark is None else [mark] if isinstance(mark, Mark) else list(mark)
    instance, version = visible(instance), visible(version)
    out = [f"# haconsole timeline: {instance}", "",
           f"- Instance: {instance}",
           f"- HAProxy version: {version or 'unknown'}",
           f"- Report written: {utc(now)} UTC"]
    if events:
        first, last = events[0].time, events[-1].time
        out.append(f"- Time range: {utc(first)} → {utc(last)} UTC "
                   f"({format_age(last - first)})")
    else:
        out.append("- Time range: no events")
    by_severity = {s: sum(1 for e in events if e.severity == s)
                   for s in ("error", "warning", "ok", "info")}
    out.append(f"- Events: {len(events)} ("
               + ", ".join(_count(n, s) if s in ("error", "warning") else f"{n} {s}"
                           for s, n in by_severity.items()) + ")")
    if dropped:
        out.append(f"- Older events not kept: {dropped}")
    out.append("")
    out += _events_section(events)
    for number, m in enumerate(sorted(marks, key=lambda m: m.wall_time), start=1):
        out += _mark_section(m, number, events, now, current)
    if journal is not None:
        out += _journal_section(journal)
    return "\n".join(out).rstrip() + "\n"


def export_name(now: float) -> str:
    """``haconsole-timeline-YYYYmmdd-HHMMSS.md``, the time in UTC."""
    return FILE_PREFIX + datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S") + ".md"


def export_markdown(path_dir: Path, events: Sequence[Event], *, instance: str, version: str,
                    mark: Mark | Sequence[Mark] | None = None,
                    journal: Sequence[Mapping[str, object]] | None = None,
                    current: Snapshot | None = None, dropped: int = 0,
                    now: float | None = None) -> Path:
    """Write :func:`to_markdown` to ``path_dir/haconsole-timeline-YYYYmmdd-HHMMSS.md``.

    The file appears complete or not at all (a temp file in the same directory, then
    ``os.replace``). An existing report is never overwritten: a second export in the
    same second gets ``-2``, ``-3``… before ``.md``. Raises OSError if the directory
    cannot be created or written. The file is readable by its owner only (it may name
    servers and commands); copy it to share it.
    """
    now = time.time() if now is None else now
    text = to_markdown(events, instance=instance, version=version, mark=mark,
                       journal=journal, current=current, dropped=dropped, now=now)
    path_dir.mkdir(parents=True, exist_ok=True)
    name = export_name(now)
    target = path_dir / name
    n = 2
    while target.exists():
        target = path_dir / f"{name[:-3]}-{n}.md"
        n += 1
    fd, tmp = tempfile.mkstemp(prefix=f".{FILE_PREFIX}", suffix=".tmp", dir=path_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target
