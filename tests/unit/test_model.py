"""The typed model: statuses, rows, snapshots, rates, JSON rows."""

from __future__ import annotations

import json

import pytest

from console.haproxy.model import (
    ProcessInfo,
    Row,
    Snapshot,
    Status,
    normalize_status,
    rates,
    to_json_row,
)
from console.haproxy.parsers import parse_info, parse_stat
from tests.captured_data import read


@pytest.fixture
def snap(version: str) -> Snapshot:
    return Snapshot.from_text(read(version, "show_info.txt"), read(version, "show_stat.txt"),
                              taken_at=100.0, wall_time=1e9)


# --------------------------------------------------------------------------- status

@pytest.mark.parametrize("raw,kind,progress,going,via,agent,resolution,problem", [
    ("UP", "UP", None, None, None, False, False, False),
    ("UP 1/3", "UP", (1, 3), "down", None, False, False, True),
    ("UP 2/3", "UP", (2, 3), "down", None, False, False, True),
    ("DOWN", "DOWN", None, None, None, False, False, True),
    ("DOWN 1/2", "DOWN", (1, 2), "up", None, False, False, True),
    ("DOWN (agent)", "DOWN", None, None, None, True, False, True),
    ("NOLB", "NOLB", None, None, None, False, False, True),
    ("NOLB 1/3", "NOLB", (1, 3), "down", None, False, False, True),
    ("DRAIN", "DRAIN", None, None, None, False, False, True),
    ("DRAIN (agent)", "DRAIN", None, None, None, True, False, True),
    ("DRAIN 2/3", "DRAIN", (2, 3), "down", None, False, False, True),
    ("no check", "NOCHECK", None, None, None, False, False, False),
    ("MAINT", "MAINT", None, None, None, False, False, True),
    ("MAINT (via be_app/maint_cfg)", "MAINT", None, None, "be_app/maint_cfg", False, False,
     True),
    ("MAINT (resolution)", "MAINT", None, None, None, False, True, True),
    ("OPEN", "OPEN", None, None, None, False, False, False),
    ("FULL", "FULL", None, None, None, False, False, True),
    ("STOP", "STOP", None, None, None, False, False, True),
    ("PAUSED", "PAUSED", None, None, None, False, False, True),
    ("WAITING", "UNKNOWN", None, None, None, False, False, True),
    ("", "UNKNOWN", None, None, None, False, False, True),
    ("UP (something new)", "UNKNOWN", None, None, None, False, False, True),
])
def test_normalize_status(raw: str, kind: str, progress: tuple[int, int] | None,
                          going: str | None, via: str | None, agent: bool, resolution: bool,
                          problem: bool) -> None:
    st = normalize_status(raw)
    assert (st.kind, st.raw, st.check_progress, st.going, st.via, st.agent, st.resolution,
            st.problem) == (kind, raw, progress, going, via, agent, resolution, problem)


@pytest.mark.parametrize("raw,label", [
    ("UP", "UP"), ("UP 1/3", "UP ↓1/3"), ("DOWN 1/2", "DOWN ↑1/2"), ("no check", "no check"),
    ("MAINT (via b/s)", "MAINT via b/s"), ("DRAIN (agent)", "DRAIN (agent)"),
    ("MAINT (resolution)", "MAINT (resolution)"), ("WAITING", "WAITING"), ("", "?"),
])
def test_status_label(raw: str, label: str) -> None:
    assert normalize_status(raw).label == label


def test_status_is_cached_and_hashable() -> None:
    assert normalize_status("UP 2/3") is normalize_status("UP 2/3")
    assert {normalize_status("UP"), Status("UP", "UP")} == {Status("UP", "UP")}


def test_captured_statuses(snap: Snapshot) -> None:
    """Every state the capture script drove a server into, in both versions."""
    labels = {r.status.label for r in snap.rows}
    assert {"UP", "DOWN", "DRAIN", "DRAIN (agent)", "DOWN (agent)", "NOLB", "MAINT",
            "MAINT via be_app/maint_cfg", "MAINT (resolution)", "no check", "OPEN", "STOP",
            "PAUSED", "UP ↓2/3", "DOWN ↑1/3"} <= labels
    assert all(r.status.kind != "UNKNOWN" for r in snap.rows)


# --------------------------------------------------------------------------- rows

