"""The staging area, the apply lock and the history store (no HAProxy needed)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from console.haproxy import history_store as hist
from console.haproxy.errors import ValidationError
from console.haproxy.staging import (
    LockHeld,
    Staging,
    StagingError,
    StaleError,
    apply_lock,
    compute_candidate,
    replace_op,
    section_headers,
)
from console.haproxy.statefs import StateError

CFG = b"""\
global
    maxconn 100

defaults
    mode http
    timeout connect 1s

backend be_app
    balance roundrobin
    server app1 127.0.0.1:8001 weight 10
    server app2 127.0.0.1:8002 weight 20

backend be_other
    server other1 127.0.0.1:9001
"""

try:
    from console.haproxy.config import apply_ops as _model  # noqa: F401

    HAVE_MODEL = True
except ImportError:
    HAVE_MODEL = False
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="config model not in this tree")


@pytest.fixture
def cfg(tmp_path) -> str:
    path = tmp_path / "etc" / "haproxy.cfg"
    path.parent.mkdir()
    path.write_bytes(CFG)
    return str(path)


def _weight(op_value: str = "50") -> dict:
    return {"op": "server_set", "backend": "be_app", "server": "app1",
            "set": {"weight": op_value}}


def test_nothing_staged(cfg) -> None:
    st = Staging.load(cfg)
    assert not st.pending and st.status() == "empty"
    assert st.base == st.candidate == CFG
    assert st.diff() == ""
    assert not st.file.exists()


def test_raw_edit_is_persisted_and_shared(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"weight 10", b"weight 15"))
    assert st.pending and st.status() == "pending"
    assert stat.S_IMODE(os.stat(st.file).st_mode) == 0o600
    doc = json.loads(st.file.read_text())
    assert doc["config"] == os.path.realpath(cfg)
    assert doc["ops"][0]["op"] == "replace"
    assert doc["user"]["user"] and doc["created"] <= doc["updated"]
    other = Staging.load(cfg)  # another console
    assert other.candidate == st.candidate and other.ops == st.ops
    diff = other.diff()
    assert diff.startswith(f"--- {cfg} (live)\n+++ {cfg} (staged)\n")
    assert "-    server app1 127.0.0.1:8001 weight 10\n" in diff
    assert "+    server app1 127.0.0.1:8001 weight 15\n" in diff
    assert [n for n in os.listdir(st.file.parent) if "tmp" in n] == []


def test_symlink_and_target_share_one_staging(cfg, tmp_path) -> None:
    link = tmp_path / "link.cfg"
    link.symlink_to(cfg)
    Staging.load(str(link)).set_candidate(CFG + b"# x\n")
    assert Staging.load(cfg).pending


def test_hunks_name_their_sections(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"maxconn 100", b"maxconn 200")
                     .replace(b"server other1 127.0.0.1:9001", b"server other1 127.0.0.1:9002"))
    hunks = st.hunks_with_sections()
    assert [h.section for h in hunks] == ["global", "backend be_other"]
    assert hunks[0].header.startswith("@@ -1,")
    assert any(line.startswith("+    maxconn 200") for line in hunks[0].lines)


def test_hunk_adding_lines_at_a_section_end(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"weight 20\n", b"weight 20\n    server app3 127.0.0.1:8003\n"))
    assert [h.section for h in st.hunks_with_sections()] == ["backend be_app"]


def test_section_headers() -> None:
    text = "global\n  x\ndefaults web from base\nbackend  be_a # c\nlisten st\n"
    assert section_headers(text) == [(1, "global"), (3, "defaults web"),
                                     (4, "backend be_a"), (5, "listen st")]


def test_back_to_base_means_nothing_staged(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# note\n")
    st.set_candidate(CFG)
    assert not st.pending and not st.file.exists()


def test_stale_and_rebase_of_raw_edit_refused(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"weight 10", b"weight 15"))
    with open(cfg, "ab") as f:
        f.write(b"# changed by hand\n")
    assert st.is_stale() and st.status() == "stale"
    assert "+# changed by hand" in st.live_diff()
    with pytest.raises(StaleError) as info:
        st.set_candidate(CFG)
    assert "+# changed by hand" in info.value.live_diff
    with pytest.raises(StagingError, match="raw edit"):
        st.rebase()
    st.discard()
    assert not Staging.load(cfg).pending


def test_applied_status(cfg) -> None:
    st = Staging.load(cfg)
    new = CFG + b"# v2\n"
    st.set_candidate(new)
    with open(cfg, "wb") as f:
        f.write(new)
    assert st.status() == "applied"
    assert st.clear_if(st.candidate_hash)
    assert Staging.load(cfg).status() == "empty"


def test_clear_if_keeps_a_newer_change(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# a\n")
    first = st.candidate_hash
    Staging.load(cfg).set_candidate(CFG + b"# a\n# b\n")
    assert not st.clear_if(first)
    assert Staging.load(cfg).pending


def test_replace_only_on_its_base() -> None:
    op = replace_op(b"new\n", CFG)
    assert compute_candidate(CFG, [op]) == b"new\n"
    with pytest.raises(StagingError, match="another version"):
        compute_candidate(CFG + b"#\n", [op])


def test_control_characters_refused_in_ops(cfg) -> None:
    st = Staging.load(cfg)
    with pytest.raises(ValidationError, match="control character"):
        st.add_ops([_weight("50\n    server evil 1.2.3.4:1")])
    assert not st.pending and not st.file.exists()


@needs_model
def test_ops_are_recomputed_from_the_base(cfg) -> None:
    st = Staging.load(cfg)
    st.add_ops([_weight("50")])
    st.add_ops([{"op": "server_set", "backend": "be_app", "server": "app2",
                 "set": {"weight": "5"}}])
    assert len(st.ops) == 2
    assert b"app1 127.0.0.1:8001 weight 50" in st.candidate
    assert b"app2 127.0.0.1:8002 weight 5" in st.candidate
    assert st.base == CFG
    assert "weight 10 → 50" in st.summary()


@needs_model
def test_unknown_server_refused_nothing_staged(cfg) -> None:
    st = Staging.load(cfg)
    with pytest.raises(ValidationError):
        st.add_ops([{"op": "server_set", "backend": "be_app", "server": "nope",
                     "set": {"weight": "5"}}])
    assert not st.pending and not st.file.exists()


@needs_model
def test_rebase_reapplies_ops_on_the_new_file(cfg) -> None:
    st = Staging.load(cfg)
    st.add_ops([_weight("50")])
    with open(cfg, "wb") as f:
        f.write(CFG.replace(b"maxconn 100", b"maxconn 300"))
    assert st.is_stale()
    st.rebase()
    assert not st.is_stale()
    assert b"maxconn 300" in st.candidate and b"weight 50" in st.candidate
    assert Staging.load(cfg).candidate == st.candidate


@needs_model
def test_rebase_fails_clearly_when_the_server_is_gone(cfg) -> None:
    st = Staging.load(cfg)
    st.add_ops([_weight("50")])
    with open(cfg, "wb") as f:
        f.write(CFG.replace(b"    server app1 127.0.0.1:8001 weight 10\n", b""))
    with pytest.raises(ValidationError, match="app1"):
        st.rebase()
    assert Staging.load(cfg).candidate == st.candidate  # unchanged, still stale


# --------------------------------------------------------------------------- the lock

def test_second_lock_is_refused_naming_the_holder(cfg, monkeypatch) -> None:
    monkeypatch.setenv("SSH_CONNECTION", "10.1.2.3 51000 10.0.0.1 22")
    with apply_lock(cfg) as me:
        assert me["pid"] == os.getpid() and me["ssh_origin"] == "10.1.2.3"
        with pytest.raises(LockHeld) as info:
            with apply_lock(cfg):
                pass
    assert info.value.holder["pid"] == os.getpid()
    assert f"pid {os.getpid()}, from 10.1.2.3) since " in str(info.value)
    with apply_lock(cfg):  # released
        pass


def test_lock_of_a_killed_process_is_free(cfg, tmp_path) -> None:
    code = ("import sys, time; from console.haproxy.staging import apply_lock\n"
            "with apply_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, cfg], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert proc.stdout and proc.stdout.readline().strip() == b"held"
        with pytest.raises(LockHeld, match=f"pid {proc.pid}"):
            with apply_lock(cfg):
                pass
    finally:
        proc.kill()
        proc.wait()
    with apply_lock(cfg):
        pass


# --------------------------------------------------------------------------- history

def test_history_versions_and_rollback_staging(cfg) -> None:
    v1 = hist.ensure_saved(cfg, CFG)
    assert hist.ensure_saved(cfg, CFG).number == v1.number == 1  # not saved twice
    directory = hist.history_dir(cfg)  # the shared place: the operators' group, no others
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o2770
    assert stat.S_IMODE(os.stat(directory.parent).st_mode) == 0o2770
    assert stat.S_IMODE(os.stat(directory / "0001.cfg").st_mode) == 0o660
    new = CFG.replace(b"weight 10", b"weight 11")
    v2 = hist.save_version(cfg, new, message="weight 11", status="writing", diff="d")
    assert v2.number == 2 and hist.interrupted(cfg).number == 2
    hist.set_status(cfg, 2, "applied")
    assert hist.interrupted(cfg) is None
    with open(cfg, "wb") as f:
        f.write(new)
    assert hist.live_version(cfg) == 2
    assert [v.status for v in hist.history(cfg)] == ["found", "applied"]
    assert hist.diff_version(cfg, 2) == "d"
    assert "+    server app1 127.0.0.1:8001 weight 10" in hist.diff_version(cfg, 1)
    with pytest.raises(Exception, match="no version 7"):
        hist.get_version(cfg, 7)
    st = hist.stage_rollback(cfg, 1)
    assert st.candidate == CFG and st.summary() == "rollback to version 1"
    with pytest.raises(StagingError, match="already staged"):
        hist.stage_rollback(cfg, 1)
    st.discard()
    with pytest.raises(ValidationError, match="already is version 2"):
        hist.stage_rollback(cfg, 2)


def test_outside_change_is_kept_as_its_own_version(cfg) -> None:
    hist.ensure_saved(cfg, CFG)
    time.sleep(0.01)
    v = hist.ensure_saved(cfg, CFG + b"# by hand\n")
    assert v.number == 2 and "changed outside haconsole" in v.message
    assert "+# by hand" in v.diff


# --------------------------------------------------------------------------- stored form

def _bases(st: Staging) -> list[str]:
    return sorted(n for n in os.listdir(st.file.parent) if n.endswith(".base"))


def test_the_staged_text_is_stored_as_a_splice_of_one_kept_base(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"weight 10", b"weight 15"))
    st.set_candidate(CFG.replace(b"weight 10", b"weight 16"))
    doc = json.loads(st.file.read_text())
    assert doc["format"] == 2 and "base" not in doc and "candidate" not in doc
    assert doc["base_size"] == len(CFG) and doc["candidate_splice"][2] == "Ng=="
    bases = _bases(st)
    assert len(bases) == 1 and (st.file.parent / bases[0]).read_bytes() == CFG
    assert stat.S_IMODE(os.stat(st.file.parent / bases[0]).st_mode) == 0o600
    other = Staging.load(cfg)
    assert (other.base, other.candidate, other.ops) == (st.base, st.candidate, st.ops)
    st.discard()
    assert _bases(st) == [] and not st.file.exists()


def test_a_stale_change_reads_its_kept_base(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"weight 10", b"weight 15"))
    with open(cfg, "ab") as f:
        f.write(b"# changed by hand\n")
    other = Staging.load(cfg)
    assert other.status() == "stale" and other.base == CFG
    assert other.candidate == CFG.replace(b"weight 10", b"weight 15")
    assert "+# changed by hand" in other.live_diff()


@pytest.mark.parametrize("damage", ["missing", "damaged", "symlink"])
def test_a_lost_base_is_a_clear_state_error(cfg, tmp_path, damage) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"weight 10", b"weight 15"))
    with open(cfg, "ab") as f:
        f.write(b"# changed by hand\n")
    base = st.file.parent / _bases(st)[0]
    base.unlink()
    if damage == "damaged":
        base.write_bytes(CFG.replace(b"maxconn", b"maxconx"))
    elif damage == "symlink":
        (tmp_path / "elsewhere").write_bytes(CFG)
        base.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StateError) as info:
        Staging.load(cfg)
    assert str(st.file) in str(info.value) or str(base) in str(info.value)


@pytest.mark.parametrize("splice", [[0, 0, "AAAA"], [10 ** 6, 0, ""], [-1, 0, ""], "x",
                                    [0, 0, "%%%"]])
def test_a_bad_splice_is_a_clear_state_error(cfg, splice) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# edited\n")
    doc = json.loads(st.file.read_text())
    st.file.write_text(json.dumps(dict(doc, candidate_splice=splice)))
    with pytest.raises(StateError, match="the staged change is unreadable"):
        Staging.load(cfg)


def test_a_change_staged_in_the_first_format_is_still_read(cfg) -> None:
    import base64

    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# edited\n")
    doc = json.loads(st.file.read_text())
    old = {k: v for k, v in doc.items() if k not in ("candidate_splice", "base_size")}
    old.update(format=1, base=base64.b64encode(CFG).decode(),
               candidate=base64.b64encode(CFG + b"# edited\n").decode())
    st.file.write_text(json.dumps(old))
    other = Staging.load(cfg)
    assert other.candidate == CFG + b"# edited\n" and other.status() == "pending"
    other.set_candidate(CFG + b"# edited again\n")
    assert json.loads(st.file.read_text())["format"] == 2
    assert Staging.load(cfg).candidate == CFG + b"# edited again\n"


@pytest.mark.parametrize("damage", ["same size", "symlink"])
def test_a_kept_base_not_what_it_should_be_is_written_again(cfg, tmp_path, damage) -> None:
    """A base beside the staged change that is damaged (the same size, other bytes) or a
    link is replaced at the next save, so the change stays readable once the live file
    moves on; a link's target is never written."""
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"weight 10", b"weight 15"))
    base = st.file.parent / _bases(st)[0]
    elsewhere = tmp_path / "elsewhere"
    base.unlink()
    if damage == "same size":
        base.write_bytes(CFG.replace(b"maxconn", b"maxconx"))
    else:
        elsewhere.write_bytes(CFG.replace(b"maxconn", b"maxconx"))
        base.symlink_to(elsewhere)
    st.set_candidate(CFG.replace(b"weight 10", b"weight 16"))
    with open(cfg, "ab") as f:
        f.write(b"# changed by hand\n")
    other = Staging.load(cfg)
    assert other.base == CFG and other.candidate == CFG.replace(b"weight 10", b"weight 16")
    assert not base.is_symlink()
    if damage == "symlink":
        assert elsewhere.read_bytes() == CFG.replace(b"maxconn", b"maxconx")


