"""The fleet console (``haconsole --fleet NAME``) on three real HAProxy instances, two of
them reached over a real sshd on loopback (ssh run as ``nobody``), one local."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from console import fleet
from console.haproxy.journal import read_entries
from console.haproxy.parsers import parse_servers_state
from console.instance import Target
from console.ui.fleet_app import FleetApp, NodeMonitorScreen
from console.ui.screens.actions import ActionMenu
from console.ui.screens.fleet import DIVERGE, HASH_SHOWN, FleetScreen
from console.ui.screens.fleet_dialogs import FleetConfirmScreen, FleetResultScreen
from tests.instance import Instance, start_instance
from tests.lab_helpers import send
from tests.sshd import SSHServer

pytestmark = pytest.mark.haproxy

NAMES = ["lb1", "lb2", "lb3"]


@pytest.fixture(scope="module")
def nodes(haproxy_binary: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[list[Instance]]:
    started = [start_instance(tmp_path_factory.mktemp(f"fleetnode{i}"), haproxy_binary.path)
               for i in range(3)]
    yield started
    for inst in started:
        inst.stop()


def settings_text(sshd: SSHServer, nodes: list[Instance], *, second_host: str = "lb1") -> str:
    return f"""
[instances.lb1]
ssh = "lb1"
ssh_config = "{sshd.config}"
socket = "{nodes[0].admin}"
master = "{nodes[0].master}"

[instances.lb2]
ssh = "{second_host}"
ssh_config = "{sshd.config}"
socket = "{nodes[1].admin}"

[instances.lb3]
socket = "{nodes[2].admin}"
master = "{nodes[2].master}"
config = ["{nodes[2].config}"]