def test_rows(snap: Snapshot) -> None:
    get = snap.get
    assert get("fe_main", "FRONTEND").type == "frontend"  # type: ignore[union-attr]
    assert get("fe_main", "main").type == "listener"  # type: ignore[union-attr]
    assert get("be_app", "BACKEND").type == "backend"  # type: ignore[union-attr]
    up1 = get("be_app", "up1")
    assert up1 is not None and up1.type == "server"
    assert up1.check_status == "L7OK" and up1.check_duration is not None
    assert up1.weight == 1 and up1.user_weight == 1 and up1.num("weight") == 1
    w0 = get("be_app", "weight0_cli")
    assert w0 is not None and w0.weight == 0 and w0.status.kind == "UP"  # weight 0 is not DRAIN
    assert up1.num("nosuch") is None and up1.num("pxname") is None
    assert get("be_app", "nocheck").check_status == ""  # type: ignore[union-attr]
    assert get("nosuch", "x") is None


def test_row_check_running() -> None:
    row = Row.from_fields({"pxname": "b", "svname": "s", "type": "2", "status": "UP",
                           "check_status": "* L7OK", "check_duration": "3", "weight": "",
                           "uweight": "7"})
    assert (row.check_status, row.check_running, row.check_duration) == ("L7OK", True, 3)
    assert row.weight is None and row.user_weight == 7


def test_row_type_without_type_column() -> None:
    rows = [Row.from_fields({"pxname": "p", "svname": n, "status": "UP"})
            for n in ("FRONTEND", "s1", "BACKEND")]
    assert [r.type for r in rows] == ["frontend", "server", "backend"]


# --------------------------------------------------------------------------- snapshot

def test_snapshot_groups(snap: Snapshot) -> None:
    assert [r.proxy for r in snap.frontends] == ["fe_main", "fe_stopped", "fe_shut", "tcp_hold"]
    assert [r.name for r in snap.listeners] == ["main"]
    assert len(snap.servers) == len([r for r in snap.rows if r.type == "server"]) > 20
    assert "st_strings" in [r.proxy for r in snap.backends]
    proxies = snap.proxies()
    assert [p.name for p in proxies][:4] == ["fe_main", "fe_stopped", "fe_shut", "be_app"]
    fe = proxies[0]
    assert fe.frontend is not None and fe.backend is None and len(fe.listeners) == 1
    hold = next(p for p in proxies if p.name == "tcp_hold")
    assert hold.frontend and hold.backend and [s.name for s in hold.servers] == ["hold1"]
    names = [s.name for s in snap.servers_of("be_app")]
    assert names[:3] == ["up1", "up2", "drain_cli"] and "BACKEND" not in names
    assert snap.servers_of("fe_main") == ()
    assert (snap.taken_at, snap.wall_time) == (100.0, 1e9)


def test_snapshot_from_rows_and_without_info(version: str) -> None:
    rows = parse_stat(read(version, "show_stat.txt"))
    a = Snapshot.from_rows(rows)
    b = Snapshot.from_text(None, read(version, "show_stat.txt"))
    assert a.info is None and b.info is None
    assert a.rows == b.rows and a.taken_at <= b.taken_at


# --------------------------------------------------------------------------- show info

def test_process_info(snap: Snapshot, version: str) -> None:
    info = snap.info
    assert info is not None
    assert info.name == "HAProxy" and info.version.startswith(version)
    assert info.pid and info.pid > 0 and info.nbthread and info.max_conn
    assert info.uptime_sec is not None and info.curr_conns is not None
    assert info.idle_pct is not None and info.run_queue is not None
    assert info.node == "capture-node" and info.description == "Capture lab"
    assert info.memory_mb is not None and info.memory_bytes and info.memory_bytes > 0
    assert info.spliced_bytes_out == 0  # found under either spelling
    assert info.ssl_rate == 0 and not info.stopping
    assert info.raw == parse_info(read(version, "show_info.txt"))


def test_process_info_tolerates_missing_fields() -> None:
    info = ProcessInfo.from_info({"Name": "HAProxy", "Pid": "x", "PoolAlloc_MB": "5"})
    assert info.pid is None and info.version == "" and info.max_conn is None
    assert info.memory_mb == 5 and info.memory_bytes is None and info.spliced_bytes_out is None
    assert ProcessInfo.from_info({}).memory_mb is None


