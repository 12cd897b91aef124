"""``haconsole config ...`` as a user runs it, against real HAProxy (2.6 and 2.8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.haproxy.staging import Staging
from tests.integration.test_apply import HAVE_MODEL, Running, run_on_terminal

pytestmark = pytest.mark.haproxy
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="config model absent")


def haconsole(*args: str, env: dict | None = None,
              stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                          text=True, timeout=120, stdin=stdin,
                          env={**os.environ, "PYTHONPATH": os.getcwd(), **(env or {})})


def cli(lb: Running, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return haconsole("-s", lb.socket, *args, **kw)  # type: ignore[arg-type]


@needs_model
def test_set_diff_apply_history(lb: Running) -> None:
    out = cli(lb, "config", "set", "be_app/app1", "weight=50", "maxconn=100")
    assert out.returncode == 0, out.stderr
    assert "staged: backend be_app: server app1 weight 10 → 50, maxconn → 100" in out.stdout
    diff = cli(lb, "config", "diff")
    assert diff.returncode == 1
    assert diff.stdout.startswith(f"--- {lb.config} (live)\n+++ {lb.config} (staged)\n")
    assert "+    server app1" in diff.stdout and "weight 50 maxconn 100" in diff.stdout
    assert "# sections touched: backend be_app" in diff.stderr
    refused = cli(lb, "config", "apply")  # no TTY, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "weight 10" in lb.text()
    out = cli(lb, "config", "apply", "--yes", "-m", "more traffic to app1")
    assert out.returncode == 0, out.stdout + out.stderr
    for title in ("stale check", "lock", "check", "history", "write", "keep state", "reload",
                  "verify"):
        assert f"[ ok ] {title}" in out.stdout, out.stdout
    assert "runtime: be_app/app1 present weight 50" in out.stdout
    assert "done: applied as version 2" in out.stdout
    assert lb.servers()["app1"].srv_iweight == 50
    assert cli(lb, "config", "diff").returncode == 0
    history = cli(lb, "config", "history")
    assert history.returncode == 0
    assert "*    2" in history.stdout and "more traffic to app1" in history.stdout
    assert "found" in history.stdout
    one = cli(lb, "config", "history", "2")
    assert "+    server app1" in one.stdout


@needs_model
def test_add_and_delete_servers_then_roll_back(lb: Running) -> None:
    original = lb.text()
    assert cli(lb, "config", "add-server", "be_app/app4", "127.0.0.1:9999",
               "weight=5", "backup=true").returncode == 0
    assert cli(lb, "config", "del-server", "be_app/app2").returncode == 0
    out = cli(lb, "config", "apply", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "be_app/app4 present weight 5" in out.stdout
    assert "be_app/app2 removed, absent" in out.stdout
    assert set(lb.servers()) == {"app1", "app3", "app4"}
    rb = cli(lb, "config", "rollback", "1")
    assert rb.returncode == 0 and "staged: rollback to version 1" in rb.stdout
    out = cli(lb, "config", "apply", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    assert lb.text() == original and set(lb.servers()) == {"app1", "app2", "app3"}


def test_edit_stages_a_raw_edit_and_no_reload(lb: Running, tmp_path: Path) -> None:
    editor = tmp_path / "ed.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/weight 20/weight 25/' \"$1\"\n")
    editor.chmod(0o755)
    before = lb.worker()
    out = cli(lb, "config", "edit", env={"VISUAL": "", "EDITOR": str(editor)})
    assert out.returncode == 0, out.stderr
    assert "staged: the edited text" in out.stdout
    assert "weight 20" in lb.text()  # staged, not applied
    st = Staging.load(str(lb.config))
    assert st.ops[-1]["op"] == "replace" and b"weight 25" in st.candidate
    out = cli(lb, "config", "apply", "--yes", "--no-reload")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[skip] reload" in out.stdout
    assert "weight 25" in lb.text() and lb.worker() == before
    # an editor that fails stages nothing
    out = cli(lb, "config", "edit", env={"EDITOR": "false", "VISUAL": ""})
    assert out.returncode == 1 and "exited with status 1" in out.stderr
    assert cli(lb, "config", "diff").returncode == 0


def test_apply_asks_on_a_terminal(lb: Running, tmp_path: Path) -> None:
    editor = tmp_path / "ed.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/weight 10/weight 15/' \"$1\"\n")
    editor.chmod(0o755)
    assert cli(lb, "config", "edit", env={"EDITOR": str(editor), "VISUAL": ""}
               ).returncode == 0
    rc, seen = run_on_terminal(lb, b"y\n", b"[y/N]")
    assert rc == 0, seen
    assert "write the file and reload HAProxy? [y/N]" in seen
    assert lb.servers()["app1"].srv_iweight == 15


@needs_model
def test_errors_are_one_line(lb: Running, tmp_path: Path) -> None:
    out = cli(lb, "config", "set", "be_app/nope", "weight=5")
    assert out.returncode == 1 and out.stderr.startswith("haconsole: ")
    assert len(out.stderr.strip().splitlines()) == 1 and "nope" in out.stderr
    out = cli(lb, "config", "set", "be_app/app1", "weight")
    assert out.returncode == 1 and "KEY=VALUE" in out.stderr
    out = cli(lb, "config", "set", "be_app/app1", "disabled=maybe")
    assert out.returncode == 1 and "true or false" in out.stderr
    out = cli(lb, "config", "set", "be_app/app1", "weight=5\n    server x 1.2.3.4:5")
    assert out.returncode == 1 and not Staging.load(str(lb.config)).pending
    missing = haconsole("-c", str(tmp_path / "nope.cfg"), "config", "diff")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_stale_discard_rebase_and_read_only(lb: Running, tmp_path: Path) -> None:
    editor = tmp_path / "ed.sh"
    editor.write_text("#!/bin/sh\necho '# added' >> \"$1\"\n")
    editor.chmod(0o755)
    env = {"EDITOR": str(editor), "VISUAL": ""}
    assert cli(lb, "config", "edit", env=env).returncode == 0
    lb.config.write_text(lb.text().replace("timeout client 5s", "timeout client 7s"))
    out = cli(lb, "config", "apply", "--yes")
    assert out.returncode == 1 and "[FAIL] stale check" in out.stdout
    assert "+    timeout client 7s" in out.stdout
    out = cli(lb, "config", "rebase")
    assert out.returncode == 1 and "raw edit" in out.stderr
    assert cli(lb, "config", "discard").returncode == 0
    assert cli(lb, "config", "diff").returncode == 0
    out = cli(lb, "--read-only", "config", "edit", env=env)
    assert out.returncode == 1 and "read-only" in out.stderr


def test_rolled_back_apply_exits_non_zero(lb: Running, tmp_path: Path) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        editor = tmp_path / "ed.sh"
        editor.write_text("#!/bin/sh\nprintf 'frontend fe_conflict\\n    bind 127.0.0.1:%s\\n"
                          "    default_backend be_app\\n' " f"{holder.getsockname()[1]}"
                          " >> \"$1\"\n")
        editor.chmod(0o755)
        assert cli(lb, "config", "edit", env={"EDITOR": str(editor), "VISUAL": ""}
                   ).returncode == 0
        out = cli(lb, "config", "apply", "--yes", "-m", "new frontend")
        assert out.returncode == 1
        assert "[FAIL] reload" in out.stdout and "[ ok ] roll back" in out.stdout
        assert out.stderr.strip().startswith("haconsole: apply rolled back: the reload failed")
        assert "the change stays staged" in out.stderr
        assert cli(lb, "config", "diff").returncode == 1
        assert lb.http() == "v1"
    finally:
        holder.close()
