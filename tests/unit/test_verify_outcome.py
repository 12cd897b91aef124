"""The check of a change's result (actions/verify.py) on HAProxy output captured from
2.6 to 3.4: the servers and frontends in the captured state are in DRAIN, MAINT, weight
0, PAUSED..., so a plan for each reads as done, or not, against that same output."""

from __future__ import annotations

from typing import Any

import pytest

from console.haproxy import actions
from console.haproxy.actions.state import frontend_before, server_before, state_index
from console.haproxy.actions.verify import expected_text, mismatches
from console.haproxy.model import Snapshot
from console.haproxy.parsers import parse_servers_state
from console.haproxy.plans import Action, Plan
from tests.captured_data import VERSIONS, read


def captured(version: str) -> tuple[Snapshot, list[Any]]:
    return (Snapshot.from_text(None, read(version, "show_stat.txt")),
            parse_servers_state(read(version, "show_servers_state.txt")))


def state_after(version: str, plan: Plan) -> dict[str, dict[str, Any]]:
    """Every target of *plan* as the captured output shows it (as verify reads it)."""
    snapshot, states = captured(version)
    index = state_index(states)
    out: dict[str, dict[str, Any]] = {}
    for label, scope in plan.scopes.items():
        if scope[0] == "server":
            out[label] = server_before(snapshot.get(scope[1], scope[2]),
                                       index.get((scope[1], scope[2])))
        else:
            out[label] = frontend_before(snapshot.get(scope[1], "FRONTEND"))
    return out


def server_plan(version: str, kind: str, server: str, **params: Any) -> Plan:
    snapshot, states = captured(version)
    return actions.plan(Action.server(kind, [("be_app", server)], **params), snapshot, states)


def frontend_plan(version: str, op: str, name: str) -> Plan:
    return actions.plan(Action.frontend("frontend", [name], op=op), captured(version)[0])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("server", "state", "problem"), [
    ("drain_cli", "drain", None),
    ("maint_cli", "maint", None),
    ("up1", "ready", None),
    ("up1", "drain", "be_app/up1: admin_state is ready, expected drain"),
    ("drain_cli", "maint", "be_app/drain_cli: admin_state is drain, expected maint"),
    ("maint_cli", "ready", "be_app/maint_cli: admin_state is maint, expected ready"),
])
def test_admin_state(version: str, server: str, state: str, problem: str | None) -> None:
    plan = server_plan(version, "server_state", server, state=state)
    assert plan.expected == {f"be_app/{server}": {"admin_state": (state,)}}
    assert mismatches(plan.expected, state_after(version, plan)) == \
        ([problem] if problem else [])


@pytest.mark.parametrize("version", VERSIONS)
def test_weight(version: str) -> None:
    zero = server_plan(version, "weight", "weight0_cli", value="0")
    assert mismatches(zero.expected, state_after(version, zero)) == []
    five = server_plan(version, "weight", "up1", value="5")
    assert expected_text(five) == "be_app/up1 weight 5"
    assert mismatches(five.expected, state_after(version, five)) == \
        ["be_app/up1: weight is 1, expected 5"]
    # a weight given relative to the current one is expected resolved
    plus = server_plan(version, "weight", "up1", value="+2")
    assert plus.expected == {"be_app/up1": {"weight": (3,)}}


@pytest.mark.parametrize("version", VERSIONS)
def test_frontend(version: str) -> None:
    disabled = frontend_plan(version, "disable", "fe_stopped")
    assert mismatches(disabled.expected, state_after(version, disabled)) == []
    enabled = frontend_plan(version, "enable", "fe_main")
    assert mismatches(enabled.expected, state_after(version, enabled)) == []
    wrong = frontend_plan(version, "disable", "fe_main")
    assert mismatches(wrong.expected, state_after(version, wrong)) == \
        ["fe_main: status is OPEN, expected PAUSED"]


def test_a_target_not_read_again_is_a_mismatch() -> None:
    plan = server_plan("2.8", "server_state", "up1", state="drain")
    assert mismatches(plan.expected, {}) == ["be_app/up1: its state could not be read again"]
    assert mismatches(plan.expected, {"be_app/up1": None}) == \
        ["be_app/up1: its state could not be read again"]


def test_changes_without_a_checked_result_expect_nothing() -> None:
    health = server_plan("2.8", "health", "up1", state="down")  # checks move it on
    assert health.expected == {}
    assert mismatches(health.expected, {}) == []


def test_the_last_change_of_a_target_decides() -> None:
    snapshot, states = captured("2.8")
    plan = actions.plan_all([Action.server("server_state", [("be_app", "up1")], state="drain"),
                             Action.server("server_state", [("be_app", "up1")], state="ready"),
                             Action.server("weight", [("be_app", "up1")], value="4")],
                            snapshot, states)
    assert plan.expected == {"be_app/up1": {"admin_state": ("ready",), "weight": (4,)}}


def test_a_control_character_in_a_value_is_escaped() -> None:
    plan = server_plan("2.8", "server_state", "up1", state="drain")
    shown = mismatches(plan.expected, {"be_app/up1": {"admin_state": "x\x1b[2J"}})
    assert shown and "\x1b" not in shown[0]