[fleets.prod]
instances = ["lb1", "lb2", "lb3"]
"""


def make_app(sshd: SSHServer, nodes: list[Instance], monkeypatch: pytest.MonkeyPatch,
             **kw: str) -> tuple[FleetApp, list[Any]]:
    import os

    monkeypatch.setenv("HACONSOLE_SSH", sshd.env()["HACONSOLE_SSH"])
    Path(os.environ["HACONSOLE_SETTINGS"]).write_text(settings_text(sshd, nodes, **kw))
    targets, failed = fleet.connect(fleet.members("prod"))
    for t in targets:
        t.interval = 0.5
    return FleetApp("prod", NAMES, targets, failed), targets


def admin_state(inst: Instance, server: str) -> int:
    text = send(inst.admin, "show servers state be_app")
    return next(r for r in parse_servers_state(text) if r.srv_name == server).srv_admin_state


async def wait_for(pilot: Any, predicate: Callable[[], Any], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(0.1)
    return bool(predicate())


def fleet_screen(app: FleetApp) -> FleetScreen:
    return app.fleet_screen


async def choose(pilot: Any, app: FleetApp, label_start: str) -> None:
    assert await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu))
    labels = [i.label for i in app.screen.items]  # type: ignore[attr-defined]
    index = next(n for n, label in enumerate(labels) if label.startswith(label_start))
    for _ in range(index):
        await pilot.press("down")
    await pilot.press("enter")


def live(app: FleetApp) -> int:
    return sum(n.state.state == "live" for n in app.nodes)


async def test_overview_merged_divergence_node_console_fan_out_and_undo(
        sshd: SSHServer, nodes: list[Instance], monkeypatch: pytest.MonkeyPatch) -> None:
    app, targets = make_app(sshd, nodes, monkeypatch)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = fleet_screen(app)
            assert await wait_for(pilot, lambda: live(app) == 3 and all(
                n.level for n in app.nodes))
            await pilot.pause(0.5)
            header = str(screen.query_one("#fleet-header").render())
            assert "fleet prod" in header and "3 nodes" in header and "● 3 live" in header
            labels = [r.label for r in screen.rows]
            assert labels == ["lb1 via ssh", "lb2 via ssh", "lb3"]
            assert all(r.version and r.problems is not None for r in screen.rows)
            assert screen.rows[0].reloads is not None  # lb1's master, over ssh
            assert await wait_for(pilot, lambda: all(r.config_hash for r in screen.rows))
            # three different files (each instance its own ports): a tie marks every node
            assert all("config" in r.diverges for r in screen.rows)

            # one node diverges: the merged table marks the row
            send(nodes[1].admin, "set weight be_app/app2 7")
            try:
                await pilot.press("2")
                assert await wait_for(pilot, lambda: any(
                    r.key == ("be_app", "app2") and "weight" in r.diverges
                    for r in screen.merged))
                await pilot.pause(0.5)
                table = screen.merged_table
                row = next(i for i, r in enumerate(screen.merged)
                           if r.key == ("be_app", "app2"))
                assert table.get_row_at(row)[0].plain == DIVERGE
                assert "w7" in table.get_row_at(row)[3].plain  # lb2's column
                screen.move_merged_cursor("be_app", "app2")
                await pilot.pause(0.2)
                line = str(screen.query_one("#fleet-line").render())
                assert "weight differs: lb1 20, lb2 7, lb3 20" in line
            finally:
                send(nodes[1].admin, "set weight be_app/app2 20")
            assert await wait_for(pilot, lambda: not screen.merged or not any(
                r.diverges for r in screen.merged))

            # enter on a node opens its console; escape comes back
            await pilot.press("1")
            screen.nodes_table.move_cursor(row=1)
            await pilot.press("enter")
            assert await wait_for(pilot, lambda: isinstance(app.screen, NodeMonitorScreen)
                                  and app.monitor.snapshot is not None)
            assert app.target.name == "lb2"
            assert "lb2 via ssh · fleet prod" in app.monitor.header.instance
            await pilot.press("escape")
            assert await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen))

            # a drain on every node, rolling, then undone on every node
            await pilot.press("2")
            assert screen.move_merged_cursor("be_app", "app1")
            await pilot.press("o")
            await choose(pilot, app, "drain —")
            assert await wait_for(pilot, lambda: isinstance(app.screen, FleetConfirmScreen))
            confirm = app.screen
            assert isinstance(confirm, FleetConfirmScreen)
            assert [c.target.name for c in confirm.changes] == NAMES
            assert confirm.body.count("will send: set server be_app/app1 state drain") == 3
            await pilot.press("y")
            assert await wait_for(pilot, lambda: isinstance(app.screen, FleetResultScreen))
            assert [admin_state(n, "app1") & 8 for n in nodes] == [8, 8, 8]
            text = app.screen.text  # type: ignore[attr-defined]
            assert "lb1 via ssh: done" in text and "lb3: done" in text
            journaled = sorted(e["instance"] for e in read_entries()
                               if e["command"] == "set server be_app/app1 state drain")
            assert journaled == NAMES
            await pilot.press("escape")
            assert await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen))
            assert await wait_for(pilot, lambda: all(
                c.admin == "DRAIN" for r in screen.merged if r.key == ("be_app", "app1")
                for c in r.cells))

            await pilot.press("u")
            assert await wait_for(pilot, lambda: isinstance(app.screen, FleetConfirmScreen))
            assert app.screen.body.count(  # type: ignore[attr-defined]
                "will send: set server be_app/app1 state ready") == 3
            await pilot.press("y")
            assert await wait_for(pilot, lambda: isinstance(app.screen, FleetResultScreen))
            assert [admin_state(n, "app1") for n in nodes] == [0, 0, 0]
            await pilot.press("escape")
            assert screen.operations.undo_stack == []
    finally:
        for n in nodes:
            send(n.admin, "set server be_app/app1 state ready")
        fleet.close_all(targets)


async def test_the_config_hash_is_read_over_ssh_and_a_node_whose_file_differs_is_marked(
        sshd: SSHServer, nodes: list[Instance], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """lb1 (over ssh) and lb3 (local) name files of the same contents in different places:
    the same hash. lb2 (over ssh, no configs in the settings) is hashed from the files of
    its running process, read on the node: it differs, and is marked."""
    import os

    text = Path(nodes[0].config).read_text()
    same = [tmp_path / "one" / "haproxy.cfg", tmp_path / "two" / "haproxy.cfg"]
    for path in same:
        path.parent.mkdir()
        path.write_text(text)
    Path(os.environ["HACONSOLE_SETTINGS"]).write_text(f"""