def test_a_change_saved_while_it_is_read_is_read_again(cfg, monkeypatch) -> None:
    """Reading without the lock, the base named by the JSON just read may be gone (a
    change saved meanwhile removed it): the change is read again, not called lost."""
    st = Staging.load(cfg)
    st.set_candidate(CFG.replace(b"weight 10", b"weight 15"))
    with open(cfg, "ab") as f:
        f.write(b"# changed by hand\n")
    real, calls = Staging._stored_base, []

    def racing(self, base_hash, size):
        calls.append(base_hash)
        if len(calls) == 1:
            raise ValueError("its base is missing")
        return real(self, base_hash, size)

    monkeypatch.setattr(Staging, "_stored_base", racing)
    assert Staging.load(cfg).candidate == CFG.replace(b"weight 10", b"weight 15")
    assert len(calls) == 2


def test_a_staged_change_nested_past_the_parsers_depth_is_a_clear_state_error(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# edited\n")
    st.file.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(StateError, match="the staged change is unreadable"):
        Staging.load(cfg)


def test_a_text_equal_to_one_hashed_is_known_by_its_hash() -> None:
    from console.haproxy.atomic import sha256
    from console.haproxy.staging import has_hash, text_hash

    text = b"backend be\n  server s1 127.0.0.1:80\n" * 3
    assert text_hash(text) == sha256(text)
    same = bytes(bytearray(text))  # an equal text, another object
    assert same is not text and has_hash(same, sha256(text))
    assert not has_hash(same + b"#", sha256(text))
    assert not has_hash(text, sha256(b"other"))


@needs_model
@pytest.mark.parametrize("said", ["set weight 50", 7, [], ["a", "b"], None,
                                  [{"op": "x"}], ["\x1b[2J\u202egone\nsecond line"]])
def test_descriptions_from_a_damaged_staged_file_are_said_again_or_shown_escaped(
        cfg, said) -> None:
    """The edits' descriptions kept in the staged change's file are used only as a list
    of one per edit; otherwise worked out again from the edits. Whatever they say is
    shown escaped, on one line each (the CLI's header of a review)."""
    from console.config_cli import _header
    from console.haproxy.staging import describe_op

    st = Staging.load(cfg)
    st.add_ops([_weight("50")])
    expected = [describe_op(_weight("50"), CFG)]
    assert st.descriptions() == expected
    doc = json.loads(st.file.read_text())
    doc["descriptions"] = said
    st.file.write_text(json.dumps(doc))
    again = Staging.load(cfg)
    shown = again.descriptions()
    if isinstance(said, list) and len(said) == 1:
        assert shown == [str(said[0])]
    else:
        assert shown == expected
    for line in _header(again):
        assert "\n" not in line and "\x1b" not in line
    assert again.candidate == st.candidate and again.ops == st.ops  # nothing else moved
