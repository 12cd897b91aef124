"""Block rules found in configuration snippets, addresses checked, plans and pattern files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.haproxy.blocking import (
    ClientRow,
    PatternRef,
    add_log_groups,
    add_rule_edit,
    add_table_entries,
    check_client,
    check_pattern_path,
    covering,
    create_pattern_file,
    edit_pattern_file,
    find_rules,
    mark_blocked,
    parse_files,
    plan_block,
    plan_unblock,
    read_pattern_file,
    sorted_rows,
    write_pattern_file,
)
from console.haproxy.errors import NoSuchObject, ValidationError
from console.haproxy.parsers import TableEntry
from console.haproxy.validate import verify_command


def rules_of(text: str, *more: str) -> object:
    named = [("/etc/haproxy/haproxy.cfg", text.encode())]
    named += [(f"/etc/haproxy/conf.d/{k}.cfg", m.encode()) for k, m in enumerate(more)]
    return find_rules(parse_files(named))


HEAD = """\
global
    stats socket /run/haproxy.sock level admin

defaults
    mode http
    timeout client 5s

"""


# --------------------------------------------------------------------------- rules

def test_named_acl() -> None:
    r = rules_of(HEAD + """\
frontend fe
    bind :80
    acl blocked src -f /etc/haproxy/blocked.acl
    http-request deny if blocked
""")
    [rule] = r.rules  # type: ignore[attr-defined]
    assert (rule.kind, rule.ref, rule.acl, rule.frontends, rule.fetch) == (
        "acl", "/etc/haproxy/blocked.acl", "blocked", ("fe",), "src")
    assert rule.action == "http-request deny" and rule.line == 11


def test_anonymous_acl_and_map_and_tcp() -> None:
    r = rules_of(HEAD + """\
frontend fe
    bind :80
    http-request tarpit if { src -f /etc/haproxy/a.acl }
    http-request deny if { src,map_ip(/etc/haproxy/b.map) -m found }

frontend db
    mode tcp
    bind :5432
    tcp-request connection reject if { src -f /etc/haproxy/a.acl }
    tcp-request content silent-drop if { src -f /etc/haproxy/c.acl }
""")
    got = [(x.section, x.action, x.kind, x.ref) for x in r.rules]  # type: ignore[attr-defined]
    assert got == [
        ("frontend fe", "http-request tarpit", "acl", "/etc/haproxy/a.acl"),
        ("frontend fe", "http-request deny", "map", "/etc/haproxy/b.map"),
        ("frontend db", "tcp-request connection reject", "acl", "/etc/haproxy/a.acl"),
        ("frontend db", "tcp-request content silent-drop", "acl", "/etc/haproxy/c.acl"),
    ]
    assert r.proxies == {"fe": "http", "db": "tcp"}  # type: ignore[attr-defined]


def test_several_frontends_and_one_without_rule() -> None:
    r = rules_of(HEAD + """\
frontend a
    bind :80
    acl bad src -f /etc/haproxy/bad.acl
    acl bad src 10.0.0.1
    http-request deny if bad || { path /admin }

frontend b
    bind :81

listen c
    bind :82
    http-request reject if { req.hdr_ip(x-forwarded-for) -f /etc/haproxy/xff.acl }
""")
    rules = r.rules  # type: ignore[attr-defined]
    assert [(x.frontends, x.fetch) for x in rules] == [
        (("a",), "src"), (("c",), "req.hdr_ip(x-forwarded-for)")]
    assert r.unprotected() == ["b"]  # type: ignore[attr-defined]
    assert [x.ref for x in r.for_frontend("c")] == ["/etc/haproxy/xff.acl"]  # type: ignore


def test_none_and_skipped() -> None:
    r = rules_of(HEAD + """\
