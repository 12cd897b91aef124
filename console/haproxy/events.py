"""State-change events: what changed between two snapshots.

Compared on every refresh. A server going DOWN, into MAINT or DRAIN, a check
status change, a backend DOWN, a frontend STOP, a reload (new worker PID),
the instance unreachable or back: each becomes one :class:`Event`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from console.haproxy.model import Row, Snapshot, Status, normalize_status, same_content

SEVERITIES = ("ok", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class Event:
    time: float  # wall clock (time.time())
    kind: str  # status | check | added | removed | reload | unreachable | reachable | note
    severity: str  # one of SEVERITIES
    message: str
    proxy: str | None = None
    name: str | None = None
    old: str | None = None
    new: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def target(self) -> str:
        if self.proxy and self.name and self.name not in ("FRONTEND", "BACKEND"):
            return f"{self.proxy}/{self.name}"
        return self.proxy or ""


def _what(row: Row) -> str:
    if row.type == "server":
        return f"server {row.proxy}/{row.name}"
    if row.type == "listener":
        return f"listener {row.proxy}/{row.name}"
    return f"{row.type} {row.proxy}"


def _severity(status: Status) -> str:
    kind = status.kind
    if kind in ("DOWN", "STOP"):
        return "error"
    if kind in ("MAINT", "DRAIN", "NOLB", "PAUSED", "FULL") or status.check_progress:
        return "warning"
    if kind in ("UP", "OPEN", "NOCHECK"):
        return "ok"
    return "info"


def change_words(old: Status, new: Status) -> tuple[str, str]:
    """``(what happened, severity)`` for a status change, in words a first-time on-call
    reads right: ✖ (error) only for a real DOWN; checks on their way are progress.

    ``DOWN → DOWN ↑1/2`` is "DOWN, recovering 1/2" (warning), ``UP → UP ↓1/3`` "UP,
    failing 1/3" (warning), ``DOWN ↑1/2 → DOWN`` "DOWN again, recovery stopped at 1/2"
    (warning: it never came up), ``UP ↓1/3 → UP`` "UP, checks pass again" (ok).
    """
    going = new.going
    if going == "up" and new.check_progress:
        done, need = new.check_progress
        return f"DOWN, recovering {done}/{need}", "warning"
    if going == "down" and new.check_progress:
        done, need = new.check_progress
        return f"UP, failing {done}/{need}", "warning"
    if old.kind == new.kind == "DOWN" and old.going == "up" and old.check_progress:
        return f"DOWN again, recovery stopped at {old.check_progress[0]}/" \
            f"{old.check_progress[1]}", "warning"
    if old.kind == new.kind == "UP" and old.going == "down":
        return "UP, checks pass again", "ok"
    return f"{old.label} → {new.label}", _severity(new)


def _status_word(status: Status) -> str:
    """The part of a status that counts as a change (not the x/y progress)."""
    going = status.going if status.check_progress else None
    return f"{status.kind}:{going or ''}:{status.via or ''}:{status.agent}"


def diff(prev: Snapshot | None, cur: Snapshot, now: float | None = None) -> list[Event]:
    """Events between *prev* and *cur* (none for the first snapshot)."""
    if prev is None:
        return []
    t = time.time() if now is None else now
    events: list[Event] = []
    if prev.info and cur.info and prev.info.pid and cur.info.pid and \
            prev.info.pid != cur.info.pid:
        events.append(Event(t, "reload", "warning",
                            f"HAProxy reloaded: new worker PID {cur.info.pid} "
                            f"(was {prev.info.pid})", old=str(prev.info.pid),
                            new=str(cur.info.pid)))
    index = prev._index
    merged = cur.merged_from(prev)  # the same keys; the rows not read again: prev's own
    for row in cur.changed_rows(prev):
        old = index.get(row.key)
        if old is not None and same_content(old, row):
            continue  # same content (statuses and checks included): nothing to report
        if old is None:
            if row.type in ("server", "backend", "frontend"):
                events.append(Event(t, "added", "info", f"{_what(row)} appeared "
                                    f"({row.status.label})", row.proxy, row.name,
                                    None, row.status.raw))
            continue
        if old.status.raw != row.status.raw and \
                _status_word(old.status) != _status_word(row.status):
            words, severity = change_words(old.status, row.status)
            msg = f"{_what(row)} {words}"
            if row.type == "server" and row.check_status:
                msg += f" (check {row.check_status})"
            events.append(Event(t, "status", severity, msg, row.proxy, row.name,
                                old.status.raw, row.status.raw))
        elif row.type == "server" and old.check_status != row.check_status and \
                old.check_status and row.check_status:
            bad = not row.check_status.endswith("OK") and row.check_status not in ("INI",)
            events.append(Event(t, "check", "warning" if bad else "info",
                                f"{_what(row)} check {old.check_status} → {row.check_status}",
                                row.proxy, row.name, old.check_status, row.check_status))
    current = cur._index
    for row in () if merged else prev.rows:
        if row.key not in current and row.type in ("server", "backend", "frontend"):
            events.append(Event(t, "removed", "warning", f"{_what(row)} is gone",
                                row.proxy, row.name, row.status.raw, None))
    return events


def initial_events(cur: Snapshot, now: float | None = None) -> list[Event]:
    """What is already wrong when the console first reads the instance."""
    t = time.time() if now is None else now
    out: list[Event] = []
    for row in cur.rows:
        if row.type in ("server", "backend", "frontend") and row.status.problem:
            msg = f"{_what(row)} is {row.status.label}"
            if row.type == "server" and row.check_status:
                msg += f" (check {row.check_status})"
            out.append(Event(t, "status", _severity(row.status), msg + " at start",
                             row.proxy, row.name, None, row.status.raw))
    return out


def connection_event(reachable: bool, where: str, detail: str = "",
                     now: float | None = None) -> Event:
    t = time.time() if now is None else now
    if reachable:
        return Event(t, "reachable", "ok", f"instance reachable again ({where})")
    return Event(t, "unreachable", "error",
                 f"instance unreachable ({where})" + (f": {detail}" if detail else ""))


SUMMARY_AFTER = 3  # more same changes than this in one refresh make one summary line


def summarize(events: list[Event], limit: int = SUMMARY_AFTER) -> list[Event]:
    """The events of one refresh for the events pane: when more than ``limit`` rows make
    the same change (same kind, type, old and new state), one line says how many and
    names the first few, rather than a screenful of lines hiding everything else. The
    timeline (and its export) keeps every event."""
    keys = [_same_change(ev) for ev in events]
    groups: dict[_Change, list[Event]] = {}
    for key, ev in zip(keys, events, strict=True):
        if key is not None:
            groups.setdefault(key, []).append(ev)
    big = {key: evs for key, evs in groups.items() if len(evs) > limit}
    if not big:
        return events
    out: list[Event] = []
    done: set[_Change] = set()
    for key, ev in zip(keys, events, strict=True):
        if key is None or key not in big:
            out.append(ev)
            continue
        if key in done:
            continue
        done.add(key)
        out.append(_summary(big[key], limit))
    return out


_Change = tuple[str, str, str | None, str | None, str]


def _same_change(ev: Event) -> _Change | None:
    """What makes events "the same change" for :func:`summarize` (None: never summed)."""
    if ev.kind in ("status", "check", "added", "removed") and ev.proxy:
        return (ev.kind, _what_of(ev), ev.old, ev.new, ev.severity)
    return None


def _summary(evs: list[Event], limit: int) -> Event:
    first = evs[0]
    what = _what_of(first)
    names = ", ".join(ev.target for ev in evs[:limit])
    if first.kind == "status" and first.old is None:
        change = f"{_label(first.new)} at start"
    elif first.kind == "status":
        change = f"{_label(first.old)} → {_label(first.new)}"
    elif first.kind == "check":
        change = f"check {first.old} → {first.new}"
    elif first.kind == "added":
        change = "appeared"
    else:
        change = "gone"
    return Event(first.time, first.kind, first.severity,
                 f"{len(evs)} {what}s {change}: {names} … (+{len(evs) - limit}; all in the "
                 f"export, x)", old=first.old, new=first.new,
                 extra={"count": str(len(evs)), "what": what})


def _label(raw: str | None) -> str:
    return normalize_status(raw).label if raw else "?"


FOLD_WINDOW = 5.0  # seconds between two changes that count as one storm


def _what_of(ev: Event) -> str:
    return ev.extra.get("what") or ev.message.split(" ", 1)[0]


def fold(last: Event | None, new: Event) -> Event | None:
    """``new`` folded into the events pane's last line when both are the same back-and-
    forth change (A → B, B → A...) close in time: of the same server, or of many servers
    summed up (see :func:`summarize`). A storm of flapping then keeps one line that
    counts, instead of scrolling away what came before it. None: not foldable."""
    if last is None or new.kind not in ("status", "check") or last.kind != new.kind:
        return None
    if new.old is None or new.new is None or last.old is None or last.new is None:
        return None
    latest = float(last.extra.get("latest", last.time))  # the last change folded in
    if {last.old, last.new} != {new.old, new.new} or not 0 <= new.time - latest \
            <= FOLD_WINDOW:
        return None
    many_last = "count" in last.extra or last.extra.get("many") == "1"
    many_new = "count" in new.extra
    if many_last != many_new:
        return None
    what = _what_of(last)
    if what != _what_of(new):
        return None
    if not many_new and (last.proxy, last.name) != (new.proxy, new.name):
        return None
    a, b = last.extra.get("a", last.old), last.extra.get("b", last.new)
    since = float(last.extra.get("since", last.time))
    changes = int(last.extra.get("changes", last.extra.get("count", "1"))) + \
        int(new.extra.get("count", "1"))
    severity = max(last.severity, new.severity, key=_rank)
    if new.kind == "status":
        la, lb = _label(a), _label(b)
    else:
        la, lb = a, b
    when = time.strftime("%H:%M:%S", time.localtime(since))
    most = int(new.extra.get("count", "1"))
    if many_new:
        # (no running count, and of the servers changed by one refresh only the most:
        # the line changes only when a refresh changes more than any before it)
        most = max(most, int(last.extra.get("most", last.extra.get("count", "1"))))
        message = (f"{what}s going {la} ⇄ {lb} since {when}, up to {most} at a time "
                   f"(x exports each change)")
        proxy = name = None
    else:
        message = f"{what} {new.target} flapping {la} ⇄ {lb}: {changes} changes since {when}"
        proxy, name = new.proxy, new.name
    # a storm of many servers keeps its first time: the line does not change at all
    # while it goes on (a terminal over SSH gets nothing for it); one server's line
    # counts its changes, and shows the time of the last
    return Event(since if many_new else new.time, new.kind, severity, message, proxy, name,
                 new.old, new.new,
                 extra={"fold": "1", "many": "1" if many_new else "0", "what": what,
                        "a": a, "b": b, "since": repr(since), "changes": str(changes),
                        "latest": repr(new.time), "most": str(most)})


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
