"""``show errors`` and ``show sess`` parsers on the captured answers of 2.6 to 3.4,
hostile bytes, huge answers; the ``shutdown session`` spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.haproxy.actions import Action, plan, read_only, required_level
from console.haproxy.captured_errors import dump_lines, marked, parse_errors
from console.haproxy.errors import ParseError, ValidationError
from console.haproxy.model import Snapshot
from console.haproxy.safe_text import has_control
from console.haproxy.sessions import (
    age_seconds,
    check_session_id,
    parse_older,
    parse_sessions,
    show_sess_command,
)
from tests.triage_helpers import BAD_REQUESTS, BAD_RESPONSE

CAPTURED = Path(__file__).resolve().parent.parent / "data" / "captured"
VERSIONS = ("2.6", "2.8", "3.0", "3.2", "3.4")


def captured(version: str, name: str) -> str:
    return (CAPTURED / version / f"{name}.txt").read_text()


# --------------------------------------------------------------------------- show errors

@pytest.mark.parametrize("version", VERSIONS)
def test_show_errors_of_every_version_gives_back_the_exact_bytes(version: str) -> None:
    result = parse_errors(captured(version, "show_errors"))
    assert result.total_events == 4 and result.left_out == 0
    req, resp = result.entries
    assert (req.proxy, req.direction, req.frontend, req.backend, req.server) == \
        ("fe_triage", "request", "fe_triage", None, None)
    assert req.client and req.client.startswith("127.0.0.2:")
    assert req.buffer == BAD_REQUESTS[-1] and req.position == 27 and req.faulty_byte == 0x1b
    assert req.reason == "invalid request: in a header name" and req.state == "MSG_HDR_NAME"
    assert (resp.proxy, resp.direction, resp.frontend, resp.backend, resp.server) == \
        ("be_badresp", "response", "fe_badresp", "be_badresp", "bad1")
    assert resp.client and resp.client.startswith("127.0.0.3:")
    assert resp.buffer == BAD_RESPONSE and resp.faulty_byte == 0x1b
    assert not req.truncated and not resp.truncated


@pytest.mark.parametrize("version", VERSIONS)
def test_captured_escape_sequences_never_reach_the_terminal_raw(version: str) -> None:
    for e in parse_errors(captured(version, "show_errors")).entries:
        assert b"\x1b" in e.buffer
        shown = [marked(e), *(t for _, t, _ in dump_lines(e)),
                 json.dumps(e.to_json(), ensure_ascii=False)]
        for text in shown:
            assert not has_control(text) and "\x1b" not in text
        assert "⟦\\x1b⟧" in marked(e)
        assert sum(here for _, _, here in dump_lines(e)) == 1


DUMP = """Total events captured on [01/Dec/2026:04:02:42.261] : 9
{blank}
[01/Dec/2026:04:02:35.554] frontend fe (#2): invalid request
  backend <NONE> (#-1), server <NONE> (#-1), event #7, src [::1]:5000
  buffer starts at 0 (including 0 out), 16338 free,
  len 12, wraps at 16344, error at position 10
  H1 msg state MSG_RQVER(4), H1 msg flags 0x00001410
{blank}
  00000  GET /\\\\\\xff\\x00
  00008+ \\tZ\\e\\q
""".format(blank="  ")


def test_escapes_continuations_and_a_malformed_escape() -> None:
    (e,) = parse_errors(DUMP).entries
    assert e.client == "[::1]:5000" and e.event == 7
    assert e.buffer == b"GET /\\\xff\x00\tZ\x1b\\q"
    assert e.truncated  # the unknown escape \q is said, not hidden
    assert e.reason == "invalid request: in the request's HTTP version"
    assert "⟦\\x1b⟧" in marked(e)


def test_a_huge_answer_is_bounded() -> None:
    entry = DUMP.split("\n", 2)[2]
    text = DUMP.split("\n", 1)[0] + "\n" + entry * 3000
    result = parse_errors(text, max_entries=100)
    assert len(result.entries) == 100 and result.left_out == 2900
    long_line = "  00000  " + "A" * 200_000 + "\n"
    big = parse_errors(DUMP.split("\n  00000")[0] + "\n" + long_line, max_buffer=1000)
    assert len(big.entries[0].buffer) == 1000 and big.entries[0].truncated


@pytest.mark.parametrize("answer", ["", "Unknown command: 'show errrors'\n",
                                    "Permission denied\n", "\x1b[2Jgarbage\n"])
def test_not_an_errors_answer_is_a_clear_parse_error(answer: str) -> None:
    with pytest.raises(ParseError, match="show errors"):
        parse_errors(answer)


# --------------------------------------------------------------------------- show sess

@pytest.mark.parametrize("version", VERSIONS)
def test_show_sess_of_every_version(version: str) -> None:
    result = parse_sessions(captured(version, "show_sess"))
    assert result.total == 4 and result.cli_streams >= 1 and result.unparsed == 0
    oldest = result.rows[0]
    assert (oldest.frontend, oldest.backend, oldest.server, oldest.proto) == \
        ("fe_triage", "be_slow", "slow1", "tcpv4")
    assert oldest.age is not None and oldest.age >= 1 and oldest.id.startswith("0x")
    assert [g.to_json()["key"] for g in result.grouped("client")] == ["127.0.0.4", "127.0.0.5"]
    assert result.grouped("client")[0].count == 3
    assert [g.key for g in result.grouped("server")] == ["be_slow/slow1"]
    ages = [s.age for s in result.rows]
    assert ages == sorted(ages, reverse=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_older_filters_both_forms(version: str) -> None:
    """``older`` is the long form from 2.9 (3.0 here), ignored by HAProxy before: the
    age is filtered here either way."""
    text = captured(version, "show_sess_older")
    assert (" source=" in text) == (version >= "3.0")
    result = parse_sessions(text, older=1)
    assert 3 <= result.total <= 4  # the fresh stream may have aged past 1 s
    assert all(s.age is not None and s.age >= 1 for s in result.rows)
    assert {s.backend for s in result.rows} == {"be_slow"}
    assert {s.server for s in result.rows} == {"slow1"}


@pytest.mark.parametrize("version", VERSIONS)
def test_show_uri_from_3_1(version: str) -> None:
    result = parse_sessions(captured(version, "show_sess_show_uri"))
    uris = {s.uri for s in result.rows}
    want = {"GET /slow/uri HTTP/1.1", "GET /fresh HTTP/1.1"}
    assert uris == (want if version >= "3.2" else {None})


def test_commands_by_version() -> None:
    assert show_sess_command("2.6.12-1", 30) == "show sess"
    assert show_sess_command("2.8.25", None) == "show sess"
    assert show_sess_command("3.0.11", 30.5) == "show sess older 30"
    assert show_sess_command("3.0.11", None) == "show sess"
    assert show_sess_command("3.4.0", None) == "show sess show-uri"
    assert show_sess_command("3.4.0", 2) == "show sess older 2 show-uri"
    assert show_sess_command(None, 5) == "show sess"


def test_a_huge_answer_keeps_the_oldest_rows_and_counts_everything() -> None:
    line = ("0x{:x}: proto=tcpv4 src=10.0.{}.{}:1234 fe=fe be=be_{} srv=s1 ts=00 epoch=0 "
            "age={}s calls=2 rate=0 cpu=0 lat=0 rq[f=1h] rp[f=1h] exp=0s rc=0 c_exp=\n")
    text = "".join(line.format(0x1000 + i, i % 200, i % 250, i % 3, i % 1000)
                   for i in range(100_000))
    result = parse_sessions(text, max_rows=500)
    assert result.total == 100_000 and len(result.rows) == 500
    assert result.left_out == 100_000 - 500
    assert result.rows[0].age == 999 and result.rows[-1].age == 995  # 100 of each age
    assert sum(g.count for g in result.grouped("backend")) == 100_000


def test_hostile_uri_and_names_are_escaped_in_json() -> None:
    text = ('0x1: proto=tcpv4 src=1.2.3.4:5 fe=fe be=be srv=s age=1m2s calls=1 cpu=0 lat=0 '
            'exp=0s rc=0 c_exp= uri="GET /\x1b]0;pwned\x07 HTTP/1.1"\n')
    (s,) = parse_sessions(text).rows
    assert s.age == 62 and s.uri and "\x1b" in s.uri
    dumped = json.dumps(s.to_json(), ensure_ascii=False)
    assert "\x1b" not in dumped and "\x07" not in dumped


@pytest.mark.parametrize("answer", ["Unknown command\n", "Unsupported option 'x', try 'help'\n",
                                    "Invalid age.\n", "Permission denied\n"])
def test_error_answers_are_parse_errors(answer: str) -> None:
    with pytest.raises(ParseError):
        parse_sessions(answer)


def test_empty_answer_is_no_stream() -> None:
    assert parse_sessions("\n").total == 0


@pytest.mark.parametrize(("text", "seconds"), [("0s", 0), ("59s", 59), ("4m5s", 245),
                                               ("1d2h", 93600), ("12ms", 0.012),
                                               ("<NEVER>", None), ("5x", None), ("", None)])
def test_ages(text: str, seconds: float | None) -> None:
    assert age_seconds(text) == seconds


def test_older_and_ids_are_checked() -> None:
    assert parse_older("30s") == 30 and parse_older("2m") == 120 and parse_older("5") == 5
    assert parse_older("500ms") == 0.5
    for bad in ("", "-1s", "1y", "1s;x"):
        with pytest.raises(ValidationError):
            parse_older(bad)
    assert check_session_id("0x55D9c34e6a50") == "0x55d9c34e6a50"
    for bad in ("zz", "0x", "0x12 ; shutdown sessions", "123", "0x" + "1" * 17):
        with pytest.raises(ValidationError, match="session id"):
            check_session_id(bad)


# --------------------------------------------------------------------------- the spec

def test_shutdown_session_is_planned_without_undo_and_needs_admin() -> None:
    about = {"client": "1.2.3.4:5", "frontend": "fe", "backend": "be", "server": "s",
             "age_text": "5s", "uri": "GET /\x1b[2J"}
    p = plan(Action("session_shutdown", (), {"id": "0xABC"}), Snapshot.from_rows([]), None,
             about=about)
    assert p.commands == ["shutdown session 0xabc"]
    assert p.no_undo and not p.undo_commands and not p.dangerous
    assert p.required_level == "admin" and required_level("session_shutdown") == "admin"
    assert "session_shutdown" not in read_only("operator", False)
    assert "session_shutdown" in read_only("admin", False)
    assert any("1.2.3.4:5" in line and "be/s" in line for line in p.impact)
    assert not any(has_control(line) for line in p.impact)
    assert p.before == {"session 0xabc": about}
    with pytest.raises(ValidationError):
        plan(Action("session_shutdown", (), {"id": "0x1 ; x"}), Snapshot.from_rows([]), None)


def test_the_long_form_reads_the_uri_of_the_transaction() -> None:
    text = ("0x5598043dca10: [01/Dec/2026:04:02:40.560806] id=3 proto=tcpv4 "
            "source=127.0.0.4:50327\n"
            "  frontend=fe_triage (id=2 mode=http), listener=? (id=1) addr=127.0.0.1:1\n"
            "  backend=<NONE> (id=-1 mode=-)\n"
            "  server=<NONE> (id=-1)\n"
            "  task=0x1 (state=0x00 nice=0 calls=2 rate=0 exp=0s tid=0(1/0) age=1m1s)\n"
            '  txn=0x2 flags=0x3000 meth=1 status=-1 req.st=MSG_DONE uri="GET /x HTTP/1.1"\n'
            "  scf=0x3 flags=0x00000402\n")
    (s,) = parse_sessions(text, older=60).rows
    assert (s.id, s.client, s.frontend, s.backend, s.server) == \
        ("0x5598043dca10", "127.0.0.4:50327", "fe_triage", None, None)
    assert s.age == 61 and s.uri == "GET /x HTTP/1.1"
