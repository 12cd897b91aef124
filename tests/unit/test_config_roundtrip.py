"""The config model reads any file and writes it back byte for byte; words, sections, grammar."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from console.haproxy.config import (
    ConfigFile,
    lex,
    parse_address,
    parse_bind_line,
    parse_server_line,
    quote_word,
    server_lines,
)
from console.haproxy.config.model import Line, split_lines
from console.haproxy.errors import ValidationError
from tests.conftest import SHARED, shared_or_skip

CORPUS = SHARED / "corpus" / "haproxy-configs"
CORPUS_SIZE = 327


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.cfg")) if CORPUS.is_dir() else []


def require_corpus() -> list[Path]:
    """The corpus files; without ../shared, a failure in CI and a visible skip elsewhere."""
    shared_or_skip(CORPUS, "the config corpus (327 real HAProxy configs)")
    files = corpus_files()
    if not files:
        pytest.fail(f"the config corpus is empty: no .cfg files in {CORPUS}")
    return files


def corpus_params() -> list[Path | None]:
    return list(corpus_files()) or [None]


def _id(path: Path | None) -> str:
    return path.name if path else "corpus-missing"


def test_corpus_is_complete() -> None:
    files = require_corpus()
    assert len(files) >= CORPUS_SIZE, f"{len(files)} files in {CORPUS}, expected {CORPUS_SIZE}"


@pytest.mark.parametrize("path", corpus_params(), ids=_id)
def test_corpus_round_trip(path: Path | None) -> None:
    if path is None:
        require_corpus()
        return
    data = path.read_bytes()
    cfg = ConfigFile.parse(data, path.name)
    assert cfg.to_bytes() == data
    for line in cfg.lines:
        for w in line.words:
            assert line.text[w.start:w.end] == w.raw
        assert line.error is None, f"{path.name}: {line.text!r}: {line.error}"


ODD_INPUTS = {
    "empty": b"",
    "only-newline": b"\n",
    "crlf": b"global\r\n    daemon\r\n\r\nbackend b\r\n    server s 1.2.3.4:80 check\r\n",
    "mixed-endings": b"global\r\n  daemon\nbackend b\r\n\n  server s 1.1.1.1:1\r\n",
    "tabs-trailing-blanks": b"global \t\n\tdaemon\t \t\n  \t\n",
    "comment-mid-line": b"backend b # the b\n  server s 1.1.1.1:80 check#no space\n",
    "quoted-hash-blank": b"backend b\n  server s 1.1.1.1:80 cookie \"a b#c\" id 'x #y'\n",
    "backslashes": b"global\n  setenv A a\\ b\\#c\\\\d\\x41\\$e \\q\n  x \\\n",
    "conditionals": b".if defined(X)\nglobal\n  .if streq(\"$X\",1)\n    daemon\n  .elif 1\n"
                    b"  .else\n  .endif\n.endif\n.notice \"hello\"\n",
    "variables": b"backend b\n  server s ${ADDR}:${PORT} cookie \"$V\" id \"${X-1}\"\n",
    "no-final-newline": b"global\n  daemon",
    "no-final-newline-crlf": b"global\r\n  daemon\r",
    "non-utf8": b"global\n  # caf\xe9 \xff\xfe\n  description \xc3\x28 \"\x80\"\n",
    "bom": b"\xef\xbb\xbfglobal\n  daemon\n",
    "bom-only": b"\xef\xbb\xbf",
    "lone-cr": b"global\n  daemon\rignored words\n  x\r\r\n",
    "nul": b"global\n  daemon\x00 rest\n",
    "unmatched-quote": b"backend b\n  server s 1.1.1.1:80 cookie \"abc\n",
    "adjacent-quotes": b"global\n  description a\"b c\"'d e'f\n",
    "blank-lines-only": b"\n\n\r\n \n",
    "cr-only": b"\r",
}


@pytest.mark.parametrize("name", list(ODD_INPUTS))
def test_odd_input_round_trip(name: str) -> None:
    data = ODD_INPUTS[name]
    cfg = ConfigFile.parse(data)
    assert cfg.to_bytes() == data
    assert ConfigFile.parse(cfg.to_bytes()).to_bytes() == data
    for line in cfg.lines:
        for w in line.words:
            assert line.text[w.start:w.end] == w.raw


def _values(text: str) -> list[str]:
    return [w.value for w in lex(text).words]


def test_words_and_values() -> None:
    assert _values('  server s 1.1.1.1:80 cookie "a b#c" id \'x #y\'  # c') == [
        "server", "s", "1.1.1.1:80", "cookie", "a b#c", "id", "x #y"]
    assert _values(r"a\ b\#c \\ \x41 \$x \q") == ["a b#c", "\\", "A", "\\$x", "\\q"]
    assert _values(r'"a\$b \"q\" \'s\'" ' + r"'\n$x'") == ['a$b "q" \'s\'', "\\n$x"]
    assert _values("a\"b c\"'d e'f g") == ["ab cd ef", "g"]
    assert _values('x "" y') == ["x", "", "y"]
    assert _values("tab\tsep\vvt") == ["tab", "sep", "vt"]
    assert _values(r"\t\n\r") == ["\t\n\r"]


def test_comment_and_tail() -> None:
    line = Line.make("    server s 1.1.1.1:80 check   # web, primary", "\n")
    assert line.indent == "    "
    assert line.comment == "# web, primary"
    assert line.values == ["server", "s", "1.1.1.1:80", "check"]
    assert Line.make("  x y#z", "").comment == "#z"
    cr = Line.make("daemon\rtail", "\n")
    assert cr.values == ["daemon"] and cr.comment is None and cr.tail_start == 6
    assert Line.make('a "b#c"', "").comment is None


def test_expansion_flag() -> None:
    words = lex('a "$X" \'$Y\' ${Z} "${W-1}"').words
    assert [w.expands for w in words] == [False, True, False, False, True]
    assert words[3].value == "${Z}"


def test_lex_errors() -> None:
    assert lex('a "b').error and "quote" in (lex('a "b').error or "")
    assert lex(r"a \xZZ").error
    assert lex('"$5"').error
    assert lex(r'"\$5"').error is None


def test_line_endings() -> None:
    lines = split_lines("a\r\nb\nc\r\r\nd")
    assert [(line.text, line.eol) for line in lines] == [
        ("a", "\r\n"), ("b", "\n"), ("c\r", "\r\n"), ("d", "")]
    cfg = ConfigFile.parse(b"a\r\nb\r\nc\n")
    assert cfg.dominant_eol() == "\r\n"
    assert ConfigFile.parse(b"a").dominant_eol() == "\n"


def test_bom_and_non_utf8() -> None:
    cfg = ConfigFile.parse(b"\xef\xbb\xbfglobal\n  description \xff\n")
    assert cfg.bom == b"\xef\xbb\xbf"
    assert cfg.sections[0].type == "global"
    assert cfg.lines[1].words[1].value == "\udcff"


# -- sections --------------------------------------------------------------------------------

SECTIONS = b"""\
# header comment
global
    daemon
