"""An incident mark kept across restarts of the console: same worker, reloaded worker,
and a saved file that is broken or hostile."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.haproxy import marks
from console.haproxy.counters import Mark
from console.haproxy.model import Snapshot
from console.haproxy.statefs import StateError
from tests.captured_data import stat_snapshot


def _snap(stot: int, pid: int = 5606) -> Snapshot:
    return stat_snapshot({("be_app", "up1"): {"stot": str(stot)}}, t=100.0, pid=pid)


KEY = ("be_app", "up1")


def test_a_mark_comes_back_with_the_same_deltas() -> None:
    mark = Mark(_snap(100), 50.0, "deploy 42")
    now = _snap(130)
    marks.save("edge", mark, now)
    restored = marks.load("edge", _snap(135))
    assert restored is not None and not restored.reloaded
    assert (restored.mark.wall_time, restored.mark.label) == (50.0, "deploy 42")
    assert restored.mark.delta(_snap(135).get(*KEY), "stot") == 35
    assert marks.load("other", now) is None  # per instance


def test_after_a_reload_meanwhile_the_counted_part_is_kept() -> None:
    marks.save("edge", Mark(_snap(100), 50.0), _snap(130))  # 30 counted, then quit
    restored = marks.load("edge", _snap(4, pid=9999))  # reloaded: counts from zero
    assert restored is not None and restored.reloaded
    assert restored.mark.delta(_snap(4, pid=9999).get(*KEY), "stot") == 34


def test_clearing_forgets_and_a_broken_file_is_refused_with_a_reason() -> None:
    marks.save("edge", Mark(_snap(100), 50.0), _snap(100))
    path = marks.mark_path("edge")
    assert path.stat().st_mode & 0o077 == 0
    path.write_text('{"version": 1, "rows": "x"}')
    with pytest.raises(StateError, match="not usable"):
        marks.load("edge", _snap(100))
    path.write_text('{"version": 1, "instance": "edge", "wall_time": 1, "rows": '
                    '{"be_app/up1": {"stot": ["1", 2]}}}')
    with pytest.raises(StateError, match="not usable"):
        marks.load("edge", _snap(100))
    marks.forget("edge")
    marks.forget("edge")  # twice: nothing to remove is fine
    assert marks.load("edge", _snap(100)) is None


def test_a_symlink_in_place_of_the_saved_mark_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("secret")
    path = marks.mark_path("edge")
    path.symlink_to(victim)
    with pytest.raises(StateError):
        marks.load("edge", _snap(100))
    marks.save("edge", Mark(_snap(100), 50.0), _snap(100))  # replaces the link
    assert victim.read_text() == "secret" and not path.is_symlink()


def test_names_that_look_alike_do_not_share_a_file() -> None:
    assert marks.mark_path("lb/1") != marks.mark_path("lb_1")
    assert marks.mark_path("../../etc").parent.name == "marks"
