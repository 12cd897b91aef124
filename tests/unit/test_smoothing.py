"""Rates over a window: steady where per-refresh rates flicker, reset with the counters."""

from __future__ import annotations

from console.haproxy.model import Snapshot, rates
from console.haproxy.smoothing import RateWindow
from tests.captured_data import stat_snapshot


def _snap(t: float, fives: int, stot: int = 100) -> Snapshot:
    """The captured stat with be_app/up1's 5xx total and fe_main's sessions set."""
    return stat_snapshot({("be_app", "up1"): {"hrsp_5xx": str(fives)},
                          ("fe_main", "FRONTEND"): {"stot": str(stot)}}, t=t)


def test_one_error_every_other_refresh_reads_steady() -> None:
    window, prev, key = RateWindow(30.0), None, ("be_app", "up1")
    seen, instant_seen = [], []
    for i in range(40):  # a refresh every 2 s, a 5xx every 4 s
        snap = _snap(2.0 * i, i // 2)
        instant = rates(prev, snap) if prev else {}
        smoothed = window.add(snap, instant)
        if i >= 20:
            seen.append(smoothed[key].hrsp_5xx)
            assert 30.0 <= smoothed[key].interval <= 40.0  # the window, not one refresh
            instant_seen.append(instant[key].hrsp_5xx)
        prev = snap
    assert set(instant_seen) == {0.0, 0.5}  # what flickered
    assert all(0.2 <= v <= 0.3 for v in seen), seen  # about 0.25/s, every time


def test_a_counter_reset_starts_the_window_again() -> None:
    window, key = RateWindow(30.0), ("be_app", "up1")
    prev = None
    for i in range(10):
        snap = _snap(2.0 * i, 10 * i, stot=1000 + i)
        window.add(snap, rates(prev, snap) if prev else {})
        prev = snap
    after = _snap(20.0, 1, stot=3)  # a reload: every total starts again
    instant = rates(prev, after)
    assert window.add(after, instant) is instant and window.span == 0.0
    later = _snap(22.0, 3, stot=5)
    assert window.add(later, rates(after, later))[key].hrsp_5xx == 1.0


def test_counters_give_the_rates_of_their_snapshot() -> None:
    """The window keeps each snapshot's Counters, not its rows: the same rates, for rows
    read again unchanged (their Content shared), changed, added or built without one."""
    from console.haproxy.model import Counters, SnapshotBuilder, rate_counters
    from tests.captured_data import read

    lines = read("2.8", "show_stat.txt").splitlines()
    names = lines[0][2:].split(",")
    col = {name: names.index(name) for name in ("lastchg", "stot", "hrsp_5xx", "svname")}

    def answer(i: int) -> str:
        out = [lines[0]]
        for line in lines[1:]:
            values = line.split(",")
            if len(values) < len(names):
                continue
            if values[col["lastchg"]]:
                values[col["lastchg"]] = str(100 + i)  # every row's clock ticks
            if values[col["svname"]] == "up1" and i % 2:
                values[col["stot"]] = str(10 * i)
                values[col["hrsp_5xx"]] = str(i)
            if i < 3 and values[col["svname"]] == "up2":
                continue  # a row that comes later
            out.append(",".join(values))
        return "\n".join(out) + "\n"

    def row_num(snap: Snapshot) -> int | None:
        fe = snap.get("fe_main", "FRONTEND")
        return fe.num("stot") if fe is not None else None

    builder = SnapshotBuilder()
    built = [builder.build(None, answer(i), taken_at=float(i), wall_time=float(i))
             for i in range(8)]
    plain = [Snapshot.from_text(None, answer(i), taken_at=float(i), wall_time=float(i))
             for i in range(8)]
    for snaps in (built, plain):
        for old in range(4):
            for new in range(old + 1, 8):
                want = rates(snaps[old], snaps[new])
                assert want and rates(Counters(snaps[old]), snaps[new]) == want
    row = built[5].get("be_app", "up1")
    assert row is not None and Counters(built[5]).get("be_app", "up1") is rate_counters(row)
    assert Counters(built[5]).num("fe_main", "FRONTEND", "stot") == row_num(built[5])


def test_released_contents_read_the_same_from_their_lines() -> None:
    """A builder with a Release gives the values of rows back to their lines two builds
    after they were made or last read; reading them again splits the line: the same
    fields, rates and counters as a builder that keeps everything."""
    from console.haproxy.model import Release, SnapshotBuilder
    from tests.captured_data import read

    text = read("2.8", "show_stat.txt")
    lines = text.splitlines()
    edited = "\n".join([lines[0], *(line.replace(",UP,", ",DOWN,", 1) if i == 3 else line
                                     for i, line in enumerate(lines[1:]))]) + "\n"
    release = Release()
    kept, light = SnapshotBuilder(), SnapshotBuilder(release)
    answers = [text, edited, text, text, edited]
    a = [kept.build(None, t, taken_at=float(i), wall_time=float(i))
         for i, t in enumerate(answers)]
    b = [light.build(None, t, taken_at=float(i), wall_time=float(i))
         for i, t in enumerate(answers)]
    released = [r.content for r in b[0].rows if r.content is not None]
    assert released and all(c.values is None and c._fields is None for c in released
                            if c.line is not None)
    for x, y in zip(a, b, strict=True):
        assert [r.fields for r in x.rows] == [r.fields for r in y.rows]
        assert [r.get("stot") for r in x.rows] == [r.get("stot") for r in y.rows]
    assert rates(a[0], a[4]) == rates(b[0], b[4])
    assert len(release) <= 2 * len(b[0].rows)  # bounded: only the last two builds' reads


def test_rates_worked_out_beforehand_against_the_base_are_the_same(monkeypatch) -> None:
    """What a caller works out off the event loop (the rates against base_for's base)
    gives what add works out itself, through window drops and a counter reset, and add
    then works out none; a base that is not the window's is not used."""
    from console.haproxy import smoothing

    plain, ahead = RateWindow(10.0), RateWindow(10.0)
    prev = None
    worked: list[int] = []

    def counted(*args: object) -> object:
        worked.append(1)
        return rates(*args)  # type: ignore[arg-type]

    for i in range(30):
        stot = 3 if i == 17 else 1000 + 7 * i if i < 17 else 10 + i  # a reset at 17
        snap = _snap(1.5 * i, (i * i) // 3, stot=stot)
        instant = rates(prev, snap) if prev else {}
        base = ahead.base_for(snap)
        against = (base, rates(base, snap)) if base is not None else None
        worked.clear()
        monkeypatch.setattr(smoothing, "rates", counted)
        got = ahead.add(snap, instant, against)
        monkeypatch.undo()
        assert got == plain.add(snap, instant)
        assert not worked
        prev = snap
    other = RateWindow(10.0)
    other.add(_snap(0.0, 0), {})
    wrong = other.base_for(_snap(99.0, 0))
    assert wrong is not None
    snap = _snap(50.0, 500)
    fake = {("be_app", "up1"): rates(prev, snap)[("be_app", "up1")]}
    assert ahead.add(snap, {}, (wrong, fake)) == plain.add(snap, {})
