"""Serializable edit operations: apply_ops, describe_op, and random op sequences on the corpus."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

from console.haproxy.config import (
    ConfigFile,
    StaleBase,
    apply_ops,
    describe_op,
    replace_op,
    server_lines,
)
from console.haproxy.config.edit import find_server
from console.haproxy.config.ops import apply_op
from console.haproxy.errors import ValidationError
from tests.unit.test_config_edit import APP, changes
from tests.unit.test_config_roundtrip import require_corpus


def test_server_set() -> None:
    op = {"op": "server_set", "backend": "be_app", "server": "web1",
          "set": {"weight": "50", "maxconn": "200", "disabled": True}}
    out = apply_ops(APP, [op])
    removed, added = changes(APP, out)
    assert removed == ["    server web1 10.0.0.1:80 check weight 10 maxconn 100   # primary\r\n"]
    assert added == ["    server web1 10.0.0.1:80 check weight 50 maxconn 200 disabled"
                     "   # primary\r\n"]


def test_every_op_kind() -> None:
    ops: list[dict[str, Any]] = [
        {"op": "server_add", "backend": "be_app", "server": "web4", "addr": "10.0.0.4:80",
         "params": {"weight": "10", "check": True}},
        {"op": "server_del", "backend": "be_app", "server": "web3"},
        {"op": "server_set", "backend": "be_app", "server": "web2", "set": {"enabled": True,
                                                                            "addr": "[::1]:81"}},
        {"op": "keyword_set", "section": ["backend", "be_app"], "keyword": ["timeout", "server"],
         "value": ["30s"]},
        {"op": "keyword_set", "section": ["global"], "keyword": ["maxconn"], "value": ["500"]},
        {"op": "keyword_del", "section": ["defaults", None], "keyword": ["timeout", "server"]},
        {"op": "section_add", "section": ["backend", "be_new"],
         "lines": ["balance roundrobin", "server s1 10.0.0.1:80 check"]},
    ]
    out = apply_ops(APP, ops)
    text = out.decode()
    assert "    server web4 10.0.0.4:80 weight 10 check\r\n" in text
    assert "web3" not in text
    assert "\tserver web2 [::1]:81 check\r\n" in text
    assert "    timeout server   30s   # slow app\r\n" in text
    assert "    daemon\r\n    maxconn 500\r\n" in text
    assert "timeout server 10s" not in text
    assert text.endswith("\r\n\r\nbackend be_new\r\n    balance roundrobin\r\n"
                         "    server s1 10.0.0.1:80 check\r\n")
    assert "\n" not in text.replace("\r\n", "")  # the CRLF file stays CRLF
    assert apply_ops(APP, ops) == out  # deterministic


def test_ops_are_not_modified_and_input_kept() -> None:
    ops = [{"op": "server_set", "backend": "be_app", "server": "web1", "set": {"weight": "5"}}]
    saved = copy.deepcopy(ops)
    apply_ops(APP, ops)
    assert ops == saved


def test_ops_reapply_on_a_changed_file() -> None:
    ops = [{"op": "server_set", "backend": "be_app", "server": "web1", "set": {"weight": "60"}},
           {"op": "server_add", "backend": "be_app", "server": "web9", "addr": "10.0.0.9:80"}]
    changed = APP.replace(b"# The application.\r\n", b"# The application.\r\n# more\r\n")
    changed = changed.replace(b"web3 10.0.0.3:80 backup", b"web3 10.0.0.33:80 backup")
    out = apply_ops(changed, ops)
    removed, added = changes(changed, out)
    assert len(removed) == 1 and len(added) == 2
    assert b"web3 10.0.0.33:80 backup\r\n    server web9 10.0.0.9:80\r\n" in out


@pytest.mark.parametrize("op,match", [
    ({"op": "nope"}, "unknown edit operation"),
    ("server_set", "must be a dict"),
    ({"op": "server_set", "backend": "be_app", "server": "web1"}, "missing set"),
    ({"op": "server_del", "backend": "be_app", "server": "web1", "force": True}, "unknown key"),
    ({"op": "server_set", "backend": "be_app", "server": "web1", "set": [1]}, "must be a dict"),
    ({"op": "keyword_set", "section": "global", "keyword": ["x"], "value": []}, "must be a list"),
    ({"op": "keyword_set", "section": ["backend", "a", "b"], "keyword": ["x"], "value": []},
     "section must be"),
    ({"op": "server_del", "backend": 1, "server": "web1"}, "must be text"),
    ({"op": "server_set", "backend": "be_x", "server": "web1", "set": {"weight": "1"}},
     "no backend be_x"),
    ({"op": "server_set", "backend": "be_app", "server": "web1", "set": {"cookie": "a\nb"}},
     "control character"),
    ({"op": "keyword_set", "section": ["backend", "be_app"], "keyword": ["timeout", "server"],
      "value": ["1s\n"]}, "control character"),
])
def test_bad_ops(op: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        apply_ops(APP, [op])


def test_replace() -> None:
    new = APP.replace(b"daemon", b"daemon\r\n    nbthread 2")
    assert apply_ops(APP, [{"op": "replace", "text": new.decode()}]) == new
    assert apply_ops(APP, [replace_op(APP, new)]) == new
    with pytest.raises(StaleBase, match="another version"):
        apply_ops(APP + b"# changed\r\n", [replace_op(APP, new)])
    odd = b"global\n  description \xff\xfe\n"
    assert apply_ops(APP, [replace_op(APP, odd)]) == odd
    # a raw edit followed by structured ones
    ops = [replace_op(APP, new), {"op": "server_del", "backend": "be_app", "server": "web1"}]
    assert b"web1" not in apply_ops(APP, ops)


def test_describe_op() -> None:
    op = {"op": "server_set", "backend": "be_app", "server": "web1", "set": {"weight": "50"}}
    assert describe_op(op, APP) == "backend be_app: server web1 weight 10 → 50"
    assert describe_op(op) == "backend be_app: server web1 weight → 50"
    op = {"op": "server_set", "backend": "be_app", "server": "web2",
          "set": {"disabled": False, "backup": True, "maxconn": "9"}}
    assert describe_op(op, APP) == ("backend be_app: server web2 disabled on → off, "
                                    "backup off → on, maxconn → 9")
    assert describe_op({"op": "server_add", "backend": "b", "server": "s", "addr": "1.1.1.1:80",
                        "params": {"weight": "3", "check": True, "disabled": False}}) == (
        "backend b: add server s 1.1.1.1:80 weight 3 check enabled")
    assert describe_op({"op": "server_del", "backend": "b", "server": "s"}) == (
        "backend b: remove server s")
    kw = {"op": "keyword_set", "section": ["backend", "be_app"], "keyword": ["timeout", "server"],
          "value": ["30s"]}
    assert describe_op(kw, APP) == "backend be_app: timeout server 20s → 30s"
    assert describe_op(kw) == "backend be_app: timeout server → 30s"
    assert describe_op({"op": "keyword_del", "section": ["global"], "keyword": ["daemon"]}) == (
        "global: remove daemon")
    assert describe_op({"op": "section_add", "section": ["backend", "x"], "lines": ["a b"]}) == (
        "add backend x (1 line)")
    assert describe_op({"op": "replace", "text": ""}) == "raw edit of the whole file"
    assert describe_op({"op": "replace", "text": "", "note": "rollback"}) == (
        "raw edit of the whole file: rollback")
    assert describe_op({"op": "bogus"}).startswith("invalid edit")


# -- random sequences on the corpus ----------------------------------------------------------

ODD_VALUES = ["a b", "x#y", "it's", "$HOME", 'q"q', "a;b", "plain", "\\", "é"]


def _random_op(rng: random.Random, cfg: ConfigFile, n: int) -> dict[str, Any]:
    servers = list(server_lines(cfg))
    backends = [s.name for s in cfg.backends() if s.name]
    sections = [[s.type, s.name] for s in cfg.sections]
    kind = rng.choice(["server_set"] * 4 + ["server_add", "server_del", "keyword_set",
                                            "keyword_del", "section_add"])
    if kind in ("server_set", "server_del") and servers:
        backend, server = rng.choice(servers)
        if kind == "server_del":
            return {"op": kind, "backend": backend, "server": server}
        choices: dict[str, Any] = {
            "weight": str(rng.randint(0, 256)), "maxconn": str(rng.randint(0, 5000)),
            "disabled": rng.random() < 0.5, "backup": rng.random() < 0.5,
            "check": rng.random() < 0.5, "cookie": rng.choice(ODD_VALUES),
            "addr": f"10.{rng.randint(0, 255)}.0.{rng.randint(1, 254)}:{rng.randint(1, 65535)}",
            "inter": f"{rng.randint(1, 9)}s", "enabled": rng.random() < 0.5}
        keys = rng.sample(sorted(choices), rng.randint(1, 3))
        return {"op": kind, "backend": backend, "server": server,
                "set": {k: choices[k] for k in keys}}
    if kind == "server_add" and backends:
        params = {"weight": str(rng.randint(0, 256))} if rng.random() < 0.5 else {}
        if rng.random() < 0.5:
            params["check"] = True  # type: ignore[assignment]
        return {"op": kind, "backend": rng.choice(backends), "server": f"rnd{n}",
                "addr": f"127.0.0.{rng.randint(1, 254)}:{rng.randint(1, 65535)}",
                "params": params}
    if kind in ("keyword_set", "keyword_del") and sections:
        keyword = rng.choice([["timeout", "server"], ["maxconn"], ["description"],
                              ["balance"], ["option", "httplog"]])
        op: dict[str, Any] = {"op": kind, "section": rng.choice(sections), "keyword": keyword}
        if kind == "keyword_set":
            op["value"] = [rng.choice(ODD_VALUES)] if keyword[0] == "description" else (
                [] if keyword[0] == "option" else [str(rng.randint(1, 99))])
        return op
    return {"op": "section_add", "section": ["backend", f"be_rnd{n}"],
            "lines": ["balance roundrobin", f"server s{n} 127.0.0.1:{1000 + n} check"]}


def _check_step(before: bytes, after: bytes, op: dict[str, Any]) -> None:
    assert ConfigFile.parse(after).to_bytes() == after
    removed, added = changes(before, after)
    last = before.decode("utf-8", "surrogateescape").splitlines(True)[-1:] if before else []
    eol_fix = removed == last and bool(last) and not last[0].endswith("\n")
    kind = op["op"]
    if kind in ("server_set", "keyword_set"):
        assert len(removed) <= 1 and len(added) - len(removed) in (0, 1), (removed, added)
    elif kind == "server_add":
        assert (removed == [] or eol_fix) and len(added) == 1 + len(removed)
    elif kind in ("server_del", "keyword_del"):
        assert len(removed) == 1 and added == []
    elif kind == "section_add":
        assert removed == [] or eol_fix
        assert len(added) - len(removed) in (len(op["lines"]) + 1, len(op["lines"]) + 2)


def _sample_corpus(count: int, seed: int) -> list[Path]:
    files = require_corpus()
    return random.Random(seed).sample(files, min(count, len(files)))


@pytest.mark.parametrize("seed", range(8))
def test_random_op_sequences_on_corpus(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for path in _sample_corpus(12, seed):
        original = path.read_bytes()
        data = original
        applied: list[dict[str, Any]] = []
        for n in range(20):
            cfg = ConfigFile.parse(data, path.name)
            op = _random_op(rng, cfg, n)
            try:
                out = apply_ops(data, [op], path.name)
            except ValidationError:
                in_place = ConfigFile.parse(data, path.name)
                with pytest.raises(ValidationError):
                    apply_op(in_place, op)
                assert in_place.to_bytes() == data  # a refused edit changes nothing
                continue
            _check_step(data, out, op)
            if op["op"] == "server_set":
                section, index, _ = find_server(cfg, op["backend"], op["server"])
                removed, _ = changes(data, out)
                assert removed in ([], [cfg.lines[index].raw])
            describe_op(op, data)
            applied.append(op)
            data = out
        assert apply_ops(original, applied, path.name) == data  # replayable


def test_one_command_reads_a_text_once_for_its_descriptions(monkeypatch) -> None:
    """Within reusing_readings (one CLI command), the edits described on one text parse
    it once, a file alone in its set being the same reading as no set; another text
    is read again; outside, nothing is kept (a long-lived console keeps no model)."""
    from console.haproxy.config import ops
    from console.haproxy.config.fileset import SetContext

    parsed: list[bytes] = []
    real = ConfigFile.parse.__func__  # type: ignore[attr-defined]

    def counting(cls: type[ConfigFile], data: bytes, *args: Any, **kwargs: Any) -> Any:
        parsed.append(data)
        return real(cls, data, *args, **kwargs)

    monkeypatch.setattr(ConfigFile, "parse", classmethod(counting))
    first = {"op": "server_set", "backend": "be_app", "server": "web1", "set": {"weight": "50"}}
    second = {"op": "server_set", "backend": "be_app", "server": "web2",
              "set": {"maxconn": "9"}}
    with ops.reusing_readings():
        one = describe_op(first, APP)
        two = describe_op(second, APP, context=SetContext())
        assert describe_op(first, APP + b"\n") == one  # another text: read again
    assert len(parsed) == 2 and "weight 10 → 50" in one and "maxconn" in two
    assert ops._READINGS is None
    parsed.clear()
    assert describe_op(first, APP) == one and describe_op(first, APP) == one
    assert len(parsed) == 2  # nothing kept outside
