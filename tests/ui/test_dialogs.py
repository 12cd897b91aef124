"""Every dialog fits the terminal: the body scrolls, the question and the input or keys
stay in view at the bottom, and no toast is drawn over a dialog. Screenshots at 80×24
and 60×20, on captured data (no HAProxy)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.widgets import Input, OptionList, Static

from console.haproxy import actions as act
from console.haproxy.model import Snapshot
from console.haproxy.parsers import parse_servers_state
from console.ui.screens.actions import ActionMenu, DrainScreen, ValuePrompt, row_items
from console.ui.screens.confirm import ConfirmScreen, confirm_screen
from console.ui.screens.dialog import Dialog, DialogBody
from console.ui.screens.help import HelpScreen
from console.ui.screens.tables import PromptScreen
from tests.ui.captured import DATA
from tests.ui.screen_host import Host, until
from tests.ui.test_app import make_app, ready

SIZES = [(80, 24), (60, 20)]
SIZE_IDS = ["80x24", "60x20"]
API_SERVERS = [("be_api", "api_ok"), ("be_api", "api_nolb"), ("be_api", "agent_drain")]


def maint_plan(keys: list[tuple[str, str]]) -> act.Plan:
    """MAINT on *keys*, planned on the captured ``show stat`` and ``show servers state``."""
    snap = Snapshot.from_text(None, (DATA / "2.8" / "show_stat.txt").read_text())
    states = parse_servers_state((DATA / "2.8" / "show_servers_state.txt").read_text())
    return act.plan_all([act.Action.server("server_state", keys, state="maint")], snap,
                        states, instance="edge")


def dangerous_confirm() -> ConfirmScreen:
    """Three servers to MAINT that take their backend DOWN: the name must be typed."""
    plan = maint_plan(API_SERVERS)
    assert plan.dangerous and len(plan.commands) == 3
    return confirm_screen(plan)


def menu() -> ActionMenu:
    return ActionMenu("server be_api/api_ok, be_api/api_nolb, be_api/agent_drain",
                      row_items("server"))


def help_screen() -> HelpScreen:
    rows = [(f"k{n}", f"what key {n} does, told in a few words", f"some.id{n}")
            for n in range(30)]
    return HelpScreen(rows, ["Remap keys in the settings file: [keys] <id> = \"ctrl+x\"."])

from console.ui.screens.sort_pick import SortPicker  # noqa: E402
from console.ui.widgets.columns import VIEW_COLUMNS  # noqa: E402


def drain() -> DrainScreen:
    return DrainScreen("be_api/api_ok", 30)


DIALOGS = {
    "confirm-dangerous": dangerous_confirm,
    "confirm-yes-no": lambda: confirm_screen(maint_plan([("be_app", "up1"), ("be_app", "up2"),
                                                         ("be_app", "weight0")])),
    "actions-menu": menu,
    "value-prompt": lambda: ValuePrompt("new weight for be_api/api_ok (0-256, or a % of "
                                        "the configured weight)"),
    "drain": drain,
    "tables-prompt": lambda: PromptScreen(
        "Add an entry to map /etc/haproxy/hosts.map",
        [("key", "www.example.com"), ("value", "")],
        "Runtime only: the file is not changed. " * 4, "the value must not be empty"),
    "help": help_screen,
    "sort-by": lambda: SortPicker(list(VIEW_COLUMNS["errors"]), "5xx_pct", False),
}


class Answer(App[None]):
    """Shows the dialog under test and keeps its answer."""

    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.under_test = screen
        self.answers: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.under_test, self.answers.append)


# -- screenshots -----------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("name", list(DIALOGS))
def test_snapshot_dialogs(snap_compare, name: str, size: tuple[int, int]) -> None:
    screen = DIALOGS[name]()

    async def run_before(pilot: Any) -> None:
        await pilot.pause(0.1)
        if isinstance(screen, DrainScreen):
            screen.show_timeout("timed out after 30 s: 2 sessions, 0 queued still there")
        await pilot.pause(0.1)

    assert snap_compare(Host(screen), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_notification_under_dialog(snap_compare, size: tuple[int, int]) -> None:
    """A toast shown before a dialog opens stays under it; one raised meanwhile waits."""
    app = make_app()

    async def run_before(pilot: Any) -> None:
        await ready(pilot, pilot.app)
        app.notify("marked the 3 servers of be_api", timeout=60)
        await pilot.pause(0.1)
        app.push_screen(dangerous_confirm())
        await pilot.pause(0.1)
        app.notify("theme: dark", timeout=60)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- behaviour -------------------------------------------------------------------------

async def test_dangerous_confirmation_fits_80x24_and_typing_the_name_confirms() -> None:
    screen = dangerous_confirm()
    app = Answer(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        field = screen.query_one("#confirm-input", Input)
        assert app.focused is field
        assert app.screen.region.contains_region(field.region), field.region
        question = screen.query_one(".dialog-foot .dialog-keys", Static)
        assert app.screen.region.contains_region(question.region)
        assert "be_api/api_ok" in str(question.render())
        # the body overflows: it scrolls by the keys, the input keeps the focus
        body = screen.query_one(DialogBody)
        assert body.max_scroll_y > 0 and body.show_vertical_scrollbar
        assert screen.query_one(".dialog-scroll-hint").display
        await pilot.press("pagedown")
        assert body.scroll_y > 0
        await pilot.press("pageup")
        assert body.scroll_y == 0
        await pilot.press("down")
        assert body.scroll_y == 1
        assert app.focused is field
        # a wrong name is not a confirmation; the message is in the dialog
        await pilot.press(*"be_api", "enter")
        await pilot.pause(0.1)
        assert app.answers == [] and app.screen is screen
        message = screen.query_one(".dialog-message", Static)
        assert message.display and "Not confirmed" in str(message.render())
        await pilot.press(*screen.type_to_confirm or "", "enter")
        await until(pilot, lambda: app.answers, "the answer")
        assert app.answers == [True]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
async def test_every_dialog_keeps_its_foot_on_screen(size: tuple[int, int]) -> None:
    for name, make in DIALOGS.items():
        screen = make()
        app = Host(screen)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.1)
            assert isinstance(app.screen, Dialog)
            for widget in screen.query(".dialog-foot > *"):
                if widget.display:
                    assert app.screen.region.contains_region(widget.region), (name, widget)
            for field in screen.query(Input):
                assert field.region.height == 3, (name, field)


async def test_menu_scrolls_its_list_and_keeps_the_note() -> None:
    app = Answer(menu())
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause(0.1)
        options = app.screen.query_one(OptionList)
        assert options.max_scroll_y > 0
        await pilot.press("end", "enter")
        await until(pilot, lambda: app.answers, "the answer")
        assert app.answers[0].label == row_items("server")[-1].label


async def test_notifications_wait_while_a_dialog_is_open() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        confirm = dangerous_confirm()
        answers: list[bool | None] = []
        app.push_screen(confirm, answers.append)
        await pilot.pause(0.1)
        app.notify("theme: dark")
        await pilot.pause(0.1)
        assert not list(app._notifications)
        await pilot.press("escape")
        await until(pilot, lambda: answers == [False], "the answer")
        await until(pilot, lambda: [n.message for n in app._notifications] == ["theme: dark"],
                    "the held notification")
