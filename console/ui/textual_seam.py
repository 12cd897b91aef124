"""Where haconsole relies on Textual's private parts: this module and no other.

:class:`~console.ui.screendiff.ScreenDiff` works on plain data, ``(y, x, cells)`` line
spans of Rich styles; this module gets them from Textual and hands the result back:

- :func:`display_changed_cells` is the application's ``App._display`` (Textual's hook
  that writes each screen update): compositor updates go through the screen's
  :class:`ScreenDiff` and only the changed cells are written;
- :func:`compositor_lines` reads the compositor's updates (``textual._compositor``:
  ``LayoutUpdate.region`` / ``.strips``, ``ChopsUpdate.chops`` / ``.spans`` /
  ``.chop_ends``) into line spans; :class:`_Written` is an update whose output is
  already computed (a ``CompositorUpdate`` with its ``render_segments``);
- :func:`write_to_terminal` writes to the terminal outside of an update;
- :class:`ShownAsOneLine` is an error Textual shows as one line on exit, not as a
  traceback (``App._handle_exception`` panics with an error that has ``__rich__``);
- :func:`normalized_keys` names keys as a keymap does (``textual.keys._normalize_key_list``,
  what ``App.set_keymap`` applies to the settings' ``[keys]``).

The private names, and the application's state read before writing (``App._driver``,
``._batch_count``, ``._running``, ``._closed``), are checked by
``tests/ui/test_textual_seam.py``: a Textual upgrade that changes them fails there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from rich.color import ColorSystem
from rich.console import COLOR_SYSTEMS, Console
from rich.segment import Segment
from rich.text import Text
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.app import App
from textual.driver import Driver
from textual.geometry import Size
from textual.keys import _normalize_key_list

from console.ui.screendiff import Cell, Line, ScreenDiff

if TYPE_CHECKING:
    from textual.screen import Screen

# the major versions of Textual this module was written for (pyproject.toml pins the same)
TEXTUAL_MAJORS = (8,)

__all__ = ["ChopsUpdate", "LayoutUpdate", "ShownAsOneLine", "TEXTUAL_MAJORS", "color_system",
           "compositor_lines", "diffed_update", "display_changed_cells", "normalized_keys",
           "render_update", "write_to_terminal"]


def color_system(console: Console) -> ColorSystem:
    """The colour system ``console`` writes with (true colour when it has none)."""
    return COLOR_SYSTEMS.get(console.color_system or "", ColorSystem.TRUECOLOR)


def compositor_lines(update: object, cells_of: Callable[[Iterable[Segment]], list[Cell]]
                     ) -> list[Line] | None:
    """``(y, x, cells)`` for each line span a compositor update draws, the cells of each
    strip from ``cells_of``; None when ``update`` is not a compositor update."""
    out: list[Line] = []
    if isinstance(update, LayoutUpdate):
        x = update.region.x
        for y, line in enumerate(update.strips, update.region.y):
            cells: list[Cell] = []
            for part in line:
                cells.extend(cells_of(part))
            out.append((y, x, cells))
        return out
    if isinstance(update, ChopsUpdate):
        chops, chop_ends = update.chops, update.chop_ends
        for y, x1, x2 in update.spans:
            for end, (x, strip) in zip(chop_ends[y], chops[y].items(), strict=False):
                if strip is None or x > x2 or end <= x1:
                    continue
                out.append((y, x, cells_of(strip)[:min(end, x2) - x]))
        return out
    return None


def render_update(diff: ScreenDiff, update: object, console: Console,
                  size: tuple[int, int]) -> str:
    """The terminal output for a compositor update: the cells it changes."""
    lines = compositor_lines(update, diff.cells_of)
    if lines is None:
        raise TypeError(f"not a compositor update: {type(update).__name__}")
    return diff.render(lines, color_system(console), size)


class _Written(CompositorUpdate):
    """Output already computed by :class:`ScreenDiff`."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render_segments(self, console: Console) -> str:
        return self.text


def diffed_update(diff: ScreenDiff, renderable: object, console: Console,
                  size: Size) -> object | None:
    """What to hand to Textual's display for ``renderable``: the changed cells of a
    compositor update (None when there are none), anything else as it is."""
    lines = compositor_lines(renderable, diff.cells_of)
    if lines is not None:
        text = diff.render(lines, color_system(console), (size.width, size.height))
        return _Written(text) if text else None
    if renderable is not None:
        diff.reset()  # something else drew: trust nothing
    return renderable


def display_changed_cells(app: App, screen: Screen, renderable: object) -> None:
    """``App._display`` for an application with a ``screen_diff`` attribute (a
    :class:`ScreenDiff`, or None for whole regions): assigned in its class body. What
    it writes goes through Textual's own ``App._display`` (no other class defines one:
    tests/ui/test_textual_seam.py checks that no other module defines or calls it)."""
    diff: ScreenDiff | None = getattr(app, "screen_diff", None)
    driver = app._driver
    if diff is not None and driver is not None and not app.is_headless \
            and not driver.is_inline and not app._batch_count \
            and app._running and not app._closed:
        update = diffed_update(diff, renderable, app.console, app.size)
        if update is None:  # nothing on screen changes: write nothing
            app.post_display_hook()
            return
        if isinstance(update, _Written) and not _has_text_cursor(app):
            _write_frame(app, driver, update.text)
            return
        renderable = update
    App._display(app, screen, renderable)  # type: ignore[arg-type]


def _has_text_cursor(app: App) -> bool:
    """Whether the focused widget puts the terminal's (hidden) cursor where text is
    typed, for an input method's window: an Input or a TextArea (the widgets that set
    ``App.cursor_position``, from their ``cursor_screen_offset``)."""
    return hasattr(type(app.focused), "cursor_screen_offset")


def _write_frame(app: App, driver: Driver, text: str) -> None:
    """Write a frame's changed cells as ``App._display`` does (in a synchronized update
    when the terminal has them), without moving the cursor back to
    ``App.cursor_position`` after it: it is hidden and nothing is typed (see
    :func:`_has_text_cursor`), and the move is 6 bytes or more on every frame."""
    try:
        app._begin_update()
        try:
            driver.write(text)
        finally:
            app._end_update()
        driver.flush()
    finally:
        app.post_display_hook()


def normalized_keys(keys: str) -> str:
    """Keys as Textual names them in a keymap: ``"?, ctrl+r"`` is
    ``"question_mark,ctrl+r"``."""
    return _normalize_key_list(keys)


def write_to_terminal(app: App, text: str) -> None:
    """Write ``text`` to the application's terminal (nothing when headless)."""
    driver = app._driver
    if driver is not None and not app.is_headless:
        driver.write(text)


class ShownAsOneLine(Exception):
    """An unhandled error, as the application reports it: Textual ends the application
    and shows ``message`` (one line, control characters already escaped), not a
    traceback. The error itself is the ``__cause__``."""

    def __init__(self, message: str, error: BaseException) -> None:
        super().__init__(message)
        self.message = message
        self.__cause__ = error

    def __rich__(self) -> Text:
        # not wrapped by Rich: a path in it stays one word for the terminal to wrap
        return Text(self.message, no_wrap=True, overflow="ignore")
