"""The debrief: what happened during a drill, as Markdown, from the journal and the files.

- time to detect: from the fault to the first journaled action naming an object of
  the drill (its ``[debrief] objects``, by default those of the goal);
- time to mitigate: from the fault to the moment the goal was reached (and held);
- every journaled action on the lab since the fault, with its time;
- runtime changes (journal entries sent over a socket) and file changes (the diff
  of the lab's config and blocked-clients file between the fault and the end).
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

from console.haproxy.errors import HAProxyError
from console.haproxy.journal import JournalError, read_entries
from console.haproxy.safe_text import visible
from console.haproxy.statefs import StateError

from .spec import HELD_PORT

if TYPE_CHECKING:
    from .engine import DrillRun


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def lab_entries(run: DrillRun) -> list[dict[str, Any]]:
    """Journal entries made on this lab since the fault went in."""
    if run.started is None:
        return []
    try:
        entries = read_entries(limit=5000)
    except JournalError:
        return []
    lab_dir = str(run.lab.get("dir") or "")
    return [e for e in entries if on_lab(e, lab_dir, run.started, run.ended_at)]


def on_lab(entry: dict[str, Any], lab_dir: str, started: float,
           ended: float | None = None) -> bool:
    """Whether a journal entry was made on the lab in *lab_dir* (one of its sockets or
    files named) between the fault (*started*) and the end, a second of slack each side."""
    ts = entry.get("ts")
    if not isinstance(ts, int | float) or isinstance(ts, bool) or ts < started - 1:
        return False
    if ended is not None and ts > ended + 1:
        return False
    return bool(lab_dir) and lab_dir in json.dumps(entry)


def _entry_text(entry: dict[str, Any]) -> str:
    """The command, and for a config apply the diff of the version it applied."""
    text = str(entry.get("command") or "")
    config, version = entry.get("config"), entry.get("version")
    if isinstance(config, str) and isinstance(version, int) and not isinstance(version, bool):
        from console.haproxy import history_store as hist

        try:
            text += "\n" + hist.diff_version(config, version)
        except (HAProxyError, StateError, OSError):
            pass
    return text


def _mentions(entry: dict[str, Any], objects: tuple[str, ...]) -> bool:
    text = _entry_text(entry)
    for obj in objects:
        if obj in text or obj.rpartition("/")[2] in text.split():
            return True
        if "/" in obj and obj.rpartition("/")[2] in text:
            return True
    return False


def detected_after(run: DrillRun, entries: list[dict[str, Any]]) -> float | None:
    for entry in entries:
        if _mentions(entry, run.drill.objects) and run.started is not None:
            return float(entry["ts"]) - run.started
    return None


def _diff(name: str, before: str | None, after: str | None) -> list[str]:
    if before is None or after is None or before == after:
        return []
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                      f"{name} (at the fault)", f"{name} (at the end)",
                                      lineterm="", n=1))
    return lines[:200]


def _cell(text: Any) -> str:
    return visible(str(text if text is not None else "")).replace("|", "\\|")[:300]


def render_debrief(run: DrillRun) -> str:
    drill = run.drill
    entries = lab_entries(run)
    detect = detected_after(run, entries)
    mitigate = (run.solved_at - run.started) if run.solved_at and run.started else None
    outcome = "solved" if run.status == "solved" else "given up"
    out = [f"# Drill debrief: {drill.title}", "",
           f"- drill: `{drill.name}` ({drill.path})",
           f"- outcome: **{outcome}** after {_clock(run.elapsed())}",
           f"- HAProxy {run.lab.get('haproxy_version', '?')}, lab in `{run.lab.get('dir')}`",
           f"- time to detect (first action on {', '.join(drill.objects) or 'the goal'}): "
           f"{_clock(detect)}",
           f"- time to mitigate (goal reached and held {drill.goal.hold:g} s): "
           f"{_clock(mitigate)}",
           f"- hints used: {run.hints_shown} of {len(drill.hints)}", "",
           "## The page", "", *[f"> {line}  " for line in drill.page.strip().splitlines()], "",
           "## What the fault was", "", drill.fault_text.strip() or "(not described)", "",
           "Injected with:", "", *[f"- {step.describe()}" for step in drill.fault], "",
           "## The goal", "",
           *[f"- {'✔' if ok else '✘'} {p.describe()} (last seen: {observed})"
             for p, ok, observed in run.watch.last], ""]
    out += ["## Every action (journal)", ""]
    if entries:
        out += ["| time | via | command | result |", "|---|---|---|---|"]
        for entry in entries:
            at = float(entry["ts"]) - (run.started or 0)
            result = "ok" if entry.get("ok") else f"failed: {entry.get('error')}"
            out.append(f"| +{_clock(at)} | {_cell(entry.get('via'))} | "
                       f"`{_cell(entry.get('command'))}` | {_cell(result)} |")
    else:
        out.append("No journaled action on this lab.")
    runtime = [e for e in entries if e.get("via") == "socket" and e.get("ok")]
    out += ["", "## Changed at runtime (lost at the next reload unless also in a file)", ""]
    out += [f"- `{_cell(e.get('command'))}`" for e in runtime] or ["Nothing."]
    out += ["", "## Changed in the files", ""]
    now = run.read_files()
    diffs: list[str] = []
    for name in ("config", "acl"):
        diffs += _diff(name, run.files_at_start.get(name), now.get(name))
    out += ["```diff", *diffs, "```"] if diffs else ["Nothing."]
    out += ["", "## What an experienced engineer would have done", "",
            drill.expert.strip() or "(not described)", ""]
    text = "\n".join(out)
    port = run.values.get(HELD_PORT)
    return text.replace(HELD_PORT, port) if port else text
