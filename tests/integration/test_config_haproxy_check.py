"""What the config editor writes, real HAProxy reads as meant (``haproxy -c``, each binary)."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest

from console.haproxy.binaries import Binary
from console.haproxy.config import ConfigFile, apply_ops, lex, quote_word
from console.haproxy.errors import ValidationError
from console.haproxy.lab.config import SERVERS, Layout, Ports, render, write_files

pytestmark = pytest.mark.haproxy

ODD_VALUES = ["a b", "x#y", "#", "it's", 'say "hi"', "back\\slash", "end\\", "\\x41", "$HOME",
              "${HOME}", '"$HOME"', "a;b", "'\"'\"", "é ü", "  lead and trail  ", "a\\ b",
              "semi;colon # hash 'q' \"dq\" \\ $X"]
_NOTICE_RE = re.compile(r"parsing \[[^\]]*:(\d+)\]: '(.*)'\.$")


def check(binary: Binary, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary.path, "-c", "-f", str(path)], capture_output=True,
                          text=True, errors="surrogateescape", timeout=60, cwd=path.parent)


def assert_valid(binary: Binary, path: Path) -> None:
    result = check(binary, path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{binary.describe()} refused {path}:\n{output}"
    assert "ALERT" not in output


def test_quoted_values_are_read_as_one_word(haproxy_binary: Binary, tmp_path: Path) -> None:
    """``.notice WORD`` prints the one word HAProxy read: it must be the value itself."""
    lines = [f".notice {quote_word(value)}" for value in ODD_VALUES]
    path = tmp_path / "notice.cfg"
    path.write_text("\n".join(lines) + "\nglobal\n", encoding="utf-8")
    result = check(haproxy_binary, path)
    output = result.stdout + result.stderr
    assert "ALERT" not in output, output
    seen: dict[int, str] = {}
    for line in output.splitlines():
        m = _NOTICE_RE.search(line)
        if m:
            seen[int(m.group(1))] = m.group(2)
    assert seen == {n + 1: value for n, value in enumerate(ODD_VALUES)}, output


BASE = """\
global
    stats timeout 30s

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:{port}
    default_backend be_app

backend be_app   # the app
    balance roundrobin
    cookie SRV insert indirect nocache
    server web1 127.0.0.1:{s1} check weight 10   # first
    server web2 127.0.0.1:{s2} check
