"""The captured errors screen (``E``): ``show errors``, the last invalid request and
response HAProxy captured, per proxy (:mod:`console.haproxy.captured_errors`).

- One row per captured error: the proxy that refused it, the direction, the time, the
  client, the event number, the reason in words; over the table, how many HAProxy
  counted since it started (it keeps only the last per proxy and direction).
- The detail pane shows the selected one: where it came from, the reason, the faulty
  byte, and the bytes received, as text and as an offset/hex/ASCII dump, the faulty
  byte in reverse.
- ``r`` reads again; ``escape`` goes back.

A captured buffer is the client's (or the server's), hostile by nature: every byte is
shown through :func:`~console.haproxy.safe_text.visible` (text) or as hex and ``.``
(the dump), never sent to the terminal as it is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from console.haproxy.captured_errors import CapturedError, CapturedErrors
from console.haproxy.errors import HAProxyError, PermissionDenied
from console.haproxy.safe_text import visible
from console.haproxy.triage_read import read_errors
from console.ui.plain import plain
from console.ui.screens.help import HELP_BINDING
from console.ui.widgets.simple_table import add_columns

if TYPE_CHECKING:
    from console.haproxy.transport import RuntimeClient
    from console.instance import Target

log = logging.getLogger("haconsole.ui")

COLUMNS = (("proxy", 14), ("dir", 4), ("reason", 24), ("client", 21), ("time", 12),
           ("event", 0))
NOTHING = ("nothing captured: this HAProxy process has refused no request or response as "
           "invalid since it started; a malformed request from a client or an invalid "
           "answer from a server would be listed here, with its bytes")
NO_SOCKET = ("the captured errors are read over the stats socket (show errors), and this "
             "console has none: start it with -s SOCKET (or -i NAME), or run "
             "`haconsole errors` from another terminal")
HEX_WIDTH = 16  # bytes per line of the dump
TEXT_WIDTH = 64  # bytes per line of the text view (cut at newlines too)
FAULTY = "reverse bold red"


def _cut(text: str, width: int) -> str:
    return text if width <= 0 or len(text) <= width else text[:width - 1] + "…"


def _short_time(time: str) -> str:
    """``01/Dec/2026:04:02:35.554`` → ``04:02:35.554``."""
    return time.split(":", 1)[1] if ":" in time else time


def _reason(e: CapturedError) -> str:
    """The reason without ``invalid request:`` (the direction column says it)."""
    reason = e.reason
    head = f"invalid {e.direction}"
    return reason[len(head):].lstrip(": ") or reason if reason.startswith(head) else reason


def cells(e: CapturedError) -> list[Text]:
    values = [e.proxy, "req" if e.direction == "request" else "resp", _reason(e),
              e.client or "?", _short_time(e.time), "" if e.event is None else f"#{e.event}"]
    return [plain(_cut(visible(v), width or 200)) for (_, width), v in zip(COLUMNS, values,
                                                                          strict=True)]


def _shown(data: bytes) -> str:
    return visible(data.decode("utf-8", "surrogateescape"))


def text_view(e: CapturedError, width: int = TEXT_WIDTH) -> Text:
    """The bytes as text, escaped, one line per line received (cut every *width*
    bytes), each with its offset; the faulty byte in reverse and the line marked ``>``."""
    out = Text()
    data, pos = e.buffer, e.position
    start = 0
    while start < len(data):
        nl = data.find(b"\n", start, start + width)
        end = nl + 1 if nl >= 0 else min(len(data), start + width)
        has = pos is not None and start <= pos < end
        out.append(f"{'>' if has else ' '} {start:05d}  ", style="bold" if has else "dim")
        if has and pos is not None:
            out.append(_shown(data[start:pos]))
            out.append(_shown(data[pos:pos + 1]), style=FAULTY)
            out.append(_shown(data[pos + 1:end]))
        else:
            out.append(_shown(data[start:end]))
        out.append("\n")
        start = end
    return out


def hex_view(e: CapturedError, width: int = HEX_WIDTH) -> Text:
    """The bytes as ``offset  hex  ascii`` lines (``.`` for anything not printable
    ASCII); the faulty byte in reverse in both columns."""
    out = Text()
    data, pos = e.buffer, e.position
    for start in range(0, len(data), width):
        chunk = data[start:start + width]
        has = pos is not None and start <= pos < start + len(chunk)
        out.append(f"{start:05x}  ", style="bold" if has else "dim")
        for i in range(width):
            if i == width // 2:
                out.append(" ")
            if i < len(chunk):
                out.append(f"{chunk[i]:02x}", style=FAULTY if start + i == pos else "")
            else:
                out.append("  ")
            out.append(" ")
        out.append(" ")
        for i, b in enumerate(chunk):
            ch = chr(b) if 0x20 <= b < 0x7f else "."
            out.append(ch, style=FAULTY if start + i == pos else "")
        out.append("\n")
    return out


def describe(e: CapturedError) -> Text:
    """The detail of one captured error: where from, why, the faulty byte, the bytes."""
    out = Text()
    out.append(visible(e.reason), style="bold")
    out.append(visible(f" — {e.proxy}, {e.time}") + "\n")
    if e.direction == "request":
        side = f"frontend {e.frontend or '?'}"
    else:
        side = (f"backend {e.backend or '?'}, server {e.server or '-'}, "
                f"frontend {e.frontend or '?'}")
    event = f"#{e.event}" if e.event is not None else "?"
    out.append(visible(f"{side}; client {e.client or '?'}; event {event}") + "\n")
    fb = e.faulty_byte
    if fb is not None:
        out.append(f"faulty byte at position {e.position}: 0x{fb:02x} (")
        out.append(visible(bytes([fb]).decode("latin-1")), style=FAULTY)
        out.append(")")
    else:
        out.append(f"faulty byte: position {e.position} (outside the bytes captured)")
    if e.state:
        out.append(visible(f"; parser state {e.state}"))
    out.append("\n")
    if e.truncated:
        out.append(f"the capture holds {e.length} bytes; {len(e.buffer)} shown\n",
                   style="yellow")
    out.append("\nas text (escaped):\n", style="bold")
    out.append_text(text_view(e))
    out.append("\nbytes:\n", style="bold")
    out.append_text(hex_view(e))
    if e.details:
        out.append("\nHAProxy's notes:\n", style="bold")
        for d in e.details:
            out.append(visible(d) + "\n", style="dim")
    return out


def total_line(result: CapturedErrors) -> str:
    total = "?" if result.total_events is None else str(result.total_events)
    shown = len(result.entries)
    more = f", {result.left_out} more not listed" if result.left_out else ""
    return visible(f"{total} invalid requests/responses captured since HAProxy started; "
                   f"it keeps the last per proxy and direction: {shown} listed{more} · "
                   f"as of {result.captured_at or '?'}")


class CapturedScreen(ModalScreen[None]):
    """``show errors`` of *target* (a full screen; escape closes it).

    *client*: the stats socket (None: the screen says why nothing is shown)."""

    DEFAULT_CSS = """
    CapturedScreen { background: $background; layout: vertical; }
    CapturedScreen #captured-title { height: 1; padding: 0 1; text-style: bold;
                                     background: $panel; }
    CapturedScreen #captured-status { height: auto; max-height: 2; padding: 0 1; }
    CapturedScreen #captured-message { height: auto; padding: 0 1; color: $warning;
                                       display: none; }
    CapturedScreen #captured-message.error { color: $error; text-style: bold; }
    CapturedScreen #captured-table { height: auto; max-height: 8; }
    CapturedScreen #captured-detail { height: 1fr; border-top: solid $panel; padding: 0 1; }
    """
    BINDINGS = [
        HELP_BINDING,  # a modal screen: the app's keys do not reach it
        Binding("escape", "back", "Back", id="captured.close"),
        Binding("r", "refresh", "Refresh", tooltip="Read show errors again",
                id="captured.refresh"),
    ]
    HELP_KEYS = (("up / down", "select a captured error: its bytes in the detail"),
                 ("tab", "into the detail, to scroll it (up, down, PgUp, PgDn)"))

    def __init__(self, target: Target | None, client: RuntimeClient | None) -> None:
        super().__init__()
        self.target, self.client = target, client
        self.result: CapturedErrors | None = None
        self.entries: dict[str, CapturedError] = {}
        self.state = "starting"  # reading, shown, failed
        self.message = ""

    def compose(self) -> ComposeResult:
        name = visible(self.target.name) if self.target is not None else "HAProxy"
        yield Static(f"{name} — captured errors (show errors)", id="captured-title",
                     markup=False)
        yield Static("reading…", id="captured-status", markup=False)
        yield Static("", id="captured-message", markup=False)
        yield DataTable(id="captured-table", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="captured-detail"):
            yield Static("", id="captured-entry", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#captured-table", DataTable)
        add_columns(table, COLUMNS)
        table.focus()
        self.action_refresh()

    # -- reading ----------------------------------------------------------------------------
    def action_refresh(self) -> None:
        if self.client is None:
            self._fail(NO_SOCKET)
            return
        self.state = "reading"
        self.query_one("#captured-status", Static).update("reading show errors…")
        self.run_worker(self._read(), group="captured-read", exclusive=True,
                        exit_on_error=False)

    async def _read(self) -> None:
        assert self.client is not None
        try:
            result = await read_errors(self.client)
        except PermissionDenied:
            self._fail("permission denied: 'show errors' needs a stats socket at level "
                       "operator or admin")
            return
        except HAProxyError as exc:
            self._fail(f"cannot read the captured errors: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - said on screen, logged in full
            log.exception("reading show errors")
            self._fail(f"cannot read the captured errors: internal error "
                       f"{type(exc).__name__}: {exc} (the log has the details)")
            return
        self.show(result)

    def _fail(self, message: str) -> None:
        self.state = "failed"
        self.message = visible(message)
        box = self.query_one("#captured-message", Static)
        box.update(self.message)
        box.set_class(True, "error")
        box.display = True
        self.query_one("#captured-status", Static).update("not read")

    def show(self, result: CapturedErrors) -> None:
        """Show *result* (what ``show errors`` answered, parsed)."""
        self.result = result
        self.state = "shown"
        table = self.query_one("#captured-table", DataTable)
        keep = table.cursor_row if table.row_count else 0
        table.clear()
        self.entries.clear()
        for n, e in enumerate(result.entries):
            key = str(n)
            self.entries[key] = e
            table.add_row(*cells(e), key=key)
        self.query_one("#captured-status", Static).update(total_line(result))
        box = self.query_one("#captured-message", Static)
        box.set_class(False, "error")
        table.display = bool(result.entries)
        if result.entries:
            box.display = False
        else:
            box.update(NOTHING)
            box.display = True
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1), animate=False)
        self._show_detail()

    # -- detail -----------------------------------------------------------------------------
    def selected(self) -> CapturedError | None:
        table = self.query_one("#captured-table", DataTable)
        if not table.row_count:
            return None
        from textual.coordinate import Coordinate

        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return self.entries.get(key) if key is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        e = self.selected()
        entry = self.query_one("#captured-entry", Static)
        entry.update(describe(e) if e is not None else Text(""))

    @property
    def status_text(self) -> str:
        return str(self.query_one("#captured-status", Static).render())

    @property
    def message_text(self) -> str:
        box = self.query_one("#captured-message", Static)
        return str(box.render()) if box.display else ""

    @property
    def detail_text(self) -> str:
        return str(self.query_one("#captured-entry", Static).render())

    def table_rows(self) -> list[list[str]]:
        table: DataTable[Any] = self.query_one("#captured-table", DataTable)
        return [[c.plain if hasattr(c, "plain") else str(c) for c in table.get_row_at(i)]
                for i in range(table.row_count)]

    def action_back(self) -> None:
        self.dismiss(None)
