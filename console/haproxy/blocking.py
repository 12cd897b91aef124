"""Blocking clients: the deny rules of the configuration, and the entries they read.

A **block rule** is a deny-like rule of a ``frontend``, ``listen`` or ``defaults``
section (``http-request deny|tarpit|silent-drop|reject``, ``tcp-request
connection|session|content reject|silent-drop``) whose ``if`` condition has, as a
whole ``||`` branch, an ACL that reads its patterns from a file and matches the
client address:

- named: ``acl blocked src -f /etc/haproxy/blocked.acl`` + ``http-request deny if blocked``
- anonymous: ``http-request deny if { src -f /etc/haproxy/blocked.acl }``
- a map: ``http-request deny if { src,map_ip(/etc/haproxy/blocked.map) -m found }``

``req.hdr_ip(NAME)`` / ``hdr_ip(NAME)`` work as the address too (behind a proxy that
sets the header). A rule whose ACL is negated, or ANDed with another condition, or
under ``unless``, cannot block a client alone: :func:`find_rules` reports it as
*skipped* with the reason. Lines HAProxy does not read (a false ``.if``) are left out.

Blocking ``ADDR`` adds it to the pattern file's runtime ACL (``add acl FILE ADDR``) or
map (``add map FILE ADDR 1``), named by the file as ``show acl`` / ``show map`` list
it; unblocking deletes it (``del acl|map FILE ADDR``, the entry's text as HAProxy
holds it: ``del`` compares text, so ``1.2.3.4/32`` is not ``1.2.3.4``). Both are
plans (:mod:`console.haproxy.plans`) sent, confirmed and journaled like every change.

:func:`write_pattern_file` makes it permanent: the file gets the entry (or loses it)
through a temp file in its directory, fsync and rename (owner and mode kept), the
previous and new content kept in the history store (``haconsole config history``
of that file), and a journal entry. A symlinked file, one owned by another user, or
one in a directory others may write, is refused.

:func:`add_rule_edit` is the staged configuration edit for a frontend without a
rule; :func:`create_pattern_file` creates its empty pattern file first, because
``haproxy -c`` refuses a missing ``-f`` file (2.6 to 3.4 alike: "failed to open
pattern file").
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.errors import HAProxyError, NoSuchObject, ValidationError
from console.haproxy.plans import Plan
from console.haproxy.validate import check_text

ACL_VERBS = frozenset({"deny", "tarpit", "silent-drop", "reject"})
TCP_VERBS = frozenset({"reject", "silent-drop"})
TCP_PHASES = frozenset({"connection", "session", "content"})
MAP_VALUE = "1"  # what a blocked address maps to (read by -m found, -m int gt 0, -m bool)
DEFAULT_FILE = "haconsole-blocked.acl"
MAX_PATTERN_FILE = 64 << 20
MIN_PREFIX = {4: 8, 6: 16}  # shorter networks are refused: they block a large share of the net

_HDR_IP = re.compile(r"(?:req\.)?hdr_ip\([A-Za-z0-9_.-]{1,64}(?:,-?[0-9]{1,3})?\)")
_MAP_IP = re.compile(r"^(.+?),map_ip\(([^,()]+)(?:,[^()]*)?\)$")
_BAD_PATH = re.compile(r"[\s\x00-\x1f\x7f;\\'\"#{}]")


# --------------------------------------------------------------------------- addresses

def check_client(text: str) -> str:
    """An IPv4/IPv6 address or network (CIDR), in its canonical text; else refused.

    ``1.2.3.4/32`` reads as ``1.2.3.4``; host bits in a network are refused (say the
    network); networks wider than /8 (IPv4) or /16 (IPv6) are refused.
    """
    if not isinstance(text, str) or not text:
        raise ValidationError("empty client address", hint="give an IP address or a network "
                              "such as 192.0.2.7 or 192.0.2.0/24")
    check_text(text, "client address")
    if len(text) > 64 or re.search(r"[\s;\\]", text):
        raise ValidationError(f"invalid client address {text[:60]!r}",
                              hint="an IP address or network: no blanks, ';' or '\\'")
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationError(f"{text[:60]!r} is not an IP address or network",
                                  hint="e.g. 192.0.2.7, 2001:db8::7 or 192.0.2.0/24") from None
        raise ValidationError(f"{text} has host bits set", hint=f"the network is {loose}; "
                              "give that, or the single address") from None
    if net.prefixlen < MIN_PREFIX[net.version]:
        raise ValidationError(f"{text} is too wide a network to block",
                              hint=f"give a /{MIN_PREFIX[net.version]} or narrower; a wider "
                              "block belongs in the configuration, reviewed")
    if net.num_addresses == 1:
        return str(net.network_address)
    return net.with_prefixlen


def client_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An entry of a pattern file (or a logged client) as a network; None if it is not one.
    An IPv4-mapped IPv6 address reads as the IPv4 address."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen == 128:
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.ip_network(mapped)
    return net


def canonical(text: str) -> str | None:
    net = client_network(text)
    if net is None:
        return None
    return str(net.network_address) if net.num_addresses == 1 else net.with_prefixlen


def covering(entries: Iterable[str], addr: str) -> tuple[list[str], list[str]]:
    """(entries that are *addr* itself, as written; wider entries that contain it)."""
    want = client_network(addr)
    same: list[str] = []
    wider: list[str] = []
    if want is None:
        return same, wider
    for e in entries:
        net = client_network(e)
        if net is None or net.version != want.version:
            continue
        if net == want:
            same.append(e)
        elif want.subnet_of(net):  # type: ignore[arg-type]
            wider.append(e)
    return same, wider


# --------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class BlockRule:
    """A deny-like rule that blocks the clients listed in a pattern file."""

    file: str  # the configuration file holding the rule
    line: int  # 1-based
    section: str  # e.g. "frontend fe_main"
    action: str  # e.g. "http-request deny"
    fetch: str  # "src" or "req.hdr_ip(x-forwarded-for)"
    kind: str  # "acl" or "map"
    ref: str  # the pattern file as the configuration writes it (HAProxy's runtime name)
    path: str  # that file on disk
    acl: str | None  # the named ACL, None for an anonymous one
    frontends: tuple[str, ...]  # the frontends and listens it protects
    text: str  # the rule's line

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "section": self.section,
                "action": self.action, "fetch": self.fetch, "kind": self.kind,
                "pattern_file": self.ref, "path": self.path, "acl": self.acl,
                "frontends": list(self.frontends), "rule": self.text}


@dataclass
class Rules:
    rules: list[BlockRule] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # look like block rules, cannot block
    proxies: dict[str, str] = field(default_factory=dict)  # frontend/listen name -> mode

    def unprotected(self) -> list[str]:
        covered = {fe for r in self.rules for fe in r.frontends}
        return [p for p in self.proxies if p not in covered]

    def for_frontend(self, name: str | None) -> list[BlockRule]:
        if name is None:
            return list(self.rules)
        return [r for r in self.rules if name in r.frontends]


def _action(values: list[str]) -> tuple[str, int] | None:
    """(``http-request deny``, index after the action words) for a deny-like rule."""
    if len(values) >= 2 and values[0] == "http-request" and values[1] in ACL_VERBS:
        return f"http-request {values[1]}", 2
    if (len(values) >= 3 and values[0] == "tcp-request" and values[1] in TCP_PHASES
            and values[2] in TCP_VERBS):
        return f"tcp-request {values[1]} {values[2]}", 3
    return None


def _terms(words: list[str]) -> list[list[tuple[bool, Any]]]:
    """A condition as ``||`` branches of atoms ``(negated, name | ["{", words...])``."""
    terms: list[list[tuple[bool, Any]]] = [[]]
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("||", "or"):
            terms.append([])
            i += 1
            continue
        neg = False
        if w == "!":
            neg, i = True, i + 1
            if i >= len(words):
                break
            w = words[i]
        elif w.startswith("!") and w != "!":
            neg, w = True, w[1:]
        if w == "{":
            end = words.index("}", i) if "}" in words[i:] else len(words)
            terms[-1].append((neg, list(words[i + 1:end])))
            i = end + 1
            continue
        terms[-1].append((neg, w))
        i += 1
    return terms


def _acl_source(words: list[str]) -> tuple[str, str, list[str]] | None:
    """(fetch, kind, pattern files) of an ACL's words (criterion, flags, patterns)."""
    if not words:
        return None
    crit = words[0]
    m = _MAP_IP.match(crit)
    if m:
        fetch = m.group(1)
        if fetch == "src" or _HDR_IP.fullmatch(fetch):
            return fetch, "map", [m.group(2)]
        return None
    if crit != "src" and not _HDR_IP.fullmatch(crit):
        return None
    files: list[str] = []
    i = 1
    while i < len(words) and words[i].startswith("-"):
        flag = words[i]
        if flag == "--":
            break
        if flag in ("-f", "-m", "-u", "-M") and i + 1 < len(words):
            if flag == "-f":  # (with -M the file is a map: its keys are the patterns)
                files.append(words[i + 1])
            i += 2
            continue
        i += 1
    return (crit, "acl", files) if files else None


