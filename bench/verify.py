"""Checks that the refresh-path optimizations change no result.

Usage: python bench/verify.py [--no-haproxy]     (also collected by pytest)

:class:`SnapshotBuilder` (rows reused or copied with new clock values) must give the
rows of :meth:`Snapshot.from_text` (every field, same errors); the fast paths of
``rates``, ``History.add`` and ``events.diff`` must give what they give on rows built
from scratch. Checked on the captured answers of HAProxy 2.6 and 2.8, on edited
sequences of them (clock ticks, status changes, rows added, removed and moved, quoted
fields, a cut-off last line, a changed header), and on real answers of both binaries
under churn. ``run.py`` runs it before measuring.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from console.haproxy.errors import ParseError  # noqa: E402
from console.haproxy.events import diff  # noqa: E402
from console.haproxy.history import METRICS, History  # noqa: E402
from console.haproxy.model import Snapshot, SnapshotBuilder, rates  # noqa: E402

CAPTURED = Path(__file__).resolve().parents[1] / "tests" / "data" / "captured"


def same_rows(a: Snapshot, b: Snapshot) -> None:
    assert len(a.rows) == len(b.rows), (len(a.rows), len(b.rows))
    for x, y in zip(a.rows, b.rows, strict=True):
        assert x == y, (x, y)
        assert x.fields == y.fields and list(x.fields) == list(y.fields), (x.key, y.key)


def check_sequence(info: str | None, texts: list[str]) -> None:
    """Builder vs from scratch over ``texts``; rates, history and events too."""
    builder = SnapshotBuilder()
    fast_hist, slow_hist = History(maxlen=20), History(maxlen=20)
    prev_fast = prev_slow = None
    for i, text in enumerate(texts):
        taken = 100.0 + i
        try:
            slow = Snapshot.from_text(info, text, taken_at=taken, wall_time=1e9 + i)
        except ParseError as exc:
            try:
                builder.build(info, text, taken_at=taken, wall_time=1e9 + i)
            except ParseError as exc2:
                assert str(exc) == str(exc2), (str(exc), str(exc2))
                continue
            raise AssertionError(f"builder accepted what parse_stat refused: {exc}") from None
        fast = builder.build(info, text, taken_at=taken, wall_time=1e9 + i)
        same_rows(fast, slow)
        r_fast = rates(prev_fast, fast) if prev_fast else {}
        r_slow = rates(prev_slow, slow) if prev_slow else {}
        assert r_fast == r_slow
        fast_hist.add(fast, r_fast)
        slow_hist.add(slow, r_slow)
        if prev_fast is not None and prev_slow is not None:
            ev_fast = diff(prev_fast, fast, now=0.0)
            ev_slow = diff(prev_slow, slow, now=0.0)
            assert ev_fast == ev_slow, (ev_fast, ev_slow)
        prev_fast, prev_slow = fast, slow
    assert fast_hist.keys() == slow_hist.keys()
    for key in slow_hist.keys():
        for metric in METRICS:
            a, b = fast_hist.series(key, metric), slow_hist.series(key, metric)
            assert len(a) == len(b) and all(
                x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
            ), (key, metric, a, b)


# ---------------------------------------------------------------------- edited sequences

def _split(text: str) -> tuple[str, list[str]]:
    lines = text.splitlines()
    return lines[0], [ln for ln in lines[1:] if ln]


def _set(line: str, header: list[str], **values: str) -> str:
    if '"' in line:
        return line
    fields = line.split(",")
    for name, value in values.items():
        if name in header:
            fields[header.index(name)] = value
    return ",".join(fields)


def edited(text: str, steps: int, seed: int) -> Iterator[str]:
    """``text`` then ``steps`` edited versions: clocks tick every time; now and then a
    status or counter changes, a row goes, comes back, moves; a quoted field appears."""
    rng = random.Random(seed)
    head, rows = _split(text)
    header = head[2:].split(",")
    yield text
    for step in range(1, steps + 1):
        out = []
        for line in rows:
            changes = {"lastchg": str(100 + step)}
            if rng.random() < 0.3:
                changes["lastsess"] = str(step)
            if rng.random() < 0.1:
                changes["downtime"] = str(step * 2)
            if rng.random() < 0.05:
                changes["status"] = rng.choice(["UP", "DOWN", "MAINT", "UP 1/3", "no check"])
            if rng.random() < 0.05:
                for name in ("stot", "req_tot", "hrsp_5xx", "bin"):
                    changes[name] = str(rng.randint(0, 10 ** 6))
            if rng.random() < 0.05:
                for name in ("scur", "qcur", "req_rate"):
                    changes[name] = str(rng.randint(0, 99))
            out.append(_set(line, header, **changes))
        if step % 4 == 0 and len(out) > 3:
            out.pop(rng.randrange(len(out)))  # a row removed
        if step % 5 == 0 and len(out) > 3:
            i, j = rng.randrange(len(out)), rng.randrange(len(out))
            out[i], out[j] = out[j], out[i]  # rows moved
        if step % 3 == 0:
            i = rng.randrange(len(out))
            if "last_chk" in header and '"' not in out[i]:
                fields = out[i].split(",")
                fields[header.index("last_chk")] = '"a, ""quoted"", text"'
                out[i] = ",".join(fields)
        body = "\n".join(out)
        if step == steps - 1:
            yield head + "\n" + body[: len(body) - 25]  # cut-off last line
        else:
            yield head + "\n" + body + "\n\n"


def captured_answers() -> Iterator[tuple[str, str, str]]:
    for version in ("2.6", "2.8"):
        d = CAPTURED / version
        info = (d / "show_info.txt").read_text(encoding="utf-8")
        for name in ("show_stat.txt", "show_stat_servers_only.txt"):
            yield version, info, (d / name).read_text(encoding="utf-8")


def test_captured_sequences() -> None:
    for n, (_version, info, text) in enumerate(captured_answers()):
        check_sequence(info, list(edited(text, 12, seed=n)))


def test_header_change_and_errors() -> None:
    texts = [
        "# pxname,svname,status,lastchg,stot,\np,a,UP,1,0,\np,b,UP,1,0,\n",
        "# pxname,svname,status,lastchg,stot,\np,a,UP,2,0,\np,b,DOWN,2,0,\n",
        "# pxname,svname,status,stot,lastchg,\np,a,UP,0,3,\np,b,DOWN,0,3,\n",  # new order
        "# pxname,svname,status,stot,lastchg,\np,a,UP,0,4,\np,b\np,c,UP,0,4,\n",  # short
        "# pxname,svname,status,stot,lastchg,\np,a,UP,0,5,\np,b,UP,0,5,\n",
        "# pxname,svname,status,stot,lastchg,\np,a,UP,0,6,\np,b,UP,0,\n",  # cut off
        '# pxname,svname,status,stot,lastchg,\np,a,"U,P",0,7,\np,b,UP,0,7,\n',
        '# pxname,svname,status,stot,lastchg,\np,a,"U,P",0,8,\np,b,UP,0,"8",\n',
        '# pxname,svname,status,stot,lastchg,\np,a,"U\nP",0,9,\np,b,UP,0,9,\n',  # multi-line
        "# pxname,svname,status,-,h2,\np,a,UP,-,1,\n",
        "# pxname,svname,status,-,h2,\np,a,UP,-,2,\n",
        "# pxname,svname,status,lastchg,\n\n",
        "Permission denied\n\n",
    ]
    check_sequence(None, texts)


# ---------------------------------------------------------------------- partial polls

class StatAnswers:
    """Answers HAProxy would give, from one full ``show stat`` answer: ``show stat``,
    ``show stat -1 3 -1`` (frontends and backends), ``show stat IID TYPE SID``
    (:mod:`console.haproxy.partial_poll`) and ``show info``. Type masks as HAProxy's:
    1 frontends, 2 backends, 4 servers, 8 listeners (-1: all)."""

    def __init__(self, stat_text: str, info_text: str = "Pid: 1\n") -> None:
        self.set(stat_text, info_text)
        self.address = "fake"
        self.commands: list[str] = []

    def set(self, stat_text: str, info_text: str | None = None) -> None:
        lines = [ln for ln in stat_text.split("\n") if ln]
        self.header, self.lines = lines[0], lines[1:]
        names = self.header[2:].split(",")
        self._at = {n: names.index(n) for n in ("pxname", "svname", "iid", "sid", "type")}
        if info_text is not None:
            self.info = info_text

    def _fields(self, line: str) -> list[str]:
        import csv

        return next(csv.reader([line]))

    def _wanted(self, line: str, iid: int, mask: int, sid: int) -> bool:
        f = self._fields(line)
        kind = 1 << int(f[self._at["type"]])
        return (iid < 0 or f[self._at["iid"]] == str(iid)) and bool(mask & kind) and \
            (sid < 0 or kind != 4 or f[self._at["sid"]] == str(sid))

    async def run(self, command: str, **_: object) -> str:
        self.commands.append(command)
        return self.answer(command)

    async def run_batch(self, commands: list[str], **_: object) -> list[str]:
        """As HAProxy answers ``;``-joined commands: each its own answer, in order."""
        return [await self.run(command) for command in commands]

    def answer(self, command: str) -> str:
        words = command.split()
        if words == ["show", "info"]:
            return self.info
        if words == ["show", "stat"]:
            return "\n".join([self.header, *self.lines]) + "\n\n"
        assert words[:2] == ["show", "stat"] and len(words) == 5, command
        iid, mask, sid = (int(w) for w in words[2:])
        if iid >= 0 and not any(self._fields(ln)[self._at["iid"]] == str(iid)
                                for ln in self.lines):
            return "No such proxy.\n"
        kept = [ln for ln in self.lines if self._wanted(ln, iid, mask & 0xFF, sid)]
        return "\n".join([self.header, *kept]) + "\n\n"


def check_partial(info: str, texts: list[str]) -> None:
    """Partial polls with every row on screen give the snapshots, rates and events of
    full polls of the same answers; a full dump after partial polls with nothing on
    screen gives the full poll's rows."""
    import asyncio

    from console.haproxy.poller import SocketSource

    async def run() -> None:
        answers = StatAnswers(texts[0], info)
        source = SocketSource(answers)  # type: ignore[arg-type]
        source.partial.from_rows = 0
        prev_fast = prev_slow = None
        for i, text in enumerate(texts):
            answers.set(text)
            slow = Snapshot.from_text(info, text, taken_at=100.0 + i, wall_time=1e9 + i)
            keys = [r.key for r in slow.rows]
            source.visible = lambda keys=keys: keys  # type: ignore[misc]
            fast = await source.fetch()
            object.__setattr__(fast, "taken_at", slow.taken_at)
            assert not fast.held, sorted(fast.held)[:3]
            same_rows(fast, slow)
            if prev_fast is not None and prev_slow is not None:
                assert rates(prev_fast, fast) == rates(prev_slow, slow)
                assert diff(prev_fast, fast, now=0.0) == diff(prev_slow, slow, now=0.0)
            prev_fast, prev_slow = fast, slow
        # nothing on screen: rows held; then a full dump reads everything again (the
        # last poll just now: its time was set to the plain one's above, and these
        # answers' lastchg does not tick, so the sweep would take every backend's
        # servers for moved since then)
        source.visible = lambda: []
        if source.partial.last is not None:
            object.__setattr__(source.partial.last, "taken_at", time.monotonic())
        held = await source.fetch()
        assert held.held and source.partial.partial_polls >= 1
        source.partial.full_at = -1e9
        full = await source.fetch()
        object.__setattr__(full, "taken_at", prev_slow.taken_at if prev_slow else 0.0)
        assert not full.held
        if prev_slow is not None:
            same_rows(full, prev_slow)

    asyncio.run(run())


