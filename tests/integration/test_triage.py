"""``haconsole errors`` and ``haconsole sessions [shutdown]`` on a real HAProxy, every
version: malformed requests and an invalid response sent over raw sockets, streams
held open on a server that never answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.triage_helpers import Triage, open_streams, provoke_errors, start_triage, wait_for

pytestmark = pytest.mark.haproxy


@pytest.fixture(scope="module")
def triage(haproxy_binary: Any) -> Iterator[Triage]:
    directory = Path(tempfile.mkdtemp(prefix="hac-triage-"))
    t = start_triage(directory, str(haproxy_binary.path))
    try:
        yield t
    finally:
        t.stop()
        shutil.rmtree(directory, ignore_errors=True)


def haconsole(socket_path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", "-s", socket_path, *args],
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def sessions(t: Triage, *args: str) -> dict[str, Any]:
    out = haconsole(t.admin, "sessions", "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def journal() -> list[dict[str, Any]]:
    from console.haproxy.journal import read_entries

    return read_entries()


def test_errors_reports_proxy_reason_client_and_faulty_byte(triage: Triage) -> None:
    provoke_errors(triage)
    out = haconsole(triage.admin, "errors", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    by_proxy = {e["proxy"]: e for e in data["entries"]}
    req, resp = by_proxy["fe_triage"], by_proxy["be_badresp"]
    assert req["direction"] == "request" and req["client"].startswith("127.0.0.2:")
    assert req["reason"] == "invalid request: in a header name"
    assert (req["position"], req["faulty_byte"]) == (27, "0x1b")
    assert "⟦\\x1b⟧[31mRed" in req["context"]
    assert bytes.fromhex(req["buffer_hex"]).startswith(b"GET / HTTP/1.1\r\n")
    assert resp["direction"] == "response" and resp["server"] == "bad1"
    assert resp["frontend"] == "fe_badresp" and resp["faulty_byte"] == "0x1b"
    assert resp["client"].startswith("127.0.0.3:")
    text = haconsole(triage.admin, "errors")
    assert text.returncode == 0 and "\x1b" not in text.stdout
    assert "> 00025  X-⟦\\x1b⟧[31mRed" in text.stdout


def test_sessions_lists_groups_and_filters_by_age(triage: Triage, haproxy_binary: Any) -> None:
    old = open_streams(triage, 3, source="127.0.0.6")
    mine = {s.getsockname()[1] for s in old}
    time.sleep(6)
    fresh = open_streams(triage, 1, source="127.0.0.7")
    older = sessions(triage, "--older", "3s")  # at once: the fresh stream is < 3 s old
    native = haproxy_binary.branch >= (2, 9)  # HAProxy filters, else haconsole does
    assert older["command"].startswith("show sess older 3") == native
    clients = {s["client"].split(":")[0] for s in older["sessions"]}
    assert "127.0.0.6" in clients and "127.0.0.7" not in clients
    assert all(s["age"] >= 3 for s in older["sessions"])
    assert wait_for(lambda: any(s["client"].startswith("127.0.0.7:")
                                for s in sessions(triage)["sessions"]))
    every = sessions(triage, "--by", "client")
    listed = {int(s["client"].rsplit(":", 1)[1]): s for s in every["sessions"]
              if s["client"].startswith("127.0.0.6:")}
    assert set(listed) == mine
    for s in listed.values():
        assert (s["frontend"], s["backend"], s["server"]) == ("fe_triage", "be_slow", "slow1")
        assert s["age"] >= 1 and s["id"].startswith("0x")
    if haproxy_binary.branch >= (3, 1):
        assert {s["uri"] for s in listed.values()} == {"GET /slow/uri HTTP/1.1"}
    group = next(g for g in every["groups"] if g["key"] == "127.0.0.6")
    assert group["sessions"] == 3 and group["oldest_age"] >= 1
    text = haconsole(triage.admin, "sessions", "--by", "server")
    assert text.returncode == 0 and "be_slow/slow1" in text.stdout
    del fresh


def test_shutdown_session_closes_the_client_and_is_journaled(triage: Triage,
                                                             haproxy_binary: Any) -> None:
    (client,) = open_streams(triage, 1, source="127.0.0.8")
    port = client.getsockname()[1]
    assert wait_for(lambda: any(s["client"] == f"127.0.0.8:{port}"
                                for s in sessions(triage)["sessions"]))
    sid = next(s["id"] for s in sessions(triage)["sessions"]
               if s["client"] == f"127.0.0.8:{port}")

    refused = haconsole(triage.operator, "sessions", "shutdown", sid, "--yes")
    assert refused.returncode == 1
    assert "needs level admin" in refused.stderr and refused.stderr.count("\n") == 1
    assert any(s["id"] == sid for s in sessions(triage)["sessions"])

    unconfirmed = haconsole(triage.admin, "sessions", "shutdown", sid)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr

    done = haconsole(triage.admin, "sessions", "shutdown", sid, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"shutdown session {sid}" in done.stdout and "127.0.0.8" in done.stdout
    client.settimeout(5)
    received = b""
    try:
        while chunk := client.recv(65536):  # up to EOF
            received += chunk
            if haproxy_binary.branch < (3, 0) and b"</html>" in received:
                break
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the client's connection stayed open; got {received!r}")
    if haproxy_binary.branch < (3, 0):
        # 2.6 and 2.8 kill the stream with a 502 and keep the client's connection alive
        assert received.startswith(b"HTTP/1.1 502"), received[:80]
    else:
        assert received == b"", received[:80]
    assert not any(s["id"] == sid for s in sessions(triage)["sessions"])

    entries = journal()
    sent = [e for e in entries if e.get("command") == f"shutdown session {sid}"]
    assert len(sent) == 1 and not sent[0].get("error")
    assert sent[0]["before"]["client"] == f"127.0.0.8:{port}"
    refusals = [e for e in entries if e.get("via") == "refused"]
    assert len(refusals) >= 2  # the operator socket, the missing confirmation


def test_bad_ids_and_gone_streams_say_what_to_do(triage: Triage) -> None:
    bad = haconsole(triage.admin, "sessions", "shutdown", "0x12;shutdown", "--yes")
    assert bad.returncode == 2 and "invalid session id" in bad.stderr
    gone = haconsole(triage.admin, "sessions", "shutdown", "0x1234", "--yes")
    assert gone.returncode == 1 and "haconsole sessions" in gone.stderr
    age = haconsole(triage.admin, "sessions", "--older", "soon")
    assert age.returncode == 2 and "30s" in age.stderr
    for out in (bad, gone, age):
        assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_a_user_level_socket_is_told_which_level_is_needed(triage: Triage) -> None:
    for command in ("errors", "sessions"):
        out = haconsole(triage.user, command)
        assert out.returncode == 1 and "needs a socket at level operator" in out.stderr
        assert out.stderr.count("\n") == 1