def _resolve(ref: str, config: str) -> str:
    if os.path.isabs(ref):
        return ref
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(config)), ref))


def _defaults_users(files: Sequence[Any]) -> dict[tuple[int, int], list[str]]:
    """(file index, header line) of each defaults section → the proxies using it."""
    users: dict[tuple[int, int], list[str]] = {}
    named: dict[str, tuple[int, int]] = {}
    last: tuple[int, int] | None = None
    for k, cfg in enumerate(files):
        for s in cfg.sections:
            if s.type == "defaults":
                last = (k, s.start)
                users.setdefault(last, [])
                if s.name:
                    named[s.name] = last
            elif s.type in ("frontend", "listen") and s.name:
                src = named.get(s.from_) if s.from_ else last
                if src is not None:
                    users[src].append(s.name)
    return users


def _mode(files: Sequence[Any]) -> dict[str, str]:
    """frontend/listen name → its mode (own ``mode``, else its defaults', else tcp)."""
    modes: dict[str, str] = {}
    named: dict[str, str] = {}
    last = "tcp"
    for cfg in files:
        for s in cfg.sections:
            own = None
            for _, line in cfg.section_lines(s):
                if line.values[:1] == ["mode"] and len(line.values) > 1:
                    own = line.values[1]
            if s.type == "defaults":
                inherited = named.get(s.from_, "tcp") if s.from_ else "tcp"
                last = own or inherited
                if s.name:
                    named[s.name] = last
            elif s.type in ("frontend", "listen") and s.name:
                base = named.get(s.from_, last) if s.from_ else last
                modes[s.name] = own or base
    return modes


