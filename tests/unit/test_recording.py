"""The recording format: written and read back exactly (clock columns within a second),
and a damaged, cut-off or hostile file read up to the damage, never a crash."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from console.haproxy.parsers import parse_info, parse_stat
from console.haproxy.recording import (
    DELTA,
    FRAME,
    KEYFRAME,
    MAGIC,
    Recording,
    RecordingError,
    RecordingFull,
    RecordingWriter,
    ReplayedFailure,
    ReplaySource,
    encode,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "captured" / "3.0"
INFO = (DATA / "show_info.txt").read_text()
STAT = (DATA / "show_stat.txt").read_text()
T0 = 1_790_000_000.0
CLOCK = ("lastchg", "downtime", "lastsess")


def stat_at(t: int, down: bool = False, extra_row: bool = False) -> str:
    """The captured answer as HAProxy would print it *t* seconds later: the clock
    columns advanced, a counter moved, be_app/app1 DOWN when *down*."""
    lines = STAT.split("\n")
    names = lines[0].lstrip("# ").split(",")
    pos = {n: i for i, n in enumerate(names)}
    out = [lines[0]]
    for line in lines[1:]:
        if not line:
            continue
        f = line.split(",")
        for c in ("lastchg", "lastsess"):
            if f[pos[c]].isdigit():
                f[pos[c]] = str(int(f[pos[c]]) + t)
        if f[pos["stot"]].isdigit():
            f[pos["stot"]] = str(int(f[pos["stot"]]) + 3 * t)
        if down and f[0] == "be_app" and f[1] == "up1":
            f[pos["status"]] = "DOWN"
        out.append(",".join(f))
        if extra_row and f[1] == "up1":
            g = list(f)
            g[1] = "app9"
            out.append(",".join(g))
    return "\n".join(out) + "\n\n"


def info_at(t: int) -> str:
    return INFO.replace("Uptime_sec: ", f"Uptime_sec: {t}") if "Uptime_sec: " in INFO else INFO


def write(path: Path, n: int = 12, **kw) -> RecordingWriter:
    w = RecordingWriter(str(path), instance="lb1", where="/run/admin.sock", interval=1.0, **kw)
    for t in range(n):
        w.poll(info_at(t), stat_at(t, down=5 <= t < 8), at=T0 + t, mono=100.0 + t)
    return w


def rows_of(text: str) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["pxname"], r["svname"]): r for r in parse_stat(text)}


def test_written_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    write(path).close("duration reached")
    with Recording(str(path)) as rec:
        assert rec.damage is None and rec.end_reason == "duration reached"
        assert rec.header["instance"] == "lb1" and rec.header["version"]
        frames = list(rec.frames())
        assert len(frames) == 12
        for t, frame in enumerate(frames):
            assert frame.at == T0 + t
            assert parse_info(frame.info_text or "") == parse_info(info_at(t))
            got, want = rows_of(frame.stat_text or ""), rows_of(stat_at(t, down=5 <= t < 8))
            assert got.keys() == want.keys()
            for key, row in want.items():
                for name, value in row.items():
                    if name in CLOCK and value.lstrip("-").isdigit():
                        assert abs(int(got[key][name]) - int(value)) <= 1, (key, name)
                    else:
                        assert got[key][name] == value, (key, name)
        # the event flags: the server going DOWN and coming back
        flagged = [round(e.at - T0) for e in rec.entries if e.event]
        assert flagged == [5, 8]


def test_deltas_are_small(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    write(path, n=30).close("x")
    with Recording(str(path)) as rec:
        deltas = [e.length for e in rec.entries if e.kind == DELTA]
        key = [e.length for e in rec.entries if e.kind == KEYFRAME]
        assert len(key) == 1 and max(deltas) < key[0] / 4


def test_new_rows_make_a_keyframe(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    w = write(path, n=3)
    w.poll(info_at(3), stat_at(3, extra_row=True), at=T0 + 3)
    w.close("x")
    with Recording(str(path)) as rec:
        assert [e.kind for e in rec.entries][-1] == KEYFRAME and rec.entries[-1].event
        assert ("be_app", "app9") in rows_of(list(rec.frames())[-1].stat_text or "")


def test_quoted_fields_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    w = RecordingWriter(str(path), instance="x", where="s", interval=1.0)
    quoted = STAT.replace("be_app,up1,", '"be_app","up1",', 1)
    quoted = quoted.replace("be_app,up2,", 'be_app,"up2, ""the"" second",', 1)
    assert quoted != STAT
    w.poll(None, quoted, at=T0)
    w.poll(None, quoted.replace('""the""', '""a""'), at=T0 + 1)
    w.close("x")
    with Recording(str(path)) as rec:
        frame, second = list(rec.frames())
        assert parse_stat(frame.stat_text or "") == parse_stat(quoted)
        assert ("be_app", 'up2, "a" second') in rows_of(second.stat_text or "")
        assert frame.info_text is None


def test_the_size_limit_stops_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    w = RecordingWriter(str(path), instance="x", where="s", interval=1.0, max_bytes=4000)
    with pytest.raises(RecordingFull, match="size limit"):
        for t in range(1000):
            w.poll(info_at(t), stat_at(t), at=T0 + t)
    w.close("size limit reached")
    assert os.path.getsize(path) <= 4000 + 200  # the end record may pass it
    with Recording(str(path)) as rec:
        assert rec.end_reason == "size limit reached" and rec.polls


def test_an_existing_file_or_link_is_never_written(tmp_path: Path) -> None:
    (tmp_path / "old").write_text("keep")
    with pytest.raises(RecordingError, match="exists"):
        RecordingWriter(str(tmp_path / "old"), instance="x", where="s", interval=1.0)
    os.symlink(tmp_path / "elsewhere", tmp_path / "link")
    with pytest.raises(RecordingError):
        RecordingWriter(str(tmp_path / "link"), instance="x", where="s", interval=1.0)
    assert not (tmp_path / "elsewhere").exists()
    assert (tmp_path / "old").read_text() == "keep"


@pytest.mark.parametrize("cut", [1, 7, 20, 100])
def test_a_cut_off_file_is_read_up_to_its_last_complete_record(tmp_path: Path, cut) -> None:
    path = tmp_path / "r.hacrec"
    write(path).close("x")
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    with Recording(str(path)) as rec:
        assert rec.end_reason is None
        assert "cut off" in (rec.damage or "")
        assert 10 <= len(list(rec.frames())) <= 12


def test_a_flipped_byte_stops_the_reading_there(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    write(path).close("x")
    data = bytearray(path.read_bytes())
    data[len(data) * 2 // 3] ^= 0x40
    path.write_bytes(bytes(data))
    with Recording(str(path)) as rec:
        assert "damaged" in (rec.damage or "") or "cut off" in (rec.damage or "")
        assert 0 < len(list(rec.frames())) < 12


@pytest.mark.parametrize("content", [b"", b"hello world\n", MAGIC, MAGIC + b"\x00" * 3,
                                     b"\x00" * 10_000])
def test_not_a_recording(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "r.hacrec"
    path.write_bytes(content)
    with pytest.raises(RecordingError):
        Recording(str(path))


def hostile(tmp_path: Path, *records: bytes) -> Path:
    path = tmp_path / "h.hacrec"
    header = encode(ord("H"), T0, {"format": 1, "instance": "\x1b[31mevil\x07",
                                   "interval": 1.0})
    path.write_bytes(MAGIC + header + b"".join(records))
    return path


def raw_record(kind: str, payload: bytes) -> bytes:
    head = struct.pack(">BdB", ord(kind), T0, 0)
    return FRAME.pack(len(payload), ord(kind), T0, 0,
                      zlib.crc32(payload, zlib.crc32(head))) + payload


@pytest.mark.parametrize("record", [
    encode(KEYFRAME, T0, {"m": 0, "info": None, "head": "# a,b", "rows": [1, 2]}),
    encode(KEYFRAME, T0, {"m": 0, "info": {"a": 1}, "head": "# a,b", "rows": []}),
    encode(KEYFRAME, T0, ["not", "an", "object"]),
    encode(KEYFRAME, T0, {"m": 0}),
    raw_record("K", zlib.compress(b"{" * 100_000)),  # deep nesting
    raw_record("K", zlib.compress(b"\xff\xfe not utf-8")),
    raw_record("K", b"not zlib at all"),
    raw_record("K", zlib.compress(b"0" * (300 << 20), 9)),  # a zlib bomb
], ids=["rows-not-text", "info-not-text", "list", "no-rows", "deep", "utf8", "zlib", "bomb"])
def test_a_hostile_keyframe_is_a_clear_error(tmp_path: Path, record: bytes) -> None:
    with Recording(str(hostile(tmp_path, record))) as rec, \
            pytest.raises(RecordingError):
        list(rec.frames())


@pytest.mark.parametrize("rows", [[[99, [[0, "x"]]]], [[0, [[999, "x"]]]], [[0, [[0, 5]]]],
                                  "rows", [[0]]])
def test_a_hostile_delta_is_a_clear_error(tmp_path: Path, rows) -> None:
    key = encode(KEYFRAME, T0, {"m": 0, "info": None, "head": "# pxname,svname,status",
                                "rows": ["fe,FRONTEND,OPEN"]})
    delta = encode(DELTA, T0 + 1, {"m": 1, "info": None, "rows": rows})
    with Recording(str(hostile(tmp_path, key, delta))) as rec, \
            pytest.raises(RecordingError):
        list(rec.frames())


def test_a_huge_length_is_damage_not_a_huge_read(tmp_path: Path) -> None:
    bogus = FRAME.pack(0xFFFFFFFF, ord("K"), T0, 0, 0)
    with Recording(str(hostile(tmp_path, bogus))) as rec:
        assert "damaged" in (rec.damage or "") and not rec.polls


# -- the replay source ---------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_replay_plays_pauses_speeds_and_jumps(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    w = write(path, n=40)
    w.failure("connection refused", at=T0 + 40)
    w.poll(info_at(41), stat_at(41), at=T0 + 41)
    w.close("x")
    clock = Clock()
    with Recording(str(path)) as rec:
        src = ReplaySource(rec, clock=clock)
        snap = await src.fetch()
        assert snap.wall_time == T0
        clock.now += 2.0
        assert (await src.fetch()).wall_time == T0 + 2
        assert "▶ replay 1×" in src.label()
        src.toggle()  # pause
        clock.now += 5.0
        assert (await src.fetch()).wall_time == T0 + 2
        assert "paused" in src.label()
        assert src.next_event() == T0 + 5
        snap = await src.fetch()
        assert snap.wall_time == T0 + 5 and snap.get("be_app", "up1").status.kind == "DOWN"
        assert src.next_event() == T0 + 8
        src.toggle()
        assert src.next_speed() == 10
        clock.now += 2.0
        assert (await src.fetch()).wall_time == T0 + 28
        assert src.next_speed() == 60
        clock.now += 0.2
        with pytest.raises(ReplayedFailure, match="connection refused"):
            await src.fetch()  # the failure at +40 is replayed as one
        clock.now += 1.0
        assert (await src.fetch()).wall_time == T0 + 41
        assert src.ended and not src.playing and "ended" in src.label()
        assert src.next_event() is None


async def test_replay_far_ahead_starts_from_a_keyframe(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    write(path, n=30, keyframe_every=10.0).close("x")
    clock = Clock()
    with Recording(str(path)) as rec:
        assert sum(e.kind == KEYFRAME for e in rec.entries) == 3
        src = ReplaySource(rec, clock=clock, speed=60)
        await src.fetch()
        clock.now += 0.42  # 25 s of recording
        snap = await src.fetch()
        assert snap.wall_time == T0 + 25
        want = rows_of(stat_at(25))
        assert snap.get("be_app", "up1").get("stot") == want["be_app", "up1"]["stot"]


def test_journal_records_are_read(tmp_path: Path) -> None:
    path = tmp_path / "r.hacrec"
    w = write(path, n=2)
    w.journal([{"ts": T0 + 1.5, "user": "ops", "command": "disable server be_app/app1",
                "ok": True}])
    w.poll(info_at(2), stat_at(2), at=T0 + 2)
    w.close("x")
    with Recording(str(path)) as rec:
        assert [e.event for e in rec.entries if e.kind == ord("J")] == [True]
        from console.haproxy.recording import FrameReader

        reader = FrameReader(rec)
        for i in range(len(rec.entries)):
            reader.step(i)
        assert reader.journal[0]["command"] == "disable server be_app/app1"
        json.dumps(reader.journal)


def test_clock_columns_stay_within_a_second_of_haproxys(tmp_path: Path) -> None:
    """Random status changes (lastchg back to 0), sessions (lastsess back to 0, stot
    up), skipped seconds and jittered polls: the reader's clock columns are never more
    than a second off HAProxy's, everything else is exact; a replay that skips polls
    (60x) gets the same rows as one that builds each."""
    import random

    from console.haproxy.recording import FrameReader, join_row, split_line, split_stat

    rng = random.Random(5)
    lines = STAT.split("\n")
    names = lines[0].lstrip("# ").split(",")
    pos = {n: i for i, n in enumerate(names)}
    rows = [split_line(line) for line in lines[1:] if line]
    path = tmp_path / "r.hacrec"
    w = RecordingWriter(str(path), instance="x", where="s", interval=1.0)
    elapsed = 0
    truths: list[list[list[str]]] = []
    for _ in range(80):
        step = rng.choice([1, 1, 1, 2, 3])
        elapsed += step
        at = T0 + elapsed + rng.uniform(-0.45, 0.45)  # a poll is never exactly on time
        for r in rows:
            for c in ("lastchg", "lastsess"):
                if r[pos[c]].isdigit():
                    r[pos[c]] = str(int(r[pos[c]]) + step)
            if r[pos["status"]].startswith("DOWN") and r[pos["downtime"]].isdigit():
                r[pos["downtime"]] = str(int(r[pos["downtime"]]) + step)
            if rng.random() < 0.03:
                r[pos["status"]] = rng.choice([s for s in ("UP", "DOWN", "MAINT")
                                               if s != r[pos["status"]]])
                r[pos["lastchg"]] = "0"
            if rng.random() < 0.05 and r[pos["lastsess"]].isdigit():
                r[pos["lastsess"]] = "0"
                r[pos["stot"]] = str(int(r[pos["stot"]] or 0) + 1)
        text = lines[0] + "\n" + "".join(join_row(r) + "\n" for r in rows)
        w.poll(None, text, at=at)
        truths.append([list(r) for r in rows])
    w.close("x")
    with Recording(str(path)) as rec:
        reader = FrameReader(rec)
        frames = [reader.step(i) for i in range(len(rec.entries))]
        assert len(frames) == len(truths)
        for frame, truth in zip(frames, truths, strict=True):
            assert frame is not None
            got = split_stat(frame.stat_text or "")[1]
            assert len(got) == len(truth)
            for mine, real in zip(got, truth, strict=True):
                for c, value in enumerate(real):
                    if names[c] in CLOCK and value.lstrip("-").isdigit():
                        assert abs(int(mine[c]) - int(value)) <= 1, names[c]
                    else:
                        assert mine[c] == value, names[c]
        reader = FrameReader(rec)
        for i in range(len(rec.entries) - 1):
            reader.step(i, build=False)
        last = reader.step(len(rec.entries) - 1)
        assert last is not None and last.stat_text == frames[-1].stat_text


def test_marks_are_recorded_read_and_kept_across_a_far_seek(tmp_path: Path) -> None:
    """A mark record is an event; jumping to it pauses there; a seek far ahead (from a
    keyframe) still meets the marks and journal entries on the way."""
    import asyncio

    path = tmp_path / "r.hacrec"
    w = RecordingWriter(str(path), instance="lb1", where="s", interval=1.0,
                        keyframe_every=10.0)
    doc = {"version": 1, "instance": "lb1", "wall_time": T0 + 3.5, "label": "", "pid": 1,
           "rows": {}}
    for t in range(30):
        if t == 4:
            w.mark(doc, at=T0 + 3.6)
        if t == 15:
            w.mark(None, at=T0 + 14.6)
        w.poll(info_at(t), stat_at(t), at=T0 + t, mono=100.0 + t)
    w.close("x")
    with Recording(str(path)) as rec:
        src = ReplaySource(rec, clock=Clock())
        asyncio.run(src.fetch())
        assert src.next_mark() == T0 + 3.6 and not src.playing
        asyncio.run(src.fetch())
        assert src.take_marks() == [(T0 + 3.6, doc)]
        assert src.next_mark() == T0 + 14.6
        asyncio.run(src.fetch())
        assert src.take_marks() == [(T0 + 14.6, None)]
        assert src.next_mark() is None
    with Recording(str(path)) as rec:  # 60x, far ahead: both marks met, in order
        clock = Clock()
        src = ReplaySource(rec, clock=clock, speed=60)
        asyncio.run(src.fetch())
        clock.now += 0.45
        asyncio.run(src.fetch())
        assert [m for _, m in src.take_marks()] == [doc, None]


@pytest.mark.parametrize("payload", [{"mark": 5}, {"mark": "x"}, ["mark"]])
def test_a_hostile_mark_record_is_damage(tmp_path: Path, payload) -> None:
    path2 = tmp_path / "r2.hacrec"
    w = write(path2, n=3)
    os.write(w.fd, encode(ord("M"), T0 + 2.5, payload, 1))
    w.poll(info_at(3), stat_at(3), at=T0 + 3)
    w.close("x")
    import asyncio

    with Recording(str(path2)) as rec:
        clock = Clock()
        src = ReplaySource(rec, clock=clock, speed=60)
        asyncio.run(src.fetch())
        clock.now += 1.0
        asyncio.run(src.fetch())
        assert src.damage and "mark" in src.damage


def test_the_mark_watch_sees_set_moved_and_cleared_once(tmp_path: Path) -> None:
    from console.haproxy import marks
    from console.haproxy.model import SnapshotBuilder
    from console.haproxy.recording import MarkWatch

    watch = MarkWatch("lb1")
    assert watch.changes() == []
    snap = SnapshotBuilder().build(INFO, STAT, taken_at=1.0, wall_time=T0)
    from console.haproxy.counters import Mark

    marks.save("lb1", Mark(snap, T0, "deploy"), snap)
    [doc] = watch.changes()
    assert doc is not None and doc["label"] == "deploy" and doc["wall_time"] == T0
    marks.save("lb1", Mark(snap, T0, "deploy"), snap)  # saved again on quit: same mark
    assert watch.changes() == []
    marks.save("lb1", Mark(snap, T0 + 60, ""), snap)
    assert [d["wall_time"] for d in watch.changes() if d] == [T0 + 60]
    marks.mark_path("lb1").write_text("{not json")  # unusable: no mark
    assert watch.changes() == [None]
    marks.forget("lb1")
    assert watch.changes() == []
