"""The live list of the apply pipeline's steps, and what its result means.

Each step shows as it ends: ``✓`` ok, ``✖`` failed, ``▲`` warning, ``–`` skipped,
with its detail lines; the step expected next shows ``… running``. Symbols carry
the meaning, colours only help. After the run, :func:`outcome_text` says what
happened: HAProxy's ``[ALERT]`` lines on the candidate's lines after a failed
check, the startup-log lines that explain a rollback.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.haproxy.lines import split_lf
from console.haproxy.safe_text import visible

if TYPE_CHECKING:
    from console.haproxy.apply import ApplyResult, ApplyTarget

STEP_ORDER = ("stale", "lock", "check", "history", "write", "state", "reload", "verify",
              "rollback")
STEP_TITLES = {"stale": "stale check", "lock": "lock", "check": "check", "history": "history",
               "write": "write", "state": "keep state", "reload": "reload", "verify": "verify",
               "rollback": "roll back"}
SYMBOLS = {"ok": "✓", "fail": "✖", "failed": "✖", "warn": "▲", "skip": "–", "running": "…"}
STATUS_CLASS = {"ok": "ok", "fail": "fail", "failed": "fail", "warn": "warn", "skip": "skip",
                "running": "running"}
MAX_DETAIL = 40
_LINE_ERROR = re.compile(r"^line ([0-9]+)(?: \(in [^)]*\))?: (.*)$", re.S)


def check_errors(errors: list[str]) -> list[tuple[int | None, str]]:
    """``(candidate line or None, message)`` for each error of ``haproxy -c``."""
    out: list[tuple[int | None, str]] = []
    for error in errors:
        m = _LINE_ERROR.match(error)
        out.append((int(m[1]), m[2]) if m else (None, error))
    return out


def apply_plan(at: ApplyTarget, no_reload: bool) -> list[str]:
    """The steps an apply will take, in words (for the confirmation)."""
    if no_reload:
        why = "no running HAProxy known" if not at.has_runtime else "not asked"
        reload = f"skipped ({why}): HAProxy keeps its configuration until its next reload"
    else:
        how = at.reload + (f" {at.reload_command}" if at.reload_command else "")
        reload = f"HAProxy ({how}), keeping the runtime server state if it can"
    steps = [
        "1. check   haproxy -c on the candidate; on errors, or if it takes service away "
        "unconfirmed, nothing is written",
        "2. history the live file and the candidate kept as versions",
        "3. write   the file replaced atomically",
        f"4. reload  {reload}",
    ]
    if not no_reload:
        steps += ["5. verify  the new worker answers on its stats sockets, listens, and "
                  "shows the changed servers",
                  "6. on a failure after the write: roll back to the previous file"]
    return steps


def outcome_text(result: ApplyResult, candidate: bytes, *, no_reload: bool,
                 still_staged: bool, styles: dict[str, Style] | None = None) -> Text:
    """What the run ended with, for people (*styles*: ``ok``, ``fail``, ``title``)."""
    style = (styles or {}).get
    text = Text()
    if result.ok and result.outcome == "applied":
        text.append(f"✓ applied: {visible(result.reason)}\n", style=style("ok"))
    elif result.ok:
        why = "no running HAProxy known" if no_reload else "reload not asked"
        text.append(f"✓ written as version {result.version}; HAProxy was not reloaded "
                    f"({why}): it runs its previous configuration until its next reload\n",
                    style=style("ok"))
    elif result.outcome == "nothing":
        text.append(f"· {visible(result.reason)}\n")
    else:
        text.append(f"✖ {result.outcome}: {visible(result.reason)}\n", style=style("fail"))
    check = result.check
    if check is not None and not check.ok:
        lines = split_lf(candidate.decode("utf-8", "replace"))
        text.append("haproxy -c said (lines of the candidate):\n", style=style("title"))
        for number, message in check_errors(check.errors):
            text.append(f"  [ALERT] {f'line {number}' if number else '-'}: {visible(message)}\n",
                        style=style("fail"))
            if number and 0 < number <= len(lines):
                text.append(f"    {number:>5} │ {visible(lines[number - 1].strip())}\n")
    if result.outcome in ("rolled back", "rollback failed"):
        causes = [line for s in result.steps if s.step in ("state", "reload", "verify")
                  and s.status == "fail" for line in s.detail.split("\n")]
        if result.reload is not None:
            causes += [f"startup log: {x}" for x in result.reload.log
                       if f"startup log: {x}" not in causes]
        if causes:
            text.append("Why:\n", style=style("title"))
            for line in causes[:MAX_DETAIL]:
                text.append(f"  {visible(line)}\n")
    if not result.ok and result.outcome != "nothing" and still_staged:
        text.append("The change stays staged: e edits it, a tries again, d discards it.\n")
    return text


class ApplySteps(VerticalScroll):
    """The steps of one apply run (hidden until :meth:`start`)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "apply-steps--ok", "apply-steps--fail", "apply-steps--warn", "apply-steps--skip",
        "apply-steps--running", "apply-steps--title", "apply-steps--detail",
    }
    DEFAULT_CSS = """
    ApplySteps { height: auto; max-height: 45%; display: none;
                 border-top: solid $panel; padding: 0 1; }
    ApplySteps.visible { display: block; }
    ApplySteps > .apply-steps--ok { color: $success; text-style: bold; }
    ApplySteps > .apply-steps--fail { color: $error; text-style: bold; }
    ApplySteps > .apply-steps--warn { color: $warning; }
    ApplySteps > .apply-steps--skip { color: $text-muted; }
    ApplySteps > .apply-steps--running { text-style: bold; }
    ApplySteps > .apply-steps--title { text-style: bold; }
    ApplySteps > .apply-steps--detail { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps: dict[str, tuple[str, str]] = {}
        self.planned: list[str] = []
        self.running = False
        self.outcome: Text | None = None
        self.folded: set[str] = set()  # steps whose detail lines are not shown

    def compose(self) -> ComposeResult:
        yield Static("", markup=False)

    def styles_for(self, *names: str) -> dict[str, Style]:
        return {n: self.get_component_rich_style(f"apply-steps--{n}") for n in names}

    def start(self, no_reload: bool) -> None:
        self.steps, self.outcome, self.running, self.folded = {}, None, True, set()
        self.planned = [s for s in STEP_ORDER if s != "rollback" and not (
            no_reload and s in ("state", "verify"))]
        self.add_class("visible")
        self._draw()

    def step(self, step: str, status: str, detail: str) -> None:
        self.steps[step] = (status, detail)
        self._draw()

    def finish(self, result: ApplyResult, candidate: bytes, *, no_reload: bool,
               still_staged: bool) -> Text:
        self.running = False
        if result.check is not None and not result.check.ok:
            self.folded = {"check"}  # its errors show in the outcome, on the candidate
        self.outcome = outcome_text(result, candidate, no_reload=no_reload,
                                    still_staged=still_staged,
                                    styles=self.styles_for("ok", "fail", "title"))
        self._draw()
        return self.outcome

    def fail(self, message: str) -> None:
        self.running = False
        self.outcome = Text(visible(message), style=self.styles_for("fail")["fail"])
        self._draw()

    def clear(self) -> None:
        self.steps, self.outcome, self.running = {}, None, False
        self.remove_class("visible")

    @property
    def next_step(self) -> str | None:
        """The step expected to be running now."""
        if not self.running:
            return None
        last = max((STEP_ORDER.index(s) for s in self.steps if s in STEP_ORDER), default=-1)
        later = [s for s in self.planned if STEP_ORDER.index(s) > last]
        return later[0] if later else None

    def _draw(self) -> None:
        styles = self.styles_for(*set(STATUS_CLASS.values()), "title", "detail")
        text = Text()
        text.append("Applying…\n" if self.running else "Apply:\n", style=styles["title"])
        for step, (status, detail) in self.steps.items():
            first, *rest = detail.split("\n")
            if step in self.folded:
                rest = []
            text.append(f"{SYMBOLS.get(status, '?')} {STEP_TITLES.get(step, step):<11} ",
                        style=styles.get(STATUS_CLASS.get(status, ""), ""))
            text.append(visible(first) + "\n")
            detail_style = styles["detail"] if status in ("ok", "skip") else ""
            for line in rest[:MAX_DETAIL]:
                text.append(f"{'':14}{visible(line)}\n", style=detail_style)
            if len(rest) > MAX_DETAIL:
                text.append(f"{'':14}… {len(rest) - MAX_DETAIL} more lines\n",
                            style=styles["detail"])
        running = self.next_step
        if running:
            text.append(f"… {STEP_TITLES[running]:<11} running\n", style=styles["running"])
        outcome_at = len(text.plain.splitlines())
        if self.outcome is not None:
            text.append("\n")
            text.append_text(self.outcome)
        self.query_one(Static).update(text)
        if self.running:
            self.call_after_refresh(self.scroll_end, animate=False)
        elif self.outcome is not None:
            self.call_after_refresh(self.scroll_to, y=outcome_at, animate=False)
