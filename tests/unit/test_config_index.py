"""The index of a config file (sections, ``.if`` depths, marked lines) found by one scan
of the text is the one every line's first word gives; an edit of one line keeps it as
a full re-index would."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from console.haproxy.config.model import MARKED, ConfigFile, Line
from tests.unit.test_config_roundtrip import _id, corpus_params, require_corpus


def _slow_marks(cfg: ConfigFile) -> dict[int, str]:
    """Every line lexed on its own (a new Line: nothing cached)."""
    out = {}
    for i, line in enumerate(cfg.lines):
        kw = Line(line.text, line.eol).keyword
        if kw in MARKED:
            out[i] = kw
    return out


def _index(cfg: ConfigFile) -> tuple[object, ...]:
    return cfg.sections, cfg._depth, cfg._block_end, cfg.marks


def _fresh(cfg: ConfigFile) -> ConfigFile:
    return ConfigFile([Line(line.text, line.eol) for line in cfg.lines], bom=cfg.bom)


TRICKY = [
    "backend a\n  server s 1.1.1.1:80\n",
    "backend#comment\n  server s 1.1.1.1:80\n",
    "'backend' quoted\n  server s 1.1.1.1:80\n",
    '"back"end joined\n  server s 1.1.1.1:80\n',
    "back\\end escaped\nbackend\\ x\n",
    "\v\fbackend vt\n\tbackend tab\n",
    "backendx not\nbackend-x not\n# backend no\n  #backend no\n",
    "backend crlf\r\n  server s 1.1.1.1:80\r\n\r\n",
    "backend\rinner cr\nbackend b\r",
    "backend \x00nul\n\x00backend no\n",
    "global\n  setenv A 1\n  'presetenv' B 2\n.if defined(A)\nbackend x\n.endif\n",
    ".if 1\n.if 0\nbackend y\n.elif 1\n.else\n.endif\n.notice hi\n",
    ".endif\n.else\nfrontend f\n.if 1\n",
    "\ufeffbackend bom-like\nbackend caf\u00e9\n",
    "listen l\nlog-forward lf\nlog-profile lp\nfcgi-app f\ntraces\nacme a\ncrt-store c\n",
    "",
    "\n\n",
    "backend last-no-newline",
]


@pytest.mark.parametrize("text", TRICKY)
def test_scan_finds_what_every_line_says(text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    cfg = ConfigFile.parse(data)
    assert cfg.marks == _slow_marks(cfg)
    assert _index(cfg) == _index(_fresh(cfg))
    assert cfg.to_bytes() == data


@pytest.mark.parametrize("path", corpus_params(), ids=_id)
def test_scan_on_the_corpus(path: Path | None) -> None:
    if path is None:
        require_corpus()
        return
    cfg = ConfigFile.parse(path.read_bytes(), path.name)
    assert cfg.marks == _slow_marks(cfg)


def _random_edits(cfg: ConfigFile, rng: random.Random, count: int) -> None:
    plain = ["    server n{} 10.0.0.{}:80", "    # a comment {}", "", "   ",
             "    timeout server {}s", "    server 'q{}' 10.0.0.{}:80 weight 5"]
    marked = ["backend new{}", ".if defined(X{})", ".endif", "  setenv V{} 1", "frontend f{}"]
    for k in range(count):
        choice = rng.random()
        pool = marked if rng.random() < 0.1 else plain
        text = rng.choice(pool).format(k, k % 250)
        if choice < 0.4 and cfg.lines:
            cfg.replace_line(rng.randrange(len(cfg.lines)), text)
        elif choice < 0.75:
            cfg.insert_line(rng.randrange(len(cfg.lines) + 1), text)
        elif cfg.lines:
            cfg.delete_line(rng.randrange(len(cfg.lines)))
        assert _index(cfg) == _index(_fresh(cfg)), (k, text)


@pytest.mark.parametrize("seed", range(6))
def test_line_edits_keep_the_index_a_full_reindex_gives(seed: int) -> None:
    rng = random.Random(seed)
    body = ["global", "    maxconn 10", "", "defaults", "    mode http", ""]
    for b in range(6):
        body += [f"backend be{b}", "    balance roundrobin"]
        body += [f"    server s{s} 10.0.{b}.{s}:80" for s in range(rng.randrange(0, 4))]
        body += ["    # trailing"] * rng.randrange(0, 2) + [""] * rng.randrange(0, 2)
    cfg = ConfigFile.parse(("\n".join(body) + ("\n" if seed % 2 else "")).encode())
    _random_edits(cfg, rng, 60)


def test_a_copy_keeps_its_index_when_the_other_is_edited() -> None:
    cfg = ConfigFile.parse(b"backend a\n    server s 1.1.1.1:80\nbackend b\n")
    before = _index(cfg)
    copy = cfg.copy()
    copy.insert_line(2, "    server t 1.1.1.2:80")
    copy.delete_line(1)
    assert _index(cfg) == before
    assert ConfigFile.parse(b"backend a\n    server s 1.1.1.1:80\nbackend b\n").sections \
        == cfg.sections


def _headers_every_line(text: str) -> list[tuple[int, str]]:
    """The staging's section headers, read line by line over the whole text."""
    from console.haproxy.lines import split_lf
    from console.haproxy.staging import SECTION_KEYWORDS, config_words

    found = []
    for n, line in enumerate(split_lf(text), 1):
        words = config_words(line)
        if words and words[0] in SECTION_KEYWORDS:
            found.append((n, words[0] if len(words) == 1 or words[1] == "from"
                          else f"{words[0]} {words[1]}"))
    return found