def stable_texts(text: str, steps: int) -> list[str]:
    """``text`` then ``steps`` versions with ticking clocks and changed counters and
    statuses (the same rows, in the same order, as from one HAProxy between reloads)."""
    head, rows = _split(text)
    header = head[2:].split(",")
    rng = random.Random(7)
    out = [text]
    for step in range(1, steps + 1):
        lines = []
        for line in rows:
            changes = {"lastchg": str(100 + step)}
            if rng.random() < 0.2:
                changes["stot"] = str(1000 * step + rng.randint(0, 99))
            if rng.random() < 0.1:
                changes["status"] = rng.choice(["UP", "DOWN", "MAINT", "UP 1/3"])
            lines.append(_set(line, header, **changes))
        out.append(head + "\n" + "\n".join(lines) + "\n\n")
    return out


def test_partial_polls_captured() -> None:
    for version in ("2.6", "2.8", "3.0", "3.2", "3.4"):
        d = CAPTURED / version
        info = (d / "show_info.txt").read_text(encoding="utf-8")
        check_partial(info, stable_texts((d / "show_stat.txt").read_text(encoding="utf-8"), 6))


# ---------------------------------------------------------------------- real HAProxy

def real_answers(binary: str | None, servers: int, count: int) -> tuple[str, list[str]]:
    from bench.churn import churning
    from bench.haproxy_env import instance, send

    with instance(servers, binary=binary, checks=True, inter="2s", aged=False) as inst:
        info = send(inst.socket, "show info")
        texts = []
        with churning(inst.socket, inst.backends, 0.2):
            for _ in range(count):
                texts.append(send(inst.socket, "show stat"))
                time.sleep(0.4)
    return info, texts


