"""``.if`` blocks evaluated as HAProxy does, or refused when they cannot be."""

from __future__ import annotations

import pytest

from console.haproxy.config import ConfigFile, server_lines
from console.haproxy.config.cond import CondContext, Env, compare_version, evaluate
from console.haproxy.config.servers import UndecidedDefault
from console.haproxy.errors import ValidationError

V26 = CondContext(version="2.6.12-1+deb12u3", features=frozenset({"LUA", "OPENSSL"}),
                  ssl_library="OpenSSL", environ={"ENV": "prod", "EMPTY": ""}, source="test")
V30 = CondContext(version="3.0.11-9e587df", features=frozenset({"OPENSSL"}),
                  ssl_library="OpenSSL", environ={}, source="test")


@pytest.mark.parametrize(("current", "wanted", "result"), [
    ("2.8.25-5cf5d0683", "2.8", -1), ("2.8.25-5cf5d0683", "2.8.25", 0),
    ("2.8.25-5cf5d0683", "2.8.26", 1), ("2.6.12-1+deb12u3", "2.6.12", 0),
    ("2.6.12-1+deb12u3", "2.7", 1), ("3.0-dev5", "3.0", 1), ("3.0-dev5", "3.0-dev4", -1),
    ("3.4.0-64a335366", "3.4-dev12", -1), ("2.8", "2.8.0", 0), ("2.8", "x", None),
])
def test_versions_compare_like_haproxy(current: str, wanted: str, result: int | None) -> None:
    assert compare_version(current, wanted) == result


def cond(text: str, ctx: CondContext = V26) -> bool | None:
    line = ConfigFile.parse(f".if {text}\n".encode()).lines[0]
    return evaluate(line, ctx, Env.of(ctx.environ))


@pytest.mark.parametrize(("text", "v26", "v30"), [
    ("1", True, True), ("0", False, False), ("!0", True, True), ("0x10", True, True),
    # strtol(…, 0): a leading 0 is octal (010 is 8, true; 00 is 0, false)
    ("010", True, True), ("00", False, False), ("-07", True, True),
    ("0 || 1 && 0", False, False), ("(0 || 1) && !0", True, True), ("", False, False),
    ("version_atleast(2.8)", False, True), ("version_before(2.7)", True, False),
    ("feature(LUA)", True, False), ("feature(SSL)", False, False),
    ("defined(ENV)", True, False), ("defined(EMPTY)", True, False), ("defined(NOPE)", False, False),
    ('streq("$ENV",prod)', True, False), ('strneq("$ENV",prod)', False, True),
    ('streq("${NOPE-dflt}",dflt)', True, True), ('streq("$NOPE","")', True, True),
    ("strstr(abcd,bc)", True, True), ("ssllib_name_startswith(Open)", True, True),
    ("defined(ENV) && version_atleast(2.8) || feature(LUA)", True, False),
    ("openssl_version_before(1.1.1)", None, None), ("enabled(POLL)", None, None),
    ("defined(HAPROXY_LOCALPEER)", None, None), ("nope(1)", None, None), ("1 1", None, None),
    ("openssl_version_before(1.1.1) && 0", False, False),
    ("openssl_version_before(1.1.1) || 1", True, True),
])
def test_conditions(text: str, v26: bool | None, v30: bool | None) -> None:
    assert cond(text, V26) is v26
    assert cond(text, V30) is v30


def test_unknown_context_evaluates_only_what_needs_nothing() -> None:
    unknown = CondContext()
    assert cond("1 && !0", unknown) is True
    assert cond("version_atleast(2.0)", unknown) is None
    assert cond("defined(X)", unknown) is None
    assert cond("defined(X) && 0", unknown) is False


BLOCKS = b"""\
global
    setenv FROM_CONFIG yes
    presetenv ENV staging
    unsetenv GONE
.if defined(FROM_CONFIG) && streq("$ENV",prod) && !defined(GONE)
    a
.elif 1
    b
.else
    c
.endif
.if version_atleast(9.0)
    .if 1
        d
    .endif
.elif openssl_version_before(1.1.1)
    e
.else
    f
.endif
"""


