"""The tables screen driven with Pilot against the real lab (2.6 and 2.8), and a screenshot
on static answers."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from console.haproxy.actions import read_only
from console.haproxy.journal import read_entries
from console.haproxy.transport import RuntimeClient
from console.instance import Target
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.tables import PromptScreen, TablesScreen
from tests.lab_helpers import LabHandle, start_lab
from tests.ui.screen_host import Host
from tests.ui.screen_host import until as wait_until

CHANGE_IDS = {"tables.add", "tables.set", "tables.delete", "tables.clear_key",
              "tables.clear_table"}


async def until(pilot: Any, cond: Callable[[], Any], what: str, timeout: float = 10) -> None:
    await wait_until(pilot, cond, what, timeout, detail=lambda: debug(pilot))


def debug(pilot: Any) -> str:
    """The screen on top and its status lines, for timeout messages."""
    screen = pilot.app.screen
    out = [type(screen).__name__]
    for status in screen.query(".status"):
        out.append(str(status.render()))
    return " | ".join(out)


def rows(screen: TablesScreen, which: str) -> list[list[str]]:
    table = screen.query_one(f"#{which}", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def binding_ids(screen: Any) -> set[str]:
    return {b.binding.id or "" for b in screen.active_bindings.values() if b.enabled}


def select_entry(screen: TablesScreen, kind: str, first: str) -> None:
    table = screen.query_one(f"#{kind}-entries", DataTable)
    index = [r[0] for r in rows(screen, f"{kind}-entries")].index(first)
    table.move_cursor(row=index)


def traffic_idle(lab: LabHandle) -> bool:
    """Every request the lab's traffic generator sent has its answer (or failed)."""
    counts = dict(w.split("=", 1) for w in lab.control("traffic").split()[1:])
    done = sum(int(counts[k]) for k in ("2xx", "3xx", "4xx", "5xx", "failed"))
    return int(counts["sent"]) == done


@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[LabHandle]:
    directory = Path(tempfile.mkdtemp(prefix="hac-tables-"))
    with start_lab(directory, str(haproxy_binary.path)) as handle:
        yield handle
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.stderr").unlink(missing_ok=True)


def screen_for(lab: LabHandle, level: str = "admin", read_only_flag: bool = False
               ) -> TablesScreen:
    sock = lab.info[f"{level}_socket"]
    return TablesScreen(RuntimeClient(sock), Target(name="lab", socket=sock,
                                                    read_only=read_only_flag),
                        read_only(level, read_only_flag))


@pytest.mark.haproxy
async def test_lists_tables_maps_and_acls(lab: LabHandle) -> None:
    screen = screen_for(lab)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: rows(screen, "table-list"), "the table list")
        assert rows(screen, "table-list")[0][:3] == ["fe_api", "ip", "102400"]
        assert screen.selected["table"] == "fe_api"
        await pilot.press("2")
        assert screen.kind == "map", (screen.focused, debug(pilot))
        await until(pilot, lambda: rows(screen, "map-entries"), "the map entries")
        assert screen.selected["map"] == lab.info["map_file"]
        assert ["www.lab.local", "be_web"] in rows(screen, "map-entries")
        assert rows(screen, "map-list")[0][2] == "5"
        await pilot.press("slash", *"static.")
        assert rows(screen, "map-entries") == [["static.lab.local", "be_static"]]
        await pilot.press("escape")  # leaves the filter, the screen stays
        assert pilot.app.screen is screen
        await pilot.press("3")
        await until(pilot, lambda: rows(screen, "acl-entries"), "the acl entries")
        assert screen.selected["acl"] == lab.info["acl_file"]
        assert ["192.0.2.10"] in rows(screen, "acl-entries")
        assert {"tables.add", "tables.delete"} <= binding_ids(screen)
        assert "tables.clear_key" not in binding_ids(screen)  # a table action, not here
        await pilot.press("escape")
        assert pilot.app.screen is not screen


