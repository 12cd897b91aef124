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
from dataclasses import dataclass
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


FLAP_MIN = 4  # state changes of one target, each within FLAP_GAP of the last: a flap
FLAP_GAP = 300.0  # seconds


@dataclass
class Flap:
    """State changes of one target close together, told as one line."""

    target: str
    events: list[Event]

    @property
    def first(self) -> float:
        return self.events[0].time

    @property
    def last(self) -> float:
        return self.events[-1].time

    def describe(self) -> str:
        downs = sum(1 for e in self.events if e.new and e.new.startswith("DOWN"))
        now = self.events[-1].new or "?"
        return (f"{self.target} flapped {len(self.events)}× between {_clock(self.first)} and "
                f"{_clock(self.last)} UTC ({_count(downs, 'time')} DOWN; last: {now})")


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def flaps(events: Sequence[Event]) -> list[Flap]:
    """Runs of at least :data:`FLAP_MIN` state changes of one server, each within
    :data:`FLAP_GAP` seconds of the one before (*events* sorted by time)."""
    runs: dict[str, list[list[Event]]] = {}
    for e in events:
        if e.kind != "status" or not e.name or e.name in ("FRONTEND", "BACKEND"):
            continue
        mine = runs.setdefault(e.target, [])
        if mine and e.time - mine[-1][-1].time <= FLAP_GAP:
            mine[-1].append(e)
        else:
            mine.append([e])
    found = [Flap(t, run) for t, rs in runs.items() for run in rs if len(run) >= FLAP_MIN]
    return sorted(found, key=lambda f: f.first)


def _went_down(events: Sequence[Event], flapping: set[int]) -> list[str]:
    """``be/s at 14:12:03 (back up 14:15:40)`` for each target that went DOWN (flaps
    aside: they have their own line)."""
    out: dict[str, list[float | None]] = {}
    for e in events:
        if e.kind != "status" or id(e) in flapping or not e.target:
            continue
        if e.new and e.new.startswith("DOWN") and e.target not in out:
            out[e.target] = [e.time, None]
        elif e.target in out and e.new and not e.new.startswith("DOWN") \
                and out[e.target][1] is None:
            out[e.target][1] = e.time
    return [f"{_cell(t)} at {_clock(down or 0)}"
            + (f" (back {_clock(up)})" if up is not None else " (still down at the end)")
            for t, (down, up) in out.items()]


def _events_section(events: Sequence[Event], flapped: Sequence[Flap]) -> list[str]:
    out = ["## Events", ""]
    if not events:
        return out + ["No events.", ""]
    folded = {id(e): f for f in flapped for e in f.events}
    rows: list[list[str]] = []
    for e in events:
        flap = folded.get(id(e))
        if flap is not None:
            if e is flap.events[0]:
                rows.append([_cell(utc(e.time)), "✖ error", _cell(flap.target),
                             _cell(flap.describe())])
            continue
        rows.append([_cell(utc(e.time)), f"{SEVERITY_SYMBOLS.get(e.severity, '?')} "
                     f"{e.severity}", _cell(e.target or "—"), _cell(e.message)])
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


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def _backend_rows(mark: Mark, current: Snapshot) -> list[list[str]]:
    """Per backend, what happened since the mark: requests, 4xx, 5xx (and their share),
    connection and response errors, checks that went down."""
    rows: list[tuple[int, list[str]]] = []
    for row in current.rows:
        if row.type != "backend":
            continue
        d = {name: mark.delta(row, name) or 0 for name in MARK_COUNTERS}
        requests = d["req_tot"] or d["stot"]
        if not any(d.values()):
            continue
        rows.append((d["hrsp_5xx"] + d["econ"] + d["eresp"], [
            _cell(row.proxy), str(requests), str(d["hrsp_4xx"]), str(d["hrsp_5xx"]),
            _percent(d["hrsp_5xx"], requests), str(d["econ"]), str(d["eresp"]),
            str(d["chkdown"])]))
    rows.sort(key=lambda item: -item[0])
    return [cells for _, cells in rows]


def _error_rows(mark: Mark, current: Snapshot, limit: int = 10) -> list[list[str]]:
    """Servers with errors since the mark, the most first."""
    found: list[tuple[int, list[str]]] = []
    for row in current.rows:
        if row.type != "server":
            continue
        deltas = [mark.delta(row, name) or 0 for name in _ERROR_COUNTERS]
        if any(deltas):
            found.append((sum(deltas), [_cell(f"{row.proxy}/{row.name}")]
                          + [str(d) for d in deltas]))
    found.sort(key=lambda item: -item[0])
    return [cells for _, cells in found[:limit]]


