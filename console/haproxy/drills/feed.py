"""What a trainer sees of a running drill: its state, the trainee's actions, the files.

:class:`TrainerFeed` gathers, at each :meth:`~TrainerFeed.poll`, one
:class:`TrainerSnapshot`: the drill's state (``DIR/drill.json`` when the trainer
attached to a drill run elsewhere, or the :class:`~.engine.DrillRun`'s own
``describe()`` when the trainer runs it), every journal entry made on the lab since
the fault (the journal is tailed, read from where the last poll stopped), and how
the lab's config and blocked-clients files differ from what they were at the fault.
It never writes anything: rendering it (a terminal view, text lines) is the caller's.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.haproxy.journal import journal_path
from console.haproxy.recording import JournalTail
from console.haproxy.safe_text import visible
from console.haproxy.statefs import StateError, read_file

from .debrief import on_lab
from .spec import Drill

MAX_STATE = 1 << 20  # drill.json
MAX_FILE = 1 << 20  # a lab file compared
JOURNAL_BACK = 8 << 20  # how far back in the journal the first read starts
MAX_ACTIONS = 500
ENDED = ("solved", "given-up")


def clock(seconds: float | None) -> str:
    """``M:SS`` (``—`` when unknown)."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def owner_alive(pid: Any) -> bool:
    """Whether the process *pid* (a drill's owner, from drill.json) still runs."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    except OSError:
        return False
    return True


def read_state(directory: str | Path) -> dict[str, Any] | None:
    """``DIR/drill.json`` (None when missing or unreadable), read without following a
    link in its place."""
    path = Path(directory) / "drill.json"
    try:
        data = read_file(path, what="the drill's state", owner_only=False, limit=MAX_STATE)
        state = json.loads(data.decode("utf-8", errors="replace")) if data else None
    except (StateError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def running_here(directory: str | Path) -> dict[str, Any] | None:
    """The state of the drill running in *directory* (its owner alive), if any."""
    state = read_state(directory)
    if state and state.get("status") in ("starting", "running") and \
            owner_alive(state.get("owner_pid")):
        return state
    return None


def _text(value: Any) -> str:
    return visible(value if isinstance(value, str) else "" if value is None else str(value))


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True)
class GoalLine:
    """One predicate of the goal: whether it holds, and what was seen."""

    predicate: str
    ok: bool
    observed: str


@dataclass(frozen=True)
class Action:
    """One journaled action on the lab, *at* seconds after the fault."""

    at: float
    via: str
    command: str
    target: str
    ok: bool
    result: str


@dataclass(frozen=True)
class FileChange:
    """How a lab file (``config``, ``acl``) differs from its text at the fault."""

    name: str
    added: int
    removed: int
    since: str  # "the fault", or "the trainer attached" when that text was not known


@dataclass(frozen=True)
class TrainerSnapshot:
    name: str
    title: str
    status: str  # starting, running, solved, given-up; "gone" when its owner stopped
    elapsed: float
    hints_shown: int
    hints_total: int
    goal: tuple[GoalLine, ...]
    held_for: float
    hold: float
    error: str
    debrief: str
    trainee_command: str
    actions: tuple[Action, ...]
    files: tuple[FileChange, ...]
    action_count: int = 0  # actions seen in all (``actions`` keeps the newest ones)
    journal_error: str = ""

    @property
    def ended(self) -> bool:
        return self.status in (*ENDED, "gone")

    @property
    def goal_met(self) -> int:
        return sum(1 for g in self.goal if g.ok)

    def status_key(self) -> tuple[Any, ...]:
        """What a status line says, but the clock: a new line when it changes."""
        return (self.status, self.goal, int(self.held_for), self.hints_shown, self.error)


def trainee_command(state: dict[str, Any]) -> str:
    """The command that opens the console on the drill's lab."""
    words = ["haconsole"]
    for flag, key in (("-s", "admin_socket"), ("-m", "master_socket"), ("-c", "config")):
        if isinstance(state.get(key), str) and state[key]:
            words += [flag, state[key]]
    return visible(shlex.join(words))


def _target(entry: dict[str, Any]) -> str:
    """What an action was on: the config it applied, or the object its command names."""
    config = entry.get("config")
    if isinstance(config, str) and config:
        return f"config {os.path.basename(config)}"
    words = str(entry.get("command") or "").split()
    for word in words:
        if "/" in word.strip("/") and not word.startswith("/"):
            return word
    for i, word in enumerate(words[:-1]):
        if word in ("frontend", "backend", "acl", "map"):
            return words[i + 1]
    return ""


def action_of(entry: dict[str, Any], started: float) -> Action:
    ok = bool(entry.get("ok"))
    return Action(at=float(entry["ts"]) - started, via=_text(entry.get("via")),
                  command=_text(entry.get("command")), target=_text(_target(entry)),
                  ok=ok, result="ok" if ok else f"failed: {_text(entry.get('error'))}")


class _LabTail(JournalTail):
    """The journal's entries on one lab since its fault, the first read going back up to
    :data:`JOURNAL_BACK` bytes (a trainer attaching after the start sees the past)."""

    def __init__(self, path: str, lab_dir: str, started: float) -> None:
        super().__init__(path, "")
        self.offset = max(0, self.offset - JOURNAL_BACK)
        self.lab_dir = lab_dir
        self.started = started

    def wanted(self, entry: dict[str, Any]) -> bool:
        return on_lab(entry, self.lab_dir, self.started)


def _read_lab_file(path: Any) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read(MAX_FILE).decode("utf-8", errors="replace")
    except OSError:
        return None


def _count(before: str, after: str) -> tuple[int, int]:
    added = removed = 0
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0,
                                     lineterm=""):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


