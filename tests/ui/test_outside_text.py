"""Outside text in the console: what reaches the terminal never carries a control
character (an OSC title, a screen clear, an 8-bit CSI), and markup in it is shown as
written. ``export_screenshot`` renders every segment the terminal would get, control
characters included."""

from __future__ import annotations

import json
from pathlib import Path

from console.haproxy.actions import read_only
from console.haproxy.journal import journal_path
from console.haproxy.staging import Staging
from console.instance import Target
from console.ui.app import HAConsoleApp
from console.ui.screens.config import ConfigScreen
from console.ui.screens.config_editor import ConfigEditorScreen
from console.ui.screens.journal import JournalScreen
from console.ui.widgets.cfg_highlight import ConfigTextArea
from console.ui.widgets.table import ProxyTable
from tests.ui.captured import CapturedSource, first_up, target
from tests.ui.screen_host import Host, until
from tests.ui.test_config_screens import CONFIG, review

OSC = "\x1b]0;pwned\x07"
HOSTILE = f"{OSC}\x1b[2J\x9b31m"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m"
CONTROLS = ("\x1b", "\x07", "\x9b")


def clean(svg: str) -> bool:
    return not any(c in svg for c in CONTROLS)


async def test_journal_fields_shown_escaped_and_never_as_markup() -> None:
    entry = {"time": "2025-03-01T10:00:00+0000", "user": f"eve{OSC}", "instance": "edge",
             "via": "socket", "command": "add map #1 k [/]v", "ok": False,
             "answer": f"Unknown command{HOSTILE}", "error": f"refused{HOSTILE}\nforged",
             "before": {"values": [f"a{HOSTILE}"]}, "after": {"values": []}}
    journal_path().parent.mkdir(parents=True, exist_ok=True)
    journal_path().write_text(json.dumps(entry) + "\n")
    screen = JournalScreen(Target(name="edge"), None, read_only("admin", False), None)
    async with Host(screen).run_test(size=(120, 24)) as pilot:
        await until(pilot, lambda: screen.query_one("DataTable").row_count == 1, "entry")
        await pilot.pause(0.1)
        svg = pilot.app.export_screenshot()
        detail = str(screen.query_one("#journal-entry").render())
    assert clean(svg)
    assert f"FAILED: refused{SHOWN}\\nforged" in detail
    assert "eve\\x1b]0;pwned\\x07" in detail
    assert "[/]v" in svg  # markup shown as written


async def test_config_review_and_editor_show_control_characters_escaped(tmp_path: Path
                                                                        ) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONFIG)
    hostile = CONFIG.replace("backend be_static\n", f"backend be_static\n    # {HOSTILE}\n")
    Staging.load(str(cfg)).set_candidate(hostile.encode(), note="test")
    app = review(Target(name="edge", config=str(cfg)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfigScreen)
        svg = app.export_screenshot()
        assert clean(svg) and "#&#160;\\x1b]0;pwned\\x07" in svg
        await pilot.press("e")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfigEditorScreen)
        area = app.screen.query_one(ConfigTextArea)
        assert "\x1b" not in area.text and clean(app.export_screenshot())
        area.move_cursor((0, 0))
        await pilot.press("#", "ctrl+s")
        await pilot.pause(0.2)
    # the bytes of the file are kept as they were, control characters included
    assert Staging.load(str(cfg)).candidate == ("#" + hostile).encode()


async def test_a_message_with_control_characters_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONFIG)
    Staging.load(str(cfg)).add_ops([{"op": "server_set", "backend": "be_app",
                                     "server": "app1", "set": {"weight": "20"}}])
    app = review(Target(name="edge", config=str(cfg)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        screen = app.screen
        await pilot.press("m")
        screen.query_one("#cfg-message").value = f"why{OSC}"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert screen.message == ""


async def test_table_detail_and_notifications_escape_outside_text() -> None:
    source = CapturedSource()
    app = HAConsoleApp(target(), theme="dark", source=source, level="admin")
    async with app.run_test(size=(160, 40)) as pilot:
        while app.monitor.snapshot is None:
            await pilot.pause(0.05)
        row = first_up(app.monitor.snapshot)
        source.edit(row.proxy, row.name, check_status=f"L7OK{HOSTILE}",
                    last_chk=f"200 OK{HOSTILE}", agent_status="[/]")
        app.poller.refresh_now()
        await until(pilot,
                    lambda: "\x1b" in app.monitor.snapshot.get(*row.key).fields["check_status"],
                    "the next poll")
        app.query_one(ProxyTable).move_cursor_to(row.key)
        app.notify(f"HAProxy said: {HOSTILE} [/]", severity="error")
        await pilot.pause(0.3)
        svg = app.export_screenshot()
    assert clean(svg)
    # the table's check column, the detail pane's header, the event of the change
    assert svg.count("L7OK\\x1b]0;") >= 3
    note = list(app._notifications)[-1]
    assert note.message == f"HAProxy said: {SHOWN} [/]" and not note.markup
