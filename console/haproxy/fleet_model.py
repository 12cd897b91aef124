"""A fleet seen as one: every node's figures side by side, and its backends and servers
merged, with where the nodes disagree.

Pure functions over the nodes' last snapshots (:class:`~console.haproxy.model.Snapshot`);
nothing here talks to HAProxy. A node that has no snapshot (unreachable, not read yet)
is *unknown*: it is shown as such and never counted as disagreeing, nor as missing a
server.

What counts as a divergence:

* between nodes: the HAProxy version, the configuration's hash (when known on at least
  two nodes) — a node whose value is not the most common one is marked, every node when
  there is no single most common value;
* on a backend or server: present on some known nodes and missing on others, a server's
  admin state (READY / DRAIN / MAINT) or its weight (the configured or set weight,
  ``uweight``, else ``weight``) not the same on every node that has it.

The health (UP, DOWN, failing checks) is shown per node but is not a divergence: it is
what the node sees of its servers, not what was set on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from console.haproxy.model import Row, Snapshot, Status

# --------------------------------------------------------------------------- nodes

NODE_STATES = ("connecting", "live", "stale", "disconnected", "paused", "unreachable")


@dataclass
class NodeState:
    """One node as the fleet screen knows it: its last snapshot and how fresh it is."""

    name: str
    label: str  # "lb1 via ssh" or "lb3"
    state: str = "connecting"  # one of NODE_STATES
    error: str | None = None  # why it is stale, disconnected or unreachable
    snapshot: Snapshot | None = None
    config_hash: str | None = None  # short sha256 of the configuration, when known
    reloads: int | None = None  # the master's reload count, when a master socket is known

    _problems: tuple[Snapshot, int] | None = field(default=None, repr=False, compare=False)

    @property
    def known(self) -> bool:
        """Its snapshot can be compared with the others' (read at least once)."""
        return self.snapshot is not None

    def problems(self) -> int | None:
        """How many servers of its snapshot are not a steady UP (counted once per
        snapshot: the fleet screen asks at every redraw)."""
        snap = self.snapshot
        if snap is None:
            return None
        cached = self._problems
        if cached is None or cached[0] is not snap:
            cached = self._problems = (snap, len(problem_servers(snap)))
        return cached[1]


@dataclass(frozen=True)
class Overview:
    """One row of the overview: a node's figures (None: not known)."""

    name: str
    label: str
    state: str
    error: str | None
    version: str | None
    uptime_sec: int | None
    config_hash: str | None
    reloads: int | None
    curr_conns: int | None
    req_rate: int | None
    problems: int | None
    diverges: frozenset[str] = frozenset()  # "version", "config"


def problem_servers(snapshot: Snapshot) -> list[Row]:
    """The servers that are not a steady UP (DOWN, failing checks, MAINT, DRAIN…)."""
    return [r for r in snapshot.servers if r.status.problem]


def req_rate(snapshot: Snapshot) -> int | None:
    """Requests per second: the frontends' ``req_rate`` summed (None: none reports it)."""
    known = [n for n in (r.num("req_rate") for r in snapshot.frontends) if n is not None]
    return sum(known) if known else None


def _most_common_outliers(values: dict[str, Hashable]) -> set[str]:
    """The names whose value is not the single most common one (every name on a tie)."""
    if len(set(values.values())) < 2:
        return set()
    counts = Counter(values.values()).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return set(values)
    top = counts[0][0]
    return {name for name, v in values.items() if v != top}


def node_divergence(nodes: Sequence[NodeState]) -> dict[str, frozenset[str]]:
    """Per node name, what it differs from the fleet on: ``version``, ``config``."""
    versions = {n.name: n.snapshot.info.version for n in nodes
                if n.snapshot is not None and n.snapshot.info is not None
                and n.snapshot.info.version}
    hashes = {n.name: n.config_hash for n in nodes if n.config_hash}
    out: dict[str, set[str]] = {n.name: set() for n in nodes}
    for name in _most_common_outliers(dict(versions)):
        out[name].add("version")
    for name in _most_common_outliers(dict(hashes)):
        out[name].add("config")
    return {name: frozenset(v) for name, v in out.items()}


