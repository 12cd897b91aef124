"""Only changed cells go to the terminal, and the terminal ends up showing the same.

The app's real stream of compositor updates (captured while a user drives it) is played
twice on a small terminal emulator: as Textual writes it, and through
:class:`ScreenDiff`. After every update both screens must be identical, cell by cell,
character and SGR attributes.
"""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip

from console.ui.app import HAConsoleApp
from console.ui.screendiff import ScreenDiff
from console.ui.textual_seam import ChopsUpdate, LayoutUpdate, diffed_update, render_update
from tests.ui.captured import CapturedSource, first_up, target

_TOKEN = re.compile(r"\x1b\[(\d+)C|\x1b\[(\d+);(\d+)H|\x1b\[([0-9;]*)m|\x1b\[\?2026[hl]|(\n)"
                    r"|\x1b\[(\d*);?(\d*)r|\x1b\[(\d+)S|(.)", re.S)


# what each "off" code turns off
_OFF = {"22": {"1", "2"}, "23": {"3"}, "24": {"4", "21"}, "25": {"5", "6"}, "27": {"7"},
        "28": {"8"}, "29": {"9"}, "54": {"51", "52"}, "55": {"53"}}


class Terminal:
    """The subset of a VT terminal Textual's updates use: CUP, SGR, newline, text."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells: list[list[tuple[str, object]]] = [[(" ", None)] * width
                                                      for _ in range(height)]
        self.x = self.y = 0
        self.top, self.bottom = 0, height - 1  # the scrolling region
        self.attrs: frozenset[str] = frozenset()
        self.fg: tuple[str, ...] | None = None
        self.bg: tuple[str, ...] | None = None

    def looks(self) -> list[list[tuple[str, object]]]:
        """The cells as they look: a space's foreground, bold or italic show nothing
        (its background does, its foreground when reversed, and lines through it)."""
        shown = {"4", "21", "9", "53", "8", "7"}
        out = []
        for row in self.cells:
            line = []
            for ch, style in row:
                if ch == " " and isinstance(style, tuple):
                    attrs, fg, bg = style
                    reverse = "7" in attrs
                    style = (attrs & shown, fg if reverse else None, bg)
                elif ch == " " and style is None:
                    style = (frozenset(), None, None)
                line.append((ch, style))
            out.append(line)
        return out

    def _sgr(self, params: str) -> None:
        words = params.split(";") if params else ["0"]
        i = 0
        while i < len(words):
            p = words[i] or "0"
            if p == "0":
                self.attrs, self.fg, self.bg = frozenset(), None, None
            elif p.isdigit() and (30 <= int(p) <= 37 or 90 <= int(p) <= 97):
                self.fg = (p,)
            elif p.isdigit() and (40 <= int(p) <= 47 or 100 <= int(p) <= 107):
                self.bg = (p,)
            elif p in _OFF:
                self.attrs = self.attrs - _OFF[p]
            elif p == "39":
                self.fg = None
            elif p == "49":
                self.bg = None
            elif p in ("38", "48"):
                n = 3 if words[i + 1] == "5" else 5
                color = tuple(words[i + 1:i + n])
                if p == "38":
                    self.fg = color
                else:
                    self.bg = color
                i += n - 1
            else:
                self.attrs = self.attrs | {p}
            i += 1

    def feed(self, data: str) -> None:
        from rich.cells import get_character_cell_size

        for m in _TOKEN.finditer(data):
            right, row, col, sgr, newline, r_top, r_bottom, up, ch = m.groups()
            if right is not None:  # CUF
                self.x = min(self.width - 1, self.x + int(right))
            elif r_top is not None:  # DECSTBM (the cursor goes home)
                self.top = int(r_top) - 1 if r_top else 0
                self.bottom = int(r_bottom) - 1 if r_bottom else self.height - 1
                self.x = self.y = 0
            elif up is not None:  # SU: the region's lines move up, blank ones come in
                for _ in range(int(up)):
                    del self.cells[self.top]
                    self.cells.insert(self.bottom, [(" ", None)] * self.width)
            elif row is not None:
                self.y, self.x = int(row) - 1, int(col) - 1
            elif sgr is not None:
                self._sgr(sgr)
            elif newline:
                self.y, self.x = self.y + 1, 0
            elif ch is not None:
                width = get_character_cell_size(ch)
                if width == 0:
                    continue
                style = (self.attrs, self.fg, self.bg)
                if 0 <= self.y < self.height and 0 <= self.x < self.width:
                    self.cells[self.y][self.x] = (ch, style)
                    if width == 2 and self.x + 1 < self.width:
                        self.cells[self.y][self.x + 1] = ("", style)
                self.x += width

    def text(self) -> str:
        return "\n".join("".join(c for c, _ in line) for line in self.cells)


def _console(color_system: str = "truecolor") -> Console:
    return Console(color_system=color_system, force_terminal=True, width=120)


def test_unchanged_update_writes_nothing_and_a_change_writes_only_its_cells() -> None:
    console = _console()
    diff = ScreenDiff()
    bold = Style(bold=True)
    line = [Strip([Segment("status UP    ", bold), Segment("idle 100%")])]
    first = render_update(diff, LayoutUpdate([line], Region(0, 0, 40, 1)), console, (40, 2))
    assert "status UP" in first and "idle 100%" in first
    again = render_update(diff, LayoutUpdate([line], Region(0, 0, 40, 1)), console, (40, 2))
    assert again == ""
    changed = [Strip([Segment("status UP    ", bold), Segment("idle  99%")])]
    out = render_update(diff, LayoutUpdate([changed], Region(0, 0, 40, 1)), console, (40, 2))
    # one cursor move and the three cells (the attributes are still those of "idle")
    assert out == "\x1b[1;19H 99"
    out = render_update(diff, LayoutUpdate([changed], Region(0, 0, 40, 1)), console, (40, 3))
    assert out.count("idle") == 1  # a new size: everything is written again


def test_wide_characters_are_sent_whole() -> None:
    console = _console()
    diff = ScreenDiff()

    def line(text: str) -> LayoutUpdate:
        return LayoutUpdate([[Strip([Segment(text)])]], Region(0, 0, 6, 1))

    render_update(diff, line("ab界cd"), console, (6, 1))
    out = render_update(diff, line("ab界cX"), console, (6, 1))
    assert out == "\x1b[1;6HX"
    out = render_update(diff, line("ab世cX"), console, (6, 1))
    assert out == "\x1b[1;3H世"


def test_padding_that_only_changes_foreground_is_not_written_again() -> None:
    console = _console()
    diff = ScreenDiff()
    red, purple = Style(color="#ff0000", bgcolor="#101010"), Style(color="#c08bff", bold=True,
                                                                    bgcolor="#101010")
    under = Style(color="#c08bff", bgcolor="#101010", underline=True)
    other_bg = Style(color="#c08bff", bgcolor="#303030")

    def line(*segments: Segment) -> LayoutUpdate:
        return LayoutUpdate([[Strip(list(segments))]], Region(0, 0, 12, 1))

    render_update(diff, line(Segment("no check    ", red)), console, (12, 1))
    out = render_update(diff, line(Segment("MAINT       ", purple)), console, (12, 1))
    # "MAINT" and the 3 spaces over "eck"; the padding after it: not sent again
    assert out.endswith("MAINT   ") and "MAINT    " not in out
    diff, term, plain = ScreenDiff(), Terminal(12, 1), Terminal(12, 1)
    for frame in (line(Segment("no check    ", red)), line(Segment("MAINT       ", purple)),
                  line(Segment("MAINT       ", under)), line(Segment("MAINT       ", other_bg)),
                  line(Segment("MAINT       ", purple))):
        term.feed(render_update(diff, frame, console, (12, 1)))
        plain.feed(frame.render_segments(console))
        assert term.looks() == plain.looks()  # an underline or a background is sent


@pytest.mark.parametrize("color_system", ["truecolor", "256", "standard"])
def test_style_changes_send_only_the_colours_that_differ(color_system) -> None:
    console = _console(color_system)
    diff = ScreenDiff()
    # fresh styles per colour system (Textual caches a style's codes on the style)
    a = Style(color="#c0c0c0", bgcolor="#101010")
    b = Style(color="#ff0000", bgcolor="#101010")
    c = Style(color="#ff0000", bgcolor="#303030", bold=True)
    d = Style(bgcolor="#101010")
    term, plain = Terminal(20, 2), Terminal(20, 2)
    frames = [
        [Strip([Segment("aaaa", a), Segment("bbbb", b), Segment("cc", c), Segment("dd", d)])],
        [Strip([Segment("aaaa", b), Segment("bbbb", a), Segment("cc", d), Segment("dd", c)])],
        [Strip([Segment("ab", a), Segment("cd", d), Segment("ef", a), Segment("gh", b),
                Segment("        ", None)])],
    ]
    e = Style(color="#ff0000", bgcolor="#101010", bold=True, dim=True, underline=True)
    f = Style(color="#ff0000", bgcolor="#101010", dim=True, reverse=True)
    g = Style(color="#ff0000", bgcolor="#101010", italic=True)
    frames += [
        [Strip([Segment("aa", e), Segment("bb", f), Segment("cc", g), Segment("dd", e),
                Segment("ee", c), Segment("ff", f), Segment("gg", a), Segment("hhhhhh", e)])],
        [Strip([Segment("aa", f), Segment("bb", e), Segment("cc", e), Segment("dd", g),
                Segment("ee", f), Segment("ff", c), Segment("gg", e), Segment("hhhhhh", a)])],
    ]
    for frame in frames:
        update = LayoutUpdate([frame], Region(0, 0, 20, 1))
        out = render_update(diff, update, console, (20, 2))
        term.feed(out)
        plain.feed(update.render_segments(console))
        assert term.looks() == plain.looks(), repr(out)
    # from a to b only the foreground changes: no reset, no background again
    diff2 = ScreenDiff()
    out = render_update(diff2, LayoutUpdate([[Strip([Segment("x", a), Segment("y", b)])]],
                                            Region(0, 0, 2, 1)), console, (2, 1))
    between = out.split("x", 1)[1].split("y", 1)[0]
    assert between.startswith("\x1b[3") and "48;" not in between, repr(out)


def test_other_renderables_reset_the_copy() -> None:
    console = _console()
    diff = ScreenDiff()
    update = LayoutUpdate([[Strip([Segment("abc")])]], Region(0, 0, 3, 1))
    render_update(diff, update, console, (3, 1))
    assert diffed_update(diff, update, console, _size(3, 1)) is None
    assert diffed_update(diff, "text", console, _size(3, 1)) == "text"
    assert diffed_update(diff, update, console, _size(3, 1)) is not None


def test_a_log_pane_taking_a_line_is_scrolled_not_redrawn() -> None:
    console = _console()
    diff = ScreenDiff()
    width = 30

    def frame(first: int) -> LayoutUpdate:
        lines = [[Strip([Segment("header".ljust(width))])]]
        lines += [[Strip([Segment(f"12:00:{n:02d} event number {n}".ljust(width))])]
                  for n in range(first, first + 6)]
        return LayoutUpdate(lines, Region(0, 0, width, 7))

    term = Terminal(width, 7)
    term.feed(render_update(diff, frame(0), console, (width, 7)))
    out = render_update(diff, frame(1), console, (width, 7))
    term.feed(out)
    assert out.startswith("\x1b[2;7r\x1b[1S\x1b[r")  # rows 2-7 scrolled up by one
    assert out.count("event number") == 1  # only the new line is drawn
    plain = Terminal(width, 7)
    plain.feed(frame(1).render_segments(console))
    assert term.looks() == plain.looks()


def _size(w: int, h: int):
    from textual.geometry import Size

    return Size(w, h)


async def test_the_app_stream_gives_the_same_screen_with_fewer_bytes() -> None:
    size = (100, 30)
    source = CapturedSource()
    app = HAConsoleApp(target(), theme="dark", source=source, level="admin")
    updates: list[ChopsUpdate | LayoutUpdate] = []
    original = app._display

    def capture(screen, renderable) -> None:
        if isinstance(renderable, (ChopsUpdate, LayoutUpdate)):
            updates.append(renderable)
        original(screen, renderable)

    app._display = capture  # type: ignore[method-assign]
    async with app.run_test(size=size) as pilot:
        for _ in range(50):
            if app.monitor.snapshot is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        for key in ("down", "down", "2", "1", "pagedown", "up"):
            await pilot.press(key)
            await pilot.pause(0.05)
        up = first_up(app.monitor.snapshot)
        source.edit(up.proxy, up.name, status="DOWN", check_status="L4CON")
        await app.poller.poll_once()
        await pilot.pause(0.1)
        source.edit(up.proxy, up.name, status="UP", check_status="L7OK")
        await app.poller.poll_once()
        await pilot.pause(0.1)
        for i in range(8):  # one event per refresh: the events pane scrolls
            source.edit(up.proxy, up.name, status="DOWN" if i % 2 else "UP",
                        check_status="L4CON" if i % 2 else "L7OK")
            await app.poller.poll_once()
            await pilot.pause(0.05)
        await pilot.press("slash", "w", "e", "b", "escape")
        await pilot.pause(0.1)

    console = _console()
    full, diffed = Terminal(*size), Terminal(*size)
    diff = ScreenDiff()
    full_bytes = diff_bytes = 0
    scrolled = False
    assert len(updates) > 5
    for n, update in enumerate(updates):
        plain = update.render_segments(console)
        small = render_update(diff, update, console, size)
        scrolled = scrolled or "S\x1b[r" in small
        full.feed(plain)
        diffed.feed(small)
        full_bytes += len(plain.encode())
        diff_bytes += len(small.encode())
        assert diffed.looks() == full.looks(), f"screens differ after update {n}"
    assert up.name in full.text()
    assert diff_bytes < full_bytes * 0.8, (diff_bytes, full_bytes)
    assert scrolled, "the events pane was never scrolled"


def test_a_second_change_on_the_same_line_moves_right_after_ascii_only() -> None:
    console = _console()
    diff = ScreenDiff()

    def line(text: str) -> LayoutUpdate:
        return LayoutUpdate([[Strip([Segment(text)])]], Region(0, 0, 30, 1))

    render_update(diff, line("up 1s       conn 5       x"), console, (30, 1))
    out = render_update(diff, line("up 2s       conn 6       x"), console, (30, 1))
    assert out == "\x1b[1;4H2\x1b[13C6"  # CUF: the cursor is known after ASCII
    render_update(diff, line("● 2s        conn 6       x"), console, (30, 1))
    out = render_update(diff, line("○ 3s        conn 7       x"), console, (30, 1))
    assert out.count("H") == 2  # after "○" (ambiguous width) an absolute move again


def test_a_state_flipping_on_many_rows_is_written_a_colour_at_a_time() -> None:
    """Servers going MAINT on 12 rows: the state column in one colour, then the
    last-change column in another, not the two colours in turn on every row; the
    terminal shows the same as when Textual writes the frame whole."""
    console = _console()
    grey, purple = Style(color="#8b949e", bgcolor="#101010"), Style(color="#c38bff", bold=True,
                                                                     bgcolor="#101010")
    white = Style(color="#e6e6e6", bgcolor="#101010")
    rows = 12

    def frame(state: str, look: Style, change: str) -> LayoutUpdate:
        strips = [[Strip([Segment(f"s{i:<5}", white), Segment(state, look),
                          Segment(" " * 20, white), Segment(change, white)])]
                  for i in range(rows)]
        return LayoutUpdate(strips, Region(0, 0, 40, rows))

    diff, term, plain = ScreenDiff(), Terminal(40, rows), Terminal(40, rows)
    frames = [frame("no check  ", grey, "12m"), frame("MAINT     ", purple, "<1m"),
              frame("no check  ", grey, "<1m"), frame("MAINT     ", purple, "12m")]
    outs = []
    for update in frames:
        out = render_update(diff, update, console, (40, rows))
        outs.append(out)
        term.feed(out)
        plain.feed(update.render_segments(console))
        assert term.looks() == plain.looks(), repr(out)
    # each flip after the first frame: at most two colour changes in all, not 2 per row
    for out in outs[1:]:
        assert out.count("38;2;") <= 2, repr(out)
    assert len(outs[1]) < rows * 40
