"""The fleet's merged view: divergences between nodes, on captured snapshots."""

from __future__ import annotations

from console.haproxy import fleet_model as fm
from console.haproxy.model import Snapshot
from tests.captured_data import stat_snapshot


def _without(snap: Snapshot, proxy: str, name: str) -> Snapshot:
    return Snapshot.from_rows([r for r in snap.rows if r.key != (proxy, name)], snap.info)


def _row(rows: list[fm.MergedRow], proxy: str, name: str) -> fm.MergedRow:
    return next(r for r in rows if r.key == (proxy, name))


def test_identical_nodes_do_not_diverge() -> None:
    rows = fm.merge([stat_snapshot(), stat_snapshot(), stat_snapshot()])
    assert fm.divergent(rows) == []
    # each backend once, then its servers, in HAProxy's order
    keys = [r.key for r in rows if r.proxy == "be_api"]
    assert keys == [("be_api", "BACKEND"), ("be_api", "api_ok"), ("be_api", "api_nolb"),
                    ("be_api", "agent_down"), ("be_api", "agent_drain")]
    assert all(len(r.cells) == 3 for r in rows)


def test_a_weight_set_on_one_node_diverges() -> None:
    edited = stat_snapshot({("be_app", "up1"): {"weight": "7", "uweight": "7"}})
    rows = fm.merge([stat_snapshot(), edited, stat_snapshot()])
    row = _row(rows, "be_app", "up1")
    assert row.diverges == {"weight"}
    assert [c.weight for c in row.cells] == [1, 7, 1]
    assert row.why(["lb1", "lb2", "lb3"]) == ["be_app/up1 weight differs: lb1 1, lb2 7, lb3 1"]
    assert [r.key for r in fm.divergent(rows)] == [("be_app", "up1")]


def test_an_admin_state_that_differs_diverges_but_health_does_not() -> None:
    maint = stat_snapshot({("be_app", "up1"): {"status": "MAINT"}})
    down = stat_snapshot({("be_app", "up2"): {"status": "DOWN"}})
    rows = fm.merge([stat_snapshot(), maint, down])
    up1 = _row(rows, "be_app", "up1")
    assert up1.diverges == {"state"}
    assert [c.admin for c in up1.cells] == ["READY", "MAINT", "READY"]
    assert _row(rows, "be_app", "up2").diverges == frozenset()  # DOWN is health


def test_a_server_missing_on_one_node_diverges() -> None:
    rows = fm.merge([stat_snapshot(), _without(stat_snapshot(), "be_api", "api_ok")])
    row = _row(rows, "be_api", "api_ok")
    assert row.diverges == {"missing"}
    assert row.cells[1].missing and not row.cells[0].missing
    assert row.why(["lb1", "lb2"]) == ["be_api/api_ok missing on lb2"]


def test_a_server_only_a_later_node_has_is_listed_after_its_backend() -> None:
    first = _without(stat_snapshot(), "be_api", "agent_drain")
    rows = fm.merge([first, stat_snapshot()])
    keys = [r.key for r in rows if r.proxy == "be_api"]
    assert keys[-1] == ("be_api", "agent_drain")
    assert _row(rows, "be_api", "agent_drain").diverges == {"missing"}


def test_a_node_not_read_is_unknown_never_missing_or_divergent() -> None:
    rows = fm.merge([stat_snapshot(), None, stat_snapshot()])
    assert fm.divergent(rows) == []
    assert all(not r.cells[1].known and not r.cells[1].missing for r in rows)


def test_a_different_version_marks_the_odd_node() -> None:
    nodes = [fm.NodeState(f"lb{i}", f"lb{i}", "live", snapshot=stat_snapshot(version=v))
             for i, v in enumerate(["2.8", "3.0", "2.8"], 1)]
    marks = fm.node_divergence(nodes)
    assert marks == {"lb1": frozenset(), "lb2": {"version"}, "lb3": frozenset()}
    rows = fm.overview(nodes)
    assert rows[1].diverges == {"version"} and rows[1].version.startswith("3.0")


def test_config_hashes_differ_and_a_tie_marks_every_node() -> None:
    nodes = [fm.NodeState("a", "a", "live", snapshot=stat_snapshot(), config_hash="111"),
             fm.NodeState("b", "b", "live", snapshot=stat_snapshot(), config_hash="222"),
             fm.NodeState("c", "c", "unreachable", error="no route")]
    marks = fm.node_divergence(nodes)
    assert marks == {"a": {"config"}, "b": {"config"}, "c": frozenset()}


def test_overview_figures_and_counts() -> None:
    nodes = [fm.NodeState("lb1", "lb1 via ssh", "live", snapshot=stat_snapshot()),
             fm.NodeState("lb2", "lb2", "stale", snapshot=stat_snapshot()),
             fm.NodeState("lb3", "lb3", "unreachable", error="host key changed")]
    rows = fm.overview(nodes)
    snap = stat_snapshot()
    assert rows[0].problems == len([r for r in snap.servers if r.status.problem]) > 0
    assert rows[0].req_rate == 4  # the frontends' req_rate summed
    assert rows[0].curr_conns == snap.info.curr_conns
    assert rows[2].version is None and rows[2].error == "host key changed"
    assert fm.counts(nodes) == {"live": 1, "stale": 1, "unreachable": 1}


def test_merging_again_gives_what_merge_gives_and_keeps_unchanged_rows() -> None:
    merger = fm.Merger()
    a, b = stat_snapshot(), stat_snapshot()
    first = merger.merge([a, b, None])
    assert first == fm.merge([a, b, None])
    maint = stat_snapshot({("be_app", "up1"): {"status": "MAINT"}})
    fewer = _without(stat_snapshot(), "be_api", "api_ok")
    second = merger.merge([a, maint, fewer])
    assert second == fm.merge([a, maint, fewer])
    before = {r.key: r for r in first}
    changed = {("be_app", "up1"), ("be_api", "api_ok")}
    # the third node is read now: every row changed (unknown -> known)
    assert all(before[r.key] is not r for r in second)
    third = merger.merge([a, maint, stat_snapshot({("be_app", "up1"): {"status": "MAINT"}})])
    assert third == fm.merge([a, maint, stat_snapshot(
        {("be_app", "up1"): {"status": "MAINT"}})])
    again = {r.key: r for r in second}
    kept = [r for r in third if r.key not in changed]
    assert kept and all(again[r.key] is r for r in kept)
    assert _row(third, "be_app", "up1").diverges == {"state"}  # READY on the first
