"""Sending a fleet change by wave, its summary, and messages that name the node."""

from __future__ import annotations

import asyncio

import pytest

from console import fleet
from console.haproxy.errors import ValidationError
from console.instance import Target


def _changes(*names: str) -> list[fleet.NodeChange]:
    return [fleet.NodeChange(Target(name=n)) for n in names]


def _sender(failing: set[str], sent: list[str]) -> fleet.SendOne:
    async def send(change: fleet.NodeChange, index: int) -> bool:
        sent.append(change.target.name)
        if change.target.name in failing:
            change.error = "HAProxy refused it"
            return False
        return True

    return send


def test_a_rolling_wave_stops_at_the_first_failure() -> None:
    changes, sent = _changes("lb1", "lb2", "lb3"), []
    stopped = asyncio.run(fleet.send_wave(changes, "rolling", _sender({"lb2"}, sent)))
    assert stopped and sent == ["lb1", "lb2"]
    assert [c.outcome for c in changes] == ["done", "FAILED: HAProxy refused it",
                                            "not attempted"]
    lines = fleet.summary_lines(changes, stopped)
    assert lines[:3] == ["lb1: done", "lb2: FAILED: HAProxy refused it", "lb3: not attempted"]
    assert lines[3] == fleet.ROLLING_STOPPED


def test_a_wave_to_all_goes_on_after_a_failure() -> None:
    changes, sent = _changes("lb1", "lb2", "lb3"), []
    stopped = asyncio.run(fleet.send_wave(changes, "all", _sender({"lb1"}, sent)))
    assert not stopped and sent == ["lb1", "lb2", "lb3"]
    assert [c.ok for c in changes] == [False, True, True]


def test_an_unknown_wave_is_refused() -> None:
    with pytest.raises(ValidationError):
        asyncio.run(fleet.send_wave(_changes("lb1"), "sideways"))


def test_a_message_names_the_path_on_the_node_not_the_local_forward() -> None:
    t = Target(name="lb1", socket="/tmp/haconsole-ssh-x/stats.sock",
               master="/tmp/haconsole-ssh-x/master.sock", ssh="lb1",
               remote_socket="/run/haproxy/admin.sock", remote_master="/run/haproxy/m.sock")
    text = "cannot connect (/tmp/haconsole-ssh-x/stats.sock): is HAProxy running?"
    assert fleet.on_node(t, text) == \
        "cannot connect (lb1:/run/haproxy/admin.sock): is HAProxy running?"
    local = Target(name="lb3", socket="/run/haproxy/admin.sock")
    assert fleet.on_node(local, "x (/run/haproxy/admin.sock)") == "x (/run/haproxy/admin.sock)"


def test_the_config_hash_of_a_local_node_follows_its_file(tmp_path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("global\n")
    t = Target(name="lb3", config=str(cfg), configs=[str(cfg)])
    first = fleet.config_hash(t)
    assert first and len(first) == 12
    cfg.write_text("global\n    maxconn 10\n")
    assert fleet.config_hash(t) not in (None, first)
    assert fleet.config_hash(Target(name="lb1", ssh="lb1", configs=[str(cfg)])) is None
    assert fleet.config_hash(Target(name="x", configs=[str(tmp_path / "nope.cfg")])) is None
