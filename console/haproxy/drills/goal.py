"""Whether a drill's goal holds: predicates over ``show stat`` samples and the lab's files.

Metrics come from two samples: the newest, and the newest one at least ``window``
seconds older (the oldest one kept when none is that old yet; with one sample only,
a metric is unknown and its predicate is false):

- ``5xx_rate``: Δhrsp_5xx / Δ(responses: hrsp_1xx..5xx + hrsp_other), 0 without responses;
- ``resp_rate``: Δresponses per second;
- ``req_rate``: Δreq_tot per second (frontends);
- ``denied_rate``: Δdreq per second (requests denied, e.g. by a blocked-clients rule).

A ``master`` predicate reads the newest sample's ``show proc`` on the master CLI
(unknown, so false, when the master did not answer). A file predicate's value has
``@held_port@`` replaced by the port the lab holds (``values``, set by the run).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.model import normalize_status

from .spec import HELD_PORT, Goal, Predicate

Rows = dict[tuple[str, str], dict[str, str]]
RESPONSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
KEEP = 120  # samples kept


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic seconds
    rows: Rows
    master: dict[str, float] = field(default_factory=dict)  # MASTER_FIELDS, when read


def index_rows(rows: list[dict[str, str]]) -> Rows:
    return {(r.get("pxname", ""), r.get("svname", "")): r for r in rows}


def _row(rows: Rows, obj: str) -> dict[str, str] | None:
    if "/" in obj:
        proxy, name = obj.split("/", 1)
        return rows.get((proxy, name))
    return rows.get((obj, "BACKEND")) or rows.get((obj, "FRONTEND"))


def _num(row: dict[str, str], name: str) -> float:
    try:
        return float(row.get(name) or 0)
    except ValueError:
        return 0.0


def _field(row: dict[str, str], name: str) -> Any:
    raw = row.get(name, "")
    if name == "status":
        return normalize_status(raw).kind
    try:
        return float(raw) if raw != "" else None
    except ValueError:
        return raw


def compare(op: str, observed: Any, value: Any) -> bool:
    if observed is None:
        return False
    if op in ("in", "not in"):
        found = any(_same(observed, v) for v in value)
        return found if op == "in" else not found
    if op == "==":
        return _same(observed, value)
    if op == "!=":
        return not _same(observed, value)
    if not isinstance(observed, int | float):
        return False
    return {"<": observed < value, "<=": observed <= value, ">": observed > value,
            ">=": observed >= value}[op]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return str(a).upper() == str(b).upper() if isinstance(b, str) else False


def metric(name: str, old: dict[str, str], new: dict[str, str], seconds: float) -> float:
    def delta(col: str) -> float:
        return max(0.0, _num(new, col) - _num(old, col))  # a reload resets the counters

    responses = sum(delta(c) for c in RESPONSES)
    if name == "5xx_rate":
        return delta("hrsp_5xx") / responses if responses else 0.0
    seconds = max(seconds, 0.001)
    if name == "resp_rate":
        return responses / seconds
    if name == "req_rate":
        return delta("req_tot") / seconds
    return delta("dreq") / seconds  # denied_rate


class GoalWatch:
    """Keeps samples; says which predicates hold now and since when all of them do."""

    def __init__(self, goal: Goal) -> None:
        self.goal = goal
        self.samples: deque[Sample] = deque(maxlen=KEEP)
        self.held_since: float | None = None
        self.last: list[tuple[Predicate, bool, Any]] = []
        self.values: dict[str, str] = {}  # "@held_port@" -> the port, once held

    def file_value(self, pred: Predicate) -> str:
        """A file predicate's value with the lab's placeholders filled in."""
        value = str(pred.value)
        port = self.values.get(HELD_PORT)
        return value.replace(HELD_PORT, port) if port else value

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def _pair(self) -> tuple[Sample, Sample] | None:
        if len(self.samples) < 2:
            return None
        new = self.samples[-1]
        older = [s for s in self.samples if s.at <= new.at - self.goal.window]
        return (older[-1] if older else self.samples[0]), new

    def observe(self, pred: Predicate, files: dict[str, str]) -> Any:
        if pred.file:
            return files.get(pred.file)
        if not self.samples:
            return None
        if pred.master:
            return self.samples[-1].master.get(pred.master)
        if pred.metric:
            pair = self._pair()
            if pair is None:
                return None
            old_row, new_row = _row(pair[0].rows, pred.object), _row(pair[1].rows, pred.object)
            if old_row is None or new_row is None:
                return None
            return round(metric(pred.metric, old_row, new_row, pair[1].at - pair[0].at), 4)
        row = _row(self.samples[-1].rows, pred.object)
        return None if row is None else _field(row, pred.field)

    def check(self, pred: Predicate, files: dict[str, str]) -> tuple[bool, Any]:
        observed = self.observe(pred, files)
        if pred.file:
            if observed is None:
                return False, None
            value = self.file_value(pred)
            if pred.op.endswith("matches"):
                found = re.search(value, observed, re.M) is not None
            else:
                found = value in observed
            return (found if not pred.op.startswith("not") else not found), (
                "found" if found else "not found")
        return compare(pred.op, observed, pred.value), observed

    def evaluate(self, now: float, files: dict[str, str]) -> bool:
        """Whether every predicate has held for ``hold`` seconds at *now*."""
        self.last = [(p, *self.check(p, files)) for p in self.goal.all]
        if all(ok for _, ok, _ in self.last):
            if self.held_since is None:
                self.held_since = now
            return now - self.held_since >= self.goal.hold
        self.held_since = None
        return False

    def progress(self) -> list[dict[str, Any]]:
        return [{"predicate": p.describe(), "ok": ok, "observed": observed}
                for p, ok, observed in self.last]
