"""Drift between the running state and the config file, on the real lab."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from console.haproxy.config import apply_ops
from console.haproxy.drift import compute_drift
from console.haproxy.parsers import parse_servers_state
from tests.lab_helpers import start_lab

pytestmark = pytest.mark.haproxy


def drift_now(lab) -> list:
    states = parse_servers_state(lab.send(lab.info["admin_socket"], "show servers state"))
    return compute_drift(Path(lab.info["config"]).read_bytes(), states)


def test_drift_lists_runtime_changes_and_reverts(haproxy_binary) -> None:
    directory = Path(tempfile.mkdtemp(prefix="haconsole-drift-"))
    try:
        with start_lab(directory, haproxy_binary.path) as lab:
            sock = lab.info["admin_socket"]
            assert drift_now(lab) == []
            for cmd in ("set server be_web/web1 state maint", "set server be_web/web2 weight 7",
                        "set server be_api/api1 state drain", "disable health be_static/static1"):
                assert lab.send(sock, cmd).strip() == "", cmd
            items = drift_now(lab)
            found = {(i.ref, i.kind, i.runtime, i.config) for i in items}
            assert ("be_web/web1", "state", "MAINT", "enabled") in found
            assert ("be_web/web2", "weight", "7", "1") in found
            assert ("be_api/api1", "state", "DRAIN", "ready") in found
            assert ("be_static/static1", "check", "disabled", "enabled") in found
            # "make permanent" edits apply cleanly to the lab's config file
            ops = [op for i in items for op in i.permanent_ops]
            new = apply_ops(Path(lab.info["config"]).read_bytes(), ops)
            assert b"weight 7" in new and b"disabled" in new
            # "revert to config" commands bring the runtime back to the file
            for item in items:
                for cmd in item.revert_commands:
                    assert lab.send(sock, cmd).strip() == "", cmd
            assert drift_now(lab) == []
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_drift_reads_every_file_of_the_configuration(haproxy_binary, tmp_path: Path) -> None:
    """``haproxy -f main.cfg -f conf.d/``: a runtime change on a server declared in
    conf.d/ is drift too, the defaults of main.cfg are in force there, and making it
    permanent stages the edit in the file that holds the server."""
    import asyncio
    import subprocess

    from console.config_set import files_of, stage_op
    from console.haproxy.staging import Staging
    from console.haproxy.transport import wait_for_socket
    from console.instance import Target, apply_target
    from console.ui.screens.drift import read_drift
    from tests.instance import free_port
    from tests.lab_helpers import send

    main = tmp_path / "main.cfg"
    main.write_text(f"global\n    stats socket {tmp_path}/admin.sock level admin\n"
                    "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
                    "    timeout server 1s\n    default-server weight 5\n"
                    f"frontend fe\n    bind 127.0.0.1:{free_port()}\n    default_backend be_a\n"
                    f"backend be_a\n    server a1 127.0.0.1:{free_port()}\n")
    (tmp_path / "conf.d").mkdir()
    other = tmp_path / "conf.d" / "10-b.cfg"
    other.write_text(f"backend be_b\n    server b1 127.0.0.1:{free_port()}\n"
                     f"    server b2 127.0.0.1:{free_port()}\n")
    proc = subprocess.Popen([haproxy_binary.path, "-f", str(main), "-f",
                             str(tmp_path / "conf.d")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        sock = str(tmp_path / "admin.sock")
        assert wait_for_socket(sock, 10)
        target = Target(name="t", socket=sock, config=str(main),
                        configs=[str(main), str(tmp_path / "conf.d")])
        assert asyncio.run(read_drift(target)) == []  # b1, b2 have the defaults' weight 5
        assert send(sock, "set server be_b/b2 weight 9").strip() == ""
        items = asyncio.run(read_drift(target))
        assert [(i.ref, i.kind, i.runtime, i.config) for i in items] == [
            ("be_b/b2", "weight", "9", "5")]
        at = asyncio.run(apply_target(target))
        stagings = {f: Staging.load(f) for f in files_of(target)}
        staged = stage_op(target, at, items[0].permanent_ops[0], stagings)
        assert staged.path == str(other) and b"b2 127.0.0.1" in staged.staging.candidate
        assert b"weight 9" in staged.staging.candidate
        assert not stagings[str(main)].pending
    finally:
        proc.terminate()
        proc.wait(10)
