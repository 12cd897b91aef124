"""Splitting configuration text into lines the way HAProxy does: on ``\\n`` only.

Python's ``str.splitlines`` also breaks on form feed, vertical tab, ``\\x1c``-``\\x1e``,
``\\x85``, ``\\u2028``…, which HAProxy reads as ordinary characters of a line: a file
holding one of them would be numbered differently from HAProxy's ``[FILE:LINE]``.
Every split of config text (and of diffs of config text) goes through here.
"""

from __future__ import annotations

# What ``str.splitlines`` breaks on besides ``\n``: a text without any of them is split
# by it as on ``\n`` only.
_OTHER_BREAKS = ("\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def split_lf(text: str, keepends: bool = False) -> list[str]:
    """Lines of *text*, split on ``\\n`` only.

    With *keepends* each line keeps its ending (``\\n`` or ``\\r\\n``; the last line
    may have none). Without, the ending is dropped, ``\\r\\n`` as a whole. As with
    ``splitlines``, a final ``\\n`` does not start an empty last line.
    """
    if not text:
        return []
    if not any(c in text for c in _OTHER_BREAKS):  # (nearly always: one C call)
        return text.splitlines(keepends)
    parts = text.split("\n")
    last = parts.pop()
    if keepends:
        out = [p + "\n" for p in parts]
    else:
        out = [p[:-1] if p.endswith("\r") else p for p in parts]
    if last:
        out.append(last)
    return out