# --------------------------------------------------------------------------- rates

def _snap(at: float, rows: list[dict[str, str]]) -> Snapshot:
    base = {"type": "2", "status": "UP"}
    return Snapshot.from_rows([{**base, **r} for r in rows], taken_at=at, wall_time=at)


def test_rates() -> None:
    prev = _snap(10.0, [
        {"pxname": "b", "svname": "s1", "stot": "100", "req_tot": "50", "bin": "1000",
         "bout": "5000", "hrsp_5xx": "1", "hrsp_4xx": "2", "econ": "0", "eresp": "",
         "ereq": "3"},
        {"pxname": "b", "svname": "gone", "stot": "1"},
    ])
    cur = _snap(12.0, [
        {"pxname": "b", "svname": "s1", "stot": "110", "req_tot": "40", "bin": "3000",
         "bout": "5000", "hrsp_5xx": "5", "hrsp_4xx": "2", "econ": "4", "eresp": "",
         "ereq": "x"},
        {"pxname": "b", "svname": "new", "stot": "9"},
    ])
    out = rates(prev, cur)
    assert set(out) == {("b", "s1")}  # only rows present in both
    r = out["b", "s1"]
    assert r.interval == 2.0
    assert (r.stot, r.bin, r.bout, r.hrsp_5xx, r.hrsp_4xx, r.econ) == (5.0, 1000.0, 0.0, 2.0,
                                                                      0.0, 2.0)
    assert r.req_tot is None  # went down: counters cleared or process reloaded
    assert r.eresp is None and r.ereq is None  # empty / not a number
    assert r.get("stot") == 5.0 and r.get("scur") is None


def test_a_row_in_another_state_with_the_same_counters_shares_the_zero_rates(
        monkeypatch) -> None:
    """Servers put in MAINT and back (a churn touching many rows): their counters did not
    move, so their rates are the shared zeros, not read field by field, against the
    refresh before and against the smoothing window's older counters alike."""
    import console.haproxy.model as model

    counters = {"stot": "100", "req_tot": "50", "bin": "1000", "bout": "5000",
                "hrsp_5xx": "1", "hrsp_4xx": "2", "econ": "0", "eresp": "", "ereq": "3"}
    rows = [{"pxname": "b", "svname": f"s{i}", **counters} for i in range(4)]
    prev = _snap(10.0, rows)
    cur = _snap(12.0, [{**r, "status": "MAINT"} for r in rows])
    read: list[object] = []
    real = model._rates_of
    monkeypatch.setattr(model, "_rates_of", lambda *a: read.append(a) or real(*a))
    for base in (prev, model.Counters(prev)):
        out = rates(base, cur)
        assert len({id(r) for r in out.values()}) == 1
        one = out["b", "s0"]
        assert (one.stot, one.bin, one.eresp, one.interval) == (0.0, 0.0, None, 2.0)
    assert read == []
    moved = _snap(14.0, [{**rows[0], "stot": "104"}, *rows[1:]])
    assert rates(cur, moved)["b", "s0"].stot == 2.0 and len(read) == 1


def test_rates_no_time_passed() -> None:
    s = _snap(5.0, [{"pxname": "b", "svname": "s", "stot": "1"}])
    assert rates(s, s) == {}


def test_rates_on_captured_counter_reset(snap: Snapshot) -> None:
    """The same capture twice: all zero rates; then with counters cleared: None."""
    later = Snapshot(snap.taken_at + 1, snap.wall_time + 1, snap.info, snap.rows)
    out = rates(snap, later)
    assert len(out) == len(snap.rows)
    assert out["fe_main", "FRONTEND"].stot == 0.0
    cleared = Snapshot.from_rows(
        [{**r.fields, "stot": "0"} for r in snap.rows], taken_at=snap.taken_at + 1)
    after = rates(snap, cleared)["fe_main", "FRONTEND"]
    assert after.stot is None and after.bin == 0.0


# --------------------------------------------------------------------------- JSON

