"""The console stays responsive whatever the peer, the files or the user do."""

from __future__ import annotations

import time

from console.haproxy.poller import StatsPageSource
from console.haproxy.statspage import StatsPage
from console.ui import themes as themes_mod
from console.ui.app import HAConsoleApp
from console.ui.header import HeaderBar
from console.ui.widgets.table import ProxyTable
from tests import peers
from tests.ui.captured import DATA, CapturedSource, target


def _recording(app: HAConsoleApp) -> list[str]:
    """Every notification's text, as the app is asked to show it."""
    seen: list[str] = []
    notify = app.notify

    def record(message: str, **kwargs: object) -> None:
        seen.append(str(message))
        notify(message, **kwargs)  # type: ignore[arg-type]

    app.notify = record  # type: ignore[method-assign]
    return seen


async def _wait(pilot, condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await pilot.pause(0.05)
    return condition()


async def _quits(pilot, app: HAConsoleApp) -> float:
    t0 = time.monotonic()
    await pilot.press("q")
    await _wait(pilot, lambda: app.return_code is not None, 3)
    assert app.return_code == 0, "q did not quit, or the app failed"
    return time.monotonic() - t0


# -- a stats page that stops answering, one byte at a time -------------------------------

CSV = (DATA / "2.8" / "show_stat.txt").read_bytes()


def _page(conn, p) -> None:
    """The captured CSV while ``p.mode`` is "ok"; then a trickle that never ends."""
    peers.read_until(conn, b"\r\n\r\n")
    if p.mode == "ok":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(CSV) + CSV)
        return
    conn.sendall(peers.HTTP_HEAD)
    peers.drip(conn, p)


async def test_a_trickling_stats_page_turns_the_header_stale_and_q_quits() -> None:
    with peers.peer(_page) as p:
        source = StatsPageSource(StatsPage(p.url, timeout=1.0))
        app = HAConsoleApp(target(), theme="dark", source=source, level="stats page")
        async with app.run_test(size=(160, 40)) as pilot:
            assert await _wait(pilot, lambda: app.monitor.snapshot is not None, 5)
            header = app.query_one(HeaderBar)
            table = app.query_one(ProxyTable)
            assert "● live" in str(header.render())
            p.mode = "trickle"
            await pilot.press("r")
            assert await _wait(pilot, lambda: "stale" in str(header.render()), 4), \
                str(header.render())
            # the numbers on screen are marked as the last ones received
            assert getattr(table, "stale", False)
            assert "within 1 s" in str(app.query_one("#banner").render())
            assert await _quits(pilot, app) < 2


# -- a poll that is late: stale before its deadline ---------------------------------------

class Stuck(CapturedSource):
    stuck = False

    async def fetch(self):
        if self.stuck:
            import asyncio

            await asyncio.Event().wait()
        return await super().fetch()


async def test_a_late_poll_shows_stale_while_it_waits() -> None:
    source = Stuck()
    app = HAConsoleApp(target(), theme="dark", source=source, level="admin")
    app.poller.set_interval(0.3)
    app.poller.deadline = 60
    async with app.run_test(size=(160, 40)) as pilot:
        assert await _wait(pilot, lambda: app.monitor.snapshot is not None, 5)
        header = app.query_one(HeaderBar)
        source.stuck = True
        assert await _wait(pilot, lambda: "no answer yet" in str(header.render()), 4), \
            str(header.render())
        assert "stale" in str(header.render()) and app.query_one(ProxyTable).stale
        assert await _quits(pilot, app) < 2


# -- a filter that would take forever as a regex ------------------------------------------

def _long_names(source: CapturedSource, count: int = 30) -> None:
    template = next(r for r in source.rows if r["type"] == "2")
    backend = next(r for r in source.rows if r["svname"] == "BACKEND")
    for i in range(count):
        source.rows.append({**template, "pxname": "be_long", "svname": "a" * 40 + str(i)})
    source.rows.append({**backend, "pxname": "be_long"})


