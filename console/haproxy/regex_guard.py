"""Guards for regular expressions typed by the user: patterns that could freeze the
process (catastrophic backtracking, huge counted repeats) are recognised before use.

Shared by the table's name filter (:mod:`console.name_filter`) and the log filter
(:mod:`console.haproxy.logs.filter`).
"""

from __future__ import annotations

import re

_COUNT = re.compile(r"\{([0-9]*)(?:,([0-9]*))?\}")
# what makes a pattern backtrack without bound on re: a group followed by a quantifier,
# or a backreference
_RISKY_FOR_RE = re.compile(r"\)(?:[*+?]|\{[0-9]*,?[0-9]*\})|\\[1-9]|\(\?P=")


def safe_for_re(pattern: str) -> bool:
    """Whether *pattern* can run on Python's re (no timeout) without freezing."""
    return not _RISKY_FOR_RE.search(pattern)


def repeat_weight(pattern: str) -> int:
    """How many atoms *pattern* stands for once its counted repeats are expanded (an
    upper bound: alternatives are added up)."""
    stack = [0]  # the weight so far of each open group
    last = 0  # the weight of the previous atom, for a quantifier that follows it
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i, last = i + 2, 1
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i, last = j + 1, 1
        elif c == "(":
            stack.append(0)
            i, last = i + 1, 0
            continue
        elif c == ")":
            inner = stack.pop() if len(stack) > 1 else 0
            i, last = i + 1, max(inner, 1)
        elif c == "{" and (m := _COUNT.match(pattern, i)) and (m.group(1) or m.group(2)):
            count = max(int(g) for g in m.groups() if g)
            stack[-1] += last * (max(count, 1) - 1)
            last *= max(count, 1)
            i = m.end()
            continue
        else:
            i, last = i + 1, 1
        stack[-1] += last
    return sum(stack)
