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


def _row(backend: str, server: str, weight: int, admin: int = 0, check: int = 6,
         agent: int = 0) -> object:
    from console.haproxy.parsers import ServerStateRow

    return ServerStateRow(1, backend, 1, server, "10.0.0.1", 2, admin, weight, weight, 0, 0,
                          0, 0, check, agent, 0, 0, None, 80, None, 0, None, None, None,
                          None, {})


def test_every_kind_of_drift_and_only_those() -> None:
    """Servers in agreement are passed over; every other case is told, in order."""
    text = (b"defaults\n  default-server weight 5\n"
            b"backend be\n  server s1 127.0.0.1:80 weight 3 disabled\n"
            b"  server s2 127.0.0.1:81\n  server s3 127.0.0.1:83 check\n"
            b"  server s4 127.0.0.1:84 enabled\n  server s5 127.0.0.1:85 weight\n"
            b"  server-template t 2 127.0.0.1:82\n  server gone 127.0.0.1:86\n"
            b"backend other\n  server o1 127.0.0.1:90\n")
    states = [_row("be", "s1", 3), _row("be", "s2", 5, admin=0x01),
              _row("be", "s3", 5, check=2), _row("be", "s4", 7, admin=0x08, agent=2),
              _row("be", "s5", 5), _row("be", "t1", 9, admin=1), _row("be", "dyn", 4),
              _row("nobe", "x", 1)]
    items = drift.compute_drift(text, states, "kinds.cfg")  # type: ignore[arg-type]
    assert [(i.kind, i.ref, i.runtime, i.config) for i in items] == [
        ("state", "be/s1", "ready", "disabled"), ("state", "be/s2", "MAINT", "enabled"),
        ("check", "be/s3", "disabled", "enabled"), ("state", "be/s4", "DRAIN", "ready"),
        ("weight", "be/s4", "7", "5"), ("agent", "be/s4", "disabled", "enabled"),
        ("runtime_only_server", "be/dyn", "present (10.0.0.1:80)", "absent"),
        ("missing_at_runtime", "be/t2", "absent", "present"),
        ("missing_at_runtime", "be/gone", "absent", "present")]


async def test_a_large_answer_is_worked_on_in_a_thread(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """At 100,000 servers the drift's parse and comparison take seconds: the event loop
    (the screen, the keys, a first look) must not wait for them; a small one is
    worked on at once."""
    import threading

    from tests.captured_data import read

    cfg = tmp_path / "haproxy.cfg"
    cfg.write_bytes(b"backend be\n  server s1 127.0.0.1:80\n")
    answer = read("2.8", "show_servers_state.txt")
    seen: list[bool] = []
    plain = drift._drift_of

    def spy(named, text):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread() is threading.main_thread())
        return plain(named, text)

    class Client:
        async def run(self, command: str) -> str:
            assert command == "show servers state"
            return answer

    monkeypatch.setattr(drift, "_drift_of", spy)
    small = await drift.read_drift(Client(), [str(cfg)])
    monkeypatch.setattr(drift, "DRIFT_IN_THREAD_BYTES", len(answer) - 1)
    large = await drift.read_drift(Client(), [str(cfg)])
    assert seen == [True, False] and small == large
