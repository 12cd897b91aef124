"""The configuration screens as a user drives them: review, edit, discard, stale, apply.

Every test writes its own config file; the staging area and the history live in
the temporary ``HACONSOLE_STATE_DIR`` of tests/conftest.py. The apply tests run
the real ``haproxy -c`` (no running HAProxy: the file is written, not reloaded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App
from textual.screen import Screen

from console.haproxy import history_store as hist
from console.haproxy import staging as staging_mod
from console.haproxy.apply_steps import ApplyTarget
from console.haproxy.staging import Staging
from console.instance import Target, apply_target_from
from console.ui import themes as themes_mod
from console.ui.screens.config import ConfigScreen
from console.ui.screens.config_editor import ConfigEditorScreen
from console.ui.screens.config_history import ConfigHistoryScreen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.apply_steps import (
    ApplySteps,
    check_errors,
    outcome_text,
)
from console.ui.widgets.cfg_highlight import (
    ConfigTextArea,
    decode_config,
    encode_config,
    line_highlights,
)
from console.ui.widgets.diffview import DiffView

CONFIG = """\
# edge proxy (test)
global
    maxconn 100

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe_main
    bind 127.0.0.1:18080
    default_backend be_app

backend be_app
    balance roundrobin
    server app1 127.0.0.1:18081 weight 10
    server app2 127.0.0.1:18082 weight 10

backend be_static
    server static1 127.0.0.1:18083 weight 5 check
"""
T0 = 1_790_000_000.0


class Host(App[None]):
    """A bare app with the console's dark theme that opens one screen."""

    def __init__(self, make: Callable[[], Screen]) -> None:
        super().__init__()
        self.make = make

    def on_mount(self) -> None:
        ct = themes_mod.load_theme_file(themes_mod.shipped_dirs()[0] / "dark.toml")
        self.register_theme(ct.theme)
        self.theme = ct.name
        self.push_screen(self.make())


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "haproxy.cfg"
    path.write_text(CONFIG)
    return path


def make_target(path: Path | str, **kw: object) -> Target:
    return Target(name="edge", config=str(path), **kw)  # type: ignore[arg-type]


def stage_weight(path: Path | str, server: str = "app1", weight: str = "20") -> Staging:
    st = Staging.load(str(path))
    st.add_ops([{"op": "server_set", "backend": "be_app", "server": server,
                 "set": {"weight": weight}}])
    return st


def review(target: Target, at: ApplyTarget | None = None) -> Host:
    """The config screen of *target* (without a socket: nothing to ask the master)."""
    return Host(lambda: ConfigScreen(target, at or apply_target_from(target, None)))


def editor(target: Target) -> Host:
    return Host(lambda: ConfigEditorScreen(target, apply_target=apply_target_from(target, None)))


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the screen")
        await pilot.pause(0.05)


def screen_text(app: App) -> str:
    from textual.widgets import Static

    return "\n".join(str(w.render()) for w in app.screen.query(Static))


# -- pure helpers ------------------------------------------------------------------------

def test_highlighter_names_the_parts_of_a_line() -> None:
    def parts(line: str) -> list[tuple[str, str]]:
        return [(line[s:e], name) for s, e, name in line_highlights(line)]

    assert parts("backend be_app") == [("backend", "cfg.section"), ("be_app", "cfg.name")]
    assert parts("    server app1 10.0.0.1:80 weight 10 # old") == [
        ("server", "cfg.server"), ("app1", "cfg.name"), ("10.0.0.1:80", "cfg.address"),
        ("10", "cfg.number"), ("# old", "cfg.comment")]
    assert parts('  bind :443 ssl crt "/etc/${SITE}.pem"') == [
        ("bind", "cfg.server"), (":443", "cfg.address"),
        ('"/etc/${SITE}.pem"', "cfg.string"), ("${SITE}", "cfg.variable")]
    assert parts("  timeout client 30s") == [("timeout", "cfg.keyword"), ("30s", "cfg.number")]
    # a '#' inside a word is not a comment (HAProxy's rule)
    assert parts("  acl a path foo#bar") == [("acl", "cfg.keyword")]


def test_non_utf8_text_round_trips() -> None:
    data = b"global\n    log \xff\xfe local0\n    # caf\xc3\xa9\n"
    text, raw = decode_config(data)
    assert raw == 2
    assert "\udcff" not in text  # nothing the terminal cannot print
    assert encode_config(text) == data