def parse_files(named: Sequence[tuple[str, bytes]]) -> list[Any]:
    """The configuration files as :class:`ConfigFile` objects linked as a set."""
    from console.haproxy.config.model import ConfigFile

    files = [ConfigFile.parse(data, name=path) for path, data in named]
    for k, cfg in enumerate(files):
        cfg.before = files[:k]
        cfg.after = files[k + 1:]
    return files


def find_rules(files: Sequence[Any]) -> Rules:
    """The block rules of a parsed configuration set (see the module docstring)."""
    found = Rules(proxies=_mode(files))
    users = _defaults_users(files)
    for k, cfg in enumerate(files):
        for s in cfg.sections:
            if s.type not in ("frontend", "listen", "defaults"):
                continue
            if s.type == "defaults":
                protects = tuple(users.get((k, s.start), []))
            else:
                protects = (s.name,) if s.name else ()
            acls: dict[str, list[list[str]]] = {}
            lines = [(i, line) for i, line in cfg.section_lines(s)
                     if line.values and cfg.line_state(i) is not False]
            for _, line in lines:
                v = line.values
                if v[0] == "acl" and len(v) >= 3:
                    acls.setdefault(v[1], []).append(v[2:])
            for i, line in lines:
                act = _action(line.values)
                if act is None:
                    continue
                action, start = act
                rest = line.values[start:]
                where = f"{cfg.name}:{i + 1}"
                cond_at = next((j for j, w in enumerate(rest) if w in ("if", "unless")), None)
                if cond_at is None:
                    continue
                cond = rest[cond_at + 1:]
                sources: list[tuple[str | None, list[tuple[str, str, list[str]]]]] = []
                for term in _terms(cond):
                    for neg, atom in term:
                        defs = [atom] if isinstance(atom, list) else acls.get(atom, [])
                        usable = [d for d in (_acl_source(x) for x in defs) if d]
                        if not usable:
                            continue
                        name = None if isinstance(atom, list) else atom
                        label = f"{{ {' '.join(atom)} }}" if name is None else name
                        if rest[cond_at] == "unless":
                            found.skipped.append(f"{where}: '{action} unless {label}' lets "
                                                 "the listed clients through: not a block rule")
                        elif neg:
                            found.skipped.append(f"{where}: {label} is negated: adding to it "
                                                 "would let a client through")
                        elif len(term) > 1:
                            found.skipped.append(f"{where}: {label} is ANDed with another "
                                                 "condition: a client listed is blocked only "
                                                 "when that holds too")
                        else:
                            sources.append((name, usable))
                for name, usable in sources:
                    for fetch, kind, refs in usable:
                        for ref in refs:
                            found.rules.append(BlockRule(
                                cfg.name, i + 1, s.label, action, fetch, kind, ref,
                                _resolve(ref, cfg.name), name, protects,
                                line.text.strip()))
    return found


