"""A configuration in several files: HAProxy's order, names resolved across the files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.haproxy.config import ConfigFile, apply_ops, server_lines
from console.haproxy.config.fileset import SetContext, expand_paths, link, route
from console.haproxy.errors import ConfigError, ValidationError

MAIN = b"""\
global
    stats socket /run/haproxy/admin.sock level admin

defaults
    mode http
    default-server disabled weight 5

frontend fe
    bind :80
    default_backend be_app

backend be_app
    server app1 10.0.0.1:80 enabled
    server app2 10.0.0.2:80 enabled
"""
MIRROR = b"""\
backend be_mirror
    server m1 10.0.0.9:80 track be_app/app1
    server m2 10.0.0.8:80
"""


def test_directories_expand_like_haproxy(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir()
    for name in ("b.cfg", "a.cfg", ".hidden.cfg", "c.cfg.bak", "d.cfg.cfg", "e.txt", "Z.cfg",
                 "_x.cfg", "10.cfg", "9.cfg"):
        (d / name).write_text("")
    (d / "sub.cfg").mkdir()  # not a regular file
    os.symlink(d / "a.cfg", d / "l.cfg")  # followed, like stat()
    os.symlink(tmp_path / "missing", d / "broken.cfg")
    main = tmp_path / "main.cfg"
    main.write_text("")
    files = expand_paths([str(main), str(d) + "/", "rel.cfg"], cwd=str(tmp_path))
    names = [os.path.relpath(f, tmp_path) for f in files]
    assert names == ["main.cfg", "conf.d/10.cfg", "conf.d/9.cfg", "conf.d/Z.cfg",
                     "conf.d/_x.cfg", "conf.d/a.cfg", "conf.d/b.cfg", "conf.d/l.cfg", "rel.cfg"]


def files(cond: object = None) -> list[ConfigFile]:
    return link([("/etc/haproxy/haproxy.cfg", MAIN), ("/etc/haproxy/conf.d/mirror.cfg", MIRROR)])


def context(k: int) -> SetContext:
    named = [("/etc/haproxy/haproxy.cfg", MAIN), ("/etc/haproxy/conf.d/mirror.cfg", MIRROR)]
    return SetContext(tuple(named[:k]), tuple(named[k + 1:]))


def test_default_server_of_an_earlier_file_applies() -> None:
    mirror = files()[1]
    info = server_lines(mirror)[("be_mirror", "m2")]
    assert (info.disabled, info.weight) == (True, 5)
    alone = server_lines(ConfigFile.parse(MIRROR))[("be_mirror", "m2")]
    assert (alone.disabled, alone.weight) == (False, 1)
    # enabling m2 must say "enabled": the defaults of the other file disable it
    out = apply_ops(MIRROR, [{"op": "server_set", "backend": "be_mirror", "server": "m2",
                              "set": {"disabled": False}}], "/etc/haproxy/conf.d/mirror.cfg",
                    context=context(1))
    assert b"    server m2 10.0.0.8:80 enabled\n" in out


def test_named_defaults_are_found_in_an_earlier_file() -> None:
    main = MAIN.replace(b"defaults\n", b"defaults base\n")
    mirror = MIRROR.replace(b"backend be_mirror", b"backend be_mirror from base")
    cfgs = link([("/a.cfg", main), ("/b.cfg", mirror)])
    assert server_lines(cfgs[1])[("be_mirror", "m2")].weight == 5


def test_a_server_tracked_from_another_file_cannot_be_removed() -> None:
    with pytest.raises(ValidationError) as err:
        apply_ops(MAIN, [{"op": "server_del", "backend": "be_app", "server": "app1"}],
                  "/etc/haproxy/haproxy.cfg", context=context(0))
    assert "still used" in str(err.value)
    assert "/etc/haproxy/conf.d/mirror.cfg:2" in str(err.value)
    out = apply_ops(MAIN, [{"op": "server_del", "backend": "be_app", "server": "app2"}],
                    "/etc/haproxy/haproxy.cfg", context=context(0))
    assert b"app2" not in out


def test_a_new_section_may_not_clash_with_another_file() -> None:
    with pytest.raises(ValidationError, match="backend be_mirror already exists") as err:
        apply_ops(MAIN, [{"op": "section_add", "section": ["backend", "be_mirror"],
                          "lines": []}], "/etc/haproxy/haproxy.cfg", context=context(0))
    assert "/etc/haproxy/conf.d/mirror.cfg:1" in str(err.value)


def test_edits_land_in_the_file_holding_the_line() -> None:
    cfgs = files()
    assert route(cfgs, {"op": "server_set", "backend": "be_mirror", "server": "m1"}) == 1
    assert route(cfgs, {"op": "server_add", "backend": "be_app", "server": "x"}) == 0
    assert route(cfgs, {"op": "keyword_set", "section": ["global"]}) == 0
    assert route(cfgs, {"op": "section_add", "section": ["backend", "new"]}) == 1
    assert route(cfgs, {"op": "section_add", "section": ["peers", "p"]}) == 0
    with pytest.raises(ValidationError) as err:
        route(cfgs, {"op": "server_set", "backend": "be_nope", "server": "x"})
    message = str(err.value)
    assert "no backend be_nope in /etc/haproxy/haproxy.cfg, /etc/haproxy/conf.d/mirror.cfg" \
        in message and "be_app, be_mirror" in message
    twice = link([("/a.cfg", MAIN), ("/b.cfg", MIRROR + b"defaults\nbackend be_app\n")])
    with pytest.raises(ValidationError, match="declared in several files") as err:
        route(twice, {"op": "server_set", "backend": "be_app", "server": "app1"})
    assert "/a.cfg:12" in str(err.value) and "/b.cfg:5" in str(err.value)
    with pytest.raises(ValidationError, match="2 files have a 'defaults' section"):
        route(twice, {"op": "keyword_set", "section": ["defaults"]})
    with pytest.raises(ValidationError, match="which file"):
        route(twice, {"op": "replace", "text": ""})


def test_messages_name_the_real_file() -> None:
    with pytest.raises(ValidationError) as err:
        apply_ops(MIRROR, [{"op": "server_set", "backend": "be_mirror", "server": "m9",
                            "set": {"weight": "3"}}], "/etc/haproxy/conf.d/mirror.cfg")
    assert "no server be_mirror/m9 in /etc/haproxy/conf.d/mirror.cfg" in str(err.value)
    assert "haproxy.cfg" not in str(err.value)


def test_command_line_and_settings_take_several_paths(tmp_path: Path, monkeypatch) -> None:
    from console.cli import build_parser, resolve_target
    from console.settings import load

    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "b.cfg").write_text("")
    (tmp_path / "main.cfg").write_text("")
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["-c", "main.cfg", "-c", "conf.d/", "config", "diff"])
    target = resolve_target(args, discover=False)
    assert target.configs == [str(tmp_path / "main.cfg"), str(conf)]
    assert target.config == str(tmp_path / "main.cfg") and target.config_paths == target.configs
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[instances.a]\nconfig = ["{conf}", "main.cfg"]\n'
                        '[instances.b]\nconfig = "/etc/haproxy/haproxy.cfg"\n')
    loaded = load(settings)
    assert loaded.instances["a"].configs == [str(conf), "main.cfg"]
    assert loaded.instances["a"].config == str(conf)
    assert loaded.instances["b"].configs == ["/etc/haproxy/haproxy.cfg"]
    args = build_parser().parse_args(["--settings", str(settings), "-i", "a", "config", "diff"])
    target = resolve_target(args, discover=False)
    assert target.config == str(conf / "b.cfg")  # the first file HAProxy reads
    settings.write_text('[instances.a]\nconfig = []\n')
    with pytest.raises(ConfigError, match="a path or a list of paths"):
        load(settings)


def test_the_reload_environment() -> None:
    from console.haproxy.discovery import parse_cmdline, reload_environ

    cmdline = parse_cmdline(["/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg",
                             "-L", "edge1"], cwd="/")
    env = reload_environ({"PATH": "/bin", "HAPROXY_STARTUP_VERSION": "2.8", "X": "1"}, cmdline)
    assert env == {"PATH": "/bin", "X": "1", "HAPROXY_LOCALPEER": "edge1",
                   "HAPROXY_MWORKER": "1", "HAPROXY_MWORKER_REEXEC": "1",
                   "HAPROXY_CFGFILES": "/etc/haproxy/haproxy.cfg"}