def test_check_errors_map_to_candidate_lines() -> None:
    assert check_errors(["line 16: unknown keyword 'bogus' in 'backend' section",
                         "/etc/other.cfg:3: bad"]) == [
        (16, "unknown keyword 'bogus' in 'backend' section"), (None, "/etc/other.cfg:3: bad")]


def test_a_rollback_outcome_shows_the_startup_log() -> None:
    from console.haproxy.apply import ApplyResult, StepReport
    from console.haproxy.apply_reload import ReloadOutcome

    result = ApplyResult(False, "rolled back", "the reload failed", steps=[
        StepReport("write", "ok", "replaced"),
        StepReport("reload", "fail", "master: new worker exited (0.40 s)\n"
                   "startup log: Starting proxy fe: cannot bind socket (Address in use)"),
        StepReport("rollback", "ok", "worker 12 serves the previous configuration again")],
        reload=ReloadOutcome(False, "master", "new worker exited",
                             log=["Starting proxy fe: cannot bind socket (Address in use)",
                                  "Fatal errors found in configuration."]))
    text = outcome_text(result, b"", no_reload=False, still_staged=True).plain
    assert text.startswith("✖ rolled back: the reload failed")
    assert "startup log: Starting proxy fe: cannot bind socket (Address in use)" in text
    assert text.count("cannot bind socket") == 1
    assert "startup log: Fatal errors found in configuration." in text
    assert "The change stays staged" in text


async def test_apply_steps_show_the_running_step() -> None:
    class StepsApp(App[None]):
        def compose(self):
            yield ApplySteps()

    app = StepsApp()
    async with app.run_test(size=(100, 20)) as pilot:
        steps = app.query_one(ApplySteps)
        steps.start(no_reload=True)
        assert steps.next_step == "stale"
        steps.step("stale", "ok", "live file unchanged")
        steps.step("lock", "ok", "held by ops")
        await pilot.pause()
        assert steps.next_step == "check"
        shown = str(steps.query_one("Static").render())
        assert "✓ stale check" in shown and "… check       running" in shown
        steps.step("reload", "skip", "skipped")
        assert steps.next_step is None


def test_apply_target_without_instance_does_not_reload(cfg: Path) -> None:
    assert not apply_target_from(make_target(cfg), None).has_runtime
    at = apply_target_from(make_target(cfg, master="/run/m.sock", reload="systemctl",
                                       reload_command="haproxy.service"), None)
    assert at.has_runtime and at.reload == "systemctl" and at.config_files == [str(cfg)]


# -- review ------------------------------------------------------------------------------

async def test_review_shows_edits_and_diff_by_section(cfg: Path) -> None:
    stage_weight(cfg)
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfigScreen)
        text = screen_text(app)
        assert "1 edit staged" in text and "the live file is unchanged" in text
        assert "server app1 weight 10 → 20" in text and "sections: backend be_app" in text
        diff = app.screen.query_one(DiffView)
        headers = [r.text for r in diff.rows if r.kind == "hunk"]
        assert headers == ["backend be_app  @@ -14,7 +14,7 @@"]
        added = [r for r in diff.rows if r.kind == "add"]
        removed = [r for r in diff.rows if r.kind == "del"]
        assert [r.text.split() for r in added] == [
            ["server", "app1", "127.0.0.1:18081", "weight", "20"]]
        assert removed[0].old == added[0].new == 17
        assert diff.jump_to(17) and diff.target_line == 17


async def test_a_hunk_across_sections_names_them_all(cfg: Path) -> None:
    st = stage_weight(cfg)
    st.add_ops([{"op": "server_add", "backend": "be_static", "server": "static2",
                 "addr": "127.0.0.1:18084"}])
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        diff = app.screen.query_one(DiffView)
        assert [r.text for r in diff.rows if r.kind == "hunk"] == [
            "backend be_app · backend be_static  @@ -14,8 +14,9 @@"]
        assert "sections: backend be_app, backend be_static" in screen_text(app)
        assert "2 edits staged" in screen_text(app)


async def test_nothing_pending_offers_a_raw_edit(cfg: Path) -> None:
    app = review(make_target(cfg))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert "Nothing staged" in screen_text(app)
        assert screen.query_one(DiffView).placeholder.startswith("Nothing staged. Press e")
        assert screen.check_action("apply", ()) is False
        assert screen.check_action("edit", ()) is True
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ConfigEditorScreen)
        assert app.screen.query_one(ConfigTextArea).text == CONFIG


