"""Parsers against real HAProxy 2.6 and 2.8 output (tests/data/captured/)."""

from __future__ import annotations

import pytest

from console.haproxy.errors import ParseError
from console.haproxy.parsers import (
    classify_error,
    parse_acl_entries,
    parse_acl_list,
    parse_check_output,
    parse_cli_level,
    parse_info,
    parse_map_entries,
    parse_map_list,
    parse_proc,
    parse_reload_answer,
    parse_servers_state,
    parse_stat,
    parse_table,
    parse_table_list,
    uptime_seconds,
)
from tests.captured_data import at_least, read

# --------------------------------------------------------------------------- show info

def test_info(version: str) -> None:
    info = parse_info(read(version, "show_info.txt"))
    assert info["Name"] == "HAProxy"
    assert info["Version"].startswith(version + ".")
    assert info["Unstoppable Jobs"] == "1"  # a name with a space
    assert info["Build info"].startswith(version)
    assert info["node"] == "capture-node"
    assert int(info["Pid"]) > 0
    spliced = "TotalSplicdedBytesOut" if version == "2.6" else "TotalSplicedBytesOut"
    assert spliced in info


def test_info_value_with_colons() -> None:
    assert parse_info("Name: HAProxy\nRelease_date: 2026/06/26\nx: a:b: c\n") == {
        "Name": "HAProxy", "Release_date": "2026/06/26", "x": "a:b: c"}


@pytest.mark.parametrize("text", ["", "\n\n", "Permission denied\n\n", "garbage line\n"])
def test_info_garbage(text: str) -> None:
    with pytest.raises(ParseError, match="show info"):
        parse_info(text)


def test_info_error_answer_is_quoted() -> None:
    with pytest.raises(ParseError, match="HAProxy answered 'Permission denied'"):
        parse_info("Permission denied\n\n")


# --------------------------------------------------------------------------- show stat

def test_stat_rows(version: str) -> None:
    text = read(version, "show_stat.txt")
    rows = parse_stat(text)
    header = text.splitlines()[0][2:].rstrip(",").split(",")
    assert len(rows) == len([ln for ln in text.splitlines()[1:] if ln])
    assert all("-" not in r for r in rows)  # the module separator column is dropped
    assert set(rows[0]) == set(header) - {"-"}
    assert rows[0]["pxname"] == "fe_main" and rows[0]["svname"] == "FRONTEND"
    assert "h1_open_connections" in rows[0]  # module-specific tail kept
    by_key = {(r["pxname"], r["svname"]): r for r in rows}
    assert by_key["be_app", "bad_reason"]["last_chk"] == 'Bad, "really" bad'
    assert by_key["be_app", "bad_reason"]["check_status"] == "L7STS"
    assert by_key["be_app", "down_closed"]["check_status"] == "L4CON"
    assert by_key["fe_main", "main"]["type"] == "3"  # listener (option socket-stats)
    assert ("proto" in rows[0]) == at_least(version, "2.8")


def test_stat_servers_only(version: str) -> None:
    rows = parse_stat(read(version, "show_stat_servers_only.txt"))
    assert rows and all(r["type"] == "2" for r in rows)


def test_stat_columns_by_name_not_position() -> None:
    a = parse_stat("# pxname,svname,status,\np,s,UP,\n")
    b = parse_stat("# status,pxname,svname,\nUP,p,s,\n")
    assert a == [{"pxname": "p", "svname": "s", "status": "UP"}]
    assert b == a


def test_stat_quoted_fields_and_trailing_comma() -> None:
    text = '# pxname,svname,last_chk,desc,\nb,s,"a, ""b"", c",plain,\nb,t,,"x,y",\n\n'
    rows = parse_stat(text)
    assert rows[0]["last_chk"] == 'a, "b", c'
    assert rows[0]["desc"] == "plain"
    assert rows[1] == {"pxname": "b", "svname": "t", "last_chk": "", "desc": "x,y"}


