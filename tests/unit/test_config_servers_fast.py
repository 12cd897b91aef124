"""The servers of a file read by the fast path for plain ``server`` lines (no quotes,
escapes, CR or NUL) are exactly those the full parse of every line gives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from console.haproxy.config import servers
from console.haproxy.config.fileset import link
from console.haproxy.config.lexer import _lex, plain_words
from console.haproxy.config.servers import ServerBrief, server_briefs, server_lines
from tests.unit.test_config_roundtrip import _id, corpus_params, require_corpus


def _both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    fast = {}
    for cfg in link([("a.cfg", data)]):
        fast.update(server_lines(cfg))
        _same_briefs(cfg, fast)
    with monkeypatch.context() as m:
        m.setattr(servers, "plain_words", lambda text: None)  # every line fully parsed
        full = {}
        for cfg in link([("a.cfg", data)]):
            cfg.plain = False  # (not split by str.split() either)
            full.update(server_lines(cfg))
    return fast, full


def _same_briefs(cfg: object, infos: dict) -> None:
    """The drift's brief of every server is what the full reading says of it."""
    briefs = server_briefs(cfg)  # type: ignore[arg-type]
    mine = {k: v for k, v in infos.items() if k in briefs}
    assert list(briefs) == list(mine)
    assert briefs == {k: ServerBrief(bool(i.disabled), i.weight, i.template, i.conditional)
                      for k, i in mine.items()}


@pytest.mark.parametrize("path", corpus_params(), ids=_id)
def test_fast_path_on_the_corpus(path: Path | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if path is None:
        require_corpus()
        return
    fast, full = _both(path.read_bytes(), monkeypatch)
    assert fast == full
    assert list(fast) == list(full)


WORDS = ["weight", "10", "0", "x1", "maxconn", "100", "disabled", "enabled", "backup",
         "no-backup", "check", "no-check", "inter", "2s", "cookie", "foo", "frobnicate",
         "weight(1)", "check(x)", "ssl", "verify", "none", "#", "#c", "$V", "${V}", "é",
         "\u00a0", "track", "b/s", "agent-check", "on-error", "mark-down", "-", "1e3"]
ADDRS = ["10.0.0.1:80", "[::1]:443", "unix@/run/s.sock", "/tmp/x", "h:", "ipv4@1.2.3.4:8",
         "host", "::1:", "a:b:c"]
BLANKS = [" ", "  ", "\t", " \t", "\v", "\f"]


def _line(rng: random.Random) -> str:
    kind = rng.choice(["server", "server", "server", "default-server", "server-template"])
    words = [kind]
    if kind == "server":
        words += [f"s{rng.randint(0, 5)}"][:rng.choice([0, 1, 1, 1, 1])]
        if len(words) > 1 and rng.random() < 0.95:
            words.append(rng.choice(ADDRS))
    elif kind == "server-template":
        words += ["t", str(rng.randint(1, 3)), rng.choice(ADDRS)]
    words += [rng.choice(WORDS) for _ in range(rng.randint(0, 9))]
    text = rng.choice(["", "  ", "\t"]) + "".join(w + rng.choice(BLANKS) for w in words)
    if rng.random() < 0.05:
        text += rng.choice(['"q"', "'q'", "\\ ", "a\rb"])
    return text


def test_fast_path_on_random_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(16)
    for _ in range(300):
        out = ["defaults d", "  " + _line(rng).replace("server-template", "default-server")]
        for b in range(3):
            out.append(f"backend b{b}" + rng.choice(["", " from d"]))
            out += [_line(rng) for _ in range(rng.randint(0, 8))]
        data = "\n".join(out).encode("utf-8", "surrogateescape")
        fast, full = _both(data, monkeypatch)
        assert fast == full, data


def test_plain_files_split_as_the_lexer() -> None:
    """A file that splits plainly gives each line's words by str.split()."""
    from console.haproxy.config.model import splits_plainly

    rng = random.Random(9)
    for _ in range(5000):
        line = _line(rng)
        if splits_plainly(line):
            body = line.split("#", 1)[0]
            assert body.split() == [w.value for w in _lex(line).words], repr(line)
    for text in ("a\x1cb", "a\u00a0b", "a\u2003b", "a\rb", "'a'", "a\\ b", "a\x00"):
        assert not splits_plainly(text), repr(text)


def test_plain_words_are_the_lexers() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        line = _line(rng)
        words = plain_words(line)
        if words is not None:
            assert words == [w.value for w in _lex(line).words], repr(line)
