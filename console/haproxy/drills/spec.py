"""A drill file: TOML, read and checked before anything reaches the lab.

Every problem is one :class:`~console.haproxy.errors.ConfigError` whose ``where`` is
``FILE:LINE`` (the line of the TOML error, of the key, or of the ``[[fault]]`` table
or goal predicate at fault), so a trainer can fix a drill without reading Python.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.haproxy.errors import ConfigError, HAProxyError
from console.haproxy.regex_guard import repeat_weight, safe_for_re
from console.haproxy.validate import check_command

MAX_FILE = 256 * 1024
MAX_STEPS = 40
MAX_HINTS = 20
MAX_TEXT = 8000
MAX_WAIT = 120.0
MAX_HOLD = 300.0
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
OBJECT_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}(/[A-Za-z0-9_.:-]{1,100})?$")
FIELD_RE = re.compile(r"^[a-z0-9_]{1,40}$")
STEP_KINDS = ("control", "runtime", "config", "wait")
CONTROL_WORDS = ("stop", "start", "personality", "rate", "abuse", "hold", "release")
# Runtime API commands a drill may send (the first words); everything else is refused.
RUNTIME_PREFIXES = ("set server ", "set weight ", "set maxconn ", "enable server ",
                    "disable server ", "enable health ", "disable health ", "add acl ",
                    "del acl ", "clear acl ", "add map ", "del map ", "set map ",
                    "enable frontend ", "disable frontend ", "clear counters")
METRICS = ("5xx_rate", "resp_rate", "denied_rate", "req_rate")
FILES = ("config", "acl")
# From the master CLI's `show proc`: consecutive failed reloads (0 once one succeeds),
# old workers still finishing their sessions.
MASTER_FIELDS = ("failed_reloads", "old_workers")
# config steps: after writing the file, a reload that must succeed, one that must fail
# (the old configuration keeps serving), or none
RELOADS = ("succeeds", "fails", "none")
# Replaced, in a config step's text and a file predicate's value, by the port the lab's
# `hold` control command holds (a step before must hold it).
HELD_PORT = "@held_port@"
OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "not contains",
       "matches", "not matches")
FILE_OPS = ("contains", "not contains", "matches", "not matches")
NUMERIC_OPS = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Predicate:
    """One condition on the lab: a ``show stat`` field, a metric, or a file's text."""

    op: str
    value: Any
    object: str = ""  # "be/srv", "be" (its BACKEND row) or "fe" (its FRONTEND row)
    field: str = ""  # a show stat column; "status" is normalized (UP, DOWN, MAINT...)
    metric: str = ""  # one of METRICS, over the goal's window
    file: str = ""  # "config" (haproxy.cfg) or "acl" (the blocked-clients file)
    master: str = ""  # one of MASTER_FIELDS

    def describe(self) -> str:
        if isinstance(self.value, tuple):
            value = "[" + ", ".join(map(str, self.value)) + "]"
        else:
            value = repr(self.value) if isinstance(self.value, str) else str(self.value)
        if self.file:
            return f"{self.file} file {self.op} {value}"
        if self.master:
            return f"master {self.master} {self.op} {value}"
        if self.metric:
            return f"{self.metric} of {self.object} {self.op} {value}"
        return f"{self.object} {self.field} {self.op} {value}"


@dataclass(frozen=True)
class Step:
    kind: str
    command: str = ""  # control, runtime
    seconds: float = 0.0  # wait
    until: Predicate | None = None  # wait: until this holds (timeout: seconds)
    find: str = ""  # config: exact text, present exactly once
    replace: str = ""
    message: str = ""  # config: the deploy's message in the file's history
    reload: str = "succeeds"  # config: one of RELOADS
    line: int = 0

    def describe(self) -> str:
        if self.kind in ("control", "runtime"):
            return f"{self.kind}: {self.command}"
        if self.kind == "wait":
            if self.until is not None:
                return f"wait until {self.until.describe()} (at most {self.seconds:g} s)"
            return f"wait {self.seconds:g} s"
        then = {"succeeds": "then reload", "fails": "then a reload that fails (the old "
                "configuration keeps serving)", "none": "not reloaded"}[self.reload]
        return f"config: replace {self.find!r} with {self.replace!r}, {then}"