def test_stat_module_tail() -> None:
    text = "# pxname,svname,status,-,h2_open,\nf,FRONTEND,OPEN,-,3,\n"
    assert parse_stat(text) == [{"pxname": "f", "svname": "FRONTEND", "status": "OPEN",
                                 "h2_open": "3"}]


def test_stat_truncated_last_line_is_dropped(version: str) -> None:
    text = read(version, "show_stat.txt")
    full = parse_stat(text)
    cut = text.rstrip("\n")
    cut = cut[: cut.rindex("\n") + 40]  # cut in the middle of the last row
    assert parse_stat(cut) == full[:-1]
    # complete last row but no final newline: kept
    assert parse_stat(text.rstrip("\n")) == full


def test_stat_short_line_in_the_middle() -> None:
    text = "# pxname,svname,status,\np,a,UP,\np,b\np,c,UP,\n"
    with pytest.raises(ParseError, match="line 3 has fewer fields"):
        parse_stat(text)


def test_stat_header_only() -> None:
    assert parse_stat("# pxname,svname,status,\n\n") == []


@pytest.mark.parametrize("text,match", [
    ("", "empty answer"),
    ("Permission denied\n\n", "HAProxy answered 'Permission denied'"),
    ("pxname,svname\n", "not HAProxy's CSV"),
    ("# foo,bar,\n", "no 'pxname' and 'svname' columns"),
])
def test_stat_garbage(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_stat(text)


def test_stat_unknown_command_answer(version: str) -> None:
    with pytest.raises(ParseError, match="Unknown command"):
        parse_stat(read(version, "error_unknown_command.txt"))


# --------------------------------------------------------------------------- show proc

def test_proc_after_start(version: str) -> None:
    proc = parse_proc(read(version, "master_show_proc.txt"))
    assert proc.master is not None
    assert proc.master.type == "master"
    assert (proc.master.reloads, proc.master.failed) == (0, 0)
    assert proc.master.version.startswith(version)
    assert len(proc.workers) == 1 and proc.workers[0].failed is None
    assert proc.old_workers == [] and proc.programs == []
    assert proc.workers[0].uptime_seconds == uptime_seconds(proc.workers[0].uptime)


def test_proc_reload_cycle(version: str) -> None:
    start = parse_proc(read(version, "master_show_proc.txt"))
    after = parse_proc(read(version, "master_show_proc_after_reload.txt"))
    failed = parse_proc(read(version, "master_show_proc_after_failed_reload.txt"))
    recovered = parse_proc(read(version, "master_show_proc_after_recovery.txt"))
    assert after.master and failed.master and recovered.master
    assert (after.master.reloads, after.master.failed) == (1, 0)
    assert after.workers[0].pid != start.workers[0].pid
    assert [w.pid for w in after.old_workers] == [start.workers[0].pid]  # held open
    assert (failed.master.reloads, failed.master.failed) == (2, 1)
    current = failed.current_worker
    assert current and current.pid == after.workers[0].pid  # failed reload: same worker
    if at_least(version, "3.2"):
        # From 3.1 on the worker that still serves is listed under "# old workers".
        assert failed.workers == [] and current in failed.old_workers
    else:
        assert failed.workers[0].pid == after.workers[0].pid
    assert [w.pid for w in failed.draining] == [start.workers[0].pid]
    assert recovered.master.failed == 0
    assert recovered.current_worker and recovered.current_worker.pid != current.pid


@pytest.mark.parametrize("text,seconds", [
    ("0d00h00m15s", 15), ("1d02h03m04s", 93784), ("0d 0h00m01s", 1), ("3m", 180)])
def test_uptime(text: str, seconds: int) -> None:
    assert uptime_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "Name: HAProxy\n", "#<PID> <type>\nnot a row\n",
                                  "#<PID> <type>\n# strange section\n"])
def test_proc_garbage(text: str) -> None:
    with pytest.raises(ParseError, match="show proc"):
        parse_proc(text)


