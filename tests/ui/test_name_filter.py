"""The table's name filter: a regex that cannot freeze the console."""

from __future__ import annotations

import time

import pytest

from console import name_filter
from console.haproxy.model import Row, Snapshot
from console.name_filter import make_matcher, repeat_weight
from console.ui.widgets.columns import column_of
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


def _expected_lines(model: TableModel, text: str) -> list[tuple[str, str]]:
    """The lines of ``model`` filtered by ``text`` as plain text, row by row."""
    needle = text.strip().casefold()
    lines = []
    by_header = {g.header: g for g in model.groups.values()}
    for header in model._sorted(list(by_header)):  # the sort is the model's own
        group = by_header[header]
        children = ([group.frontend] if group.frontend else []) \
            + model._sorted(group.listeners) + model._sorted(group.servers)
        hits = [k for k in children if needle in k[0].casefold() or
                needle in k[1].casefold() or needle in f"{k[0]}/{k[1]}".casefold()]
        header = group.header
        if hits or needle in header[0].casefold() or needle in header[1].casefold() or \
                needle in f"{header[0]}/{header[1]}".casefold():
            lines.append(header)
            if group.proxy not in model.collapsed:
                lines.extend(hits)
    return lines


def test_plain_text_typed_key_by_key_matches_each_row_as_before() -> None:
    """Plain text is matched in bulk, from the last pass's matches when the new text
    holds the last one: the lines are those of matching every row, whatever is typed
    (narrowing, backspace, another word, a slash, case folding such as ß/SS and Σ/σ),
    and after the rows changed."""
    import random

    rng = random.Random(5)
    alphabet = ["a", "b", "e", "p", "1", "/", "-", "ß", "S", "Σ", "σ", "İ"]
    keys = []
    for _group in range(30):
        proxy = "be" + "".join(rng.choice(alphabet) for _ in range(4))
        keys += [(proxy, "BACKEND")] + [(proxy, "s" + "".join(rng.choice(alphabet)
                                                           for _ in range(3)))
                                        for _ in range(rng.randint(0, 6))]
    def row(proxy: str, name: str) -> Row:
        return Row.from_fields({"pxname": proxy, "svname": name, "type": "1" if
                                name == "BACKEND" else "2", "status": "UP",
                                "scur": str(rng.randint(0, 9))})

    rows = [row(p, n) for p, n in keys]
    model = TableModel()
    model.update(Snapshot.from_rows(rows), None)
    model.set_collapsed(keys[0][0], True)
    typed = ""
    for step in range(400):
        if step == 150:  # the rows change: a server more
            rows.append(row(keys[0][0], "sss"))
            model.update(Snapshot.from_rows(rows), None)
        if step == 250:  # sorted by a counter: groups and children in another order
            model.set_sort(column_of("status", "scur"), reverse=True)
        if step in (300, 330, 360):  # the counters change: the same rows, another order
            rows = [row(r.key[0], r.key[1]) for r in rows]
            model.update(Snapshot.from_rows(rows), None)
        if typed and rng.random() < 0.3:
            typed = typed[:-1]
        elif rng.random() < 0.1:
            typed = ""
        else:
            typed += rng.choice([*alphabet, "ss", "s"])
        model.set_filter(typed)
        if typed.strip():
            assert model.lines == _expected_lines(model, typed), typed
    # a header alone matches (its name is BACKEND), then a longer text still does
    for text in ("p/b", "p/ba"):
        model.set_filter(text)
        assert model.lines == _expected_lines(model, text)
    assert any(name == "BACKEND" for _, name in model.lines)
    # the rows change under the same text: every row is matched again
    model.set_filter("zz")
    open_group = next(p for p, _ in keys if p not in model.collapsed)
    rows.append(Row.from_fields({"pxname": open_group, "svname": "zz1", "type": "2",
                                 "status": "UP"}))
    model.update(Snapshot.from_rows(rows), None)
    assert (open_group, "zz1") in model.lines
    assert model.lines == _expected_lines(model, "zz")


def test_a_sorted_table_keeps_its_order_under_a_plain_filter() -> None:
    """Sorted by a counter, the matched servers follow the new values when they change
    (the last pass's matches are in the old order)."""
    def snapshot(scur: list[int]) -> Snapshot:
        rows = [Row.from_fields({"pxname": "web", "svname": "BACKEND", "type": "1",
                                 "status": "UP"})]
        rows += [Row.from_fields({"pxname": "web", "svname": f"api{i}", "type": "2",
                                  "status": "UP", "scur": str(v)})
                 for i, v in enumerate(scur)]
        return Snapshot.from_rows(rows)

    model = TableModel()
    model.update(snapshot([1, 2, 3, 4]), None)
    model.set_sort(column_of("status", "scur"), reverse=True)
    model.set_filter("api")
    assert [n for _, n in model.lines] == ["BACKEND", "api3", "api2", "api1", "api0"]
    model.update(snapshot([4, 3, 2, 1]), None)
    assert [n for _, n in model.lines] == ["BACKEND", "api0", "api1", "api2", "api3"]
    model.set_filter("api1")
    assert [n for _, n in model.lines] == ["BACKEND", "api1"]
    # back in HAProxy's order under the same text, then a longer one
    model.update(snapshot([1, 2, 3, 4]), None)
    model.set_filter("api")
    assert [n for _, n in model.lines] == ["BACKEND", "api3", "api2", "api1", "api0"]
    model.set_sort(None)
    assert [n for _, n in model.lines] == ["BACKEND", "api0", "api1", "api2", "api3"]
    model.set_filter("api")
    assert [n for _, n in model.lines] == ["BACKEND", "api0", "api1", "api2", "api3"]
