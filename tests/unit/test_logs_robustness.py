"""The fast paths of the logs library give what the plain ones give, and bad input
(binary garbage, 1 MB lines, truncated lines, unknown formats) never raises, never
stalls, never grows memory: in batches (``LineParser.parse_many``), through summaries
(fields picked without decoding the rest), and in the ring's line splitter."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from console.haproxy.config.model import ConfigFile
from console.haproxy.logs import (
    DIMENSIONS,
    HalogPct,
    LineParser,
    LogRecord,
    Summary,
    Unparsed,
    frontend_formats,
    parser_for_config,
)
from console.haproxy.logs.parse import MAX_LINE, OVERLONG, parse_lines
from console.haproxy.logs.reader import LineSplitter
from tests.captured_data import VERSIONS

LOGS = Path(__file__).resolve().parents[1] / "data" / "captured" / "logs"
VARIANTS = ("rfc3164", "rfc5424", "local", "priority", "short", "timed", "iso", "raw")
GOOD = (b'<134>Dec  1 03:29:19 localhost haproxy[1]: 127.0.0.1:33443 [01/Dec/2026:03:29:19.154]'
        b' fe be/s 0/0/0/0/0 200 77 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"')
# a second to parse one line is already a stall: the bound only catches runaway
# backtracking (seconds to hours), not slowness
STALL = 1.0


def captured(version: str, variant: str) -> list[bytes]:
    return (LOGS / version / f"{variant}.log").read_bytes().splitlines()


def config_parser(version: str) -> LineParser:
    cfg = ConfigFile.parse((LOGS / version / "haproxy.cfg").read_bytes())
    return parser_for_config(frontend_formats(cfg))


def same(a: object, b: object) -> bool:
    if isinstance(a, LogRecord) and isinstance(b, LogRecord):
        return (a.fields, a.header, a.format, a.line_no, a.raw) == \
            (b.fields, b.header, b.format, b.line_no, b.raw)
    return a == b


def hostile(rng: random.Random) -> list[bytes]:
    """Good lines of every shape, mixed with garbage, truncations and overlong lines."""
    good = [x for v in VARIANTS for x in captured("3.4", v)]
    out: list[bytes] = []
    for _ in range(1500):
        r = rng.random()
        line = rng.choice(good)
        if r < 0.6:
            out.append(line)
        elif r < 0.7:
            out.append(line[: rng.randint(0, len(line))])  # truncated
        elif r < 0.8:
            out.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))))
        elif r < 0.85:
            out.append(b"")
        elif r < 0.9:
            out.append(line + b"\r")
        elif r < 0.95:
            out.append(b"Proxy fe_http started.")
        else:
            out.append(b"<134>" + b"x" * rng.choice((10, MAX_LINE + 10)))
    return out


@pytest.mark.parametrize("auto", [True, False])
def test_parse_many_gives_what_parse_gives_line_by_line(auto: bool) -> None:
    lines = hostile(random.Random(5))
    one = LineParser.auto() if auto else config_parser("3.4")
    many = LineParser.auto() if auto else config_parser("3.4")
    expected = [one.parse(x, n) for n, x in enumerate(lines, 1)]
    got = list(parse_lines(many, lines))
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        assert same(e, g), (e, g)
    # a batch with a NUL, a CR or an overlong line goes line by line: same results
    for batch in ([GOOD, GOOD + b"\x00", GOOD], [GOOD, GOOD + b"\r"], [GOOD, OVERLONG]):
        assert all(same(a, b) for a, b in zip(LineParser.auto().parse_many(batch, 3),
                                               [LineParser.auto().parse(x, n)
                                                for n, x in enumerate(batch, 3)],
                                               strict=True))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", ("rfc3164", "rfc5424", "raw"))
def test_format_switches_inside_a_batch_follow_the_last_format(version: str,
                                                               variant: str) -> None:
    lines = captured(version, variant)
    rng = random.Random(9)
    lines = [rng.choice(lines) for _ in range(800)]
    expected = [LineParser.auto().parse(x, n) for n, x in enumerate(lines, 1)]
    # one parser for the whole sequence, the way parse would see it
    seq = LineParser.auto()
    expected = [seq.parse(x, n) for n, x in enumerate(lines, 1)]
    got = LineParser.auto().parse_many(lines, 1)
    assert [(r.format if isinstance(r, LogRecord) else r.reason) for r in got] == \
        [(r.format if isinstance(r, LogRecord) else r.reason) for r in expected]
    assert all(same(a, b) for a, b in zip(got, expected, strict=True))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("by", DIMENSIONS)
def test_summaries_from_picked_fields_equal_summaries_from_decoded_ones(version: str,
                                                                        by: str) -> None:
    lines = [x for v in ("rfc3164", "raw", "iso") for x in captured(version, v)]
    fast, slow = Summary(by), Summary(by)
    fast_pct, slow_pct = HalogPct(), HalogPct()
    parser = config_parser(version)
    for n, line in enumerate(lines, 1):
        r = parser.parse(line, n)
        fast.add(r)
        fast_pct.add(r)
        r2 = parser.parse(line, n)
        if isinstance(r2, LogRecord):
            _ = r2.fields  # decoded first: summaries read the dict
        slow.add(r2)
        slow_pct.add(r2)
    assert [(k, g.to_dict(k)) for k, g in fast.rows("key")] == \
        [(k, g.to_dict(k)) for k, g in slow.rows("key")]
    assert fast.total.to_dict("all") == slow.total.to_dict("all")
    assert (fast.records, fast.unparsed, fast.events, fast.ungrouped) == \
        (slow.records, slow.unparsed, slow.events, slow.ungrouped)
    assert fast_pct.text() == slow_pct.text()


def test_the_total_stays_exact_when_groups_are_dropped() -> None:
    parser = LineParser.auto()
    s = Summary("client", max_groups=4)
    every = Summary("client", max_groups=100_000)
    for i in range(400):
        line = GOOD.replace(b"127.0.0.1", f"10.0.{i % 50}.{i % 7}".encode()) \
            .replace(b" 200 ", b" 503 " if i % 9 == 0 else b" 200 ")
        s.add(parser.parse(line))
        every.add(parser.parse(line))
    assert len(s.groups) <= 4 and s.groups.dropped
    assert s.total.to_dict("all") == every.total.to_dict("all")
    assert s.total.requests == 400


# -- bounded time per line: nothing a regular expression could backtrack on for long ---

def _adversarial() -> list[bytes]:
    n = MAX_LINE - 200
    head = b"<134>Dec  1 03:29:19 localhost haproxy[1]: "
    return [
        head + b"1" * n,
        head + b"1/" * (n // 2),
        head + b":" * n,
        head + b"a:" * (n // 2),
        head + b'"' * n,
        head + b"{" * n,
        head + b"{}" * (n // 2) + b"}",
        head + b"[" * n,
        head + b"- " * (n // 2),
        head + b"-/" * (n // 2),
        b"<134>1 " + b"[" * n,
        b"<134>1 2026-12-01T03:29:19Z h t 1 - " + b'[a b="' * (n // 8),
        b"<134>1 2026-12-01T03:29:19Z h t 1 - " + b'[a b="\\' * (n // 8),
        b"<134>Dec  1 03:29:19 " + b"a" * n,
        b"<134>Dec  1 03:29:19 " + b"a[" * (n // 2),
        GOOD.replace(b'"GET / HTTP/1.1"', b'"GET /' + b"x " * (n // 2)),
        GOOD.replace(b'"GET / HTTP/1.1"', b'"' + b" HTTP/1.1" * (n // 10)),
        GOOD.replace(b"127.0.0.1:33443", b"1:" * (n // 2) + b"1"),
        GOOD.replace(b"0/0/0/0/0", b"0/" * (n // 2) + b"0"),
        GOOD.replace(b"{", b"").replace(b" 0/0 ", b" 0/0 " + b"{a|" * (n // 3)),
        b"Connect from " + b"1:" * (n // 2) + b" to x:1 (fe/HTTP)",
        b"Connect to unix:" + b"1" * n,
        b"\xff" * n,
    ]


@pytest.mark.parametrize("parser", ["auto", "config", "custom"])
def test_long_adversarial_lines_parse_in_bounded_time(parser: str) -> None:
    from console.haproxy.logs import compile_format

    p = {"auto": LineParser.auto, "config": lambda: config_parser("3.4"),
         "custom": lambda: LineParser.for_format(compile_format(
             '%ci:%cp [%tr] %ft %b/%s %{+Q}r %hr %hs %[capture.req.hdr(0)] %{+Q}CC %ID'))}[parser]()
    for line in _adversarial():
        t0 = time.monotonic()
        result = p.parse(line, 1)
        many = p.parse_many([line, GOOD], 1)
        elapsed = time.monotonic() - t0
        assert elapsed < STALL, (line[:60], elapsed)
        assert isinstance(result, LogRecord | Unparsed)
        assert len(many) == 2
        assert isinstance(many[1], LogRecord) == (parser != "custom")  # the next line
        if isinstance(result, Unparsed):
            assert len(result.raw) <= 2048


def test_more_than_a_hundred_bad_lines_cost_no_more_than_matching() -> None:
    """Reasons say where a line fails for the first lines only: a flood of garbage
    near the line limit is matched, not analysed, past that."""
    p = LineParser.auto()
    line = GOOD.replace(b" 200 ", b" 2oo ")[:-1] + b"x" * (MAX_LINE - len(GOOD) - 10)
    t0 = time.monotonic()
    results = p.parse_many([line] * 400, 1)
    assert time.monotonic() - t0 < 400 * STALL / 10
    assert all(isinstance(r, Unparsed) for r in results)
    assert "closest" in results[0].reason  # type: ignore[union-attr]
    assert "closest" not in results[-1].reason  # type: ignore[union-attr]


# -- bounded memory: the ring's splitter and the file reader cut long lines ----------

def test_the_ring_splitter_cuts_a_1mb_line_sent_in_pieces_and_keeps_the_next() -> None:
    s = LineSplitter()
    out: list[bytes] = []
    data = GOOD + b"\n" + b"z" * 1_000_000 + b"\n" + GOOD + b"\npartial"
    biggest = 0
    for i in range(0, len(data), 7000):
        out += s.feed(data[i:i + 7000])
        biggest = max(biggest, len(s._pending))
    assert biggest <= MAX_LINE
    assert len(out) == 3 and out[0] == GOOD and out[2] == GOOD
    assert out[1].endswith(OVERLONG) and len(out[1]) < 4096
    assert s.cut == 1
    r = LineParser.auto().parse(out[1])
    assert isinstance(r, Unparsed) and "too long" in r.reason
    assert s.flush() == [b"partial"]


def test_the_ring_splitter_on_binary_garbage_without_newlines() -> None:
    s = LineSplitter(max_line=4096)
    rng = random.Random(3)
    lines: list[bytes] = []
    for _ in range(200):
        chunk = bytes(rng.choice(range(0, 256)) for _ in range(1000)).replace(b"\n", b"")
        lines += s.feed(chunk)
        assert len(s._pending) <= 4096
    lines += s.feed(b"\n" + GOOD + b"\n")
    assert lines[-1] == GOOD
    results = LineParser.auto().parse_many(lines, 1)
    assert isinstance(results[-1], LogRecord)
    assert all(isinstance(r, Unparsed) for r in results[:-1])


def test_summary_memory_is_bounded_whatever_the_keys() -> None:
    parser = LineParser.auto()
    s = Summary("path", max_groups=100)
    for i in range(5000):
        s.add(parser.parse(GOOD.replace(b"GET / ", f"GET /p{i} ".encode()), i))
    assert len(s.groups) <= 100 and s.total.requests == 5000
    for _, g in s.groups:
        assert len(g.ta.counts) <= g.ta.max_exact + 1
