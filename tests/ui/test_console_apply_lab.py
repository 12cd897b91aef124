"""An apply from the console's config screen is the apply of ``haconsole config apply``.

The instance comes from the settings as a user would write it: a configuration in two
``-f`` paths (a file and a directory) and ``reload = "command"`` with a command that
leaves a marker and signals the master. The console must check with the running
binary and every file of the service, reload with that command (not through the
master socket), and show the new server weight served.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.haproxy import journal
from console.haproxy.parsers import parse_servers_state
from console.haproxy.staging import Staging
from console.instance import Request, Target, resolve
from console.ui.app import HAConsoleApp
from console.ui.screens.config import ConfigScreen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.apply_steps import ApplySteps
from tests.integration.test_apply import Running, start_haproxy
from tests.integration.test_config_files import layout
from tests.ui.test_config_screens import wait_for

pytestmark = pytest.mark.haproxy


@pytest.fixture
def edge(haproxy_binary, tmp_path: Path) -> Iterator[tuple[Running, Target, Path]]:
    """A master-worker HAProxy on ``-f main.cfg -f conf.d/``, and the target the settings
    name: its reload is a command leaving a marker (the third item) and signalling the
    master."""
    d = tmp_path / "lb"
    main, conf = layout(d)
    lb = start_haproxy(d, haproxy_binary, config_name="main.cfg", extra_files=(conf,))
    try:
        marker = tmp_path / "reloaded-by-command"
        settings = tmp_path / "settings.toml"
        settings.write_text(
            "[instances.edge]\n"
            f'socket = "{lb.socket}"\nmaster = "{lb.master}"\n'
            f'config = ["{main}", "{conf}"]\n'
            'reload = "command"\n'
            f'reload_command = "touch {marker} && kill -USR2 {lb.proc_info().master.pid}"\n')
        yield lb, resolve(Request(instance="edge", settings=str(settings))), marker
    finally:
        lb.stop()


async def test_the_console_applies_with_the_instance_reload_command_and_every_file(
        edge, haproxy_binary) -> None:
    lb, target, marker = edge
    main, conf = lb.dir / "main.cfg", lb.dir / "conf.d"
    more = conf / "60-more.cfg"
    Staging.load(str(more)).set_candidate(
        # tracking a server of main.cfg: the check passes only with every -f of the service
        re.sub(r"(server x1 \S+)", r"\1 weight 7 track be_app/app1", more.read_text()).encode())
    app = HAConsoleApp(target)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigScreen))
        screen = app.screen
        assert isinstance(screen, ConfigScreen)
        at = screen.apply_target
        assert (at.reload, at.haproxy, at.haproxy_origin) == (
            "command", haproxy_binary.path, "running instance")
        assert at.config_files == [str(main), str(conf)] and at.cwd == str(lb.dir)
        assert screen.config == str(more)  # the file with the staged change
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is screen and not screen.applying
                       and screen.result is not None)
        result = screen.result
        assert result.ok and result.outcome == "applied", result.steps
        steps = screen.query_one(ApplySteps).steps
        check = steps["check"][1]
        assert haproxy_binary.path in check and "running instance" in check
        assert f"sh -c touch {marker}" in steps["reload"][1]
    assert marker.exists()
    reloads = [e for e in journal.read_entries() if e["command"] == "reload"]
    assert reloads[-1]["via"] == "command"
    state = await asyncio.to_thread(lb.runtime, "show servers state be_more")
    assert [r.srv_iweight for r in parse_servers_state(state) if r.srv_name == "x1"] == [7]