def overview(nodes: Sequence[NodeState]) -> list[Overview]:
    """The overview's rows, in the fleet's order."""
    marks = node_divergence(nodes)
    rows = []
    for n in nodes:
        snap = n.snapshot
        info = snap.info if snap is not None else None
        rows.append(Overview(
            n.name, n.label, n.state, n.error,
            info.version if info else None, info.uptime_sec if info else None,
            n.config_hash, n.reloads, info.curr_conns if info else None,
            req_rate(snap) if snap is not None else None,
            n.problems(),
            marks.get(n.name, frozenset())))
    return rows


def counts(nodes: Sequence[NodeState]) -> dict[str, int]:
    """How many nodes are live, stale (stale, paused, connecting) and unreachable
    (disconnected or never reached)."""
    out = {"live": 0, "stale": 0, "unreachable": 0}
    for n in nodes:
        if n.state == "live":
            out["live"] += 1
        elif n.state in ("disconnected", "unreachable"):
            out["unreachable"] += 1
        else:
            out["stale"] += 1
    return out


# --------------------------------------------------------------------------- merged rows

def admin_state(status: Status) -> str:
    """``MAINT``, ``DRAIN`` or ``READY``: what was set on the server (not its health)."""
    if status.kind == "MAINT":
        return "MAINT"
    if status.kind == "DRAIN":
        return "DRAIN"
    return "READY"


@dataclass(frozen=True)
class Cell:
    """One backend or server on one node. ``present`` False: the node does not have it;
    ``known`` False: the node has not been read (no snapshot)."""

    known: bool
    present: bool
    status: Status | None = None
    admin: str | None = None  # servers: READY / DRAIN / MAINT
    weight: int | None = None

    @property
    def missing(self) -> bool:
        return self.known and not self.present


UNKNOWN = Cell(known=False, present=False)
MISSING = Cell(known=True, present=False)


@dataclass(frozen=True)
class MergedRow:
    """A backend (``name`` is ``BACKEND``) or one of its servers, with a cell per node
    (in the fleet's order) and what the nodes disagree on: ``missing``, ``state``,
    ``weight``."""

    proxy: str
    name: str
    type: str  # "backend" or "server"
    cells: tuple[Cell, ...]
    diverges: frozenset[str] = field(default=frozenset())

    @property
    def key(self) -> tuple[str, str]:
        return (self.proxy, self.name)

    def why(self, nodes: Sequence[str]) -> list[str]:
        """The divergences in words, naming the nodes: ``app1 missing on lb2``…"""
        out = []
        what = f"{self.proxy}/{self.name}" if self.type == "server" else self.proxy
        if "missing" in self.diverges:
            where = [n for n, c in zip(nodes, self.cells, strict=True) if c.missing]
            out.append(f"{what} missing on {', '.join(where)}")
        for kind, attr in (("state", "admin"), ("weight", "weight")):
            if kind in self.diverges:
                values = ", ".join(f"{n} {getattr(c, attr)}"
                                   for n, c in zip(nodes, self.cells, strict=True)
                                   if c.present)
                out.append(f"{what} {kind} differs: {values}")
        return out


def _cell(row: Row | None, known: bool) -> Cell:
    if not known:
        return UNKNOWN
    if row is None:
        return MISSING
    weight = row.user_weight if row.user_weight is not None else row.weight
    admin = admin_state(row.status) if row.type == "server" else None
    return Cell(True, True, row.status, admin, weight)


def _diverges(cells: Sequence[Cell], server: bool) -> frozenset[str]:
    known = [c for c in cells if c.known]
    present = [c for c in known if c.present]
    out = set()
    if present and len(present) < len(known):
        out.add("missing")
    if server and len({c.admin for c in present}) > 1:
        out.add("state")
    if server and len({c.weight for c in present}) > 1:
        out.add("weight")
    return frozenset(out)


