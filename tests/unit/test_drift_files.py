"""Drift between counts: what is kept of the configuration's files."""

from __future__ import annotations

from console.haproxy import drift
from console.haproxy.config import model


def test_kept_is_what_the_drift_reads_not_the_parsed_file() -> None:
    text = (b"backend be\n  server s1 127.0.0.1:80 weight 3 disabled\n"
            b"  server s2 127.0.0.1:81\n  server-template t 2 127.0.0.1:82\n")
    assert drift.compute_drift(text, [], "kept.cfg") == []
    assert ("kept.cfg", text) not in model._PARSED  # a big file's lines are not kept
    kept = drift._servers_in_files((("kept.cfg", text),))
    assert kept[("be", "s1")] == (True, 3, False, False)
    assert kept[("be", "s2")] == (False, 1, False, False)
    assert kept[("be", "t1")].template


def test_servers_state_without_fields_has_the_same_typed_columns() -> None:
    from dataclasses import replace

    from console.haproxy.parsers import parse_servers_state
    from tests.captured_data import read

    text = read("2.8", "show_servers_state.txt")
    full, lean = parse_servers_state(text), parse_servers_state(text, keep_fields=False)
    assert full and all(row.fields == {} for row in lean)
    assert [replace(row, fields={}) for row in full] == lean
