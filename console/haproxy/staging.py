"""The staging area: one pending change set per configuration file.

A change to the file is first *staged*: the list of edit operations, the live
file's hash they were computed on (the *base*), and the resulting candidate text.
The CLI and the TUI share it through ``<state dir>/staging/<key>.json`` (key: a
hash of the file's real path), rewritten atomically after every change, so a
crash loses nothing. It holds the edits and the staged text as a splice of the
base (a big file with one changed line is not stored twice); the base itself is
``<key>.<its hash>.base``, written once per base, read only when the live file is
no longer it (the live file, read anyway, is the base while nothing changed it).
Nothing touches the live file until the apply pipeline (:mod:`console.haproxy.apply`)
runs. The staged change is its author's (the private state directory); a marker in
the shared place (:mod:`console.haproxy.shared_state`) lets the other operators of
the file see who has a change staged, and since when. The apply lock is in the shared place.

Operations are the config model's (``server_set``, ``server_add``, ``server_del``,
``keyword_set``…, applied by :func:`console.haproxy.config.apply_ops`), plus
``replace``: the whole text, valid only on the exact text it was made from (a raw
edit in ``$EDITOR``, or a rollback to an older version). The candidate is always
recomputed from the base and the whole list, never patched in place.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.haproxy import shared_state
from console.haproxy.atomic import WriteError, read_bytes, sha256, write_private
from console.haproxy.errors import HAProxyError, ValidationError
from console.haproxy.lines import split_lf
from console.haproxy.locks import LockHeld as LockHeld  # (re-exported)
from console.haproxy.locks import apply_lock as apply_lock
from console.haproxy.locks import describe_holder as describe_holder
from console.haproxy.locks import flock as _flock
from console.haproxy.locks import who
from console.haproxy.sections import HEADER_RE, SECTION_SET
from console.haproxy.statefs import StateError, os_error, private_dir, read_file, state_dir

FORMAT = 2  # 1: the base and the staged text inline (base64), still read


class StagingError(HAProxyError):
    """The staged change cannot be computed, rebased or stored."""


class StaleError(StagingError):
    """The live file changed since the change was staged."""

    def __init__(self, what: str, where: str | None = None, hint: str | None = None,
                 *, live_diff: str = "") -> None:
        self.live_diff = live_diff
        super().__init__(what, where, hint)


# The hashes of the last texts hashed, each kept with its text (compared by identity):
# a command hashes the same big texts (the base, the staged text) several times.
_SUMS: list[tuple[bytes, str]] = []
_SUMS_KEPT = 6


def text_hash(data: bytes) -> str:
    """``sha256(data)``, computed once per text object."""
    for kept, digest in _SUMS:
        if kept is data:
            return digest
    digest = sha256(data)
    _SUMS.insert(0, (data, digest))
    del _SUMS[_SUMS_KEPT:]
    return digest


def has_hash(data: bytes, digest: str) -> bool:
    """``text_hash(data) == digest``; an equal text already hashed is compared instead
    (a command reads the same big file, the same staged text, more than once)."""
    for kept, known in _SUMS:
        if known == digest and (kept is data or kept == data):
            if kept is not data:
                _SUMS.insert(0, (data, digest))  # (this one is asked for next)
                del _SUMS[_SUMS_KEPT:]
            return True
    return text_hash(data) == digest


def file_key(config_path: str) -> str:
    return sha256(os.path.realpath(config_path).encode("utf-8", "surrogateescape"))[:16]


def staging_dir() -> Path:
    return private_dir(state_dir() / "staging", "staging directory", follow=False)


# --------------------------------------------------------------------------- operations

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_op_values(op: dict[str, Any], where: str = "") -> None:
    for key, value in op.items():
        if isinstance(value, dict):
            _check_op_values(value, f"{where}{key}.")
        elif isinstance(value, str) and _CONTROL.search(value):
            raise ValidationError(f"{where}{key} contains a control character (newline, tab…)",
                                  hint="a config value is one line of printable text")


def _replace_text(op: dict[str, Any]) -> bytes:
    text = op.get("text", op.get("data"))
    if not isinstance(text, str):
        raise StagingError("a 'replace' operation has no text")
    return text.encode("utf-8", "surrogateescape")


def _replace_base(op: dict[str, Any]) -> str | None:
    return op.get("base_sha256") or op.get("base_hash")


def replace_op(text: bytes, base: bytes, note: str | None = None) -> dict[str, Any]:
    """A ``replace`` operation: *text* in place of exactly *base*."""
    op: dict[str, Any] = {"op": "replace", "text": text.decode("utf-8", "surrogateescape"),
                          "base_sha256": text_hash(base)}
    if note:
        op["note"] = note
    return op


def _model_apply(data: bytes, ops: list[dict[str, Any]], name: str | None,
                 context: Any) -> bytes:
    try:
        from console.haproxy.config import apply_ops
    except ImportError:
        raise StagingError("structured edits are not available in this build",
                           hint="use `haconsole config edit` to change the file") from None
    try:
        return apply_ops(data, ops, name or "haproxy.cfg", context=context)
    except HAProxyError:
        raise
    except (ValueError, KeyError, LookupError, TypeError) as exc:
        raise ValidationError(f"the edit cannot be made: {exc}") from None


# The last staged texts computed: a command computes one twice (to tell whether an edit
# changes anything, then to stage it), a big file's edits are not applied again.
_COMPUTED: list[tuple[bytes, str, str | None, Any, bytes]] = []
_COMPUTED_KEPT = 2


def compute_candidate(base: bytes, ops: list[dict[str, Any]], *, name: str | None = None,
                      context: Any = None) -> bytes:
    """Apply *ops* in order on *base*. ``replace`` is handled here, the rest by the model.

    *name* (the file's path, for messages) and *context* (the other files of its set,
    a :class:`console.haproxy.config.fileset.SetContext`) go to the model.
    """
    try:
        key: str | None = json.dumps(ops, sort_keys=True)
    except (TypeError, ValueError):
        key = None
    for done in _COMPUTED if key is not None else ():
        if done[1] == key and done[2] == name and done[3] is context and done[0] == base:
            return done[4]
    out = _compute(base, ops, name, context)
    if key is not None:
        _COMPUTED.insert(0, (base, key, name, context, out))
        del _COMPUTED[_COMPUTED_KEPT:]
    return out


def _compute(base: bytes, ops: list[dict[str, Any]], name: str | None, context: Any) -> bytes:
    out = base
    run: list[dict[str, Any]] = []
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise ValidationError(f"not an edit operation: {op!r}")
        if op["op"] != "replace":
            _check_op_values(op)
            run.append(op)
            continue
        if run:
            out, run = _model_apply(out, run, name, context), []
        base_hash = _replace_base(op)
        if base_hash is not None and base_hash != text_hash(out):
            raise StagingError(
                "a raw edit (or rollback) was made on another version of the file and "
                "cannot be re-applied on this one",
                hint="discard the staged change (haconsole config discard) and edit again")
        out = _replace_text(op)
    if run:
        out = _model_apply(out, run, name, context)
    return out


def describe_op(op: dict[str, Any], data: bytes | None = None, context: Any = None) -> str:
    """One line for people; with *data* (the text it applies to) old values show too."""
    if op.get("op") == "replace":
        return str(op.get("note") or "edit of the whole file")
    try:
        from console.haproxy.config import describe_op as model_describe

        return str(model_describe(op, data, context=context))
    except Exception:  # noqa: BLE001 - a description must never fail
        pass
    target = "/".join(str(op[k]) for k in ("backend", "server") if op.get(k))
    extra = " ".join(f"{k}={v}" for k, v in (op.get("set") or {}).items())
    return " ".join(x for x in (str(op.get("op")), target, extra) if x)


# --------------------------------------------------------------------------- sections

SECTION_KEYWORDS = SECTION_SET


def config_words(line: str) -> list[str]:
    """A line's words, good enough to find keywords (comments cut, quotes kept)."""
    out: list[str] = []
    for word in re.findall(r"""(?:"[^"]*"|'[^']*'|\\.|[^\s#"'\\])+|#""", line):
        if word == "#":
            break
        out.append(word)
    return out