def test_proc_on_stats_socket_hints_master() -> None:
    with pytest.raises(ParseError, match="master socket"):
        parse_proc("Unknown command: 'show proc', but maybe...\n")


# --------------------------------------------------------------------------- servers state

def test_servers_state(version: str) -> None:
    rows = parse_servers_state(read(version, "show_servers_state.txt"))
    by = {(r.be_name, r.srv_name): r for r in rows}
    assert by["be_app", "up1"].srv_op_state == 2 and by["be_app", "up1"].srv_admin_state == 0
    maint_cfg = by["be_app", "maint_cfg"]
    assert maint_cfg.srv_admin_state == 0x05 and maint_cfg.in_maint  # forced + config
    assert by["be_app", "maint_cli"].srv_admin_state == 0x01
    assert by["be_app", "drain_cli"].draining and not by["be_app", "drain_cli"].in_maint
    assert by["be_track", "trk_maint"].srv_admin_state == 0x02  # inherited
    dns = by["be_dns", "dns1"]
    assert dns.srv_admin_state == 0x20 and dns.srv_addr is None
    assert dns.srv_fqdn == "nosuch.invalid" and dns.srv_port == 80
    assert by["be_app", "weight0"].srv_iweight == 0
    assert by["be_app", "weight0_cli"].srv_uweight == 0
    assert by["be_app", "weight0_cli"].srv_iweight == 1
    assert (by["be_api", "agent_down"].srv_agent_port or 0) > 0
    assert dns.fields["srv_addr"] == "-" and dns.fields["srv_fqdn"] == "nosuch.invalid"


def test_servers_state_one_backend(version: str) -> None:
    rows = parse_servers_state(read(version, "show_servers_state_be_app.txt"))
    assert rows and {r.be_name for r in rows} == {"be_app"}