def test_json_row(snap: Snapshot) -> None:
    row = snap.get("be_app", "bad_reason")
    assert row is not None
    out = to_json_row(row)
    assert list(out)[:4] == ["proxy", "name", "type", "status"]
    assert out["proxy"] == "be_app" and out["name"] == "bad_reason"
    assert out["type"] == "server" and out["status"] == "DOWN"
    assert out["last_chk"] == 'Bad, "really" bad'
    assert out["slim"] is None  # empty -> null
    assert out["weight"] == 1 and type(out["weight"]) is int  # numbers as numbers
    assert all(type(out[k]) is int for k in ("scur", "stot", "bin", "iid", "sid"))
    assert isinstance(out["check_status"], str)  # text stays text
    assert not {"pxname", "svname", "-"} & set(out)
    assert set(out) - {"proxy", "name"} == set(row.fields) - {"pxname", "svname"}
    flap = snap.get("be_app", "flap_down")
    assert flap is not None and to_json_row(flap)["status"] == "UP 2/3"
    json.dumps([to_json_row(r) for r in snap.rows])


def test_the_rate_mask_reads_the_counters_as_int_does() -> None:
    """Which counters hold a number, read from the row's counters tuple: the same as
    int() on each field, for HAProxy's digits and for odd values."""
    from console.haproxy import model as m

    def by_int(row: Row) -> tuple[bool, ...]:
        out = []
        for name in m.RATE_FIELDS:
            v = row.get(name)
            try:
                out.append(bool(v) and (int(v) is not None))  # type: ignore[arg-type]
            except ValueError:
                out.append(False)
        return tuple(out)

    odd = ["", "0", "12", "-1", " 5", "+7", "1_000", "x", "١٢", "²", "1.5", "9" * 30]
    rows = [Row.from_fields({"pxname": "p", "svname": f"s{i}", "type": "2",
                             **dict.fromkeys(m.RATE_FIELDS, v)}) for i, v in enumerate(odd)]
    rows += [Row.from_fields({"pxname": "p", "svname": "mixed", "type": "2",
                              **{f: odd[i % len(odd)] for i, f in enumerate(m.RATE_FIELDS)}})]
    for version in ("2.6", "2.8", "3.0", "3.2", "3.4"):
        rows += [Row.from_fields(f) for f in parse_stat(read(version, "show_stat.txt"))]
    for row in rows:
        assert m._rate_mask(row) == by_int(row), row.key


def test_a_quoted_row_keeps_its_values_once_its_fields_are_made() -> None:
    """A row from a line with quotes has no line to split again: making its fields
    keeps its values, so a reader that found no fields yet (another thread) can still
    read them."""
    from console.haproxy.model import Content

    content = Content(None, (), index={"pxname": 0, "svname": 1, "stot": 2},
                      values=("p", "s", "7"), line=None)
    assert content.fields == {"pxname": "p", "svname": "s", "stot": "7"}
    assert content.values == ("p", "s", "7")
    assert content._values()[2] == "7"


def test_a_rows_counters_are_taken_in_one_call_as_field_by_field() -> None:
    """``rate_counters`` takes the counters out of a row's split values with one picker
    per header: the same tuple as reading each field, on every version's rows, on a
    header without some counters, and on a row whose fields were made already."""
    from console.haproxy import model as m
    from console.haproxy.model import SnapshotBuilder

    def by_field(row: Row) -> tuple[str | None, ...]:
        return tuple(row.get(name) for name in m.RATE_FIELDS)

    texts = [read(v, "show_stat.txt") for v in ("2.6", "2.8", "3.0", "3.2", "3.4")]
    header, *body = texts[0].split("\n")
    names = header[2:].split(",")
    gone = [names.index("hrsp_4xx"), names.index("ereq")]
    short = "\n".join(",".join(f for i, f in enumerate(line.split(",")) if i not in gone)
                      for line in [header, *body] if line) + "\n"
    texts.append("# " + short[2:])
    for text in texts:
        builder = SnapshotBuilder()
        rows = builder.rows(text)
        assert rows and all(m.rate_counters(r) == by_field(r) for r in rows)
        again = builder.rows(text)  # the same contents: their tuples kept
        assert all(m.rate_counters(a) is m.rate_counters(b) for a, b in zip(
            rows, again, strict=True) if a.content is b.content)
        fresh = SnapshotBuilder().rows(text)
        for row in fresh[::3]:
            assert row.fields  # the dict made first
        assert all(m.rate_counters(r) == by_field(r) for r in fresh)
    assert any(None in m.rate_counters(r) for r in SnapshotBuilder().rows(texts[-1]))