frontend fe
    bind :80
    acl allowed src -f /etc/haproxy/allow.acl
    acl bad src -f /etc/haproxy/bad.acl
    http-request deny unless allowed
    http-request deny if !bad
    http-request deny if bad METH_POST
    http-request deny if { src 10.0.0.1 }
    http-request allow if { src -f /etc/haproxy/ok.acl }
    use_backend x if { src,map_ip(/etc/haproxy/m.map) -m found }
""")
    assert r.rules == []  # type: ignore[attr-defined]
    skipped = " | ".join(r.skipped)  # type: ignore[attr-defined]
    assert "lets the listed clients through" in skipped
    assert "negated" in skipped and "ANDed" in skipped
    assert r.unprotected() == ["fe"]  # type: ignore[attr-defined]


def test_defaults_rule_protects_its_users_and_relative_path() -> None:
    r = rules_of("""\
defaults base
    mode http
    http-request deny if { src -f blocked.acl }

frontend a from base
    bind :80

frontend b
    bind :81
""")
    [rule] = r.rules  # type: ignore[attr-defined]
    assert rule.frontends == ("a", "b")  # b uses the last defaults before it
    assert rule.ref == "blocked.acl" and rule.path == "/etc/haproxy/blocked.acl"


def test_false_if_block_is_left_out() -> None:
    r = rules_of(HEAD + """\
frontend fe
    bind :80
.if 0
    http-request deny if { src -f /etc/haproxy/x.acl }
.endif
""")
    rules = r.rules  # type: ignore[attr-defined]
    assert rules == []


# --------------------------------------------------------------------------- addresses

@pytest.mark.parametrize("text, want", [
    ("192.0.2.7", "192.0.2.7"), ("192.0.2.7/32", "192.0.2.7"),
    ("192.0.2.0/24", "192.0.2.0/24"), ("2001:DB8::7", "2001:db8::7"),
    ("2001:db8::/48", "2001:db8::/48")])
def test_check_client_canonical(text: str, want: str) -> None:
    assert check_client(text) == want


@pytest.mark.parametrize("text, says", [
    ("1.2.3.4;shutdown sessions", "no blanks, ';'"),
    ("1.2.3.4\nshutdown sessions", "control character"),
    ("1.2.3.4\r", "control character"),
    ("1.2.3.4 5.6.7.8", "no blanks"),
    ("10.0.0.1/8", "host bits"),
    ("10.0.0.0/33", "not an IP"),
    ("300.1.1.1", "not an IP"),
    ("0.0.0.0/0", "too wide"),
    ("::/0", "too wide"),
    ("", "empty"),
    ("1.2.3.4<<", "payload"),
    ("example.com", "not an IP"),
])
def test_check_client_refuses(text: str, says: str) -> None:
    with pytest.raises(ValidationError) as e:
        check_client(text)
    assert says in str(e.value) or says in (e.value.hint or "")


def test_covering() -> None:
    assert covering(["10.0.0.0/8", "1.2.3.4/32", "x", "::1"], "1.2.3.4") == (["1.2.3.4/32"], [])
    assert covering(["10.0.0.0/8"], "10.1.2.3") == ([], ["10.0.0.0/8"])
    assert covering(["::ffff:1.2.3.4"], "1.2.3.4") == (["::ffff:1.2.3.4"], [])


# --------------------------------------------------------------------------- plans

def _ref(kind: str = "acl", ref: str = "/etc/haproxy/b.acl") -> PatternRef:
    r = rules_of(HEAD + f"""\
frontend fe
    bind :80
    http-request deny if {{ src{',map_ip(' + ref + ') -m found' if kind == 'map'
                               else ' -f ' + ref} }}
