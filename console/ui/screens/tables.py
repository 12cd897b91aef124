"""Stick tables, maps and ACLs: browse their entries and change them at runtime.

Three tabs (tables, maps, ACLs), each with the list of what HAProxy has, a filter and
the entries of the selected one. Every change is a plan from
:mod:`console.haproxy.tables`: its exact commands and impact are confirmed, then
:func:`~console.haproxy.actions.execute` sends and journals them. Changes are runtime
only: the map and ACL files are never written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from console.haproxy import tables
from console.haproxy.actions import TABLE_KINDS, Plan, execute
from console.haproxy.errors import HAProxyError, ValidationError
from console.haproxy.parsers import MapInfo, TableInfo
from console.haproxy.safe_text import visible
from console.ui.plain import plain
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.dialog import Dialog

if TYPE_CHECKING:
    from console.haproxy.transport import RuntimeClient
    from console.instance import Target

log = logging.getLogger("haconsole.ui")

KINDS = ("table", "map", "acl")
MAX_ROWS = 1000  # entries drawn at once; a filter narrows bigger tables
PERSIST_NOTE = "; persisting it is a config change"
# (action, tab) -> the action kind it needs in `allowed`
NEEDS = {("add", "map"): "map_add", ("add", "acl"): "acl_add", ("set", "map"): "map_set",
         ("delete", "map"): "map_del", ("delete", "acl"): "acl_del",
         ("clear_key", "table"): "table_clear_key", ("clear_table", "table"): "table_clear"}
NOUNS = {"table": "stick table", "map": "map", "acl": "ACL"}
CHANGES = frozenset(action for action, _ in NEEDS)
PLACEHOLDERS = {
    "table": "/ filter: key text; or data.NAME OP VALUE + enter (e.g. data.gpc0 gt 0)",
    "map": "/ filter: text in the key or the value",
    "acl": "/ filter: text in the pattern",
}


def _clip(text: str, width: int, *, tail: bool = False) -> str:
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if tail else text[:width - 1] + "…"


def _exp(ms: int | None) -> str:
    if ms is None:
        return "-"
    s = ms // 1000
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def map_ref(info: MapInfo) -> str:
    """How commands name a map or ACL: its file, or ``#ID`` when it has none."""
    return info.name or f"#{info.id}"


def confirm_body(plan: Plan) -> str:
    """The impact, what is temporary, and what cannot be undone."""
    lines = [line + PERSIST_NOTE if line in (tables.TEMPORARY_MAP, tables.TEMPORARY_ACL)
             else line for line in plan.impact]
    if plan.runtime_only_note:
        lines.append(plan.runtime_only_note)
    lines += [f"cannot be undone: {n}" for n in plan.no_undo]
    if plan.undo_commands:
        lines.append("undo would send: " + "; ".join(plan.undo_commands))
    return "\n".join(lines)