async def test_read_only_shows_the_diff_but_no_change(cfg: Path) -> None:
    stage_weight(cfg)
    app = review(make_target(cfg, read_only=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one(DiffView).rows
        assert "Read-only" in screen_text(app)
        for action in ("apply", "edit", "external_edit", "discard", "message"):
            assert screen.check_action(action, ()) is False
        await pilot.press("a", "d", "e")
        await pilot.pause()
        assert app.screen is screen
        assert Staging.load(str(cfg)).pending


async def test_discard_asks_then_clears(cfg: Path) -> None:
    stage_weight(cfg)
    app = review(make_target(cfg))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert Staging.load(str(cfg)).pending
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, ConfigScreen)
        assert not Staging.load(str(cfg)).pending
        assert "Nothing staged" in screen_text(app)
    assert cfg.read_text() == CONFIG


async def test_stale_base_offers_rebase(cfg: Path) -> None:
    stage_weight(cfg)
    cfg.write_text(CONFIG.replace("maxconn 100", "maxconn 200"))  # changed by hand
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.status == "stale"
        text = screen_text(app)
        assert "STALE" in text and "changed in global: +1 -1" in text
        assert "R re-applies" in text
        assert screen.check_action("rebase", ()) is True
        assert screen.check_action("apply", ()) is False
        assert screen.check_action("edit", ()) is False
        await pilot.press("R")
        await pilot.pause()
        assert screen.status == "pending"
        st = Staging.load(str(cfg))
        assert b"maxconn 200" in st.candidate and b"app1 127.0.0.1:18081 weight 20" in \
            st.candidate


async def test_stale_raw_edit_can_only_be_discarded(cfg: Path) -> None:
    st = Staging.load(str(cfg))
    st.set_candidate(CONFIG.replace("balance roundrobin", "balance leastconn").encode())
    cfg.write_text(CONFIG + "\n# touched\n")
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "d discards it, then edit again" in screen_text(app)
        await pilot.press("R")
        await pilot.pause()
        assert app.screen.status == "stale"  # refused, explained in a notification
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert app.screen.status == "empty"


# -- editor ------------------------------------------------------------------------------

async def test_editor_stages_a_raw_edit(cfg: Path) -> None:
    stage_weight(cfg)
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, ConfigEditorScreen)
        area = editor.query_one(ConfigTextArea)
        assert "app1 127.0.0.1:18081 weight 20" in area.text  # the candidate, not the file
        editor.goto(16)
        assert area.cursor_location == (15, 0)
        area.move_cursor((15, len(area.document.get_line(15))))
        await pilot.press("enter", *"    hash-type consistent")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfigScreen)
        st = Staging.load(str(cfg))
        assert [op["op"] for op in st.ops] == ["server_set", "replace"]
        assert "    balance roundrobin\n    hash-type consistent\n" in st.candidate.decode()
        assert "edit in the console" in screen_text(app)
    assert cfg.read_text() == CONFIG


async def test_editor_escape_asks_before_dropping_edits(cfg: Path) -> None:
    app = editor(make_target(cfg))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ConfigEditorScreen)
        await pilot.press("ctrl+s")  # opened alone: saving goes on to the review
        await pilot.pause()
        assert isinstance(app.screen, ConfigScreen)
        assert Staging.load(str(cfg)).candidate.startswith(b"x# edge proxy")


async def test_editor_keeps_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.cfg"
    data = CONFIG.replace("# edge proxy (test)", "# caf\xe9 proxy").encode("latin-1")
    path.write_bytes(data)
    app = editor(make_target(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        area = app.screen.query_one(ConfigTextArea)
        assert "not UTF-8: 1 byte" in screen_text(app)
        area.move_cursor((2, 0))
        await pilot.press("#", " ")
        await pilot.press("ctrl+s")
        await pilot.pause()
    st = Staging.load(str(path))
    assert st.candidate == data.replace(b"    maxconn", b"#     maxconn")


async def test_external_editor_result_is_staged(cfg: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "ed.sh"
    script.write_text('#!/bin/sh\nsed -i "s/weight 5 check/weight 7 check/" "$1"\n')
    script.chmod(0o755)
    monkeypatch.setenv("VISUAL", str(script))
    import contextlib

    monkeypatch.setattr(App, "suspend", lambda self: contextlib.nullcontext())
    app = review(make_target(cfg))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("E")
        await pilot.pause()
        st = Staging.load(str(cfg))
        assert st.pending and st.ops[0]["note"] == "edit in ed.sh"
        assert b"static1 127.0.0.1:18083 weight 7 check" in st.candidate
        assert app.screen.status == "pending"


# -- history -----------------------------------------------------------------------------

async def test_history_lists_versions_and_stages_a_rollback(cfg: Path) -> None:
    hist.save_version(str(cfg), CONFIG.encode(), message="first", status="found")
    new = CONFIG.replace("weight 5", "weight 6")
    hist.save_version(str(cfg), new.encode(), message="static heavier", status="applied",
                      diff=staging_mod.unified_diff(CONFIG.encode(), new.encode(), "a", "b"))
    cfg.write_text(new)
    app = review(make_target(cfg))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfigHistoryScreen)
        assert [v.number for v in screen.versions] == [2, 1] and screen.live == 2
        diff = screen.query_one(DiffView)
        assert [r.text for r in diff.rows if r.kind == "hunk"][0].startswith("backend be_static")
        await pilot.press("down")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfigScreen)
        st = Staging.load(str(cfg))
        assert st.candidate == CONFIG.encode() and st.descriptions() == ["rollback to version 1"]


# -- apply (the real haproxy -c, no running HAProxy) -------------------------------------

async def _apply(pilot, app: Host) -> ConfigScreen:
    await pilot.press("m", *"weights", "enter")
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    body = app.screen.body
    assert "1. check" in body and "no running HAProxy known" in body
    await pilot.press("y")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ConfigScreen)
    await wait_for(pilot, lambda: not screen.applying and screen.result is not None)
    return screen