""")
    [rule] = r.rules  # type: ignore[attr-defined]
    return PatternRef(kind, ref, ref, 3, (rule,))


def test_plan_block_acl_and_map() -> None:
    acl, mp = _ref(), _ref("map", "/etc/haproxy/b.map")
    bp = plan_block("192.0.2.7", [(acl, []), (mp, [("0x1", "10.0.0.0/8")])])
    assert bp.plan is not None
    assert bp.plan.commands == ["add acl /etc/haproxy/b.acl 192.0.2.7",
                                "add map /etc/haproxy/b.map 192.0.2.7 1"]
    assert all(verify_command(c) for c in bp.plan.commands)
    assert bp.plan.undo_commands == ["del acl /etc/haproxy/b.acl 192.0.2.7",
                                     "del map /etc/haproxy/b.map 192.0.2.7"]
    assert any("refused on fe" in line for line in bp.plan.impact)
    assert "acl #3 (/etc/haproxy/b.acl): fe" in bp.plan.impact


def test_plan_block_already_and_unblock_uses_the_text_haproxy_holds() -> None:
    acl = _ref()
    bp = plan_block("1.2.3.4", [(acl, [("0x1", "1.2.3.4/32")])])
    assert bp.plan is None and "already blocked" in bp.notes[0]
    ub = plan_unblock("1.2.3.4", [(acl, [("0x1", "1.2.3.4/32"), ("0x2", "10.0.0.0/8")])])
    assert ub.plan is not None and ub.plan.commands == ["del acl /etc/haproxy/b.acl 1.2.3.4/32"]
    ub = plan_unblock("10.1.1.1", [(acl, [("0x2", "10.0.0.0/8")])])
    assert ub.plan is None and "stays blocked by 10.0.0.0/8" in ub.notes[0]


def test_plan_refuses_hostile_address() -> None:
    with pytest.raises(ValidationError):
        plan_block("1.2.3.4;shutdown sessions", [(_ref(), [])])


# --------------------------------------------------------------------------- files

def test_edit_pattern_file() -> None:
    data = b"# blocked\n10.0.0.0/8\n1.2.3.4/32"
    new, done = edit_pattern_file(data, "5.6.7.8", "acl", add=True)
    assert new == data + b"\n5.6.7.8\n" and done == "added"
    assert edit_pattern_file(data, "1.2.3.4", "acl", add=True) == (data, "already in the file")
    assert edit_pattern_file(data, "10.9.9.9", "acl", add=True)[1].startswith(
        "added (already covered")
    new, done = edit_pattern_file(data, "1.2.3.4", "acl", add=False)
    assert new == b"# blocked\n10.0.0.0/8" and done.startswith("removed")
    assert edit_pattern_file(b"", "5.6.7.8", "map", add=True)[0] == b"5.6.7.8 1\n"
    assert edit_pattern_file(data, "9.9.9.9", "acl", add=False)[1] == "not in the file"


def test_write_pattern_file_atomic_history_journal(tmp_path: Path) -> None:
    from console.haproxy import history_store
    from console.haproxy.journal import read_entries

    f = tmp_path / "blocked.acl"
    f.write_bytes(b"10.0.0.0/8\n")
    os.chmod(f, 0o640)
    change = write_pattern_file(str(f), "192.0.2.7", "acl", add=True, target="lb")
    assert change.changed and f.read_bytes() == b"10.0.0.0/8\n192.0.2.7\n"
    assert os.stat(f).st_mode & 0o777 == 0o640
    versions = history_store.history(str(f))
    assert [v.status for v in versions] == ["found", "written"]
    assert versions[0].data() == b"10.0.0.0/8\n"
    entry = read_entries()[-1]
    assert entry["via"] == "file" and "add 192.0.2.7" in entry["command"]
    again = write_pattern_file(str(f), "192.0.2.7", "acl", add=True, target="lb")
    assert not again.changed and again.done == "already in the file"
    assert [x for x in os.listdir(tmp_path) if "tmp" in x] == []


def test_symlinked_or_foreign_pattern_file_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.acl"
    real.write_bytes(b"")
    link = tmp_path / "link.acl"
    link.symlink_to(real)
    with pytest.raises(ValidationError, match="symbolic link"):
        read_pattern_file(str(link))
    with pytest.raises(ValidationError, match="symbolic link"):
        write_pattern_file(str(link), "1.2.3.4", "acl", add=True, target="lb")
    assert real.read_bytes() == b""
    os.chmod(real, 0o666)
    with pytest.raises(ValidationError, match="writable by every user"):
        read_pattern_file(str(real))
    with pytest.raises(NoSuchObject):
        read_pattern_file(str(tmp_path / "missing.acl"))


def test_create_pattern_file(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("global\n")
    os.chmod(cfg, 0o640)
    p = tmp_path / "new.acl"
    assert create_pattern_file(str(p), like=str(cfg))
    assert p.read_bytes() == b"" and os.stat(p).st_mode & 0o777 == 0o640
    assert not create_pattern_file(str(p))  # there already: kept
    (tmp_path / "target").write_text("x")
    (tmp_path / "ln.acl").symlink_to(tmp_path / "target")
    with pytest.raises(ValidationError, match="symbolic link"):
        create_pattern_file(str(tmp_path / "ln.acl"))
    with pytest.raises(NoSuchObject):
        create_pattern_file(str(tmp_path / "nodir" / "x.acl"))


@pytest.mark.parametrize("path", ["relative.acl", "/etc/a b.acl", "/etc/a;b", "/etc/a\nb",
                                  "/etc/a#b", "/etc/{a}", "/etc/'a'"])
def test_check_pattern_path_refuses(path: str) -> None:
    with pytest.raises(ValidationError):
        check_pattern_path(path)


# --------------------------------------------------------------------------- add a rule

def test_add_rule_http_goes_before_other_http_rules() -> None:
    files = parse_files([("/e/h.cfg", (HEAD + """\
