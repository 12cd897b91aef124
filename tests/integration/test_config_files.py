"""A configuration in several files (``-f haproxy.cfg -f conf.d/``), with real HAProxy.

Edits resolve names across the files and land in the file holding the line; the
check reads every file in HAProxy's order; messages name the real file and line.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from console.haproxy.binaries import Binary
from console.haproxy.staging import Staging
from tests.instance import free_port
from tests.integration.test_apply import Running, start_haproxy
from tests.integration.test_config_cli import haconsole

pytestmark = pytest.mark.haproxy

MAIN = """\
global
    stats socket {d}/admin.sock level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    default-server weight 5

frontend fe_main
    bind 127.0.0.1:{fe}
    use_backend be_more if {{ path /more }}
    http-request return status 200 content-type text/plain string v1 if !{{ path /more }}

backend be_app
    server app1 127.0.0.1:{p1} check inter 1h
    server app2 127.0.0.1:{p2}
"""
MIRROR = """\
backend be_mirror
    server m1 127.0.0.1:{p3} track be_app/app1
"""
MORE = """\
backend be_more
    server x1 127.0.0.1:{p4}
"""


def layout(d: Path) -> tuple[Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "conf.d"
    conf.mkdir()
    ports = dict(d=d, fe=free_port(), p1=free_port(), p2=free_port(), p3=free_port(),
                 p4=free_port())
    main = d / "main.cfg"
    main.write_text(MAIN.format(**ports))
    (conf / "50-mirror.cfg").write_text(MIRROR.format(**ports))
    (conf / "60-more.cfg").write_text(MORE.format(**ports))
    (conf / "README").write_text("not a config\n")
    return main, conf


def files_args(main: Path, conf: Path) -> list[str]:
    return ["-c", str(main), "-c", f"{conf}/"]


def editor(tmp_path: Path, script: str) -> dict[str, str]:
    path = tmp_path / "ed.sh"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return {"EDITOR": str(path), "VISUAL": ""}


@pytest.fixture
def on_path(haproxy_binary: Binary, tmp_path: Path) -> dict[str, str]:
    """PATH with the binary under test as `haproxy` (it checks the configuration)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "haproxy").symlink_to(haproxy_binary.path)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}


