"""The rollout record (``config revert``'s memory): corrupt or planted, it never makes
revert act on a wrong version, and it is never written through a symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.fleet_config_cli import Rollout
from console.haproxy.errors import ValidationError


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(d))
    return d


@pytest.mark.parametrize("text", [b"{not json", b"\x00\xff" * 10, b'{"fleet": "prod"}',
                                  b'{"fleet": "prod", "order": 5, "updated": {}}',
                                  b'{"fleet": "prod", "order": [], "updated": [1, 2]}'])
def test_a_corrupt_record_is_one_clear_refusal(state: Path, text: bytes) -> None:
    Path(Rollout.path("prod")).write_bytes(text)
    with pytest.raises(ValidationError, match="rollout record is unreadable") as err:
        Rollout.load("prod")
    assert err.value.where == Rollout.path("prod")
    assert "config rollback N" in (err.value.hint or "")


def test_versions_that_are_not_numbers_are_dropped(state: Path) -> None:
    Path(Rollout.path("prod")).write_text(
        '{"fleet": "prod", "order": ["lb1"], "updated": {"lb1": '
        '{"version": "3; rm -rf /", "previous": true}}}')
    record = Rollout.load("prod")
    assert record is not None
    assert record.updated == {"lb1": {"version": None, "previous": None}}


def test_the_record_replaces_a_planted_symlink(state: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    os.symlink(victim, Rollout.path("prod"))
    r = Rollout("prod", ["lb1"])
    r.updated["lb1"] = {"version": 2, "previous": 1}
    r.save()
    assert victim.read_text() == "keep\n"
    assert not os.path.islink(Rollout.path("prod"))
    assert Rollout.load("prod").updated == {"lb1": {"version": 2, "previous": 1}}  # type: ignore[union-attr]


def test_a_fleet_name_cannot_leave_the_state_directory(state: Path) -> None:
    assert os.path.dirname(Rollout.path("../../etc/passwd")) == str(state)
