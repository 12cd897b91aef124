"""Timeline: bounded events, notes, the postmortem Markdown and its atomic export."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from console.haproxy.counters import Mark
from console.haproxy.events import Event
from console.haproxy.model import Snapshot
from console.haproxy.timeline import Timeline, export_markdown, export_name, to_markdown

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "captured" / "2.8" / "show_stat.txt"
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def _events() -> list[Event]:
    return [
        Event(T0 + 5, "status", "error", "server be_app/up1 UP → DOWN (check L4CON)",
              "be_app", "up1", "UP", "DOWN"),
        Event(T0 + 1, "reload", "info", "reload: new worker pid 42"),
        Event(T0 + 65, "status", "ok", "server be_app/up1 DOWN → UP", "be_app", "up1", "DOWN",
              "UP"),
        Event(T0 + 70, "check", "warning", "server be_api/a check L7OK → L7STS | 503",
              "be_api", "a"),
    ]


def test_timeline_is_bounded_and_counts_dropped() -> None:
    t = Timeline(maxlen=3)
    t.extend(_events())
    assert len(t) == 3
    assert t.dropped == 1
    assert [e.kind for e in t] == ["reload", "status", "check"]
    note = t.add_note("  rolled back deploy 42 ", now=T0 + 80)
    assert note.kind == "note" and note.message == "note: rolled back deploy 42"
    assert t.since(T0 + 66)[-1] is note
    assert len(t.since(T0 + 66)) == 2
    assert [e.kind for e in t.events] == ["status", "check", "note"]
    t.clear()
    assert len(t) == 0 and t.dropped == 0


def test_markdown_summary_and_events_table() -> None:
    text = to_markdown(_events(), instance="lab-2.8", version="2.8.5", now=T0 + 100)
    assert text.startswith("# haconsole timeline: lab-2.8\n\n## Summary\n")
    assert "- Instance: lab-2.8 (HAProxy 2.8.5)" in text
    assert ("- Window: 2023-11-14 22:13:21 → 2023-11-14 22:14:30 UTC (1m09s); report written "
            "2023-11-14 22:15:00 UTC") in text
    assert "- Went down: be_app/up1 at 22:13:25 (back 22:14:25)" in text
    assert "- Events: 4 (1 error, 1 warning, 1 ok, 1 info)" in text
    assert "| Time (UTC) | Severity | Target | Message |" in text
    rows = [line for line in text.splitlines() if line.startswith("| 2023-")]
    assert rows[0] == "| 2023-11-14 22:13:21 | · info | — | reload: new worker pid 42 |"
    assert rows[1] == ("| 2023-11-14 22:13:25 | ✖ error | be_app/up1 | "
                       "server be_app/up1 UP → DOWN (check L4CON) |")
    assert rows[3].endswith("| server be_api/a check L7OK → L7STS \\| 503 |")  # pipe escaped
    assert "## Incident mark" not in text and "## Changes sent" not in text
    assert "Flapping" not in text


def test_markdown_without_events() -> None:
    text = to_markdown([], instance="x", version="", now=T0)
    assert "- Window: no events" in text and "- Went down: nothing" in text
    assert "No events." in text
    assert "- Instance: x (HAProxy version unknown)" in text


def _flapping(start: float, n: int) -> list[Event]:
    return [Event(start + i * 20, "status", "error" if i % 2 == 0 else "ok",
                  f"server be_api/a2 {'UP → DOWN' if i % 2 == 0 else 'DOWN → UP'}", "be_api",
                  "a2", "UP" if i % 2 == 0 else "DOWN", "DOWN" if i % 2 == 0 else "UP")
            for i in range(n)]


def test_a_flapping_server_is_told_once() -> None:
    events = _events() + _flapping(T0 + 100, 6)
    text = to_markdown(events, instance="lab", version="2.8.5", now=T0 + 300)
    line = "be_api/a2 flapped 6× between 22:15:00 and 22:16:40 UTC (3 times DOWN; last: UP)"
    assert f"- Flapping: {line}" in text
    events_part = text[text.index("## Events"):]
    assert events_part.count("be_api/a2") == 2  # the target cell and the line, once
    assert f"| 2023-11-14 22:15:00 | ✖ error | be_api/a2 | {line} |" in events_part
    assert "- Went down: be_app/up1" in text  # a flap is not counted as went down
    few = to_markdown(_flapping(T0, 3), instance="lab", version="2.8.5", now=T0 + 300)
    assert "Flapping" not in few and few.count("server be_api/a2") == 3
    apart = _flapping(T0, 2) + _flapping(T0 + 2000, 2)  # too far apart to be one flap
    assert "Flapping" not in to_markdown(apart, instance="lab", version="2.8", now=T0 + 3000)


def test_markdown_mark_sections() -> None:
    snap = Snapshot.from_text(None, CAPTURED.read_text(), wall_time=T0)
    marks = [Mark(snap, T0 + 60, "second"), Mark(snap, T0 + 2, "deploy 42")]
    text = to_markdown(_events(), instance="lab", version="2.8.5", mark=marks, now=T0 + 100)
    first = text.index("## Incident mark 1: deploy 42")
    second = text.index("## Incident mark 2: second")
    assert first < second < text.index("## Events")
    section = text[first:second]
    assert "- Set at: 2023-11-14 22:13:22 UTC (1m38s before this report)" in section
    assert "- Events since the mark: 3 (1 error, 1 warning)" in section
    assert "- Frontend counters at the mark" in section and "req_tot 7, stot 7" in section


def test_markdown_mark_with_current_snapshot_shows_deltas_per_backend() -> None:
    text = CAPTURED.read_text()
    base = Snapshot.from_text(None, text, wall_time=T0)
    lines = text.splitlines()
    header = lines[0].lstrip("# ").split(",")
    idx5, idxe, idxr = header.index("hrsp_5xx"), header.index("econ"), header.index("req_tot")
    changed = []
    for line in lines[1:]:
        cells = line.split(",")
        if cells[:2] in (["be_app", "up1"], ["be_app", "BACKEND"]):
            cells[idx5] = str(int(cells[idx5] or 0) + 7)
            cells[idxe] = str(int(cells[idxe] or 0) + 3)
            cells[idxr] = str(int(cells[idxr] or 0) + 20)
        changed.append(",".join(cells))
    current = Snapshot.from_text(None, "\n".join([lines[0]] + changed) + "\n",
                                 wall_time=T0 + 9)
    md = to_markdown([], instance="lab", version="2.8", mark=Mark(base, T0, ""),
                     current=current, now=T0 + 10)
    assert "## Incident mark 1\n" in md
    assert "What changed since the mark (9s), per backend:" in md
    assert ("| Backend | Requests | 4xx | 5xx | 5xx share | Conn. errors | Resp. errors | "
            "Checks down |") in md
    assert "| be_app | 20 | 0 | 7 | 35.0 % | 3 | 0 | 0 |" in md
    assert "| Server | 5xx | Conn. errors | Resp. errors | Checks down |" in md
    assert "| be_app/up1 | 7 | 3 | 0 | 0 |" in md
    assert "req_tot 7" not in md  # no absolute counters when the deltas are known


def test_changes_table_time_who_what_result() -> None:
    journal = [
        {"ts": T0 + 30, "time": "2023-11-14T22:13:50+0000", "user": "alice",
         "ssh_origin": "10.0.0.5", "command": "set server be_app/up1 state drain", "ok": True,
         "answer": "", "error": None, "before": {"status": "UP"}},
        {"ts": T0 + 40, "user": "alice", "command": "reload", "via": "master", "ok": True,
         "answer": "Success=1\n--\n", "version": 7, "config": "/etc/haproxy/haproxy.cfg",
         "message": "weights"},
        {"ts": T0 + 50, "user": "bob", "command": "set weight be_app/up2 0", "ok": False,
         "error": "No such server."},
        {"ts": T0 + 60, "user": "bob", "command": "reload (rollback)", "via": "systemctl",
         "ok": True, "version": 6, "config": "/etc/haproxy/haproxy.cfg"},
        {"ts": T0 - 5000, "user": "old", "command": "set weight x/y 1", "ok": True},
    ]
    text = to_markdown(_events(), instance="lab", version="2.8.5", journal=journal,
                       now=T0 + 100)
    assert ("- Changed: 1 runtime change by alice from 10.0.0.5, 1 by bob; apply of version 7"
            " of /etc/haproxy/haproxy.cfg — “weights” by alice; rollback to version 6 of "
            "/etc/haproxy/haproxy.cfg by bob") in text
    section = text[text.index("## Changes sent"):text.index("## Events")]
    assert "| Time (UTC) | Who | What | Result |" in section
    assert ("| 2023-11-14 22:13:50 | alice from 10.0.0.5 | `set server be_app/up1 state drain`"
            " | ok |") in section
    assert ("| 2023-11-14 22:14:00 | alice | apply of version 7 of /etc/haproxy/haproxy.cfg — "
            "“weights” (reload via master) | ok |") in section
    assert "| 2023-11-14 22:14:10 | bob | `set weight be_app/up2 0` | FAILED: No such server. |" \
        in section
    assert "rollback to version 6 of /etc/haproxy/haproxy.cfg (reload via systemctl)" in section
    assert "old" not in section  # before the window: not this incident's
    assert "{" not in section and "1700000" not in section  # no dicts, no raw epoch
    empty = to_markdown([], instance="lab", version="2.8.5", journal=[], now=T0)
    assert "No changes were sent." in empty and "- Changed: nothing was changed" in empty


def test_export_writes_named_file_atomically(tmp_path: Path) -> None:
    out_dir = tmp_path / "state" / "reports"
    path = export_markdown(out_dir, _events(), instance="lab", version="2.8.5", now=T0)
    assert path == out_dir / "haconsole-timeline-20231114-221320.md"
    assert re.fullmatch(r"haconsole-timeline-\d{8}-\d{6}\.md", export_name(T0))
    assert path.read_text(encoding="utf-8").startswith("# haconsole timeline: lab")
    again = export_markdown(out_dir, [], instance="lab", version="2.8.5", now=T0)
    assert again.name == "haconsole-timeline-20231114-221320-2.md"
    assert "No events." in again.read_text(encoding="utf-8")
    assert {p.name for p in out_dir.iterdir()} == {path.name, again.name}  # no temp
    assert os.stat(path).st_mode & 0o077 == 0


def test_export_failure_leaves_no_temp_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        export_markdown(tmp_path, _events(), instance="lab", version="2.8.5", now=T0)
    assert list(tmp_path.iterdir()) == []


def test_outside_text_in_the_export_cannot_drive_a_terminal() -> None:
    """A journal answer or a server name with an OSC/CSI sequence is written escaped:
    `cat` of the report must not retitle or recolour the terminal."""
    from console.haproxy.timeline import to_markdown

    text = to_markdown([], instance="lb\x1b]0;pwned\x07", version="2.8",
                       journal=[{"time": 0.0, "user": "bob\x1b[2J", "command": "set server a/b",
                                 "answer": "ok\x1b[31m\nsecond line\x9b2J"}], now=1.0)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "\\x1b]0;pwned" in text and "ok: ok\\x1b[31m second line" in text
    assert "bob\\x1b[2J" in text
