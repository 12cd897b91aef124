"""Partial polls of a large instance: the plan (what to read), the merge into the last
snapshot, rates of held rows, and the source's choice between partial and full polls.
On captured ``show stat`` answers of every version, served by a fake socket that
answers the partial commands as HAProxy does (``bench.verify.StatAnswers``)."""

from __future__ import annotations

import asyncio
import re

import pytest

from bench.verify import StatAnswers, _set
from console.haproxy import partial_poll
from console.haproxy.checks import CheckLog
from console.haproxy.events import diff
from console.haproxy.history import METRICS, History
from console.haproxy.model import Snapshot, SnapshotBuilder, rates
from console.haproxy.partial_poll import merge, plan, servers_moved
from console.haproxy.poller import SocketSource
from console.haproxy.smoothing import RateWindow
from console.ui.widgets.table_model import TableModel
from tests.captured_data import VERSIONS, read

Edits = dict[tuple[str, str], dict[str, str]]


def edited(version: str, edits: Edits) -> str:
    """The captured ``show stat`` of ``version`` with some fields changed."""
    lines = read(version, "show_stat.txt").split("\n")
    header = lines[0][2:].split(",")
    out = [lines[0]]
    for line in lines[1:]:
        key = tuple(line.split(",", 2)[:2])
        out.append(_set(line, header, **edits[key]) if key in edits else line)
    return "\n".join(out)


def snapshot(text: str, t: float = 100.0) -> Snapshot:
    return Snapshot.from_text(read("2.8", "show_info.txt"), text, taken_at=t, wall_time=t)


def sweep_rows(text: str) -> tuple:
    return SnapshotBuilder().rows(StatAnswers(text).answer(partial_poll.SWEEP))


def be_app_keys(snap: Snapshot) -> list[tuple[str, str]]:
    return [r.key for r in snap.rows if r.proxy == "be_app"]


# ---------------------------------------------------------------------- the signal

def test_a_backend_row_says_when_a_server_started_or_stopped_serving() -> None:
    before = snapshot(edited("2.8", {("be_api", "BACKEND"): {"lastchg": "100"}}))
    old = before.get("be_api", "BACKEND")
    assert old is not None and not servers_moved(old, old, 1.0)

    def moved(elapsed: float = 1.0, **fields: str) -> bool:
        new = snapshot(edited("2.8", {("be_api", "BACKEND"): {"lastchg": "100", **fields}}))
        row = new.get("be_api", "BACKEND")
        assert row is not None
        return servers_moved(old, row, elapsed)

    assert not moved(lastchg="101")  # its clock ticks
    assert not moved(stot="99999")  # traffic
    assert moved(act="0")
    assert moved(weight="7")
    assert moved(status="DOWN")
    assert moved(chkdown="9")
    assert moved(lastchg="0")  # the backend changed state since
    assert not moved(10.0, lastchg="109")
    assert servers_moved(None, old, 1.0)


# ---------------------------------------------------------------------- plan and merge

@pytest.mark.parametrize("version", VERSIONS)
def test_the_plan_reads_the_proxies_on_screen_and_the_backends_that_moved(version) -> None:
    text = read(version, "show_stat.txt")
    prev = snapshot(text)
    moved = edited(version, {("be_api", "BACKEND"): {"act": "0"}})
    todo = plan(prev, sweep_rows(moved), be_app_keys(prev)[:3], 1.0)
    assert todo is not None
    assert todo.commands == ["show stat 5 -1 -1", "show stat 6 4 -1"]
    assert todo.signalled == ["be_api"]
    expected = {r.key for r in prev.rows if r.type in ("frontend", "backend")}
    expected |= set(be_app_keys(prev))
    expected |= {r.key for r in prev.rows if r.proxy == "be_api" and r.type == "server"}
    assert todo.expected == expected
    # nothing on screen, nothing moved: the sweep alone
    quiet = plan(prev, sweep_rows(text), [], 1.0)
    assert quiet is not None and quiet.commands == [] and not quiet.signalled


def test_a_large_proxy_on_screen_is_read_server_by_server(monkeypatch) -> None:
    monkeypatch.setattr(partial_poll, "WHOLE_PROXY_ROWS", 4)
    prev = snapshot(read("2.6", "show_stat.txt"))
    shown = [("be_app", "up2"), ("be_app", "BACKEND"), ("be_app", "nocheck")]
    todo = plan(prev, sweep_rows(read("2.6", "show_stat.txt")), shown, 1.0)
    assert todo is not None and todo.commands == ["show stat 5 4 2", "show stat 5 4 8"]


