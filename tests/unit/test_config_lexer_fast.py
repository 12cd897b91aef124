"""The lexer's fast path (lines without quotes, escapes, CR or NUL) gives exactly the
words, comment start and keyword of the full loop; parsed files are shared safely."""

from __future__ import annotations

import random

from console.haproxy.config import lexer
from console.haproxy.config.model import ConfigFile, Line
from tests.conftest import SHARED

CORPUS = SHARED / "corpus" / "haproxy-configs"
ALPHABET = "ab $#\t\v\f{}-_.:/é\u00a0"


def test_fast_path_equals_the_full_loop_on_random_lines() -> None:
    rng = random.Random(16)
    for _ in range(20_000):
        line = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
        assert lexer.lex(line) == lexer._lex(line), repr(line)
        kw = lexer.first_plain_word(line)
        words = lexer._lex(line).words
        assert kw == (words[0].value if words else None), repr(line)


def test_fast_path_equals_the_full_loop_on_the_corpus() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    assert len(files) > 300, CORPUS
    for path in files:
        for line in path.read_bytes().decode("utf-8", "surrogateescape").split("\n"):
            assert lexer.lex(line) == lexer._lex(line), (path, line)


def test_special_lines_take_the_full_loop() -> None:
    for line in ('a "b c"', "a 'b'", "a\\ b", "a\rb", "a\x00b"):
        assert lexer.first_plain_word(line) is False
        assert Line.make(line, "\n").keyword == lexer._lex(line).words[0].value


def test_a_parsed_file_is_never_shared_between_callers() -> None:
    data = b"global\n    maxconn 10\n\nbackend be\n    server s1 127.0.0.1:80\n"
    a = ConfigFile.parse(data, name="x.cfg")
    b = ConfigFile.parse(data, name="x.cfg")
    a.replace_line(1, "    maxconn 20")
    assert b.lines[1].text == "    maxconn 10"
    assert ConfigFile.parse(data, name="x.cfg").to_bytes() == data
    assert [s.label for s in b.sections] == ["global", "backend be"]