_HEADER_RE = HEADER_RE  # (the first word as config_words splits it)


def section_headers(text: str, until: int | None = None) -> list[tuple[int, str]]:
    """``(line number, label)`` of every section header, e.g. ``(12, "backend be_app")``
    (*until*: those up to that line number only).

    Only the headers' lines are split into words (found by one search of the text).
    """
    found: list[tuple[int, str]] = []
    marked = "\n" + text
    n, at = 0, 0
    for m in _HEADER_RE.finditer(marked):
        n += marked.count("\n", at, m.start() + 1)
        if until is not None and n > until:
            break
        at = m.start() + 1
        end = marked.find("\n", at)
        line = marked[at:end if end >= 0 else len(marked)]
        words = config_words(line[:-1] if line.endswith("\r") else line)
        label = words[0] if len(words) == 1 or words[1] == "from" else \
            f"{words[0]} {words[1]}"
        found.append((n, label))
    return found


def section_at(headers: list[tuple[int, str]], line: int) -> str:
    label = ""
    for n, name in headers:
        if n > line:
            break
        label = name
    return label


@dataclass(frozen=True)
class Hunk:
    header: str  # "@@ -12,7 +12,8 @@"
    lines: list[str]  # with their "+", "-", " " prefixes
    section: str  # "backend be_app", "" before the first section
    old_start: int
    new_start: int


