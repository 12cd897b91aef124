"""``.if`` blocks around ``default-server``: the console's reading is the running HAProxy's.

Each backend's ``default-server disabled`` sits in a block whose condition depends on
the version, the build, the service's environment (set for HAProxy only, not for the
tests) or a ``setenv`` of the file. The running process shows which servers it
disabled: the console must have evaluated every block the same way.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from console.haproxy.apply import ApplyTarget
from console.haproxy.config import ConfigFile, server_lines
from console.haproxy.parsers import SRV_ADMF_CMAINT, parse_servers_state
from console.haproxy.staging import Staging
from tests.instance import free_port
from tests.integration.test_apply import Running, start_haproxy
from tests.integration.test_config_cli import haconsole

pytestmark = pytest.mark.haproxy

BLOCKS = {
    "be_version": ".if version_atleast(2.8)",
    "be_old": ".if version_before(2.0)",
    "be_lua": ".if feature(LUA)",
    "be_env": ".if defined(HACONSOLE_COND_TEST)",
    "be_value": '.if streq("$HACONSOLE_COND_TEST",yes) && !defined(HACONSOLE_NOPE)',
    "be_setenv": ".if defined(HACONSOLE_FROM_CONFIG)",
    "be_else": ".if version_atleast(99.0)\n.elif !feature(LUA)",
}
UNKNOWABLE = ".if openssl_version_before(1.1.1)"  # HAProxy evaluates it, the console not


def config(d: Path) -> str:
    parts = [f"global\n    stats socket {d}/admin.sock level admin\n"
             "    setenv HACONSOLE_FROM_CONFIG 1\n\n",
             "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
             "    timeout server 5s\n\n",
             f"frontend fe_main\n    bind 127.0.0.1:{free_port()}\n"
             "    http-request return status 200 content-type text/plain string v1\n\n"]
    for backend, block in [*BLOCKS.items(), ("be_unknown", UNKNOWABLE)]:
        parts.append(f"backend {backend}\n{block}\n    default-server disabled\n.endif\n"
                     f"    server s1 127.0.0.1:{free_port()}\n\n")
    return "".join(parts)


@pytest.fixture
def lb(haproxy_binary, tmp_path, monkeypatch):
    d = tmp_path / "lb"
    d.mkdir()
    (d / "haproxy.cfg").write_text(config(d))
    with monkeypatch.context() as m:  # in HAProxy's environment only
        m.setenv("HACONSOLE_COND_TEST", "yes")
        running = start_haproxy(d, haproxy_binary)
    assert "HACONSOLE_COND_TEST" not in os.environ
    yield running
    running.stop()


def runtime_disabled(lb: Running) -> dict[str, bool]:
    rows = parse_servers_state(lb.runtime("show servers state"))
    return {r.be_name: bool(r.srv_admin_state & SRV_ADMF_CMAINT) for r in rows}


def test_the_console_reads_the_blocks_as_haproxy_does(lb: Running) -> None:
    from console.haproxy.apply_guard import service_cond

    target = ApplyTarget(socket=lb.socket, master=lb.master, cwd=str(lb.dir))
    cond = asyncio.run(service_cond(target, lb.binary.path, lb.binary.version))
    assert cond.environ is not None and cond.environ.get("HACONSOLE_COND_TEST") == "yes"
    cfg = ConfigFile.parse(lb.config.read_bytes(), str(lb.config))
    cfg.cond = cond
    infos = server_lines(cfg)
    running = runtime_disabled(lb)
    for backend in BLOCKS:
        info = infos[(backend, "s1")]
        assert not info.conditional, backend
        assert info.disabled is running[backend], (backend, lb.binary.version)
    assert infos[("be_unknown", "s1")].conditional  # not guessed
    assert running["be_env"] and running["be_setenv"] and not running["be_old"]


def test_set_disabled_is_no_change_only_when_it_is_in_force(lb: Running) -> None:
    running = runtime_disabled(lb)
    for backend in ("be_old", "be_version", "be_lua", "be_env"):
        out = haconsole("-s", lb.socket, "config", "set", f"{backend}/s1", "disabled=true")
        assert out.returncode == 0, out.stderr
        if running[backend]:
            assert out.stdout.startswith("no change"), (backend, out.stdout)
        else:
            assert out.stdout.startswith("staged: "), (backend, out.stdout)
    st = Staging.load(str(lb.config))
    text = st.candidate.decode()
    assert [b for b in ("be_old", "be_version", "be_lua", "be_env") if not running[b]] == [
        op["backend"] for op in st.ops]
    assert text.count("    server s1 127.0.0.1:") == len(BLOCKS) + 1


def test_an_undecidable_block_is_named_not_guessed(lb: Running) -> None:
    out = haconsole("-s", lb.socket, "config", "set", "be_unknown/s1", "disabled=true")
    assert out.returncode == 1
    line = lb.text().split("\n").index(UNKNOWABLE) + 1
    assert f"'{UNKNOWABLE}'" in out.stderr and f"{lb.config}:{line}" in out.stderr
    assert not Staging.load(str(lb.config)).pending


def test_without_the_service_environment_the_edit_is_refused(lb: Running) -> None:
    out = haconsole("-c", str(lb.config), "config", "set", "be_env/s1", "disabled=true",
                    env={"HACONSOLE_COND_TEST": "yes"})  # ours, not the service's
    # the file's socket answers: the running HAProxy's environment is read
    assert out.returncode == 0 and out.stdout.startswith("no change"), out.stdout + out.stderr
    lb.stop()
    out = haconsole("-c", str(lb.config), "config", "set", "be_env/s1", "disabled=true")
    assert out.returncode == 1 and "environment unknown" in out.stderr
    assert "'.if defined(HACONSOLE_COND_TEST)'" in out.stderr


def test_no_change_is_not_claimed_when_the_running_process_differs(lb: Running) -> None:
    lb.config.write_text(lb.text().replace(
        "backend be_old\n", "backend be_old\n    default-server disabled\n"))  # not reloaded
    out = haconsole("-s", lb.socket, "config", "set", "be_old/s1", "disabled=true")
    assert out.returncode == 1, out.stdout
    assert "already says that, but be_old/s1 is not disabled by the configuration it runs" \
        in out.stderr
    assert not Staging.load(str(lb.config)).pending