class TrainerFeed:
    """Polls a drill's state, the journal and the lab's files into snapshots.

    *state* returns the drill's state (``DrillRun.describe()`` or drill.json's
    contents; None when unreadable); *baseline* is the files' text at the fault when
    known (``DrillRun.files_at_start``), else their text at the first poll is used;
    *owned*: the state comes from this process (no owner to check)."""

    FILES = (("config", "config"), ("acl", "acl_file"))

    def __init__(self, drill: Drill, state: Callable[[], dict[str, Any] | None], *,
                 baseline: dict[str, str] | None = None, owned: bool = False,
                 journal: str | Path | None = None) -> None:
        self.drill = drill
        self._state = state
        self.owned = owned
        self.baseline: dict[str, str] | None = dict(baseline) if baseline is not None else None
        self._since = "the fault" if baseline is not None else "the trainer attached"
        self._journal = str(journal) if journal is not None else None
        self._tail: _LabTail | None = None
        self._journal_error = ""
        self.actions: list[Action] = []
        self.action_count = 0
        self._last: dict[str, Any] = {}

    @classmethod
    def attached(cls, drill: Drill, directory: str | Path) -> TrainerFeed:
        """The feed of the drill run by another process in *directory* (read-only)."""
        return cls(drill, lambda: read_state(directory))

    def _read_journal(self, state: dict[str, Any]) -> None:
        started = _num(state.get("started_ts"))
        lab_dir = state.get("lab_dir")
        if started is None or not isinstance(lab_dir, str) or not lab_dir:
            return
        if self._tail is None:
            try:
                path = self._journal or str(journal_path())
            except StateError as exc:
                self._journal_error = visible(f"the journal cannot be read: {exc.what}")
                return
            self._tail = _LabTail(path, lab_dir, started)
        entries = self._tail.read(limit=JOURNAL_BACK) if not self.actions else self._tail.read()
        for entry in entries:
            self.actions.append(action_of(entry, started))
            self.action_count += 1
        del self.actions[:-MAX_ACTIONS]

    def _files(self, state: dict[str, Any]) -> tuple[FileChange, ...]:
        now = {name: _read_lab_file(state.get(key)) for name, key in self.FILES}
        if self.baseline is None:
            self.baseline = {k: v for k, v in now.items() if v is not None}
        out = []
        for name, _key in self.FILES:
            before, after = self.baseline.get(name), now.get(name)
            if before is None or after is None or before == after:
                continue
            out.append(FileChange(name, *_count(before, after), self._since))
        return tuple(out)

    def poll(self) -> TrainerSnapshot:
        state = self._state()
        status = None
        if state is None:
            state = self._last  # a drill.json being replaced, or gone: the last one seen
            status = "gone" if not state else None
        else:
            self._last = state
        status = status or _text(state.get("status")) or "starting"
        if not self.owned and status not in ENDED and not owner_alive(state.get("owner_pid")):
            status = "gone"
        self._read_journal(state)
        goal = []
        for item in state.get("goal") or []:
            if isinstance(item, dict):
                goal.append(GoalLine(_text(item.get("predicate")), item.get("ok") is True,
                                     _text(item.get("observed"))))
        return TrainerSnapshot(
            name=_text(state.get("name") or self.drill.name),
            title=_text(state.get("title") or self.drill.title),
            status=status, elapsed=_num(state.get("elapsed")) or 0.0,
            hints_shown=int(_num(state.get("hints_shown")) or 0),
            hints_total=int(_num(state.get("hints_total")) or len(self.drill.hints)),
            goal=tuple(goal), held_for=_num(state.get("held_for")) or 0.0,
            hold=_num(state.get("hold")) or self.drill.goal.hold,
            error=_text(state.get("error")), debrief=_text(state.get("debrief")),
            trainee_command=trainee_command(state), actions=tuple(self.actions),
            files=self._files(state), action_count=self.action_count,
            journal_error=self._journal_error)


# -- text lines (the trainer without a terminal) ----------------------------------------

def status_line(snap: TrainerSnapshot) -> str:
    goal = "; ".join(f"{'ok' if g.ok else 'NOT'} {g.predicate} (seen {g.observed or '?'})"
                     for g in snap.goal) or "not checked yet"
    line = (f"+{clock(snap.elapsed)} {snap.status}: goal {snap.goal_met}/{len(snap.goal)} "
            f"[{goal}], held {snap.held_for:.0f}/{snap.hold:g} s, hints shown "
            f"{snap.hints_shown}/{snap.hints_total}")
    return line + (f"; error: {snap.error}" if snap.error else "")


def action_line(action: Action) -> str:
    on = f" on {action.target}" if action.target else ""
    return f"+{clock(action.at)} action ({action.via}){on}: {action.command} -> {action.result}"


def file_line(change: FileChange) -> str:
    return (f"file {change.name} changed since {change.since}: +{change.added} "
            f"-{change.removed} lines")


def paragraphs(text: str) -> list[str]:
    """*text*'s paragraphs, each on one line (a drill's texts are wrapped by hand)."""
    out: list[str] = []
    for block in text.strip().split("\n\n"):
        line = " ".join(part.strip() for part in block.splitlines() if part.strip())
        if line:
            out.append(line)
    return out


def briefing(drill: Drill) -> list[str]:
    """The trainer's notes: the page to read out (as written), the fault and what an
    expert would do (a line per paragraph)."""
    out = [f"drill {drill.name}: {drill.title}", "page (read it to the trainee):"]
    out += [f"  > {line}" for line in drill.page.strip().splitlines()]
    out += ["the fault:"] + [f"  {p}" for p in paragraphs(drill.fault_text) or
                             ["(not described)"]]
    out += ["what an expert would do:"] + [f"  {p}" for p in paragraphs(drill.expert) or
                                           ["(not described)"]]
    return [visible(line) for line in out]