_HUNK = re.compile(r"^@@ -([0-9]+)(?:,[0-9]+)? \+([0-9]+)(?:,[0-9]+)? @@")


def unified_diff(old: bytes, new: bytes, fromfile: str, tofile: str) -> str:
    a = split_lf(old.decode("utf-8", "replace"), keepends=True)
    b = split_lf(new.decode("utf-8", "replace"), keepends=True)
    out = []
    for line in _unified_lines(a, b, fromfile, tofile):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


# A big file with a few changed lines: difflib compares only the part from the first
# change to the last (with the 3 lines of context around it), not the whole file.
_TRIM_FROM = 2000  # lines (both texts): below, the whole texts
_TRIM_MIDDLE = 2000  # lines between the first and the last change, at most


def _unified_lines(a: list[str], b: list[str], fromfile: str, tofile: str) -> list[str]:
    """``difflib.unified_diff(a, b, fromfile, tofile)``, the lines equal at both ends of
    a big file left out of the comparison (the same hunks, numbered in the whole file)."""
    import difflib  # (only to show a change: staging one does not need it)

    whole = list(difflib.unified_diff(a, b, fromfile=fromfile, tofile=tofile)) \
        if len(a) + len(b) < _TRIM_FROM else None
    if whole is not None:
        return whole
    limit = min(len(a), len(b))
    head = _common_prefix(a, b, limit)  # (the lists' slices compared, not line by line)
    tail = _common_suffix(a, b, limit - head)
    if head == len(a) == len(b):
        return []
    if max(len(a), len(b)) - head - tail > _TRIM_MIDDLE:
        return list(difflib.unified_diff(a, b, fromfile=fromfile, tofile=tofile))
    # difflib does not anchor a match on a line more than 1% of the other file's lines
    # hold ("popular": blank lines, ``balance roundrobin``…): the same here, counted on
    # the whole file; the lines kept around the changes reach a line it anchors on
    counts = _LineCounts(b)
    lo = max(0, head - 3)
    keep = max(0, tail - 3)
    counts.count([*a[max(0, lo - 20):lo + 1], *b[len(b) - keep - 1:len(b) - keep + 20]])
    while lo > 0 and counts.popular(a[lo]):
        lo -= 1
    while keep > 0 and counts.popular(b[len(b) - keep - 1]):
        keep -= 1
    window = b[lo:len(b) - keep]
    counts.count(window)
    matcher = difflib.SequenceMatcher(None, a[lo:len(a) - keep], window, autojunk=False)
    b2j = matcher.b2j  # type: ignore[attr-defined]
    for line in [line for line in b2j if counts.popular(line)]:
        del b2j[line]
    groups = list(matcher.get_grouped_opcodes(3))
    if not _unambiguous(a, b, lo, groups, counts):
        return list(difflib.unified_diff(a, b, fromfile=fromfile, tofile=tofile))
    out = [f"--- {fromfile}\n", f"+++ {tofile}\n"]
    for group in groups:
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(lo + first[1], lo + last[2])} "
                   f"+{_range(lo + first[3], lo + last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in a[lo + i1:lo + i2]]
                continue
            if tag in ("replace", "delete"):
                out += ["-" + line for line in a[lo + i1:lo + i2]]
            if tag in ("replace", "insert"):
                out += ["+" + line for line in b[lo + j1:lo + j2]]
    return out


