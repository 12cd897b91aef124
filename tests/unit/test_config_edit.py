"""Structured edits change only the lines they must, and refuse what they cannot do safely."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from console.haproxy.config import ConfigFile, parse_server_line, server_lines
from console.haproxy.errors import ValidationError
from tests.unit.test_config_roundtrip import _id, corpus_params, require_corpus

APP = b"""\
global\r
    daemon\r
\r
defaults\r
    mode http\r
    timeout server 10s\r
    default-server inter 2s\r
\r
# The application.\r
backend be_app   # main pool\r
    balance roundrobin\r
    timeout server   20s   # slow app\r
    server web1 10.0.0.1:80 check weight 10 maxconn 100   # primary\r
\tserver web2 10.0.0.2:80 check disabled\r
    server web3 10.0.0.3:80 backup\r
\r
# Static files.\r
backend be_static\r
  balance first\r
\r
frontend fe\r
    bind :80\r
    default_backend be_app\r
"""


def changes(before: bytes, after: bytes) -> tuple[list[str], list[str]]:
    """(removed lines, added lines) between two files, line endings included."""
    a = before.decode("utf-8", "surrogateescape").splitlines(keepends=True)
    b = after.decode("utf-8", "surrogateescape").splitlines(keepends=True)
    removed, added = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return removed, added


def edited(data: bytes, fn: str, *args: object) -> tuple[ConfigFile, list[str], list[str]]:
    cfg = ConfigFile.parse(data, "app.cfg")
    getattr(cfg, fn)(*args)
    out = cfg.to_bytes()
    assert ConfigFile.parse(out).to_bytes() == out
    removed, added = changes(data, out)
    return cfg, removed, added


# -- set_server_option -----------------------------------------------------------------------

def test_set_weight_in_place_keeps_comment_and_crlf() -> None:
    _, removed, added = edited(APP, "set_server_option", "be_app", "web1", "weight", "50")
    assert removed == ["    server web1 10.0.0.1:80 check weight 10 maxconn 100   # primary\r\n"]
    assert added == ["    server web1 10.0.0.1:80 check weight 50 maxconn 100   # primary\r\n"]


def test_set_new_key_goes_before_comment() -> None:
    _, removed, added = edited(APP, "set_server_option", "be_app", "web1", "cookie", "w1")
    assert added == ["    server web1 10.0.0.1:80 check weight 10 maxconn 100 cookie w1"
                     "   # primary\r\n"]
    assert len(removed) == 1


def test_set_int_normalized_and_checked() -> None:
    _, _, added = edited(APP, "set_server_option", "be_app", "web1", "maxconn", 7)
    assert "maxconn 7 " in added[0]
    for key, bad in [("weight", "257"), ("weight", "-1"), ("weight", "ten"), ("weight", "1 2"),
                     ("maxconn", "1;2"), ("inter", "2 s"), ("id", "0"), ("weight", True)]:
        cfg = ConfigFile.parse(APP)
        with pytest.raises(ValidationError):
            cfg.set_server_option("be_app", "web1", key, bad)
        assert cfg.to_bytes() == APP


def test_disabled_and_enabled() -> None:
    _, removed, added = edited(APP, "set_server_option", "be_app", "web2", "disabled", False)
    assert added == ["\tserver web2 10.0.0.2:80 check\r\n"]
    _, _, added = edited(APP, "set_server_option", "be_app", "web2", "enabled", True)
    assert added == ["\tserver web2 10.0.0.2:80 check\r\n"]
    _, _, added = edited(APP, "set_server_option", "be_app", "web1", "disabled", True)
    assert added[0].startswith("    server web1 10.0.0.1:80 check weight 10 maxconn 100 disabled ")
    cfg, removed, added = edited(APP, "set_server_option", "be_app", "web2", "disabled", True)
    assert removed == added == []  # already disabled: nothing to do


def test_flags_against_default_server() -> None:
    data = (b"defaults\n    default-server check disabled\nbackend b\n"
            b"    server s1 1.1.1.1:80\n    server s2 1.1.1.2:80 no-check\n")
    cfg, _, added = edited(data, "set_server_option", "b", "s1", "check", False)
    assert added == ["    server s1 1.1.1.1:80 no-check\n"]
    cfg, _, added = edited(data, "set_server_option", "b", "s2", "check", True)
    assert added == ["    server s2 1.1.1.2:80\n"]  # no-check dropped, default-server gives check
    cfg, _, added = edited(data, "set_server_option", "b", "s1", "disabled", False)
    assert added == ["    server s1 1.1.1.1:80 enabled\n"]
    assert server_lines(cfg)[("b", "s1")].disabled is False
    cfg, _, added = edited(data, "set_server_option", "b", "s1", "backup", True)
    assert added == ["    server s1 1.1.1.1:80 backup\n"]


def test_flag_without_opposite_inherited_is_refused() -> None:
    data = b"backend b\n    default-server allow-0rtt\n    server s 1.1.1.1:80\n"
    with pytest.raises(ValidationError, match="cannot turn 'allow-0rtt' off"):
        ConfigFile.parse(data).set_server_option("b", "s", "allow-0rtt", False)


def test_set_addr() -> None:
    _, removed, added = edited(APP, "set_server_option", "be_app", "web3", "addr",
                               "[2001:db8::5]:8080")
    assert added == ["    server web3 [2001:db8::5]:8080 backup\r\n"]
    for bad in ["10.0.0.5:80 check", "10.0.0.5:99999", "300.1.1.1:80", "a b", "::1",
                "10.0.0.5:80\n", "ftp@x:1", "", "'x'"]:
        with pytest.raises(ValidationError):
            ConfigFile.parse(APP).set_server_option("be_app", "web3", "addr", bad)


def test_several_options_one_line() -> None:
    cfg = ConfigFile.parse(APP)
    cfg.set_server_options("be_app", "web1", {"weight": "0", "maxconn": "5", "backup": True,
                                              "check": False, "addr": "10.0.0.9:81"})
    removed, added = changes(APP, cfg.to_bytes())
    assert added == ["    server web1 10.0.0.9:81 weight 0 maxconn 5 backup   # primary\r\n"]


def test_free_text_values_are_quoted() -> None:
    for value in ["a b", "x#y", "it's", "$HOME", 'q"q', "a;b"]:
        cfg = ConfigFile.parse(APP)
        cfg.set_server_option("be_app", "web1", "cookie", value)
        line = cfg.lines[12]
        srv = parse_server_line(line)
        assert srv is not None and srv.options["cookie"] == value
        assert line.comment == "# primary"
    for bad in ["a\nb", "a\rb", "a\x00b", ""]:
        with pytest.raises(ValidationError):
            ConfigFile.parse(APP).set_server_option("be_app", "web1", "cookie", bad)


def test_unknown_things() -> None:
    cfg = ConfigFile.parse(APP, "app.cfg")
    with pytest.raises(ValidationError) as err:
        cfg.set_server_option("be_app", "web9", "weight", "1")
    assert "no server be_app/web9 in app.cfg" in str(err.value)
    assert err.value.where == "app.cfg:10" and "web1, web2, web3" in (err.value.hint or "")
    with pytest.raises(ValidationError, match="no backend be_x in app.cfg"):
        cfg.set_server_option("be_x", "web1", "weight", "1")
    with pytest.raises(ValidationError, match="unknown server keyword"):
        cfg.set_server_option("be_app", "web1", "wieght", "1")
    with pytest.raises(ValidationError, match="invalid server name"):
        cfg.set_server_option("be_app", "web1 x", "weight", "1")
    with pytest.raises(ValidationError):
        cfg.set_server_option("be_app", "web1", "check", "yes")
    assert cfg.to_bytes() == APP


# -- conditionals, templates, duplicates -----------------------------------------------------

COND = b"""\
backend b
    server s0 1.1.1.0:80