# --------------------------------------------------------------------------- runtime

@dataclass(frozen=True)
class PatternRef:
    """One pattern file as HAProxy runs it: ``acl`` or ``map``, its id, its rules."""

    kind: str
    ref: str
    path: str
    id: int | None
    rules: tuple[BlockRule, ...]

    @property
    def frontends(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.rules:
            for fe in r.frontends:
                seen.setdefault(fe)
        return tuple(seen)

    @property
    def label(self) -> str:
        return f"{self.kind} #{self.id} ({self.ref})" if self.id is not None else \
            f"{self.kind} {self.ref}"


def refs_for(rules: Rules, frontend: str | None) -> list[PatternRef]:
    """The pattern files of the rules protecting *frontend* (every rule without one),
    each with every rule that reads it: a file read by two frontends blocks on both."""
    files = {(r.kind, r.ref) for r in rules.for_frontend(frontend)}
    return group_rules([r for r in rules.rules if (r.kind, r.ref) in files])


def group_rules(rules: Sequence[BlockRule]) -> list[PatternRef]:
    groups: dict[tuple[str, str], list[BlockRule]] = {}
    for r in rules:
        groups.setdefault((r.kind, r.ref), []).append(r)
    return [PatternRef(kind, ref, rs[0].path, None, tuple(rs))
            for (kind, ref), rs in groups.items()]


async def runtime_refs(client: Any, refs: Sequence[PatternRef]) -> list[PatternRef]:
    """*refs* with the ids the running HAProxy gives their files; a file it does not
    know (the configuration not reloaded since the rule was added) is refused."""
    from console.haproxy.tables import list_maps

    lists: dict[str, dict[str, int]] = {}
    out: list[PatternRef] = []
    for p in refs:
        if p.kind not in lists:
            lists[p.kind] = {m.name: m.id for m in await list_maps(client, p.kind) if m.name}
        known = lists[p.kind]
        if p.ref not in known:
            raise NoSuchObject(f"the running HAProxy has no {p.kind} file {p.ref} (the rule at "
                               f"{p.rules[0].where})", hint="the configuration was changed "
                               "but not reloaded: apply it (haconsole config apply) first")
        out.append(PatternRef(p.kind, p.ref, p.path, known[p.ref], p.rules))
    return out


async def entries_of(client: Any, p: PatternRef) -> list[tuple[str, str]]:
    """(ref, key) of each entry of a pattern file at runtime."""
    from console.haproxy.tables import acl_entries, map_entries

    if p.kind == "map":
        return [(e[0], e[1]) for e in await map_entries(client, p.ref)]
    return await acl_entries(client, p.ref)


def _merge(plans: Sequence[Plan], kind: str, summary: str, extra: Sequence[str],
           note: str) -> Plan:
    merged = Plan(kind, summary, [], [], False, None, plans[0].required_level, {}, [], note)
    for p in plans:
        merged.commands += p.commands
        merged.impact += [line for line in p.impact if not line.startswith("temporary:")]
        merged.before.update(p.before)
        merged.undo_commands += p.undo_commands
        merged.command_targets += p.command_targets
        merged.scopes.update(p.scopes)
        merged.no_undo += p.no_undo
        merged.undo_targets += p.undo_targets
    merged.impact += list(extra)
    return merged


RUNTIME_NOTE = ("runtime only: a reload reads the pattern file again; --permanent writes "
                "the file too")


@dataclass
class BlockPlan:
    """What blocking (or unblocking) an address sends, and which files it concerns."""

    addr: str
    plan: Plan | None  # None: nothing to send (already so at runtime)
    refs: list[PatternRef]  # the files concerned (to make permanent)
    notes: list[str]


def plan_block(addr: str, refs: Sequence[tuple[PatternRef, list[tuple[str, str]]]],
               unprotected: Sequence[str] = ()) -> BlockPlan:
    """``add acl|map`` of *addr* in every file of *refs* (with their runtime entries)."""
    from console.haproxy.tables import plan_acl_change, plan_map_change

    addr = check_client(addr)
    plans: list[Plan] = []
    notes: list[str] = []
    for p, entries in refs:
        same, wider = covering([e[1] for e in entries], addr)
        fes = ", ".join(p.frontends) or "no frontend"
        if same:
            notes.append(f"{addr} is already blocked at runtime in {p.label} ({fes})")
            continue
        if wider:
            notes.append(f"{addr} is already blocked at runtime by {wider[0]} in {p.label} "
                         f"({fes}); it is added on its own anyway")
        if p.kind == "map":
            plans.append(plan_map_change("map_add", p.ref, addr, MAP_VALUE,
                                         [(r, k, "") for r, k in entries]))
        else:
            plans.append(plan_acl_change("acl_add", p.ref, addr, entries))
    if unprotected:
        notes.append("not blocked on " + ", ".join(unprotected) + ": no block rule there "
                     "(haconsole block --add-rule --frontend FE stages one)")
    if not plans:
        return BlockPlan(addr, None, [p for p, _ in refs], notes)
    names = dict.fromkeys(fe for p, _ in refs for r in p.rules for fe in r.frontends)
    rules = dict.fromkeys(r.where for p, _ in refs for r in p.rules)
    impact = [f"clients from {addr} are refused on {', '.join(names) or 'no frontend'} "
              f"(rules at {', '.join(rules)})"]
    impact += [f"{p.label}: {', '.join(p.frontends) or 'no frontend'}" for p, _ in refs]
    kind = "acl_add" if any(p.kind == "acl" for p, _ in refs) else "map_add"
    plan = _merge(plans, kind, f"block {addr}", impact, RUNTIME_NOTE)
    return BlockPlan(addr, plan, [p for p, _ in refs], notes)


def plan_unblock(addr: str, refs: Sequence[tuple[PatternRef, list[tuple[str, str]]]]
                 ) -> BlockPlan:
    """``del acl|map`` of *addr* (each entry's text as HAProxy holds it)."""
    from console.haproxy.tables import plan_acl_change, plan_map_change

    addr = check_client(addr)
    plans: list[Plan] = []
    notes: list[str] = []
    for p, entries in refs:
        same, wider = covering([e[1] for e in entries], addr)
        for w in wider:
            notes.append(f"{addr} stays blocked by {w} in {p.label}: unblock {w} to lift it")
        for text in dict.fromkeys(same):
            if p.kind == "map":
                plans.append(plan_map_change("map_del", p.ref, text, None,
                                             [(r, k, MAP_VALUE) for r, k in entries]))
            else:
                plans.append(plan_acl_change("acl_del", p.ref, text, entries))
    if not plans:
        return BlockPlan(addr, None, [p for p, _ in refs], notes)
    kind = "acl_del" if any(p.kind == "acl" for p, _ in refs) else "map_del"
    impact = [f"clients from {addr} are no longer refused by these rules"]
    return BlockPlan(addr, _merge(plans, kind, f"unblock {addr}", impact, RUNTIME_NOTE),
                     [p for p, _ in refs], notes)


# --------------------------------------------------------------------------- files

def check_pattern_path(path: str) -> str:
    """A pattern file path for a configuration line and the runtime API: absolute, no
    blanks, quotes, ``#``, braces, ``;``, ``\\`` or control characters."""
    check_text(path, "pattern file")
    if not path or _BAD_PATH.search(path) or len(path) > 1024:
        raise ValidationError(f"invalid pattern file path {path[:60]!r}",
                              hint="a path without blanks, quotes, '#', braces, ';' or '\\'")
    if not os.path.isabs(path):
        raise ValidationError(f"the pattern file {path} is not an absolute path",
                              hint="HAProxy reads a relative path from its own directory; "
                              "give the full path")
    return os.path.normpath(path)


def _refuse_unsafe(path: str, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise ValidationError(f"refused: {path} is a symbolic link",
                              where=path, hint="point the configuration at the real file "
                              f"({os.path.realpath(path)}), or change it by hand")
    if not stat.S_ISREG(st.st_mode):
        raise ValidationError(f"refused: {path} is not a regular file", where=path)
    euid = os.geteuid()
    if euid != 0 and st.st_uid != euid:
        raise ValidationError(f"refused: {path} belongs to user id {st.st_uid}, not to you",
                              where=path, hint="run as its owner (or root)")
    if st.st_mode & stat.S_IWOTH:
        raise ValidationError(f"refused: {path} is writable by every user", where=path,
                              hint=f"chmod o-w {path}")
    directory = os.path.dirname(path) or "."
    dst = os.stat(directory)
    if dst.st_mode & stat.S_IWOTH and not dst.st_mode & stat.S_ISVTX:
        raise ValidationError(f"refused: the directory of {path} is writable by every user",
                              where=directory, hint=f"chmod o-w {directory}")


def read_pattern_file(path: str) -> bytes:
    """The file's bytes, refused when unsafe to rewrite (see :func:`_refuse_unsafe`)."""
    try:
        _refuse_unsafe(path, os.lstat(path))
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NoSuchObject(f"the pattern file {path} does not exist", where=path,
                           hint="HAProxy could not have started with it: check the path") \
            from None
    except OSError as exc:
        raise HAProxyError(f"cannot read {path}: {exc.strerror}", where=path) from None
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_PATTERN_FILE + 1)
    if len(data) > MAX_PATTERN_FILE:
        raise ValidationError(f"{path} is larger than {MAX_PATTERN_FILE >> 20} MiB",
                              where=path, hint="edit it by hand")
    return data


def _file_keys(data: bytes) -> list[tuple[int, str]]:
    """(line index, first word) of the pattern lines (comments and blanks skipped)."""
    out: list[tuple[int, str]] = []
    for i, raw in enumerate(data.split(b"\n")):
        text = raw.decode("utf-8", "surrogateescape").strip()
        if not text or text.startswith("#"):
            continue
        out.append((i, text.split()[0]))
    return out


def edit_pattern_file(data: bytes, addr: str, kind: str, *, add: bool) -> tuple[bytes, str]:
    """The file with *addr* added (``ADDR`` or ``ADDR 1``) or its lines removed, and
    what was done; unchanged data when there was nothing to do."""
    keys = _file_keys(data)
    same, wider = covering([k for _, k in keys], addr)
    if add:
        if same:
            return data, "already in the file"
        line = (f"{addr} {MAP_VALUE}" if kind == "map" else addr).encode()
        sep = b"" if not data or data.endswith(b"\n") else b"\n"
        note = f"added (already covered by {wider[0]})" if wider else "added"
        return data + sep + line + b"\n", note
    if not same:
        return data, "not in the file" + (f" (it is covered by {wider[0]})" if wider else "")
    drop = {i for i, k in keys if k in same}
    lines = data.split(b"\n")
    kept = [raw for i, raw in enumerate(lines) if i not in drop]
    return b"\n".join(kept), f"removed ({len(drop)} line(s))"


@dataclass
class FileChange:
    path: str
    done: str  # "added", "already in the file", ...
    changed: bool
    version: int | None = None
    warning: str | None = None


def write_pattern_file(path: str, addr: str, kind: str, *, add: bool, target: Any,
                       message: str = "") -> FileChange:
    """Add (or remove) *addr* in the pattern file, atomically, with history and journal.

    Held under the file's lock (the one ``config apply`` takes for a file), so two
    operators writing it at once do not lose an entry."""
    from console.haproxy import shared_state
    from console.haproxy.locks import flock

    addr = check_client(addr)
    read_pattern_file(path)  # refused (symlink, owner...) before any state is created
    place = shared_state.place(path)
    with flock(place.lock_file, mode=place.file_mode, shared=place.shared):
        return _write_locked(path, addr, kind, add, target, message)


def _write_locked(path: str, addr: str, kind: str, add: bool, target: Any,
                  message: str) -> FileChange:
    from console.haproxy import history_store as hist
    from console.haproxy.atomic import sha256, write_atomic
    from console.haproxy.journal import check_writable, record
    from console.haproxy.staging import unified_diff

    live = read_pattern_file(path)
    new, done = edit_pattern_file(live, addr, kind, add=add)
    if new == live:
        return FileChange(path, done, False)
    check_writable()
    hist.ensure_saved(path, live)
    verb = "block" if add else "unblock"
    version = hist.save_version(path, new, message=message or f"{verb} {addr}",
                                status="writing",
                                diff=unified_diff(live, new, f"{path} (before)", path))
    again = read_pattern_file(path)
    if again != live:
        hist.set_status(path, version.number, "failed")
        raise ValidationError(f"{path} changed while it was being edited", where=path,
                              hint="run the command again")
    try:
        warning = write_atomic(path, new)
    except HAProxyError:
        hist.set_status(path, version.number, "failed")
        raise
    hist.set_status(path, version.number, "written")
    record(target, f"write {path}: {'add' if add else 'remove'} {addr}", answer=done,
           via="file", before={"file": path, "sha256": sha256(live)},
           after={"file": path, "sha256": sha256(new)},
           extra={"file": path, "version": version.number})
    return FileChange(path, done, True, version.number, warning)


def create_pattern_file(path: str, like: str | None = None) -> bool:
    """Create *path* empty (``O_EXCL``, never through a symlink) unless a regular file
    is there already; owner group and mode (without x, with others' read) taken from
    *like* (the configuration file) when possible. True when created."""
    path = check_pattern_path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise ValidationError(f"refused: {path} exists and is not a regular file"
                                  + (" (a symbolic link)" if stat.S_ISLNK(st.st_mode) else ""),
                                  where=path, hint="choose another --file")
        return False
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise NoSuchObject(f"the directory {directory} does not exist", where=path,
                           hint="create it, or choose another --file")
    mode = 0o644
    ref: os.stat_result | None = None
    if like:
        try:
            ref = os.stat(like)
            mode = (stat.S_IMODE(ref.st_mode) & 0o666) | 0o400
        except OSError:
            ref = None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except FileExistsError:
        raise ValidationError(f"{path} appeared while it was being created", where=path,
                              hint="run the command again") from None
    except OSError as exc:
        raise HAProxyError(f"cannot create {path}: {exc.strerror}", where=path,
                           hint="check the directory's permissions") from None
    try:
        if ref is not None and os.geteuid() == 0:
            try:
                os.fchown(fd, ref.st_uid, ref.st_gid)
            except OSError as exc:
                if exc.errno != errno.EPERM:
                    raise
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


# --------------------------------------------------------------------------- add a rule

def rule_line(mode: str, path: str) -> str:
    if mode == "http":
        return f"http-request deny deny_status 403 if {{ src -f {path} }}"
    return f"tcp-request connection reject if {{ src -f {path} }}"


def add_rule_edit(files: Sequence[Any], frontend: str, path: str) -> tuple[int, bytes, str]:
    """(index of the file, its new text, the line) adding a block rule to *frontend*:
    before its first ``http-request`` (``tcp-request`` in mode tcp), ``use_backend``,
    ``default_backend`` or ``redirect`` line (rules run in order, and HAProxy warns of
    a rule written after a backend choice), else at the end of its body."""
    from console.haproxy.validate import check_name

    check_name(frontend, "frontend name")
    path = check_pattern_path(path)
    rules = find_rules(files)
    mode = rules.proxies.get(frontend)
    if mode is None:
        raise NoSuchObject(f"no frontend or listen section named {frontend}",
                           hint="its proxies: " + (", ".join(rules.proxies) or "none"))
    existing = [r for r in rules.for_frontend(frontend) if r.path == path]
    if existing:
        raise ValidationError(f"{frontend} already blocks the clients of {path}",
                              where=existing[0].where, hint="block one: haconsole block ADDR")
    line = rule_line(mode, path)
    first = "http-request" if mode == "http" else "tcp-request"
    for k, cfg in enumerate(files):
        for s in cfg.sections:
            if s.type not in ("frontend", "listen") or s.name != frontend:
                continue
            if s.conditional:
                raise ValidationError(f"{s.label} is inside an .if block",
                                      where=cfg.where(s.start), hint="add the rule by hand")
            before = {first, "use_backend", "default_backend", "redirect", "use-server"}
            at = next((i for i, ln in cfg.section_lines(s) if ln.values[:1]
                       and ln.values[0] in before), None)
            if at is None or cfg.depth(at) > 0:
                at = s.body_end
                if cfg.depth_after(at - 1) > 0:
                    raise ValidationError(f"{s.label} ends inside an .if block",
                                          where=cfg.where(at - 1), hint="add the rule by hand")
            eol = cfg.dominant_eol()
            copy = cfg.copy()
            copy.insert_line(at, cfg.body_indent(s) + line, eol)
            return k, copy.to_bytes(), line
    raise NoSuchObject(f"no frontend or listen section named {frontend}")


# --------------------------------------------------------------------------- top clients

TABLE_METRICS = {  # stick-table data type -> column
    "http_req_rate": "req_rate", "http_req_cnt": "req_cnt", "conn_rate": "conn_rate",
    "conn_cnt": "conn_cnt", "conn_cur": "conn_cur", "http_err_rate": "err_rate",
    "http_err_cnt": "err_cnt", "sess_rate": "sess_rate", "sess_cnt": "sess_cnt",
}
MAX_TABLE_ENTRIES = 100_000  # a larger table is not dumped (one read holds it all)


@dataclass
class ClientRow:
    """One client address: what the stick tables and the logs say of it."""

    addr: str
    table: dict[str, int] = field(default_factory=dict)  # column -> the highest value seen
    tables: list[str] = field(default_factory=list)
    requests: int = 0  # from the logs
    errors: int = 0
    blocked: list[str] | None = None  # the pattern files blocking it; None: unknown

    @property
    def error_pct(self) -> float:
        return round(100.0 * self.errors / self.requests, 1) if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"client": self.addr, "requests": self.requests, "errors": self.errors,
                "error_pct": self.error_pct, "tables": list(self.tables), **{
                    k: self.table.get(k) for k in TABLE_METRICS.values()},
                "blocked": self.blocked}


