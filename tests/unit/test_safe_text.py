"""Outside text made safe to print: control characters are shown, never sent to the
terminal; messages the user types cannot carry them."""

from __future__ import annotations

import pytest

from console.haproxy.errors import ValidationError
from console.haproxy.safe_text import check_message, visible, visible_lines


@pytest.mark.parametrize("raw,shown", [
    ("a\x1b]0;pwned\x07b", "a\\x1b]0;pwned\\x07b"),
    ("line1\nline2\r", "line1\\nline2\\r"),
    ("tab\there", "tab\\there"),
    ("csi\x9b2J", "csi\\x9b2J"),
    ("del\x7f", "del\\x7f"),
    (b"k\xff".decode("utf-8", "surrogateescape"), "k\\xff"),
    ("caf\u00e9 \u2192 ok", "caf\u00e9 \u2192 ok"),
])
def test_visible(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    assert visible(raw).isprintable()


def test_tabs_and_lines_kept_where_the_layout_wants_them() -> None:
    assert visible("a\tb", tab=True) == "a\tb"
    assert visible_lines("+  server a\t1.2.3.4\n- # \x1b[2J\r\n") == \
        "+  server a\t1.2.3.4\n- # \\x1b[2J\\r\n"


@pytest.mark.parametrize("message", ["fix\n   3  2025-01-01 alice applied forged", "a\x1b[2J",
                                     "tab\there"])
def test_messages_with_control_characters_are_refused(message: str) -> None:
    with pytest.raises(ValidationError, match="control character"):
        check_message(message, "message (-m)")
    assert check_message("new frontend, ticket #42") == "new frontend, ticket #42"


def test_line_separators_are_shown_escaped() -> None:
    from console.haproxy.safe_text import visible, visible_lines

    assert visible("a\u2028b\u2029c") == "a\\u2028b\\u2029c"
    assert "\u2028" not in visible_lines("a\nb\u2028c")
