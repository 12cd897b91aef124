"""DetailPane: every field of a captured row, chart labels, in-place updates, snapshot."""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Static

from console.haproxy.counters import Mark
from console.haproxy.history import History
from console.haproxy.model import Snapshot, rates
from console.ui.themes import fallback_theme
from console.ui.widgets.detail import DetailPane, field_hint, sparkline

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "captured" / "2.8" / "show_stat.txt"
T0 = 1_700_000_000.0


def _text() -> str:
    return CAPTURED.read_text()


def _bump(text: str, key: tuple[str, str], **deltas: int) -> str:
    """The captured output with some counters of one row raised."""
    lines = text.splitlines()
    header = lines[0].lstrip("# ").split(",")
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if tuple(cells[:2]) == key:
            for name, delta in deltas.items():
                i = header.index(name)
                cells[i] = str(int(cells[i] or 0) + delta)
        out.append(",".join(cells))
    return "\n".join(out) + "\n"


def _history(n: int = 30) -> tuple[History, list[Snapshot]]:
    """``n`` snapshots two seconds apart; be_app/up1 gets 3 requests and 1 5xx per poll."""
    history = History()
    snaps: list[Snapshot] = []
    text = _text()
    for i in range(n):
        body = _bump(text, ("be_app", "up1"), req_tot=3 * i, hrsp_5xx=i, scur=i % 4)
        snap = Snapshot.from_text(None, body, taken_at=2.0 * i, wall_time=T0 + 2 * i)
        history.add(snap, rates(snaps[-1], snap) if snaps else None)
        snaps.append(snap)
    return history, snaps


class DetailApp(App[None]):
    CSS = "DetailPane { width: 1fr; height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield DetailPane(id="detail")

    def on_mount(self) -> None:
        self.query_one(DetailPane).set_status_styles(fallback_theme().status)


def _static_text(app: App[None], selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_shows_every_field_in_haproxy_order_and_chart_labels() -> None:
    history, snaps = _history()
    cur = snaps[-1]
    row = cur.get("be_app", "up1")
    assert row is not None
    app = DetailApp()
    async with app.run_test(size=(50, 30)) as pilot:
        pane = app.query_one(DetailPane)
        pane.show(row, history, rates(snaps[-2], cur).get(row.key), None)
        await pilot.pause()
        fields = _static_text(app, "#detail-fields").splitlines()
        assert [line.split()[0] for line in fields] == list(row.fields)
        for line, (name, value) in zip(fields, row.fields.items(), strict=True):
            assert line.split(None, 1)[1].startswith(value or "-"), name
        header = _static_text(app, "#detail-header")
        assert "server be_app/up1" in header
        assert "● UP" in header and "check L7OK 200" in header
        assert "req 1.5/s" in header and "5xx 0.5/s" in header
        charts = str(app.query_one("#detail-charts").render())
        for label in ("req/s", "sessions", "5xx/s", "queue"):
            assert label in charts
        assert "req/s    last 1.5 · min 1.5 · max 1.5" in charts
        assert "sessions last 1 · min 0 · max 3" in charts
        assert "charts · last 58s" in charts
        title = _static_text(app, "#detail-fields-title")
        assert f"fields · {len(row.fields)}" in title


async def test_updates_in_place_without_remounting() -> None:
    history, snaps = _history(5)
    app = DetailApp()
    async with app.run_test(size=(50, 30)) as pilot:
        pane = app.query_one(DetailPane)
        await pilot.pause()
        before = list(pane.query("*"))
        pane.show(snaps[-1].get("be_app", "up1"), history, None, None)
        await pilot.pause()
        pane.show(snaps[-1].get("fe_main", "FRONTEND"), history, None,
                  Mark(snaps[0], time.time() - 90, "deploy"))
        await pilot.pause()
        assert list(pane.query("*")) == before
        header = _static_text(app, "#detail-header")
        assert "frontend fe_main" in header and "● OPEN" in header
        assert "Δ since mark 'deploy' 1m30s" in header
        fields = _static_text(app, "#detail-fields")
        assert "req_tot" in fields and "Δ+0" in fields
        charts = str(app.query_one("#detail-charts").render())
        assert "queue    n/a for this row" in charts  # frontends have no queue
        pane.show(None, history, None, None)
        await pilot.pause()
        assert list(pane.query("*")) == before
        assert "No row selected" in _static_text(app, "#detail-header")
        assert not app.query_one("#detail-fields").display


async def test_empty_fields_hidden_with_shift_e() -> None:
    history, snaps = _history(2)
    row = snaps[-1].get("be_app", "up1")
    assert row is not None
    app = DetailApp()
    async with app.run_test(size=(40, 24)) as pilot:
        pane = app.query_one(DetailPane)
        pane.show(row, history, None, None)
        app.query_one("#detail-scroll").focus()
        await pilot.pause()
        shown = _static_text(app, "#detail-fields").splitlines()
        assert len(shown) == len(row.fields)
        await pilot.press("E")
        shown = _static_text(app, "#detail-fields").splitlines()
        assert len(shown) == sum(1 for v in row.fields.values() if v)
        assert "E: show empty" in _static_text(app, "#detail-fields-title")


async def test_repeated_updates_are_cheap() -> None:
    history, snaps = _history(60)
    app = DetailApp()
    async with app.run_test(size=(46, 30)) as pilot:
        pane = app.query_one(DetailPane)
        started = time.perf_counter()
        for i in range(20):
            snap = snaps[40 + i]
            pane.show(snap.get("be_app", "up1"), history, None, None)
            await pilot.pause()
        per_update = (time.perf_counter() - started) / 20
        assert per_update < 0.2, f"{per_update * 1000:.0f} ms per update"


def test_sparkline_and_hints() -> None:
    assert sparkline([0, 1, 2, 4], 6) == "  ▁▃▅█"
    assert sparkline([0, 0.01, 100], 3) == "▁▂█"  # any value above zero shows
    assert sparkline([5.0] * 10, 4) == "████"
    assert sparkline([0, 0], 2) == "▁▁"
    assert sparkline([], 3) == "   "
    assert field_hint("bin", "2048") == "2.0KB"
    assert field_hint("ttime", "12") == "ms"
    assert field_hint("lastchg", "125") == "2m05s ago"
    assert field_hint("lastsess", "-1") == "never"
    assert field_hint("status", "UP") == ""


def test_snapshot_50x30(snap_compare) -> None:
    history, snaps = _history()
    cur = snaps[-1]

    async def run_before(pilot) -> None:
        pane = pilot.app.query_one(DetailPane)
        row = cur.get("be_app", "up1")
        mark = Mark(snaps[10], T0 + 20, "deploy 42")
        pane.clock = lambda: T0 + 60
        pane.show(row, history, rates(snaps[-2], cur).get(row.key), mark)
        await pilot.pause()

    assert snap_compare(DetailApp(), terminal_size=(50, 30), run_before=run_before)
