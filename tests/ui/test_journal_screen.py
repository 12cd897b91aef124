"""The journal screen: entries newest first after real changes on the lab (2.6 and 2.8),
restore commands computed from an entry's state before, and a screenshot."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from console.haproxy import tables
from console.haproxy.actions import Action, execute, plan, plan_all, read_only, read_state
from console.haproxy.actions.restore import NoRestore, restore_actions
from console.haproxy.journal import journal_path
from console.haproxy.parsers import parse_servers_state
from console.haproxy.transport import RuntimeClient
from console.instance import Target
from console.ui.screens.journal import JournalScreen
from tests.lab_helpers import LabHandle, start_lab
from tests.ui.screen_host import Host, until


def commands_shown(screen: JournalScreen) -> list[str]:
    table = screen.query_one(DataTable)
    keys = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]
    return [screen.entries[k]["command"] for k in keys]


def binding_ids(screen: Any) -> set[str]:
    return {b.binding.id or "" for b in screen.active_bindings.values() if b.enabled}


@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[LabHandle]:
    directory = Path(tempfile.mkdtemp(prefix="hac-journal-"))
    with start_lab(directory, str(haproxy_binary.path)) as handle:
        yield handle
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.stderr").unlink(missing_ok=True)


async def change(client: RuntimeClient, target: Target, kind: str, **params: str) -> None:
    snapshot, states = await read_state(client)
    result = await execute(plan(Action.server(kind, [("be_web", "web1")], **params), snapshot,
                                states), client, target)
    assert result.ok, result.error


def web1(lab: LabHandle) -> tuple[int, int]:
    """(srv_admin_state, srv_uweight) of be_web/web1 as HAProxy reports them."""
    rows = parse_servers_state(lab.send(lab.info["admin_socket"], "show servers state be_web"))
    row = next(r for r in rows if r.srv_name == "web1")
    return row.srv_admin_state, row.srv_uweight


@pytest.mark.haproxy
async def test_newest_first_and_restore(lab: LabHandle) -> None:
    sock = lab.info["admin_socket"]
    client, target = RuntimeClient(sock), Target(name="lab", socket=sock)
    assert web1(lab) == (0, 1)
    await change(client, target, "weight", value="3")
    await change(client, target, "server_state", state="drain")
    assert web1(lab) == (8, 3)
    sent: list[tuple[list[str], str]] = []

    async def on_restore(changes: list[Action], summary: str, intro: str) -> None:
        p = plan_all(changes, *await read_state(client), summary=summary)
        sent.append((p.commands, summary))
        assert (await execute(p, client, target)).ok

    screen = JournalScreen(target, client, read_only("admin", False), on_restore)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 2, "entries")
        assert commands_shown(screen) == ["set server be_web/web1 state drain",
                                          "set server be_web/web1 weight 3"]
        detail = str(screen.query_one("#journal-entry").render())
        assert "admin_state ready → drain" in detail and "before:" in detail
        await pilot.press("down")
        assert "weight 1 → 3" in str(screen.query_one("#journal-entry").render())
        assert "journal.restore" in binding_ids(screen)
        await pilot.press("r")
        await until(pilot, lambda: sent, "on_restore")
        # back to the state before the weight change: weight 1 and ready, in that order
        expected = ["set server be_web/web1 weight 1", "set server be_web/web1 state ready"]
        assert sent[0][0] == expected and "restore be_web/web1" in sent[0][1]
        assert web1(lab) == (0, 1)
        # the same entry again: nothing differs now, nothing is offered to send
        await pilot.pause(0.2)
        await pilot.press("r")
        await pilot.pause(0.5)
        assert pilot.app.screen is screen and len(sent) == 1


@pytest.mark.haproxy
async def test_restore_not_offered_or_not_derivable(lab: LabHandle) -> None:
    sock = lab.info["admin_socket"]
    client, target = RuntimeClient(sock), Target(name="lab", socket=sock, read_only=True)
    p = await tables.prepare_map_change(client, "map_add", lab.info["map_file"], "j.lab.local",
                                        "be_api")
    assert (await execute(p, client, target)).ok
    entry = json.loads(journal_path().read_text().splitlines()[-1])
    with pytest.raises(NoRestore, match="not a server or frontend change"):
        restore_actions(entry)
    # read-only: restore is not offered, and the screen says why
    screen = JournalScreen(target, client, read_only("admin", True), None)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 1, "entries")
        assert "journal.restore" not in binding_ids(screen)
        assert "not offered" in str(screen.query_one("#journal-notice").render())
        await pilot.press("r")
        await pilot.pause(0.2)
        assert pilot.app.screen is screen
    # with a way to restore but a map entry selected: no confirmation is shown
    screen = JournalScreen(target, client, read_only("admin", False), _never)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 1, "entries")
        await pilot.press("r")
        await pilot.pause(0.3)
        assert pilot.app.screen is screen
    await execute(tables.plan_map_change("map_del", lab.info["map_file"], "j.lab.local", None,
                                         await tables.map_entries(client, lab.info["map_file"])),
                  client, target)


async def _never(changes: list[Action], summary: str, intro: str) -> None:
    raise AssertionError("on_restore must not be called")


# -- a screenshot on a written journal ------------------------------------------------------

def test_snapshot_80x24(snap_compare) -> None:
    assert journal_snapshot(snap_compare, (80, 24))


def test_snapshot_60x20(snap_compare) -> None:
    assert journal_snapshot(snap_compare, (60, 20))


def journal_snapshot(snap_compare, size: tuple[int, int]) -> bool:
    lines = [
        {"time": "2025-03-01T10:00:00+0000", "user": "alice", "ssh_origin": "192.0.2.7",
         "instance": "edge", "socket": "/run/haproxy/admin.sock", "via": "socket",
         "command": "set server be_web/web1 weight 3", "ok": True, "answer": "",
         "error": None, "before": {"admin_state": "ready", "weight": 1, "maxconn": 0},
         "after": {"admin_state": "ready", "weight": 3, "maxconn": 0}},
        {"time": "2025-03-01T10:05:12+0000", "user": "bob", "ssh_origin": None,
         "instance": "edge", "socket": "/run/haproxy/admin.sock", "via": "socket",
         "command": "set server be_web/web2 state maint", "ok": False, "answer": None,
         "error": "HAProxy refused it: No such server.", "before": None},
        {"time": "2025-03-01T10:06:40+0000", "user": "bob", "ssh_origin": None,
         "instance": "edge", "socket": "/run/haproxy/admin.sock", "via": "socket",
         "command": "set server be_web/web1 state drain", "ok": True, "answer": "",
         "error": None, "before": {"admin_state": "ready", "weight": 3, "maxconn": 0},
         "after": {"admin_state": "drain", "weight": 3, "maxconn": 0}},
        {"time": "2025-03-01T10:07:00+0000", "user": "bob", "instance": "other",
         "command": "clear counters", "ok": True},
    ]
    journal_path().parent.mkdir(parents=True, exist_ok=True)
    journal_path().write_text("".join(json.dumps(e) + "\n" for e in lines))
    screen = JournalScreen(Target(name="edge"), None, read_only("admin", False), _never)

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 3, "entries")
        await pilot.press("down", "down")
        await pilot.pause(0.1)

    return bool(snap_compare(Host(screen), terminal_size=size, run_before=run_before))