class _LineCounts:
    """How many times lines are in *b*: counted for the lines asked about only, a set
    of them in one pass (a big file's lines are not all counted for a few)."""

    def __init__(self, b: list[str]) -> None:
        self.b = b
        self.n: dict[str, int] = {}

    def count(self, lines: list[str] | set[str]) -> None:
        wanted = {line for line in lines if line not in self.n}
        if wanted:
            found = Counter(filter(wanted.__contains__, self.b))
            for line in wanted:
                self.n[line] = found.get(line, 0)

    def __getitem__(self, line: str) -> int:
        if line not in self.n:
            self.count([line])
        return self.n[line]

    def popular(self, line: str) -> bool:
        """True for a line difflib's matcher sets aside in *b* (``autojunk``)."""
        return len(self.b) >= 200 and self[line] > len(self.b) // 100 + 1


def _unambiguous(a: list[str], b: list[str], lo: int,
                 groups: list[list[tuple[str, int, int, int, int]]],
                 counted_b: _LineCounts) -> bool:
    """True when every removed line is once in *a* and nowhere in *b*, and every added
    line once in *b* and nowhere in *a*: then where a change is told cannot depend on
    the lines around it (otherwise, say, a blank line inserted among blank lines, the
    whole files are compared, as difflib does). *counted_b*: the lines of *b* counted."""
    removed = [x for group in groups for tag, i1, i2, _, _ in group if tag != "equal"
               for x in a[lo + i1:lo + i2]]
    added = [y for group in groups for tag, _, _, j1, j2 in group if tag != "equal"
             for y in b[lo + j1:lo + j2]]
    if len(removed) + len(added) > 200:
        return False
    gone, new = set(removed), set(added)
    if len(gone) != len(removed) or len(new) != len(added):
        return False
    count_a = Counter(filter((gone | new).__contains__, a))  # (only those lines counted)
    counted_b.count(gone | new)
    return all(count_a.get(x) == 1 and not counted_b[x] for x in gone) and \
        all(counted_b[y] == 1 and y not in count_a for y in new)


def _range(start: int, stop: int) -> str:
    """A hunk's range as unified diffs write it (difflib's rule)."""
    begin, length = start + 1, stop - start
    if length == 1:
        return f"{begin}"
    if not length:
        begin -= 1
    return f"{begin},{length}"


def hunks_of(diff: str, old: bytes, new: bytes) -> list[Hunk]:
    """Split a unified diff into hunks, each named by the section its first change is in
    (the sections' headers read up to the last line a hunk reaches, not further)."""
    split: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in split_lf(diff):
        if _HUNK.match(line):
            current = []
            split.append((line, current))
        elif current is not None:
            current.append(line)
    if not split:
        return []
    last = max(int(m[1]) + int(m[2]) for m in (_HUNK.match(h) for h, _ in split) if m) + \
        max(len(lines) for _, lines in split)
    old_headers = section_headers(old.decode("utf-8", "replace"), last)
    new_headers = section_headers(new.decode("utf-8", "replace"), last)
    return [_hunk(header, lines, old_headers, new_headers) for header, lines in split]


def _hunk(header: str, lines: list[str], old_h: list[tuple[int, str]],
          new_h: list[tuple[int, str]]) -> Hunk:
    m = _HUNK.match(header)
    assert m
    old_start, new_start = int(m[1]), int(m[2])
    o, n = old_start, new_start
    section = ""
    for line in lines:
        if line.startswith("+"):
            section = section_at(new_h, n)
            break
        if line.startswith("-"):
            section = section_at(old_h, o)
            break
        if not line.startswith("\\"):
            o, n = o + 1, n + 1
    return Hunk(header, lines, section, old_start, new_start)