@pytest.mark.parametrize("text", TRICKY + [
    "\u00a0backend nbsp\n\x1cfrontend fs\nbackend\\ x\nbackend\"q\" y\nbackend from d\n",
    "backend a\r\nbackend b\rc\r\n  defaults\tfrom x\r",
])
def test_diff_sections_found_by_one_search(text: str) -> None:
    from console.haproxy.staging import section_headers

    assert section_headers(text) == _headers_every_line(text)


def test_diff_sections_on_the_corpus() -> None:
    from console.haproxy.staging import section_headers
    from tests.unit.test_config_roundtrip import corpus_files

    for path in corpus_files():
        text = path.read_bytes().decode("utf-8", "replace")
        assert section_headers(text) == _headers_every_line(text), path.name


def _big_config(rng: random.Random, backends: int) -> list[str]:
    out = ["global\n", "    maxconn 100\n", "\n", "defaults\n", "    mode http\n", "\n"]
    for b in range(backends):
        out += [f"backend be{b}\n", "    balance roundrobin\n", "\n" * rng.randrange(0, 2)]
        out += [f"    server s{s} 10.{b}.0.{s}:80 weight {rng.randrange(9)}\n"
                for s in range(rng.randrange(0, 6))]
        out += ["\n"]
    return [line for line in out if line]


@pytest.mark.parametrize("seed", range(150))
def test_a_big_files_diff_is_difflibs(seed: int) -> None:
    import difflib

    from console.haproxy.staging import _unified_lines

    rng = random.Random(seed)
    a = _big_config(rng, 500)
    b = list(a)
    pool = ["\n", "    balance roundrobin\n", "    server n 1.1.1.1:80\n", "backend x\n",
            f"    server u{seed} 2.2.2.2:80\n"]
    spread = rng.choice([20, 200, len(b)])
    base = rng.randrange(len(b))
    for _ in range(rng.randrange(1, 6)):
        at = min(len(b) - 1, base + rng.randrange(spread))
        kind = rng.random()
        if kind < 0.4:
            b[at] = rng.choice(pool + [b[at].replace("weight", "weight 1")])
        elif kind < 0.7:
            b.insert(at, rng.choice(pool + [b[at]]))
        else:
            del b[at]
    if seed % 5 == 0:
        b[-1] = b[-1].rstrip("\n")
    assert _unified_lines(a, b, "x (live)", "x (staged)") == \
        list(difflib.unified_diff(a, b, fromfile="x (live)", tofile="x (staged)"))
