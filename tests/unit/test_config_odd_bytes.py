"""Config text with bytes Python treats as line breaks but HAProxy does not.

HAProxy splits a file on ``\\n`` only: a form feed, a vertical tab, ``\\x1c``-``\\x1e``,
``\\x85`` or ``\\u2028`` is an ordinary character of its line. Every line number the
console shows (diff hunks, sections, check errors) must be HAProxy's.
"""

from __future__ import annotations

import pytest

from console.haproxy.apply_steps import scan
from console.haproxy.config import ConfigFile
from console.haproxy.errors import ValidationError
from console.haproxy.staging import hunks_of, section_headers, unified_diff
from console.ui.widgets.apply_steps import outcome_text
from console.ui.widgets.diffview import rows_of

ODD = ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def config_with(odd: str, eol: str = "\n") -> str:
    return eol.join([
        "global",
        f"    # a comment with {odd} inside",
        f"    maxconn 100 {odd}",
        "",
        "backend be_app",
        "    server app1 127.0.0.1:8001 weight 10",
        "    server app2 127.0.0.1:8002 weight 20",
        "",
    ])


def test_split_lf() -> None:
    from console.haproxy.lines import split_lf

    assert split_lf("") == []
    assert split_lf("a\x0cb\nc\r\nd") == ["a\x0cb", "c", "d"]
    assert split_lf("a\x0cb\nc\r\nd", keepends=True) == ["a\x0cb\n", "c\r\n", "d"]
    assert split_lf("a\n\n") == ["a", ""]
    assert split_lf("a\u2028b\x85c\n", keepends=True) == ["a\u2028b\x85c\n"]


@pytest.mark.parametrize("odd", ODD, ids=[f"U+{ord(c):04X}" for c in ODD])
def test_diff_and_sections_count_lines_like_haproxy(odd: str) -> None:
    old = config_with(odd).encode()
    new = old.replace(b"weight 20", b"weight 25")
    changed = 7  # the line of app2, as HAProxy numbers it
    assert old.decode().split("\n")[changed - 1].endswith("weight 20")
    diff = unified_diff(old, new, "a", "b")
    [hunk] = hunks_of(diff, old, new)
    assert hunk.section == "backend be_app"
    rows = rows_of([hunk])
    assert [(r.old, r.new) for r in rows if r.kind == "del"] == [(changed, None)]
    assert [(r.old, r.new) for r in rows if r.kind == "add"] == [(None, changed)]
    assert section_headers(old.decode()) == [(1, "global"), (5, "backend be_app")]
    assert [n for _, n, w in scan(old.decode()) if w[0] == "server"] == [6, 7]
    assert ConfigFile.parse(old).lines[changed - 1].text.endswith("weight 20")


def test_diff_keeps_crlf_line_endings() -> None:
    old = config_with("\x0c", "\r\n").encode()
    new = old.replace(b"weight 20", b"weight 25")
    diff = unified_diff(old, new, "a", "b")
    assert "+    server app2 127.0.0.1:8002 weight 25\r\n" in diff
    assert "-    server app2 127.0.0.1:8002 weight 20\r\n" in diff
    [hunk] = hunks_of(diff, old, new)
    assert [line for line in hunk.lines if line.startswith("+")] == [
        "+    server app2 127.0.0.1:8002 weight 25"]  # no stray "\r" to display
    only_eol = old.replace(b"weight 20\r\n", b"weight 20\n")
    assert "-    server app2 127.0.0.1:8002 weight 20\r\n" in unified_diff(old, only_eol, "a", "b")


def test_check_error_shows_haproxys_line() -> None:
    from console.haproxy.apply import ApplyResult
    from console.haproxy.apply_steps import CheckResult

    candidate = config_with("\x0c").encode()
    check = CheckResult(False, 1, ["line 7: unknown keyword 'weight'"], [], "", [], "haproxy",
                        "2.8", 0.1)
    text = outcome_text(ApplyResult(False, "refused", check=check), candidate,
                        no_reload=True, still_staged=True).plain
    assert "7 │ server app2 127.0.0.1:8002 weight 20" in text


@pytest.mark.parametrize("line", [
    "    server app1 127.0.0.1:8001 weight 10 \\",
    "    server app1 127.0.0.1:8001 weight 10\\",
    "    server app1 127.0.0.1:8001 weight 10 \\\\\\",
])
@pytest.mark.parametrize("change", [{"weight": "5"}, {"disabled": True}, {"maxconn": "3"},
                                    {"addr": "127.0.0.1:9000"}])
def test_server_line_ending_in_backslash_is_refused_cleanly(line: str,
                                                            change: dict[str, object]) -> None:
    data = f"backend be_app\n{line}\n    server app2 127.0.0.1:8002\n".encode()
    cfg = ConfigFile.parse(data, "/etc/haproxy/haproxy.cfg")
    with pytest.raises(ValidationError) as err:
        cfg.set_server_options("be_app", "app1", change)
    message = str(err.value)
    assert "ends with a backslash" in message and "/etc/haproxy/haproxy.cfg:2" in message
    assert "internal check failed" not in message and "report" not in message
    assert cfg.to_bytes() == data
    cfg.remove_server("be_app", "app1")  # deleting such a line is safe
    assert b"app1" not in cfg.to_bytes()


def test_escaped_backslash_at_the_end_is_an_ordinary_word() -> None:
    data = b"backend be_app\n    server app1 127.0.0.1:8001 cookie a\\\\\n"
    cfg = ConfigFile.parse(data)
    cfg.set_server_options("be_app", "app1", {"weight": "5"})
    assert cfg.to_bytes() == b"backend be_app\n    server app1 127.0.0.1:8001 cookie a\\\\ " \
                             b"weight 5\n"


def test_split_lf_is_the_split_on_lf_whatever_the_text() -> None:
    """The fast split (``str.splitlines`` when nothing else breaks a line) and the split
    on ``\\n`` give the same lines, with and without their endings."""
    import random

    from console.haproxy import lines

    def on_lf(text: str, keepends: bool) -> list[str]:
        parts = text.split("\n")
        last = parts.pop()
        out = [p + "\n" for p in parts] if keepends else \
            [p[:-1] if p.endswith("\r") else p for p in parts]
        return out + [last] if last else out

    rng = random.Random(5)
    alphabet = ["a", " ", "\n", "\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1e", "\x85",
                "\u2028", "é", "#"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        for keepends in (False, True):
            assert lines.split_lf(text, keepends) == on_lf(text, keepends), repr(text)