class PromptScreen(Dialog[list[str] | None]):
    """A few labelled inputs; enter moves on, enter on the last one answers."""

    DEFAULT_CSS = """
    PromptScreen > .dialog { width: 76; }
    PromptScreen .error { color: $error; text-style: bold; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="tables.prompt.cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str]], note: str = "",
                 error: str | None = None) -> None:
        super().__init__()
        self.title_text, self.fields, self.note, self.error = title, fields, note, error
        self.dialog_title = title

    def compose_body(self) -> ComposeResult:
        if self.note:
            yield Static(self.note, markup=False)

    def compose_foot(self) -> ComposeResult:
        for i, (label, value) in enumerate(self.fields):
            yield Static(label, markup=False)
            yield Input(value=value, id=f"prompt-{i}")
        if self.error:
            yield Static(f"✖ {visible(self.error)}", classes="error", markup=False)
        yield Static("enter: next / done    escape: cancel, nothing is sent",
                     classes="dialog-keys", markup=False)

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        next((i for i in inputs if not i.value), inputs[-1]).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.dismiss([i.value for i in inputs])

    def action_cancel(self) -> None:
        self.dismiss(None)


class TablesScreen(ModalScreen[None]):
    """Stick tables, maps and ACLs of one instance (a full screen; escape closes it).

    *allowed*: the action kinds this socket and mode may send
    (:func:`console.haproxy.actions.read_only`); the others are not offered.
    """

    DEFAULT_CSS = """
    TablesScreen { background: $background; layout: vertical; }
    TablesScreen #tables-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    TablesScreen #tables-notice { height: auto; padding: 0 1; color: $warning; }
    TablesScreen TabbedContent { height: 1fr; }
    TablesScreen TabbedContent > ContentSwitcher { height: 1fr; }
    TablesScreen TabPane { height: 1fr; padding: 0; layout: vertical; }
    TablesScreen .list { height: auto; max-height: 7; }
    TablesScreen .filter { height: 1; border: none; padding: 0 1; }
    TablesScreen .filter:focus { border: none; background: $boost; }
    TablesScreen .status { height: 1; padding: 0 1; color: $text-muted; }
    TablesScreen .status.error { color: $error; text-style: bold; }
    TablesScreen .entries { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="tables.close"),
        Binding("slash", "filter", "Filter", id="tables.filter"),
        Binding("a", "add", "Add", id="tables.add"),
        Binding("s", "set", "Set value", id="tables.set"),
        Binding("d,delete", "delete", "Delete", id="tables.delete"),
        Binding("k", "clear_key", "Clear key", id="tables.clear_key"),
        Binding("C", "clear_table", "Clear table", id="tables.clear_table"),
        Binding("r", "reload", "Reload", id="tables.reload"),
        Binding("1", "tab('table')", "Tables", show=False, id="tables.tab_tables"),
        Binding("2", "tab('map')", "Maps", show=False, id="tables.tab_maps"),
        Binding("3", "tab('acl')", "ACLs", show=False, id="tables.tab_acls"),
    ]

    def __init__(self, client: RuntimeClient, target: Target, allowed: frozenset[str], *,
                 reason: str | None = None) -> None:
        super().__init__()
        self.client, self.target, self.reason = client, target, reason
        self.allowed = frozenset(allowed)
        self.selected: dict[str, str | None] = {k: None for k in KINDS}
        self.entries: dict[str, list[Any]] = {k: [] for k in KINDS}
        self.shown: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
        self.data_filter: str | None = None  # the table's `data.X op V`, asked of HAProxy

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(f"{self.target.name} — stick tables, maps and ACLs (runtime)",
                     id="tables-title", markup=False)
        yield Static(self.notice() or "", id="tables-notice", markup=False)
        with TabbedContent(id="tables-tabs", initial="pane-table"):
            for kind, label in zip(KINDS, ("1 Tables", "2 Maps", "3 ACLs"), strict=True):
                with TabPane(label, id=f"pane-{kind}"):
                    yield DataTable(id=f"{kind}-list", classes="list", cursor_type="row",
                                    zebra_stripes=True)
                    yield Input(placeholder=PLACEHOLDERS[kind], id=f"{kind}-filter",
                                classes="filter")
                    yield Static("", id=f"{kind}-status", classes="status", markup=False)
                    yield DataTable(id=f"{kind}-entries", classes="entries",
                                    cursor_type="row", zebra_stripes=True)
        yield Footer()

    def notice(self) -> str | None:
        """Why some changes are not offered, or None when all of them are."""
        missing = TABLE_KINDS - self.allowed
        if not missing:
            return None
        why = self.reason or (
            "started with --read-only" if self.target.read_only else
            "this socket's level allows no changes (operator or admin is needed)"
            if not self.allowed else "not allowed at this socket's level")
        if missing == TABLE_KINDS:
            return f"Read-only: {why}; changes are not offered."
        return f"Not offered ({why}): " + ", ".join(sorted(missing))

    def on_mount(self) -> None:
        for kind in KINDS:
            self.query_one(f"#{kind}-list", DataTable).add_columns(*(
                ("name", "type", "size", "used") if kind == "table"
                else ("id", "file", "entries", "description")))
        self.query_one("#tables-notice").display = bool(self.notice())
        self.query_one("#table-list", DataTable).focus()
        self._work(self._load_lists(), "lists")

    def _work(self, coro: Coroutine[Any, Any, None], group: str) -> None:
        self.run_worker(self._guard(coro), group=group, exclusive=True, exit_on_error=False)

    async def _guard(self, coro: Coroutine[Any, Any, None], prefix: str = "") -> None:
        try:
            await coro
        except HAProxyError as exc:
            self.notify(f"{prefix}{exc}", severity="error", timeout=15)
        except Exception as exc:  # noqa: BLE001 - no traceback reaches the screen
            log.exception("tables screen")
            self.notify(f"internal error: {type(exc).__name__}: {exc} (details in the log)",
                        severity="error", timeout=20)

    # -- which tab --------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        tabs = self.query(TabbedContent)
        active = (tabs.first().active if tabs else "") or "pane-table"
        return active.removeprefix("pane-")

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        if self.focused is None:
            self.call_after_refresh(lambda: self.query_one(f"#{self.kind}-list").focus())

    def action_tab(self, kind: str) -> None:
        # Nothing focused while the panes switch: a focused widget being hidden would
        # pass the focus to a neighbour in the old pane, which switches back to it.
        self.set_focus(None)
        self.query_one(TabbedContent).active = f"pane-{kind}"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in CHANGES:
            return True
        need = NEEDS.get((action, self.kind))
        return need is not None and need in self.allowed

    # -- reading ----------------------------------------------------------------------------
    async def _load_lists(self, kinds: tuple[str, ...] = KINDS) -> None:
        for kind in kinds:
            try:
                items: list[Any] = (await tables.list_tables(self.client) if kind == "table"
                                    else await tables.list_maps(self.client, kind))
            except HAProxyError as exc:
                self._status(kind, f"cannot list them: {exc}", error=True)
                continue
            self._fill_list(kind, items)

    def _fill_list(self, kind: str, items: list[Any]) -> None:
        table = self.query_one(f"#{kind}-list", DataTable)
        table.clear()
        refs: list[str] = []
        for item in items:
            if isinstance(item, TableInfo):
                ref = item.name
                table.add_row(plain(item.name), plain(item.type), str(item.size),
                              str(item.used), key=ref)
            else:
                ref = map_ref(item)
                count = "?" if item.entry_count is None else str(item.entry_count)
                desc = re.sub(r"^pattern loaded from file '[^']*' ", "",
                              item.description.split(". curr_ver=")[0])
                table.add_row(str(item.id), plain(_clip(item.name or "(inline)", 30, tail=True)),
                              count, plain(_clip(desc, max(20, self.size.width - 53))), key=ref)
            refs.append(ref)
        if not refs:
            self.selected[kind] = None
            self._show_entries(kind)
            self._status(kind, f"this instance has no {NOUNS[kind]}s")
            return
        selected = self.selected[kind]
        chosen = selected if selected is not None and selected in refs else refs[0]
        table.move_cursor(row=refs.index(chosen))
        if chosen != self.selected[kind] or not self.entries[kind]:
            self.selected[kind] = chosen
            self._work(self._load_entries(kind), f"entries-{kind}")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table_id = event.data_table.id or ""
        if not table_id.endswith("-list"):
            return
        kind = table_id.removesuffix("-list")
        ref = self._cursor_key(event.data_table)
        if ref is not None and ref != self.selected[kind]:
            self.selected[kind] = ref
            if kind == "table" and self.data_filter:
                self.data_filter = None
                self.query_one("#table-filter", Input).value = ""
            self._work(self._load_entries(kind), f"entries-{kind}")

    @staticmethod
    def _cursor_key(table: DataTable[Any]) -> str | None:
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside the rows
            return None

    async def _load_entries(self, kind: str) -> None:
        ref = self.selected[kind]
        if ref is None:
            return
        self._status(kind, f"reading {ref}…")
        try:
            rows: Any = ((await tables.show_table(self.client, ref, data=self.data_filter))[1]
                         if kind == "table" else await tables.map_entries(self.client, ref)
                         if kind == "map" else await tables.acl_entries(self.client, ref))
        except HAProxyError as exc:
            self.entries[kind] = []
            self._show_entries(kind)
            self._status(kind, f"cannot read {ref}: {exc}", error=True)
            return
        self.entries[kind] = list(rows)
        self._show_entries(kind)

    def _show_entries(self, kind: str) -> None:
        table = self.query_one(f"#{kind}-entries", DataTable)
        keep = self._cursor_key(table)
        old_row = table.cursor_row
        text = self.query_one(f"#{kind}-filter", Input).value.strip()
        if kind == "table" and text.startswith("data."):
            text = ""  # asked of HAProxy, see data_filter
        rows = [r for r in self.entries[kind] if text.casefold() in (
            r.key if kind == "table" else "\0".join(r[1:])).casefold()]
        table.clear(columns=True)
        shown: dict[str, Any] = {}
        if kind == "table":
            data_cols: list[str] = []
            for e in rows[:MAX_ROWS]:
                data_cols += [c for c in e.data if c not in data_cols]
            table.add_columns("key", "use", "exp", *(plain(c) for c in data_cols))
            for e in rows[:MAX_ROWS]:
                table.add_row(plain(e.key), str(e.use), _exp(e.exp),
                              *(plain(e.data.get(c, "")) for c in data_cols), key=e.ptr)
                shown[e.ptr] = e
        else:
            table.add_columns(*(("key", "value") if kind == "map" else ("pattern",)))
            for r in rows[:MAX_ROWS]:
                table.add_row(*(plain(v) for v in r[1:]), key=r[0])
                shown[r[0]] = r
        self.shown[kind] = shown
        if keep in shown:
            table.move_cursor(row=list(shown).index(keep))
        elif shown:
            table.move_cursor(row=min(old_row, len(shown) - 1))
        ref = self.selected[kind] or "-"
        total = len(self.entries[kind])
        what = f"{ref}: {len(rows)} of {total} entries" if text else f"{ref}: {total} entries"
        if kind == "table" and self.data_filter:
            what += f" with {self.data_filter}"
        if len(rows) > MAX_ROWS:
            what += f" — showing the first {MAX_ROWS}; filter to narrow"
        self._status(kind, what)

    def _status(self, kind: str, text: str, *, error: bool = False) -> None:
        status = self.query_one(f"#{kind}-status", Static)
        status.update(visible(text))
        status.set_class(error, "error")

    # -- filter -----------------------------------------------------------------------------
    def action_filter(self) -> None:
        self.query_one(f"#{self.kind}-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        kind = (event.input.id or "").removesuffix("-filter")
        if kind not in KINDS:
            return
        if kind == "table":
            text = event.value.strip()
            if text.startswith("data."):
                self._status(kind, f"press enter to ask HAProxy for entries with {text}")
                return
            if self.data_filter:
                self.data_filter = None
                self._work(self._load_entries(kind), f"entries-{kind}")
                return
        self._show_entries(kind)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        kind = (event.input.id or "").removesuffix("-filter")
        if kind not in KINDS:
            return
        text = event.value.strip()
        if kind == "table" and text.startswith("data."):
            try:
                self.data_filter = " ".join(tables.check_data_filter(text))
            except ValidationError as exc:
                self._status(kind, f"filter not applied: {exc}", error=True)
                self.notify(f"filter not applied: {exc}", severity="error", timeout=10)
                return
            self._work(self._load_entries(kind), f"entries-{kind}")
        self.query_one(f"#{kind}-entries", DataTable).focus()

    # -- actions ----------------------------------------------------------------------------
    def action_close(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(f"#{self.kind}-entries", DataTable).focus()
        else:
            self.dismiss(None)

    def action_reload(self) -> None:
        self._work(self._reload(self.kind), "lists")

    async def _reload(self, kind: str) -> None:
        await self._load_lists((kind,))
        await self._load_entries(kind)

    def _target(self, kind: str, entry: bool) -> tuple[str, Any] | None:
        """The selected table/map/ACL and (with *entry*) the selected entry, or a notice."""
        ref = self.selected[kind]
        key = self._cursor_key(self.query_one(f"#{kind}-entries", DataTable))
        row = self.shown[kind].get(key) if key is not None else None
        if ref is None or (entry and row is None):
            what = "an entry (the lower list)" if ref else f"a {NOUNS[kind]}"
            self.notify(f"select {what} first", severity="warning")
            return None
        return ref, row

    def action_clear_key(self) -> None:
        if sel := self._target("table", True):
            name, key = sel[0], sel[1].key
            self._change("table", lambda _: tables.prepare_table_clear(self.client, name, key))

    def action_clear_table(self) -> None:
        if sel := self._target("table", False):
            self._change("table", lambda _: tables.prepare_table_clear(self.client, sel[0]))

    async def _prepare(self, kind: str, action: str, ref: str, key: str,
                       value: str | None = None) -> Plan:
        if kind == "map":
            return await tables.prepare_map_change(self.client, f"map_{action}", ref, key, value)
        return await tables.prepare_acl_change(self.client, f"acl_{action}", ref, key)

    def action_add(self) -> None:
        kind = self.kind
        if sel := self._target(kind, False):
            ref = sel[0]
            fields = [("key", ""), ("value", "")] if kind == "map" else [("pattern", "")]
            self._change(kind, lambda v: self._prepare(kind, "add", ref, *v),
                         (f"Add to {NOUNS[kind]} {ref}", fields))

    def action_set(self) -> None:
        if sel := self._target("map", True):
            (ref, (_, key, value)) = sel
            self._change("map", lambda v: self._prepare("map", "set", ref, key, v[0]),
                         (f"Set the value of {key} in map {ref}", [("new value", value)]))

    def action_delete(self) -> None:
        kind = self.kind
        if sel := self._target(kind, True):
            ref, key = sel[0], sel[1][1]
            self._change(kind, lambda _: self._prepare(kind, "del", ref, key))

    # -- the change path: plan, confirm, execute, answer, reload ------------------------------
    def _change(self, kind: str, build: Callable[[list[str]], Awaitable[Plan]],
                prompt: tuple[str, list[tuple[str, str]]] | None = None) -> None:
        self.run_worker(self._guard(self._change_flow(kind, build, prompt), "nothing sent: "),
                        group="change", exclusive=True, exit_on_error=False)

    async def _change_flow(self, kind: str, build: Callable[[list[str]], Awaitable[Plan]],
                           prompt: tuple[str, list[tuple[str, str]]] | None) -> None:
        """Ask for the values (again, showing why, while they are refused) and plan."""
        values: list[str] = []
        error: str | None = None
        while True:
            if prompt is not None:
                title, fields = prompt
                answer = await self.app.push_screen_wait(PromptScreen(
                    title, fields, "Runtime only: the file is not changed.", error))
                if answer is None:
                    self.notify("cancelled: nothing was sent")
                    return
                values = answer
                prompt = (title, [(f[0], v) for f, v in zip(fields, values, strict=True)])
            try:
                plan = await build(values)
                break
            except ValidationError as exc:
                if prompt is None:
                    raise
                error = str(exc)
        await self._confirm_and_execute(kind, plan)

    async def _confirm_and_execute(self, kind: str, plan: Plan) -> None:
        word = plan.confirm_word if plan.dangerous else None
        yes = await self.app.push_screen_wait(
            ConfirmScreen(plan.summary[:1].upper() + plan.summary[1:] + "?", confirm_body(plan),
                          plan.commands, word))
        if not yes:
            self.notify("cancelled: nothing was sent")
            return
        result = await execute(plan, self.client, self.target)
        if result.ok:
            said = "; ".join(a.strip() for a in result.answers if a.strip())
            self.notify(f"done: {plan.summary}" + (f" — HAProxy said: {said}" if said else ""),
                        timeout=8)
        else:
            self.notify(f"failed: {result.error}", severity="error", timeout=20)
        for warning in result.warnings:
            self.notify(warning, severity="warning", timeout=12)
        await self._reload(kind)
