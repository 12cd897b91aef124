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
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.haproxy.atomic import write_private
from console.haproxy.errors import HAProxyError, ValidationError
from console.haproxy.lab.control import control as lab_control
from console.haproxy.parsers import ProcInfo, parse_proc, parse_stat
from console.haproxy.transport import RuntimeClient

from .debrief import render_debrief
from .goal import GoalWatch, Sample, index_rows
from .spec import HELD_PORT, Drill, Step

TICK = 1.0
STEP_TIMEOUT = 15.0
RELOAD_WAIT = 20.0
_HELD = re.compile(r"^ok holding 127\.0\.0\.1:([0-9]{1,5})$")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


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
        self.values: dict[str, str] = {}  # placeholders filled by the steps (HELD_PORT)
        self.watch.values = self.values
        steps = drill.setup + drill.fault
        self._needs_master = any(p.master for p in drill.goal.all) or any(
            s.until is not None and s.until.master for s in steps)
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
        except (OSError, HAProxyError) as exc:
            raise StepFailed(f"cannot write drill.json: {getattr(exc, 'strerror', None) or exc}",
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
        master = await self._master_fields() if self._needs_master else {}
        return Sample(time.monotonic(), index_rows(parse_stat(text)), master)

    async def _master_fields(self) -> dict[str, float]:
        """The master predicates' fields from ``show proc`` (none if it does not answer:
        the master re-executes during a reload up to 3.0)."""
        from console.haproxy.lab.process import ask

        try:
            proc = parse_proc(await ask(self.lab["master_socket"], "show proc", 5.0))
        except (OSError, TimeoutError, HAProxyError):
            return {}
        if proc.master is None:
            return {}
        return {"failed_reloads": float(proc.master.failed or 0),
                "old_workers": float(len(proc.draining))}

    async def _run_step(self, step: Step) -> None:
        where = f"{self.drill.path}:{step.line}"
        try:
            if step.kind == "control":
                answer = await self._control(step.command)
                held = _HELD.match(answer)
                if held:
                    self.values[HELD_PORT] = held.group(1)
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
        watch.values = self.values
        while True:
            watch.add(await self.sample())
            ok, observed = watch.check(step.until, self.read_files())
            if ok:
                return
            if time.monotonic() > deadline:
                raise StepFailed(f"{step.until.describe()} did not happen within "
                                 f"{step.seconds:g} s (last seen: {observed!r})", where)
            await asyncio.sleep(0.5)

    def _fill(self, text: str, where: str) -> str:
        if HELD_PORT not in text:
            return text
        if HELD_PORT not in self.values:
            raise StepFailed(f"{HELD_PORT}: the lab holds no port", where,
                             "a control step 'hold' must come before")
        return text.replace(HELD_PORT, self.values[HELD_PORT])

    async def _config(self, step: Step, where: str) -> None:
        """Deploy an edit of the lab's config (exact text, found once) as a colleague
        would with haconsole: saved in the file's history (so ``config history`` and
        ``config rollback`` see it), written atomically, reloaded through the master.

        With ``reload = "fails"`` the reload must fail (the old configuration keeps
        serving, the file on disk is the new one), and the version stays ``written``;
        with ``reload = "none"`` the file is only written (``written``)."""
        from console.haproxy import history_store as hist
        from console.haproxy.staging import unified_diff

        path = Path(self.lab["config"])
        text = path.read_text()
        find, replace = self._fill(step.find, where), self._fill(step.replace, where)
        if text.count(find) != 1:
            raise StepFailed(f"config step: the text {find!r} is in the lab's config "
                             f"{text.count(find)} times, not once", where)
        new = text.replace(find, replace)
        hist.ensure_saved(str(path), text.encode())
        version = hist.save_version(str(path), new.encode(), status="writing",
                                    message=step.message or f"drill {self.drill.name}",
                                    diff=unified_diff(text.encode(), new.encode(),
                                                      f"{path} (before)", str(path)))
        state = await self.client.run("show servers state")
        write_text_atomic(Path(self.lab["server_state_file"]), state)
        write_text_atomic(path, new)
        if step.reload == "none":
            hist.set_status(str(path), version.number, "written")
            return
        ok = await self.reload()
        # "written": in the file, not what HAProxy runs
        hist.set_status(str(path), version.number, "applied" if ok else "written")
        if ok == (step.reload == "succeeds"):
            return
        if ok:
            raise StepFailed("config step: the reload was meant to fail, and it succeeded",
                             where, "the edit must make the reload fail, e.g. a bind on "
                             f"the held port (127.0.0.1:{HELD_PORT})")
        raise StepFailed("the lab's HAProxy refused the new configuration at reload",
                         where, f"read {self.lab.get('log')}")

    async def reload(self) -> bool:
        """``reload`` on the master socket; whether it succeeded (a new worker answers)
        or failed (the master counts a failed reload; the old worker keeps serving).

        The master's reload counter moves once the new configuration is loaded or
        refused; up to 3.0 the master re-executes meanwhile (refused connections)."""
        from console.haproxy.lab.process import ask

        master = self.lab["master_socket"]
        before = await self._proc(master, time.monotonic() + 5.0)
        if before is None or before.master is None:
            raise StepFailed("the lab's master CLI does not answer 'show proc'", str(master),
                             f"read {self.lab.get('log')}")
        try:
            await ask(master, "reload", 10.0)
        except (OSError, TimeoutError):
            pass  # 2.6 closes the connection while it re-executes: followed below
        deadline = time.monotonic() + RELOAD_WAIT
        while time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            now = await self._proc(master, deadline)
            if now is None or now.master is None or now.master.reloads <= before.master.reloads:
                continue
            if now.master.failed:
                return False
            old = {w.pid for w in before.all_workers}
            if any(w.pid not in old for w in now.workers):
                await self.client.run("show info")
                return True
        raise StepFailed("the lab's HAProxy did not reload", str(master),
                         f"read {self.lab.get('log')}")

    @staticmethod
    async def _proc(master: str, deadline: float) -> ProcInfo | None:
        """``show proc`` parsed, retried until *deadline*; None if it never answered."""
        from console.haproxy.lab.process import ask

        while True:
            try:
                text = await ask(master, "show proc", 5.0)
                if text.strip():
                    return parse_proc(text)
            except (OSError, TimeoutError, HAProxyError):
                pass
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.2)

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
    """*text* as the whole of *path*, atomically (:func:`~console.haproxy.atomic.
    write_private`: a new file of an unpredictable name, renamed over; a symlink at
    *path* is replaced, never written through), readable by others as before (0644)."""
    write_private(str(path), text.encode("utf-8"), 0o644, action="write the drill's files")
