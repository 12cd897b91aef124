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
