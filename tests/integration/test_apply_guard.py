"""An apply never takes service away without the operator confirming that consequence.

Against real HAProxy (every binary found), master-worker mode, as in test_apply.py.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from console.haproxy import history_store as hist
from console.haproxy.staging import Staging
from tests.instance import free_port
from tests.integration.test_apply import Running, run_apply, stage_text, start_haproxy

pytestmark = pytest.mark.haproxy

# HAProxy evaluates this (false with every OpenSSL 1.1.1 or later); the console does not
UNKNOWABLE = ".if openssl_version_before(1.1.1)"


def step(steps: list[tuple], name: str) -> tuple:
    return [s for s in steps if s[0] == name][-1]


def global_only(text: str) -> str:
    """The config with every section but ``global`` removed (the stats socket kept)."""
    return text[:text.index("defaults")]


def test_an_emptied_file_is_refused_with_its_consequence(lb: Running) -> None:
    before, text = lb.worker(), lb.text()
    stage_text(lb.config, "", note="edit in an editor that truncated the file")
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "refused" and not result.ok, steps
    name, status, detail = steps[-1]
    assert (name, status) == ("check", "fail")
    if lb.binary.branch >= (3, 2):  # these refuse a file without any listener themselves
        assert "no enabled listener" in detail
    else:
        assert "haproxy -c passed" in detail  # HAProxy accepts it (-W)
        assert "this removes 3 servers, 1 frontend and the stats socket; HAProxy will " \
            "serve nothing" in detail
        assert "--allow-removal" in detail and "type 'remove 3 servers, 1 frontend and " \
            "the stats socket'" in detail
        assert result.consequence is not None and result.consequence.needs_confirmation
    assert lb.text() == text and lb.worker() == before
    assert hist.history(str(lb.config)) == []
    assert Staging.load(str(lb.config)).status() == "pending"
    assert lb.http() == "v1"


def test_a_candidate_serving_nothing_is_refused_then_applied_once_confirmed(
        lb: Running) -> None:
    text = lb.text()
    stage_text(lb.config, global_only(text))
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "refused", steps
    detail = steps[-1][2]
    assert "haproxy -c passed" in detail
    assert "this removes 3 servers and 1 frontend; HAProxy will serve nothing" in detail
    assert "type 'remove 3 servers and 1 frontend'" in detail
    assert lb.text() == text and lb.http() == "v1"
    # a confirmation naming another consequence is no confirmation
    result, steps = run_apply(lb.config, lb.target(), allow_removal="remove 3 servers")
    assert result.outcome == "refused" and "does not name it" in steps[-1][2]
    assert lb.text() == text
    result, steps = run_apply(lb.config, lb.target(),
                              allow_removal="remove 3 servers and 1 frontend")
    assert result.ok and result.outcome == "applied", steps
    name, status, detail = step(steps, "check")
    assert status == "warn" and "confirmed: this removes 3 servers and 1 frontend" in detail
    assert "not checked" not in step(steps, "verify")[2]
    assert "stats socket answers" in step(steps, "verify")[2]
    assert lb.text() == global_only(text)
    with pytest.raises(OSError):
        lb.http()


def test_most_servers_or_the_stats_socket_need_confirmation(lb: Running) -> None:
    text = lb.text()
    servers = re.findall(r"\n    server app[12] [^\n]*", text)
    stage_text(lb.config, text.replace(servers[0], "").replace(servers[1], ""))
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "refused", steps
    assert "this removes 2 servers (2 of the 3 servers running now)" in steps[-1][2]
    assert "be_app/app1, be_app/app2" in steps[-1][2]
    Staging.load(str(lb.config)).discard()
    stage_text(lb.config, text.replace("    stats socket", "    #stats socket"))
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "refused", steps
    assert f"the console loses its stats socket {lb.socket}" in steps[-1][2]
    Staging.load(str(lb.config)).discard()
    stage_text(lb.config, text.replace(servers[0], ""))  # one of three: no question
    result, steps = run_apply(lb.config, lb.target())
    assert result.ok, steps
    assert step(steps, "check")[1] == "ok" and "be_app/app1" in step(steps, "check")[2]


def test_allow_removal_flag_confirms_any_consequence(lb: Running) -> None:
    stage_text(lb.config, global_only(lb.text()))
    result, steps = run_apply(lb.config, lb.target(), allow_removal=True)
    assert result.ok and result.outcome == "applied", steps
    assert step(steps, "check")[1] == "warn"
    with pytest.raises(OSError):
        lb.http()


def test_verify_fails_when_no_declared_frontend_listens_and_rolls_back(lb: Running) -> None:
    text = lb.text()
    frontend = text[text.index("frontend fe_main"):text.index("backend be_app")]
    hidden = f"{UNKNOWABLE}\n{frontend}.endif\n\n"
    stage_text(lb.config, text.replace(frontend, hidden))
    result, steps = run_apply(lb.config, lb.target())
    assert result.outcome == "rolled back", steps
    check = step(steps, "check")
    assert check[1] == "ok" and "cannot evaluate: counted as read" in check[2]
    verify = step(steps, "verify")
    assert verify[1] == "fail"
    assert "none of the frontends the file declares is listening: fe_main (absent)" in verify[2]
    assert step(steps, "rollback")[1] == "ok"
    assert lb.text() == text and lb.http() == "v1"
    assert Staging.load(str(lb.config)).status() == "pending"


def test_verify_fails_when_a_stats_socket_of_the_old_worker_is_gone(haproxy_binary,
                                                                   tmp_path: Path) -> None:
    port = free_port()
    lb = start_haproxy(tmp_path / "lb", haproxy_binary,
                       global_extra=f"    stats socket 127.0.0.1:{port} level operator")
    try:
        text = lb.text()
        line = f"    stats socket 127.0.0.1:{port} level operator\n"
        stage_text(lb.config, text.replace(line, f"{UNKNOWABLE}\n{line}.endif\n"))
        result, steps = run_apply(lb.config, lb.target())
        assert result.outcome == "rolled back", steps
        verify = step(steps, "verify")
        assert f"the stats socket 127.0.0.1:{port} does not answer" in verify[2]
        assert lb.text() == text
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the previous configuration serves it again
    finally:
        lb.stop()


def test_verify_confirms_every_stats_socket_and_the_listening_frontends(lb: Running,
                                                                        tmp_path: Path) -> None:
    text = lb.text()
    stage_text(lb.config, text.replace("weight 20", "weight 21"))
    result, steps = run_apply(lb.config, lb.target())
    assert result.ok, steps
    verify = step(steps, "verify")[2]
    assert "stats socket answers (worker" in verify and "listening: fe_main" in verify


def test_consequence_counts_servers_of_the_live_files_without_a_running_haproxy() -> None:
    from console.haproxy.apply_guard import assess
    from console.haproxy.config.cond import CondContext

    live = b"global\n    stats socket /run/a.sock\nfrontend f\n    bind :80\n" \
           b"backend b\n    server s1 1.1.1.1:80\n    server-template t 3 x.local:80\n"
    c = assess([("/a.cfg", live)], [("/a.cfg", live.replace(b"    server s1 1.1.1.1:80\n",
                                                            b""))], CondContext())
    assert (c.running_servers, c.removed_servers, c.servers_from) == (4, ["b/s1"],
                                                                      "in the live files")
    assert not c.needs_confirmation and c.phrase == "remove 1 server"
    disabled = live.replace(b"frontend f\n", b"frontend f\n    disabled\n")
    c = assess([("/a.cfg", live)], [("/a.cfg", disabled)], CondContext(), socket="/run/a.sock")
    assert c.serves_nothing and c.phrase == "remove 1 frontend"
    c = assess([("/a.cfg", live)], [("/a.cfg", live)], CondContext(), socket="/run/b.sock")
    assert not c.needs_confirmation and not c.phrase