@dataclass(frozen=True)
class Goal:
    all: tuple[Predicate, ...]
    hold: float = 5.0
    window: float = 5.0

    def objects(self) -> list[str]:
        return sorted({p.object for p in self.all if p.object})


@dataclass(frozen=True)
class Drill:
    name: str
    title: str
    page: str
    goal: Goal
    path: str
    setup: tuple[Step, ...] = ()
    fault: tuple[Step, ...] = ()
    hints: tuple[str, ...] = ()
    fault_text: str = ""  # debrief: what the fault was
    expert: str = ""  # debrief: what an experienced engineer would have done
    calm: bool = True  # every lab server healthy before the setup
    objects: tuple[str, ...] = field(default=())  # what counts as "detected"


class _Where:
    """Line numbers of keys and tables in the drill's text."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def at(self, line: int | None) -> str:
        return f"{self.path}:{line}" if line else str(self.path)

    def key(self, key: str, start: int = 0) -> int | None:
        pattern = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for number, line in enumerate(self.lines[start:], start + 1):
            if pattern.match(line):
                return number
        return None

    def table(self, name: str, index: int = 0, array: bool = True) -> int | None:
        header = (r"^\s*\[\[\s*" if array else r"^\s*\[\s*") + re.escape(name) + r"\s*\]"
        pattern = re.compile(header)
        seen = 0
        for number, line in enumerate(self.lines, 1):
            if pattern.match(line):
                if seen == index:
                    return number
                seen += 1
        return self.key(name)

    def inline(self, after: int | None, index: int) -> int | None:
        """The line of the *index*-th ``{`` after line *after* (a predicate in a list)."""
        seen = 0
        for number, line in enumerate(self.lines[after or 0:], (after or 0) + 1):
            for _ in range(line.count("{")):
                if seen == index:
                    return number
                seen += 1
        return after


def _fail(what: str, where: str, hint: str | None = None) -> ConfigError:
    return ConfigError(what, where, hint)


def _text(data: dict[str, Any], key: str, where: str, *, required: bool = True,
          limit: int = MAX_TEXT) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise _fail(f"the drill has no {key!r}", where, f"add {key} = \"...\"")
        return ""
    if not isinstance(value, str):
        raise _fail(f"{key!r} must be a text, not {type(value).__name__}", where)
    if len(value) > limit:
        raise _fail(f"{key!r} is too long ({len(value)} characters, at most {limit})", where)
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise _fail(f"{key!r} holds a control character", where)
    return value


def _number(value: Any, key: str, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"{key!r} must be a number, not {type(value).__name__}", where)
    if not low <= value <= high:
        raise _fail(f"{key!r} must be between {low:g} and {high:g} (got {value:g})", where)
    return float(value)


def _unknown(data: dict[str, Any], allowed: tuple[str, ...], what: str, where: str) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise _fail(f"unknown key {extra[0]!r} in {what}", where,
                    "known keys: " + ", ".join(allowed))


def parse_predicate(data: Any, where: str) -> Predicate:
    if not isinstance(data, dict):
        raise _fail("a goal predicate must be a table like "
                    "{ object = \"be/srv\", field = \"status\", op = \"in\", value = [...] }",
                    where)
    _unknown(data, ("object", "field", "metric", "file", "master", "op", "value"),
             "a predicate", where)
    kinds = [k for k in ("field", "metric", "file", "master") if k in data]
    if len(kinds) != 1:
        raise _fail("a predicate names one of field, metric, file or master", where)
    op = data.get("op")
    if op not in OPS:
        raise _fail(f"unknown op {op!r}", where, "one of " + ", ".join(OPS))
    if "value" not in data:
        raise _fail("the predicate has no value", where)
    value = data["value"]
    if op in ("in", "not in"):
        if not isinstance(value, list) or not value or len(value) > 20 or not all(
                isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
            raise _fail(f"op {op!r} takes a list of 1 to 20 texts or numbers", where)
        value = tuple(value)
    elif op in NUMERIC_OPS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(f"op {op!r} takes a number", where)
    elif op in FILE_OPS:
        if kinds[0] != "file" or not isinstance(value, str) or not value or len(value) > 1000:
            raise _fail(f"op {op!r} applies to a file and takes a non-empty text", where)
        if op.endswith("matches"):
            try:
                re.compile(value, re.M)
            except re.error as exc:
                raise _fail(f"not a regular expression: {exc}", where) from None
            if not safe_for_re(value) or repeat_weight(value) > 1000:
                raise _fail("this regular expression could take forever to match", where,
                            "no quantified groups or backreferences")
    elif isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(f"op {op!r} takes a text or a number", where)
    if kinds[0] == "file":
        if data["file"] not in FILES:
            raise _fail(f"unknown file {data['file']!r}", where, "one of " + ", ".join(FILES))
        if op not in FILE_OPS:
            raise _fail("a file predicate takes op " + ", ".join(FILE_OPS), where)
        return Predicate(op, value, file=data["file"])
    if kinds[0] == "master":
        if data["master"] not in MASTER_FIELDS:
            raise _fail(f"unknown master field {data['master']!r}", where,
                        "one of " + ", ".join(MASTER_FIELDS))
        if op not in NUMERIC_OPS + ("==", "!=") or isinstance(value, str):
            raise _fail(f"a master field takes a comparison with a number, not {op!r} "
                        f"{value!r}", where)
        _unknown(data, ("master", "op", "value"), "a master predicate", where)
        return Predicate(op, value, master=data["master"])
    obj = data.get("object")
    if not isinstance(obj, str) or not OBJECT_RE.match(obj):
        raise _fail(f"object {obj!r} is not a proxy or proxy/server name", where,
                    "letters, digits and _ . : - only, e.g. \"be_web/web2\"")
    if "metric" in data:
        if data["metric"] not in METRICS:
            raise _fail(f"unknown metric {data['metric']!r}", where,
                        "one of " + ", ".join(METRICS))
        if op not in NUMERIC_OPS + ("==", "!="):
            raise _fail(f"a metric takes a comparison (<, <=, >, >=), not {op!r}", where)
        return Predicate(op, value, object=obj, metric=data["metric"])
    name = data["field"]
    if not isinstance(name, str) or not FIELD_RE.match(name):
        raise _fail(f"field {name!r} is not a show stat column name", where,
                    "e.g. status, weight, qcur, scur")
    return Predicate(op, value, object=obj, field=name)


def _step(data: Any, where: str, line: int | None) -> Step:
    if not isinstance(data, dict):
        raise _fail("a step must be a table with a kind", where)
    kind = data.get("kind")
    if kind not in STEP_KINDS:
        raise _fail(f"unknown step kind {kind!r}", where, "one of " + ", ".join(STEP_KINDS))
    if kind in ("control", "runtime"):
        _unknown(data, ("kind", "command"), f"a {kind} step", where)
        command = _text(data, "command", where, limit=500)
        if kind == "control":
            words = command.split()
            if not words or words[0] not in CONTROL_WORDS or "\n" in command:
                raise _fail(f"control command {command!r} is not one of the lab's", where,
                            "one of: " + ", ".join(CONTROL_WORDS))
        else:
            try:
                check_command(command)
            except HAProxyError as exc:
                raise _fail(f"runtime command refused: {exc.what}", where) from None
            if not command.startswith(RUNTIME_PREFIXES):
                raise _fail(f"runtime command {command!r} is not allowed in a drill", where,
                            "allowed: " + ", ".join(p.strip() for p in RUNTIME_PREFIXES))
        return Step(kind, command=command, line=line or 0)
    if kind == "wait":
        _unknown(data, ("kind", "seconds", "until"), "a wait step", where)
        seconds = _number(data.get("seconds", 30), "seconds", where, 0, MAX_WAIT)
        until = parse_predicate(data["until"], where) if "until" in data else None
        return Step(kind, seconds=seconds, until=until, line=line or 0)
    _unknown(data, ("kind", "find", "replace", "message", "reload"), "a config step", where)
    reload = data.get("reload", "succeeds")
    if reload not in RELOADS:
        raise _fail(f"unknown reload {reload!r} in a config step", where,
                    "one of " + ", ".join(RELOADS))
    message = _text(data, "message", where, required=False, limit=200)
    find = _text(data, "find", where, limit=4000)
    replace = _text(data, "replace", where, required=False, limit=4000)
    if not find:
        raise _fail("a config step needs a non-empty find", where)
    return Step(kind, find=find, replace=replace, message=message.replace("\n", " "),
                reload=reload, line=line or 0)


def _uses_held_port(step: Step) -> bool:
    texts = [step.find, step.replace]
    if step.until is not None and step.until.file:
        texts.append(str(step.until.value))
    return any(HELD_PORT in text for text in texts)


def _check_held_port(steps: tuple[Step, ...], at: _Where) -> bool:
    """Refuse a step using the held port before a ``hold`` step; whether one holds it."""
    held = False
    for step in steps:
        if _uses_held_port(step) and not held:
            raise _fail(f"{HELD_PORT} names the port of the lab's `hold` control command, "
                        "but no step before this one holds it", at.at(step.line),
                        "put a step kind = \"control\", command = \"hold\" before it")
        if step.kind == "control" and step.command.split()[0] == "hold":
            held = True
    return held


def _steps(doc: dict[str, Any], key: str, at: _Where) -> tuple[Step, ...]:
    raw = doc.get(key, [])
    if not isinstance(raw, list):
        raise _fail(f"{key!r} must be an array of tables ([[{key}]])", at.at(at.key(key)))
    if len(raw) > MAX_STEPS:
        raise _fail(f"too many {key} steps ({len(raw)}, at most {MAX_STEPS})",
                    at.at(at.table(key)))
    out = []
    for index, item in enumerate(raw):
        line = at.table(key, index)
        out.append(_step(item, at.at(line), line))
    return tuple(out)


def parse(text: str, path: Path) -> Drill:
    """The drill in *text* (the contents of *path*), checked; ConfigError otherwise."""
    at = _Where(path, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line ([0-9]+), column [0-9]+\)", str(exc))
        reason = re.sub(r"\s*\(at (line [0-9]+, column [0-9]+|end of document)\)", "", str(exc))
        line = int(m.group(1)) if m else max(1, len(at.lines))
        raise _fail(f"not valid TOML: {reason}", at.at(line),
                    "see https://toml.io") from None
    top = ("name", "title", "page", "calm", "hints", "setup", "fault", "goal", "debrief")
    extra = sorted(set(doc) - set(top))
    if extra:
        raise _fail(f"unknown key {extra[0]!r}", at.at(at.key(extra[0]) or at.table(
            extra[0], array=False)), "known keys: " + ", ".join(top))
    name = _text(doc, "name", at.at(at.key("name")), limit=63)
    if not NAME_RE.match(name):
        raise _fail(f"drill name {name!r}: lower-case letters, digits and '-' only",
                    at.at(at.key("name")))
    if name == "list":
        raise _fail("'list' is reserved (haconsole drill list)", at.at(at.key("name")))
    title = _text(doc, "title", at.at(at.key("title")), limit=200)
    page = _text(doc, "page", at.at(at.key("page")))
    calm = doc.get("calm", True)
    if not isinstance(calm, bool):
        raise _fail("'calm' must be true or false", at.at(at.key("calm")))
    hints = doc.get("hints", [])
    if (not isinstance(hints, list) or len(hints) > MAX_HINTS
            or not all(isinstance(h, str) and 0 < len(h) <= 1000 for h in hints)):
        raise _fail(f"'hints' must be a list of at most {MAX_HINTS} texts", at.at(at.key("hints")))
    setup = _steps(doc, "setup", at)
    fault = _steps(doc, "fault", at)
    if not fault:
        raise _fail("the drill has no [[fault]] step", str(path),
                    "add [[fault]] kind = \"control\" command = \"stop be_web/web2\"")
    held = _check_held_port(setup + fault, at)
    goal_line = at.table("goal", array=False)
    raw_goal = doc.get("goal")
    if not isinstance(raw_goal, dict):
        raise _fail("the drill has no [goal] table", at.at(goal_line))
    _unknown(raw_goal, ("all", "hold", "window"), "[goal]", at.at(goal_line))
    preds = raw_goal.get("all")
    if not isinstance(preds, list) or not preds or len(preds) > 20:
        raise _fail("[goal] needs all = [ {...}, ... ] with 1 to 20 predicates",
                    at.at(at.key("all", goal_line or 0) or goal_line))
    all_line = at.key("all", goal_line or 0)
    goal = Goal(
        all=tuple(parse_predicate(p, at.at(at.inline((all_line or 1) - 1, i)))
                  for i, p in enumerate(preds)),
        hold=_number(raw_goal.get("hold", 5), "hold",
                     at.at(at.key("hold", goal_line or 0) or goal_line), 0, MAX_HOLD),
        window=_number(raw_goal.get("window", 5), "window",
                       at.at(at.key("window", goal_line or 0) or goal_line), 1, 60),
    )
    for index, pred in enumerate(goal.all):
        if not held and pred.file and HELD_PORT in str(pred.value):
            raise _fail(f"{HELD_PORT} names the port of the lab's `hold` control command, "
                        "but no step holds one", at.at(at.inline((all_line or 1) - 1, index)),
                        "add a [[setup]] or [[fault]] step: kind = \"control\", "
                        "command = \"hold\"")
    debrief = doc.get("debrief", {})
    debrief_where = at.at(at.table("debrief", array=False))
    if not isinstance(debrief, dict):
        raise _fail("[debrief] must be a table", debrief_where)
    _unknown(debrief, ("fault", "expert", "objects"), "[debrief]", debrief_where)
    objects = debrief.get("objects", goal.objects())
    if not isinstance(objects, list) or not all(
            isinstance(o, str) and OBJECT_RE.match(o) for o in objects):
        raise _fail("[debrief] objects must be a list of proxy or proxy/server names",
                    debrief_where)
    return Drill(name=name, title=title, page=page, goal=goal, path=str(path), setup=setup,
                 fault=fault, hints=tuple(hints),
                 fault_text=_text(debrief, "fault", debrief_where, required=False),
                 expert=_text(debrief, "expert", debrief_where, required=False),
                 calm=calm, objects=tuple(objects))


def read_capped(path: Path) -> str:
    """The UTF-8 text of a regular file of at most MAX_FILE bytes; ConfigError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError("no such drill file", str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the drill file: {exc.strerror or exc}",
                          str(path)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError("the drill file is not a regular file", str(path))
        if st.st_size > MAX_FILE:
            raise ConfigError(f"the drill file is too large ({st.st_size} bytes, at most "
                              f"{MAX_FILE})", str(path))
        data = os.read(fd, MAX_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the drill file: {exc.strerror or exc}",
                          str(path)) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE:
        raise ConfigError(f"the drill file is too large (over {MAX_FILE} bytes)", str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError("the drill file is not UTF-8 text", f"{path}:{line}") from None


def load(path: Path) -> Drill:
    text = read_capped(path)
    drill = parse(text, path)
    if drill.name != path.stem:
        raise _fail(f"the drill is named {drill.name!r} but its file is {path.name}",
                    f"{path}:{_Where(path, text).key('name') or 1}",
                    f"name the file {drill.name}.toml or the drill {path.stem!r}")
    return drill