@pytest.mark.haproxy
async def test_apply_writes_a_good_candidate(cfg: Path, haproxy_binary) -> None:
    stage_weight(cfg)
    app = review(make_target(cfg, haproxy=haproxy_binary.path))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await _apply(pilot, app)
        assert screen.result.ok and screen.result.outcome == "written"
        steps = screen.query_one(ApplySteps)
        assert [(s, st) for s, (st, _) in steps.steps.items()] == [
            ("stale", "ok"), ("lock", "ok"), ("check", "ok"), ("history", "ok"),
            ("write", "ok"), ("reload", "skip")]
        assert "HAProxy was not reloaded (no running HAProxy known)" in steps.outcome.plain
        assert screen.status == "empty"
    assert "server app1 127.0.0.1:18081 weight 20" in cfg.read_text()
    versions = hist.history(str(cfg))
    assert versions[-1].message == "weights" and versions[-1].status == "written"


@pytest.mark.haproxy
async def test_apply_refuses_a_broken_candidate(cfg: Path, haproxy_binary) -> None:
    broken = CONFIG.replace("    balance roundrobin\n",
                            "    balance roundrobin\n    bogus_keyword 12\n")
    Staging.load(str(cfg)).set_candidate(broken.encode(), note="typo")
    app = review(make_target(cfg, haproxy=haproxy_binary.path))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await _apply(pilot, app)
        result = screen.result
        assert not result.ok and result.outcome == "refused"
        assert screen.error_lines == [17]
        outcome = screen.query_one(ApplySteps).outcome.plain
        assert "[ALERT] line 17: unknown keyword 'bogus_keyword'" in outcome
        assert "17 │ bogus_keyword 12" in outcome
        assert "The change stays staged" in outcome
        diff = screen.query_one(DiffView)
        assert diff.target_line == 17 and 17 in diff.error_lines
        row = diff.rows[diff.row_of(17)]
        assert row.kind == "add" and row.text.strip() == "bogus_keyword 12"
        await pilot.press("e")  # the editor opens on the failing line
        await pilot.pause()
        assert app.screen.query_one(ConfigTextArea).cursor_location == (16, 0)
    assert cfg.read_text() == CONFIG
    assert Staging.load(str(cfg)).candidate == broken.encode()


# -- screenshots -------------------------------------------------------------------------

@pytest.fixture
def static_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    """A staged change with a fixed user, time and a relative file name (stable pictures)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("LOGNAME", "ops")
    Path("haproxy.cfg").write_text(CONFIG)
    with monkeypatch.context() as m:
        m.setattr(staging_mod.time, "time", lambda: T0)
        st = stage_weight("haproxy.cfg")
        st.add_ops([{"op": "server_add", "backend": "be_static", "server": "static2",
                     "addr": "127.0.0.1:18084", "params": {"weight": "5"}}])
    return make_target("haproxy.cfg")


SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@SIZES
def test_snapshot_review(snap_compare, static_stage: Target, size) -> None:
    assert snap_compare(review(static_stage), terminal_size=size)


@SIZES
def test_snapshot_editor(snap_compare, static_stage: Target, size) -> None:
    async def run_before(pilot) -> None:
        await pilot.pause()
        pilot.app.screen.goto(17)
        await pilot.pause()

    assert snap_compare(editor(static_stage), terminal_size=size,
                        run_before=run_before)

