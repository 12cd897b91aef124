"""What goes wrong during an apply, against real HAProxy (2.6 and 2.8).

Each fault ends with the live file exactly old or exactly new, never partial, the
running HAProxy serving, and the candidate still staged when it was not applied.
Processes are killed with ``HACONSOLE_FAULT=kill:POINT`` (see ``atomic.fault_point``);
write errors come from a full tmpfs, ``RLIMIT_FSIZE``, a read-only bind mount, an
immutable directory (``chattr +i``) and a bind-mounted file (root only: skipped
otherwise).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.haproxy import history_store as hist
from console.haproxy import journal
from console.haproxy.apply import ApplyTarget
from console.haproxy.atomic import leftovers
from console.haproxy.errors import ValidationError
from console.haproxy.staging import Staging, StagingError
from tests.integration.test_apply import (
    HAVE_MODEL,
    Running,
    run_apply,
    stage_text,
    stage_weight,
    start_haproxy,
)

pytestmark = pytest.mark.haproxy
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (mount, chattr)")
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="config model (console.haproxy.config) "
                                 "absent: structured edits cannot be staged")

CHILD = """
import json, sys
from console.haproxy.apply import ApplyTarget, apply
spec = json.loads(sys.argv[1])
result = apply(spec["config"], instance=ApplyTarget(**spec["target"]),
               on_step=lambda s, st, d: print(s, st, d.splitlines()[0], flush=True))