def check_real(binaries: list[str]) -> list[str]:
    done = []
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            continue
        info, texts = real_answers(binary, 400, 8)
        check_sequence(info, texts)
        done.append(binary)
    return done


def check_partial_real(binary: str | None) -> None:
    """On a real HAProxy: a partial poll with every row on screen reads what a full
    poll reads (clock fields aside: the two are a few ms apart); a first look shows
    the frontend and backend rows of the full poll that follows it, and counts the
    servers that serve as the backends' ``act`` + ``bck`` do."""
    import asyncio

    from bench.haproxy_env import instance
    from console.haproxy.model import CLOCK_FIELDS
    from console.haproxy.poller import SocketSource
    from console.haproxy.transport import RuntimeClient

    async def run(sock: str) -> None:
        source = SocketSource(RuntimeClient(sock))
        source.partial.from_rows = 0
        first = await source.fetch()
        source.visible = lambda: [r.key for r in first.rows]
        part = await source.fetch()
        assert source.partial.partial_polls == 1 and not part.held
        plain = await SocketSource(RuntimeClient(sock)).fetch()
        assert [r.key for r in part.rows] == [r.key for r in plain.rows]
        for a, b in zip(part.rows, plain.rows, strict=True):
            fa = {k: v for k, v in a.fields.items() if k not in CLOCK_FIELDS}
            fb = {k: v for k, v in b.fields.items() if k not in CLOCK_FIELDS}
            assert fa == fb and a.status == b.status, (a.key, fa, fb)

    async def first_look(sock: str) -> None:
        source = SocketSource(RuntimeClient(sock))
        source.visible, source.first_look_from = lambda: [], 1
        look = await source.fetch()
        full = await source.fetch()
        assert look.first_look is not None and full.first_look is None
        proxies = [r.key for r in full.rows if r.type in ("frontend", "backend")]
        assert [r.key for r in look.rows] == proxies
        assert look.first_look == sum(int(r.get("act") or 0) + int(r.get("bck") or 0)
                                      for r in full.backends) > 0
        assert sum(1 for r in full.servers if r.get("status") not in ("DOWN", "MAINT")) \
            == look.first_look
        assert (await source.fetch()).first_look is None  # only the first poll looks

    with instance(200, binary=binary, aged=False) as inst:
        asyncio.run(run(inst.socket))
        asyncio.run(first_look(inst.socket))


def main(argv: list[str]) -> int:
    test_captured_sequences()
    test_header_change_and_errors()
    print("builder, rates, history, events: captured 2.6 and 2.8 answers, edited: same")
    test_partial_polls_captured()
    print("partial polls (every row on screen) vs full polls, captured 2.6 to 3.4: same")
    if "--no-haproxy" not in argv:
        from bench.haproxy_env import haproxy_binary

        done = check_real([haproxy_binary(), "/usr/sbin/haproxy"])
        print(f"same on real answers under churn with checks: {', '.join(done)}")
        for binary in done:
            check_partial_real(binary)
        print(f"partial poll vs full poll on real HAProxy: same: {', '.join(done)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