@pytest.mark.haproxy
async def test_map_add_then_delete(lab: LabHandle) -> None:
    sock, path = lab.info["admin_socket"], lab.info["map_file"]
    screen = screen_for(lab)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: rows(screen, "map-entries"), "the map entries")
        # an empty key is refused by the tables module: the prompt comes back saying why
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the prompt")
        await pilot.press("enter", "enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen)
                    and pilot.app.screen.error, "the prompt with the error")
        assert "empty map key" in pilot.app.screen.error
        await pilot.press(*"t.lab.local", "enter", *"be_api", "enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "confirm")
        confirm = pilot.app.screen
        assert confirm.commands == [f"add map {path} t.lab.local be_api"]
        assert ("temporary: the map file is not changed; persisting it is a config change"
                in confirm.body)
        await pilot.press("y")
        await until(pilot, lambda: ["t.lab.local", "be_api"] in rows(screen, "map-entries"),
                    "the new entry in the table")
        assert " t.lab.local be_api" in lab.send(sock, f"show map {path}")
        select_entry(screen, "map", "t.lab.local")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "confirm")
        assert pilot.app.screen.commands == [f"del map {path} t.lab.local"]
        await pilot.press("y")
        await until(pilot, lambda: ["t.lab.local", "be_api"] not in rows(screen, "map-entries"),
                    "the entry gone from the table")
        assert "t.lab.local" not in lab.send(sock, f"show map {path}")
    journal = read_entries("lab")
    assert [e["command"] for e in journal] == [f"add map {path} t.lab.local be_api",
                                               f"del map {path} t.lab.local"]
    assert all(e["ok"] for e in journal)


@pytest.mark.haproxy
async def test_map_set_cancelled_sends_nothing(lab: LabHandle) -> None:
    sock, path = lab.info["admin_socket"], lab.info["map_file"]
    before = lab.send(sock, f"show map {path}")
    screen = screen_for(lab)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: rows(screen, "map-entries"), "the map entries")
        select_entry(screen, "map", "cdn.lab.local")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the prompt")
        assert pilot.app.screen.query_one(Input).value == "be_static"
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert pilot.app.screen is screen
    assert lab.send(sock, f"show map {path}") == before
    assert read_entries("lab") == []


@pytest.mark.haproxy
async def test_clear_a_table_key_then_the_table(lab: LabHandle) -> None:
    sock = lab.info["admin_socket"]
    for key, gpc in (("10.9.8.7", 7_000_000), ("10.9.8.8", 1)):
        assert lab.send(sock, f"set table fe_api key {key} data.gpc0 {gpc}").strip() == ""
    screen = screen_for(lab, "operator")  # table changes need only the operator level
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(rows(screen, "table-entries")) >= 2, "table entries")
        keys = [r[0] for r in rows(screen, "table-entries")]
        assert {"10.9.8.7", "10.9.8.8"} <= set(keys)
        await pilot.press("slash", *"data.gpc0 gt 6999999", "enter")
        await until(pilot, lambda: [r[0] for r in rows(screen, "table-entries")]
                    == ["10.9.8.7"], "the data filter")
        assert screen.data_filter == "data.gpc0 gt 6999999"
        await pilot.press("k")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "confirm")
        assert pilot.app.screen.commands == ["clear table fe_api key 10.9.8.7"]
        await pilot.press("y")
        await until(pilot, lambda: rows(screen, "table-entries") == [], "the key cleared")
        assert "key=10.9.8.7" not in lab.send(sock, "show table fe_api key 10.9.8.7")
        # clear the whole table: dangerous, the table's name must be typed. HAProxy keeps
        # entries in use (and 2.6 may then keep others), so the lab's traffic pauses first.
        original_rate = lab.control("traffic").split("rate=")[1].split("/s")[0]
        assert lab.control("rate 0").startswith("ok")
        try:
            await until(pilot, lambda: traffic_idle(lab) and not re.search(
                r" use=[1-9]", lab.send(sock, "show table fe_api")), "no request in flight",
                timeout=30)
            await pilot.press("C")
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "confirm")
            confirm = pilot.app.screen
            assert confirm.type_to_confirm == "fe_api"
            assert confirm.commands == ["clear table fe_api"]
            await pilot.press("y")  # typed into the box: not a yes
            assert pilot.app.screen is confirm
            confirm.query_one(Input).value = ""
            await pilot.press(*"fe_api", "enter")
            await until(pilot, lambda: rows(screen, "table-list")[0][3] == "0",
                        "list reloaded")
            assert "used:0" in lab.send(sock, "show table")
            assert pilot.app.screen is screen
        finally:
            lab.control(f"rate {original_rate}")
    entries = read_entries("lab")
    assert [e["command"] for e in entries] == ["clear table fe_api key 10.9.8.7",
                                               "clear table fe_api"]
    assert all(e["ok"] for e in entries)