"""


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_odd_cookie_values_pass_check(haproxy_binary: Binary, tmp_path: Path, eol: str) -> None:
    text = BASE.format(port=18080, s1=18081, s2=18082).replace("\n", eol)
    cfg = ConfigFile.parse(text.encode(), "odd.cfg")
    for n, value in enumerate(ODD_VALUES):
        cfg.add_server("be_app", f"odd{n}", f"127.0.0.1:{18100 + n}", {"cookie": value})
    cfg.set_server_option("be_app", "web1", "cookie", "it's # mine")
    cfg.set_server_option("be_app", "web2", "cookie", "two words")
    path = tmp_path / "odd.cfg"
    path.write_bytes(cfg.to_bytes())
    assert_valid(haproxy_binary, path)
    reread = ConfigFile.parse(path.read_bytes())
    assert all(line.eol == eol for line in reread.lines)


def test_unquoted_blank_would_break_the_line(haproxy_binary: Binary, tmp_path: Path) -> None:
    """The control experiment: the same value written raw is two words, and HAProxy says so."""
    text = BASE.format(port=18080, s1=18081, s2=18082)
    path = tmp_path / "raw.cfg"
    path.write_text(text.replace("check weight 10", "check cookie two words"))
    result = check(haproxy_binary, path)
    assert result.returncode != 0 and "words" in result.stdout + result.stderr


@pytest.mark.parametrize("value", ["a\nbackend x", "a\rb", "a\x00b", "tab\tx", ""])
def test_values_that_cannot_be_one_word_are_refused(value: str) -> None:
    cfg = ConfigFile.parse(BASE.format(port=1, s1=2, s2=3).encode())
    with pytest.raises(ValidationError):
        cfg.set_server_option("be_app", "web1", "cookie", value)


def _lab(tmp_path: Path, binary: Binary) -> Layout:
    layout = Layout(tmp_path)
    ports = Ports(fe_web=19001, fe_api=19002, stats=19003)
    server_ports = {spec.key: 19100 + n for n, spec in enumerate(SERVERS)}
    write_files(layout, render(layout, ports, server_ports, prometheus=False,
                               version=binary.version))
    return layout


LAB_OPS = [
    {"op": "server_set", "backend": "be_web", "server": "web1",
     "set": {"weight": "50", "maxconn": "100"}},
    {"op": "server_set", "backend": "be_web", "server": "web2", "set": {"disabled": True}},
    {"op": "server_set", "backend": "be_web", "server": "web5", "set": {"backup": False}},
    {"op": "server_set", "backend": "be_web", "server": "web3",
     "set": {"addr": "127.0.0.1:19200", "cookie": "w3 # slow"}},
    {"op": "server_set", "backend": "be_api", "server": "api2", "set": {"check": False}},
    {"op": "server_add", "backend": "be_web", "server": "web6", "addr": "127.0.0.1:19201",
     "params": {"weight": "10", "check": True, "inter": "3s"}},
    {"op": "server_del", "backend": "be_api", "server": "api4"},
    {"op": "keyword_set", "section": ["backend", "be_web"], "keyword": ["timeout", "server"],
     "value": ["45s"]},
    {"op": "keyword_set", "section": ["defaults"], "keyword": ["timeout", "connect"],
     "value": ["3s"]},
    {"op": "keyword_set", "section": ["backend", "be_static"], "keyword": ["balance"],
     "value": ["leastconn"]},
    {"op": "keyword_set", "section": ["global"], "keyword": ["description"],
     "value": ["lab # edited, it's \"fine\""]},
    {"op": "keyword_del", "section": ["defaults"], "keyword": ["timeout", "queue"]},
    {"op": "section_add", "section": ["backend", "be_new"],
     "lines": ["balance roundrobin", "server n1 127.0.0.1:19300 check"]},
]


def test_edited_lab_config_passes_check(haproxy_binary: Binary, tmp_path: Path) -> None:
    layout = _lab(tmp_path, haproxy_binary)
    assert_valid(haproxy_binary, layout.config)
    before = layout.config.read_bytes()
    after = apply_ops(before, LAB_OPS, layout.config.name)
    layout.config.write_bytes(after)
    assert_valid(haproxy_binary, layout.config)
    old, new = before.decode().splitlines(), after.decode().splitlines()
    # Comments (the lab's per-server personalities) are all still there.
    assert [ln for ln in old if ln.lstrip().startswith("#")] == [
        ln for ln in new if ln.lstrip().startswith("#")]
    assert sum(1 for ln in new if "# healthy" in ln) == sum(1 for ln in old if "# healthy" in ln)


def _random_word_text(rng: random.Random) -> str:
    pieces = ["a", "b", " ", "\t", '"', "'", "\\", "#", "$", "{", "}", "x", "\\ ", "\\#",
              "\\\\", "\\'", '\\"', "\\$", "\\x41", "\\x4", "\\t", "é", ";", "${V}", "$V"]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))


def _messages(binary: Binary, path: Path, first: int) -> tuple[dict[int, str], set[int]]:
    """``.notice`` messages and ALERT line numbers of ``haproxy -c`` on *path*."""
    notices: dict[int, str] = {}
    alerts: set[int] = set()
    result = check(binary, path)
    for line in (result.stdout + result.stderr).splitlines():
        m = _NOTICE_RE.search(line)
        if m:
            notices[first + int(m.group(1))] = m.group(2)
        elif "ALERT" in line and (loc := re.search(r"\[[^\]]*:(\d+)\]", line)):
            alerts.add(first + int(loc.group(1)))
    return notices, alerts


def test_lexer_agrees_with_haproxy(haproxy_binary: Binary, tmp_path: Path) -> None:
    """Differential test: random ``.notice TEXT`` lines; where our lexer reads one word (or
    none), HAProxy prints that word (or nothing); where it reads several words or finds an
    error, HAProxy refuses the line.

    Each chunk is checked twice. From 3.2 on, HAProxy reads a file once to find the
    sections (lexing every line, reporting the lexer's errors) before parsing it, and stops
    after that first pass if a line did not lex: no ``.notice`` is printed, no other error
    reported. So the first run finds the lines HAProxy cannot split into words, and the
    second run, with those lines blanked (line numbers kept), shows what it reads of the
    others. Older versions report everything in one run; both runs agree there."""
    rng = random.Random(4242)
    texts = []
    while len(texts) < 600:
        text = _random_word_text(rng)
        if any(w.value == "" for w in lex(text).words):
            continue  # HAProxy drops a trailing empty word: not what this test is about
        texts.append(text)
    notices: dict[int, str] = {}
    alerts: set[int] = set()
    chunk = 40  # HAProxy stops after 50 fatal errors in a file
    for first in range(0, len(texts), chunk):
        path = tmp_path / f"lex{first}.cfg"
        lines = [f".notice {t}\n" for t in texts[first:first + chunk]]
        path.write_text("".join(lines) + "global\n", encoding="utf-8")
        _, lex_alerts = _messages(haproxy_binary, path, first)
        kept = ["\n" if first + n in lex_alerts else line for n, line in enumerate(lines, 1)]
        path.write_text("".join(kept) + "global\n", encoding="utf-8")
        found, more_alerts = _messages(haproxy_binary, path, first)
        notices.update(found)
        alerts |= lex_alerts | more_alerts
    for n, text in enumerate(texts, start=1):
        lexed = lex(text)
        if lexed.error or len(lexed.words) > 1:
            assert n in alerts, f"line {n} {text!r}: we read {lexed}, HAProxy accepted it"
            continue
        if not lexed.words:  # only a comment: .notice without a message
            assert notices.get(n) == "", f"line {n} {text!r}"
            continue
        word = lexed.words[0]
        assert n in notices, f"line {n} {text!r}: we read {word.value!r}, HAProxy refused it"
        if not word.expands:
            assert notices[n] == word.value, f"line {n} {text!r}"


EMPTY_WORD_CONFIG = """\
global
    stats socket {d}/admin.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{p1} "" disabled
    server s2 127.0.0.1:{p2} disabled
"""


def test_an_empty_word_ends_what_haproxy_reads(haproxy_binary: Binary, tmp_path: Path) -> None:
    """``server s1 ADDR "" disabled``: every version up to 3.2 ignores what follows the
    empty word (the server is NOT disabled; 3.2 warns), 3.4 refuses the line. The model
    reads the file the same way, and says what the version does."""
    from console.haproxy.config import server_lines
    from console.haproxy.config.lexer import empty_word_problem
    from console.haproxy.parsers import parse_servers_state
    from console.haproxy.transport import wait_for_socket
    from tests.instance import free_port
    from tests.lab_helpers import send

    path = tmp_path / "haproxy.cfg"
    path.write_text(EMPTY_WORD_CONFIG.format(d=tmp_path, port=free_port(), p1=free_port(),
                                             p2=free_port()))
    cfg = ConfigFile.parse(path.read_bytes())
    specs = server_lines(cfg)
    assert not specs["be", "s1"].disabled and specs["be", "s2"].disabled
    words = cfg.lines[11].words
    problem = empty_word_problem(words, haproxy_binary.branch)
    result = check(haproxy_binary, path)
    output = result.stdout + result.stderr
    if haproxy_binary.branch >= (3, 4):
        assert result.returncode != 0 and "haproxy.cfg:12" in output and "empty" in output
        assert problem and "refuses the line" in problem
        return
    assert result.returncode == 0, output
    assert problem and "ignores the 1 word(s) after it" in problem
    assert ("is empty and marks the end" in output) == (haproxy_binary.branch >= (3, 2))
    proc = subprocess.Popen([haproxy_binary.path, "-f", str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        assert wait_for_socket(str(tmp_path / "admin.sock"), 10)
        rows = {r.srv_name: r for r in parse_servers_state(
            send(tmp_path / "admin.sock", "show servers state"))}
    finally:
        proc.terminate()
        proc.wait(10)
    assert rows["s1"].srv_admin_state & 0x04 == 0  # not disabled: "disabled" was ignored
    assert rows["s2"].srv_admin_state & 0x04  # disabled from the config