def test_proxies_added_or_gone_or_odd_ids_need_a_full_dump() -> None:
    text = read("2.8", "show_stat.txt")
    prev = snapshot(text)
    sweep = sweep_rows(text)
    assert plan(prev, sweep[1:], [], 1.0) is None  # a proxy gone
    fewer = Snapshot(prev.taken_at, prev.wall_time, prev.info,
                     tuple(r for r in prev.rows if r.proxy != "be_dead"))
    assert plan(fewer, sweep, [], 1.0) is None  # a proxy added
    odd = edited("2.8", {("be_app", "BACKEND"): {"iid": "5;x"}})
    assert plan(snapshot(odd), sweep_rows(text), [], 1.0) is None
    # the ids sent are those of the last full read (a proxy keeps its id until a
    # reload, which is a full read): an odd id in a sweep is never sent
    every = [r.key for r in prev.rows]
    todo = plan(prev, sweep_rows(odd), every, 1.0)
    assert todo is not None and todo.commands
    assert all(re.fullmatch(r"show stat [0-9]+ -?[0-9]+ -?[0-9]+", c) for c in todo.commands)


def test_merge_holds_the_rows_not_read_and_refuses_rows_added_or_gone() -> None:
    text = read("3.4", "show_stat.txt")
    prev = snapshot(text, 100.0)
    fresh = SnapshotBuilder().rows(StatAnswers(text).answer("show stat 5 -1 -1"))
    expected = {r.key for r in fresh}
    cur = merge(prev, fresh, expected, info=prev.info, taken_at=101.0, wall_time=101.0)
    assert cur is not None
    assert [r.key for r in cur.rows] == [r.key for r in prev.rows]
    assert set(cur.held) == {r.key for r in prev.rows} - expected
    assert all(t == 100.0 for t in cur.held.values())
    assert all(cur.get(*k) is prev.get(*k) for k in cur.held)
    assert cur.age(("be_api", "BACKEND")) == 1.0 and cur.age(("be_app", "up1")) == 0.0
    later = merge(cur, (), set(), info=prev.info, taken_at=102.0, wall_time=102.0)
    assert later is not None and later.held[("be_app", "up1")] == 101.0
    assert merge(prev, fresh, expected | {("be_app", "new")}, info=None, taken_at=1.0,
                 wall_time=1.0) is None  # a row gone
    assert merge(prev, fresh[1:], expected, info=None, taken_at=1.0, wall_time=1.0) is None


def test_held_rows_count_rates_over_their_own_readings_and_keep_the_last() -> None:
    def at(t: float, stot: str) -> Snapshot:
        return snapshot(edited("2.8", {("be_api", "BACKEND"): {"stot": stot},
                                       ("be_app", "BACKEND"): {"stot": stot}}), t)

    first = at(100.0, "100")
    second = merge(first, (), set(), info=None, taken_at=101.0, wall_time=101.0)
    assert second is not None
    r = rates(first, second)
    assert ("be_api", "BACKEND") not in r  # not read again: no rate, not a false 0
    third_full = at(104.0, "500")
    third = merge(second, [row for row in third_full.rows if row.proxy == "be_api"],
                  {row.key for row in third_full.rows if row.proxy == "be_api"},
                  info=None, taken_at=104.0, wall_time=104.0)
    assert third is not None
    r = rates(second, third)
    assert r[("be_api", "BACKEND")].stot == pytest.approx(400 / 4)  # read at 100 and 104
    assert ("be_app", "BACKEND") not in r
    window = RateWindow(window=30.0)
    window.add(first, {})
    shown = window.add(third_full, rates(first, third_full))
    later = merge(third_full, (), set(), info=None, taken_at=105.0, wall_time=105.0)
    assert later is not None
    held = window.add(later, rates(third_full, later))
    assert held[("be_app", "BACKEND")] == shown[("be_app", "BACKEND")]


# ---------------------------------------------------------------------- the source

def _source(answers: StatAnswers, shown: list[tuple[str, str]]) -> SocketSource:
    source = SocketSource(answers)  # type: ignore[arg-type]
    source.partial.from_rows = 0
    source.visible = lambda: shown
    return source


