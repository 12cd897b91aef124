"""The keywords that open a section of an HAProxy configuration file (one list for the
parser, the staging area, discovery and the highlighter)."""

from __future__ import annotations

import re

SECTION_KEYWORDS: tuple[str, ...] = (
    "global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
    "userlist", "ring", "cache", "http-errors", "mailers", "program", "log-forward",
    "crt-store", "traces", "log-profile", "acme", "fcgi-app",
)
SECTION_SET = frozenset(SECTION_KEYWORDS)

# A line whose first word (after blanks) is a section keyword, searched after a "\n" (a
# literal start: a fast search on a big file; search "\n" + text to see the first line).
# Group 1 is the keyword.
HEADER_RE = re.compile(r"\n[^\S\n]*+(" + "|".join(
    re.escape(k) for k in sorted(SECTION_KEYWORDS, key=len, reverse=True)) + r")(?=[\s#]|\Z)")
