"""The console's config screens on a node reached over SSH: a real sshd on loopback (ssh
run as ``nobody``, which cannot open the instance's files or sockets), a real
master-worker HAProxy.

``F`` reads the node's configuration over ssh in a worker (the screen stays live), then
the config screen, the editor, the apply, the history and the rollback work on the
node's file as on a local one; every path on screen is the node's (``lb1:/…``), never
the local mirror's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.instance import Request, Target, resolve
from console.ui.app import HAConsoleApp
from console.ui.screens.config import ConfigScreen
from console.ui.screens.config_editor import ConfigEditorScreen
from console.ui.screens.config_history import ConfigHistoryScreen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.drift import DriftScreen
from console.ui.screens.monitor import MonitorScreen
from console.ui.widgets.apply_steps import ApplySteps
from console.ui.widgets.cfg_highlight import ConfigTextArea
from tests.instance import Instance, start_instance
from tests.lab_helpers import send
from tests.sshd import SSHServer
from tests.ui.test_config_screens import screen_text, wait_for

pytestmark = pytest.mark.haproxy


@pytest.fixture
def node(haproxy_binary: Any, tmp_path: Path) -> Iterator[Instance]:
    (tmp_path / "node").mkdir()
    inst = start_instance(tmp_path / "node", haproxy_binary.path)
    os.chmod(inst.config, 0o640)
    os.chown(inst.config, 0, 4)  # root:adm: the write on the node must keep it
    yield inst
    inst.stop()


@pytest.fixture
def via_nobody(sshd: SSHServer, monkeypatch: pytest.MonkeyPatch) -> SSHServer:
    for key, value in sshd.env().items():
        monkeypatch.setenv(key, value)
    return sshd


async def node_target(sshd: SSHServer, node: Instance, **kw: Any) -> Target:
    return await asyncio.to_thread(resolve, Request(
        ssh="lb1", ssh_config=sshd.config, socket=node.admin, master=node.master, **kw))


def weight(node: Instance, server: str) -> str:
    rows = [r for r in send(node.admin, "show servers state be_app").splitlines()
            if f" {server} " in f" {r} "]
    return rows[0].split()[7] if rows else "absent"


def notes(app: HAConsoleApp) -> list[str]:
    return [n.message for n in app._notifications]


async def started(pilot: Any, app: HAConsoleApp) -> None:
    await wait_for(pilot, lambda: app.monitor.snapshot is not None)


def no_mirror_path(app: HAConsoleApp, target: Target) -> None:
    assert target.files is not None
    root = target.files.mirror_root
    shown = screen_text(app) + "\n".join(notes(app))
    assert root not in shown and os.path.realpath(root) not in shown, shown
    assert "Traceback" not in shown


async def config_screen(pilot: Any, app: HAConsoleApp) -> ConfigScreen:
    """The config screen once open and drawn (``F`` was pressed)."""
    await wait_for(pilot, lambda: isinstance(app.screen, ConfigScreen)
                   and app.screen.is_mounted and app.screen.staging is not None, timeout=60)
    await pilot.pause(0.1)
    assert isinstance(app.screen, ConfigScreen)
    return app.screen


async def apply_with_keys(pilot: Any, app: HAConsoleApp, screen: ConfigScreen) -> None:
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                   and "Apply the staged change?" in screen_text(app)
                   and "lb1:" in screen_text(app))
    confirm = screen_text(app)
    assert "lb1:" in confirm and "Apply the staged change?" in confirm
    no_mirror_path(app, app.target)
    await pilot.press("y")
    await wait_for(pilot, lambda: app.screen is screen and not screen.applying
                   and screen.result is not None, timeout=90)


async def test_f_reads_the_node_config_then_edit_apply_history_rollback(
        via_nobody: SSHServer, node: Instance) -> None:
    target = await node_target(via_nobody, node)
    original = Path(node.config).read_text()
    assert "weight 10" in original
    try:
        app = HAConsoleApp(target)
        async with app.run_test(size=(120, 40)) as pilot:
            await started(pilot, app)
            assert target.files is None  # nothing read over ssh before F
            await pilot.press("F")
            await wait_for(pilot, lambda: any("reading lb1's configuration over ssh" in n
                                              for n in notes(app)), timeout=10)
            screen = await config_screen(pilot, app)
            assert isinstance(screen, ConfigScreen)
            assert target.files is not None and screen.apply_target.files is target.files
            title = str(screen.query_one("#cfg-title").render())
            assert f"lb1:{node.config}" in title, title
            assert f"Nothing staged for lb1:{node.config}" in screen_text(app)
            no_mirror_path(app, target)

            # the editor, on the node's file
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfigEditorScreen))
            assert f"Edit · lb1:{node.config}" in screen_text(app)
            area = app.screen.query_one(ConfigTextArea)
            area.load_text(area.text.replace(" weight 10", " weight 7", 1))
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.screen is screen and screen.status == "pending")
            assert Path(node.config).read_text() == original  # only staged

            await apply_with_keys(pilot, app, screen)
            result = screen.result
            assert result is not None and result.ok and result.outcome == "applied", \
                result.steps
            steps = screen.query_one(ApplySteps).steps
            assert "on lb1" in steps["check"][1]  # the node's binary checked it
            assert f"lb1:{node.config}" in steps["write"][1]
            no_mirror_path(app, target)
            st = os.stat(node.config)
            assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 0, 4)
            assert " weight 7" in Path(node.config).read_text()
            assert weight(node, "app1") == "7"

            # the history, and the return to the version before
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfigHistoryScreen))
            history = app.screen
            assert isinstance(history, ConfigHistoryScreen)
            assert f"History · lb1:{node.config}" in screen_text(app)
            assert len(history.versions) == 2
            no_mirror_path(app, target)
            await pilot.press("down")  # the file as it was before the apply
            await pilot.press("r")
            await wait_for(pilot, lambda: app.screen is screen and screen.status == "pending")
            await apply_with_keys(pilot, app, screen)
            assert screen.result is not None and screen.result.ok, screen.result.steps
            assert Path(node.config).read_text() == original
            assert weight(node, "app1") == "10"
            no_mirror_path(app, target)
    finally:
        assert target.node is not None
        target.node.close()


async def test_a_change_on_the_node_makes_the_staged_change_stale_at_the_next_f(
        via_nobody: SSHServer, node: Instance) -> None:
    target = await node_target(via_nobody, node)
    try:
        app = HAConsoleApp(target)
        async with app.run_test(size=(120, 40)) as pilot:
            await started(pilot, app)
            await pilot.press("F")
            screen = await config_screen(pilot, app)
            assert isinstance(screen, ConfigScreen) and screen.config
            from console.haproxy.staging import Staging

            live = Path(screen.config).read_bytes()
            Staging.load(screen.config).set_candidate(live.replace(b" weight 10", b" weight 3"))
            await wait_for(pilot, lambda: screen.status == "pending")
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
            with open(node.config, "a") as f:
                f.write("\n# changed on the node\n")
            await pilot.press("F")
            screen = await config_screen(pilot, app)
            assert isinstance(screen, ConfigScreen)
            assert screen.status == "stale"
            assert "changed in" in screen_text(app) and "# changed on the node" in \
                screen_text(app)
            no_mirror_path(app, target)
            await pilot.press("a")  # refused: nothing reaches the node
            await pilot.pause(0.3)
            assert " weight 3" not in Path(node.config).read_text()

            # the drift view reads the same mirror, named as the node's file
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
            send(node.admin, "set weight be_app/app2 5")
            await pilot.press("v")
            await wait_for(pilot, lambda: isinstance(app.screen, DriftScreen)
                           and app.screen.is_mounted and str(app.screen.query_one(
                               "#title").render()) != "Drift: running state vs the config "
                           "file", timeout=60)
            title = str(app.screen.query_one("#title").render())
            assert f"lb1:{node.config}" in title and "1 difference" in title, title
            no_mirror_path(app, target)
    finally:
        assert target.node is not None
        target.node.close()


async def test_a_node_config_that_cannot_be_read_is_said_without_a_traceback(
        via_nobody: SSHServer, node: Instance) -> None:
    target = await node_target(via_nobody, node)
    target.remote_configs = ["/nonexistent/haproxy.cfg"]  # as a wrong config = [...]
    try:
        app = HAConsoleApp(target)
        async with app.run_test(size=(120, 40)) as pilot:
            await started(pilot, app)
            await pilot.press("F")
            await wait_for(pilot, lambda: any("cannot read lb1's configuration" in n
                                              for n in notes(app)), timeout=60)
            message = next(n for n in notes(app) if "cannot read lb1's" in n)
            assert "lb1:/nonexistent/haproxy.cfg" in message
            assert "not found on the node" in message and "check the instance" in message
            assert "Traceback" not in message
            assert isinstance(app.screen, MonitorScreen)  # nothing opened
            assert target.files is None
    finally:
        assert target.node is not None
        target.node.close()