@pytest.mark.parametrize("version", VERSIONS)
def test_an_off_screen_server_that_stops_serving_is_an_event_at_the_next_poll(
        version) -> None:
    async def run() -> None:
        answers = StatAnswers(read(version, "show_stat.txt"), read(version, "show_info.txt"))
        first = await SocketSource(answers).fetch()  # type: ignore[arg-type]
        source = _source(answers, be_app_keys(first)[:5])
        prev = await source.fetch()
        assert source.partial.full_polls == 1
        answers.commands.clear()
        answers.set(edited(version, {("be_api", "api_ok"): {"status": "MAINT"},
                                     ("be_api", "BACKEND"): {"act": "0"},
                                     ("be_dead", "dead1"): {"status": "MAINT"}}))
        snap = await source.fetch()
        assert answers.commands == ["show info", "show stat -1 3 -1", "show stat 5 -1 -1",
                                    "show stat 6 4 -1"]
        events = diff(prev, snap, now=0.0)
        assert [(e.proxy, e.name, e.new) for e in events] == [("be_api", "api_ok", "MAINT")]
        # DOWN -> MAINT moves nothing on the backend row: it waits for the full dump
        assert ("be_dead", "dead1") in snap.held
        assert not any(k[0] in ("be_app", "be_api") for k in snap.held)
        # the full dump comes FULL_EVERY seconds after the last one
        source.partial.full_at -= source.partial.full_every
        full = await source.fetch()
        assert answers.commands[-1] == "show stat" and not full.held
        assert [(e.name, e.new) for e in diff(snap, full, now=0.0)] == [("dead1", "MAINT")]

    asyncio.run(run())


def test_a_reload_a_server_added_or_an_unknown_proxy_means_a_full_dump() -> None:
    async def run() -> None:
        text, info = read("3.2", "show_stat.txt"), read("3.2", "show_info.txt")
        answers = StatAnswers(text, info)
        source = _source(answers, [])
        await source.fetch()
        await source.fetch()
        assert (source.partial.full_polls, source.partial.partial_polls) == (1, 1)
        answers.set(text, re.sub(r"(?m)^Pid: [0-9]+$", "Pid: 424242", info))
        await source.fetch()
        assert source.partial.reason == "new worker (reload)"
        # a server added to a backend on screen
        lines = text.split("\n")
        added = next(ln for ln in lines if ln.startswith("be_api,api_ok,"))
        answers.set(text.replace(added, added + "\n" + added.replace("api_ok", "api_new")))
        source.visible = lambda: [("be_api", "api_ok")]
        snap = await source.fetch()
        assert source.partial.reason == "rows added or gone"
        assert snap.get("be_api", "api_new") is not None and not snap.held
        # a proxy the sweep knows but that is gone when read
        answers.set(text)
        await source.fetch()  # (the server gone again: a full dump)
        source.visible = lambda: [("be_api", "api_ok")]
        real = answers.answer

        def gone(command: str) -> str:
            return "No such proxy.\n" if command == "show stat 6 -1 -1" else real(command)

        answers.answer = gone  # type: ignore[method-assign]
        await source.fetch()
        assert source.partial.reason == "rows added or gone"

    asyncio.run(run())


def test_a_reload_seen_by_a_poll_without_a_sweep_means_a_full_dump() -> None:
    """A poll without a sweep sends the proxies on screen with ``show info``: when
    that ``show info`` tells a reload, their answers are not merged (their ids may be
    another proxy's now) and the poll is a full dump."""
    async def run() -> None:
        text, info = read("3.2", "show_stat.txt"), read("3.2", "show_info.txt")
        answers = StatAnswers(text, info)
        first = await SocketSource(answers).fetch()  # type: ignore[arg-type]
        source = _source(answers, be_app_keys(first)[:3])
        await source.fetch()
        await source.fetch()  # (no period known: a sweep)
        assert source.period(1.0) is not None
        answers.commands.clear()
        await source.fetch()
        assert answers.commands == ["show info", "show stat 5 -1 -1"]
        assert (source.partial.full_polls, source.partial.partial_polls) == (1, 2)
        answers.commands.clear()
        edited_text = text.replace(",UP,", ",MAINT,")
        answers.set(edited_text, re.sub(r"(?m)^Pid: [0-9]+$", "Pid: 424242", info))
        snap = await source.fetch()
        assert answers.commands == ["show info", "show stat 5 -1 -1", "show stat"]
        assert source.partial.reason == "new worker (reload)" and not snap.held
        assert snap.info is not None and snap.info.pid == 424242

    asyncio.run(run())


