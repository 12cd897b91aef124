"""The trainer's feed: a drill's state, the journal's actions on its lab, the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from console.haproxy import journal
from console.haproxy.drills import BUILTIN_DIR, load
from console.haproxy.drills.feed import (
    TrainerFeed,
    action_line,
    owner_alive,
    running_here,
    status_line,
)

DRILL = load(BUILTIN_DIR / "refused-connections.toml")


def fake_drill_dir(root: Path, **state: Any) -> Path:
    """A drill directory as a running drill leaves it: drill.json, the lab's files."""
    lab = root / "lab"
    lab.mkdir(parents=True, exist_ok=True)
    (lab / "haproxy.cfg").write_text("global\n    maxconn 100\n")
    (lab / "blocked.acl").write_text("")
    data = {"name": "refused-connections", "title": DRILL.title, "status": "running",
            "elapsed": 12.3, "hints_shown": 1, "hints_total": 3, "hold": 5.0, "held_for": 0.0,
            "started_ts": time.time() - 12.3, "owner_pid": os.getpid(), "lab_dir": str(lab),
            "admin_socket": str(lab / "admin.sock"), "master_socket": str(lab / "master.sock"),
            "config": str(lab / "haproxy.cfg"), "acl_file": str(lab / "blocked.acl"),
            "goal": [{"predicate": "be_web/web2 status in [MAINT]", "ok": False,
                      "observed": "DOWN"},
                     {"predicate": "be_web status == 'UP'", "ok": True, "observed": "UP"}]}
    data.update(state)
    (lab / "drill.json").write_text(json.dumps(data))
    return lab


def journal_on(lab: Path, command: str, *, error: str | None = None) -> None:
    target = SimpleNamespace(name=str(lab / "admin.sock"), socket=str(lab / "admin.sock"))
    journal.record(target, command, answer="" if error is None else None, error=error)


def test_attached_feed_reads_state_actions_and_files(tmp_path: Path) -> None:
    lab = fake_drill_dir(tmp_path)
    other = tmp_path / "other-lab"
    journal_on(lab, "set server be_web/web1 state drain")  # before the fault: not shown
    entries = journal.read_entries()
    entries[-1]["ts"] -= 60
    journal.journal_path().write_text("".join(json.dumps(e) + "\n" for e in entries))
    feed = TrainerFeed.attached(DRILL, lab)
    snap = feed.poll()
    assert snap.status == "running" and snap.goal_met == 1 and len(snap.goal) == 2
    assert snap.actions == () and snap.files == ()
    assert snap.trainee_command == (f"haconsole -s {lab}/admin.sock -m {lab}/master.sock "
                                    f"-c {lab}/haproxy.cfg")
    journal_on(lab, "set server be_web/web2 state maint")
    journal_on(other, "set server be_web/web3 state maint")  # another lab: not shown
    journal_on(lab, "set weight be_web/web2 0", error="refused: \x1b[31m")
    (lab / "haproxy.cfg").write_text("global\n    maxconn 200\n    nbthread 2\n")
    snap = feed.poll()
    assert [a.command for a in snap.actions] == ["set server be_web/web2 state maint",
                                                 "set weight be_web/web2 0"]
    assert snap.action_count == 2 and snap.actions[0].target == "be_web/web2"
    assert snap.actions[0].ok and 11 <= snap.actions[0].at <= 20
    assert "\x1b" not in snap.actions[1].result and snap.actions[1].result.startswith("failed")
    assert action_line(snap.actions[0]).endswith(
        "on be_web/web2: set server be_web/web2 state maint -> ok")
    change = snap.files[0]
    assert (change.name, change.added, change.removed) == ("config", 2, 1)
    assert feed.poll().action_count == 2  # nothing read twice
    line = status_line(snap)
    assert line.startswith("+0:12 running: goal 1/2") and "hints shown 1/3" in line


def test_a_trainer_attached_late_sees_the_actions_since_the_fault(tmp_path: Path) -> None:
    lab = fake_drill_dir(tmp_path)
    journal_on(lab, "set server be_web/web2 state maint")
    snap = TrainerFeed.attached(DRILL, lab).poll()
    assert [a.command for a in snap.actions] == ["set server be_web/web2 state maint"]


def test_running_here_needs_a_live_owner(tmp_path: Path) -> None:
    lab = fake_drill_dir(tmp_path)
    assert running_here(lab) is not None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    assert not owner_alive(pid) and not owner_alive(True) and not owner_alive("1")
    fake_drill_dir(tmp_path, owner_pid=pid)
    assert running_here(lab) is None
    assert TrainerFeed.attached(DRILL, lab).poll().status == "gone"
    fake_drill_dir(tmp_path, status="solved")
    assert running_here(lab) is None
    (lab / "drill.json").write_text("[not json")
    assert running_here(lab) is None
    (lab / "drill.json").unlink()
    (lab / "drill.json").symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text(json.dumps({"status": "running",
                                                         "owner_pid": os.getpid()}))
    assert running_here(lab) is None  # never read through a link


def test_hostile_state_values_are_shown_safely(tmp_path: Path) -> None:
    lab = fake_drill_dir(tmp_path, title="\x1b]0;owned\x07", elapsed="soon", hints_shown=True,
                         goal=[{"predicate": "\x1b[2J", "ok": "yes", "observed": ["x"]}, 3])
    snap = TrainerFeed.attached(DRILL, lab).poll()
    assert "\x1b" not in snap.title and snap.elapsed == 0.0 and snap.hints_shown == 0
    assert len(snap.goal) == 1 and not snap.goal[0].ok and "\x1b" not in snap.goal[0].predicate
