"""What the command line sends, refuses and prints, on the real lab: nothing is sent that
was not meant (payload mode, extra words, digits, bytes that are not UTF-8) and nothing
printed can drive the terminal."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_actions import journal, stable_state
from tests.lab_helpers import LabHandle, start_lab

pytestmark = pytest.mark.haproxy
TERMINAL_CONTROLS = ("\x1b", "\x07", "\x9b", "\r")


@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[LabHandle]:
    directory = Path(tempfile.mkdtemp(prefix="hac-send-"))
    with start_lab(directory, str(haproxy_binary.path)) as handle:
        yield handle
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.stderr").unlink(missing_ok=True)


def haconsole(lab: LabHandle, *args: str | bytes) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "console", "-s", lab.info["admin_socket"], *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, errors="surrogateescape")


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    return lines[0]


def acl_patterns(lab: LabHandle) -> list[str]:
    text = lab.send(lab.info["admin_socket"], f"show acl {lab.info['acl_file']}")
    return [line.split(" ", 1)[1] for line in text.splitlines() if " " in line]


def map_entries(lab: LabHandle) -> str:
    return lab.send(lab.info["admin_socket"], f"show map {lab.info['map_file']}")


# --------------------------------------------------------------------------- payload mode

def test_haproxy_takes_a_trailing_marker_as_a_payload_and_does_nothing(lab: LabHandle
                                                                       ) -> None:
    """Why the marker is refused: sent as is, the command is answered with nothing (what
    the console took for success) and the pattern is not added. 2.6 and 2.8 switch on a
    line ending with "<<", 3.x on a last word starting with it."""
    sock, acl = lab.info["admin_socket"], lab.info["acl_file"]
    before = acl_patterns(lab)
    silent = [line for line in (f"add acl {acl} 10.66.0.0/16<<", f"add acl {acl} <<x")
              if lab.send(sock, line).strip() == ""]
    assert silent, "HAProxy answered every payload line"
    assert acl_patterns(lab) == before


@pytest.mark.parametrize("argv,argument", [
    (("acl", "add", "ACL", "10.66.0.0/16<<"), "acl pattern"),
    (("acl", "add", "ACL", "<<x"), "acl pattern"),
    (("acl", "del", "ACL", "10.0.0.1 <<EOF"), "acl pattern"),
    (("map", "add", "MAP", "k.lab", "be_web<<"), "map value"),
    (("map", "set", "MAP", "www.lab.local", "<<"), "map value"),
    (("map", "del", "MAP", "<<www.lab.local"), "map key"),
    (("table", "clear", "fe_api", "--key", "10.0.0.1<<"), "table key"),
])
def test_payload_marker_refused_never_sent(lab: LabHandle, argv: tuple[str, ...],
                                           argument: str) -> None:
    argv = tuple(lab.info["acl_file"] if a == "ACL" else lab.info["map_file"] if a == "MAP"
                 else a for a in argv)
    acl, maps, state = acl_patterns(lab), map_entries(lab), stable_state(lab)
    out = haconsole(lab, *argv, "-y")
    assert out.returncode == 2, (out.stdout, out.stderr)
    err = one_line_error(out)
    assert argument in err and "'<<'" in err and "payload" in err
    assert "sent:" not in out.stdout
    assert (acl_patterns(lab), map_entries(lab), stable_state(lab)) == (acl, maps, state)
    last = journal()[-1]
    assert last["via"] == "refused" and last["ok"] is False and "<<" in last["error"]


# --------------------------------------------------------------------------- exact words

def test_an_address_with_extra_words_is_refused(lab: LabHandle) -> None:
    before = stable_state(lab)
    out = haconsole(lab, "server", "addr", "be_web/web1", "fe80::1%x port 1", "-y")
    assert out.returncode == 2
    assert "scope id" in one_line_error(out)
    assert stable_state(lab) == before
    assert journal()[-1]["via"] == "refused"


# --------------------------------------------------------------------------- digits and bytes

def test_digits_are_ascii_digits(lab: LabHandle) -> None:
    before = stable_state(lab)
    out = haconsole(lab, "server", "maxconn", "be_web/web3", "\u0668\u0660", "-y")
    assert out.returncode == 2 and "digits 0-9" in one_line_error(out)
    out = haconsole(lab, "server", "drain-to-zero", "be_web/web3", "--timeout",
                    "\u0663\u0660", "-y")
    assert out.returncode == 2 and "--timeout" in out.stderr
    assert stable_state(lab) == before


def test_bytes_that_are_not_utf8_are_refused_and_journaled(lab: LabHandle) -> None:
    before = map_entries(lab)
    out = haconsole(lab, "map", "add", lab.info["map_file"], b"k\xff.lab", "be_web", "-y")
    assert out.returncode == 2, out.stderr
    err = one_line_error(out)
    assert "map key" in err and "not UTF-8" in err
    assert map_entries(lab) == before
    last = journal()[-1]
    assert last["via"] == "refused" and "not UTF-8" in last["error"]
    assert "k\\xff.lab" in last["command"]  # the byte shown, the line still valid UTF-8


# ------------------------------------------------------------- nothing drives the terminal

def test_map_values_and_answers_are_shown_escaped(lab: LabHandle) -> None:
    sock, path = lab.info["admin_socket"], lab.info["map_file"]
    assert lab.send(sock, f"add map {path} esc.lab be\x1b]0\\;pwned\x07\x1b[2J").strip() == ""
    try:
        out = haconsole(lab, "map", "show", path, "--filter", "esc.lab")
        assert out.returncode == 0, out.stderr
        assert not any(c in out.stdout for c in TERMINAL_CONTROLS)
        assert out.stdout.strip() == "esc.lab  be\\x1b]0;pwned\\x07\\x1b[2J"
        # the impact of a change quotes the value: escaped too
        out = haconsole(lab, "map", "del", path, "esc.lab", "-y")
        assert out.returncode == 0, out.stderr
        assert not any(c in out.stdout for c in TERMINAL_CONTROLS)
        assert "be\\x1b]0;pwned" in out.stdout
    finally:
        lab.send(sock, f"del map {path} esc.lab")
