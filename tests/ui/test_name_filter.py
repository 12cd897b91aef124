"""The table's name filter: a regex that cannot freeze the console."""

from __future__ import annotations

import time

import pytest

from console import name_filter
from console.haproxy.model import Row, Snapshot
from console.name_filter import make_matcher, repeat_weight
from console.ui.widgets.table_model import TableModel

LONG = [("be_long", "a" * 40 + str(i)) for i in range(200)]


@pytest.mark.parametrize("pattern,weight", [
    ("web", 3), (r"^web\d+$", 7), ("a{3}", 3), ("(ab){10}", 20), ("(a{10}){10}", 100),
    ("[a-z]{4}", 4), (r"x\{3}", 4), ("((a{1000}){1000}){1000}", 10 ** 9),
])
def test_repeat_weight(pattern: str, weight: int) -> None:
    assert repeat_weight(pattern) == weight


def test_a_catastrophic_regex_gives_way_to_plain_text() -> None:
    m = make_matcher("(a|aa)+x")
    assert m is not None and m.pattern is not None and not m.simplified
    t0 = time.monotonic()
    hits = [m(k) for k in LONG]
    assert time.monotonic() - t0 < 0.5
    assert m.simplified and not any(hits)
    assert m(("be", "x(a|aa)+xy"))  # matched as text now


def test_a_huge_compiled_regex_is_never_built() -> None:
    t0 = time.monotonic()
    m = make_matcher("((a{1000}){1000}){1000}")
    assert time.monotonic() - t0 < 0.5
    assert m is not None and m.simplified and m.pattern is None


def test_a_pass_has_a_total_budget(monkeypatch) -> None:
    monkeypatch.setattr(name_filter, "PASS_BUDGET", 0.0)
    m = make_matcher(r"^a+\d$")
    assert m is not None and not m.simplified
    m(LONG[0])
    assert m.simplified


def test_plain_regexes_still_work_and_are_remembered() -> None:
    m = make_matcher(r"A{40}1\d$")
    assert m is not None
    assert [k for k in LONG if m(k)] == [k for k in LONG if k[1][40:41] == "1"
                                         and len(k[1]) == 42]
    assert not m.simplified and len(m._cache) == len(LONG)


def _snapshot(keys: list[tuple[str, str]]) -> Snapshot:
    rows = [Row.from_fields({"pxname": p, "svname": n, "type": "2", "status": "UP"})
            for p, n in keys]
    rows.append(Row.from_fields({"pxname": "be_long", "svname": "BACKEND", "type": "1",
                                 "status": "UP"}))
    return Snapshot.from_rows(rows)


def test_the_model_redoes_a_pass_as_text_when_the_regex_gives_up() -> None:
    model = TableModel()
    model.update(_snapshot(LONG + [("be_long", "(a|aa)+x-literal")]), None)
    t0 = time.monotonic()
    model.set_filter("(a|aa)+x")
    assert time.monotonic() - t0 < 1.0
    assert model.filter_simplified
    assert ("be_long", "(a|aa)+x-literal") in model.lines
    assert not any(k in model.lines for k in LONG)