def test_an_edit_lands_in_the_file_holding_the_line(tmp_path: Path, on_path) -> None:
    main, conf = layout(tmp_path / "etc")
    before = main.read_bytes()
    more = conf / "60-more.cfg"
    out = haconsole(*files_args(main, conf), "config", "set", "be_more/x1", "weight=7",
                    env=on_path)
    assert out.returncode == 0, out.stderr
    assert f"(in {more})" in out.stdout and "weight → 7" in out.stdout
    diff = haconsole(*files_args(main, conf), "config", "diff", env=on_path)
    assert diff.returncode == 1 and diff.stdout.startswith(f"--- {more} (live)")
    out = haconsole(*files_args(main, conf), "config", "apply", "--yes", env=on_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "configuration files, in order: " + ", ".join(
        [str(main), str(conf / "50-mirror.cfg"), str(more)]) in out.stdout
    assert "[ ok ] check" in out.stdout
    assert "x1 127.0.0.1:" in more.read_text() and "weight 7" in more.read_text()
    assert main.read_bytes() == before
    assert not Staging.load(str(more)).pending


def test_a_default_server_of_another_file_is_in_force(tmp_path: Path, on_path) -> None:
    main, conf = layout(tmp_path / "etc")
    main.write_text(main.read_text().replace("default-server weight 5",
                                             "default-server weight 5 disabled"))
    out = haconsole(*files_args(main, conf), "config", "set", "be_more/x1", "disabled=false",
                    env=on_path)
    assert out.returncode == 0, out.stderr
    assert "disabled on → off" in out.stdout
    assert " enabled" in Staging.load(str(conf / "60-more.cfg")).candidate.decode()


def test_removing_a_server_tracked_from_another_file_is_refused(tmp_path: Path,
                                                                on_path) -> None:
    main, conf = layout(tmp_path / "etc")
    text = main.read_text()
    mirror = conf / "50-mirror.cfg"
    out = haconsole(*files_args(main, conf), "config", "del-server", "be_app/app1", env=on_path)
    assert out.returncode == 1
    assert "server be_app/app1 is still used" in out.stderr and f"{mirror}:2" in out.stderr
    # the same removal as a raw edit: the check, reading every file, refuses it
    out = haconsole(*files_args(main, conf), "config", "edit", str(main),
                    env={**on_path, **editor(tmp_path, "sed -i '/server app1/d' \"$1\"")})
    assert out.returncode == 0, out.stderr
    out = haconsole(*files_args(main, conf), "config", "apply", "--yes", env=on_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "[FAIL] check" in out.stdout
    assert re.search(rf"{re.escape(str(mirror))}:2: .*unable to find required server "
                     r"'app1' for tracking", out.stdout), out.stdout
    assert main.read_text() == text


def test_a_valid_pair_of_files_passes_the_check(tmp_path: Path, on_path) -> None:
    main, conf = layout(tmp_path / "etc")
    out = haconsole(*files_args(main, conf), "config", "set", "be_app/app2", "weight=3",
                    env=on_path)
    assert out.returncode == 0, out.stderr
    out = haconsole(*files_args(main, conf), "config", "apply", "--yes", env=on_path)
    assert out.returncode == 0, out.stdout + out.stderr  # be_more is in conf.d: read too
    assert "server app2" in main.read_text() and "weight 3" in main.read_text()


def test_settings_config_may_list_the_files(tmp_path: Path, on_path) -> None:
    main, conf = layout(tmp_path / "etc")
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[instances.edge]\nconfig = ["{main}", "{conf}"]\n')
    env = {**on_path, "HACONSOLE_SETTINGS": str(settings)}
    out = haconsole("config", "set", "be_mirror/m1", "weight=2", env=env)
    assert out.returncode == 0, out.stderr
    assert "weight 2" in Staging.load(str(conf / "50-mirror.cfg")).candidate.decode()
    settings.write_text('[instances.edge]\nconfig = ["ok.cfg", 3]\n')
    out = haconsole("config", "diff", env=env)
    assert out.returncode == 2 and "must be a path or a list of paths" in out.stderr


def test_a_running_service_reads_its_files_from_the_command_line(haproxy_binary,
                                                                 tmp_path: Path) -> None:
    d = tmp_path / "lb"
    main, conf = layout(d)
    lb: Running = start_haproxy(d, haproxy_binary, config_name="main.cfg",
                                extra_files=(Path(f"{conf}/"),))
    try:
        more = conf / "60-more.cfg"
        out = haconsole("-s", lb.socket, "config", "set", "be_more/x1", "weight=9")
        assert out.returncode == 0, out.stderr
        assert f"(in {more})" in out.stdout
        out = haconsole("-s", lb.socket, "config", "apply", "--yes")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "[ ok ] verify" in out.stdout and "runtime: be_more/x1 present weight 9" in \
            out.stdout
        rows = lb.runtime("show servers state be_more")
        assert re.search(r"\bx1\b.*", rows)
        assert lb.http() == "v1"
    finally:
        lb.stop()


def test_haproxy_reads_a_directory_in_the_order_the_console_does(haproxy_binary: Binary,
                                                                tmp_path: Path) -> None:
    from console.haproxy.config.fileset import expand_paths

    d = tmp_path / "conf.d"
    d.mkdir()
    names = ["b.cfg", "a.cfg", "Z.cfg", "_x.cfg", "10.cfg", "9.cfg", "a-b.cfg", "a.b.cfg",
             ".hidden.cfg", "c.cfg.bak", "d.cfg.cfg"]
    for name in names:
        (d / name).write_text(f".notice {name}\n")
    os.symlink(d / "a.cfg", d / "l.cfg")
    (d / "zz.cfg").mkdir()
    (tmp_path / "global.cfg").write_text("global\n")
    out = subprocess.run([haproxy_binary.path, "-c", "-f", str(tmp_path / "global.cfg"),
                          "-f", str(d)], capture_output=True, text=True, timeout=60)
    read = re.findall(r"\[([^\]]+):1\]: '", out.stdout + out.stderr)
    expected = expand_paths([str(tmp_path / "global.cfg"), str(d)])[1:]
    assert [os.path.basename(p) for p in read] == [os.path.basename(p) for p in expected]
    assert len(read) == 9