print("RESULT", result.outcome, flush=True)
sys.exit(0 if result.ok else 1)
"""


def child_apply(lb: Running, env: dict[str, str] | None = None, config: Path | None = None,
                preexec_fn: object = None, **target: object) -> subprocess.Popen[str]:
    t = dict(name="test", socket=lb.socket, master=lb.master, haproxy=lb.binary.path,
             check_args=["-W"], config_files=[str(config or lb.config)], cwd=str(lb.dir))
    t.update(target)
    spec = json.dumps({"config": str(config or lb.config), "target": t})
    return subprocess.Popen([sys.executable, "-c", CHILD, spec], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": os.getcwd(), **(env or {})},
                            preexec_fn=preexec_fn)  # type: ignore[arg-type]


def reloads(lb: Running) -> int:
    info = lb.proc_info()
    assert info.master
    return info.master.reloads


def no_temp(directory: Path) -> bool:
    return not [n for n in os.listdir(directory) if "haconsole-tmp" in n]


# --------------------------------------------------------------------------- bad candidates

def test_syntax_error_fails_the_check_and_changes_nothing(lb: Running) -> None:
    old, count = lb.config.read_bytes(), reloads(lb)
    lines = lb.text().splitlines()
    bad_line = lines.index("backend be_app") + 2
    lines.insert(bad_line, "    balance sometimes")
    stage_text(lb.config, "\n".join(lines) + "\n")
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "refused" and not result.ok
    assert steps[-1][:2] == ("check", "fail")
    assert f"line {bad_line + 1}: " in steps[-1][2] and "balance" in steps[-1][2]
    assert ".haconsole-tmp" not in steps[-1][2]
    assert lb.config.read_bytes() == old
    assert no_temp(lb.dir)
    assert reloads(lb) == count
    assert hist.history(str(lb.config)) == []
    assert Staging.load(str(lb.config)).status() == "pending"


def test_missing_last_newline_and_no_listener_fail_the_check(lb: Running) -> None:
    stage_text(lb.config, lb.text().rstrip("\n"))
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "refused" and "Missing LF on last line" in steps[-1][2]
    Staging.load(str(lb.config)).discard()
    text = lb.text()
    no_bind = "\n".join(line for line in text.splitlines() if "bind " not in line) + "\n"
    no_bind = no_bind.replace("    stats socket", "    #stats socket")
    stage_text(lb.config, no_bind)
    # exit code 2 ("no listener") is a failure; HAProxy only says so without -W
    result, steps = run_apply(lb.config, lb.target(check_args=[], running=False))
    assert result.outcome == "refused"
    assert "no enabled listener" in steps[-1][2]
    assert lb.config.read_text() == text


@needs_model
def test_unknown_backend_or_server_is_refused_when_staging(lb: Running) -> None:
    st = Staging.load(str(lb.config))
    for backend, server in (("be_nope", "app1"), ("be_app", "nope")):
        with pytest.raises(ValidationError) as info:
            st.add_ops([{"op": "server_set", "backend": backend, "server": server,
                         "set": {"weight": "5"}}])
        assert "nope" in str(info.value)
    with pytest.raises(ValidationError):
        st.add_ops([{"op": "server_del", "backend": "be_app", "server": "nope"}])
    assert not Staging.load(str(lb.config)).pending


@needs_model
def test_values_with_newline_hash_semicolon_cannot_inject(lb: Running) -> None:
    st = Staging.load(str(lb.config))
    for value in ("50\n    server evil 10.0.0.1:80", "5#0", "5;0"):
        with pytest.raises(ValidationError):
            st.add_ops([{"op": "server_set", "backend": "be_app", "server": "app1",
                         "set": {"weight": value}}])
    with pytest.raises(ValidationError):
        st.add_ops([{"op": "server_set", "backend": "be_app", "server": "app1",
                     "set": {"addr": "10.0.0.1:80#x"}}])
    with pytest.raises(ValidationError):
        st.add_ops([{"op": "server_set", "backend": "be_app", "server": "app1",
                     "set": {"cookie": "a\nb"}}])
    assert not st.pending
    # a '#' or ';' inside a free-text value is written as one word, never as a comment
    st.add_ops([{"op": "server_set", "backend": "be_app", "server": "app1",
                 "set": {"cookie": "a#b;c"}}])
    from console.haproxy.config import ConfigFile, server_lines

    info = server_lines(ConfigFile.parse(st.candidate))[("be_app", "app1")]
    assert info.params.get("cookie") == "a#b;c" and info.weight == 10
    result, steps = run_apply(lb.config, lb.target())
    assert result.ok, steps


def test_stale_base_is_refused_with_what_changed(lb: Running) -> None:
    stage_weight(lb.config, "app1", 50)
    by_hand = lb.text().replace("timeout client 5s", "timeout client 6s")
    lb.config.write_text(by_hand)
    count = reloads(lb)
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "refused" and steps[0][:2] == ("stale", "fail")
    assert "+    timeout client 6s" in steps[0][2] and "config rebase" in steps[0][2]
    assert lb.text() == by_hand and reloads(lb) == count
    assert Staging.load(str(lb.config)).status() == "stale"


# --------------------------------------------------------------------------- concurrency

def test_second_apply_is_refused_naming_the_holder(lb: Running, tmp_path) -> None:
    flag = tmp_path / "paused"
    stage_weight(lb.config, "app1", 30)
    first = child_apply(lb, {"HACONSOLE_FAULT": f"pause:lock:{flag}"})
    try:
        deadline = time.monotonic() + 20
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert flag.exists(), first.stdout.read() if first.stdout else ""
        result, steps = run_apply(lb.config, lb.target())
        assert result.outcome == "refused" and steps[-1][:2] == ("lock", "fail")
        assert f"(pid {first.pid}) since " in steps[-1][2]
        assert "another apply is running" in steps[-1][2]
    finally:
        flag.unlink(missing_ok=True)
        out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert "RESULT applied" in out
    assert lb.servers()["app1"].srv_iweight == 30


# --------------------------------------------------------------------------- kill -9

# (point, the live file afterwards): before the rename it is the old text, after it the new
KILL_POINTS = [("lock", "old"), ("check", "old"), ("temp-partial", "old"), ("history", "old"),
               ("replaced", "new"), ("write", "new"), ("state", "new"), ("reload", "new"),
               ("verify", "new")]


def test_kill_9_at_every_step_leaves_old_or_new(lb: Running) -> None:
    weight = 30
    for point, expect in KILL_POINTS:
        weight += 1
        old = lb.config.read_bytes()
        st = stage_weight(lb.config, "app2", weight)
        new = st.candidate
        proc = child_apply(lb, {"HACONSOLE_FAULT": f"kill:{point}"})
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -9, f"{point}: {out}"
        live = lb.config.read_bytes()
        assert live == (old if expect == "old" else new), point
        if point in ("check", "temp-partial"):
            assert leftovers(str(lb.config)), point  # the dead process's temp file
        # the next start cleans up, and tells what happened
        result, steps = run_apply(lb.config, lb.target())
        assert no_temp(lb.dir), point
        if expect == "new":
            assert result.outcome == "nothing", (point, steps)
            assert not Staging.load(str(lb.config)).pending
            if point in ("replaced", "write", "state", "reload", "verify"):
                assert "was interrupted" in steps[0][2], (point, steps)
        else:
            assert result.ok, (point, steps)
        assert lb.http() == "v1"
    assert still_serving(lb)


def still_serving(lb: Running) -> bool:
    """HAProxy still answers on its stats socket and master CLI."""
    return bool(lb.worker()) and "Pid" in lb.runtime("show info")


# --------------------------------------------------------------------------- write errors

def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _assert_write_refused(lb: Running, config: Path, target: ApplyTarget, words: str,
                          old: bytes) -> None:
    count = reloads(lb)
    result, steps = run_apply(config, target)
    assert not result.ok and result.outcome in ("refused", "failed"), steps
    assert words in steps[-1][2], steps[-1]
    assert "hint:" in steps[-1][2]
    assert config.read_bytes() == old
    assert no_temp(config.parent)
    assert reloads(lb) == count
    assert Staging.load(str(config)).status() == "pending"


def _lb_with_conf(tmp_path: Path, binary: object) -> tuple[Running, Path]:
    """HAProxy started with -f conf/haproxy.cfg (conf may become a special filesystem)."""
    d = tmp_path / "lb"
    conf = d / "conf"
    conf.mkdir(parents=True)
    from tests.integration.test_apply import config_text

    (conf / "haproxy.cfg").write_text(config_text(d))
    lb = start_haproxy(d, binary, config_name="conf/haproxy.cfg")  # type: ignore[arg-type]
    return lb, conf / "haproxy.cfg"


@needs_root
def test_full_filesystem(haproxy_binary, tmp_path) -> None:
    d = tmp_path / "lb"
    conf = d / "conf"
    conf.mkdir(parents=True)
    try:
        _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(conf))
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc.stderr.decode().strip()}")
    try:
        from tests.integration.test_apply import config_text

        (conf / "haproxy.cfg").write_text(config_text(d))
        lb = start_haproxy(d, haproxy_binary, config_name="conf/haproxy.cfg")
        try:
            old = lb.config.read_bytes()
            stage_text(lb.config, lb.text() + "# " + "x" * 8000 + "\n")
            with open(conf / "filler", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError:
                    pass
            _assert_write_refused(lb, lb.config, lb.target(), "no space left", old)
        finally:
            lb.stop()
    finally:
        subprocess.run(["umount", "-l", str(conf)], check=False)


def test_file_size_limit_in_the_applying_process(lb: Running) -> None:
    old = lb.config.read_bytes()
    stage_text(lb.config, lb.text() + "# " + "x" * 20000 + "\n")
    count = reloads(lb)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16000, 16000))

    proc = child_apply(lb, preexec_fn=limit)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "file too large" in out and "RESULT refused" in out
    assert lb.config.read_bytes() == old and no_temp(lb.dir)
    assert reloads(lb) == count


@needs_root
def test_read_only_config_directory(haproxy_binary, tmp_path) -> None:
    lb, config = _lb_with_conf(tmp_path, haproxy_binary)
    conf = config.parent
    try:
        old = config.read_bytes()
        stage_text(config, lb.text().replace("weight 20", "weight 22"))
        # chmod 0555 does not stop root: a read-only bind mount does (EROFS) ...
        _mount("--bind", str(conf), str(conf))
        try:
            _mount("-o", "remount,bind,ro", str(conf))
            _assert_write_refused(lb, config, lb.target(), "read-only", old)
        finally:
            subprocess.run(["umount", str(conf)], check=False)
        # ... and so does an immutable directory (EPERM)
        if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(conf)],
                                                     capture_output=True).returncode == 0:
            try:
                _assert_write_refused(lb, config, lb.target(), "not permitted", old)
            finally:
                subprocess.run(["chattr", "-i", str(conf)], check=False)
        result, steps = run_apply(config, lb.target())
        assert result.ok, steps
    finally:
        lb.stop()


@needs_root
def test_bind_mounted_config_file_cannot_be_renamed_over(haproxy_binary, tmp_path) -> None:
    lb, config = _lb_with_conf(tmp_path, haproxy_binary)
    outside = tmp_path / "outside.cfg"
    shutil.copy(config, outside)
    try:
        _mount("--bind", str(outside), str(config))
        try:
            old = config.read_bytes()
            stage_text(config, lb.text().replace("weight 20", "weight 23"))
            _assert_write_refused(lb, config, lb.target(), "bind mount", old)
            assert hist.history(str(config))[-1].status == "failed"
        finally:
            subprocess.run(["umount", str(config)], check=False)
    finally:
        lb.stop()


# --------------------------------------------------------------------------- after the write

def test_bind_conflict_reload_fails_and_is_rolled_back(lb: Running) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        old = lb.config.read_bytes()
        new = lb.text().replace("string v1", "string v2") + \
            f"\nfrontend fe_conflict\n    bind 127.0.0.1:{port}\n    default_backend be_app\n"
        stage_text(lb.config, new)
        result, steps = run_apply(lb.config, lb.target(), message="conflict")
        assert result.outcome == "rolled back" and not result.ok, steps
        by_step = {s[0]: (s[1], s[2]) for s in steps}
        assert by_step["check"][0] == "ok"  # haproxy -c does not bind
        assert by_step["reload"][0] == "fail"
        if lb.binary.branch >= (2, 7):
            assert "startup log: " in by_step["reload"][1]
            assert "Address already in use" in by_step["reload"][1]
        else:
            assert f"probable cause: line {new.splitlines().index('frontend fe_conflict') + 2}" \
                f" (frontend fe_conflict): cannot bind 127.0.0.1:{port}: address already in " \
                "use" in by_step["reload"][1]
        assert by_step["rollback"][0] == "ok"
        assert "serves the previous configuration again" in by_step["rollback"][1]
        assert lb.config.read_bytes() == old
        assert lb.http() == "v1"  # the old config serves
        info = lb.proc_info()
        assert info.master and info.master.failed == 0 and info.workers
        st = Staging.load(str(lb.config))
        assert st.status() == "pending" and st.candidate == new.encode()
        assert hist.history(str(lb.config))[-1].status == "rolled back"
        entries = [e for e in journal.read_entries() if e["command"].startswith("reload")]
        assert [(e["command"], e["ok"]) for e in entries[-2:]] == [
            ("reload", False), ("reload (rollback)", True)]
    finally:
        holder.close()
    result, steps = run_apply(lb.config, lb.target())  # the port is free now
    assert result.ok, steps
    assert lb.http() == "v2"


def test_kill_9_during_the_rollback_leaves_the_candidate_whole(lb: Running) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        new = lb.text() + f"\nfrontend fe_conflict\n    bind 127.0.0.1:{holder.getsockname()[1]}\n"
        stage_text(lb.config, new)
        proc = child_apply(lb, {"HACONSOLE_FAULT": "kill:rollback"})
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -9, out
        assert "reload fail" in out
        assert lb.config.read_text() == new  # not restored yet, but whole
        assert lb.http() == "v1"  # the failed reload left the old worker serving
        result, steps = run_apply(lb.config, lb.target())
        assert result.outcome == "nothing"
        assert "HAProxy may still run version 1" in steps[0][2]
        assert "config rollback 1" in steps[0][2]
    finally:
        holder.close()


def test_no_way_to_reload_is_refused_before_writing(lb: Running) -> None:
    old = lb.config.read_bytes()
    stage_weight(lb.config, "app1", 9)
    result, steps = run_apply(lb.config, lb.target(master=None))
    assert result.outcome == "refused" and "no master socket is known" in steps[-1][2]
    result, steps = run_apply(lb.config, lb.target(reload="command", reload_command=None))
    assert result.outcome == "refused" and "no reload_command" in steps[-1][2]
    assert lb.config.read_bytes() == old
    assert run_apply(lb.config, lb.target(master=None), no_reload=True)[0].ok


def test_failure_after_a_good_reload_rolls_back(lb: Running, monkeypatch) -> None:
    stage_text(lb.config, lb.text().replace("string v1", "string v3"))
    monkeypatch.setenv("HACONSOLE_FAULT", "fail:verify")
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "rolled back", steps
    assert [s[0] for s in steps][-3:] == ["verify", "rollback", "rollback"]
    assert lb.http() == "v1"


def test_server_state_that_cannot_be_saved_stops_before_the_reload(haproxy_binary,
                                                                   tmp_path) -> None:
    d = tmp_path / "lb"
    lb = start_haproxy(d, haproxy_binary)
    try:
        before, old = lb.worker(), lb.config.read_bytes()
        stage_text(lb.config, lb.text().replace(
            "    stats timeout 30s", "    stats timeout 30s\n    server-state-file "
            "/proc/haconsole-no-such-dir/state").replace(
            "    timeout server 5s", "    timeout server 5s\n    load-server-state-from-file "
            "global"))
        result, steps = run_apply(lb.config, lb.target())
        assert result.outcome == "rolled back", steps
        by_step = {s[0]: (s[1], s[2]) for s in steps}
        assert by_step["state"][0] == "fail" and "reload" not in by_step
        assert "nothing was reloaded" in by_step["rollback"][1]
        assert lb.config.read_bytes() == old and lb.worker() == before
    finally:
        lb.stop()


def test_reload_slower_than_the_socket_timeout(haproxy_binary, tmp_path) -> None:
    """6000 servers take HAProxy ~0.2 s to reload; the client waits 0.05 s for the answer.

    2.8 answers after loading: the client times out and follows ``show proc``. 2.6
    closes the connection at once and the outcome is always read from ``show proc``.
    """
    d = tmp_path / "lb"
    servers = "".join(f"    server s{i} 127.0.0.{1 + i % 200}:{1000 + i}\n" for i in range(6000))
    from tests.integration.test_apply import config_text

    d.mkdir()
    (d / "haproxy.cfg").write_text(config_text(d, extra=f"\nbackend be_big\n{servers}"))
    lb = start_haproxy(d, haproxy_binary)
    try:
        stage_weight(lb.config, "app1", 44)
        started = time.monotonic()
        result, steps = run_apply(lb.config, lb.target(reload_timeout=0.05))
        assert result.ok, steps
        reload_detail = {s[0]: s[2] for s in steps}["reload"]
        assert "new worker" in reload_detail
        if lb.binary.branch >= (2, 7):
            assert "no answer within 0.05 s, followed show proc" in reload_detail
        assert lb.servers()["app1"].srv_iweight == 44
        assert time.monotonic() - started < 60
    finally:
        lb.stop()


def test_stale_rebase_of_a_rollback_is_refused(lb: Running) -> None:
    stage_weight(lb.config, "app1", 12)
    assert run_apply(lb.config, lb.target())[0].ok
    st = hist.stage_rollback(str(lb.config), 1)
    lb.config.write_text(lb.text() + "# by hand\n")
    with pytest.raises(StagingError, match="raw edit"):
        st.rebase()