def test_small_instances_and_recorded_sources_keep_the_full_poll() -> None:
    async def run() -> None:
        answers = StatAnswers(read("2.6", "show_stat.txt"), read("2.6", "show_info.txt"))
        source = SocketSource(answers)  # type: ignore[arg-type]
        source.visible = list
        for _ in range(2):
            await source.fetch()
        assert source.partial.partial_polls == 0  # 34 rows: under PARTIAL_FROM_ROWS
        source.partial.from_rows = 0
        plain_parse = source.parse
        source.parse = lambda i, s, t: plain_parse(i, s, t)  # type: ignore[method-assign]
        await source.fetch()
        assert source.partial.partial_polls == 0  # answers recorded: whole ones
        del source.parse
        await source.fetch()
        assert source.partial.partial_polls == 1

    asyncio.run(run())


# ---------------------------------------------------------------------- the cadence

def test_at_about_one_second_polls_come_every_0_9_s_and_every_other_one_sweeps() -> None:
    assert partial_poll.cadence(1.0) == pytest.approx(0.9)
    assert partial_poll.cadence(0.5) == 0.5 and partial_poll.cadence(2.0) == 2.0
    assert partial_poll.cadence(0.9) == 0.9 and partial_poll.cadence(1.8) == 1.8
    due = partial_poll.sweep_due
    assert due(0.0, None)  # not told the cadence: every poll sweeps
    assert not due(0.9, 0.9) and not due(0.95, 0.9) and due(1.05, 0.9) and due(1.8, 0.9)
    assert due(0.5, 2.0)  # a long interval: every poll
    assert not due(1.0, 0.5) and due(1.5, 0.5)  # at 0.5 s: every third poll


def test_a_poll_without_a_sweep_reads_the_rows_on_screen_only() -> None:
    async def run() -> None:
        answers = StatAnswers(read("3.0", "show_stat.txt"), read("3.0", "show_info.txt"))
        first = await SocketSource(answers).fetch()  # type: ignore[arg-type]
        source = _source(answers, be_app_keys(first)[:2])
        await source.fetch()  # full
        assert source.period(1.0) == pytest.approx(0.9)
        answers.commands.clear()
        await source.fetch()  # just after the full dump: no sweep
        assert answers.commands == ["show info", "show stat 5 -1 -1"]
        source.partial.swept_at -= 1.0
        answers.set(edited("3.0", {("be_api", "BACKEND"): {"act": "0"}}))
        snap = await source.fetch()
        assert answers.commands[-3:] == ["show stat -1 3 -1", "show stat 5 -1 -1",
                                         "show stat 6 4 -1"]
        assert source.partial.sweeps == 1 and not any(k[0] == "be_api" for k in snap.held)
        source.visible = None
        assert source.period(1.0) is None  # not partial: the poller's interval

    asyncio.run(run())


def test_the_poller_polls_at_the_period_its_source_asks_for() -> None:
    from console.haproxy.poller import Poller

    class Asking:
        where = "test"

        def period(self, interval: float) -> float | None:
            return 0.9

        async def fetch(self) -> Snapshot:
            raise AssertionError

    poller = Poller(Asking(), 1.0, on_snapshot=lambda s, e: None)  # type: ignore[arg-type]
    assert poller.period() == pytest.approx(0.9)
    poller.set_interval(0.5)
    assert poller.period() == 0.5


@pytest.mark.parametrize("version", VERSIONS)
def test_serving_servers_is_the_backends_act_plus_bck(version: str) -> None:
    snap = snapshot(read(version, "show_stat.txt"))
    want = sum(int(r.get("act") or 0) + int(r.get("bck") or 0) for r in snap.backends)
    assert partial_poll.serving_servers(snap.rows) == want > 0
    # a value that is not a plain number counts for nothing, never raises
    backend = snap.backends[0]
    odd = edited(version, {backend.key: {"act": "x", "bck": "１"}})
    assert partial_poll.serving_servers(snapshot(odd).rows) == want - (
        int(backend.get("act") or 0) + int(backend.get("bck") or 0))