def add_table_entries(rows: dict[str, ClientRow], table: str, entries: Iterable[Any]) -> None:
    """Merge the entries of an ``ip``/``ipv6`` stick table (TableEntry) into *rows*."""
    for e in entries:
        addr = canonical(e.key)
        if addr is None:
            continue
        row = rows.setdefault(addr, ClientRow(addr))
        if table not in row.tables:
            row.tables.append(table)
        for name, value in e.data.items():
            column = TABLE_METRICS.get(name.split("(")[0])
            if column is None:
                continue
            try:
                n = int(value)
            except ValueError:
                continue
            row.table[column] = max(n, row.table.get(column, 0))


def add_log_groups(rows: dict[str, ClientRow], groups: Iterable[tuple[str, Any]]) -> None:
    """Merge ``Summary(by="client")`` groups (key, Group) into *rows*."""
    for key, g in groups:
        addr = canonical(key)
        if addr is None:
            continue
        row = rows.setdefault(addr, ClientRow(addr))
        row.requests += g.requests
        row.errors += g.errors


def mark_blocked(rows: Iterable[ClientRow],
                 files: Sequence[tuple[PatternRef, list[tuple[str, str]]]]) -> None:
    for row in rows:
        row.blocked = [p.ref for p, entries in files
                       if any(covering([e[1] for e in entries], row.addr))]


