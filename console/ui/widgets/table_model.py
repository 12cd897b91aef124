"""The proxy table's model: rows by key, groups per proxy, and the visible order.

Pure Python (no Textual), so the table widget only draws what this decides.

Design, for 10,000+ rows refreshed every second:

* rows live in a dict by ``(proxy, name)`` plus HAProxy's order as a list of keys;
* groups (one per proxy: its header row, then FRONTEND of a ``listen`` section,
  listeners, servers) are rebuilt only when the set or order of keys changes;
* the visible lines (a list of keys) are rebuilt only when the keys, the filter,
  the sort, the collapsed groups or, for a live sort or a status filter, a value
  they depend on changes;
* otherwise :meth:`TableModel.update` only swaps rows and reports which of the rows
  the widget has drawn changed (a field or rate their view shows differs), plus the
  group headers whose summary changed, so the widget redraws just those lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from console.haproxy.counters import Mark
from console.haproxy.model import CLOCK_FIELDS, Rates, Row, Snapshot, same_content
from console.name_filter import Haystacks, Matcher, make_matcher
from console.ui.widgets.columns import Column, hot_5xx

Key = tuple[str, str]
QUICK_FILTERS = ("all", "problems", "maint_drain", "backend")
_UP_KINDS = frozenset({"UP", "NOCHECK"})
_COUNTED = (("DOWN", "down"), ("MAINT", "maint"), ("DRAIN", "drain"), ("NOLB", "nolb"))


@dataclass(slots=True)
class Group:
    """One proxy. ``header`` is its BACKEND row, else its FRONTEND row; ``frontend`` is
    the FRONTEND of a proxy that has both (a ``listen`` section), shown as a child."""

    proxy: str
    header: Key
    frontend: Key | None = None
    listeners: list[Key] = field(default_factory=list)
    servers: list[Key] = field(default_factory=list)

    @property
    def has_children(self) -> bool:
        return bool(self.frontend or self.listeners or self.servers)


@dataclass(slots=True)
class Changes:
    """What :meth:`TableModel.update` did: ``rebuilt`` when the visible order was
    recomputed; ``changed`` keys whose line must be drawn again. ``whole``: those of them
    whose status (or, for a group header, its summary) changed; ``before``: for the
    others, the row and rates they were drawn from, so the widget can redraw only the
    cells that differ. ``clocks``: those of them whose content and rates are the same,
    only a clock field moved (``lastchg`` ticks on every row): only the cells of the
    columns that read a clock field can differ."""

    rebuilt: bool
    changed: set[Key]
    whole: set[Key] = field(default_factory=set)
    before: dict[Key, tuple[Row, Rates | None]] = field(default_factory=dict)
    clocks: set[Key] = field(default_factory=set)


# what a plain text pass matched in one proxy: None for every line, else the children
# that matched and whether the header did
_Found = tuple[list[Key], bool] | None


class TableModel:
    """Rows, groups, filters, sort and collapsed groups; produces :attr:`lines`."""

    def __init__(self) -> None:
        self.rows: dict[Key, Row] = {}
        self.rates: dict[Key, Rates] = {}
        self.mark: Mark | None = None
        self.order: list[Key] = []
        self.groups: dict[str, Group] = {}
        self.headers: dict[Key, str] = {}  # header key -> proxy
        self.lines: list[Key] = []
        self.index: dict[Key, int] = {}
        self.full: list[Key] = []  # every line, sorted, ignoring filters and collapse
        self.matched = 0  # the lines the filters let through, collapsed groups expanded
        self.collapsed: set[str] = set()
        self.collapse_new = False
        self.filter_text = ""
        self.quick = "all"
        self.quick_arg: str | None = None
        self.sort_column: Column | None = None
        self.sort_reverse = False
        self.watched: tuple[str, ...] = ()  # the fields the view shows; () = all of them
        self.rate_fields: tuple[str, ...] = ()  # the Rates fields the view shows
        self._getter: Callable[[dict[str, str]], Any] | None = None
        self._watched_clock: tuple[str, ...] = CLOCK_FIELDS
        self._matcher: Matcher | None = None
        self._haystacks = Haystacks()  # for plain text filters on many rows
        # the last plain text pass (a longer needle that holds its needle can only
        # match some of what it matched): its needle, the keys' order it was over, what
        # it matched per proxy with a match (see _Found), and whether the table was
        # unsorted (each proxy's matches then in HAProxy's order)
        self._plain_last: tuple[str, list[Key], dict[str, _Found], bool] | None = None
        self._hot: frozenset[Key] = frozenset()  # servers with 5xx well above their backend
        self._sort_values: dict[Key, Any] = {}
        self._summaries: dict[str, str] = {}
        self._taken_at: float | None = None  # of the snapshot the rows are of

    # ----------------------------------------------------------------- data

    def update(self, snapshot: Snapshot, rates: dict[Key, Rates] | None,
               drawn: Iterable[Key] = ()) -> Changes:
        """Take a new snapshot; rebuild the lines only if something they depend on changed.

        Values are compared only for the ``drawn`` keys (those the widget holds a strip
        for): another row will be drawn from its new values anyway. Statuses are compared
        for every row (status filters and group summaries depend on them), by identity
        first, since equal statuses are one shared object.
        """
        old_rows, old_rates, new_rows = self.rows, self.rates, snapshot.rows
        order = self.order
        fresh = snapshot.fresh if snapshot.merged_after(self._taken_at) else None
        if fresh is not None:
            # merged from the snapshot taken last: the same keys in the same order, and
            # the rows not read again are those already held here
            rows = dict(old_rows)
            for key, row in zip(fresh, snapshot.fresh_rows(), strict=True):
                rows[key] = row
        else:
            if len(order) != len(new_rows) or not all(
                    r.key == k for r, k in zip(new_rows, order, strict=True)):
                order = [r.key for r in new_rows]  # else: keep the same key objects
            rows = dict(zip(order, new_rows, strict=True))
        self._taken_at = snapshot.taken_at
        status_changed: set[Key] = set()
        for key in rows if fresh is None else fresh:
            prev, row = old_rows.get(key), rows[key]
            if prev is not None and prev.status is not row.status and prev.status != row.status:
                status_changed.add(key)
        self.rows, self.rates = rows, rates or {}
        changed = set(status_changed)
        before: dict[Key, tuple[Row, Rates | None]] = {}
        only_clocks: set[Key] = set()
        differs, rate_fields, clocks = self._differs, self.rate_fields, self._watched_clock
        new_rates = self.rates
        for key in drawn:
            prev, new = old_rows.get(key), rows.get(key)
            if prev is None or new is None or prev is new or key in changed:
                continue
            same = same_content(prev, new)
            if same:  # only the clock fields can differ
                moved = any(prev.fields.get(f) != new.fields.get(f) for f in clocks)
            else:
                moved = differs(prev.fields, new.fields)
            rated = bool(rate_fields) and (not moved or same) and _rates_differ(
                old_rates.get(key), new_rates.get(key), rate_fields)
            if moved or rated:
                changed.add(key)
                before[key] = (prev, old_rates.get(key))
                if same and not rated:
                    only_clocks.add(key)
        if order is not self.order:
            self.order = order
            self._regroup()
            self._summaries.clear()
            self._compute_sort_values()
            self._rebuild()
            return Changes(True, set(rows))
        whole = set(status_changed)
        for key in status_changed:
            self._summaries.pop(key[0], None)
            group = self.groups.get(key[0])
            if group is not None:
                changed.add(group.header)
                whole.add(group.header)
        rebuild = bool(status_changed) and self.quick in ("problems", "maint_drain")
        if self.quick == "problems":
            rebuild = self._update_hot() or rebuild
        if self.sort_column is not None:
            rebuild = self._resort_needed(order) or rebuild
        if rebuild:
            self._rebuild()
        return Changes(rebuild, changed, whole, before, only_clocks)

    def watch(self, fields: tuple[str, ...], rate_fields: tuple[str, ...]) -> None:
        """The fields and rates whose change redraws a row (the current view's)."""
        self.watched, self.rate_fields = fields, rate_fields
        self._getter = itemgetter(*fields) if len(fields) > 1 else None
        self._watched_clock = tuple(f for f in fields if f in CLOCK_FIELDS) if fields \
            else CLOCK_FIELDS

    def _differs(self, old: dict[str, str], new: dict[str, str]) -> bool:
        getter = self._getter
        if getter is None:
            return old != new
        try:
            return bool(getter(old) != getter(new))
        except KeyError:  # a field this HAProxy does not print
            return any(old.get(f) != new.get(f) for f in self.watched)

    def _regroup(self) -> None:
        groups: dict[str, Group] = {}
        for key in self.order:
            proxy, _ = key
            row = self.rows[key]
            group = groups.get(proxy)
            if group is None:
                group = groups[proxy] = Group(proxy, (proxy, "BACKEND"))
                if proxy not in self.groups and self.collapse_new:
                    self.collapsed.add(proxy)
            if row.type == "server":
                group.servers.append(key)
            elif row.type == "listener":
                group.listeners.append(key)
            elif row.type == "frontend":
                group.frontend = key
        for proxy, group in groups.items():
            if (proxy, "BACKEND") not in self.rows and group.frontend is not None:
                group.header, group.frontend = group.frontend, None
        self.groups = groups
        self._haystacks.forget_groups()
        self.headers = {g.header: p for p, g in groups.items()}
        self.collapsed.intersection_update(groups)

    # ----------------------------------------------------------------- sort

    def set_sort(self, column: Column | None, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._compute_sort_values()
        self._rebuild()

    def _sort_value(self, key: Key) -> Any:
        row = self.rows.get(key)
        column = self.sort_column
        if row is None or column is None:
            return None
        return column.sort_value(row, self.mark, self.rates.get(key))

    def _compute_sort_values(self) -> None:
        if self.sort_column is None:
            self._sort_values = {}
            return
        value = self._sort_value
        self._sort_values = {key: value(key) for key in self.order}

    def _resort_needed(self, keys: Iterable[Key]) -> bool:
        values, value = self._sort_values, self._sort_value
        needed = False
        for key in keys:
            new = value(key)
            if values.get(key) != new:
                values[key] = new
                needed = True
        return needed

    def _sorted(self, keys: list[Key]) -> list[Key]:
        """Keys by their sort value; rows without a value keep their order, last."""
        if self.sort_column is None or len(keys) < 2:
            return keys
        values = self._sort_values
        present = [k for k in keys if values.get(k) is not None]
        missing = [k for k in keys if values.get(k) is None]
        present.sort(key=values.__getitem__, reverse=self.sort_reverse)
        return present + missing

    # ----------------------------------------------------------------- filters

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._matcher = make_matcher(text)
        self._rebuild()

    @property
    def filter_simplified(self) -> bool:
        """The filter is a regex too slow (or too big) on these names, matched as
        plain text instead."""
        return self._matcher is not None and self._matcher.simplified

    def set_quick(self, name: str, arg: str | None = None) -> None:
        if name not in QUICK_FILTERS:
            raise ValueError(f"unknown quick filter {name!r}; one of {', '.join(QUICK_FILTERS)}")
        self.quick, self.quick_arg = name, arg if name == "backend" else None
        if name == "problems":
            self._update_hot()
        self._rebuild()

    @property
    def filtering(self) -> bool:
        """A name or quick filter hides rows."""
        return self.quick != "all" or self._matcher is not None

    def clear_filters(self) -> None:
        """No name filter, no quick filter: every row."""
        self.filter_text, self._matcher = "", None
        self._haystacks.clear()
        self._plain_last = None
        self.quick, self.quick_arg = "all", None
        self._rebuild()

    def _update_hot(self) -> bool:
        """The servers whose 5xx share is well above their backend's; True if changed."""
        rows, mark = self.rows, self.mark
        hot = frozenset(key for key, row in rows.items() if row.type == "server" and
                        hot_5xx(row, rows.get((key[0], "BACKEND")), mark))
        changed, self._hot = hot != self._hot, hot
        return changed

    def set_mark(self, mark: Mark | None) -> None:
        self.mark = mark
        if self.quick == "problems" and self._update_hot():
            self._rebuild()
        if self.sort_column is not None and self.sort_column.counter:
            self._compute_sort_values()
            self._rebuild()

    def _shown(self, key: Key) -> bool:
        quick = self.quick
        if quick == "backend" and key[0] != self.quick_arg:
            return False
        if quick in ("problems", "maint_drain"):
            row = self.rows.get(key)
            if row is None:
                return False
            if quick == "problems" and not row.status.problem and key not in self._hot:
                return False
            if quick == "maint_drain" and row.status.kind not in ("MAINT", "DRAIN"):
                return False
        return self._matcher is None or self._matcher(key)

    # ----------------------------------------------------------------- collapse

    def set_collapsed(self, proxy: str, collapsed: bool) -> bool:
        """Collapse or expand one group; False if nothing changed."""
        group = self.groups.get(proxy)
        if group is None or not group.has_children or (proxy in self.collapsed) == collapsed:
            return False
        if collapsed:
            self.collapsed.add(proxy)
        else:
            self.collapsed.discard(proxy)
        self._rebuild()
        return True

    def collapse_all(self, collapsed: bool) -> None:
        self.collapse_new = collapsed
        if collapsed:
            self.collapsed = {p for p, g in self.groups.items() if g.has_children}
        else:
            self.collapsed = set()
        self._rebuild()

    # ----------------------------------------------------------------- lines

    def _rebuild(self) -> None:
        matcher = self._matcher
        if matcher is not None:
            simplified = matcher.simplified
            matcher.begin_pass()
            self._build_lines()
            if matcher.simplified != simplified:  # the regex gave up during the pass
                self._build_lines()
            return
        self._build_lines()

    def _build_lines(self) -> None:
        groups = list(self.groups.values())
        if self.sort_column is not None:
            by_header = {g.header: g for g in groups}
            groups = [by_header[k] for k in self._sorted(list(by_header))]
        shown, collapsed = self._shown, self.collapsed
        filtering = self.filtering
        matcher = self._matcher
        # a plain text filter alone: matched in bulk (the same as _shown, row by row)
        plain = matcher is not None and matcher.plain and self.quick == "all"
        needle = matcher.needle if matcher is not None else ""
        haystacks = self._haystacks
        select, fold_proxy = haystacks.select, haystacks.proxy
        last = self._plain_last
        within = last[2] if plain and last is not None and last[1] is self.order and \
            last[0] in needle else None
        # the last pass's matches are in this pass's order: both unsorted
        kept_order = self.sort_column is None and (last is None or last[3])
        found: dict[str, _Found] = {}
        lines: list[Key] = []
        full: list[Key] = []
        matched = 0
        for group in groups:
            children = ([group.frontend] if group.frontend else []) \
                + self._sorted(group.listeners) + self._sorted(group.servers)
            full.append(group.header)
            full.extend(children)
            header_hit = False
            if plain:
                proxy = group.proxy
                if needle in fold_proxy(proxy):
                    # in the proxy's name: in every line's "proxy/name"
                    visible, header_hit = children, True
                    found[proxy] = None
                else:
                    if within is None:
                        candidates, header_was = children, True
                    elif proxy not in within:
                        candidates, header_was = [], False
                    else:
                        before = within[proxy]
                        if before is None:
                            candidates, header_was = children, True
                        else:
                            candidates = before[0] if kept_order else children
                            header_was = before[1]
                    if (candidates or header_was) and needle not in \
                            haystacks.group(proxy, group.header, children):
                        candidates, header_was = [], False  # in none of its lines
                    visible = select(needle, candidates) if candidates else []
                    header_hit = header_was and bool(select(needle, [group.header]))
                    if visible or header_hit:
                        found[proxy] = (visible, header_hit)
            else:
                visible = [k for k in children if shown(k)] if filtering else children
            if visible or not filtering or (header_hit if plain else shown(group.header)):
                lines.append(group.header)
                matched += 1 + len(visible)
                if group.proxy not in collapsed:
                    lines.extend(visible)
        self.lines, self.full, self.matched = lines, full, matched
        self._plain_last = (needle, self.order, found, self.sort_column is None) \
            if plain else None
        self.index = dict(zip(lines, range(len(lines)), strict=True))

    def nearest(self, key: Key) -> int | None:
        """The visible line closest to ``key`` in the full order (itself if shown; else the
        nearest line above it, such as its collapsed group's header; else the next below)."""
        if key in self.index:
            return self.index[key]
        try:
            rank = self.full.index(key)
        except ValueError:
            return None
        index = self.index
        for k in reversed(self.full[:rank]):
            if k in index:
                return index[k]
        for k in self.full[rank + 1:]:
            if k in index:
                return index[k]
        return None

    def group_of(self, key: Key) -> Group | None:
        return self.groups.get(key[0])

    def summary(self, proxy: str) -> str:
        """``3/4 up`` for a group with servers, ``3/4 up, 1 down`` when it is collapsed
        (its servers are not on screen); empty for a group without servers."""
        cached = self._summaries.get(proxy)
        if cached is None:
            cached = self._summaries[proxy] = self._summary(proxy)
        if proxy in self.collapsed:
            return cached
        return cached.split(",", 1)[0]

    def _summary(self, proxy: str) -> str:
        group = self.groups.get(proxy)
        text = ""
        if group is not None and group.servers:
            rows = self.rows
            counts = dict.fromkeys(("up", "down", "maint", "drain", "nolb"), 0)
            for key in group.servers:
                kind = rows[key].status.kind
                if kind in _UP_KINDS:
                    counts["up"] += 1
                else:
                    for k, name in _COUNTED:
                        if kind == k:
                            counts[name] += 1
                            break
            parts = [f"{counts['up']}/{len(group.servers)} up"]
            parts += [f"{counts[name]} {name}" for _, name in _COUNTED if counts[name]]
            text = ", ".join(parts)
        return text


def _rates_differ(old: Rates | None, new: Rates | None, names: tuple[str, ...]) -> bool:
    if old is None or new is None:
        return old is not new
    return any(old.get(n) != new.get(n) for n in names)
