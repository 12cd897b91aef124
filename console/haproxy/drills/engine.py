"""Running a drill on a lab: calm it, set it up, inject the fault, watch the goal.

``DrillRun`` is driven by its caller (the headless loop or the console): ``inject()``
once, then ``tick()`` about every second until it returns True (solved) or the
trainee gives up (``finish("given-up")``). ``DIR/drill.json`` is rewritten
atomically at every change; ``finish`` writes ``DIR/debrief.md``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.haproxy.errors import HAProxyError, ValidationError
from console.haproxy.lab.control import control as lab_control
from console.haproxy.parsers import parse_stat
from console.haproxy.transport import RuntimeClient

from .debrief import render_debrief
from .goal import GoalWatch, Sample, index_rows
from .spec import Drill, Step

TICK = 1.0
STEP_TIMEOUT = 15.0
RELOAD_WAIT = 20.0


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


class StepFailed(HAProxyError):
    """A setup or fault step of the drill could not be carried out."""


class DrillRun:
    """One drill on one running lab (its ``lab.json`` contents in *lab*)."""

    def __init__(self, drill: Drill, lab: dict[str, Any], out_dir: Path) -> None:
        self.drill = drill
        self.lab = lab
        self.dir = out_dir
        self.status = "starting"
        self.started: float | None = None  # wall clock, when the fault is in
        self._started_mono = 0.0
        self.solved_at: float | None = None
        self.ended_at: float | None = None
        self.hints_shown = 0
        self.watch = GoalWatch(drill.goal)
        self.files_at_start: dict[str, str] = {}
        self.debrief_path: Path | None = None
        self.error: str | None = None
        self.client = RuntimeClient(str(lab["admin_socket"]), read_timeout=10.0)

    # -- files ------------------------------------------------------------------------

    @property
    def json_path(self) -> Path:
        return self.dir / "drill.json"

    def _file_paths(self) -> dict[str, Path]:
        return {"config": Path(self.lab["config"]), "acl": Path(self.lab["acl_file"])}

    def read_files(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, path in self._file_paths().items():
            try:
                out[name] = path.read_text(errors="replace")[:1 << 20]
            except OSError:
                pass
        return out

    def describe(self) -> dict[str, Any]:
        lab = self.lab
        return {
            "name": self.drill.name,
            "title": self.drill.title,
            "status": self.status,
            "started": _iso(self.started),
            "solved_at": _iso(self.solved_at),
            "ended_at": _iso(self.ended_at),
            "elapsed": round(self.elapsed(), 1),
            "hints_shown": self.hints_shown,
            "hints_total": len(self.drill.hints),
            "goal": self.watch.progress(),
            "hold": self.drill.goal.hold,
            "held_for": round(self.held_for(), 1),
            "started_ts": self.started,
            "owner_pid": os.getpid(),
            "debrief": str(self.debrief_path) if self.debrief_path else None,
            "error": self.error,
            "lab_dir": lab.get("dir"),
            "admin_socket": lab.get("admin_socket"),
            "operator_socket": lab.get("operator_socket"),
            "user_socket": lab.get("user_socket"),
            "master_socket": lab.get("master_socket"),
            "control_socket": lab.get("control_socket"),
            "config": lab.get("config"),
            "acl_file": lab.get("acl_file"),
            "haproxy_version": lab.get("haproxy_version"),
        }

    def publish(self) -> None:
        try:
            write_json(self.json_path, self.describe())
        except OSError as exc:
            raise StepFailed(f"cannot write drill.json: {exc.strerror or exc}",
                             str(self.json_path), "choose another --dir") from None

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        end = self.ended_at or time.time()
        return max(0.0, end - self.started)

    def held_for(self) -> float:
        """How long the whole goal has held so far (its full hold once solved)."""
        if self.status == "solved":
            return self.drill.goal.hold
        if self.status != "running" or self.watch.held_since is None:
            return 0.0
        return max(0.0, time.monotonic() - self.watch.held_since)

    def next_hint(self) -> str | None:
        """Reveal the next hint (None when all are shown)."""
        if self.hints_shown >= len(self.drill.hints):
            return None
        self.hints_shown += 1
        self.publish()
        return self.drill.hints[self.hints_shown - 1]

    # -- steps --------------------------------------------------------------------------

    async def _control(self, command: str) -> str:
        answer = await asyncio.to_thread(lab_control, str(self.lab["dir"]), command)
        if not answer.startswith("ok"):
            raise StepFailed(f"the lab refused {command!r}: {answer}",
                             str(self.lab["control_socket"]))
        return answer

    async def sample(self) -> Sample:
        text = await self.client.run("show stat")
        return Sample(time.monotonic(), index_rows(parse_stat(text)))

    async def _run_step(self, step: Step) -> None:
        where = f"{self.drill.path}:{step.line}"
        try:
            if step.kind == "control":
                await self._control(step.command)
            elif step.kind == "runtime":
                await self.client.run(step.command)
            elif step.kind == "wait":
                await self._wait(step, where)
            else:
                await self._config(step, where)
        except StepFailed:
            raise
        except HAProxyError as exc:
            raise StepFailed(f"drill step failed ({step.describe()}): {exc.what}", where,
                             exc.hint) from None

    async def _wait(self, step: Step, where: str) -> None:
        if step.until is None:
            await asyncio.sleep(step.seconds)
            return
        deadline = time.monotonic() + step.seconds
        watch = GoalWatch(self.drill.goal)
        while True:
            watch.add(await self.sample())
            ok, observed = watch.check(step.until, self.read_files())
            if ok:
                return
            if time.monotonic() > deadline:
                raise StepFailed(f"{step.until.describe()} did not happen within "
                                 f"{step.seconds:g} s (last seen: {observed!r})", where)
            await asyncio.sleep(0.5)

    async def _config(self, step: Step, where: str) -> None:
        """Deploy an edit of the lab's config (exact text, found once) as a colleague
        would with haconsole: saved in the file's history (so ``config history`` and
        ``config rollback`` see it), written atomically, reloaded through the master."""
        from console.haproxy import history_store as hist
        from console.haproxy.staging import unified_diff

        path = Path(self.lab["config"])
        text = path.read_text()
        if text.count(step.find) != 1:
            raise StepFailed(f"config step: the text {step.find!r} is in the lab's config "
                             f"{text.count(step.find)} times, not once", where)
        new = text.replace(step.find, step.replace)
        hist.ensure_saved(str(path), text.encode())
        version = hist.save_version(str(path), new.encode(), status="writing",
                                    message=step.message or f"drill {self.drill.name}",
                                    diff=unified_diff(text.encode(), new.encode(),
                                                      f"{path} (before)", str(path)))
        state = await self.client.run("show servers state")
        write_text_atomic(Path(self.lab["server_state_file"]), state)
        write_text_atomic(path, new)
        await self.reload()
        hist.set_status(str(path), version.number, "applied")

    async def reload(self) -> None:
        """``reload`` on the master socket; wait until a new worker answers."""
        from console.haproxy.lab.process import ask, parse_show_proc

        master = self.lab["master_socket"]
        before = set(parse_show_proc(await ask(master, "show proc", 5.0))["workers"])
        await ask(master, "reload", 10.0)
        deadline = time.monotonic() + RELOAD_WAIT
        while time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            try:
                now = set(parse_show_proc(await ask(master, "show proc", 5.0))["workers"])
                if now and now != before:
                    await self.client.run("show info")
                    return
            except (OSError, TimeoutError, HAProxyError):
                continue
        raise StepFailed("the lab's HAProxy did not reload", str(master),
                         f"read {self.lab.get('log')}")

    async def inject(self) -> None:
        """Calm the lab, run the setup and the fault; the clock starts when it is in."""
        if self.drill.calm:
            listing = await self._control("list")
            for item in listing.split()[1:]:
                key, _, rest = item.partition(":")
                personality, _, running = rest.partition(":")
                if personality != "healthy":
                    await self._control(f"personality {key} healthy")
                if running == "stopped":
                    await self._control(f"start {key}")
        for step in self.drill.setup:
            await self._run_step(step)
        for step in self.drill.fault:
            await self._run_step(step)
        self.files_at_start = self.read_files()  # what the trainee changes, from here
        self.started = time.time()
        self._started_mono = time.monotonic()
        self.status = "running"
        self.publish()

    async def tick(self) -> bool:
        """One sample and check; True once the goal has held for its time."""
        if self.status != "running":
            return self.status == "solved"
        try:
            self.watch.add(await self.sample())
        except HAProxyError as exc:
            self.error = exc.message
            self.watch.held_since = None
            self.publish()
            return False
        self.error = None
        if self.watch.evaluate(time.monotonic(), self.read_files()):
            self.solved_at = time.time()
            self.finish("solved")
            return True
        self.publish()
        return False

    def finish(self, status: str) -> Path:
        """End the drill (``solved`` or ``given-up``): the debrief, drill.json."""
        if self.status in ("solved", "given-up") and self.debrief_path:
            return self.debrief_path
        if status not in ("solved", "given-up"):
            raise ValidationError(f"unknown drill outcome {status!r}")
        self.status = status
        self.ended_at = time.time()
        path = self.dir / "debrief.md"
        text = render_debrief(self)
        write_text_atomic(path, text)
        self.debrief_path = path
        self.publish()
        return path


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
