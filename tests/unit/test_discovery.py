from __future__ import annotations

from console.haproxy.discovery import parse_cmdline, stats_sockets_in_config


def test_debian_command_line() -> None:
    argv = ["/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-p",
            "/run/haproxy.pid", "-S", "/run/haproxy-master.sock"]
    c = parse_cmdline(argv)
    assert c.config_files == ["/etc/haproxy/haproxy.cfg"]
    assert c.master_socket == "/run/haproxy-master.sock"
    assert c.master_worker and c.pidfile == "/run/haproxy.pid"
    assert c.check_args == ["-W"]


def test_reexecuted_master_and_relative_paths() -> None:
    argv = ["haproxy", "-W", "-S", "unix@master.sock,mode,600", "-f", "a.cfg", "-f",
            "conf.d", "-C", "/srv/ha", "-x", "/run/x.sock", "-sf", "123", "456", "-f", "b.cfg"]
    c = parse_cmdline(argv, cwd="/work")
    assert c.config_files == ["/work/a.cfg", "/work/conf.d", "/work/b.cfg"]
    assert c.master_socket == "/work/master.sock"
    assert c.chdir == "/srv/ha"
    assert c.check_args == ["-W", "-C", "/srv/ha"]


def test_stats_sockets_from_config() -> None:
    text = """global
    stats socket /run/haproxy/admin.sock mode 660 level admin
    stats socket ipv4@127.0.0.1:9999 level operator  # tcp
    # stats socket /commented.sock
defaults
    stats socket /not/global.sock
"""
    assert stats_sockets_in_config(text) == [("/run/haproxy/admin.sock", "admin"),
                                             ("ipv4@127.0.0.1:9999", "operator")]


def _every_line(text: str) -> list[tuple[str, str]]:
    """The same reading, line by line over the whole file."""
    import shlex

    from console.haproxy.lines import split_lf

    found: list[tuple[str, str]] = []
    in_global = False
    for raw in split_lf(text):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        first = line.split()[0]
        if first in ("global", "defaults", "frontend", "backend", "listen", "peers",
                     "resolvers", "userlist", "ring", "cache", "http-errors", "mailers",
                     "program", "log-forward", "crt-store", "traces", "acme"):
            in_global = first == "global"
            continue
        if in_global:
            try:
                words = shlex.split(line)
            except ValueError:
                continue
            if len(words) >= 3 and words[:2] == ["stats", "socket"]:
                level = words[words.index("level", 3) + 1] if "level" in words[3:-1] \
                    else "operator"
                found.append((words[2].removeprefix("unix@"), level))
    return found


def test_only_global_sections_are_read_the_same_way() -> None:
    from tests.unit.test_config_roundtrip import corpus_files

    texts = [p.read_text(encoding="utf-8", errors="replace") for p in corpus_files()]
    texts += [
        "global\r\n  stats socket /a.sock level admin\r\nbackend b\r\n",
        "  global  # x\n stats socket /a level user\n\u00a0backend\u00a0b\n stats socket /b\n",
        "global#c\nstats socket /a\nglobalx\nstats socket /b\nbackend#\nstats socket /c\n"
        "\tglobal\nstats socket /d level\nstats socket 'unix@/e f' level admin",
        "stats socket /before\nglobal\nstats socket /last",
        "global\n\x0bstats socket /vt\n\x1cbackend b\nstats socket /fs\n",
    ]
    for text in texts:
        assert stats_sockets_in_config(text) == _every_line(text), text[:200]
