"""The state of one run of the apply pipeline: its steps as they are reported, its
result, and how a step ends it (:class:`Stop`) or sends it to the rollback
(:class:`Failure`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from console.haproxy import history_store as hist
from console.haproxy.apply_guard import Consequence
from console.haproxy.apply_reload import ReloadOutcome
from console.haproxy.apply_steps import ApplyTarget, CheckResult
from console.haproxy.config.cond import CondContext
from console.haproxy.errors import HAProxyError

STEP_TITLES = {"stale": "stale check", "lock": "lock", "check": "check", "history": "history",
               "write": "write", "state": "keep state", "reload": "reload", "verify": "verify",
               "rollback": "roll back"}
OnStep = Callable[[str, str, str], None]


@dataclass
class StepReport:
    step: str
    status: str  # ok | fail | warn | skip
    detail: str  # first line, then detail lines


@dataclass
class ApplyResult:
    ok: bool
    outcome: str  # applied | written | nothing | refused | rolled back | rollback failed
    reason: str = ""
    steps: list[StepReport] = field(default_factory=list)
    version: int | None = None  # the candidate's version number
    previous_version: int | None = None
    check: CheckResult | None = None
    reload: ReloadOutcome | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. a reload the journal missed
    error: HAProxyError | None = None  # what refused it before anything was written
    consequence: Consequence | None = None


class Stop(Exception):
    """Ends the pipeline with a result."""


class Run:
    def __init__(self, config_path: str, target: ApplyTarget, on_step: OnStep | None) -> None:
        self.config = config_path
        self.real = os.path.realpath(config_path)
        self.target = target
        self.on_step = on_step
        self.result = ApplyResult(False, "refused")
        self.no_reload = False
        self.allow_removal: bool | str = False
        self.cond = CondContext()
        self.sockets_before: list[str] = []  # stats sockets that answered before the reload
        self.message = ""  # why the change (kept in the history and the journal)

    def step(self, step: str, status: str, detail: str, lines: list[str] | None = None) -> None:
        text = detail + "".join(f"\n{line}" for line in lines or [])
        self.result.steps.append(StepReport(step, status, text))
        if self.on_step:
            self.on_step(step, status, text)

    def stop(self, step: str, outcome: str, reason: str, lines: list[str] | None = None,
             status: str = "fail") -> Stop:
        self.step(step, status, reason, lines)
        self.result.outcome, self.result.reason = outcome, reason
        self.result.ok = outcome in ("applied", "written")
        return Stop()


class Failure(Exception):
    """A failure after the write: roll back."""


def mark(run: Run, number: int, status: str, **extra: object) -> None:
    """Record a version's status; a history that cannot be written never stops an apply."""
    try:
        hist.set_status(run.config, number, status, **extra)
    except (HAProxyError, OSError, ValueError) as exc:
        run.step("history", "warn", f"version {number} could not be marked {status}: {exc}")