frontend fe
    bind :80
    http-request set-header X-A 1
    default_backend be
""").encode())])
    k, new, line = add_rule_edit(files, "fe", "/e/haconsole-blocked.acl")
    assert k == 0 and line == ("http-request deny deny_status 403 if "
                               "{ src -f /e/haconsole-blocked.acl }")
    text = new.decode()
    assert text.index(line) < text.index("set-header")
    again = find_rules(parse_files([("/e/h.cfg", new)]))
    assert [r.ref for r in again.rules] == ["/e/haconsole-blocked.acl"]
    with pytest.raises(ValidationError, match="already blocks"):
        add_rule_edit(parse_files([("/e/h.cfg", new)]), "fe", "/e/haconsole-blocked.acl")


def test_add_rule_tcp_mode_and_second_file() -> None:
    files = parse_files([("/e/h.cfg", HEAD.encode()), ("/e/conf.d/db.cfg", b"""\
frontend db
    mode tcp
    bind :5432
    default_backend pg
""")])
    k, new, line = add_rule_edit(files, "db", "/e/b.acl")
    assert k == 1 and line == "tcp-request connection reject if { src -f /e/b.acl }"
    assert b"    tcp-request connection reject" in new
    with pytest.raises(NoSuchObject):
        add_rule_edit(files, "nope", "/e/b.acl")
    with pytest.raises(ValidationError):
        add_rule_edit(files, "db", "/e/b c.acl")


# --------------------------------------------------------------------------- top clients

def test_client_rows_merge_sort_and_blocked() -> None:
    from console.haproxy.logs.summary import Group

    rows: dict[str, ClientRow] = {}
    add_table_entries(rows, "st_src", [
        TableEntry("0x1", "::ffff:10.0.0.1", 0, 1000, {"http_req_rate(10000)": "50",
                                                      "conn_cur": "2"}),
        TableEntry("0x2", "10.0.0.2", 0, 1000, {"http_req_rate(10000)": "5"}),
        TableEntry("0x3", "not-an-ip", 0, 1000, {})])
    g = Group()
    g.requests, g.errors = 10, 4
    add_log_groups(rows, [("10.0.0.2", g), ("-", g)])
    assert set(rows) == {"10.0.0.1", "10.0.0.2"}
    assert [r.addr for r in sorted_rows(rows.values(), "rate")] == ["10.0.0.1", "10.0.0.2"]
    assert [r.addr for r in sorted_rows(rows.values(), "requests")][0] == "10.0.0.2"
    assert rows["10.0.0.2"].error_pct == 40.0
    mark_blocked(rows.values(), [(_ref(), [("0x1", "10.0.0.0/24")])])
    assert rows["10.0.0.1"].blocked == ["/etc/haproxy/b.acl"]
    assert rows["10.0.0.1"].to_json()["req_rate"] == 50


# --------------------------------------------------------------------------- the command line

LOG = Path(__file__).resolve().parents[1] / "data" / "captured" / "logs" / "3.4" / "rfc3164.log"


def test_clients_from_a_log_file(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from console.cli import main

    assert main(["clients", "--from", "logs", "--file", str(LOG), "--json",
                 "--sort", "errors"]) == 0
    got = json.loads(capsys.readouterr().out)
    first = got["clients"][0]
    assert first["client"] == "127.0.0.1" and first["errors"] == 5
    assert first["blocked"] is None and any("needs the stats socket" in n
                                            for n in got["notes"])


@pytest.mark.parametrize("argv, says", [
    (["clients", "--from", "tables", "--file", "x.log"], "not with --from tables"),
    (["clients", "--limit", "-1"], "--limit"),
    (["-s", "/nonexistent.sock", "block", "1.2.3.4;shutdown sessions"], "invalid client"),
    (["-s", "/nonexistent.sock", "block"], "give the address"),
    (["-c", "/nonexistent.cfg", "block", "--add-rule"], "--add-rule needs --frontend"),
    (["-s", "/nonexistent.sock", "unblock", "10.0.0.1/8"], "host bits"),
    (["--ssh", "lb1", "block", "192.0.2.7", "--permanent"], "over SSH"),
    (["--ssh", "lb1", "block", "--add-rule", "--frontend", "fe"], "over SSH"),
])
def test_refused_in_one_line_before_anything(argv: list[str], says: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err


def test_add_rule_goes_before_the_backend_choice() -> None:
    files = parse_files([("/e/h.cfg", (HEAD + """\
