"""The name filter when the ``regex`` package is absent (the one-file build)."""

from __future__ import annotations

import time

import pytest

from console import name_filter


@pytest.fixture
def no_regex(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(name_filter, "regex", None)


def test_a_plain_regex_still_works(no_regex: None) -> None:
    m = name_filter.make_matcher("^be_(web|api)$")
    assert m is not None and m.pattern is not None and not m.simplified
    assert m(("be_web", "BACKEND")) and m(("BE_API", "x")) and not m(("be_webx", "y"))


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|aa)*c", r"(x+)\1y", "(?P<n>a+)(?P=n)+"])
def test_a_pattern_that_could_freeze_re_is_plain_text(no_regex: None, pattern: str) -> None:
    m = name_filter.make_matcher(pattern)
    assert m is not None and m.pattern is None and m.simplified
    started = time.monotonic()
    assert not m(("a" * 5000 + "!", "b" * 5000))
    assert time.monotonic() - started < 1.0