@pytest.mark.haproxy
@pytest.mark.parametrize("level,flag,says", [
    ("admin", True, "Read-only: started with --read-only"),
    ("user", False, "allows no changes"),
])
async def test_read_only_offers_no_changes(lab: LabHandle, level: str, flag: bool,
                                           says: str) -> None:
    screen = screen_for(lab, level, flag)
    assert screen.allowed == frozenset()
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        notice = str(screen.query_one("#tables-notice").render())
        assert says in notice and "not offered" in notice
        for tab in ("1", "2", "3"):
            await pilot.press(tab)
            await pilot.pause(0.2)
            assert not binding_ids(screen) & CHANGE_IDS
            await pilot.press("a", "s", "d", "k", "C")
            await pilot.pause(0.1)
            assert pilot.app.screen is screen
    assert read_entries("lab") == []


# -- a screenshot on static answers ---------------------------------------------------------

STATIC = {
    "show table": "# table: fe_api, type: ip, size:102400, used:3\n\n",
    "show table fe_api": (
        "# table: fe_api, type: ip, size:102400, used:3\n"
        "0x55d1: key=127.0.0.1 use=0 exp=599870 gpc0=0 conn_cur=0 http_req_rate(10000)=12\n"
        "0x55d2: key=192.0.2.44 use=1 exp=412003 gpc0=7 conn_cur=1 http_req_rate(10000)=61\n"
        "0x55d3: key=198.51.100.9 use=0 exp=31000 gpc0=0 conn_cur=0 "
        "http_req_rate(10000)=3\n\n"),
    "show map": "# id (file) description\n"
                "11 (/etc/haproxy/hosts.map) pattern loaded from file '/etc/haproxy/hosts.map'"
                " used by map at file '/etc/haproxy/haproxy.cfg' line 40. curr_ver=0 "
                "next_ver=0 entry_cnt=2\n\n",
    "show acl": "# id (file) description\n"
                "0 (/etc/haproxy/blocked.acl) pattern loaded from file "
                "'/etc/haproxy/blocked.acl' used by acl at file '/etc/haproxy/haproxy.cfg' "
                "line 37. curr_ver=0 next_ver=0 entry_cnt=1\n\n",
    "show map /etc/haproxy/hosts.map": "0x1 www.lab.local be_web\n0x2 api.lab.local be_api\n\n",
    "show acl /etc/haproxy/blocked.acl": "0x3 192.0.2.10\n\n",
}


def settled(table: DataTable[Any]) -> bool:
    """Every column as wide as its widest cell (a DataTable measures them when idle)."""
    return all(c.content_width == max([len(c.label.plain), *(
        len(str(v)) for v in table.get_column(c.key))]) for c in table.ordered_columns)


class StaticClient:
    address = "static"

    async def run(self, command: str, **_: Any) -> str:
        return STATIC[command]


def test_snapshot_80x24(snap_compare) -> None:
    assert tables_snapshot(snap_compare, (80, 24))


def test_snapshot_60x20(snap_compare) -> None:
    assert tables_snapshot(snap_compare, (60, 20))


def tables_snapshot(snap_compare, size: tuple[int, int]) -> bool:
    screen = TablesScreen(StaticClient(), Target(name="edge"),  # type: ignore[arg-type]
                          read_only("admin", False))

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: len(rows(screen, "table-entries")) == 3, "entries")
        screen.query_one("#table-entries").focus()
        await pilot.press("down")
        await until(pilot, lambda: all(settled(t) for t in screen.query(DataTable)),
                    "column widths measured")

    return bool(snap_compare(Host(screen), terminal_size=size, run_before=run_before))
