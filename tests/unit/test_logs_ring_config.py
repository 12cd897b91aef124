"""``config add-log-ring``'s edits, as ops applied to configuration text."""

from __future__ import annotations

import pytest

from console.haproxy.config.model import ConfigFile
from console.haproxy.config.ops import apply_ops
from console.haproxy.errors import ValidationError
from console.haproxy.logs.ring_config import log_ring_ops, parse_size

CFG = b"""\
global
    log /dev/log local0

defaults
    mode http
    option httplog

frontend fe_a
    bind :80

listen li_b
    bind :81
    no option httplog
"""


def _apply(data: bytes, **kwargs: object) -> tuple[str, list[str]]:
    ops, notes = log_ring_ops(ConfigFile.parse(data, "h.cfg"), **kwargs)  # type: ignore[arg-type]
    return apply_ops(data, ops, "h.cfg").decode(), notes


def test_global_line_and_log_global_in_defaults() -> None:
    text, notes = _apply(CFG, name="r1", size=65536)
    assert "    log /dev/log local0\n    log ring@r1 local0 info\n" in text
    assert "    option httplog\n    log global\n" in text
    assert text.endswith("ring r1\n    description \"haconsole log ring\"\n"
                         "    format rfc5424\n    maxlen 4096\n    size 65536\n")
    assert any("li_b" in n and "per connection" in n for n in notes)
    assert not any("fe_a" in n for n in notes)


def test_named_frontends_get_their_own_line() -> None:
    text, _ = _apply(CFG, name="r1", frontends=["fe_a"])
    assert "frontend fe_a\n    bind :80\n    log ring@r1 local0 info\n" in text
    assert "ring@r1" not in text.split("defaults")[0]  # not in global
    with pytest.raises(ValidationError, match="no frontend or listen section named"):
        _apply(CFG, frontends=["nope"])


def test_an_existing_ring_and_bad_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="already exists"):
        _apply(CFG + b"\nring haconsole_logs\n    size 65536\n")
    for bad in ("a b", "x;y", "", "r:1"):
        with pytest.raises(ValidationError):
            _apply(CFG, name=bad)


def test_defaults_with_a_log_line_are_left_alone() -> None:
    data = CFG.replace(b"    option httplog\n", b"    option httplog\n    log global\n")
    text, _ = _apply(data)
    assert text.count("log global") == 1


def test_sizes() -> None:
    assert parse_size("1m") == 1 << 20
    assert parse_size("512k") == 512 << 10
    assert parse_size("65536") == 65536
    for bad in ("1x", "", "-1", "1k", "2g"):
        with pytest.raises(ValidationError):
            parse_size(bad)
