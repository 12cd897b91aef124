"""Overlay the sections of a later, partial run onto a full result file.

Usage: python bench/merge.py BASE.json LATER.json OUT.json

For each size, the sections LATER measured (``inprocess``, ``terminal``, ``start``,
``memory``) replace BASE's, and so does LATER's hatop comparison; the targets are worked
out again. OUT records both files under ``merged_from`` with the sections taken from
each, and the tables are printed as ``run.py`` prints them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench import report  # noqa: E402

SECTIONS = ("inprocess", "terminal", "start", "memory")


def merge(base: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(base))
    taken: dict[str, list[str]] = {}
    for size, res in later.get("sizes", {}).items():
        target = out["sizes"].setdefault(size, {"servers": res.get("servers"),
                                                "checks": res.get("checks")})
        for section in SECTIONS:
            if section in res:
                target[section] = res[section]
                taken.setdefault(size, []).append(section)
    if "hatop" in later:
        out["hatop"] = later["hatop"]
        taken["hatop"] = ["hatop"]
    out["merged_from"] = {
        "base": {"date": base.get("date"), "label": base.get("label"),
                 "options": base.get("options")},
        "later": {"date": later.get("date"), "label": later.get("label"),
                  "options": later.get("options"), "sections_taken": taken},
    }
    out["date"] = later.get("date", out.get("date"))
    out["targets"] = report.targets(out)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        base = json.load(f)
    with open(argv[1]) as f:
        later = json.load(f)
    out = merge(base, later)
    with open(argv[2], "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    line = report.machine_line(out["machine"], out["haproxy"])
    print(f"haconsole benchmark (merged), {line}\n")
    print(report.table(out, markdown=True))
    if "hatop" in out:
        print()
        print(report.hatop_table(out["hatop"], markdown=True))
    print()
    print(report.targets_table(out["targets"], markdown=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
