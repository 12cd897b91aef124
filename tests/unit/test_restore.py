"""Restoring a server or frontend to its state before a journal entry: the changes
derived from recorded entries (no HAProxy needed)."""

from __future__ import annotations

from typing import Any

import pytest

from console.haproxy.actions import preview_commands
from console.haproxy.actions.restore import NoRestore, Restore, restore_actions

SERVER_BEFORE = {"status": "UP", "admin_state": "maint", "op_state": "running", "weight": 10,
                 "configured_weight": 10, "maxconn": 50, "addr": "10.0.0.5", "port": 8080,
                 "check": "enabled", "agent": "none", "agent_down": False}


def entry(command: str, before: Any = SERVER_BEFORE) -> dict[str, Any]:
    return {"time": "2025-03-01T10:00:00+0000", "command": command, "before": before}


def commands(r: Restore) -> list[str]:
    return [c for a in r.actions for c in preview_commands(a)]


def test_restore_every_value_without_the_current_state() -> None:
    r = restore_actions(entry("set server be_app/s1 weight 0"))
    assert commands(r) == ["set maxconn server be_app/s1 50", "set server be_app/s1 weight 10",
                           "set server be_app/s1 state maint"]
    assert r.kinds == {"server_maxconn", "weight", "server_state"}
    assert [a.targets for a in r.actions] == [(("be_app", "s1"),)] * 3


def test_restore_only_what_differs_and_the_aspect_of_the_command() -> None:
    now = dict(SERVER_BEFORE, addr="10.0.0.9", check="disabled", weight=0)
    assert commands(restore_actions(entry("set server be_app/s1 addr 10.0.0.9"), now)) == [
        "set server be_app/s1 addr 10.0.0.5 port 8080", "set server be_app/s1 weight 10"]
    assert commands(restore_actions(entry("disable health be_app/s1"), now)) == [
        "set server be_app/s1 weight 10", "enable health be_app/s1"]
    with pytest.raises(NoRestore, match="already as it was"):
        restore_actions(entry("set server be_app/s1 state maint"), SERVER_BEFORE)


def test_restore_frontends() -> None:
    before = {"status": "OPEN", "maxconn": 2000, "scur": 3}
    assert commands(restore_actions(entry("disable frontend fe_main", before),
                                    {"status": "PAUSED", "maxconn": 2000})) == [
        "enable frontend fe_main"]
    assert commands(restore_actions(entry("set maxconn frontend fe_main 10", before))) == [
        "set maxconn frontend fe_main 2000", "enable frontend fe_main"]


@pytest.mark.parametrize("command,before,reason", [
    ("shutdown sessions server be_app/s1", SERVER_BEFORE, "cut sessions cannot be restored"),
    ("shutdown frontend fe_main", {"status": "OPEN"}, "reload or restart"),
    ("set server be_app/s1 weight 0", None, "no state before"),
    ("clear counters all", None, "not a server or frontend change"),
    ("set server be_app/s1;x weight 0", SERVER_BEFORE, "invalid server name"),
])
def test_restore_refused_with_a_reason(command: str, before: Any, reason: str) -> None:
    with pytest.raises(Exception, match=reason):
        restore_actions(entry(command, before))


@pytest.mark.parametrize("field,value,reason", [
    ("weight", "1;x", "weight"),
    ("weight", "\u0668", "weight"),  # an Arabic-Indic digit is not a digit here
    ("addr", "fe80::1%x port 1", "scope id"),
    ("maxconn", "5\n", "maxconn"),
])
def test_restore_refuses_bad_recorded_values(field: str, value: str, reason: str) -> None:
    with pytest.raises(Exception, match=reason):
        restore_actions(entry("set server b/s addr 1.2.3.4", dict(SERVER_BEFORE,
                                                                   **{field: value})))
