"""The log filter language, the bounded summaries and ``haconsole logs`` on captured
real lines (tests/data/captured/logs)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from console import cli
from console.haproxy.errors import ValidationError
from console.haproxy.logs import LineParser, LogRecord, Summary, parse_filter
from console.haproxy.logs.sketch import TimerSketch, TopK, quantize

LOGS = Path(__file__).resolve().parents[1] / "data" / "captured" / "logs"
REC = {"backend": "be_api", "frontend": "fe", "server": "web1", "status": 503,
       "termination": "SD", "termination_cookie": "SD--", "client": "10.1.2.3",
       "method": "GET", "path": "/login", "ta": 700, "tr": -1, "treq": 3,
       "request_captures": ["www.example.com"], "response_captures": None}


@pytest.mark.parametrize(("expr", "hit"), [
    ("be=be_api status>=500 term~^S client=10.1.0.0/16 path~^/login Ta>500ms", True),
    ("be=be_web", False), ("be!=be_web srv=web1 fe=fe method=GET", True),
    ("status=5xx", True), ("status=4xx", False), ("status!=5xx", False),
    ("client=10.2.0.0/16", False), ("client!=10.2.0.0/16", True), ("client=10.1.2.3", True),
    ("Ta>=0.7s", True), ("Ta>1s", False), ("ta<701", True), ("Tr<0", True), ("TR=3", True),
    ("tsc=SD--", True), ("cap~example", True), ("hdr=www.example.com", True),
    ("Tq>0", False),  # absent field: only != and !~ hold
    ("path!~^/log", False), ('path="/login"', True), ("retries>0", False),
])
def test_filter_terms(expr: str, hit: bool) -> None:
    assert parse_filter(expr)(REC) is hit


@pytest.mark.parametrize(("expr", "words"), [
    ("be", "FIELD OP VALUE"), ("Ta>fast", "not a duration"), ("status>=abc", "not a number"),
    ("client=10.1.0.0/99", "not a network"), ("path~(", "not a valid regex"),
    ("be>x", "compares numbers"), ('path="/a', "close the quote"),
    ("status>5xx", "takes = or != only"), ("path~" + "a" * 600, "too large"),
])
def test_filter_errors_say_what_and_where(expr: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_filter(expr)
    assert words in str(err.value)
    assert err.value.where and "filter" in err.value.where and err.value.hint


def test_a_catastrophic_regex_is_cut_short() -> None:
    import time

    flt = parse_filter(r"path~^(\w+\s?)*$ path~^(a|aa)+$")
    rec = dict(REC, path="a" * 5000 + "!")
    t0 = time.monotonic()
    for _ in range(20):
        assert flt(rec) is False
    assert time.monotonic() - t0 < 2.0  # each search is cut at SEARCH_TIMEOUT


def test_timer_sketch_exact_then_bounded() -> None:
    s = TimerSketch(max_exact=1000)
    for v in range(1, 101):
        s.add(v)
    assert s.exact and s.quantile(0.5) == 50 and s.quantile(0.99) == 99
    assert s.quantile(1.0) == 100 and s.halog_quantile(0.5) == 50
    rng = random.Random(1)
    values = [rng.randint(0, 2_000_000) for _ in range(50_000)]
    big = TimerSketch(max_exact=1000)
    for v in values:
        big.add(v)
    assert not big.exact and len(big.counts) < 3000
    true = sorted(values)[int(0.95 * len(values)) - 1]
    assert abs(big.quantile(0.95) - true) <= true * big.relative_error + 1
    assert quantize(0b1011_0111_1111, 4) == 0b1011_0000_0000


def test_topk_keeps_the_heavy_keys_in_bounded_memory() -> None:
    top: TopK[str, list[int]] = TopK(100, lambda: [0], lambda v: v[0])
    for i in range(20_000):
        key = "hot" if i % 3 == 0 else f"cold{i}"
        top.get(key)[0] += 1
    assert len(top) <= 100 and top.items["hot"][0] > 6000
    assert top.dropped > 0 and top.error >= 1


def test_summary_counts_unparsed_and_events_never_drops() -> None:
    parser = LineParser.auto()
    summary = Summary("server")
    data = (LOGS / "3.4" / "rfc3164.log").read_bytes().splitlines() + [b"\x00junk", b"??"]
    for n, line in enumerate(data, 1):
        summary.add(parser.parse(line, n))
    assert summary.lines == len(data)
    assert summary.records + summary.unparsed + summary.events == summary.lines
    assert summary.unparsed == 5  # 3 custom-format lines + 2 junk
    assert summary.first_unparsed[0][0] is not None
    rows = dict(summary.rows())
    assert rows["be_web/web1"].classes[1] == 5 and rows["be_down/dead1"].termination == {"SC": 1}
    d = rows["be_slow/hold1"].to_dict("be_slow/hold1")
    assert d["status_classes"]["5xx"] == 1 and d["ta_p99"] == d["ta_p50"] > 400


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_cli_summary_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    log = str(LOGS / "3.0" / "rfc5424.log")
    cfg = str(LOGS / "3.0" / "haproxy.cfg")
    rc, out, err = run_cli(["logs", "summary", "--file", log, "--config", cfg, "--json"],
                           capsys)
    assert rc == 0 and err == ""
    groups = {g["key"]: g for g in json.loads(out)}
    assert groups["be_web/web1"]["status_classes"]["2xx"] >= 5
    assert set(groups["be_web/web1"]) >= {"key", "requests", "status_classes", "termination",
                                         "ta_p50", "ta_p95", "ta_p99"}
    rc, out, err = run_cli(["logs", "summary", "--file", log, "--by", "termination"], capsys)
    assert rc == 0 and "SC: the server refused the connection" in out
    assert "did not parse" in err  # the custom lines, without --config


def test_cli_lines_json_filter_and_window(capsys: pytest.CaptureFixture[str]) -> None:
    log = str(LOGS / "2.6" / "rfc3164.log")
    rc, out, _ = run_cli(["logs", "--file", log, "--filter", "status>=500 term~^s",
                          "--json"], capsys)
    assert rc == 0
    objs = [json.loads(x) for x in out.splitlines()]
    assert [o["termination"] for o in objs] == ["sH"]
    assert {"frontend", "backend", "server", "status", "termination", "client", "method",
            "path", "tq", "tw", "tc", "tr", "ta"} <= set(objs[0])
    rc, out, _ = run_cli(["logs", "summary", "--file", log, "--window", "1s"], capsys)
    assert rc == 0 and "before the window" in out


def test_cli_errors_are_one_line_without_traceback(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    for argv, words in [
        (["logs", "summary", "--file", str(tmp_path / "none.log")], "does not exist"),
        (["logs", "--file", str(tmp_path)], "is a directory"),
        (["logs"], "no log source"),
        (["logs", "--file", str(LOGS / "3.4" / "raw.log"), "--filter", "Ta>>1"],
         "not a duration"),
        (["logs", "--file", str(LOGS / "3.4" / "raw.log"), "--format", "nonsense"],
         "unknown log format"),
        (["logs", "summary", "--file", str(LOGS / "3.4" / "raw.log"), "--window", "x"],
         "not a duration"),
    ]:
        rc, out, err = run_cli(argv, capsys)
        assert rc != 0 and words in err and "Traceback" not in err + out, argv
        assert len(err.strip().splitlines()) == 1


def test_cli_hostile_log_content_never_reaches_the_terminal(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "evil.log"
    evil = (b'127.0.0.1:1 [01/Dec/2026:03:29:19.154] fe be/s\x1b[2J 0/0/0/0/0 200 7 - - ---- '
            b'1/1/0/0/0 0/0 "GET /\x1b]0;pwned\x07 HTTP/1.1"\n\x1b[31mjunk\xff\n')
    log.write_bytes(evil)
    for argv in (["logs", "--file", str(log)], ["logs", "--file", str(log), "--json"],
                 ["logs", "summary", "--file", str(log)],
                 ["logs", "summary", "--file", str(log), "--json"]):
        rc, out, err = run_cli(argv, capsys)
        assert rc == 0
        for text in (out, err):
            assert "\x1b" not in text and "\x07" not in text and "\udcff" not in text
    assert isinstance(LineParser.auto().parse(evil.splitlines()[0]), LogRecord)