def test_blocks_follow_the_environment_the_file_sets() -> None:
    cfg = ConfigFile.parse(BLOCKS)
    cfg.cond = CondContext(version="2.8.25", environ={"ENV": "prod", "GONE": "1"})
    states = {line.text.strip(): cfg.line_state(i) for i, line in enumerate(cfg.lines)
              if line.words and len(line.words) == 1 and not line.is_directive
              and line.keyword != "global"}
    assert states == {"a": True, "b": False, "c": False, "d": False, "e": None, "f": None}
    e = next(i for i, line in enumerate(cfg.lines) if line.text.strip() == "e")
    assert cfg.lines[cfg.undecided_by(e)].text == ".elif openssl_version_before(1.1.1)"
    cfg.cond = CondContext(version="2.8.25", environ={"GONE": "1"})  # presetenv sets it
    cfg.reindex()
    assert cfg.line_state(5) is False and cfg.line_state(7) is True


DISABLED_IF = b"""\
defaults
    mode http
.if version_atleast(2.8)
    default-server disabled
.endif

backend be_app
    server app1 10.0.0.1:80
"""


def test_default_server_in_a_false_block_is_not_in_force() -> None:
    for ctx, disabled in ((V26, False), (V30, True)):
        cfg = ConfigFile.parse(DISABLED_IF, "/etc/haproxy/haproxy.cfg")
        cfg.cond = ctx
        assert server_lines(cfg)[("be_app", "app1")].disabled is disabled
        cfg.set_server_options("be_app", "app1", {"disabled": True})
        changed = cfg.to_bytes() != DISABLED_IF
        assert changed is not disabled  # 2.6: the line says it now; 3.0: already so
        if changed:
            assert b"    server app1 10.0.0.1:80 disabled\n" in cfg.to_bytes()


def test_an_undecidable_block_refuses_the_edit_and_names_it() -> None:
    cfg = ConfigFile.parse(DISABLED_IF, "/etc/haproxy/haproxy.cfg")  # version unknown
    with pytest.raises(UndecidedDefault) as err:
        cfg.set_server_options("be_app", "app1", {"disabled": True})
    message = str(err.value)
    assert "'.if version_atleast(2.8)'" in message and "/etc/haproxy/haproxy.cfg:3" in message
    assert "cannot evaluate" in message and "HAProxy version unknown" in message
    assert isinstance(err.value, ValidationError) and cfg.to_bytes() == DISABLED_IF
    info = server_lines(cfg)[("be_app", "app1")]
    assert info.conditional  # not compared with the runtime while unknown
    with pytest.raises(UndecidedDefault):
        cfg.add_server("be_app", "app2", "10.0.0.2:80", {"disabled": False})
    cfg.set_server_options("be_app", "app1", {"weight": "3"})  # flags only depend on it


def test_server_lines_drop_servers_haproxy_skips() -> None:
    data = DISABLED_IF + b".if version_before(2.0)\n    server old 10.0.0.9:80\n.endif\n"
    cfg = ConfigFile.parse(data)
    cfg.cond = V30
    assert ("be_app", "old") not in server_lines(cfg)
    cfg = ConfigFile.parse(data)
    assert server_lines(cfg)[("be_app", "old")].conditional


def test_expansion_uses_the_lexers_reading_of_the_word() -> None:
    """One reading of quotes and escapes: ``\\$`` stays a dollar, a default runs raw to
    its brace, an unknown variable makes the word unknown."""
    from console.haproxy.config.environ import expand
    from console.haproxy.config.lexer import VarRef, lex

    word = lex('"a\\$b$X-${Y-d e}"\'$Z\'').words[0]
    assert word.expands and [p for p in word.parts if isinstance(p, VarRef)] == [
        VarRef("X"), VarRef("Y", "d e")]
    assert expand(word, Env.of({"X": "1"})) == "a$b1-d e$Z"
    assert expand(word, Env.of({"X": "1", "Y": "2"})) == "a$b1-2$Z"
    assert expand(word, Env()) is None
    assert expand(lex('"${X"').words[0], Env.of({"X": "1"})) is None  # unclosed brace
    assert expand(lex("plain").words[0], Env()) == "plain"