.if defined(EXTRA)
    server s1 1.1.1.1:80
.else
    server s1 1.1.1.2:80
.endif
    server-template t 3 app.local:80
    timeout server 1s
"""


def test_conditional_lines_are_refused() -> None:
    cfg = ConfigFile.parse(COND, "c.cfg")
    with pytest.raises(ValidationError, match="declared 2 times"):
        cfg.set_server_option("b", "s1", "weight", "2")
    data = COND.replace(b"server s1 1.1.1.2:80", b"server s2 1.1.1.2:80")
    with pytest.raises(ValidationError, match=r"inside an \.if block") as err:
        ConfigFile.parse(data, "c.cfg").set_server_option("b", "s2", "weight", "2")
    assert err.value.where == "c.cfg:6"
    with pytest.raises(ValidationError, match=r"inside an \.if block"):
        ConfigFile.parse(data).remove_server("b", "s2")
    with pytest.raises(ValidationError, match="server-template"):
        cfg.set_server_option("b", "t2", "weight", "2")
    cfg.set_server_option("b", "s0", "weight", "2")  # outside the block: fine


def test_add_server_after_conditional_block() -> None:
    data = b"backend b\n  server s0 1.1.1.0:80\n.if defined(X)\n  server s1 1.1.1.1:80\n" \
           b".endif\n  balance first\n"
    cfg, removed, added = edited(data, "add_server", "b", "s2", "1.1.1.2:80")
    assert removed == [] and added == ["  server s2 1.1.1.2:80\n"]
    assert cfg.lines[5].text == "  server s2 1.1.1.2:80"  # after .endif


# -- add / remove servers --------------------------------------------------------------------

def test_add_server_after_last_server() -> None:
    cfg, removed, added = edited(APP, "add_server", "be_app", "web4", "10.0.0.4:80",
                                 {"weight": "10", "check": True, "cookie": "w 4"})
    assert removed == []
    assert added == ["    server web4 10.0.0.4:80 weight 10 check cookie 'w 4'\r\n"]
    assert cfg.lines[15].text.startswith("    server web4")


def test_add_server_copies_sibling_indent() -> None:
    data = APP.replace(b"    server web3 10.0.0.3:80 backup\r\n", b"")
    cfg, _, added = edited(data, "add_server", "be_app", "web4", "10.0.0.4:80")
    assert added == ["\tserver web4 10.0.0.4:80\r\n"]


def test_add_server_to_empty_backend() -> None:
    cfg, removed, added = edited(APP, "add_server", "be_static", "st1", "10.0.1.1:80",
                                 {"disabled": True})
    assert removed == [] and added == ["  server st1 10.0.1.1:80 disabled\r\n"]
    section = cfg.section("backend", "be_static")
    assert section is not None
    assert cfg.lines[section.start + 2].text == "  server st1 10.0.1.1:80 disabled"


def test_add_server_refusals() -> None:
    cfg = ConfigFile.parse(APP)
    with pytest.raises(ValidationError, match="already exists"):
        cfg.add_server("be_app", "web1", "10.0.0.9:80")
    with pytest.raises(ValidationError, match="already exists"):
        ConfigFile.parse(COND).add_server("b", "t1", "1.1.1.1:80")
    for name, addr in [("bad name", "1.1.1.1:80"), ("ok", "1.1.1.1:80 backup"),
                       ("ok", "1.1.1.1:80\nbackend x"), ("ok", "#")]:
        with pytest.raises(ValidationError):
            cfg.add_server("be_app", name, addr)
    with pytest.raises(ValidationError):
        cfg.add_server("be_app", "ok", "1.1.1.1:80", {"weight": "1\n2"})
    assert cfg.to_bytes() == APP


def test_add_server_missing_final_newline() -> None:
    data = b"backend b\n    server s1 1.1.1.1:80"
    cfg = ConfigFile.parse(data)
    cfg.add_server("b", "s2", "1.1.1.2:80")
    assert cfg.to_bytes() == b"backend b\n    server s1 1.1.1.1:80\n    server s2 1.1.1.2:80\n"


def test_remove_server() -> None:
    _, removed, added = edited(APP, "remove_server", "be_app", "web2")
    assert removed == ["\tserver web2 10.0.0.2:80 check disabled\r\n"] and added == []
    data = APP.replace(b"backup\r\n", b"backup track web2\r\n")
    with pytest.raises(ValidationError, match="still used"):
        ConfigFile.parse(data).remove_server("be_app", "web2")
    with pytest.raises(ValidationError, match="no server"):
        ConfigFile.parse(APP).remove_server("be_app", "web9")


# -- keywords and sections -------------------------------------------------------------------

def test_set_keyword_replaces_value_in_place() -> None:
    _, removed, added = edited(APP, "set_keyword", "backend", "be_app", ["timeout", "server"],
                               ["30s"])
    assert removed == ["    timeout server   20s   # slow app\r\n"]
    assert added == ["    timeout server   30s   # slow app\r\n"]


def test_set_keyword_appends_at_end_of_body() -> None:
    cfg, removed, added = edited(APP, "set_keyword", "backend", "be_app", ["timeout", "connect"],
                                 ["5s"])
    assert removed == [] and added == ["    timeout connect 5s\r\n"]
    section = cfg.section("backend", "be_app")
    assert section is not None
    assert cfg.lines[section.body_end - 1].text == "    timeout connect 5s"
    assert cfg.lines[section.body_end].text == ""  # the blank line before "# Static files."


def test_set_keyword_global_and_quoting() -> None:
    _, removed, added = edited(APP, "set_keyword", "global", None, ["description"],
                               ["my lb #1"])
    assert added == ["    description 'my lb #1'\r\n"]
    _, _, added = edited(APP, "set_keyword", "defaults", None, ["option", "httplog"], [])
    assert added == ["    option httplog\r\n"]


def test_set_keyword_ambiguous_and_bad() -> None:
    data = APP.replace(b"    balance roundrobin\r\n",
                       b"    acl a path /a\r\n    acl b path /b\r\n")
    cfg = ConfigFile.parse(data)
    with pytest.raises(ValidationError, match="2 lines start with 'acl'"):
        cfg.set_keyword("backend", "be_app", ["acl"], ["c", "path", "/c"])
    cfg.set_keyword("backend", "be_app", ["acl", "b"], ["path", "/bb"])
    assert b"    acl b path /bb\r\n" in cfg.to_bytes()
    for kw, val in [(["backend"], ["x"]), ([".if"], ["1"]), (["timeout server"], ["1s"]),
                    (["timeout"], ["server", "1s\nbackend x"]), ([], ["x"]), ("timeout", ["1s"])]:
        with pytest.raises(ValidationError):
            cfg.set_keyword("backend", "be_app", kw, val)
    with pytest.raises(ValidationError, match="no backend nope section"):
        cfg.set_keyword("backend", "nope", ["timeout", "server"], ["1s"])


def test_remove_keyword() -> None:
    _, removed, added = edited(APP, "remove_keyword", "backend", "be_app", ["timeout", "server"])
    assert removed == ["    timeout server   20s   # slow app\r\n"] and added == []
    with pytest.raises(ValidationError, match="no 'timeout client' line"):
        ConfigFile.parse(APP).remove_keyword("backend", "be_app", ["timeout", "client"])


def test_add_section() -> None:
    cfg, removed, added = edited(APP, "add_section", "backend", "be_new",
                                 ["balance roundrobin", "server s1 10.0.0.1:80 check"])
    assert removed == []
    assert added == ["\r\n", "backend be_new\r\n", "    balance roundrobin\r\n",
                     "    server s1 10.0.0.1:80 check\r\n"]
    assert cfg.section("backend", "be_new") is not None
    with pytest.raises(ValidationError, match="already exists"):
        cfg.add_section("backend", "be_new", [])
    with pytest.raises(ValidationError, match="already exists"):
        cfg.add_section("listen", "be_app", [])
    for lines in (["balance x\nbackend y"], ["frontend f"], ['server s "1.1.1.1'], [".if 1"]):
        with pytest.raises(ValidationError):
            cfg.add_section("backend", "be_other", lines)
    with pytest.raises(ValidationError):
        cfg.add_section("backend", "bad name", [])
    with pytest.raises(ValidationError):
        cfg.add_section("global", "name", [])


def test_add_section_to_file_without_final_newline() -> None:
    cfg = ConfigFile.parse(b"global\n\tdaemon")
    cfg.add_section("backend", "b", ["server s 1.1.1.1:80"])
    assert cfg.to_bytes() == b"global\n\tdaemon\n\nbackend b\n\tserver s 1.1.1.1:80\n"


# -- on the corpus ---------------------------------------------------------------------------

def _first_plain_server(cfg: ConfigFile) -> tuple[str, str, int] | None:
    for (backend, server), info in server_lines(cfg).items():
        i = info.line_no - 1
        line = cfg.lines[i]
        if (info.conditional or info.template or line.error or line.keyword != "server"
                or len(line.words) > 60):
            continue
        if sum(1 for k in server_lines(cfg) if k == (backend, server)) != 1:
            continue
        return backend, server, i
    return None


@pytest.mark.parametrize("path", corpus_params(), ids=_id)
def test_corpus_set_weight_changes_one_line(path: Path | None) -> None:
    if path is None:
        require_corpus()
        return
    data = path.read_bytes()
    cfg = ConfigFile.parse(data, path.name)
    target = _first_plain_server(cfg)
    if target is None:
        return  # no plain server line in this file
    backend, server, index = target
    try:
        cfg.set_server_option(backend, server, "weight", "77")
    except ValidationError as err:  # duplicate names, sections in .if blocks…
        assert any(w in str(err) for w in ("declared", ".if", "backends named")), err
        return
    out = cfg.to_bytes()
    removed, added = changes(data, out)
    assert len(removed) == 1 and len(added) == 1
    before, after = ConfigFile.parse(data).lines[index], cfg.lines[index]
    assert (after.comment, after.indent, after.eol) == (before.comment, before.indent, before.eol)
    srv_before, srv_after = parse_server_line(before), parse_server_line(after)
    assert srv_before is not None and srv_after is not None
    assert srv_after.options["weight"] == "77"
    expected = before.values
    got = after.values
    for p in srv_before.params:
        if p.key == "weight" and p.value_index is not None:
            expected[p.value_index] = "77"
    if srv_before.param("weight") is None:  # appended: the only other change
        k = next(k for k in range(len(got) - 1) if got[k:k + 2] == ["weight", "77"])
        del got[k:k + 2]
    assert got == expected


@pytest.mark.parametrize("path", corpus_params(), ids=_id)
def test_corpus_add_and_remove_server(path: Path | None) -> None:
    if path is None:
        require_corpus()
        return
    data = path.read_bytes()
    cfg = ConfigFile.parse(data, path.name)
    backends = [s for s in cfg.backends() if s.name and not s.conditional]
    if not backends:
        return
    name = backends[-1].name
    assert name is not None
    try:
        cfg.add_server(name, "zz_new", "127.0.0.1:8080", {"weight": "3"})
    except ValidationError as err:
        assert any(w in str(err) for w in (".if", "backends named")), err
        return
    out = cfg.to_bytes()
    removed, added = changes(data, out)
    assert removed in ([], [data.decode("utf-8", "surrogateescape").splitlines(True)[-1]])
    assert [a.strip() for a in added if a.strip()][-1] == "server zz_new 127.0.0.1:8080 weight 3"
    cfg.remove_server(name, "zz_new")
    if data.endswith(b"\n") or not data:
        assert cfg.to_bytes() == data


def test_appends_never_land_inside_a_block() -> None:
    closed = b"backend b\n    balance first\n.if defined(X)\n    timeout server 1s\n.endif\n"
    cfg, removed, added = edited(closed, "set_keyword", "backend", "b", ["maxconn"], ["10"])
    assert removed == [] and cfg.lines[-1].text == "    maxconn 10"  # after the .endif
    cfg, _, added = edited(closed, "add_server", "b", "s1", "1.1.1.1:80")
    assert cfg.lines[-1].text == "    server s1 1.1.1.1:80"
    unclosed = b"backend b\n    balance first\n.if defined(X)\n    timeout server 1s\n"
    for fn, args in [("set_keyword", ("backend", "b", ["maxconn"], ["10"])),
                     ("add_server", ("b", "s1", "1.1.1.1:80")),
                     ("add_section", ("backend", "c", []))]:
        cfg = ConfigFile.parse(unclosed)
        with pytest.raises(ValidationError, match="unclosed"):
            getattr(cfg, fn)(*args)
        assert cfg.to_bytes() == unclosed
    opening = b"backend b\n    balance first\n.if defined(X)\n"
    with pytest.raises(ValidationError, match="unclosed"):
        ConfigFile.parse(opening).set_keyword("backend", "b", ["maxconn"], ["10"])
