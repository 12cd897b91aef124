"""Planning runtime changes on snapshots of real HAProxy 2.8 output (tests/data/captured/2.8).

The captured instance has be_app (up1, up2, drain_cli, weight0, weight0_cli, maint_cfg,
maint_cli, nocheck, down_closed, bad_reason, flap_down, flap_up, backup1), be_api
(api_ok, api_nolb, agent_down, agent_drain), be_dead (dead1), frontends fe_main (OPEN),
fe_stopped (PAUSED) and fe_shut (STOP).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from console.haproxy import drain, tables
from console.haproxy.actions import (
    ALL_KINDS,
    OPERATOR_KINDS,
    Action,
    execute,
    expand_same_name,
    parse_weight,
    plan,
    plan_all,
    read_only,
    undo_actions,
)
from console.haproxy.errors import NoSuchObject, ValidationError
from console.haproxy.model import Snapshot
from console.haproxy.parsers import TableEntry, TableInfo, parse_servers_state, parse_stat

CAPTURED = Path(__file__).resolve().parent.parent / "data" / "captured" / "2.8"
STAT = (CAPTURED / "show_stat.txt").read_text()
STATE = (CAPTURED / "show_servers_state.txt").read_text()


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return Snapshot.from_text(None, STAT)


@pytest.fixture(scope="module")
def states() -> list:
    return parse_servers_state(STATE)


def srv(kind: str, *refs: str, **params: Any) -> Action:
    return Action.server(kind, [tuple(r.split("/")) for r in refs], **params)  # type: ignore


def stat_text(changes: dict[tuple[str, str], dict[str, str]]) -> str:
    """The captured ``show stat`` with some fields of some rows replaced."""
    lines = STAT.splitlines()
    header = lines[0][2:].split(",")
    out = io.StringIO()
    out.write(lines[0] + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(lines[1:]):
        if not row:
            continue
        d = dict(zip(header, row, strict=False))
        for k, v in changes.get((d["pxname"], d["svname"]), {}).items():
            row[header.index(k)] = v
        writer.writerow(row)
    return out.getvalue()


# --------------------------------------------------------------------------- server state

def test_drain_plan(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_state", "be_app/up1", state="drain"), snap, states)
    assert p.commands == ["set server be_app/up1 state drain"]
    assert p.impact[0].startswith("up1 takes no new connections")
    assert "be_app keeps 4 usable servers of 13 (up2, nocheck, flap_down, backup1)" in p.impact
    assert not p.dangerous and p.confirm_word is None
    assert p.required_level == "admin"
    assert p.undo_commands == ["set server be_app/up1 state ready"]
    assert p.before["be_app/up1"]["admin_state"] == "ready"
    assert p.before["be_app/up1"]["status"] == "UP"
    assert "runtime only" in (p.runtime_only_note or "")
    assert "server-state file" in (p.runtime_only_note or "")


def test_last_server_is_dangerous(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_state", "be_api/api_ok", state="maint"), snap, states)
    assert "api_ok is the last UP server of be_api" in p.impact
    assert "be_api keeps 0 usable servers: the backend goes DOWN (clients get 503 errors)" \
        in p.impact
    assert p.dangerous and p.confirm_word == "be_api/api_ok"


def test_backend_already_down_is_not_dangerous(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_state", "be_dead/dead1", state="maint"), snap, states)
    assert not p.dangerous


@pytest.mark.parametrize(("ref", "undo"), [
    ("be_app/drain_cli", "set server be_app/drain_cli state drain"),
    ("be_app/maint_cli", "set server be_app/maint_cli state maint"),
    ("be_api/agent_drain", "set server be_api/agent_drain state drain"),
])
def test_ready_undo_restores_the_forced_state(snap: Snapshot, states: list, ref: str,
                                              undo: str) -> None:
    p = plan(srv("server_state", ref, state="ready"), snap, states)
    assert p.undo_commands == [undo]
    assert not p.dangerous


def test_ready_from_maint_says_checks_decide(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_state", "be_app/maint_cli", state="ready"), snap, states)
    assert p.impact[0] == ("maint_cli leaves MAINT and takes new connections again once its "
                           "health check passes")


def test_same_state_says_nothing_changes(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_state", "be_app/drain_cli", state="drain"), snap, states)
    assert "nothing changes" in p.impact[0]


# --------------------------------------------------------------------------- weights

@pytest.mark.parametrize(("text", "mode", "amount"), [
    ("0", "absolute", 0), ("256", "absolute", 256), ("50%", "percent", 50),
    ("+3", "relative", 3), ("-1", "relative", -1), ("reset", "reset", 0),
    (" RESET ", "reset", 0),
])
def test_parse_weight(text: str, mode: str, amount: int) -> None:
    w = parse_weight(text)
    assert (w.mode, w.amount) == (mode, amount)


@pytest.mark.parametrize("text", ["257", "1000", "abc", "", "1.5", "+5%", "-5%", "0x10",
                                  "1;2", "1\n2", "%", "+", "½", "٣"])
def test_bad_weights(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_weight(text)


@pytest.mark.parametrize(("value", "sent", "new"), [
    ("7", "7", 7), ("+3", "4", 4), ("-1", "0", 0), ("200%", "200%", 2), ("50%", "50%", 0),
])
def test_weight_arithmetic(snap: Snapshot, states: list, value: str, sent: str,
                           new: int) -> None:
    p = plan(srv("weight", "be_app/up1", value=value), snap, states)
    assert p.commands == [f"set server be_app/up1 weight {sent}"]
    assert p.impact[0].startswith(f"weight 1 → {new}")
    assert p.undo_commands == ["set server be_app/up1 weight 1"]


def test_weight_out_of_range_after_arithmetic(snap: Snapshot, states: list) -> None:
    with pytest.raises(ValidationError, match="= -4 is out of range"):
        plan(srv("weight", "be_app/up1", value="-5"), snap, states)
    with pytest.raises(ValidationError, match="out of range"):
        plan(srv("weight", "be_app/up1", value="+256"), snap, states)


def test_weight_reset_uses_configured_weight(snap: Snapshot, states: list) -> None:
    # weight0_cli: configured 1, set to 0 at runtime.
    p = plan(srv("weight", "be_app/weight0_cli", value="reset"), snap, states)
    assert p.commands == ["set server be_app/weight0_cli weight 1"]
    assert p.undo_commands == ["set server be_app/weight0_cli weight 0"]
    assert "reset to the configured 1" in p.impact[0]


def test_weight_zero_impact(snap: Snapshot, states: list) -> None:
    p = plan(srv("weight", "be_app/up1", value="0"), snap, states)
    assert p.impact[0] == "weight 1 → 0: up1 gets no new traffic (status DRAIN)"


def test_weight_share(snap: Snapshot, states: list) -> None:
    # Active usable servers of be_app: up1, up2, nocheck, flap_down (weight 1 each).
    p = plan(srv("weight", "be_app/up1", value="4"), snap, states)
    assert p.impact[0] == "weight 1 → 4: up1 gets about 57% of be_app's new connections"


def test_static_algorithm_warns(states: list) -> None:
    snap = Snapshot.from_text(None, stat_text({("be_app", "BACKEND"): {"algo": "static-rr"}}))
    p = plan(srv("weight", "be_app/up1", value="3"), snap, states)
    assert any("static algorithm" in line and "will refuse" in line for line in p.impact)
    ok = plan(srv("weight", "be_app/up1", value="0%"), snap, states)
    assert not any("static" in line for line in ok.impact)


# --------------------------------------------------------------------------- other server kinds

def test_health_undo_from_operational_state(snap: Snapshot, states: list) -> None:
    assert plan(srv("health", "be_app/down_closed", state="up"), snap, states).undo_commands \
        == ["set server be_app/down_closed health down"]
    assert plan(srv("health", "be_api/api_nolb", state="down"), snap, states).undo_commands \
        == ["set server be_api/api_nolb health stopping"]
    p = plan(srv("health", "be_app/up1", state="down"), snap, states)
    assert p.undo_commands == ["set server be_app/up1 health up"]
    assert p.impact[0].startswith("up1 is marked DOWN (no traffic); its health checks keep")


def test_agent_undo(snap: Snapshot, states: list) -> None:
    p = plan(srv("agent", "be_api/agent_down", state="up"), snap, states)
    assert p.undo_commands == ["set server be_api/agent_down agent down"]
    q = plan(srv("agent", "be_app/up1", state="down"), snap, states)
    assert "no enabled agent check: HAProxy will refuse" in q.impact[0]


def test_check_toggles(snap: Snapshot, states: list) -> None:
    p = plan(srv("health_check", "be_app/up1", op="disable"), snap, states)
    assert p.commands == ["disable health be_app/up1"]
    assert p.undo_commands == ["enable health be_app/up1"]
    none = plan(srv("health_check", "be_app/nocheck", op="enable"), snap, states)
    assert none.impact == ["nocheck has no health check configured"]
    assert none.undo_commands == []
    agent = plan(srv("agent_check", "be_api/agent_drain", op="disable"), snap, states)
    assert agent.commands == ["disable agent be_api/agent_drain"]
    assert agent.undo_commands == ["enable agent be_api/agent_drain"]


def test_shutdown_sessions(snap: Snapshot, states: list) -> None:
    p = plan(srv("shutdown_sessions", "be_app/up1"), snap, states)
    assert p.commands == ["shutdown sessions server be_app/up1"]
    assert p.dangerous and p.confirm_word == "be_app/up1"
    assert p.undo_commands == [] and p.no_undo


def test_maxconn_and_addr(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_maxconn", "be_app/up1", value="10"), snap, states)
    assert p.commands == ["set maxconn server be_app/up1 10"]
    assert p.undo_commands == ["set maxconn server be_app/up1 0"]  # no maxconn before
    a = plan(srv("server_addr", "be_app/up1", addr="::1", port="8080"), snap, states)
    assert a.commands == ["set server be_app/up1 addr ::1 port 8080"]
    assert a.undo_commands == ["set server be_app/up1 addr 127.0.0.1 port 41139"]


# --------------------------------------------------------------------------- several backends

def _two_backends() -> Snapshot:
    rows = [r for r in parse_stat(STAT) if r["pxname"] in ("be_app", "be_api")]
    copy = {**next(r for r in rows if r["svname"] == "up1"), "pxname": "be_api",
            "svname": "api_ok"}
    up1_in_api = {**copy, "svname": "up1"}
    return Snapshot.from_rows([*rows, up1_in_api])


def test_expand_same_name_and_multi_target() -> None:
    snap = _two_backends()
    refs = expand_same_name(snap, "up1")
    assert refs == [("be_app", "up1"), ("be_api", "up1")]
    p = plan(Action.server("server_state", refs, state="maint"), snap, None)
    assert p.commands == ["set server be_app/up1 state maint",
                          "set server be_api/up1 state maint"]
    assert p.command_targets == ["be_app/up1", "be_api/up1"]
    assert not p.dangerous  # be_api keeps api_ok
    assert p.undo_commands == ["set server be_api/up1 state ready",
                               "set server be_app/up1 state ready"]
    assert expand_same_name(snap, "nobody") == []
    with pytest.raises(ValidationError):
        expand_same_name(snap, "up1;x")


def test_backup_takes_over(snap: Snapshot, states: list) -> None:
    refs = ["be_app/up1", "be_app/up2", "be_app/nocheck", "be_app/flap_down"]
    p = plan(srv("server_state", *refs, state="maint"), snap, states)
    assert ("be_app keeps no usable active server: its backup server(s) backup1 take all "
            "the traffic") in p.impact
    assert not p.dangerous
    everything = plan(srv("server_state", *refs, "be_app/backup1", state="drain"), snap,
                      states)
    assert everything.dangerous
    assert "be_app keeps 0 usable servers: the backend goes DOWN (clients get 503 errors)" \
        in everything.impact


# --------------------------------------------------------------------------- frontends, counters

def test_frontend_disable_enable(snap: Snapshot) -> None:
    p = plan(Action.frontend("frontend", ["fe_main"], op="disable"), snap)
    assert p.commands == ["disable frontend fe_main"]
    assert p.impact == ["frontend fe_main stops accepting connections (existing ones continue)"]
    assert p.dangerous and p.confirm_word == "fe_main"
    assert p.undo_commands == ["enable frontend fe_main"]
    assert p.before["fe_main"]["status"] == "OPEN"
    e = plan(Action.frontend("frontend", ["fe_stopped"], op="enable"), snap)
    assert not e.dangerous and e.undo_commands == ["disable frontend fe_stopped"]
    shut = plan(Action.frontend("frontend", ["fe_shut"], op="enable"), snap)
    assert shut.undo_commands == [] and "will refuse" in shut.impact[0]


def test_frontend_maxconn_and_shutdown(snap: Snapshot) -> None:
    p = plan(Action.frontend("frontend_maxconn", ["fe_main"], value=100), snap)
    assert p.commands == ["set maxconn frontend fe_main 100"]
    assert p.undo_commands == ["set maxconn frontend fe_main 9961"]
    s = plan(Action.frontend("frontend_shutdown", ["fe_main"]), snap)
    assert s.commands == ["shutdown frontend fe_main"] and s.dangerous and not s.undo_commands
    assert "only a reload or restart brings it back" in s.impact[0]


def test_clear_counters(snap: Snapshot) -> None:
    p = plan(Action("clear_counters"), snap)
    assert p.commands == ["clear counters"] and p.required_level == "operator"
    assert not p.dangerous
    a = plan(Action("clear_counters_all"), snap, instance="prod-lb1")
    assert a.commands == ["clear counters all"] and a.required_level == "admin"
    assert a.dangerous and a.confirm_word == "prod-lb1"


# --------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("ref", [("be_app", "up1;shutdown frontend fe_main"),
                                 ("be_app", "up1\nshutdown frontend fe_main"),
                                 ("be_app", "up 1"), ("be app", "up1"), ("be_app", "üp1"),
                                 ("be_app", ""), ("be_app/x", "up1")])
def test_injection_in_names_is_refused(snap: Snapshot, states: list,
                                       ref: tuple[str, str]) -> None:
    with pytest.raises(ValidationError):
        plan(Action.server("server_state", [ref], state="drain"), snap, states)


@pytest.mark.parametrize(("kind", "params"), [
    ("server_state", {"state": "drain;x"}), ("server_state", {"state": "up"}),
    ("weight", {"value": "257"}), ("weight", {"value": "1;shutdown"}),
    ("health", {"state": "maint"}), ("server_maxconn", {"value": "-1"}),
    ("server_maxconn", {"value": "ten"}), ("server_addr", {"addr": "1.2.3.4;x"}),
    ("server_addr", {"addr": "example.com"}), ("server_addr", {"addr": "1.2.3.4", "port": 0}),
    ("server_addr", {"addr": "1.2.3.4", "port": "70000"}),
])
def test_bad_values_are_refused(snap: Snapshot, states: list, kind: str,
                                params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        plan(srv(kind, "be_app/up1", **params), snap, states)


def test_unknown_objects(snap: Snapshot, states: list) -> None:
    with pytest.raises(NoSuchObject, match="no such server be_x/y"):
        plan(srv("server_state", "be_x/y", state="drain"), snap, states)
    with pytest.raises(NoSuchObject, match="no such server be_app/BACKEND"):
        plan(srv("server_state", "be_app/BACKEND", state="drain"), snap, states)
    with pytest.raises(NoSuchObject, match="no such frontend fe_x"):
        plan(Action.frontend("frontend", ["fe_x"], op="disable"), snap)
    with pytest.raises(ValidationError):
        plan(Action("reload"), snap)


def test_read_only() -> None:
    assert read_only("admin", False) == ALL_KINDS
    assert read_only("operator", False) == OPERATOR_KINDS
    assert "clear_counters" in OPERATOR_KINDS and "clear_counters_all" not in OPERATOR_KINDS
    assert {"map_add", "acl_del", "table_clear_key"} <= OPERATOR_KINDS
    assert "server_state" not in OPERATOR_KINDS
    assert read_only("user", False) == frozenset()
    assert read_only(None, False) == frozenset()
    assert read_only("admin", True) == frozenset()


# --------------------------------------------------------------------------- tables, maps, acls

@pytest.mark.parametrize("ref", ["#0", "#12", "/etc/haproxy/hosts.map", "hosts.map",
                                 "./a-b_c.map"])
def test_map_refs(ref: str) -> None:
    assert tables.check_map_ref(ref) == ref


@pytest.mark.parametrize("ref", ["", "#", "#a", "#1;x", "a b.map", "a;b.map", "a\nb",
                                 "a\\b", "a\tb"])
def test_bad_map_refs(ref: str) -> None:
    with pytest.raises(ValidationError):
        tables.check_map_ref(ref)


ENTRIES = [("0x1", "www.example.com", "blue"), ("0x2", "api.example.com", "green")]


def test_map_plans() -> None:
    add = tables.plan_map_change("map_add", "#3", "new.example.com", "red", ENTRIES)
    assert add.commands == ["add map #3 new.example.com red"]
    assert add.undo_commands == ["del map #3 new.example.com"]
    assert "temporary: the map file is not changed" in add.impact
    assert add.required_level == "operator" and not add.dangerous
    s = tables.plan_map_change("map_set", "#3", "www.example.com", "a b;c", ENTRIES)
    assert s.commands == ["set map #3 www.example.com a\\ b\\;c"]
    assert s.undo_commands == ["set map #3 www.example.com blue"]
    assert s.before == {"#3 www.example.com": {"key": "www.example.com", "values": ["blue"]}}
    d = tables.plan_map_change("map_del", "/x/hosts.map", "api.example.com", None, ENTRIES)
    assert d.commands == ["del map /x/hosts.map api.example.com"]
    assert d.undo_commands == ["add map /x/hosts.map api.example.com green"]
    dup = tables.plan_map_change("map_add", "#3", "www.example.com", "red", ENTRIES)
    assert "already in the map" in dup.impact[0]
    assert dup.undo_commands == ["del map #3 www.example.com", "add map #3 www.example.com blue"]
    with pytest.raises(NoSuchObject):
        tables.plan_map_change("map_set", "#3", "nope", "x", ENTRIES)
    with pytest.raises(NoSuchObject):
        tables.plan_map_change("map_del", "#3", "nope", None, ENTRIES)
    for bad in ("a\nb", "", "x\x00"):
        with pytest.raises(ValidationError):
            tables.plan_map_change("map_add", "#3", bad, "v", ENTRIES)
    with pytest.raises(ValidationError):
        tables.plan_map_change("map_add", "#3", "k", "v\nclear counters all", ENTRIES)


def test_acl_plans() -> None:
    entries = [("0x1", "192.0.2.10")]
    add = tables.plan_acl_change("acl_add", "#0", "10.0.0.1", entries)
    assert add.commands == ["add acl #0 10.0.0.1"]
    assert add.undo_commands == ["del acl #0 10.0.0.1"]
    assert "temporary: the acl file is not changed" in add.impact
    d = tables.plan_acl_change("acl_del", "#0", "192.0.2.10", entries)
    assert d.undo_commands == ["add acl #0 192.0.2.10"]
    with pytest.raises(NoSuchObject):
        tables.plan_acl_change("acl_del", "#0", "10.9.9.9", entries)


def test_table_plans() -> None:
    info = TableInfo("fe_api", "ip", 100, 2)
    entry = TableEntry("0x1", "10.0.0.1", 0, 1000, {"gpc0": "3"})
    one = tables.plan_table_clear("fe_api", "10.0.0.1", info, [entry])
    assert one.commands == ["clear table fe_api key 10.0.0.1"]
    assert one.required_level == "operator" and not one.dangerous
    assert "(gpc0)" in one.impact[0] and one.no_undo
    busy = tables.plan_table_clear("fe_api", "10.0.0.1", info, [
        TableEntry("0x1", "10.0.0.1", 2, 1000, {})])
    assert "in use" in busy.impact[-1]
    every = tables.plan_table_clear("fe_api", None, info)
    assert every.commands == ["clear table fe_api"]
    assert every.dangerous and every.confirm_word == "fe_api"
    with pytest.raises(NoSuchObject):
        tables.plan_table_clear("nope", None, None)


@pytest.mark.parametrize(("spec", "ok"), [
    ("data.gpc0 gt 0", ("data.gpc0", "gt", "0")),
    ("data.http_req_rate GE 10", ("data.http_req_rate", "ge", "10")),
    ("gpc0 gt 0", None), ("data.gpc0 gt", None), ("data.gpc0 is 1", None),
    ("data.gpc0 gt 1;x", None), ("data.Gpc0 gt 1", None), ("data.gpc0 gt -1", None),
])
def test_table_filters(spec: str, ok: tuple[str, str, str] | None) -> None:
    if ok is None:
        with pytest.raises(ValidationError):
            tables.check_data_filter(spec)
    else:
        assert tables.check_data_filter(spec) == ok


# --------------------------------------------------------------------------- execute (fake socket)

class FakeClient:
    """Answers like HAProxy: captured state for reads, scripted answers for changes."""

    address = "/run/fake.sock"

    def __init__(self, answers: dict[str, str] | None = None, level: str = "admin",
                 stat: str = STAT) -> None:
        self.answers = answers or {}
        self.level = level
        self.stat = stat
        self.sent: list[str] = []

    async def run(self, command: str, *, check: bool = True, timeout: float | None = None
                  ) -> str:
        if command.startswith("show stat"):
            return self.stat
        if command.startswith("show servers state"):
            return STATE
        if command == "show cli level":
            return self.level + "\n"
        self.sent.append(command)
        return self.answers.get(command, "\n")


def journal_lines() -> list[dict[str, Any]]:
    from console.haproxy.journal import journal_path

    path = journal_path()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_execute_stops_at_first_failure_and_journals(snap: Snapshot, states: list
                                                           ) -> None:
    p = plan(srv("server_state", "be_app/up1", "be_app/up2", "be_app/nocheck", state="drain"),
             snap, states)
    client = FakeClient({"set server be_app/up2 state drain": "No such server.\n\n"})
    result = await execute(p, client, "lab")
    assert client.sent == ["set server be_app/up1 state drain",
                           "set server be_app/up2 state drain"]
    assert [o.sent for o in result.outcomes] == [True, True, False]
    assert not result.ok and "No such server." in (result.error or "")
    lines = journal_lines()
    assert [e["command"] for e in lines] == client.sent
    assert [e["ok"] for e in lines] == [True, False]
    assert lines[0]["before"]["admin_state"] == "ready"
    assert lines[0]["after"]["admin_state"] == "ready"  # the fake never changes
    assert lines[0]["instance"] == "lab"


async def test_execute_permission_denied_names_the_level(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_state", "be_app/up1", state="maint"), snap, states)
    client = FakeClient({"set server be_app/up1 state maint": "Permission denied\n\n"},
                        level="operator")
    result = await execute(p, client, "lab")
    assert result.error is not None
    assert "level operator" in result.error and "needs level admin" in result.error
    assert len(journal_lines()) == 1


async def test_execute_static_algorithm_is_explained(snap: Snapshot, states: list) -> None:
    p = plan(srv("weight", "be_app/up1", value="3"), snap, states)
    answer = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
    result = await execute(p, FakeClient({"set server be_app/up1 weight 3": answer}), "lab")
    assert result.error is not None and "static" in result.error and "0%" in result.error


async def test_execute_informational_answers_are_success(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_addr", "be_app/up1", addr="127.0.0.2"), snap, states)
    answer = "IP changed from '127.0.0.1' to '127.0.0.2' by 'stats socket command'\n\n"
    result = await execute(p, FakeClient({p.commands[0]: answer}), "lab", journal=False)
    assert result.ok and result.answers == [answer]
    assert journal_lines() == []


# --------------------------------------------------------------------------- drain to zero

async def test_drain_to_zero_times_out_without_maint() -> None:
    busy = stat_text({("be_app", "up1"): {"scur": "2", "qcur": "1"}})
    client = FakeClient(stat=busy)
    seen: list[drain.DrainProgress] = []
    result = await drain.drain_to_zero(client, "be_app", "up1", timeout=0.2, poll=0.05,
                                       on_progress=seen.append, target="lab")
    assert isinstance(result, drain.TimedOut)
    assert (result.scur, result.qcur) == (2, 1) and "left in DRAIN" in result.message
    assert client.sent == ["set server be_app/up1 state drain"]
    assert seen[-1].phase == "timed_out" and seen[0].phase == "draining"


async def test_drain_to_zero_cancelled_stays_in_drain() -> None:
    client = FakeClient(stat=stat_text({("be_app", "up1"): {"scur": "1"}}))
    seen: list[drain.DrainProgress] = []
    task = asyncio.create_task(drain.drain_to_zero(client, "be_app", "up1", timeout=30,
                                                    poll=0.05, on_progress=seen.append))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.sent == ["set server be_app/up1 state drain"]
    assert seen[-1].phase == "cancelled" and "left in DRAIN" in seen[-1].message


async def test_drain_to_zero_reaches_maint() -> None:
    client = FakeClient()
    result = await drain.drain_to_zero(client, "be_app", "up2", timeout=5, poll=0.05)
    assert isinstance(result, drain.Drained)
    assert client.sent == ["set server be_app/up2 state drain",
                           "set server be_app/up2 state maint"]


def test_drain_to_zero_plan(snap: Snapshot, states: list) -> None:
    p = drain.plan_drain_to_zero(snap, states, "be_api", "api_ok", 60)
    assert p.commands == ["set server be_api/api_ok state drain",
                          "set server be_api/api_ok state maint"]
    assert p.dangerous and p.confirm_word == "be_api/api_ok"
    assert any(line.startswith("then, once it has 0 sessions") for line in p.impact)
    assert p.undo_commands == ["set server be_api/api_ok state ready"]


# ------------------------------------------------------------------ several changes at once

def test_changes_confirmed_together_are_simulated_together(snap: Snapshot, states: list
                                                            ) -> None:
    usable = ["up1", "up2", "nocheck", "flap_down", "backup1"]
    one = plan(srv("server_state", "be_app/up1", state="maint"), snap, states)
    assert not one.dangerous
    # the same servers, one change each (a revert-all, a restore): the backend goes DOWN
    together = plan_all([srv("server_state", f"be_app/{s}", state="maint") for s in usable],
                        snap, states, summary="revert 5 differences to the config file")
    assert together.dangerous and together.confirm_word
    assert "be_app keeps 0 usable servers: the backend goes DOWN (clients get 503 errors)" \
        in together.impact
    assert together.summary == "revert 5 differences to the config file"
    assert together.commands == [f"set server be_app/{s} state maint" for s in usable]
    # different kinds on one server: in the order given, the state before kept once
    mixed = plan_all([srv("weight", "be_app/up1", value="5"),
                      srv("server_state", "be_app/up1", state="drain")], snap, states)
    assert mixed.commands == ["set server be_app/up1 weight 5",
                              "set server be_app/up1 state drain"]
    assert mixed.kind == "several" and list(mixed.before) == ["be_app/up1"]
    assert "be_app keeps 4 usable servers of 13" in " ".join(mixed.impact)


def test_undo_is_changes_to_plan_again(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_state", "be_app/maint_cli", "be_app/up1", state="ready"), snap,
             states)
    assert undo_actions(p) == [
        Action.server("server_state", [("be_app", "up1")], state="ready"),
        Action.server("server_state", [("be_app", "maint_cli")], state="maint")]
    w = plan(srv("weight", "be_app/up1", value="+2"), snap, states)
    assert undo_actions(w) == [Action.server("weight", [("be_app", "up1")], value="1")]
    again = plan_all(undo_actions(w), snap, states, summary="undo")
    assert again.commands == ["set server be_app/up1 weight 1"]
    assert undo_actions(plan(srv("shutdown_sessions", "be_app/up1"), snap, states)) == []


async def test_execute_sends_only_commands_built_from_words(snap: Snapshot, states: list
                                                            ) -> None:
    p = plan(srv("server_state", "be_app/up1", state="drain"), snap, states)
    p.commands = ["set server be_app/up1 state drain"]  # a plain string: not built
    client = FakeClient()
    with pytest.raises(ValidationError, match="not built from checked words"):
        await execute(p, client, "lab")
    assert client.sent == []
    assert journal_lines()[-1]["via"] == "refused"


# ------------------------------------------------------------------ payload mode, per builder

@pytest.mark.parametrize("kind,key,value,arg", [
    ("map_add", "k<<", "v", "map key"),
    ("map_add", "k", "10.66.0.0/16<<", "map value"),
    ("map_add", "k", "v <<EOF", "map value"),
    ("map_set", "www.example.com", "<<", "map value"),
    ("map_del", "<<x", None, "map key"),
])
def test_map_builders_refuse_a_payload_marker(kind: str, key: str, value: str | None,
                                              arg: str) -> None:
    entries = [*ENTRIES, ("0x3", "<<x", "v")]
    with pytest.raises(ValidationError, match=f"{arg} .*'<<'"):
        tables.plan_map_change(kind, "#3", key, value, entries)


@pytest.mark.parametrize("kind", ["acl_add", "acl_del"])
@pytest.mark.parametrize("pattern", ["10.66.0.0/16<<", "<<", "a <<b"])
def test_acl_builders_refuse_a_payload_marker(kind: str, pattern: str) -> None:
    with pytest.raises(ValidationError, match="acl pattern .*'<<'"):
        tables.plan_acl_change(kind, "#0", pattern, [("0x1", pattern)])


def test_table_and_map_file_builders_refuse_a_payload_marker() -> None:
    info = TableInfo("fe_api", "string", 100, 1)
    with pytest.raises(ValidationError, match="table key .*'<<'"):
        tables.plan_table_clear("fe_api", "key<<", info, [])
    with pytest.raises(ValidationError, match="map file .*'<<'"):
        tables.check_map_ref("/etc/haproxy/hosts.map<<")
    client = FakeClient()
    with pytest.raises(ValidationError, match="table key .*'<<'"):
        asyncio.run(tables.show_table(client, "fe_api", key="<<k"))
    with pytest.raises(ValidationError, match="map value .*'<<'"):
        asyncio.run(tables.prepare_map_change(client, "map_add", "#3", "k", "x<<"))
    assert client.sent == []


def test_server_addr_builder_refuses_a_payload_marker(snap: Snapshot, states: list) -> None:
    with pytest.raises(ValidationError, match="invalid address"):
        plan(srv("server_addr", "be_app/up1", addr="10.0.0.1<<"), snap, states)


def test_an_old_value_that_cannot_be_sent_back_gives_no_undo() -> None:
    p = tables.plan_map_change("map_set", "#3", "k", "new", [("0x1", "k", "old<<")])
    assert p.commands == ["set map #3 k new"] and p.undo_commands == []
    assert "cannot be sent back" in p.no_undo[0]


# --------------------------------------------------------------------------- addresses

@pytest.mark.parametrize("addr", ["fe80::1%x port 1", "fe80::1%x;y", "fe80::1%", "1.2.3.4%eth0",
                                  "fe80::1%\u0662", "\u0661.2.3.4"])
def test_scope_ids_are_interface_names(snap: Snapshot, states: list, addr: str) -> None:
    with pytest.raises(ValidationError, match="address"):
        plan(srv("server_addr", "be_app/up1", addr=addr), snap, states)


def test_a_valid_scope_id_is_one_word(snap: Snapshot, states: list) -> None:
    p = plan(srv("server_addr", "be_app/up1", addr="fe80::1%eth0.10", port="8080"), snap,
             states)
    assert p.commands == ["set server be_app/up1 addr fe80::1%eth0.10 port 8080"]
    assert p.commands[0].words[-3:] == ("fe80::1%eth0.10", "port", "8080")


def test_levels_and_refusals_follow_the_haproxy_version() -> None:
    from console.haproxy.actions import read_only, required_level
    from console.haproxy.known_bugs import crash_risk

    assert required_level("map_add", "3.2.0-e134140d2") == "operator"
    assert required_level("map_add", "3.4.0-64a335366") == "admin"
    assert required_level("table_clear_key", "3.4.0") == "operator"
    allowed = read_only("operator", False, "3.4.0")
    assert "table_clear" in allowed and "acl_add" not in allowed and "map_set" not in allowed
    assert "acl_add" in read_only("operator", False, "2.8.25")
    assert crash_risk("clear_counters_all", "3.4.0-64a335366")
    assert crash_risk("clear_counters_all", "3.4.1") is None
    assert crash_risk("clear_counters", "3.4.0") is None
    with pytest.raises(ValidationError, match="3.4.0's worker crashes") as err:
        plan(Action("clear_counters_all"), Snapshot.from_rows([]), version="3.4.0-64a335366")
    assert "incident mark" in (err.value.hint or "")
    assert plan(Action("clear_counters_all"), Snapshot.from_rows([]),
                version="3.2.0").commands == ["clear counters all"]


def test_frontend_maxconn_refused_on_2_6_12_at_the_limit() -> None:
    from console.haproxy.known_bugs import crash_risk

    assert crash_risk("frontend_maxconn", "2.6.12-1+deb12u4") is None
    assert crash_risk("frontend_maxconn", "2.6.12-1+deb12u4", at_limit=True)
    assert crash_risk("frontend_maxconn", "2.8.5", at_limit=True) is None
    full = Snapshot.from_text(None, stat_text({("fe_main", "FRONTEND"): {
        "scur": "10", "slim": "10", "status": "FULL"}}))
    action = Action.frontend("frontend_maxconn", ["fe_main"], value=500)
    with pytest.raises(ValidationError, match="2.6.12's worker aborts") as err:
        plan(action, full, version="2.6.12-1+deb12u4")
    assert "config edit" in (err.value.hint or "")
    assert plan(action, full, version="3.0.11").commands == [
        "set maxconn frontend fe_main 500"]
    below = Snapshot.from_text(None, stat_text({("fe_main", "FRONTEND"): {
        "scur": "3", "slim": "10", "status": "OPEN"}}))
    assert plan(action, below, version="2.6.12-1+deb12u4").commands == [
        "set maxconn frontend fe_main 500"]
