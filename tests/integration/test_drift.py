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