def growing_texts(text: str, steps: int) -> list[str]:
    """``text`` then ``steps`` versions a second apart: clocks tick, a fifth of the
    rows count more sessions and requests (counters only grow: no reset), a tenth
    change state."""
    import random

    from bench.verify import _split

    head, rows = _split(text)
    header = head[2:].split(",")
    rng = random.Random(11)
    counts = [{f: int(v) if v.isascii() and v.isdigit() else 0
               for f, v in zip(header, line.split(","), strict=False)
               if f in ("stot", "req_tot")} for line in rows]
    at = header.index("check_status")
    checked = [1 if line.split(",")[at] not in ("", "INI") else 0 for line in rows]
    out = [text]
    for step in range(1, steps + 1):
        lines = []
        for n, line in enumerate(rows):
            changes = {"lastchg": str(100 + step)}
            if rng.random() < 0.2:
                for f in counts[n]:
                    counts[n][f] += rng.randint(1, 50)
                    changes[f] = str(counts[n][f])
            if rng.random() < 0.1:
                changes["status"] = rng.choice(["UP", "DOWN", "MAINT", "UP 1/3"])
            if checked[n] and rng.random() < 0.15:  # a check result, failures counted
                checked[n] += rng.randint(0, 2)
                changes["chkfail"] = str(checked[n] - 1)
                changes["check_status"] = rng.choice(["L4OK", "L7OK", "L4CON", "L7STS",
                                                      "INI", ""])
            lines.append(_set(line, header, **changes))
        out.append(head + "\n" + "\n".join(lines) + "\n\n")
    return out


SKIPPED = (3, 9, 15)
"""Polls whose snapshot the rate window and the table never see."""


def _plain(snap: Snapshot) -> Snapshot:
    """``snap`` without what says it was merged (its steps then read every row)."""
    return Snapshot(snap.taken_at, snap.wall_time, snap.info, snap.rows, snap.held)