def _mark_section(mark: Mark, number: int, events: Sequence[Event], now: float,
                  current: Snapshot | None) -> list[str]:
    title = f"## Incident mark {number}" + (f": {visible(mark.label)}" if mark.label else "")
    after = [e for e in events if e.time >= mark.wall_time]
    counts = {s: sum(1 for e in after if e.severity == s) for s in ("error", "warning")}
    out = [title, "", f"- Set at: {utc(mark.wall_time)} UTC "
           f"({format_age(now - mark.wall_time)} before this report)",
           f"- Events since the mark: {len(after)} ({_count(counts['error'], 'error')}, "
           f"{_count(counts['warning'], 'warning')})"]
    if current is not None:
        rows = _backend_rows(mark, current)
        out += ["", f"What changed since the mark ({format_age(current.wall_time - mark.wall_time)}"
                "), per backend:", ""]
        out += _table(("Backend", "Requests", "4xx", "5xx", "5xx share", "Conn. errors",
                       "Resp. errors", "Checks down"), rows) if rows else ["Nothing."]
        servers = _error_rows(mark, current)
        if servers:
            out += ["", "Servers with errors since the mark:", ""]
            out += _table(("Server", "5xx", "Conn. errors", "Resp. errors", "Checks down"),
                          servers)
    else:
        totals = _frontend_totals(mark.snapshot, None)
        if totals:
            out.append("- Frontend counters at the mark (the baseline of every Δ): "
                       + ", ".join(f"{k} {v}" for k, v in totals.items()))
    return out + [""]


def _entry_time(entry: Mapping[str, object]) -> float | None:
    for key in ("ts", "time"):
        value = entry.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _who(entry: Mapping[str, object]) -> str:
    who = str(entry.get("user") or "?")
    origin = entry.get("ssh_origin")
    return _cell(f"{who} from {origin}" if origin else who)


def _what(entry: Mapping[str, object]) -> str:
    command = str(entry.get("command") or "")
    if command.startswith("reload"):
        rollback = "rollback" in command
        version = entry.get("version")
        what = ("rollback to version" if rollback else "apply of version") + \
            (f" {version}" if version is not None else "")
        if entry.get("config"):
            what += f" of {entry['config']}"
        if entry.get("message") and not rollback:
            what += f" — “{entry['message']}”"
        return _cell(f"{what} (reload via {entry.get('via') or '?'})")
    return "`" + _cell(command).replace("`", "'") + "`"


def _result(entry: Mapping[str, object]) -> str:
    error = entry.get("error")
    if error or entry.get("ok") is False:
        return _cell(f"FAILED: {error}" if error else "FAILED")
    if str(entry.get("command") or "").startswith("reload"):
        return "ok"  # the master's answer (Success=1, the startup log) is in the journal
    answer = " ".join(str(entry.get("answer") or "").split())
    return _cell("ok" + (f": {answer[:120]}" if answer else ""))


def _changes(journal: Sequence[Mapping[str, object]]) -> list[tuple[float | None,
                                                                    Mapping[str, object]]]:
    return sorted(((_entry_time(e), e) for e in journal), key=lambda p: p[0] or 0.0)


def _journal_section(journal: Sequence[Mapping[str, object]]) -> list[str]:
    out = ["## Changes sent", ""]
    if not journal:
        return out + ["No changes were sent.", ""]
    rows = ([_cell(utc(ts)) if ts is not None else "?", _who(e), _what(e), _result(e)]
            for ts, e in _changes(journal))
    return out + _table(("Time (UTC)", "Who", "What", "Result"), rows) + [""]


def _changed_line(journal: Sequence[Mapping[str, object]]) -> str:
    """``2 runtime changes by alice, 1 by bob; apply of version 7 by alice``."""
    if not journal:
        return "nothing was changed from haconsole"
    runtime: dict[str, int] = {}
    applies: list[str] = []
    for _, e in _changes(journal):
        who = _who(e)
        if str(e.get("command") or "").startswith("reload"):
            applies.append(f"{_what(e).split(' (reload')[0]} by {who}")
        else:
            runtime[who] = runtime.get(who, 0) + 1
    parts = [", ".join(f"{_count(n, 'runtime change') if i == 0 else n} by {who}"
                       for i, (who, n) in enumerate(runtime.items()))] if runtime else []
    return "; ".join(parts + applies)