[instances.lb1]
ssh = "lb1"
ssh_config = "{sshd.config}"
socket = "{nodes[0].admin}"
master = "{nodes[0].master}"
config = ["{same[0]}"]

[instances.lb2]
ssh = "lb1"
ssh_config = "{sshd.config}"
socket = "{nodes[1].admin}"

[instances.lb3]
socket = "{nodes[2].admin}"
config = ["{same[1]}"]

[fleets.prod]
instances = ["lb1", "lb2", "lb3"]
""")
    monkeypatch.setenv("HACONSOLE_SSH", sshd.env()["HACONSOLE_SSH"])
    targets, failed = fleet.connect(fleet.members("prod"))
    assert not failed
    app = FleetApp("prod", NAMES, targets, failed)
    local_hash = fleet.config_hash(Target(name="x", configs=[str(same[0])]))
    lb2_hash = fleet.config_hash(Target(name="x", configs=[nodes[1].config]))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = fleet_screen(app)
            assert await wait_for(pilot, lambda: all(r.config_hash for r in screen.rows),
                                  seconds=30), [(r.name, r.config_hash) for r in screen.rows]
            await pilot.pause(0.3)
            lb1, lb2, lb3 = screen.rows
            assert lb1.config_hash == lb3.config_hash == local_hash  # over ssh = local
            assert lb2.config_hash == lb2_hash != local_hash
            assert [sorted(r.diverges) for r in screen.rows] == [[], ["config"], []]
            cells = {r.name: screen.nodes_table.get_row(r.name)[4].plain for r in screen.rows}
            assert cells["lb2"] == f"{DIVERGE}{lb2_hash[:HASH_SHOWN]}"
            assert cells["lb1"] == cells["lb3"] == (local_hash or "")[:HASH_SHOWN]

            # lb1's file changes (on the node): seen at the next read, no sooner than
            # HASH_EVERY after the last; now lb3 is the odd one
            same[0].write_text(Path(nodes[1].config).read_text())
            app.hashes.every = 0.2
            await pilot.pause(0.3)
            await app._read_extras()
            assert await wait_for(pilot, lambda: screen.rows[0].config_hash == lb2_hash)
            assert [sorted(r.diverges) for r in screen.rows] == [[], [], ["config"]]
    finally:
        fleet.close_all(targets)


async def test_a_node_unreachable_from_the_start_is_a_row_and_blocks_changes(
        sshd: SSHServer, nodes: list[Instance], monkeypatch: pytest.MonkeyPatch) -> None:
    app, targets = make_app(sshd, nodes, monkeypatch, second_host="lb1-badkey")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = fleet_screen(app)
            assert await wait_for(pilot, lambda: live(app) == 2)
            await pilot.pause(0.5)
            lb2 = screen.rows[1]
            assert lb2.state == "unreachable" and "host key of lb1-badkey has changed" in \
                (lb2.error or "")
            banner = str(screen.query_one("#fleet-banner").render())
            assert "✖ lb2 unreachable: the host key of lb1-badkey has changed" in banner
            header = str(screen.query_one("#fleet-header").render())
            assert "● 2 live" in header and "✖ 1 unreachable" in header
            screen.nodes_table.move_cursor(row=1)
            await pilot.pause(0.2)
            assert "lb2: unreachable: the host key" in \
                str(screen.query_one("#fleet-line").render())
            await pilot.press("enter")  # no console on a node not reached
            await pilot.pause(0.2)
            assert isinstance(app.screen, FleetScreen)
            await pilot.press("2")
            assert await wait_for(pilot, lambda: screen.move_merged_cursor("be_app", "app1"))
            await pilot.press("o")
            await pilot.pause(0.3)
            assert isinstance(app.screen, FleetScreen)  # refused: no menu
            assert [admin_state(n, "app1") for n in nodes] == [0, 0, 0]
    finally:
        fleet.close_all(targets)
