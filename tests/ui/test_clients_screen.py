"""The clients screen (W) driven with Pilot against a real HAProxy with a block rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widgets import DataTable

from console.haproxy.actions import execute, read_only
from console.haproxy.journal import read_entries
from console.haproxy.transport import RuntimeClient
from console.instance import Target
from console.ui.screens.clients import ClientsScreen
from console.ui.screens.confirm import ConfirmScreen, confirm_screen
from tests.integration.test_blocking import LB, lb  # noqa: F401 - the fixture
from tests.ui.screen_host import Host
from tests.ui.screen_host import until as wait_until


async def until(pilot: Any, cond: Callable[[], Any], what: str, timeout: float = 15) -> None:
    def detail() -> str:
        screen = pilot.app.screen
        return type(screen).__name__ + " " + " | ".join(
            str(s.render()) for s in screen.query("#clients-status"))
    await wait_until(pilot, cond, what, timeout, detail=detail)


def table_rows(screen: ClientsScreen) -> dict[str, list[str]]:
    table = screen.query_one(DataTable)
    out = {}
    for i in range(table.row_count):
        row = [str(c) for c in table.get_row_at(i)]
        out[row[0]] = row
    return out


def select(screen: ClientsScreen, addr: str) -> None:
    index = [r.addr for r in screen.rows].index(addr)
    screen.query_one(DataTable).move_cursor(row=index)


async def test_block_permanent_and_unblock_from_the_screen(lb: LB) -> None:  # noqa: F811
    for source in ("127.0.0.2", "127.0.0.2", "127.0.0.1"):
        assert lb.status("fe_web", source) == 200
    client = RuntimeClient(lb.admin)
    target = Target(name="lb", socket=lb.admin, config=str(lb.config))
    host: Host

    async def send(plan: Any, intro: str | None) -> Any:
        if not await host.push_screen_wait(confirm_screen(plan, intro)):
            return None
        return await execute(plan, client, target)

    screen = ClientsScreen(client, target, read_only("admin", False), send)
    host = Host(screen)
    async with host.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: "127.0.0.2" in table_rows(screen), "the clients")
        row = table_rows(screen)["127.0.0.2"]
        assert row[1] == "2" and row[-1] == "-"
        select(screen, "127.0.0.2")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(host.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: str(lb.acl) in table_rows(screen)["127.0.0.2"][-1],
                    "the row marked blocked")
        assert lb.status("fe_web", "127.0.0.2") == 403
        assert lb.status("fe_web", "127.0.0.1") == 200
        assert any(e.get("command") == f"add acl {lb.acl} 127.0.0.2" for e in read_entries())
        # B: fe_link's pattern file is a symlink: refused, nothing written
        select(screen, "127.0.0.2")
        await pilot.press("B")
        await until(pilot, lambda: any("symbolic link" in str(n.message)
                                       for n in host._notifications), "the refusal")
        assert lb.acl.read_bytes() == b"# blocked clients\n"
        # a regular file there: B writes both files (already blocked at runtime)
        (lb.dir / "link.acl").unlink()
        (lb.dir / "link.acl").write_bytes(b"")
        select(screen, "127.0.0.2")
        await pilot.press("B")
        await until(pilot, lambda: isinstance(host.screen, ConfirmScreen), "the file question")
        await pilot.press("y")
        await until(pilot, lambda: lb.acl.read_bytes().endswith(b"127.0.0.2\n"), "the file")
        await until(pilot, lambda: (lb.dir / "link.acl").read_bytes() == b"127.0.0.2\n",
                    "the second file")
        select(screen, "127.0.0.2")
        await pilot.press("u")
        await until(pilot, lambda: isinstance(host.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: table_rows(screen)["127.0.0.2"][-1] == "-", "unblocked")
        assert lb.status("fe_web", "127.0.0.2") == 200


async def test_read_only_offers_no_block(lb: LB) -> None:  # noqa: F811
    client = RuntimeClient(lb.admin)
    target = Target(name="lb", socket=lb.admin, config=str(lb.config), read_only=True)

    async def send(plan: Any, intro: str | None) -> Any:
        raise AssertionError("nothing may be sent")

    screen = ClientsScreen(client, target, read_only("admin", True), send,
                           reason="--read-only")
    async with Host(screen).run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: screen.notes is not None and screen.rows is not None,
                    "the screen")
        enabled = {b.binding.id for b in screen.active_bindings.values() if b.enabled}
        assert "clients.block" not in enabled and "clients.permanent" not in enabled
        await pilot.press("b")
        await pilot.pause(0.2)
        assert "127.0.0.2" not in lb.run(f"show acl {lb.acl}")


async def test_w_on_the_main_screen_blocks_through_its_change_path(lb: LB) -> None:  # noqa: F811
    from console.ui.app import HAConsoleApp

    assert lb.status("fe_web", "127.0.0.2") == 200
    app = HAConsoleApp(Target(name="lb", socket=lb.admin, master=lb.master,
                              config=str(lb.config), interval=0.5))
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.monitor.snapshot is not None, "the first snapshot")
        await pilot.press("W")
        await until(pilot, lambda: isinstance(app.screen, ClientsScreen), "the screen")
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        await until(pilot, lambda: "127.0.0.2" in table_rows(screen), "the clients")
        select(screen, "127.0.0.2")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert f"add acl {lb.acl} 127.0.0.2" in app.screen.commands
        await pilot.press("y")
        await until(pilot, lambda: lb.status("fe_web", "127.0.0.2") == 403, "the block")
        entry = [e for e in read_entries("lb") if e["command"] == f"add acl {lb.acl} 127.0.0.2"]
        assert entry and entry[-1]["ok"]
        await until(pilot, lambda: isinstance(app.screen, ClientsScreen), "back on the screen")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ClientsScreen), "closed")