SORTS = ("requests", "errors", "rate")


def sorted_rows(rows: Iterable[ClientRow], by: str = "requests") -> list[ClientRow]:
    def key(r: ClientRow) -> tuple[int, ...]:
        t = r.table
        if by == "errors":
            return (-r.errors, -t.get("err_cnt", 0), -t.get("err_rate", 0), -r.requests)
        if by == "rate":
            return (-t.get("req_rate", 0), -t.get("conn_rate", 0), -r.requests)
        return (-r.requests, -t.get("req_cnt", 0), -t.get("conn_cnt", 0),
                -t.get("req_rate", 0))
    return sorted(rows, key=lambda r: (key(r), r.addr))


async def ring_clients(client: Any, parser: Any) -> tuple[list[tuple[str, Any]], str | None]:
    """``Summary(by="client")`` groups of what the instance's ring holds now, and a note
    when there is no ring (or several: the first is read)."""
    from console.haproxy.logs import Summary
    from console.haproxy.logs.ring import (
        LineSplitter,
        check_ring_name,
        dropped_announcement,
        list_sinks,
        user_rings,
    )

    rings = user_rings(await list_sinks(client))
    if not rings:
        return [], "no ring to read the logs from (haconsole config add-log-ring adds one)"
    name = check_ring_name(rings[0].name)
    text = await client.run(f"show events {name}", check=False)
    summary = Summary("client")
    for n, line in enumerate(LineSplitter().feed(
            text.encode("utf-8", "surrogateescape") + b"\n"), 1):
        if line and dropped_announcement(line) is None:
            summary.add(parser.parse(line, n))
    note = f"logs from ring {name} (the first of {len(rings)})" if len(rings) > 1 else None
    return list(summary.groups), note


