"""Log parsing on real lines captured from HAProxy 2.6 to 3.4 (tests/data/captured/logs,
made by tests/data/capture_logs.py), and on hostile input."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from console.haproxy.config.model import ConfigFile
from console.haproxy.errors import ValidationError
from console.haproxy.logs import (
    LineParser,
    LogRecord,
    Unparsed,
    compile_format,
    explain_termination,
    frontend_formats,
    parser_for_config,
    split_header,
    tokenize,
)
from console.haproxy.logs.logformat import Separator, Text, Var
from tests.captured_data import VERSIONS, at_least

LOGS = Path(__file__).resolve().parents[1] / "data" / "captured" / "logs"
VARIANTS = ("rfc3164", "rfc5424", "local", "priority", "short", "timed", "iso", "raw")


def lines(version: str, variant: str) -> list[bytes]:
    return (LOGS / version / f"{variant}.log").read_bytes().splitlines()


def config_parser(version: str) -> LineParser:
    cfg = ConfigFile.parse((LOGS / version / "haproxy.cfg").read_bytes())
    return parser_for_config(frontend_formats(cfg))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_captured_line_parses_with_its_frontend_format(version: str,
                                                             variant: str) -> None:
    parser = config_parser(version)
    results = [parser.parse(line, n) for n, line in enumerate(lines(version, variant), 1)]
    unparsed = [r for r in results if isinstance(r, Unparsed) and not r.event]
    assert unparsed == []
    records = [r for r in results if isinstance(r, LogRecord)]
    formats = {r.format for r in records}
    assert {"http", "https", "clf", "tcp", "connect", "custom:fe_custom"} <= formats
    assert ("tcpclf" in formats) == at_least(version, "3.2")
    for r in records:
        assert r.fields["frontend"] in {"fe_http", "fe_https", "fe_clf", "fe_custom",
                                        "fe_default", "fe_tcp", "fe_tcpclf"}
        if r.format != "connect":
            assert r.format.startswith(r.fields["frontend"][3:].replace("default", "x")) \
                or r.format == "custom:fe_custom"


@pytest.mark.parametrize("version", VERSIONS)
def test_fields_of_real_http_lines(version: str) -> None:
    parser = config_parser(version)
    recs = [r for r in (parser.parse(x) for x in lines(version, "rfc3164"))
            if isinstance(r, LogRecord) and r.fields.get("frontend") == "fe_http"]
    by_path = {r.fields["path"]: r.fields for r in recs if r.fields.get("path")}
    ok = by_path["/page/0"]
    assert (ok["backend"], ok["server"], ok["status"], ok["termination"]) == \
        ("be_web", "web1", 200, "--")
    assert ok["method"] == "GET" and ok["uri"] == "/page/0?q=0"
    assert ok["request_captures"] == ["www.example.com"]
    assert ok["response_captures"] == ["text/plain"]
    assert all(isinstance(ok[k], int) and ok[k] >= 0 for k in ("tq", "tw", "tc", "tr", "ta"))
    down = by_path["/down/x"]
    assert down["termination"] == "SC" and down["status"] == 503
    assert down["tc"] == -1 and down["tr"] == -1 and down["retries"] == 3
    assert by_path["/slow"]["termination"] == "sH" and by_path["/slow"]["status"] == 504
    assert by_path["/missing/thing"]["server"] == "<NOSRV>"
    assert by_path["/missing/thing"]["termination_cookie"] == "LR--"
    bad = [r.fields for r in recs if r.fields.get("request") == "<BADREQ>"]
    assert {b["termination"] for b in bad} >= {"cR", "CR"}
    assert all(b["request_captures"] is None for b in bad)  # no captures: %hr printed nothing


@pytest.mark.parametrize("version", VERSIONS)
def test_clf_custom_and_default_lines(version: str) -> None:
    parser = config_parser(version)
    recs = [r for r in (parser.parse(x) for x in lines(version, "raw"))
            if isinstance(r, LogRecord)]
    clf = next(r.fields for r in recs if r.format == "clf")
    assert clf["frontend"] == "fe_clf" and clf["server"] == "web2" and clf["status"] == 404
    assert clf["request_captures"] == ["capture/1.0 (test)"]
    assert clf["cookie_client"] is None  # "" when quoted is absent
    custom = next(r.fields for r in recs if r.format == "custom:fe_custom")
    assert custom["method"] == "GET" and custom["uri"] == custom["path"]
    assert custom["[var(txn.host)]"] == "www.example.com"
    assert isinstance(custom["accept_timestamp"], int)  # %{+X}Ts decoded from hex
    assert abs(custom["accept_timestamp"] - time.time()) < 10 * 365 * 86400
    connect = next(r.fields for r in recs if r.format == "connect")
    assert connect["frontend"] == "fe_default" and connect["mode"] == "HTTP"
    tcp = next(r.fields for r in recs if r.format == "tcp")
    assert tcp["termination"] == "--" and isinstance(tcp["tt"], int)


@pytest.mark.parametrize("version", VERSIONS)
def test_auto_formats_without_config(version: str) -> None:
    parser = LineParser.auto()
    results = [parser.parse(x) for x in lines(version, "iso")]
    kinds = {r.format for r in results if isinstance(r, LogRecord)}
    assert {"http", "https", "tcp", "clf", "connect"} <= kinds
    # the custom lines match no predefined format: counted, with a reason
    custom = [r for r in results if isinstance(r, Unparsed) and not r.event]
    assert custom and all("fe_custom" in r.raw for r in custom)
    assert all("matches none of the formats" in r.reason for r in custom)


def test_header_variants() -> None:
    cases = {
        "<134>Dec  1 03:29:19 localhost haproxy[30049]: MSG x":
            ("rfc3164", 134, "localhost", "haproxy", "30049"),
        "<134>Dec  1 03:29:19 haproxy[30049]: MSG x": ("local", 134, None, "haproxy", "30049"),
        "<134>1 2026-12-01T03:29:19.155493+00:00 - haproxy 30049 - - MSG x":
            ("rfc5424", 134, None, "haproxy", "30049"),
        "<134>1 2026-12-01T03:29:19Z lb1 haproxy - - [a b=\"c d\"] MSG x":
            ("rfc5424", 134, "lb1", "haproxy", None),
        "<134>MSG x": ("priority", 134, None, None, None),
        "<6>MSG x": ("short", 6, None, None, None),
        "<6>2026-12-01T03:29:19.155523+00:00 MSG x": ("timed", 6, None, None, None),
        "2026-12-01T03:29:19.155529+00:00 MSG x": ("iso", None, None, None, None),
        "Dec  1 03:29:19 lb1 haproxy[7]: MSG x": ("rfc3164", None, "lb1", "haproxy", "7"),
        "2026-12-01T03:29:19+01:00 lb1 haproxy[7]: MSG x":
            ("rfc3164", None, "lb1", "haproxy", "7"),
        "MSG x": ("raw", None, None, None, None),
    }
    for line, (variant, pri, host, program, pid) in cases.items():
        h, msg = split_header(line)
        assert (h.variant, h.priority, h.host, h.program, h.pid) == \
            (variant, pri, host, program, pid), line
        assert msg == "MSG x", line


def test_tokenize_options_and_literals() -> None:
    toks = tokenize('%{+Q}o %{-Q}ci %(name)ST %{+X,+Q}Ts [%t] %% %[req.hdr(x),lower] "a"')
    vars_ = [t for t in toks if isinstance(t, Var)]
    assert vars_[1].alias == "ci" and not vars_[1].quoted
    assert vars_[2].key == "name" and vars_[2].quoted
    assert {"X", "Q"} <= vars_[3].options
    assert vars_[5].expr == "req.hdr(x),lower"
    assert Text("%") in toks and Separator() in toks


@pytest.mark.parametrize("bad", ["%{+Q", "%[req.hdr(x)", "abc %", "% x", "%(name"])
def test_bad_log_format_is_a_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        compile_format(bad)
    assert "log-format" in str(err.value) and err.value.hint


def test_unknown_variables_are_kept_as_text_and_dash_is_absent() -> None:
    cf = compile_format("%ci %zz %b %[ssl_fc_sni] %Ta")
    rec = cf.parse("10.0.0.1 hello - - +120")
    assert rec is not None
    assert rec["%zz"] == "hello" and rec["backend"] is None and rec["[ssl_fc_sni]"] is None
    assert rec["ta"] == 120 and rec["logasap"] is True


def test_log_format_from_defaults_and_overrides() -> None:
    cfg = ConfigFile.parse(b"""\