# --------------------------------------------------------------------------- staging

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _common_prefix(a: Sequence[Any], b: Sequence[Any], limit: int) -> int:
    """How many first bytes (or lines) *a* and *b* share (at most *limit*): slices
    compared by halves, a big text's bytes never looped over one by one."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: Sequence[Any], b: Sequence[Any], limit: int) -> int:
    """How many last bytes (or lines) *a* and *b* share (at most *limit*), as
    :func:`_common_prefix` (neither text reversed: a copy of each)."""
    lo, hi = 0, limit
    na, nb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[na - mid:na - lo] == b[nb - mid:nb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _splice(base: bytes, text: bytes) -> list[int | str]:
    """*text* as ``[prefix, suffix, middle]``: the first *prefix* and last *suffix* bytes
    of *base* around *middle* (base64)."""
    limit = min(len(base), len(text))
    head = _common_prefix(base, text, limit)
    tail = _common_suffix(base, text, limit - head) if head < limit else 0
    return [head, tail, _b64(text[head:len(text) - tail])]


def _unsplice(base: bytes, splice: list[Any]) -> bytes:
    """The text :func:`_splice` stored (ValueError: not a splice of *base*)."""
    if len(splice) != 3 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                   for n in splice[:2]) or not isinstance(splice[2], str) \
            or splice[0] + splice[1] > len(base):
        raise ValueError("'candidate_splice' is not a splice of the base")
    head, tail = splice[0], splice[1]
    return base[:head] + base64.b64decode(splice[2], validate=True) + base[len(base) - tail:]


def _holds(path: Path, base: bytes) -> bool:
    """True when *path* is a base already kept: a file of ours (read without following
    a link) whose text is *base*. Anything else is written again."""
    try:
        kept = read_file(path, what="the staged change's base")
    except HAProxyError:
        return False
    return kept is not None and kept == base


class Staging:
    """The pending change set of one configuration file (see the module docstring)."""

    def __init__(self, config_path: str) -> None:
        self.path = config_path
        self.real_path = os.path.realpath(config_path)
        self.key = file_key(config_path)
        self.file = staging_dir() / f"{self.key}.json"
        self.base = b""
        self.ops: list[dict[str, Any]] = []
        self.candidate = b""
        self.created = self.updated = 0.0
        self.user: dict[str, Any] = {}
        self.warnings: list[str] = []  # said after a change: e.g. the marker not shared
        self._diff: tuple[bytes, bytes, str] | None = None  # base, candidate, their diff
        # the edits' descriptions, with the base and the edits they describe (kept in the
        # staged change's file: a review does not read a big base again to say them)
        self._described: tuple[bytes, list[dict[str, Any]], list[str]] | None = None

    # -- loading and saving --------------------------------------------------------------

    @classmethod
    def load(cls, config_path: str) -> Staging:
        """The staged change of *config_path* (empty, based on the live file, if none)."""
        st = cls(config_path)
        try:
            st._read()
        except StateError:
            # read without the lock: a change saved meanwhile removes the base the JSON
            # read just before names (after writing the new JSON): read it again, once
            st._read()
        return st

    def _read(self) -> None:
        data = read_file(self.file, what="the staged change")
        if data is None:
            self._reset(read_bytes(self.real_path))
            return
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict):
                raise ValueError(f"a JSON {type(doc).__name__}, not an object")
            if doc.get("format") not in (1, FORMAT):
                raise ValueError(f"unknown format {str(doc.get('format'))[:20]!r}")
            texts = (("base", str), ("candidate", str)) if doc["format"] == 1 else (
                ("base_hash", str), ("candidate_hash", str), ("base_size", int),
                ("candidate_splice", list))
            for name, kind in (*texts, ("ops", list), ("created", (int, float)),
                               ("updated", (int, float))):
                if not isinstance(doc.get(name), kind) or isinstance(doc.get(name), bool):
                    raise ValueError(f"{name!r} is missing or of the wrong type")
            if not all(isinstance(op, dict) for op in doc["ops"]):
                raise ValueError("'ops' holds something that is not an operation")
            user = doc.get("user") or {}
            if not isinstance(user, dict):
                raise ValueError("'user' is not an object")
            if doc["format"] == 1:
                base = base64.b64decode(doc["base"], validate=True)
                candidate = base64.b64decode(doc["candidate"], validate=True)
            else:
                base = self._stored_base(doc["base_hash"], doc["base_size"])
                candidate = _unsplice(base, doc["candidate_splice"])
                if not has_hash(candidate, doc["candidate_hash"]):
                    raise ValueError("the staged text does not match its hash")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise StateError(f"the staged change is unreadable: {exc}", str(self.file),
                             f"move that file away to start afresh (mv {self.file} "
                             f"{self.file}.bad); the live file is not affected") from None
        self.base, self.candidate = base, candidate
        self.ops = list(doc["ops"])
        said = doc.get("descriptions")
        self._described = (base, list(self.ops), [str(d) for d in said]) \
            if isinstance(said, list) and len(said) == len(self.ops) else None
        self.created, self.updated = float(doc["created"]), float(doc["updated"])
        self.user = dict(user)

    def _base_file(self, base_hash: str) -> Path:
        return self.file.with_name(f"{self.key}.{base_hash[:32]}.base")

    def _stored_base(self, base_hash: str, size: int) -> bytes:
        """The base of a staged change: the live file while it still is that text, else
        the copy kept beside the staged change (its hash checked)."""
        try:
            live: bytes | None = read_bytes(self.real_path)
        except WriteError:
            live = None
        if live is not None and len(live) == size and has_hash(live, base_hash):
            return live
        if not re.fullmatch("[0-9a-f]{64}", base_hash):
            raise ValueError("'base_hash' is not a SHA-256")
        kept = read_file(self._base_file(base_hash), what="the staged change's base")
        if kept is None or sha256(kept) != base_hash:
            raise ValueError(f"its base (the text of the file when the change was staged) "
                             f"is {'missing' if kept is None else 'damaged'}: "
                             f"{self._base_file(base_hash)}")
        return kept

    def _reset(self, live: bytes) -> None:
        self.base = self.candidate = live
        self.ops = []
        self.created = self.updated = 0.0
        self.user = {}

    def _save(self) -> None:
        if not self.pending:
            self._forget()
            return
        now = time.time()
        self.created = self.created or now
        self.updated = now
        self.user = who()
        base_file = self._base_file(self.base_hash)
        if not _holds(base_file, self.base):  # (written once per base)
            try:
                write_private(str(base_file), self.base, action="save the staged change")
            except WriteError as exc:
                raise StateError(exc.what, exc.where, exc.hint) from None
        doc = {
            "format": FORMAT, "config": self.real_path, "path": self.path,
            "base_hash": self.base_hash, "candidate_hash": self.candidate_hash,
            "base_size": len(self.base),
            "candidate_splice": _splice(self.base, self.candidate), "ops": self.ops,
            "descriptions": self.descriptions(),
            "created": self.created, "updated": self.updated, "user": self.user,
        }
        try:
            write_private(str(self.file), json.dumps(doc, indent=1).encode(),
                          action="save the staged change")
        except WriteError as exc:
            raise StateError(exc.what, exc.where, exc.hint) from None
        self._drop_bases(keep=base_file.name)
        try:
            shared_state.mark_staged(self.path, dict(self.user, since=self.created,
                                                     edits=len(self.ops),
                                                     summary=self.summary()))
        except HAProxyError as exc:
            self.warnings.append(f"the other operators cannot see this staged change: {exc}")

    def _forget(self) -> None:
        """Remove the staged change's file and its marker."""
        try:
            self.file.unlink(missing_ok=True)
        except OSError as exc:
            raise os_error(exc, "cannot remove the staged change", self.file) from None
        self._drop_bases()
        try:
            shared_state.unmark_staged(self.path)
        except HAProxyError as exc:
            self.warnings.append(f"the marker of this staged change stays visible to the "
                                 f"other operators: {exc}")

    def _drop_bases(self, keep: str | None = None) -> None:
        """Remove the kept bases of this file's staged change (but *keep*)."""
        try:
            names = os.listdir(self.file.parent)
        except OSError:
            return
        for name in names:
            if name.startswith(f"{self.key}.") and name.endswith(".base") and name != keep:
                with contextlib.suppress(OSError):
                    os.unlink(self.file.parent / name)

    @contextlib.contextmanager
    def _mutating(self) -> Iterator[None]:
        """Re-read under the staging lock, let the caller change it, save."""
        with _flock(staging_dir() / f"{self.key}.staging.lock"):
            self._read()
            if not self.pending:
                self._reset(read_bytes(self.real_path))
            yield
            self._save()

    # -- state ---------------------------------------------------------------------------

    @property
    def base_hash(self) -> str:
        return text_hash(self.base)

    @property
    def candidate_hash(self) -> str:
        return text_hash(self.candidate)

    @property
    def pending(self) -> bool:
        return bool(self.ops) and self.candidate != self.base

    @property
    def has_raw_edit(self) -> bool:
        return any(op.get("op") == "replace" for op in self.ops)

    def live(self) -> bytes:
        try:
            return read_bytes(self.real_path)
        except WriteError:
            if self.pending and not os.path.lexists(self.real_path):
                raise StateError("the configuration file no longer exists, and a change is "
                                 "still staged for it", self.real_path,
                                 f"restore the file, or drop the change: haconsole -c "
                                 f"{self.path} config discard") from None
            raise

    def is_stale(self) -> bool:
        """True when something is staged and the live file is no longer its base."""
        return self.pending and self.live() != self.base

    def status(self) -> str:
        """``empty``, ``pending``, ``stale``, or ``applied`` (the live file already is it)."""
        if not self.pending:
            return "empty"
        live = self.live()
        if live == self.base:
            return "pending"
        return "applied" if live == self.candidate else "stale"

    def descriptions(self) -> list[str]:
        said = self._described
        if said is not None and said[0] is self.base and said[1] == self.ops:
            return list(said[2])
        out = [describe_op(op, self.base) for op in self.ops]
        self._described = (self.base, list(self.ops), out)
        return list(out)

    def summary(self) -> str:
        return "; ".join(self.descriptions())

    # -- changes -------------------------------------------------------------------------

    def add_ops(self, ops: list[dict[str, Any]], *, context: Any = None) -> None:
        """Stage more operations; the candidate is recomputed from the base.

        *context*: the other files of the set this file belongs to (name resolution).
        """
        with self._mutating():
            self._refuse_if_stale()
            new_ops = self.ops + [dict(op) for op in ops]
            self.candidate = compute_candidate(self.base, new_ops, name=self.path,
                                               context=context)
            self.ops = new_ops

    def set_candidate(self, data: bytes, note: str | None = None) -> None:
        """Stage a raw edit: *data* becomes the candidate (a ``replace`` operation)."""
        with self._mutating():
            self._refuse_if_stale()
            if data == self.candidate:
                return
            self.ops = self.ops + [replace_op(data, self.candidate, note)]
            self.candidate = data
            if self.candidate == self.base:
                self.ops = []

    def _refuse_if_stale(self) -> None:
        if self.is_stale():
            raise StaleError("the file changed since this change was staged", self.path,
                             "haconsole config rebase (or discard) first",
                             live_diff=self.live_diff())

    def rebase(self, *, context: Any = None) -> None:
        """Re-apply the staged operations on the current live file."""
        with self._mutating():
            live = self.live()
            if not self.pending or live == self.base:
                return
            if self.has_raw_edit:
                raise StagingError("the staged change holds a raw edit (or a rollback), which "
                                   "cannot be re-applied on the changed file", self.path,
                                   "discard it (haconsole config discard) and edit again")
            self.candidate = compute_candidate(live, self.ops, name=self.path,
                                               context=context)
            self.base = live

    def discard(self) -> None:
        """Drop the staged change (also when the config file itself is gone)."""
        with _flock(staging_dir() / f"{self.key}.staging.lock"):
            self._forget()
        self._reset(self.live() if os.path.lexists(self.real_path) else b"")

    def clear_if(self, candidate_hash: str) -> bool:
        """Forget the staged change if it still is *candidate_hash* (after an apply)."""
        with _flock(staging_dir() / f"{self.key}.staging.lock"):
            self._read()
            if self.pending and self.candidate_hash != candidate_hash:
                return False
            self._forget()
            self._reset(self.live())
            return True

    # -- review --------------------------------------------------------------------------

    def diff(self) -> str:
        cached = self._diff
        if cached is not None and cached[0] is self.base and cached[1] is self.candidate:
            return cached[2]  # (a big file: diffed once per command)
        out = unified_diff(self.base, self.candidate, f"{self.path} (live)",
                           f"{self.path} (staged)")
        self._diff = (self.base, self.candidate, out)
        return out

    def hunks_with_sections(self) -> list[Hunk]:
        return hunks_of(self.diff(), self.base, self.candidate)

    def live_diff(self) -> str:
        """What changed in the live file since the change was staged."""
        return unified_diff(self.base, self.live(), f"{self.path} (when staged)",
                            f"{self.path} (live now)")