@pytest.mark.parametrize("version", VERSIONS)
async def test_after_a_merged_poll_the_fresh_rows_alone_give_every_rate_and_event(
        version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rates, the rate window, events and the table's model of a snapshot merged from
    the last one read only its fresh rows: they are those of the same snapshot read row
    by row."""
    info = read(version, "show_info.txt")
    texts = growing_texts(read(version, "show_stat.txt"), 20)
    answers = StatAnswers(texts[0], info)
    source = SocketSource(answers)  # type: ignore[arg-type]
    source.partial.from_rows = 0
    monkeypatch.setattr(partial_poll, "WHOLE_PROXY_ROWS", 0)  # servers read one by one
    # (a tenth of the rows change state at each step: most backends signal; merged
    # polls still, whatever moved)
    monkeypatch.setattr(partial_poll, "MOST_MOVED", 2.0)
    held = memo = 0
    # a window of 12 s at a poll a second: the base stays for some polls, then moves
    fast_window, plain_window = RateWindow(window=12.0), RateWindow(window=12.0)
    fast_table, plain_table = TableModel(), TableModel()
    plain_table.quick = fast_table.quick = "problems"
    # a short history and strip: their windows wrap, rows are dropped and come back
    histories = [(History(maxlen=7, drop_after=3), History(maxlen=7, drop_after=3)),
                 (History(maxlen=2, drop_after=2), History(maxlen=2, drop_after=2)),
                 (History(), History())]
    fast_checks, plain_checks = CheckLog(keep=6), CheckLog(keep=6)
    prev: Snapshot | None = None
    older: Snapshot | None = None
    merged = 0
    for i, text in enumerate(texts):
        answers.set(text)
        keys = [k for k in (source.partial.last.rows if source.partial.last else ())]
        shown = [r.key for n, r in enumerate(keys) if n % 4 == i % 4]
        source.visible = lambda shown=shown: shown  # type: ignore[misc]
        snap = await source.fetch()
        object.__setattr__(snap, "taken_at", 100.0 + i)
        plain = _plain(snap)
        for kind in ("frontends", "backends", "servers"):  # (kept from the last one)
            found, want = getattr(snap, kind), getattr(plain, kind)
            assert len(found) == len(want) and all(a is b for a, b in zip(found, want, strict=True))
        held += len(snap.held)
        if prev is not None:
            merged += snap.merged_from(prev)
            instant = rates(prev, snap)
            assert instant == rates(_plain(prev), plain)
            assert diff(prev, snap, now=0.0) == diff(_plain(prev), plain, now=0.0)
        else:
            instant = {}
        if older is not None:  # not the snapshot this one was merged from: every row
            assert not snap.merged_from(older)
            assert rates(older, snap) == rates(_plain(older), plain)
            assert diff(older, snap, now=0.0) == diff(_plain(older), plain, now=0.0)
        older = prev
        if i in SKIPPED:  # a snapshot the window and the table never see
            prev = snap
            continue
        kept = fast_window._kept
        memo += bool(kept) and kept[0] is fast_window._base and \
            snap.base_at == fast_window._taken_at  # (against the same base)
        for fast_history, plain_history in histories:
            if i == 12:  # limited to some rows: the next snapshot is read in full
                some = [r.key for r in snap.rows][::2]
                fast_history.track(some)
                plain_history.track(some)
            fast_history.add(snap, instant)
            plain_history.add(plain, instant)
        fast_checks.observe(snap, snap.wall_time + i)
        plain_checks.observe(plain, plain.wall_time + i)
        if i % 3 == 0 or i == len(texts) - 1:  # (asking settles the held servers)
            _same_history(histories, snap)
            assert len(fast_checks) == len(plain_checks)
            for key in {r.key for r in snap.rows}:
                assert fast_checks.runs(key) == plain_checks.runs(key), key
                assert fast_checks.strip(key, 4) == plain_checks.strip(key, 4)
        smoothed = fast_window.add(snap, instant)
        assert smoothed == plain_window.add(plain, instant)
        drawn = shown[:5]
        assert fast_table.update(snap, smoothed, drawn) == plain_table.update(
            plain, smoothed, drawn)
        assert list(fast_table.rows) == list(plain_table.rows)  # the same keys, in order
        assert all(row is plain_table.rows[k] for k, row in fast_table.rows.items())
        assert fast_table.lines == plain_table.lines
        prev = snap
    assert merged >= 18 and held > 100 and memo >= 3
    assert any(fast_checks.runs(r.key) for r in snap.rows)


def _same_history(histories: list[tuple[History, History]], snap: Snapshot) -> None:
    for fast, plain in histories:
        assert sorted(fast.keys()) == sorted(plain.keys())
        for key in plain.keys():
            assert fast.samples(key) == plain.samples(key), key
            assert fast.span(key) == plain.span(key)
            for metric in METRICS:
                assert fast.points(key, metric) == plain.points(key, metric), (key, metric)
        assert fast.memory_bytes() == plain.memory_bytes()


@pytest.mark.parametrize("version", VERSIONS)
def test_when_most_servers_moved_the_poll_is_one_full_dump(version: str) -> None:
    """Backends holding more than half of the servers signal a change at once (a site
    down): one ``show stat`` rather than a command per backend; fewer: per backend."""
    async def run() -> None:
        text, info = read(version, "show_stat.txt"), read(version, "show_info.txt")
        answers = StatAnswers(text, info)
        source = _source(answers, [])
        first = await source.fetch()
        servers = {b.proxy: len(first.servers_of(b.proxy)) for b in first.backends}
        total = sum(servers.values())
        by_size = sorted((n, p) for p, n in servers.items() if n)
        moved = {(p, "BACKEND"): {"act": "0", "bck": "0", "weight": "0"}
                 for _, p in by_size}
        answers.commands.clear()
        answers.set(edited(version, moved))
        snap = await source.fetch()
        assert source.partial.reason == "most servers moved"
        assert answers.commands == ["show info", "show stat -1 3 -1", "show stat"]
        assert not snap.held and len(snap.rows) == len(first.rows)
        # the smallest backend alone (at most half of the servers): read on its own
        small = by_size[0]
        assert small[0] * 2 <= total
        await source.fetch()  # (nothing moved since: a plain partial poll)
        answers.commands.clear()
        answers.set(edited(version, {**moved, (small[1], "BACKEND"): {"act": "1"}}))
        await source.fetch()
        assert answers.commands[-1].endswith(" 4 -1") and "show stat" not in answers.commands
        assert source.partial.reason == "most servers moved"  # (the last full one's)

    asyncio.run(run())
