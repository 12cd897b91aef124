"""The stats page a configuration declares (shown on the help screen)."""

from __future__ import annotations

from pathlib import Path

from console.haproxy.config.model import ConfigFile
from console.haproxy.config.stats_page import find_stats_pages, stats_page_urls

CONFIG = b"""defaults
    stats uri /st
frontend a
    bind :8080
    bind 10.0.0.1:443 ssl crt x
    stats enable
listen stats
    bind 127.0.0.1:9000
    stats uri /stats
    stats auth a:b
listen s2
    bind [::]:81
    bind unix@/x
    stats enable
backend b
    stats enable
frontend plain
    bind :80
"""


def test_sections_with_stats_enable_or_uri_and_their_binds() -> None:
    assert stats_page_urls(ConfigFile.parse(CONFIG)) == [
        "http://127.0.0.1:8080/st", "https://10.0.0.1:443/st",
        "http://127.0.0.1:9000/stats (login)", "http://[::1]:81/st"]


def test_default_uri_and_disabled_lines() -> None:
    cfg = b"listen s\n    bind 127.0.0.1:1\n    stats enable\n.if 0\n    stats uri /x\n.endif\n"
    assert stats_page_urls(ConfigFile.parse(cfg)) == ["http://127.0.0.1:1/haproxy?stats"]


def test_the_lab_config_has_its_page(tmp_path: Path) -> None:

    path = tmp_path / "h.cfg"
    path.write_bytes(b"listen stats\n    bind 127.0.0.1:4567\n    stats enable\n"
                     b"    stats uri /stats\n")
    assert find_stats_pages(str(path)) == ["http://127.0.0.1:4567/stats"]
    assert find_stats_pages(str(tmp_path / "missing.cfg")) == []