async def test_a_backtracking_filter_does_not_freeze_and_q_quits() -> None:
    source = CapturedSource()
    _long_names(source)
    app = HAConsoleApp(target(), theme="dark", source=source, level="admin")
    async with app.run_test(size=(160, 40)) as pilot:
        assert await _wait(pilot, lambda: app.monitor.snapshot is not None, 5)
        table = app.query_one(ProxyTable)
        t0 = time.monotonic()
        await pilot.press("slash", *"(a+)+x")
        await pilot.pause(0.1)
        # not hung (backtracking on these would take minutes); speed is the bench's
        assert time.monotonic() - t0 < 30
        assert table.model.filter_text == "(a+)+x" and table.lines == []
        await pilot.press("enter")  # keep the filter, back to the table
        assert await _quits(pilot, app) < 2


async def test_a_filter_too_slow_as_a_regex_is_simplified_with_a_notice() -> None:
    source = CapturedSource()
    _long_names(source)
    app = HAConsoleApp(target(), theme="dark", source=source, level="admin")
    seen = _recording(app)
    async with app.run_test(size=(160, 40)) as pilot:
        assert await _wait(pilot, lambda: app.monitor.snapshot is not None, 5)
        table = app.query_one(ProxyTable)
        t0 = time.monotonic()
        await pilot.press("slash", *"(a|aa)+x")
        await pilot.pause(0.1)
        # not hung (backtracking on these would take minutes); speed is the bench's
        assert time.monotonic() - t0 < 30
        assert table.model.filter_simplified
        assert table.lines == []  # no name contains the text "(a|aa)+x"
        notices = [m for m in seen if "filter too slow" in m]
        assert len(notices) == 1 and "simplified to plain text" in notices[0], seen
        # a new snapshot keeps the plain text matching, without a second notice
        await pilot.press("enter", "r")
        await pilot.pause(0.2)
        assert len([m for m in seen if "filter too slow" in m]) == 1
        assert await _quits(pilot, app) < 2


# -- broken theme files, even when not selected -------------------------------------------

BROKEN_THEMES = {
    "deep.toml": "name = \"deep\"\nx = " + "[" * 3000 + "]" * 3000 + "\n",
    "five.toml": "name = \"five\"\n[colors]\nprimary = 5\n",
    "nocolors.toml": "name = \"nocolors\"\n",
    "dark-str.toml": "name = \"darkstr\"\ndark = \"no\"\n[colors]\nprimary = \"#fff\"\n",
    "style.toml": "name = \"style\"\n[colors]\nprimary = \"#fff\"\n[status]\nup = 3\n",
    "markup.toml": "name = \"x[/b]\"\n",  # the notice is text, never markup
}


async def test_broken_theme_files_are_skipped_with_a_notice(tmp_path, monkeypatch) -> None:
    for name, text in BROKEN_THEMES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.toml").write_bytes(b"name = \"caf\xe9\"\n")
    (tmp_path / "huge.toml").write_text("# " + "x" * (2 << 20) + "\n")
    monkeypatch.setattr(themes_mod, "user_dir", lambda: tmp_path)
    app = HAConsoleApp(target(), theme="dark", source=CapturedSource(), level="admin")
    seen = _recording(app)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await _wait(pilot, lambda: app.monitor.snapshot is not None, 5)
        assert app.theme_name == "dark"
        skipped = [m for m in seen if m.startswith("theme skipped")]
        for name in [*BROKEN_THEMES, "latin1.toml", "huge.toml"]:
            assert any(name in m for m in skipped), (name, skipped)
        assert len(skipped) == len(BROKEN_THEMES) + 2
        assert any("nested too deeply" in m for m in skipped)
        assert any("colors.primary must be a string" in m for m in skipped)
        await pilot.pause(0.3)  # the notices are drawn
        assert await _quits(pilot, app) < 2
