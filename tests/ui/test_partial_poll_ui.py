"""The console tells its socket source which rows are on screen: a large instance's
partial polls read those (the cursor's too), the header says how old the rows off
screen are, and a screen on top that may show any row means full polls."""

from __future__ import annotations

from bench.verify import StatAnswers
from console.haproxy.poller import SocketSource
from console.ui.app import HAConsoleApp
from tests.captured_data import read
from tests.ui.captured import target


async def test_partial_polls_read_the_rows_on_screen() -> None:
    answers = StatAnswers(read("2.8", "show_stat.txt"), read("2.8", "show_info.txt"))
    source = SocketSource(answers)  # type: ignore[arg-type]
    source.partial.from_rows = 0
    app = HAConsoleApp(target(), source=source, level="admin")
    app.target.interval = 3600
    async with app.run_test(size=(120, 24)) as pilot:
        for _ in range(50):
            if app.monitor.snapshot is not None:
                break
            await pilot.pause(0.05)
        table = app.monitor.table
        shown = source.visible() if source.visible else None
        assert shown is not None
        assert shown[:-1] == table.lines[:len(shown) - 1] and shown[-1] == table.cursor_key
        assert len(shown) < len(table.lines)  # 24 rows: not every line fits
        answers.commands.clear()
        await app.poller.poll_once()
        await pilot.pause(0.05)
        assert source.partial.partial_polls == 1
        assert "show stat 2 -1 -1" in answers.commands  # fe_main, on top
        assert "show stat 8 -1 -1" not in answers.commands  # be_dead, far below
        assert app.monitor.snapshot is not None and app.monitor.snapshot.held
        assert "rows off screen ≤" in str(app.monitor.header.render())
        await pilot.press("question_mark")  # the help: a dialog over the table
        await pilot.pause(0.05)
        assert source.visible() == shown
        await pilot.press("escape")
        await pilot.press("w")  # what's hurting: ranks every row
        await pilot.pause(0.1)
        assert source.visible() is None