def to_markdown(events: Sequence[Event], *, instance: str, version: str,
                mark: Mark | Sequence[Mark] | None = None,
                journal: Sequence[Mapping[str, object]] | None = None,
                current: Snapshot | None = None, dropped: int = 0,
                now: float | None = None, since: float | None = None,
                sections: Sequence[str] = ()) -> str:
    """A postmortem report: a summary (the window, what went down or flapped, who changed
    what), the changes sent as a time / who / what / result table, one section per
    incident mark with what changed per backend, then every event (flaps told once).

    ``mark`` is one incident mark or several. ``journal`` entries are the journal's dicts
    (``ts`` or ``time`` in epoch seconds, ``user``, ``command``, ``answer``, ``error``;
    an apply's ``version``, ``config``, ``message``); only those at or after *since*
    (default: the first event) are told. ``current``, the latest snapshot, gives the
    deltas since each mark. ``dropped`` is how many older events the timeline let go.
    ``sections``: more Markdown lines (the triage's), put before the events.
    """
    now = time.time() if now is None else now
    events = sorted(events, key=lambda e: e.time)
    marks: list[Mark] = [] if mark is None else [mark] if isinstance(mark, Mark) else list(mark)
    instance, version = visible(instance), visible(version)
    start = since if since is not None else (events[0].time if events else None)
    if journal is not None and start is not None:
        journal = [e for e in journal if (_entry_time(e) or start) >= start - 1]
    flapped = flaps(events)
    in_flaps = {id(e) for f in flapped for e in f.events}
    by_severity = {s: sum(1 for e in events if e.severity == s)
                   for s in ("error", "warning", "ok", "info")}
    out = [f"# haconsole timeline: {instance}", "", "## Summary", "",
           f"- Instance: {instance} (HAProxy {version or 'version unknown'})"]
    if events:
        first, last = events[0].time, events[-1].time
        out.append(f"- Window: {utc(first)} → {utc(last)} UTC ({format_age(last - first)});"
                   f" report written {utc(now)} UTC")
    else:
        out.append(f"- Window: no events; report written {utc(now)} UTC")
    down = _went_down(events, in_flaps)
    out.append("- Went down: " + ("; ".join(down) if down else "nothing"))
    for f in flapped:
        out.append(f"- Flapping: {_cell(f.describe())}")
    if journal is not None:
        out.append(f"- Changed: {_changed_line(journal)}")
    out.append(f"- Events: {len(events)} ("
               + ", ".join(_count(n, s) if s in ("error", "warning") else f"{n} {s}"
                           for s, n in by_severity.items()) + ")"
               + (f"; older events not kept: {dropped}" if dropped else ""))
    out.append("")
    if journal is not None:
        out += _journal_section(journal)
    for number, m in enumerate(sorted(marks, key=lambda m: m.wall_time), start=1):
        out += _mark_section(m, number, events, now, current)
    out += list(sections)
    out += _events_section(events, flapped)
    return "\n".join(out).rstrip() + "\n"


def export_name(now: float) -> str:
    """``haconsole-timeline-YYYYmmdd-HHMMSS.md``, the time in UTC."""
    return FILE_PREFIX + datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S") + ".md"


def export_markdown(path_dir: Path, events: Sequence[Event], *, instance: str, version: str,
                    mark: Mark | Sequence[Mark] | None = None,
                    journal: Sequence[Mapping[str, object]] | None = None,
                    current: Snapshot | None = None, dropped: int = 0,
                    now: float | None = None, since: float | None = None,
                    sections: Sequence[str] = ()) -> Path:
    """Write :func:`to_markdown` to ``path_dir/haconsole-timeline-YYYYmmdd-HHMMSS.md``.

    The file appears complete or not at all (a temp file in the same directory, then
    ``os.replace``). An existing report is never overwritten: a second export in the
    same second gets ``-2``, ``-3``… before ``.md``. Raises OSError if the directory
    cannot be created or written. The file is readable by its owner only (it may name
    servers and commands); copy it to share it.
    """
    now = time.time() if now is None else now
    text = to_markdown(events, instance=instance, version=version, mark=mark,
                       journal=journal, current=current, dropped=dropped, now=now,
                       since=since, sections=sections)
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
