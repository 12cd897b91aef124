"""Runtime actions against the real lab, once per HAProxy binary (2.6 and 2.8).

Every change is checked through what HAProxy itself reports (``show servers state``
and ``show stat`` read straight from the admin socket with ``LabHandle.send``), then
undone with the plan's undo commands and checked again.

Comparing ``show servers state`` "byte for byte" leaves out the columns that move on
their own while the lab runs, whatever anyone sends:

- ``srv_time_since_last_change``: seconds, it ticks;
- ``srv_op_state``, ``srv_check_status``, ``srv_check_result``, ``srv_check_health``:
  health checks run every 2 s and be_api/api2 flaps by design;
- bit 0x01 (check in progress) of ``srv_check_state`` and ``srv_agent_state``.

Everything a runtime command can change (admin state, weights, address, port, check
and agent enablement, ids) is compared exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.haproxy import drain, tables
from console.haproxy.actions import (
    Action,
    NotConfirmed,
    Plan,
    execute,
    plan,
    plan_all,
    read_state,
    required_level,
    run_action,
    undo_actions,
    undo_plan,
)
from console.haproxy.errors import NoSuchObject, PermissionDenied, ValidationError
from console.haproxy.known_bugs import branch, crash_risk
from console.haproxy.parsers import parse_servers_state, parse_stat
from console.haproxy.transport import RuntimeClient
from tests.lab_helpers import LabHandle, start_lab

pytestmark = pytest.mark.haproxy

VOLATILE = {"srv_time_since_last_change", "srv_op_state", "srv_check_status",
            "srv_check_result", "srv_check_health"}


@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[LabHandle]:
    directory = Path(tempfile.mkdtemp(prefix="hac-act-"))
    with start_lab(directory, str(haproxy_binary.path)) as handle:
        yield handle
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.stderr").unlink(missing_ok=True)


def admin(lab: LabHandle) -> RuntimeClient:
    return RuntimeClient(lab.info["admin_socket"])


def state_rows(lab: LabHandle) -> dict[tuple[str, str], dict[str, str]]:
    rows = parse_servers_state(lab.send(lab.info["admin_socket"], "show servers state"))
    return {(r.be_name, r.srv_name): r.fields for r in rows}


def stable_state(lab: LabHandle) -> str:
    """``show servers state`` without the columns that change on their own (see above)."""
    lines = [line for line in lab.send(lab.info["admin_socket"], "show servers state")
             .splitlines() if line.strip()]
    header = lines[1][2:].split()
    out = [lines[0], lines[1]]
    for line in lines[2:]:
        fields = dict(zip(header, line.split(), strict=True))
        for k in ("srv_check_state", "srv_agent_state"):
            fields[k] = str(int(fields[k]) & ~0x01)
        out.append(" ".join(v for k, v in fields.items() if k not in VOLATILE))
    return "\n".join(out)


def stat_row(lab: LabHandle, proxy: str, name: str) -> dict[str, str]:
    for r in parse_stat(lab.send(lab.info["admin_socket"], "show stat")):
        if r["pxname"] == proxy and r["svname"] == name:
            return r
    raise AssertionError(f"no {proxy}/{name} in show stat")


def journal() -> list[dict[str, Any]]:
    from console.haproxy.journal import journal_path

    path = journal_path()
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def plan_for(lab: LabHandle, action: Action) -> Plan:
    snapshot, states = await read_state(admin(lab))
    return plan(action, snapshot, states, instance="lab", version=lab.info["haproxy_version"])


async def undo_for(lab: LabHandle, p: Plan) -> Plan:
    """The undo of *p*: its changes back, planned against the state now."""
    snapshot, states = await read_state(admin(lab))
    return plan_all(undo_actions(p), snapshot, states, summary=f"undo: {p.summary}")


async def do(lab: LabHandle, p: Plan) -> None:
    result = await execute(p, admin(lab), "lab")
    assert result.ok, result.error


# --------------------------------------------------------------------------- servers

ADMIN_COLS = ("srv_admin_state", "srv_uweight", "srv_addr", "srv_port", "srv_check_state",
              "srv_agent_state")


def srv(kind: str, ref: str, **params: Any) -> Action:
    backend, server = ref.split("/")
    return Action.server(kind, [(backend, server)], **params)


CASES = [
    # (action, column of `show servers state` or `show stat` field, expected after)
    (srv("server_state", "be_static/static1", state="drain"), "srv_admin_state", "8"),
    (srv("server_state", "be_static/static2", state="maint"), "srv_admin_state", "1"),
    (srv("weight", "be_web/web2", value="+3"), "srv_uweight", "4"),
    (srv("weight", "be_web/web2", value="200%"), "srv_uweight", "2"),
    (srv("weight", "be_web/web1", value="0"), "srv_uweight", "0"),
    (srv("health_check", "be_web/web1", op="disable"), "stat:check_status", ""),
    (srv("health", "be_web/web4", state="down"), "stat:status", "DOWN"),
    (srv("server_maxconn", "be_web/web3", value="7"), "stat:slim", "7"),
    (srv("server_addr", "be_static/static3", addr="127.0.0.2"), "srv_addr", "127.0.0.2"),
]


@pytest.mark.parametrize(("action", "column", "expected"), CASES,
                         ids=[f"{c[0].kind}-{c[1]}-{c[2]}" for c in CASES])
async def test_change_then_undo(lab: LabHandle, action: Action, column: str,
                                expected: str) -> None:
    backend, server = action.targets[0]
    before_state = state_rows(lab)[(backend, server)]
    before_stat = stat_row(lab, backend, server)
    p = await plan_for(lab, action)
    await do(lab, p)
    if column.startswith("stat:"):
        assert stat_row(lab, backend, server)[column[5:]].split(" ")[0] == expected
    else:
        assert state_rows(lab)[(backend, server)][column] == expected
    await do(lab, await undo_for(lab, p))
    after_state = state_rows(lab)[(backend, server)]
    for col in ADMIN_COLS:
        now, then = after_state[col], before_state[col]
        if col in ("srv_check_state", "srv_agent_state"):  # bit 0x01: a check is running
            now, then = str(int(now) & ~0x01), str(int(then) & ~0x01)
        assert now == then, col
    assert stat_row(lab, backend, server)["slim"] == before_stat["slim"]
    entries = journal()
    assert [e["command"] for e in entries] == p.commands + p.undo_commands
    assert all(e["ok"] and "before" in e and "after" in e for e in entries)


async def test_shutdown_sessions_and_refused_agent(lab: LabHandle) -> None:
    before = stable_state(lab)
    await do(lab, await plan_for(lab, srv("shutdown_sessions", "be_static/static1")))
    # The lab configures no agent check: HAProxy refuses, the result says so.
    p = await plan_for(lab, srv("agent", "be_web/web1", state="down"))
    result = await execute(p, admin(lab), "lab")
    assert not result.ok and "agent" in (result.error or "")
    assert stable_state(lab) == before
    assert [e["ok"] for e in journal()] == [True, False]


async def test_last_server_of_a_backend_is_dangerous(lab: LabHandle) -> None:
    refs = [("be_static", "static1"), ("be_static", "static2"), ("be_static", "static3")]
    p = await plan_for(lab, Action.server("server_state", refs, state="drain"))
    assert p.dangerous and p.confirm_word == "be_static/static1"
    assert "be_static keeps 0 usable servers: the backend goes DOWN (clients get 503 " \
        "errors)" in p.impact


# --------------------------------------------------------------------------- frontends, counters

async def test_frontend_disable_enable_and_maxconn(lab: LabHandle) -> None:
    p = await plan_for(lab, Action.frontend("frontend", ["fe_web"], op="disable"))
    assert p.dangerous and p.confirm_word == "fe_web"
    await do(lab, p)
    assert stat_row(lab, "fe_web", "FRONTEND")["status"] in ("PAUSED", "STOP")
    await do(lab, await undo_for(lab, p))
    assert stat_row(lab, "fe_web", "FRONTEND")["status"] == "OPEN"
    old = stat_row(lab, "fe_api", "FRONTEND")["slim"]
    m = await plan_for(lab, Action.frontend("frontend_maxconn", ["fe_api"], value=500))
    await do(lab, m)
    assert stat_row(lab, "fe_api", "FRONTEND")["slim"] == "500"
    await do(lab, await undo_for(lab, m))
    assert stat_row(lab, "fe_api", "FRONTEND")["slim"] == old


async def wait_for_traffic(lab: LabHandle, sessions: int = 20) -> None:
    deadline = time.monotonic() + 10
    while int(stat_row(lab, "fe_web", "FRONTEND")["stot"]) < sessions:
        assert time.monotonic() < deadline, "the lab's traffic does not reach fe_web"
        await asyncio.sleep(0.2)


async def test_clear_counters_all(lab: LabHandle) -> None:
    await wait_for_traffic(lab)
    before = int(stat_row(lab, "fe_web", "FRONTEND")["stot"])
    if crash_risk("clear_counters_all", lab.info["haproxy_version"]):
        # HAProxy 3.4.0 crashes on it under traffic (see the test below): refused, journaled
        with pytest.raises(ValidationError, match="3.4.0's worker crashes"):
            await run_action(Action("clear_counters_all"), admin(lab), "lab",
                             confirm=lambda p: True)
        assert journal()[-1]["via"] == "refused"
        assert int(stat_row(lab, "fe_web", "FRONTEND")["stot"]) >= before
        return
    await do(lab, await plan_for(lab, Action("clear_counters_all")))
    assert int(stat_row(lab, "fe_web", "FRONTEND")["stot"]) < before


def test_clear_counters_all_crashes_exactly_the_versions_refused(haproxy_binary: Any) -> None:
    """Sends the raw ``clear counters all`` to a lab under traffic (on its own lab: it
    may die). HAProxy 3.4.0's worker crashes with a segfault (exit 139) and takes the
    whole process tree down, which is why the console refuses it there; every other
    version must survive it, or the refusal list is wrong."""
    refused = crash_risk("clear_counters_all", haproxy_binary.version) is not None
    directory = Path(tempfile.mkdtemp(prefix="hac-clr-"))
    try:
        with start_lab(directory, str(haproxy_binary.path)) as handle:
            deadline = time.monotonic() + 10
            while int(stat_row(handle, "fe_web", "FRONTEND")["stot"]) < 20:
                assert time.monotonic() < deadline, "no traffic"
                time.sleep(0.2)
            handle.send(handle.info["admin_socket"], "clear counters all")
            alive = True
            for _ in range(20):  # the crash comes within a few hundred ms when it comes
                time.sleep(0.1)
                try:
                    handle.send(handle.info["admin_socket"], "show info", timeout=2)
                except OSError:
                    alive = False
                    break
            log = (directory / "haproxy.log").read_text(errors="replace")
        if refused:
            assert not alive and "exited with code 139" in log, \
                f"{haproxy_binary.describe()} survived 'clear counters all' under traffic: " \
                "the console's refusal (known_bugs) may no longer be needed"
        else:
            assert alive, f"{haproxy_binary.describe()} died on 'clear counters all':\n" \
                f"{log[-1500:]}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        Path(f"{directory}.stderr").unlink(missing_ok=True)


# --------------------------------------------------------------------------- refusals

async def test_operator_socket_is_refused_naming_the_level(lab: LabHandle) -> None:
    before = stable_state(lab)
    p = await plan_for(lab, srv("server_state", "be_web/web1", state="maint"))
    result = await execute(p, RuntimeClient(lab.info["operator_socket"]), "lab")
    assert result.error is not None
    assert "at level operator" in result.error and "needs level admin" in result.error
    assert stable_state(lab) == before
    assert len(journal()) == 1 and journal()[0]["ok"] is False


INJECTIONS = [
    srv("server_state", "be_web/web1", state="drain;disable frontend fe_web"),
    Action.server("server_state", [("be_web", "web1;disable frontend fe_web")], state="drain"),
    Action.server("server_state", [("be_web", "web1\nshutdown frontend fe_web")],
                  state="maint"),
    Action.server("server_state", [("be web", "web1")], state="maint"),
    Action.server("weight", [("be_web", "wéb1")], value="1"),
    srv("weight", "be_web/web1", value="257"),
    srv("weight", "be_web/web1", value="-1000"),
    srv("weight", "be_web/web1", value="1;shutdown sessions server be_web/web1"),
    srv("weight", "be_web/web1", value="ten"),
    srv("server_maxconn", "be_web/web1", value="1\nclear counters all"),
    srv("server_addr", "be_web/web1", addr="127.0.0.1;shutdown frontend fe_web"),
    Action.frontend("frontend", ["fe_web;shutdown frontend fe_api"], op="disable"),
]


async def test_injections_change_nothing_and_are_journaled(lab: LabHandle) -> None:
    before = stable_state(lab)
    client = admin(lab)
    for n, action in enumerate(INJECTIONS, 1):
        with pytest.raises(ValidationError):
            await run_action(action, client, "lab", confirm=lambda p: True)
        assert len(journal()) == n, action
    assert stable_state(lab) == before
    assert all(e["ok"] is False and e["via"] == "refused" for e in journal())
    for bad in ("#1;clear counters all", "a b.map"):
        with pytest.raises(ValidationError):
            await tables.prepare_map_change(client, "map_add", bad, "k", "v")
    with pytest.raises(ValidationError):
        await tables.prepare_map_change(client, "map_add", lab.info["map_file"], "k\nx", "v")


async def test_unknown_server_and_unconfirmed(lab: LabHandle) -> None:
    with pytest.raises(NoSuchObject, match="no such server be_web/web9"):
        await run_action(srv("server_state", "be_web/web9", state="drain"), admin(lab), "lab")
    before = stable_state(lab)
    with pytest.raises(NotConfirmed):
        await run_action(srv("server_state", "be_web/web1", state="maint"), admin(lab), "lab",
                         confirm=lambda p: False)
    assert stable_state(lab) == before
    errors = [e["error"] for e in journal()]
    assert len(errors) == 2
    assert errors[0].startswith("no such server be_web/web9")
    assert errors[1].startswith("not confirmed")


# --------------------------------------------------------------------------- drain to zero

@contextlib.contextmanager
def held_requests(lab: LabHandle, count: int) -> Iterator[list[socket.socket]]:
    """Requests to be_static whose body never comes: each keeps a session on a server."""
    port = int(lab.info["frontends"]["fe_web"].rsplit(":", 1)[1])
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(f"POST /static/held{i} HTTP/1.1\r\nHost: www.lab.local\r\n"
                      "Content-Length: 1000\r\n\r\npartial".encode())
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


async def test_drain_to_zero_reaches_maint(lab: LabHandle) -> None:
    seen: list[drain.DrainProgress] = []
    result = await drain.drain_to_zero(admin(lab), "be_static", "static3", timeout=20,
                                       poll=0.1, on_progress=seen.append, target="lab")
    assert isinstance(result, drain.Drained), result.message
    assert state_rows(lab)[("be_static", "static3")]["srv_admin_state"] == "1"
    assert seen[-1].phase == "maint" and result.elapsed < 20
    assert [e["command"] for e in journal()] == ["set server be_static/static3 state drain",
                                                 "set server be_static/static3 state maint"]
    await do(lab, await plan_for(lab, srv("server_state", "be_static/static3", state="ready")))
    assert state_rows(lab)[("be_static", "static3")]["srv_admin_state"] == "0"


async def test_drain_to_zero_times_out_and_cancels_in_drain(lab: LabHandle) -> None:
    with held_requests(lab, 6):
        busy: list[str] = []
        deadline = time.monotonic() + 10
        while not busy:
            assert time.monotonic() < deadline, "no held session shows in show stat"
            busy = [r["svname"] for r in parse_stat(lab.send(lab.info["admin_socket"],
                                                              "show stat be_static 4 -1"))
                    if int(r["scur"] or 0) > 0]
            await asyncio.sleep(0.1)
        server = busy[0]
        result = await drain.drain_to_zero(admin(lab), "be_static", server, timeout=0.5,
                                           poll=0.1)
        assert isinstance(result, drain.TimedOut), result.message
        assert result.scur and result.scur > 0 and "left in DRAIN" in result.message
        assert state_rows(lab)[("be_static", server)]["srv_admin_state"] == "8"
        seen: list[drain.DrainProgress] = []
        task = asyncio.create_task(drain.drain_to_zero(admin(lab), "be_static", server,
                                                       timeout=30, poll=0.1,
                                                       on_progress=seen.append))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen[-1].phase == "cancelled" and "left in DRAIN" in seen[-1].message
        assert state_rows(lab)[("be_static", server)]["srv_admin_state"] == "8"
    await do(lab, await plan_for(lab, srv("server_state", f"be_static/{server}",
                                          state="ready")))


# --------------------------------------------------------------------------- maps, acls, tables

async def test_map_add_set_del_and_undo(lab: LabHandle) -> None:
    client, path = admin(lab), lab.info["map_file"]
    original = lab.send(lab.info["admin_socket"], f"show map {path}")
    file_before = Path(path).read_text()
    add = await tables.prepare_map_change(client, "map_add", path, "t.lab.local", "be_api")
    assert "temporary: the map file is not changed" in add.impact
    await do(lab, add)
    assert " t.lab.local be_api" in lab.send(lab.info["admin_socket"], f"show map {path}")
    put = await tables.prepare_map_change(client, "map_set", path, "t.lab.local", "be_static")
    await do(lab, put)
    assert " t.lab.local be_static" in lab.send(lab.info["admin_socket"], f"show map {path}")
    await do(lab, undo_plan(put))
    await do(lab, undo_plan(add))
    strip = [line.split(" ", 1)[1] for line in original.splitlines() if line.strip()]
    now = lab.send(lab.info["admin_socket"], f"show map {path}")
    assert [line.split(" ", 1)[1] for line in now.splitlines() if line.strip()] == strip
    d = await tables.prepare_map_change(client, "map_del", path, "cdn.lab.local")
    await do(lab, d)
    assert "cdn.lab.local" not in lab.send(lab.info["admin_socket"], f"show map {path}")
    await do(lab, undo_plan(d))
    assert " cdn.lab.local be_static" in lab.send(lab.info["admin_socket"], f"show map {path}")
    assert Path(path).read_text() == file_before
    entries = journal()
    assert len(entries) == 6 and entries[0]["after"]["values"] == ["be_api"]


async def test_acl_add_del_through_the_operator_socket(lab: LabHandle) -> None:
    client, path = RuntimeClient(lab.info["operator_socket"]), lab.info["acl_file"]
    if branch(lab.info["haproxy_version"]) >= (3, 4):
        # 3.4 requires level admin for every map and ACL command, even a read
        assert required_level("acl_add", lab.info["haproxy_version"]) == "admin"
        with pytest.raises(PermissionDenied, match="level admin"):
            await tables.prepare_acl_change(client, "acl_add", path, "10.20.30.40")
        return
    add = await tables.prepare_acl_change(client, "acl_add", path, "10.20.30.40")
    assert add.required_level == "operator"
    assert (await execute(add, client, "lab")).ok
    assert "10.20.30.40" in lab.send(lab.info["admin_socket"], f"show acl {path}")
    assert (await execute(undo_plan(add), client, "lab")).ok
    assert "10.20.30.40" not in lab.send(lab.info["admin_socket"], f"show acl {path}")


async def test_table_clear_key(lab: LabHandle) -> None:
    sock = lab.info["admin_socket"]
    assert lab.send(sock, "set table fe_api key 10.9.8.7 data.gpc0 900000").strip() == ""
    assert "key=10.9.8.7" in lab.send(sock, "show table fe_api key 10.9.8.7")
    client = RuntimeClient(lab.info["operator_socket"])
    # above what the lab's own traffic counts for 127.0.0.1
    info, entries = await tables.show_table(client, "fe_api", data="data.gpc0 gt 899999")
    assert info.name == "fe_api" and [e.key for e in entries] == ["10.9.8.7"]
    p = await tables.prepare_table_clear(client, "fe_api", "10.9.8.7")
    assert p.before["fe_api 10.9.8.7"]["entry"]["gpc0"] == "900000"
    assert (await execute(p, client, "lab")).ok
    assert "key=10.9.8.7" not in lab.send(sock, "show table fe_api key 10.9.8.7")
    assert journal()[-1]["after"] == {"key": "10.9.8.7", "entry": None}


async def test_frontend_shutdown_last(lab: LabHandle) -> None:
    """Runs last in this module: a shut down frontend stays down until a reload."""
    p = await plan_for(lab, Action.frontend("frontend_shutdown", ["fe_api"]))
    assert p.dangerous and p.undo_commands == []
    await do(lab, p)
    assert stat_row(lab, "fe_api", "FRONTEND")["status"] == "STOP"
    again = await plan_for(lab, Action.frontend("frontend", ["fe_api"], op="enable"))
    result = await execute(again, admin(lab), "lab")
    assert not result.ok and "shut down" in (result.error or "")
