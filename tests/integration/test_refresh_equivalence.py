"""The fast refresh path (rows reused across answers, rates/history/events skipping
unchanged rows) gives exactly what the plain path gives: on captured answers edited in
every way a refresh can differ, and on real answers of each HAProxy binary under churn
(the same checks ``make bench`` runs before measuring, ``bench/verify.py``). Partial
polls of large instances read, for the rows on screen, what a full poll reads."""

from __future__ import annotations

from bench import verify


def test_captured_answers_edited() -> None:
    verify.test_captured_sequences()


def test_header_changes_and_broken_answers() -> None:
    verify.test_header_change_and_errors()


def test_real_answers_under_churn(haproxy_binary) -> None:
    info, texts = verify.real_answers(haproxy_binary.path, 400, 6)
    assert len(texts) == 6
    verify.check_sequence(info, texts)


def test_partial_polls_read_what_full_polls_read(haproxy_binary) -> None:
    verify.test_partial_polls_captured()
    verify.check_partial_real(haproxy_binary.path)
