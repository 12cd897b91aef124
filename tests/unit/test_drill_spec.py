"""Drill files: the shipped ones load; a bad one is one error naming its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.haproxy.drills import BUILTIN_DIR, drill_files, load, load_all
from console.haproxy.drills.goal import GoalWatch, Sample, compare, metric
from console.haproxy.drills.spec import MAX_FILE, parse
from console.haproxy.errors import ConfigError

GOOD = """\
name = "demo"
title = "A demo"
page = "the page"
hints = ["one", "two"]

[[fault]]
kind = "control"
command = "stop be_web/web2"

[goal]
hold = 3
all = [
  { object = "be_web/web2", field = "status", op = "in", value = ["MAINT", "DRAIN"] },
  { metric = "5xx_rate", object = "be_web", op = "<", value = 0.5 },
]

[debrief]
fault = "it was stopped"
expert = "maint it"
"""


def error_of(text: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, tmp_path / "demo.toml")
    return str(info.value)


def test_the_shipped_drills_load() -> None:
    drills, errors = load_all([BUILTIN_DIR])
    assert not errors
    assert len(drills) == 10
    assert all(d.hints and d.fault and d.expert and d.fault_text for d in drills)


def test_a_good_drill(tmp_path: Path) -> None:
    drill = parse(GOOD, tmp_path / "demo.toml")
    assert drill.name == "demo" and drill.goal.hold == 3 and len(drill.goal.all) == 2
    assert drill.objects == ("be_web", "be_web/web2")
    assert drill.fault[0].line == 6


@pytest.mark.parametrize(("change", "line", "words"), [
    (('hold = 3', 'hold = "x"'), 11, "'hold' must be a number"),
    (('kind = "control"', 'kind = "shell"'), 6, "unknown step kind"),
    (('command = "stop be_web/web2"', 'command = "rm -rf /"'), 6, "not one of the lab's"),
    (('op = "<"', 'op = "~"'), 14, "unknown op"),
    (('"be_web/web2"', '"be web;x"'), 13, "not a proxy"),
    (('title = "A demo"', 'title = 3'), 2, "'title' must be a text"),
    (('[debrief]', '[debrief]\nweird = 1'), 17, "unknown key 'weird'"),
    (('hints = ["one", "two"]', 'hints = ["one", "two"'), 6, "not valid TOML"),
])
def test_errors_name_the_line(tmp_path: Path, change: tuple[str, str], line: int,
                              words: str) -> None:
    message = error_of(GOOD.replace(*change), tmp_path)
    assert f"demo.toml:{line}" in message, message
    assert words in message


def test_runtime_steps_are_validated(tmp_path: Path) -> None:
    text = GOOD.replace('kind = "control"\ncommand = "stop be_web/web2"',
                        'kind = "runtime"\ncommand = "shutdown frontend fe_web"')
    assert "not allowed in a drill" in error_of(text, tmp_path)
    text = GOOD.replace('kind = "control"\ncommand = "stop be_web/web2"',
                        'kind = "runtime"\ncommand = "set server a/b state maint; show info"')
    assert "runtime command refused" in error_of(text, tmp_path)


def test_hostile_files(tmp_path: Path) -> None:
    huge = tmp_path / "demo.toml"
    huge.write_text("#" * (MAX_FILE + 10))
    with pytest.raises(ConfigError, match="too large"):
        load(huge)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b'name = "bin"\n\xff\xfe')
    with pytest.raises(ConfigError, match="not UTF-8.*bin.toml:2"):
        load(binary)
    renamed = tmp_path / "other.toml"
    renamed.write_text(GOOD)
    with pytest.raises(ConfigError, match="named 'demo' but its file is other.toml"):
        load(renamed)
    with pytest.raises(ConfigError, match="no such drill"):
        load(tmp_path / "missing.toml")
    (tmp_path / "fifo.toml").unlink(missing_ok=True)


def test_user_drills_override_shipped(tmp_path: Path) -> None:
    (tmp_path / "refused-connections.toml").write_text("x")
    files = drill_files([BUILTIN_DIR, tmp_path])
    assert files["refused-connections"] == tmp_path / "refused-connections.toml"
    _, errors = load_all([BUILTIN_DIR, tmp_path])
    assert len(errors) == 1 and "refused-connections.toml:1" in str(errors[0])


def row(**values: float | str) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def test_metrics_from_two_samples() -> None:
    old = row(hrsp_2xx=100, hrsp_5xx=10, dreq=0, req_tot=110)
    new = row(hrsp_2xx=190, hrsp_5xx=20, dreq=50, req_tot=210)
    assert metric("5xx_rate", old, new, 5) == pytest.approx(0.1)
    assert metric("resp_rate", old, new, 5) == pytest.approx(20)
    assert metric("denied_rate", old, new, 5) == pytest.approx(10)
    assert metric("req_rate", old, new, 5) == pytest.approx(20)
    # counters reset by a reload count as no change, not a negative rate
    assert metric("resp_rate", new, old, 5) == 0


def test_goal_holds_for_its_time(tmp_path: Path) -> None:
    drill = parse(GOOD, tmp_path / "demo.toml")
    watch = GoalWatch(drill.goal)

    def sample(at: float, status: str, e5: int) -> Sample:
        return Sample(at, {("be_web", "web2"): row(pxname="be_web", svname="web2",
                                                   status=status),
                           ("be_web", "BACKEND"): row(hrsp_2xx=at * 10, hrsp_5xx=e5)})

    watch.add(sample(0, "DOWN", 0))
    assert not watch.evaluate(0, {})  # one sample: the metric is unknown
    watch.add(sample(1, "MAINT", 0))
    assert not watch.evaluate(1, {})  # holds since 1
    watch.add(sample(3, "MAINT", 0))
    assert not watch.evaluate(3, {})
    watch.add(sample(4, "MAINT", 0))
    assert watch.evaluate(4, {})
    watch.add(sample(5, "UP 1/2", 0))
    assert not watch.evaluate(5, {}) and watch.held_since is None
    assert json.dumps(watch.progress())


def test_compare() -> None:
    assert compare("in", "MAINT", ("maint", "DRAIN"))
    assert compare("not in", "UP", ("MAINT",))
    assert compare("<", 0.1, 0.5) and not compare("<", "x", 0.5)
    assert compare("==", 1.0, 1) and not compare("==", None, 1)


def test_the_readme_example_is_a_valid_drill(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    part = readme.split("### Writing a drill", 1)[1]
    example = part.split("```toml\n", 1)[1].split("```", 1)[0]
    drill = parse(example, tmp_path / "web2-down.toml")
    assert drill.name == "web2-down" and len(drill.goal.all) == 3
    assert [s.kind for s in drill.fault] == ["control", "wait"] and drill.setup


HOLDING = GOOD.replace('''[[fault]]
kind = "control"
command = "stop be_web/web2"
''', '''[[setup]]
kind = "control"
command = "hold"

[[fault]]
kind = "config"
reload = "fails"
find = "listen stats\\n"
replace = "frontend fe_x\\n    bind 127.0.0.1:@held_port@\\n\\nlisten stats\\n"
''').replace('''  { metric = "5xx_rate", object = "be_web", op = "<", value = 0.5 },
''', '''  { master = "failed_reloads", op = "==", value = 0 },
  { file = "config", op = "not matches", value = ':@held_port@\\b' },
''')


def test_held_port_reload_and_master(tmp_path: Path) -> None:
    drill = parse(HOLDING, tmp_path / "demo.toml")
    step = drill.fault[0]
    assert step.reload == "fails" and "@held_port@" in step.replace
    assert "a reload that fails" in step.describe()
    master, file = drill.goal.all[1], drill.goal.all[2]
    assert master.master == "failed_reloads"
    assert master.describe() == "master failed_reloads == 0"
    watch = GoalWatch(drill.goal)
    watch.values["@held_port@"] = "4711"
    config = "frontend fe_x\n    bind 127.0.0.1:4711\n"
    assert watch.check(file, {"config": config}) == (False, "found")
    assert watch.check(file, {"config": config.replace("4711", "47110")})[0]
    watch.add(Sample(0, {}, {"failed_reloads": 1.0}))
    assert watch.check(master, {}) == (False, 1.0)
    watch.add(Sample(1, {}, {}))  # the master did not answer: unknown, so false
    assert watch.check(master, {}) == (False, None)
    watch.add(Sample(2, {}, {"failed_reloads": 0.0}))
    assert watch.check(master, {}) == (True, 0.0)


@pytest.mark.parametrize(("change", "line", "words"), [
    (('reload = "fails"', 'reload = "maybe"'), 10, "unknown reload 'maybe'"),
    (('command = "hold"', 'command = "rate 10"'), 10, "no step before this one holds it"),
    (('{ master = "failed_reloads"', '{ master = "uptime"'), 20, "unknown master field"),
    (('op = "==", value = 0 }', 'op = "==", value = "x" }'), 20,
     "a master field takes a comparison"),
    (('master = "failed_reloads",', 'master = "failed_reloads", object = "x",'), 20,
     "unknown key 'object' in a master predicate"),
])
def test_new_keys_errors_name_the_line(tmp_path: Path, change: tuple[str, str], line: int,
                                       words: str) -> None:
    message = error_of(HOLDING.replace(*change), tmp_path)
    assert f"demo.toml:{line}" in message, message
    assert words in message


def test_held_port_in_the_goal_needs_a_hold(tmp_path: Path) -> None:
    text = HOLDING.replace('command = "hold"', 'command = "rate 10"').replace(
        "127.0.0.1:@held_port@", "127.0.0.1:8080")
    message = error_of(text, tmp_path)
    assert "demo.toml:21" in message and "no step holds one" in message, message