def merge(snapshots: Sequence[Snapshot | None]) -> list[MergedRow]:
    """Every backend, then its servers, once, with a cell per snapshot (None: a node
    not read). Backends in the order they are first seen across the nodes (the first
    node's order, then what only later nodes have); servers likewise."""
    return Merger().merge(snapshots)


Key = tuple[str, str]


@dataclass
class _NodeCells:
    """What :class:`Merger` knows of one node: the snapshot its cells come from, a cell
    per backend and server (with the row content it was worked out from), its backends
    and their servers in order, and a count that moves when any of that changed."""

    snapshot: Snapshot | None = None
    cells: dict[Key, Cell] = field(default_factory=dict)
    contents: dict[Key, object] = field(default_factory=dict)
    order: dict[str, dict[str, None]] = field(default_factory=dict)
    version: int = 0

    def update(self, snap: Snapshot) -> None:
        """The cells of *snap*: a row whose content is the object the previous cell was
        worked out from keeps that cell, an equal cell is the previous object."""
        before, contents_before = self.cells, self.contents
        cells: dict[Key, Cell] = {}
        contents: dict[Key, object] = {}
        order: dict[str, dict[str, None]] = {}
        changed = False
        for row in snap.rows:
            if row.type == "backend":
                order.setdefault(row.proxy, {})
            elif row.type == "server":
                order.setdefault(row.proxy, {})[row.name] = None
            else:
                continue
            key = (row.proxy, row.name)
            content = row.content
            old = before.get(key)
            if old is not None and content is not None and contents_before.get(key) is content:
                cell = old
            else:
                cell = _cell(row, True)
                if old == cell:
                    cell = old
                else:
                    changed = True
            cells[key] = cell
            contents[key] = content
        if changed or len(cells) != len(before) or order != self.order:
            self.version += 1
        self.snapshot, self.cells, self.contents, self.order = snap, cells, contents, order


class Merger:
    """:func:`merge` for a screen that merges the same nodes again and again: each
    node's cells are worked out once per snapshot, and only for the rows whose content
    changed; equal cells and rows are the objects of the previous merge (so that
    comparing with what is drawn is cheap), and when no node's cells changed the
    previous rows are the answer."""

    def __init__(self) -> None:
        self._nodes: list[_NodeCells] = []
        self._rows: dict[Key, MergedRow] = {}
        self._out: list[MergedRow] = []
        self._seen: tuple[int | None, ...] = ()  # each node's version merged (None: unread)

    def merge(self, snapshots: Sequence[Snapshot | None]) -> list[MergedRow]:
        if len(self._nodes) != len(snapshots):
            self._nodes = [_NodeCells() for _ in snapshots]
            self._seen = ()
        for node, snap in zip(self._nodes, snapshots, strict=True):
            if snap is not None and snap is not node.snapshot:
                node.update(snap)
        seen = tuple(None if snap is None else node.version
                     for node, snap in zip(self._nodes, snapshots, strict=True))
        if seen == self._seen:
            return list(self._out)
        per_node: list[dict[Key, Cell] | None] = []
        order: dict[str, dict[str, None]] = {}
        for node, snap in zip(self._nodes, snapshots, strict=True):
            if snap is None:
                per_node.append(None)
                continue
            per_node.append(node.cells)
            for backend, servers in node.order.items():
                order.setdefault(backend, {}).update(servers)
        out: list[MergedRow] = []
        rows: dict[Key, MergedRow] = {}
        previous = self._rows
        for backend, servers in order.items():
            for name, kind in [("BACKEND", "backend"), *((s, "server") for s in servers)]:
                key = (backend, name)
                cells = tuple(UNKNOWN if c is None else c.get(key, MISSING) for c in per_node)
                old = previous.get(key)
                if old is not None and old.cells == cells:
                    row = old
                else:
                    row = MergedRow(backend, name, kind, cells,
                                    _diverges(cells, kind == "server"))
                rows[key] = row
                out.append(row)
        self._rows, self._out, self._seen = rows, out, seen
        return list(out)


def divergent(rows: Sequence[MergedRow]) -> list[MergedRow]:
    """The rows the nodes disagree on."""
    return [r for r in rows if r.diverges]