frontend fe
    bind :80
    option forwardfor
    use_backend api if { path_beg /api }
    default_backend be
""").encode())])
    _, new, line = add_rule_edit(files, "fe", "/e/b.acl")
    text = new.decode()
    assert text.index("forwardfor") < text.index(line) < text.index("use_backend")


def test_a_failed_write_leaves_the_file_and_says_so(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from console.haproxy import history_store
    from console.haproxy.atomic import FAULT_ENV, WriteError

    f = tmp_path / "blocked.acl"
    f.write_bytes(b"10.0.0.0/8\n")
    monkeypatch.setenv(FAULT_ENV, "fail:temp-partial")
    with pytest.raises(WriteError):
        write_pattern_file(str(f), "192.0.2.7", "acl", add=True, target="lb")
    assert f.read_bytes() == b"10.0.0.0/8\n"
    assert [v.status for v in history_store.history(str(f))] == ["found", "failed"]
    assert [x for x in os.listdir(tmp_path) if "tmp" in x] == []


def test_refs_for_a_frontend_keep_every_rule_of_its_files() -> None:
    from console.haproxy.blocking import refs_for

    r = rules_of(HEAD + """\
frontend a
    bind :80
    acl bad src -f /etc/haproxy/bad.acl
    http-request deny if bad

frontend b
    mode tcp
    bind :81
    tcp-request connection reject if { src -f /etc/haproxy/bad.acl }
    tcp-request connection reject if { src -f /etc/haproxy/b-only.acl }
""")
    refs = refs_for(r, "a")  # type: ignore[arg-type]
    assert [(p.ref, p.frontends) for p in refs] == [("/etc/haproxy/bad.acl", ("a", "b"))]
    assert [p.ref for p in refs_for(r, None)] == [  # type: ignore[arg-type]
        "/etc/haproxy/bad.acl", "/etc/haproxy/b-only.acl"]