defaults d1
    mode http
    option httplog
frontend a
    bind :80
frontend b from d1
    log-format "%ci %b/%s %ST"
frontend c
    option tcplog
    option httplog clf
listen d
    bind :81
    log-format "${HAPROXY_HTTP_LOG_FMT} extra"
defaults
    mode tcp
frontend e
    bind :82
""")
    got = {k: v.name for k, v in frontend_formats(cfg).items()}
    assert got == {"a": "http", "b": "custom", "c": "clf", "d": "custom", "e": "connect"}
    assert frontend_formats(cfg)["d"].log_format.endswith("%{+Q}r extra")
    assert frontend_formats(cfg)["b"].where == "haproxy.cfg:7"


def test_a_bad_log_format_in_a_config_names_the_frontend() -> None:
    cfg = ConfigFile.parse(b"frontend f\n    log-format \"%{+Q\"\n")
    with pytest.raises(ValidationError) as err:
        parser_for_config(frontend_formats(cfg))
    assert "log-format of f" in str(err.value) and "haproxy.cfg:2" in str(err.value)


def test_explain_termination() -> None:
    assert explain_termination("SD--") == \
        "SD: the server closed the connection while sending data"
    assert explain_termination("sH") == \
        "sH: the server timeout expired before the response headers"
    assert explain_termination("KD") == \
        "KD: the stream was killed by an administrator, during the data phase"
    assert "the proxy inserted a cookie" in explain_termination("--NI")
    assert "unknown" in explain_termination("Zz")
    assert explain_termination("") == "(none): not a termination state"


# -- hostile input -------------------------------------------------------------------

GOOD = (b'<134>Dec  1 03:29:19 localhost haproxy[1]: 127.0.0.1:33443 [01/Dec/2026:03:29:19.154]'
        b' fe be/s 0/0/0/0/0 200 77 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"')


@pytest.mark.parametrize("line", [
    b"", b"\x00\x01\x02", b"\xff\xfe\xfd garbage", GOOD[:40], GOOD[:-20], GOOD + b"\x00",
    b"x" * 1_000_000, GOOD.replace(b"200", b"\xc3\x28"), b"\r\n", b"<999>", b"<134>1 ",
    GOOD.replace(b" 200 ", b" 2oo "), b"%" * 5000, b" " * 70000,
])
def test_hostile_lines_are_unparsed_with_a_reason(line: bytes) -> None:
    parser = LineParser.auto()
    t0 = time.monotonic()
    result = parser.parse(line, 7)
    assert time.monotonic() - t0 < 0.5
    assert isinstance(result, Unparsed)
    assert result.reason and result.line_no == 7
    assert len(result.raw) <= 2048


def test_good_line_with_crlf_and_truncated_request() -> None:
    parser = LineParser.auto()
    assert isinstance(parser.parse(GOOD + b"\r\n"), LogRecord)
    cut = parser.parse(GOOD[:-5])  # cut by the logger's length limit inside the request
    assert isinstance(cut, LogRecord) and cut.fields["status"] == 200


def test_random_bytes_never_raise() -> None:
    rng = random.Random(14)
    parser = LineParser.auto()
    t0 = time.monotonic()
    for _ in range(3000):
        n = rng.randint(0, 400)
        if rng.random() < 0.5:
            data = bytes(rng.getrandbits(8) for _ in range(n))
        else:  # mutations of a good line
            data = bytearray(GOOD)
            for _ in range(rng.randint(1, 5)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            data = bytes(data[: rng.randint(0, len(data))])
        result = parser.parse(data)
        assert isinstance(result, LogRecord | Unparsed)
    assert time.monotonic() - t0 < 20


def test_reader_cuts_a_1mb_line_and_keeps_the_next(tmp_path: Path) -> None:
    from console.haproxy.logs.reader import read_lines

    path = tmp_path / "log"
    path.write_bytes(GOOD + b"\n" + b"y" * 1_000_000 + b"\n" + GOOD + b"\r\n" + GOOD)
    parser = LineParser.auto()
    with open(path, "rb") as f:
        results = [parser.parse(x) for x in read_lines(f)]
    assert [type(r).__name__ for r in results] == ["LogRecord", "Unparsed", "LogRecord",
                                                   "LogRecord"]
    assert "too long" in results[1].reason  # type: ignore[union-attr]


def test_follower_across_rotation_and_truncation(tmp_path: Path) -> None:
    from console.haproxy.logs.reader import Follower

    path = tmp_path / "haproxy.log"
    path.write_bytes(b"old\n")
    f = Follower(path)
    assert f.poll() == []  # starts at the end, like tail -F
    with open(path, "ab") as w:
        w.write(b"one\ntw")
    assert f.poll() == [b"one"]
    with open(path, "ab") as w:
        w.write(b"o\n")
    assert f.poll() == [b"two"]
    os.rename(path, tmp_path / "haproxy.log.1")  # logrotate: move, then a new file
    with open(tmp_path / "haproxy.log.1", "ab") as w:
        w.write(b"late\n")  # written to the old file before the reopen
    assert f.poll() == [b"late"]
    path.write_bytes(b"fresh\n")
    assert f.poll() == [b"fresh"] and f.rotations == 1
    path.write_bytes(b"")  # copytruncate
    assert f.poll() == []
    path.write_bytes(b"again\n")
    assert f.poll() == [b"again"] and f.truncations == 1
    f.close()