def test_servers_state_empty_and_truncated() -> None:
    head = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state " \
           "srv_uweight srv_iweight srv_time_since_last_change srv_check_status " \
           "srv_check_result srv_check_health srv_check_state srv_agent_state " \
           "bk_f_forced_id srv_f_forced_id srv_fqdn srv_port\n"
    row = "3 b 1 s 10.0.0.1 2 0 1 1 5 6 3 4 6 0 0 0 - 80\n"
    assert parse_servers_state(head + "\n") == []
    rows = parse_servers_state(head + row + row[:12])  # cut-off last line dropped
    assert len(rows) == 1 and rows[0].srvrecord is None and rows[0].srv_port == 80
    with pytest.raises(ParseError, match="line 4 has 3 fields"):
        parse_servers_state(head + row + row[:5] + "\n" + row)
    with pytest.raises(ParseError, match="srv_op_state is not a number"):
        parse_servers_state(head + row.replace(" 2 0 1 1 ", " x 0 1 1 "))


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("2\n# be_id\n", "format version is not 1"),
    ("1\n3 b 1 s\n", "no '#' header"),
    ("1\n# be_id be_name\n", "header lacks"),
    ("Can't find backend.\n\n", "HAProxy answered \"Can't find backend.\""),
])
def test_servers_state_garbage(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_servers_state(text)


# --------------------------------------------------------------------------- cli level

@pytest.mark.parametrize("level", ["admin", "operator", "user"])
def test_cli_level(version: str, level: str) -> None:
    assert parse_cli_level(read(version, f"show_cli_level_{level}.txt")) == level


def test_cli_level_master(version: str) -> None:
    assert parse_cli_level(read(version, "master_show_cli_level.txt")) == "admin"


@pytest.mark.parametrize("text", ["", "Admin\n", "admin operator\n", "Unknown command\n"])
def test_cli_level_garbage(text: str) -> None:
    with pytest.raises(ParseError, match="show cli level"):
        parse_cli_level(text)


# --------------------------------------------------------------------------- tables

def test_table_list(version: str) -> None:
    tables = {t.name: t for t in parse_table_list(read(version, "show_table.txt"))}
    assert tables["fe_main"].type == "ip" and tables["fe_main"].size == 1048576
    assert tables["fe_main"].used == 3
    assert tables["st_strings"].type == "string" and tables["st_strings"].size == 100
    assert parse_table_list("\n") == []


def test_table_ip(version: str) -> None:
    info, entries = parse_table(read(version, "show_table_fe_main.txt"))
    assert info.name == "fe_main" and info.used == len(entries) == 3
    # 3.0+ shard tables: entries come in shard order, not in key order
    assert sorted(e.key for e in entries) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    first = next(e for e in entries if e.key == "127.0.0.1")
    assert first.ptr.startswith("0x") and first.use == 0 and first.exp and first.exp > 0
    assert first.data == {"gpc0": "2", "conn_cur": "0", "http_req_rate(10000)": "4"}
    assert first.shard == (0 if at_least(version, "2.8") else None)


def test_table_string_keys(version: str) -> None:
    _, entries = parse_table(read(version, "show_table_st_strings.txt"))
    keys = {e.key: e for e in entries}
    assert set(keys) == {"alice", "bob", "carol,with space"}  # printed as carol,with\ space
    assert keys["bob"].data["http_req_cnt"] == "7"


def test_table_escapes() -> None:
    text = ("# table: st, type: string, size:10, used:3\n"
            "0x1: key=x\\=y use=0 exp=0 shard=0 gpc0=1\n"
            "0x2: key=back\\\\slash use=1 exp=10 gpc0=1\n"
            "0x3: key=\\xC3\\xA9 use=0 exp=0 gpc0=1\n")
    _, entries = parse_table(text)
    assert [e.key for e in entries] == ["x=y", "back\\slash", "é"]


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("No such table\n\n", "HAProxy answered 'No such table'"),
    ("# table: t, type: ip, size:1, used:1\nnot an entry\n", "entry not understood"),
    ("# table: t, type: ip, size:1, used:1\n0x1: key=a use=0 oops\n", "without '='"),
    ("# table: t, type: ip, size:1, used:1\n0x1: use=0 exp=1\n", "lacks key"),
])
def test_table_garbage(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_table(text)


# --------------------------------------------------------------------------- maps and acls

def test_map_list(version: str) -> None:
    maps = parse_map_list(read(version, "show_map.txt"))
    assert len(maps) == 1
    assert (maps[0].id, maps[0].name, maps[0].entry_count) == (3, "hosts.map", 3)
    assert maps[0].description.startswith("pattern loaded from file 'hosts.map'")


def test_acl_list(version: str) -> None:
    acls = {a.id: a for a in parse_acl_list(read(version, "show_acl.txt"))}
    assert acls[0].name == "api.acl" and acls[0].entry_count == 3
    assert acls[2].name == "" and acls[2].description.startswith("acl 'src' file")


def test_map_entries(version: str) -> None:
    expected = [("www.example.com", "blue"), ("api.example.com", "green"),
                ("old.example.com", "red")]
    for name in ("show_map_id.txt", "show_map_file.txt"):
        entries = parse_map_entries(read(version, name))
        assert [(k, v) for _, k, v in entries] == expected
        assert all(ref.startswith("0x") for ref, _, _ in entries)


def test_map_value_with_spaces() -> None:
    assert parse_map_entries("0xab k some value\n0xcd lone\n") == [
        ("0xab", "k", "some value"), ("0xcd", "lone", "")]


def test_acl_entries(version: str) -> None:
    assert [p for _, p in parse_acl_entries(read(version, "show_acl_file.txt"))] == [
        "/api", "/v1", "/v2/admin"]
    assert [p for _, p in parse_acl_entries(read(version, "show_acl_id.txt"))] == [
        "127.0.0.0/8"]
    assert parse_acl_entries("\n") == []


@pytest.mark.parametrize("name", ["error_no_such_map_id.txt", "error_no_such_map_file.txt"])
def test_map_entries_error_answer(version: str, name: str) -> None:
    with pytest.raises(ParseError, match="Unknown map identifier"):
        parse_map_entries(read(version, name))


def test_acl_entries_error_answer(version: str) -> None:
    with pytest.raises(ParseError, match="Unknown ACL identifier"):
        parse_acl_entries(read(version, "error_no_such_acl_file.txt"))


@pytest.mark.parametrize("text", ["", "3 (x) y\n", "# id (file) description\nbad line\n"])
def test_map_list_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        parse_map_list(text)


# --------------------------------------------------------------------------- haproxy -c

def _rc(version: str, name: str) -> int:
    return int(read(version, name + ".rc"))


def test_check_valid(version: str) -> None:
    assert _rc(version, "check_valid") == 0
    assert parse_check_output(read(version, "check_valid.txt")) == []


def test_check_syntax_error(version: str) -> None:
    assert _rc(version, "check_syntax_error") == 1
    msgs = parse_check_output(read(version, "check_syntax_error.txt"))
    alerts = [m for m in msgs if m.level == "ALERT"]
    assert (alerts[0].file, alerts[0].line) == ("main.cfg", 15)
    assert "unknown keyword 'chekc'" in alerts[0].message
    assert alerts[0].raw.startswith("[ALERT]")
    assert [m.level for m in msgs[:2]] == ["NOTICE", "NOTICE"]
    assert alerts[-1].file is None and "Fatal errors" in alerts[-1].message


def test_check_warnings(version: str) -> None:
    assert _rc(version, "check_warnings") == 0
    msgs = parse_check_output(read(version, "check_warnings.txt"))
    warnings = [m for m in msgs if m.level == "WARNING"]
    assert len(warnings) == 4 and not [m for m in msgs if m.level == "ALERT"]
    assert (warnings[0].file, warnings[0].line) == ("main.cfg", 9)
    timeouts = warnings[1]
    assert timeouts.message.count("\n") == 3  # the "   | " continuation lines
    assert "non-zero value" in timeouts.message and "|" not in timeouts.message
    assert timeouts.raw.count("\n") == 3


def test_check_error_in_second_file(version: str) -> None:
    assert _rc(version, "check_error_second_file") == 1
    alerts = [m for m in parse_check_output(read(version, "check_error_second_file.txt"))
              if m.level == "ALERT"]
    assert (alerts[0].file, alerts[0].line) == ("extra.cfg", 4)


def test_check_no_listener(version: str) -> None:
    assert _rc(version, "check_no_listener") == 2
    assert parse_check_output(read(version, "check_no_listener.txt")) == []


def test_check_location_skips_addresses() -> None:
    msgs = parse_check_output("[ALERT]    (1) : Binding [h.cfg:92] for frontend f: cannot "
                              "bind socket for [127.0.0.1:8080]\n"
                              "[ALERT]    (1) : cannot bind socket for [127.0.0.1:8080]\n"
                              "[DIAG]     (1) : something\n")
    assert [(m.level, m.file, m.line) for m in msgs] == [
        ("ALERT", "h.cfg", 92), ("ALERT", None, None), ("NOTICE", None, None)]


# --------------------------------------------------------------------------- reload

def test_reload_answers(version: str) -> None:
    ok = parse_reload_answer(read(version, "master_reload_success.txt"))
    bad = parse_reload_answer(read(version, "master_reload_failure.txt"))
    if version == "2.6":  # answers nothing and closes
        assert ok.success is None and bad.success is None and ok.log == ""
        return
    assert ok.success is True and "Loading success." in ok.log
    assert bad.success is False and not bad.busy
    # 3.2+ say "Failed to load worker" where 2.8 and 3.0 say "Loading failure!"
    assert ("Failed to load worker" if at_least(version, "3.2") else "Loading failure!") \
        in bad.log
    alert = next(m for m in bad.messages if m.level == "ALERT")
    assert (alert.file, alert.line) == ("haproxy.cfg", 92)
    assert "Address already in use" in alert.message


def test_reload_other_answers() -> None:
    assert parse_reload_answer("Another reload is still in progress.\n").success is None
    # 3.1+ while a new worker is still starting (seen on 3.2.0 and 3.4.0): not a failure
    busy = parse_reload_answer("Success=0\n--\nAnother reload is still in progress.\n\n")
    assert busy.success is None and busy.busy
    assert parse_reload_answer("Success=1\n").success is True
    with pytest.raises(ParseError, match="'reload' answer not understood"):
        parse_reload_answer("Permission denied\n")


# --------------------------------------------------------------------------- errors

ERROR_KINDS = {
    "unknown_command": "unknown_command",
    "no_such_backend": "no_such_object",
    "no_such_server": "no_such_object",
    "get_weight_no_server": "no_such_object",
    "no_such_frontend": "no_such_object",
    "no_such_table": "no_such_object",
    "no_such_map_id": "no_such_object",
    "no_such_map_file": "no_such_object",
    "no_such_acl_file": "no_such_object",
    "servers_state_no_backend": "no_such_object",
    "del_map_missing_key": "no_such_object",
    "require_backend_server": "invalid_argument",
    "bad_state": "invalid_argument",
    "bad_weight": "invalid_argument",
    "set_table_bad_data": "invalid_argument",
    "user_clear_counters_all": "permission_denied",
    "user_clear_counters": "permission_denied",
    "user_set_server": "permission_denied",
    "operator_set_server": "permission_denied",
    "user_show_table": None,  # a user may list tables
}


@pytest.mark.parametrize("name,kind", sorted(ERROR_KINDS.items()))
def test_classify_captured_errors(version: str, name: str, kind: str | None) -> None:
    assert classify_error(read(version, f"error_{name}.txt")) == kind


@pytest.mark.parametrize("name", [
    "show_info.txt", "show_stat.txt", "show_servers_state.txt", "show_table.txt",
    "show_map.txt", "show_acl_file.txt", "show_cli_level_user.txt",
    "cmd_set_be_app_drain_cli_drain.txt", "master_show_proc.txt"])
def test_classify_normal_answers(version: str, name: str) -> None:
    assert classify_error(read(version, name)) is None


@pytest.mark.parametrize("answer,kind", [
    ("", None), ("\n", None),
    ("[3]: No such server.\n", "no_such_object"),
    ("[3]: Something new went wrong\n", "invalid_argument"),
    ("[6]: Done.\n", None),
    ("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
     "invalid_argument"),
])
def test_classify_other(answer: str, kind: str | None) -> None:
    assert classify_error(answer) == kind


def test_answers_split_on_newlines_only() -> None:
    """A map value or a stats field holding a form feed or U+2028 is one line for HAProxy."""
    from console.haproxy.parsers import parse_map_entries

    entries = parse_map_entries("0x1 evil.lab.local be_web\u2028x\n0x2 k2 v\x0cw\n")
    assert [(e[1], e[2]) for e in entries] == [("evil.lab.local", "be_web\u2028x"),
                                               ("k2", "v\x0cw")]
    text = read("2.8", "show_stat.txt")
    rows = parse_stat(text.replace("fe_main,FRONTEND", "fe\u2028main,FRONTEND", 1))
    assert rows[0]["pxname"] == "fe\u2028main" and len(rows) == len(parse_stat(text))
    assert parse_info("Name: HAProxy\nNode: lb\x0c1\n")["Node"] == "lb\x0c1"


@pytest.mark.parametrize("value,text,typed", [
    ("", False, None), ("-", False, None), ("-", True, None), ("12", False, 12),
    ("-3", False, -3), ("0.25", False, 0.25), ("0x0", False, "0x0"), ("12", True, "12"),
    ("L4OK", False, "L4OK"), ("\u0663", False, "\u0663"),
])
def test_json_value(value: str, text: bool, typed: object) -> None:
    from console.haproxy.parsers_common import json_value

    out = json_value(value, text)
    assert out == typed and type(out) is type(typed)