defaults base
    mode http
  defaults web from base
    timeout client 5s
frontend fe from web
    bind :80
.if defined(WITH_B2)
backend b2
    server x 1.1.1.1:80
.endif
backend be_app from web
    server s1 10.0.0.1:80
listen stats
    bind :8404
peers p
ring r
cache c
http-errors errs
mailers m
program prog
log-forward lf
crt-store
traces
log-profile lp
acme le
fcgi-app php
resolvers dns
userlist users

"""


def test_sections() -> None:
    cfg = ConfigFile.parse(SECTIONS)
    types = [s.type for s in cfg.sections]
    assert types == ["global", "defaults", "defaults", "frontend", "backend", "backend",
                     "listen", "peers", "ring", "cache", "http-errors", "mailers", "program",
                     "log-forward", "crt-store", "traces", "log-profile", "acme", "fcgi-app",
                     "resolvers", "userlist"]
    web = cfg.section("defaults", "web")
    assert web is not None and web.from_ == "base" and web.line_range == (6, 7)
    fe = cfg.section("frontend", "fe")
    assert fe is not None and fe.from_ == "web"
    assert cfg.section("global") is not None and cfg.section("global").start == 1
    assert [s.name for s in cfg.backends()] == ["b2", "be_app", "stats"]
    assert [s.name for s in cfg.frontends()] == ["fe", "stats"]
    b2 = cfg.section("backend", "b2")
    assert b2 is not None and b2.conditional is True
    assert cfg.depth(b2.start) == 1 and cfg.depth(b2.start + 1) == 1
    assert cfg.depth(b2.start - 1) == 0 and cfg.depth(b2.start + 2) == 0  # .if / .endif
    last = cfg.sections[-1]
    assert last.end == len(cfg.lines) and last.body_end == last.start + 1
    assert cfg.section("backend", "nope") is None


def test_duplicate_section_is_ambiguous() -> None:
    cfg = ConfigFile.parse(b"global\n  daemon\nglobal\n  nbthread 1\n")
    with pytest.raises(ValidationError, match="2 sections 'global'"):
        cfg.section("global")


# -- grammar ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,prefix,host,port", [
    ("10.0.0.1:80", None, "10.0.0.1", "80"),
    ("10.0.0.1", None, "10.0.0.1", None),
    ("[::1]:8080", None, "::1", "8080"),
    ("[2001:db8::1]", None, "2001:db8::1", None),
    ("::1.1.1.1:", None, "::1.1.1.1", None),
    ("2001:db8::1:443", None, "2001:db8::1", "443"),
    ("ipv4@127.0.0.1:9000", "ipv4@", "127.0.0.1", "9000"),
    ("ipv6@[::1]:9000", "ipv6@", "::1", "9000"),
    ("unix@/run/app.sock", "unix@", "/run/app.sock", None),
    ("/var/run/x.sock", None, "/var/run/x.sock", None),
    ("abns@name", "abns@", "name", None),
    ("${s1_addr}:${s1_port}", None, "${s1_addr}", "${s1_port}"),
    ("localhost:+1", None, "localhost", "+1"),
    (":80", None, "", "80"),
])
def test_addresses(text: str, prefix: str | None, host: str, port: str | None) -> None:
    addr = parse_address(text)
    assert (addr.prefix, addr.host, addr.port) == (prefix, host, port)


def test_server_line() -> None:
    line = Line.make("  server web1 [::1]:80 check weight 10 maxconn 100 cookie x backup "
                     "inter 2s disabled  # c", "\n")
    srv = parse_server_line(line)
    assert srv is not None
    assert (srv.kind, srv.name, srv.address, srv.port) == ("server", "web1", "::1", "80")
    assert [(p.key, p.value) for p in srv.params] == [
        ("check", None), ("weight", "10"), ("maxconn", "100"), ("cookie", "x"),
        ("backup", None), ("inter", "2s"), ("disabled", None)]
    assert srv.options["weight"] == "10" and srv.options["check"] is True
    assert srv.flag("disabled") is True and srv.flag("check") is True
    assert srv.flag("backup") is True and srv.flag("ssl") is None


def test_value_keywords_take_flag_like_values() -> None:
    srv = parse_server_line(Line.make("server s 1.1.1.1:1 cookie check proto h2 ssl", ""))
    assert srv is not None
    assert [(p.key, p.value) for p in srv.params] == [
        ("cookie", "check"), ("proto", "h2"), ("ssl", None)]


def test_unknown_keywords() -> None:
    srv = parse_server_line(Line.make("server s 1.1.1.1:1 newopt val newflag check ktls on", ""))
    assert srv is not None
    assert [(p.key, p.value) for p in srv.params] == [
        ("newopt", "val"), ("newflag", None), ("check", None), ("ktls", "on")]
    tlv = parse_server_line(Line.make("server s 1.1.1.1:1 set-proxy-v2-tlv-fmt(0xE1) %[fc_rcvd]",
                                      ""))
    assert tlv is not None and tlv.params[0].value == "%[fc_rcvd]"


def test_default_server_and_template() -> None:
    ds = parse_server_line(Line.make("default-server inter 3s check", ""))
    assert ds is not None and ds.name is None and ds.address is None
    assert ds.options == {"inter": "3s", "check": True}
    tpl = parse_server_line(Line.make("server-template web 1-3 app.example:8080 check", ""))
    assert tpl is not None
    assert (tpl.name, tpl.count, tpl.address, tpl.port) == ("web", "1-3", "app.example", "8080")
    assert tpl.options == {"check": True}
    assert parse_server_line(Line.make("bind :80", "")) is None


def test_bind_line() -> None:
    bind = parse_bind_line(Line.make("bind :80,[::]:443,unix@/s.sock ssl crt /c.pem alpn h2 "
                                     "v4v6", ""))
    assert bind is not None
    assert [(a.host, a.port) for a in bind.addresses] == [("", "80"), ("::", "443"),
                                                          ("/s.sock", None)]
    assert bind.options == {"ssl": True, "crt": "/c.pem", "alpn": "h2", "v4v6": True}


# -- quoting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["plain", "a b", "x#y", "it's", 'say "hi"', "back\\slash",
                                   "$HOME", "${X}", "a;b", "'\"'\"", "\\'", "é ü", "#", "' '"])
def test_quote_word_reads_back(value: str) -> None:
    words = lex(quote_word(value)).words
    assert [w.value for w in words] == [value]


@pytest.mark.parametrize("value", ["", "a\nb", "a\rb", "a\x00b", "tab\there", "\x1b[0m"])
def test_quote_word_refuses(value: str) -> None:
    with pytest.raises(ValidationError):
        quote_word(value)


def test_quote_word_random() -> None:
    rng = random.Random(20260806)
    alphabet = "ab \"'\\#$ {}x;é\udcff"
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        raw = quote_word(value)
        lexed = lex(f"key {raw} next # c")
        assert [w.value for w in lexed.words] == ["key", value, "next"], raw


def test_random_lines_round_trip() -> None:
    rng = random.Random(7)
    alphabet = ["a", "b", " ", "\t", '"', "'", "\\", "#", "$", "{", "}", "x", "4", "\r", "\n",
                "\x00", "é", "\udcfe", ".if ", "backend b", "server s 1.1.1.1:1 "]
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        data = text.encode("utf-8", "surrogateescape")
        cfg = ConfigFile.parse(data)
        assert cfg.to_bytes() == data
        for line in cfg.lines:
            ends = [w.end for w in line.words]
            starts = [w.start for w in line.words]
            assert all(e <= s for e, s in zip(ends, starts[1:], strict=False))
            for w in line.words:
                assert line.text[w.start:w.end] == w.raw


# -- servers as declared ---------------------------------------------------------------------

RESOLVE = b"""\
defaults base
    default-server weight 5 check
