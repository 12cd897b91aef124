"""The drill's own files (drill.json, debrief.md, the lab's config edits) are written
atomically and never through a planted link."""

from __future__ import annotations

import json
import os
from pathlib import Path

from console.haproxy.drills.engine import write_json, write_text_atomic


def test_a_link_planted_at_the_old_temp_name_or_at_the_file_is_not_followed(
        tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "drill.json"
    (tmp_path / f".drill.json.{os.getpid()}.tmp").symlink_to(victim)
    write_json(target, {"status": "running"})
    assert json.loads(target.read_text()) == {"status": "running"}
    assert victim.read_text() == "precious\n"
    target.unlink()
    target.symlink_to(victim)  # a link at the file itself is replaced, not written through
    write_text_atomic(target, "debrief\n")
    assert not target.is_symlink() and target.read_text() == "debrief\n"
    assert victim.read_text() == "precious\n"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
