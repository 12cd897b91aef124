"""The name filter of the table and of `show stat` / `show servers --filter`: a substring,
or a regex that can never freeze the console.

A regex is tried on the proxy, the name and ``proxy/name``. It runs with the
``regex`` package's ``timeout``: a search longer than :data:`SEARCH_TIMEOUT`, or a
pass over the rows longer than :data:`PASS_BUDGET` in all, drops the regex for
plain (case-insensitive) text matching, and :attr:`Matcher.simplified` says so. A
pattern whose counted repeats would make the regex huge to compile (``(a{1000}){1000}``)
is matched as plain text from the start. Results are kept per row key, so later
passes over the same rows cost nothing.

Without the ``regex`` package (the one-file build, ``make dist``, carries no compiled
module), a pattern runs on Python's ``re``, which has no timeout: only a pattern that
cannot backtrack badly is used as a regex (no quantified group, no backreference);
any other is matched as plain text and :attr:`Matcher.simplified` says so.
"""

from __future__ import annotations

import re
import time
from typing import Any

from console.haproxy.regex_guard import repeat_weight, safe_for_re

try:
    import regex
except ImportError:  # the one-file build: Python's re, with the guard below
    regex = None

Key = tuple[str, str]

SEARCH_TIMEOUT = 0.02  # seconds for one search on one name
PASS_BUDGET = 0.5  # seconds of regex searching for one pass over every row
MAX_PATTERN = 500  # characters
MAX_WEIGHT = 10_000  # how many atoms the counted repeats of a pattern may expand to
_CACHE_MAX = 200_000
_REGEX_CHARS = frozenset(".^$*+?{}[]|()\\")


class Matcher:
    """Matches row keys against the filter text; see the module docstring."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.needle = self.text.casefold()
        self.pattern: Any = None  # a compiled pattern (regex's, or re's when it is absent)
        self.simplified = False  # a regex was given but is matched as plain text
        self._cache: dict[Key, bool] = {}
        self._deadline = 0.0
        if _REGEX_CHARS.intersection(self.text):
            if len(self.text) > MAX_PATTERN or repeat_weight(self.text) > MAX_WEIGHT:
                self.simplified = True
                return
            if regex is None and not safe_for_re(self.text):
                self.simplified = True
                return
            engine: Any = regex if regex is not None else re
            try:
                self.pattern = engine.compile(self.text, engine.IGNORECASE)
            except (engine.error, ValueError, OverflowError, RecursionError, MemoryError):
                pass  # not a regex after all: plain text

    @property
    def plain(self) -> bool:
        """Plain (case-insensitive) text matching: :attr:`needle` in ``proxy/name``."""
        return self.pattern is None

    def begin_pass(self) -> None:
        """Start a pass over the rows: the regex gets :data:`PASS_BUDGET` for it."""
        self._deadline = time.monotonic() + PASS_BUDGET

    def __call__(self, key: Key) -> bool:
        pattern = self.pattern
        if pattern is None:
            return self._text(key)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        try:
            hit = bool(self._search(pattern, key[0]) or self._search(pattern, key[1])
                       or self._search(pattern, f"{key[0]}/{key[1]}"))
        except TimeoutError:
            self.pattern, self.simplified = None, True
            self._cache.clear()
            return self._text(key)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = hit
        return hit

    def _search(self, pattern: Any, name: str) -> bool:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if regex is None:  # a pattern that safe_for_re() let through
            return pattern.search(name) is not None
        return pattern.search(name, timeout=min(SEARCH_TIMEOUT, remaining)) is not None

    def _text(self, key: Key) -> bool:
        needle = self.needle
        return needle in key[0].casefold() or needle in key[1].casefold() \
            or needle in f"{key[0]}/{key[1]}".casefold()


class Haystacks:
    """``proxy/name`` casefolded per row key, kept from one filter to the next: plain
    text matching (:meth:`Matcher.plain`) of many rows reads them instead of folding
    three strings per row at each key typed. ``needle in "proxy/name"`` is the plain
    match: the proxy and the name are parts of it, and folding is per character."""

    def __init__(self) -> None:
        self._of: dict[Key, str] = {}
        self._proxies: dict[str, str] = {}
        self._groups: dict[str, str] = {}

    def proxy(self, proxy: str) -> str:
        """``proxy`` casefolded: a needle in it is in every ``proxy/name`` of the proxy."""
        folded = self._proxies.get(proxy)
        if folded is None:
            if len(self._proxies) >= _CACHE_MAX:
                self._proxies.clear()
            folded = self._proxies[proxy] = proxy.casefold()
        return folded

    def folded(self, keys: list[Key]) -> list[str]:
        """``proxy/name`` casefolded, for each key."""
        of = self._of
        try:
            return list(map(of.__getitem__, keys))
        except KeyError:
            if len(of) + len(keys) >= _CACHE_MAX:
                of.clear()
            for key in keys:
                if key not in of:
                    of[key] = f"{key[0]}/{key[1]}".casefold()
            return list(map(of.__getitem__, keys))

    def select(self, needle: str, keys: list[Key]) -> list[Key]:
        """The keys whose ``proxy/name`` holds ``needle`` (casefolded), in order."""
        return [key for key, hay in zip(keys, self.folded(keys), strict=True) if needle in hay]

    def group(self, proxy: str, header: Key, children: list[Key]) -> str:
        """The folded ``proxy/name`` of a proxy's lines (its header, then its
        children), joined by newlines and kept per proxy until :meth:`forget_groups`:
        a needle not in it is in none of them (each is a part of it)."""
        joined = self._groups.get(proxy)
        if joined is None:
            joined = self._groups[proxy] = "\n".join(self.folded([header, *children]))
        return joined

    def forget_groups(self) -> None:
        """The proxies' lines changed."""
        self._groups.clear()

    def clear(self) -> None:
        self._of.clear()
        self._proxies.clear()
        self._groups.clear()


def make_matcher(text: str) -> Matcher | None:
    """Case-insensitive substring, or a regex if *text* has regex characters and
    compiles (bounded as the module docstring says); None for an empty filter."""
    if not text.strip():
        return None
    matcher = Matcher(text)
    matcher.begin_pass()
    return matcher
