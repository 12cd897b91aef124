"""HAProxy numbers lines as the console does when a file holds form feeds and the like."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.haproxy.apply import ApplyTarget
from console.haproxy.binaries import Binary
from console.haproxy.staging import Staging, hunks_of
from console.ui.widgets.apply_steps import check_errors, outcome_text
from console.ui.widgets.diffview import rows_of
from tests.integration.test_apply import config_text, run_apply

pytestmark = pytest.mark.haproxy


def test_check_errors_and_diff_lines_are_haproxys(haproxy_binary: Binary,
                                                  tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    text = config_text(tmp_path).replace(
        "defaults\n", "# page\x0cbreak\n# group\x1dsep \u2028 and \x85\ndefaults\n")
    cfg.write_bytes(text.encode())
    bad = text.replace("    balance roundrobin\n", "    balance roundrobin\n    bogus 1\n")
    line = bad.split("\n").index("    bogus 1") + 1
    Staging.load(str(cfg)).set_candidate(bad.encode())
    result, steps = run_apply(cfg, ApplyTarget(haproxy=haproxy_binary.path, check_args=["-W"],
                                               running=False))
    assert result.outcome == "refused" and result.check is not None, steps
    assert [n for n, _ in check_errors(result.check.errors) if n] == [line], result.check.errors
    shown = outcome_text(result, bad.encode(), no_reload=True, still_staged=True).plain
    assert f"{line:>5} │ bogus 1" in shown
    st = Staging.load(str(cfg))
    [added] = [r for r in rows_of(hunks_of(st.diff(), st.base, st.candidate)) if r.kind == "add"]
    assert (added.new, added.text) == (line, "    bogus 1")
