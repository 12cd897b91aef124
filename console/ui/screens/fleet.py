"""The fleet screen: a row per node (the overview), or every backend and server once with
its state on each node (the merged table); ``≠`` marks where the nodes disagree.

Keys: ``1`` overview, ``2`` merged table (``tab`` switches), ``enter`` on a node opens
its console, ``enter`` or ``o`` on a merged server row changes it on every node, ``u``
undoes the last fleet change, ``r`` refreshes every node now.

The data comes from :class:`~console.ui.fleet_app.FleetApp`; the tables are redrawn at
most a few times a second, whatever the number of nodes answering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.haproxy import fleet_model as fm
from console.haproxy.counters import format_age_minutes
from console.haproxy.safe_text import visible
from console.ui.fleet_ops import FleetOperations
from console.ui.screens.help import HELP_BINDING
from console.ui.widgets.columns import status_cell

if TYPE_CHECKING:
    from console.ui.fleet_app import FleetApp

FLEET_BINDINGS: list[Binding] = [
    Binding("q", "app.quit", "Quit", id="quit"),
    HELP_BINDING,
    Binding("1", "view('overview')", "Nodes", id="fleet.overview"),
    Binding("2", "view('merged')", "Merged", id="fleet.merged"),
    Binding("tab", "switch_view", "Nodes / merged", show=False, id="fleet.switch"),
    Binding("o", "actions", "Change on every node", id="fleet.actions"),
    Binding("u", "undo", "Undo", id="fleet.undo"),
    Binding("r", "refresh", "Refresh", id="fleet.refresh"),
    Binding("t", "app.themes", "Theme", show=False, id="theme"),
    Binding("ctrl+l", "app.redraw", "Redraw the screen", show=False, id="redraw"),
]
"""The fleet screen's keys; each id is what the settings' [keys] remaps."""

HASH_SHOWN = 8  # hex digits of the config hash in the overview
COMPACT_OVER = 5  # more nodes than this: the merged table's states in one column
REDRAW_EVERY = 0.3  # seconds: the tables are redrawn at most this often
DIVERGE = "≠"

STATE_TEXT = {"live": "● live", "stale": "◐ stale", "connecting": "… connecting",
              "paused": "‖ paused", "disconnected": "▼ disconnected",
              "unreachable": "✖ unreachable"}
STATE_STYLE = {"live": "up", "stale": "transition", "connecting": "nocheck",
               "paused": "drain", "disconnected": "down", "unreachable": "down"}


def _num(v: int | None) -> str:
    return "—" if v is None else str(v)


def short_version(version: str | None) -> str:
    """``2.8.25`` of ``2.8.25-5cf5d0683``."""
    return (version or "—").split("-", 1)[0]


class FleetScreen(Screen[None]):
    """The fleet: its header, the overview or the merged table, a line about the row
    under the cursor."""

    DEFAULT_CSS = """
    FleetScreen #fleet-header { height: 2; background: $panel; padding: 0 1; }
    FleetScreen #fleet-banner { height: auto; max-height: 4; display: none;
                                background: $error; color: $text; padding: 0 1; }
    FleetScreen #fleet-banner.visible { display: block; }
    FleetScreen #fleet-line { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    FleetScreen #fleet-line.problem { color: $warning; text-style: bold; }
    FleetScreen DataTable { height: 1fr; }
    FleetScreen DataTable.hidden { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [*FLEET_BINDINGS]

    def __init__(self, fleet_app: FleetApp) -> None:
        super().__init__()
        self.fleet_app = fleet_app
        self.view = "overview"
        self.merged: list[fm.MergedRow] = []
        self.rows: list[fm.Overview] = []
        self._dirty = True
        self._merged_keys: list[str] = []
        self._merger = fm.Merger()
        self._shown: dict[str, Text | str] = {}  # what each line of text shows
        self._merged_drawn: dict[str, fm.MergedRow] = {}  # what the merged table shows
        self._merged_styles: dict[str, Style] = {}
        self._nodes_drawn: dict[str, list[tuple[str, str | Style]]] = {}
        self.operations = FleetOperations(self)

    # -- widgets --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("", id="fleet-header", markup=False)
        yield Static("", id="fleet-banner", markup=False)
        yield DataTable(id="nodes", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="merged", cursor_type="row", classes="hidden")
        yield Static("", id="fleet-line", markup=False)
        yield Footer()

    @property
    def nodes_table(self) -> DataTable[Text]:
        return self.query_one("#nodes", DataTable)

    @property
    def merged_table(self) -> DataTable[Text]:
        return self.query_one("#merged", DataTable)

    def on_mount(self) -> None:
        table = self.nodes_table
        for label, key in (("node", "node"), ("state", "state"), ("version", "version"),
                           ("uptime", "uptime"), ("config", "config"), ("rl", "reloads"),
                           ("conns", "conns"), ("req/s", "req"), ("!", "problems")):
            table.add_column(label, key=key)
        for node in self.fleet_app.nodes:
            table.add_row(*self._node_cells(None, node.state.label), key=node.name)
        self._add_merged_columns()
        table.focus()
        self.set_interval(REDRAW_EVERY, self._redraw_if_dirty)
        self.fleet_app.start_fleet()
        self.redraw()

    def _add_merged_columns(self) -> None:
        table = self.merged_table
        table.add_column(DIVERGE, key="mark")
        table.add_column("backend / server", key="name")
        names = [n.name for n in self.fleet_app.nodes]
        if len(names) <= COMPACT_OVER:
            for name in names:
                table.add_column(visible(name), key=f"node:{name}")
        else:
            table.add_column("states (" + " ".join(names) + ")", key="states")
            table.add_column("weights", key="weights")

    # -- data -----------------------------------------------------------------------------
    def data_changed(self) -> None:
        """A node's data or status changed: redrawn at the next tick."""
        self._dirty = True

    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self.redraw()

    def redraw(self) -> None:
        self._dirty = False
        nodes = [n.state for n in self.fleet_app.nodes]
        self.rows = fm.overview(nodes)
        self.merged = self._merger.merge([n.snapshot for n in nodes])
        self._draw_header(nodes)
        self._draw_banner(nodes)
        self._draw_nodes()
        self._draw_merged()
        self._draw_line()

    def _show(self, selector: str, content: Text | str) -> None:
        """Update a line of text when it changed (an update lays the screen out again)."""
        if self._shown.get(selector) == content:
            return
        self._shown[selector] = content
        self.query_one(selector, Static).update(content)

    def _style(self, key: str) -> Style:
        return self.fleet_app.status_styles().get(key, Style())

    def _draw_header(self, nodes: list[fm.NodeState]) -> None:
        c = fm.counts(nodes)
        div = fm.divergent(self.merged)
        marks = sum(1 for r in self.rows if r.diverges)
        line1 = Text(f"fleet {self.fleet_app.fleet_name}", style="bold")
        line1.append(f"  {len(nodes)} nodes  ")
        line1.append(f"● {c['live']} live", style=self._style("up"))
        line1.append("  ")
        line1.append(f"◐ {c['stale']} stale", style=self._style("transition")
                     if c["stale"] else "")
        line1.append("  ")
        line1.append(f"✖ {c['unreachable']} unreachable", style=self._style("down")
                     if c["unreachable"] else "")
        view = "nodes" if self.view == "overview" else "merged"
        line2 = Text(f"view: {view} (tab switches)  ")
        if div or marks:
            line2.append(f"{DIVERGE} {len(div)} rows and {marks} nodes differ",
                         style="bold reverse")
        else:
            line2.append("the nodes agree", style=self._style("up"))
        self._show("#fleet-header", Text("\n").join([line1, line2]))

    def _draw_banner(self, nodes: list[fm.NodeState]) -> None:
        """A line per node that cannot be read now, with why (the last data of a stale
        node stays in the tables)."""
        down = [n for n in nodes if n.state in ("unreachable", "disconnected", "stale")
                and n.error]
        banner = self.query_one("#fleet-banner", Static)
        self._show("#fleet-banner",
                   visible("\n".join(f"✖ {n.name} {n.state}: {n.error}" for n in down)))
        banner.set_class(bool(down), "visible")

    def _node_cells(self, row: fm.Overview | None, label: str) -> list[Text]:
        if row is None:
            return [Text(visible(label))] + [Text("—")] * 8
        state = STATE_TEXT.get(row.state, row.state)
        mark = Style(bold=True, reverse=True)
        version = Text(short_version(row.version))
        if "version" in row.diverges:
            version = Text(f"{DIVERGE}{version.plain}", style=mark)
        config = Text((row.config_hash or "—")[:HASH_SHOWN])
        if "config" in row.diverges:
            config = Text(f"{DIVERGE}{config.plain}", style=mark)
        uptime = "—" if row.uptime_sec is None else format_age_minutes(row.uptime_sec)
        problems = Text(_num(row.problems),
                        style=self._style("down") if row.problems else "")
        return [Text(visible(row.label)), Text(state, style=self._style(
                    STATE_STYLE.get(row.state, "nocheck"))),
                version, Text(uptime), config, Text(_num(row.reloads)),
                Text(_num(row.curr_conns)), Text(_num(row.req_rate)), problems]

    def _draw_nodes(self) -> None:
        """The overview's cells that changed since they were drawn."""
        table = self.nodes_table
        columns = ["node", "state", "version", "uptime", "config", "reloads", "conns", "req",
                   "problems"]
        for row in self.rows:
            cells = self._node_cells(row, row.label)
            seen = [(c.plain, c.style) for c in cells]
            before = self._nodes_drawn.get(row.name)
            for i, (col, cell) in enumerate(zip(columns, cells, strict=True)):
                if before is None or before[i] != seen[i]:
                    table.update_cell(row.name, col, cell, update_width=True)
            self._nodes_drawn[row.name] = seen

    def _merged_cells(self, row: fm.MergedRow) -> list[Text]:
        mark = Text(DIVERGE if row.diverges else " ",
                    style="bold reverse" if row.diverges else "")
        name = Text(visible(row.proxy), style="bold") if row.type == "backend" \
            else Text("  " + visible(row.name))
        cells = [mark, name]
        if len(self.fleet_app.nodes) <= COMPACT_OVER:
            cells += [self._cell(c, row) for c in row.cells]
        else:
            cells.append(Text(" ".join(_short_state(c) for c in row.cells)))
            cells.append(Text(" ".join("?" if not c.known else "-" if not c.present
                                       else _num(c.weight) for c in row.cells)))
        return cells

    def _cell(self, cell: fm.Cell, row: fm.MergedRow) -> Text:
        if not cell.known:
            return Text("?", style=self._style("nocheck"))
        if not cell.present:
            return Text("— missing", style="bold reverse")
        assert cell.status is not None
        text, key = status_cell(cell.status)
        key = key or "nocheck"
        if row.type == "server":
            text += f" w{_num(cell.weight)}"
        return Text(visible(text), style=self._style(key) + (
            Style(underline=True) if row.diverges - {"missing"} else Style()))

    def _draw_merged(self) -> None:
        """The merged table, redrawn only where a row changed: a new set of rows is laid
        out again; otherwise only the cells of rows that differ from what is drawn are
        updated, and a column is re-measured only when a cell gets wider than it
        (re-measuring a column walks all its rows: per cell and per refresh, that
        was the fleet console's main cost). Not drawn while hidden: the view switch
        draws it."""
        if self.view != "merged":
            return
        table = self.merged_table
        keys = [f"{r.proxy}\0{r.name}" for r in self.merged]
        styles = self.fleet_app.status_styles()
        if keys != self._merged_keys:
            current = self._drawn_cursor_key()
            table.clear()
            for key, row in zip(keys, self.merged, strict=True):
                table.add_row(*self._merged_cells(row), key=key)
            self._merged_keys = keys
            self._merged_drawn = dict(zip(keys, self.merged, strict=True))
            self._merged_styles = styles
            if current is not None:
                self.move_merged_cursor(*current)
            return
        if styles != self._merged_styles:  # another theme: every row again
            self._merged_drawn.clear()
            self._merged_styles = styles
        columns = list(table.ordered_columns)
        drawn = self._merged_drawn
        for key, row in zip(keys, self.merged, strict=True):
            if drawn.get(key) == row:
                continue
            for column, cell in zip(columns, self._merged_cells(row), strict=True):
                table.update_cell(key, column.key, cell,
                                  update_width=cell.cell_len > column.content_width)
            drawn[key] = row

    def _drawn_cursor_key(self) -> tuple[str, str] | None:
        """(proxy, name) of the row under the merged table's cursor, as drawn (the rows
        may have changed since)."""
        keys, row = self._merged_keys, self.merged_table.cursor_row
        if not 0 <= row < len(keys):
            return None
        proxy, _, name = keys[row].partition("\0")
        return proxy, name

    def _draw_line(self) -> None:
        line = self.query_one("#fleet-line", Static)
        text, problem = "", False
        if self.view == "overview":
            row = self.cursor_node()
            if row is not None and row.error:
                text, problem = f"{row.name}: {row.state}: {row.error}", True
            elif row is not None and row.diverges:
                text, problem = f"{row.name} differs from the fleet: " + \
                    ", ".join(sorted(row.diverges)), True
            else:
                text = "enter: open this node's console (escape comes back)"
        else:
            merged = self.cursor_merged()
            names = [n.name for n in self.fleet_app.nodes]
            if merged is not None and merged.diverges:
                text, problem = "; ".join(merged.why(names)), True
            elif merged is not None and merged.type == "server":
                text = "enter / o: change this server on every node"
            else:
                text = "a server row: enter / o changes it on every node"
        self._show("#fleet-line", visible(text))
        line.set_class(problem, "problem")

    # -- the cursor -----------------------------------------------------------------------
    def cursor_node(self) -> fm.Overview | None:
        table = self.nodes_table
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def cursor_merged(self) -> fm.MergedRow | None:
        table = self.merged_table
        if not self.merged or table.cursor_row < 0 or table.cursor_row >= len(self.merged):
            return None
        return self.merged[table.cursor_row]

    def merged_cursor_key(self) -> tuple[str, str] | None:
        row = self.cursor_merged()
        return row.key if row is not None else None

    def move_merged_cursor(self, proxy: str, name: str) -> bool:
        """Put the merged table's cursor on (proxy, name); False when it is not there."""
        for i, row in enumerate(self.merged):
            if row.key == (proxy, name):
                self.merged_table.move_cursor(row=i)
                return True
        return False

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._draw_line()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "nodes":
            row = self.cursor_node()
            if row is not None:
                self.fleet_app.open_console(row.name)
        else:
            self.action_actions()

    # -- keys -----------------------------------------------------------------------------
    def action_view(self, view: str) -> None:
        self.view = view
        self.nodes_table.set_class(view != "overview", "hidden")
        self.merged_table.set_class(view != "merged", "hidden")
        (self.nodes_table if view == "overview" else self.merged_table).focus()
        self.redraw()

    def action_switch_view(self) -> None:
        self.action_view("merged" if self.view == "overview" else "overview")

    def action_actions(self) -> None:
        if self.view != "merged":
            self.action_view("merged")
            self.notify("changes on every node start from a server row of the merged "
                        "table: pick one, then enter or o")
            return
        row = self.cursor_merged()
        if row is None or row.type != "server":
            self.notify("select a server row first (a backend's servers are under it)",
                        severity="warning")
            return
        self.operations.open_menu(row)

    def action_undo(self) -> None:
        self.operations.undo()

    def action_refresh(self) -> None:
        for node in self.fleet_app.nodes:
            if node.poller is not None:
                node.poller.refresh_now()


def _short_state(cell: fm.Cell) -> str:
    if not cell.known:
        return "?"
    if not cell.present:
        return "-"
    assert cell.status is not None
    return cell.admin if cell.admin and cell.admin != "READY" else cell.status.kind
