"""``haconsole --fleet``: three real HAProxy instances, two of them reached over a real
sshd on loopback (ssh run as ``nobody``), one local."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.instance import Instance, start_instance
from tests.lab_helpers import send
from tests.sshd import SSHServer

pytestmark = pytest.mark.haproxy


@pytest.fixture(scope="module")
def nodes(haproxy_binary: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[list[Instance]]:
    started = [start_instance(tmp_path_factory.mktemp(f"node{i}"), haproxy_binary.path)
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

[instances.lb2]
ssh = "{second_host}"
ssh_config = "{sshd.config}"
socket = "{nodes[1].admin}"

[instances.lb3]
socket = "{nodes[2].admin}"

[fleets.prod]
instances = ["lb1", "lb2", "lb3"]
"""


def haconsole(sshd: SSHServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", "--fleet", "prod", *args],
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env={**os.environ, **sshd.env()})


@pytest.fixture
def fleet(sshd: SSHServer, nodes: list[Instance]) -> list[Instance]:
    Path(os.environ["HACONSOLE_SETTINGS"]).write_text(settings_text(sshd, nodes))
    return nodes


def admin_state(inst: Instance, server: str) -> str:
    text = send(inst.admin, "show servers state be_app")
    return next(line.split() for line in text.splitlines() if f" {server} " in line)[6]


def test_show_stat_of_every_node_with_its_name(fleet: list[Instance],
                                                sshd: SSHServer) -> None:
    out = haconsole(sshd, "show", "stat", "--json", "--filter", "be_app")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {(r["node"], r["name"]) for r in rows} >= {
        (n, s) for n in ("lb1", "lb2", "lb3") for s in ("app1", "app2", "BACKEND")}
    table = haconsole(sshd, "show", "servers", "--filter", "app1")
    assert table.returncode == 0, table.stderr
    assert sum(line.startswith("lb") for line in table.stdout.splitlines()) == 3


def test_a_rolling_drain_reaches_every_node_and_is_journaled(fleet: list[Instance],
                                                             sshd: SSHServer,
                                                             tmp_path: Path) -> None:
    out = haconsole(sshd, "server", "drain", "be_app/app1", "--wave", "rolling", "--yes")
    try:
        assert out.returncode == 0, out.stderr
        assert [admin_state(n, "app1") for n in fleet] == ["8", "8", "8"]
        summary = out.stdout[out.stdout.index("summary:"):]
        assert "lb1 via ssh: done" in summary and "lb3: done" in summary
        entries = [json.loads(line) for line in
                   (tmp_path / "state" / "journal.jsonl").read_text().splitlines()]
        assert sorted(e["instance"] for e in entries
                      if e["command"] == "set server be_app/app1 state drain") == \
            ["lb1", "lb2", "lb3"]
    finally:
        for n in fleet:
            send(n.admin, "set server be_app/app1 state ready")


def test_nothing_is_sent_when_one_node_cannot_be_planned(fleet: list[Instance],
                                                         sshd: SSHServer) -> None:
    send(fleet[1].admin, "set server be_app/app2 state maint")
    try:
        before = [admin_state(n, "app2") for n in fleet]
        out = haconsole(sshd, "server", "weight", "be_nope/app2", "5", "--yes")
        assert out.returncode != 0
        assert "nothing was sent to any node" in out.stderr, out.stderr
        assert [admin_state(n, "app2") for n in fleet] == before
    finally:
        send(fleet[1].admin, "set server be_app/app2 state ready")


def test_an_unreachable_node_stops_a_change_before_anything_is_sent(
        sshd: SSHServer, nodes: list[Instance]) -> None:
    Path(os.environ["HACONSOLE_SETTINGS"]).write_text(
        settings_text(sshd, nodes, second_host="lb1-badkey"))
    out = haconsole(sshd, "server", "drain", "be_app/app1", "--yes")
    assert out.returncode == 1
    assert "lb2: the host key of lb1-badkey has changed" in out.stderr
    assert "not every node could be reached: nothing was sent" in out.stderr
    assert [admin_state(n, "app1") for n in nodes] == ["0", "0", "0"]
    shown = haconsole(sshd, "show", "stat", "--json")
    assert shown.returncode == 1  # the rows of the nodes reached, and the failure said
    assert {r["node"] for r in json.loads(shown.stdout)} == {"lb1", "lb3"}