async def prepare_block(client: Any, named: Sequence[tuple[str, bytes]], addr: str, *,
                        add: bool = True, frontend: str | None = None) -> BlockPlan:
    """The plan blocking (or unblocking) *addr* through the block rules of the
    configuration *named* (path, bytes), read against the running HAProxy."""
    addr = check_client(addr)
    rules = find_rules(parse_files(named))
    if not rules.for_frontend(frontend):
        raise ValidationError("no block rule in the configuration (a deny rule on src with "
                              "patterns from a file)", hint="stage one: haconsole block "
                              "--add-rule --frontend FE, then apply it")
    refs = await runtime_refs(client, refs_for(rules, frontend))
    pairs = [(p, await entries_of(client, p)) for p in refs]
    if add:
        return plan_block(addr, pairs, [] if frontend else rules.unprotected())
    return plan_unblock(addr, pairs)


async def blocked_files(client: Any, named: Sequence[tuple[str, bytes]]
                        ) -> list[tuple[PatternRef, list[tuple[str, str]]]]:
    """Every block rule's pattern file with its runtime entries (for :func:`mark_blocked`)."""
    rules = find_rules(parse_files(named))
    if not rules.rules:
        return []
    refs = await runtime_refs(client, group_rules(rules.rules))
    return [(p, await entries_of(client, p)) for p in refs]