defaults d2 from base
    default-server maxconn 30
backend b1 from d2
    server s1 10.0.0.1:80
    default-server disabled no-check
    server s2 10.0.0.2:80 weight 7
    server s3 10.0.0.3:80 enabled check backup
    server-template t 2 app.local:80
defaults
    default-server backup
listen l1
    server s1 [::1]:81 maxconn 3
.if defined(X)
    server s9 10.0.0.9:80
.endif
"""


def test_server_lines_resolve_default_server() -> None:
    infos = server_lines(ConfigFile.parse(RESOLVE))
    s1, s2, s3 = infos[("b1", "s1")], infos[("b1", "s2")], infos[("b1", "s3")]
    assert (s1.weight, s1.maxconn, s1.check, s1.disabled, s1.backup) == (5, 30, True, False, False)
    assert (s2.weight, s2.maxconn, s2.check, s2.disabled) == (7, 30, False, True)
    assert (s3.check, s3.disabled, s3.backup) == (True, False, True)
    assert s1.line_no == 6 and s1.address == "10.0.0.1" and s1.port == "80"
    assert s2.params == {"weight": "7"}
    assert infos[("b1", "t1")].template and ("b1", "t2") in infos
    l1 = infos[("l1", "s1")]
    assert (l1.address, l1.port, l1.maxconn, l1.backup, l1.weight) == ("::1", "81", 3, True, 1)
    assert infos[("l1", "s9")].conditional


@pytest.mark.parametrize("path", corpus_params(), ids=_id)
def test_corpus_server_lines(path: Path | None) -> None:
    if path is None:
        require_corpus()
        return
    cfg = ConfigFile.parse(path.read_bytes(), path.name)
    for (backend, server), info in server_lines(cfg).items():
        assert (info.backend, info.name) == (backend, server)
        assert 1 <= info.line_no <= len(cfg.lines)
        assert cfg.lines[info.line_no - 1].keyword in ("server", "server-template")


def test_an_empty_word_ends_the_server_parameters() -> None:
    """HAProxy reads nothing after an empty word (3.2 warns, 3.4 refuses the line; the
    real binaries are asked in tests/integration/test_config_haproxy_check.py)."""
    cfg = ConfigFile.parse(b'backend be\n    server s1 127.0.0.1:80 "" disabled\n'
                           b"    server s2 127.0.0.1:80 disabled ''\n"
                           b'    server s3 127.0.0.1:80 weight "" check\n')
    specs = server_lines(cfg)
    assert not specs["be", "s1"].disabled and specs["be", "s2"].disabled
    assert specs["be", "s3"].weight == 1 and not specs["be", "s3"].check
