"""The private parts of Textual that console/ui/textual_seam.py relies on are there, with
the shape it was written for, and no other module of the console touches them.

After a Textual upgrade, a failure here says which name moved: fix textual_seam.py (and
only it), then TEXTUAL_MAJORS there and the pin in pyproject.toml.
"""

from __future__ import annotations

import inspect
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual import _compositor
from textual.app import App
from textual.driver import Driver
from textual.geometry import Region
from textual.strip import Strip

from console.ui import textual_seam
from console.ui.app import HAConsoleApp
from console.ui.screendiff import ScreenDiff
from tests.ui.captured import CapturedSource, target

REPO = Path(__file__).resolve().parents[2]
CHECK = ("console/ui/textual_seam.py was written for other private names of Textual: "
         "read its docstring, adapt it to the installed Textual, then run this file again")


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_the_installed_textual_is_a_version_the_seam_was_written_for() -> None:
    installed = version("textual")
    major = int(installed.split(".")[0])
    assert major in textual_seam.TEXTUAL_MAJORS, (
        f"Textual {installed} is installed; console/ui/textual_seam.py was written for "
        f"Textual {' or '.join(f'{m}.x' for m in textual_seam.TEXTUAL_MAJORS)}. Check that "
        "every test of tests/ui/test_textual_seam.py passes and that the console draws "
        "right (tests/ui/test_screendiff.py), then add the major version to TEXTUAL_MAJORS "
        "and to the textual pin in pyproject.toml")
    pin = re.search(r'"textual>=([0-9]+)[^"]*,<([0-9]+)"',
                    (REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert pin is not None, "pyproject.toml: textual is pinned to a range of major versions"
    assert set(range(int(pin[1]), int(pin[2]))) == set(textual_seam.TEXTUAL_MAJORS), \
        "the textual pin of pyproject.toml and TEXTUAL_MAJORS of textual_seam.py differ"


def test_the_compositor_updates_have_the_shape_the_seam_reads() -> None:
    for name in ("CompositorUpdate", "LayoutUpdate", "ChopsUpdate"):
        assert hasattr(_compositor, name), f"textual._compositor.{name} is gone: {CHECK}"
    assert issubclass(_compositor.LayoutUpdate, _compositor.CompositorUpdate), CHECK
    assert issubclass(_compositor.ChopsUpdate, _compositor.CompositorUpdate), CHECK
    assert _parameters(_compositor.CompositorUpdate.render_segments) == ["self", "console"], \
        CHECK
    assert _parameters(_compositor.LayoutUpdate) == ["strips", "region"], CHECK
    assert _parameters(_compositor.ChopsUpdate) == ["chops", "spans", "chop_ends"], CHECK
    strip = Strip([Segment("ab", Style(bold=True))])
    layout = _compositor.LayoutUpdate([[strip]], Region(3, 1, 2, 1))
    assert (layout.region, layout.strips) == (Region(3, 1, 2, 1), [[strip]]), CHECK
    chops = _compositor.ChopsUpdate([{}, {3: strip}], [(1, 3, 5)], [[], [5]])
    assert (chops.chops, chops.spans, chops.chop_ends) == ([{}, {3: strip}], [(1, 3, 5)],
                                                            [[], [5]]), CHECK
    # what the seam reads from them
    diff = ScreenDiff()
    cells = [("a", Style(bold=True)), ("b", Style(bold=True))]
    assert textual_seam.compositor_lines(layout, diff.cells_of) == [(1, 3, cells)]
    assert textual_seam.compositor_lines(chops, diff.cells_of) == [(1, 3, cells)]
    assert textual_seam.compositor_lines("text", diff.cells_of) is None
    console = Console(color_system="truecolor", force_terminal=True, width=10)
    # an update written by the seam is written as it is
    written = textual_seam.diffed_update(ScreenDiff(), layout, console, console.size)
    assert isinstance(written, _compositor.CompositorUpdate)
    assert written.render_segments(console) == \
        textual_seam.render_update(ScreenDiff(), layout, console, (10, 25))


def test_the_app_has_the_hooks_and_state_the_seam_uses() -> None:
    assert _parameters(App._display) == ["self", "screen", "renderable"], CHECK
    assert _parameters(App._handle_exception) == ["self", "error"], CHECK
    assert _parameters(App.post_display_hook) == ["self"], CHECK
    assert _parameters(Driver.write) == ["self", "data"], CHECK
    assert isinstance(inspect.getattr_static(Driver, "is_inline"), property), CHECK
    app = App()
    assert app._driver is None, CHECK
    assert app._batch_count == 0, CHECK
    assert app._running is False and app._closed is False, CHECK
    # the console's App writes its updates through the seam
    assert HAConsoleApp._display is textual_seam.display_changed_cells
    assert _parameters(textual_seam.display_changed_cells)[1:] == _parameters(App._display)[1:]
    # the parts of Textual's display the seam's display leaves to it
    source = inspect.getsource(App._display)
    assert "render_segments(console)" in source and "post_display_hook()" in source, CHECK
    # what the seam's own write of a frame does as Textual's does: a synchronized update
    assert "self._begin_update()" in source and "self._end_update()" in source, CHECK
    assert _parameters(App._begin_update) == ["self"] == _parameters(App._end_update), CHECK
    # the widgets that place the terminal's cursor for typing, and only they
    from textual.widgets import Input, TextArea
    placing = {name for name, cls in (("Input", Input), ("TextArea", TextArea))
               if "cursor_screen_offset" in dir(cls)}
    assert placing == {"Input", "TextArea"}, CHECK
    assert "self.app.cursor_position = self.cursor_screen_offset" in \
        inspect.getsource(Input), CHECK


def test_keys_are_named_as_a_keymap_names_them() -> None:
    """What the settings' [keys] check compares: the keys App.set_keymap applies."""
    assert textual_seam.normalized_keys("?, ctrl+r,s,/") == \
        "question_mark,ctrl+r,s,slash", CHECK
    source = inspect.getsource(App._normalize_keymap)
    assert "_normalize_key_list(keys)" in source, CHECK


def test_an_error_that_renders_itself_is_shown_as_itself_not_as_a_traceback() -> None:
    """What ShownAsOneLine relies on: Textual panics with an error that has __rich__."""
    source = inspect.getsource(App._handle_exception)
    assert '"__rich__"' in source and "self.panic(error)" in source, CHECK


async def test_an_internal_error_ends_the_console_with_one_line_and_the_traceback_in_the_log(
        tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(tmp_path / "state"))
    app = HAConsoleApp(target(), theme="dark", source=CapturedSource(), level="admin")

    def boom() -> None:
        raise ValueError("boom \x1b[2J")

    with pytest.raises(textual_seam.ShownAsOneLine) as raised:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.1)
            app.call_later(boom)
            for _ in range(40):
                if app.return_code is not None:
                    break
                await pilot.pause(0.05)
    assert isinstance(raised.value.__cause__, ValueError)
    assert app.return_code == 1
    err = capsys.readouterr().err
    assert "haconsole: internal error: ValueError: boom \\x1b[2J — details in" in err, err
    assert "Traceback" not in err and "\x1b[2J" not in err and len(err.splitlines()) == 1, err
    logged = (tmp_path / "state" / "haconsole.log").read_text(encoding="utf-8")
    assert "Traceback" in logged and 'raise ValueError("boom' in logged


def test_no_module_but_the_seam_touches_private_names_of_textual_or_rich() -> None:
    private = re.compile(r"\btextual\._|\bfrom textual import _|\._display\b|\bdef _display\b"
                         r"|\._driver\b"
                         r"|\b_batch_count\b|\._running\b|\._closed\b|\._link\b"
                         r"|\._attributes\b|\b_set_attributes\b|\._color_system\b"
                         r"|\b_exit_renderables\b|\b_close_messages|\._exception\b"
                         r"|\b_return_code\b|\b_compositor\b|\b_normalize_key")
    found = []
    for path in sorted((REPO / "console").rglob("*.py")):
        if path.name == "textual_seam.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if private.search(line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not found, "private Textual/Rich names outside console/ui/textual_seam.py:\n" + \
        "\n".join(found)


_PTY_APP = textwrap.dedent("""
    import sys
    from textual.app import App
    from textual.widgets import Static
    from console.ui import textual_seam
    from console.ui.screendiff import ScreenDiff

    written = []

    def diffed_update(diff, renderable, console, size):
        update = diffed(diff, renderable, console, size)
        written.append(update is not None)
        return update

    diffed, textual_seam.diffed_update = textual_seam.diffed_update, diffed_update

    class Counter(App):
        _display = textual_seam.display_changed_cells

        def __init__(self):
            super().__init__()
            self.screen_diff = ScreenDiff()
            self.n = 0

        def compose(self):
            yield Static("count 0", id="count")

        def on_mount(self):
            self.set_interval(0.05, self.tick)

        def tick(self):
            self.n += 1
            self.query_one("#count", Static).update(f"count {self.n}")
            if self.n == 5:
                self.exit()

        def on_unmount(self):
            textual_seam.write_to_terminal(self, "\\x1b[0m")

    Counter().run()
    with open(sys.argv[1], "w") as f:
        print("diffed", len(written), sum(written), file=f)
""")


def test_a_real_terminal_gets_only_the_changed_cells(tmp_path) -> None:
    """The seam's display on a real (pseudo-)terminal: every update goes through the
    ScreenDiff, and a counter going up rewrites one digit."""
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color", COLUMNS="40",
               LINES="10", TEXTUAL_MAX_FPS="60")
    env.pop("TEXTUAL", None)
    report = tmp_path / "report"
    proc = subprocess.Popen([sys.executable, "-c", _PTY_APP, str(report)], stdin=slave,
                            stdout=slave, stderr=slave, env=env, cwd=REPO,
                            start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    diffed = re.search(r"diffed ([0-9]+) ([0-9]+)", report.read_text())
    assert diffed is not None
    # the updates went through the diff, and wrote something
    assert int(diffed[1]) >= 5 and int(diffed[2]) >= 5, diffed[0]
    assert "count 0" in text
    for n in range(1, 5):  # from then on, only the digit
        assert f"count {n}" not in text, repr(text)
        assert re.search(rf"\x1b\[1;7H(\x1b\[[0-9;]*m)?{n}(\x1b|$)", text), repr(text)
    # nothing typed here: the hidden cursor is not moved back after each frame
    assert not re.search(r"[0-9]\x1b\[1;1H", text), repr(text)
