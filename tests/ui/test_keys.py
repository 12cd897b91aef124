"""Keys: the settings' [keys] checked before they apply (warned at start, in the log and in
the help), the command palette (one entry per command, with the key bound now), and
space marking the row under the cursor in place."""

from __future__ import annotations

import logging

import pytest
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.widgets import Static

from console import settings as settings_mod
from console.ui.app import HAConsoleApp
from console.ui.keymap import check_keymap, console_scopes
from console.ui.screens.help import HelpScreen
from console.ui.widgets.table import ProxyTable
from tests.ui.screen_host import until
from tests.ui.test_app import make_app, ready

SCOPES = console_scopes([*HAConsoleApp.BINDINGS, Binding("ctrl+p", "command_palette")])


def app_with_keys(tmp_path, keys: str) -> HAConsoleApp:
    path = tmp_path / "settings.toml"
    path.write_text("[keys]\n" + keys)
    return make_app(settings=settings_mod.load(path))


def notes(app: HAConsoleApp) -> list[str]:
    return [n.message for n in app._notifications]


# -- the check, on its own --------------------------------------------------------------

@pytest.mark.parametrize(("wanted", "applied", "problem"), [
    ({"view.http": "h"}, {"view.http": "h"}, None),
    ({"view.http": "s"}, {}, "s is already Sort (sort.next) on the main screen"),
    ({"view.http": "s", "sort.next": "k"}, {"view.http": "s", "sort.next": "k"}, None),
    ({"view.http": "2", "view.traffic": "3"}, {"view.http": "2", "view.traffic": "3"}, None),
    ({"view.http": "?"}, {}, "? is already Help (help)"),
    ({"view.http": "down"}, {}, "down is already Down (table.cursor_down)"),
    ({"view.http": "y"}, {"view.http": "y"}, None),  # y is a confirmation's, elsewhere
    ({"confirm.yes": "o"}, {"confirm.yes": "o"}, None),
    ({"confirm.yes": "n"}, {}, "n is already No (confirm.no) on a confirmation"),
    ({"view.htpp": "h"}, {}, "\"view.htpp\": no key has this id (did you mean \"view.http\"?)"),
    ({"view.http": ""}, {}, "no key"),
])
def test_keymap_check(wanted, applied, problem) -> None:
    checked = check_keymap(wanted, SCOPES)
    assert checked.keymap == applied
    if problem is None:
        assert checked.problems == []
    else:
        assert len(checked.problems) == 1 and problem in checked.problems[0], checked.problems


def test_two_remaps_onto_one_key_leave_one_applied() -> None:
    checked = check_keymap({"view.http": "k", "view.errors": "k"}, SCOPES)
    assert checked.keymap == {"view.errors": "k"}
    assert "(remapped there too)" in checked.problems[0]


# -- at start, in the log and in the help -------------------------------------------------

async def test_a_remap_onto_a_used_key_is_warned_and_not_applied(tmp_path, caplog) -> None:
    app = app_with_keys(tmp_path, '"view.http" = "s"\n')
    with caplog.at_level(logging.WARNING, logger="haconsole.ui"):
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            assert any("\"view.http\" = \"s\" not applied: s is already Sort (sort.next)" in n
                       for n in notes(app)), notes(app)
            table = app.query_one(ProxyTable)
            before = table.sort_column
            await pilot.press("s")  # Sort keeps its key
            assert table.sort_column != before
            assert table.view == "status"
            await pilot.press("3")  # and HTTP its own
            assert table.view == "http"
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
            shown = str(app.screen.query_one(".problems", Static).render())
            assert "Not applied from the settings' [keys]" in shown
            assert "\"view.http\" = \"s\" not applied" in shown
    assert any("view.http" in r.getMessage() and "Sort" in r.getMessage()
               for r in caplog.records)


async def test_an_unknown_id_is_warned(tmp_path, caplog) -> None:
    app = app_with_keys(tmp_path, '"view.htpp" = "h"\n"view.errors" = "y"\n')
    with caplog.at_level(logging.WARNING, logger="haconsole.ui"):
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            assert any("\"view.htpp\": no key has this id (did you mean \"view.http\"?)" in n
                       for n in notes(app)), notes(app)
            await pilot.press("y")  # the valid remap next to it applies
            assert app.query_one(ProxyTable).view == "errors"
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
            help_screen = app.screen
            assert isinstance(help_screen, HelpScreen)
            assert any("view.htpp" in p for p in help_screen.problems)
            assert ("y", "Errors", "view.errors") in help_screen.rows
    assert any("view.htpp" in r.getMessage() for r in caplog.records)


async def test_no_warning_without_problems(tmp_path) -> None:
    app = app_with_keys(tmp_path, '"view.http" = "h"\n')
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        assert not any("[keys]" in n for n in notes(app))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        assert not app.screen.query(".problems")


# -- the command palette ------------------------------------------------------------------

async def palette_entries(pilot, app: HAConsoleApp) -> list[tuple[str, str]]:
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    commands = app.screen.query_one(CommandList)
    await until(pilot, lambda: commands.option_count > 10, "the commands")
    await pilot.pause(0.2)
    entries = []
    for i in range(commands.option_count):
        title, _, help_text = str(commands.get_option_at_index(i).prompt).partition("\n")
        entries.append((title, help_text))
    return entries


async def test_palette_lists_each_command_once_with_the_key_bound_now(tmp_path) -> None:
    app = app_with_keys(tmp_path, '"view.http" = "h"\n"sort.next" = "s,ctrl+s"\n')
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        entries = await palette_entries(pilot, app)
        titles = [t for t, _ in entries]
        assert len(titles) == len(set(titles)), sorted(titles)
        assert titles.count("Quit") == 1 and titles.count("Theme") == 1
        for title, help_text in entries:  # the help line is not the title again
            assert help_text != title and not help_text.startswith(f"{title} ["), title
        by_title = dict(entries)
        assert by_title["HTTP"] == "key h"  # the remapped key, not the default 3
        assert by_title["Sort"] == "key s / ^s"
        assert by_title["Status"] == "key 1"
        assert by_title["Quit"] == "key q"
        assert by_title["Filter"] == "key /"


# -- marks ----------------------------------------------------------------------------------

async def test_space_marks_the_row_under_the_cursor_in_place() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        table = app.query_one(ProxyTable)
        assert table.move_cursor_to(("be_app", "up1"))
        await pilot.press("space")
        assert table.marked == {("be_app", "up1")}
        assert table.cursor_key == ("be_app", "up1")  # the cursor did not move
        y = table.lines.index(("be_app", "up1")) - table.scroll_offset.y + 1
        line = table.render_line(y)
        first = next(iter(line))
        assert first.text == "*" and first.style is not None and first.style.reverse, \
            "the mark shows under the cursor too"
        await pilot.press("down", "space")
        assert table.marked == {("be_app", "up1"), ("be_app", "up2")}
        assert table.cursor_key == ("be_app", "up2")
        await pilot.press("space")  # space again unmarks, in place
        assert table.marked == {("be_app", "up1")}
        assert table.cursor_key == ("be_app", "up2")


def test_snapshot_marked_rows(snap_compare) -> None:
    """Three servers marked, the cursor on the middle one: each shows its mark."""
    async def run_before(pilot) -> None:
        await ready(pilot, pilot.app)
        table = pilot.app.query_one(ProxyTable)
        for name in ("up1", "up2", "drain_cli"):
            table.move_cursor_to(("be_app", name))
            await pilot.press("space")
        table.move_cursor_to(("be_app", "up2"))
        await pilot.pause(0.1)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
