"""What the apply says survives the reload, against real HAProxy: a runtime value
the candidate also says is kept, one it does not carry is lost, and HAProxy after
the reload agrees."""

from __future__ import annotations

import asyncio

import pytest

from console.haproxy.apply import plan_apply
from console.haproxy.staging import Staging
from tests.instance import free_port
from tests.integration.test_apply import Running, run_apply, stage_text, start_haproxy
from tests.integration.test_config_cli import cli, needs_model

pytestmark = pytest.mark.haproxy


def plan_runtime(lb: Running) -> list[str]:
    st = Staging.load(str(lb.config))
    plan = asyncio.run(plan_apply(str(lb.config), st.base, st.candidate, lb.target()))
    return plan.runtime


@needs_model
def test_runtime_weight_made_permanent_is_kept_not_lost(lb: Running) -> None:
    lb.runtime("set server be_app/app1 weight 50")  # the file says 10
    lb.runtime("set server be_app/app2 weight 7")  # the file says 20
    staged = cli(lb, "config", "set", "be_app/app1", "weight=50")
    assert staged.returncode == 0, staged.stderr
    runtime = plan_runtime(lb)
    assert "kept: be_app/app1: weight 50 at runtime (file: 10); the new file says " \
        "weight 50" in runtime
    assert not [line for line in runtime if line.startswith("lost: be_app/app1")], runtime
    assert "lost: be_app/app2: weight 7 at runtime (file: 20)" in runtime
    out = cli(lb, "config", "apply", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    report = out.stdout.split("runtime changes at the reload:\n", 1)[1]
    assert "  kept: be_app/app1: weight 50 at runtime (file: 10); the new file says " \
        "weight 50\n" in report
    assert "  lost: be_app/app2: weight 7 at runtime (file: 20)\n" in report
    assert "lost: be_app/app1" not in out.stdout
    servers = lb.servers()  # what the report said, HAProxy did
    assert (servers["app1"].srv_iweight, servers["app1"].srv_uweight) == (50, 50)
    assert (servers["app2"].srv_iweight, servers["app2"].srv_uweight) == (20, 20)


def test_maintenance_and_stopped_frontend_the_candidate_says_are_kept(lb: Running) -> None:
    lb.runtime("set server be_app/app2 state maint")
    lb.runtime("set server be_app/app1 state maint")
    lb.runtime("disable frontend fe_main")
    text = lb.text()
    new = text.replace(" weight 20\n", " weight 20 disabled\n")
    new = new.replace("    bind 127.0.0.1:", "    disabled\n    bind 127.0.0.1:", 1)
    new += f"\nfrontend fe_other\n    bind 127.0.0.1:{free_port()}\n    default_backend be_app\n"
    assert new.count("disabled") == text.count("disabled") + 2
    stage_text(lb.config, new)
    runtime = plan_runtime(lb)
    assert "kept: be_app/app2: maintenance set at runtime; the new file disables it" \
        in runtime
    assert "lost: be_app/app1: maintenance set at runtime" in runtime
    assert any(line.startswith("kept: frontend fe_main: ") and
               line.endswith("; the new file disables it") for line in runtime), runtime
    result, steps = run_apply(lb.config, lb.target())
    assert result.ok, steps
    state = dict((s[0], s[2]) for s in steps)["state"]
    assert "kept: be_app/app2: maintenance set at runtime; the new file disables it" in state
    assert "lost: be_app/app1: maintenance set at runtime" in state
    servers = lb.servers()
    assert servers["app2"].in_maint and not servers["app1"].in_maint


def test_with_a_state_file_the_new_weight_wins(haproxy_binary, tmp_path) -> None:
    d = tmp_path / "lb"
    lb = start_haproxy(d, haproxy_binary, global_extra=f"    server-state-file {d}/state",
                       defaults_extra="    load-server-state-from-file global")
    try:
        lb.runtime("set server be_app/app1 weight 50")  # made permanent below
        lb.runtime("set server be_app/app2 weight 7")  # kept by the state file
        stage_text(lb.config, lb.text().replace(" weight 10\n", " weight 50\n"))
        runtime = plan_runtime(lb)
        assert "kept: be_app/app1: weight 50 at runtime (file: 10); the new file says " \
            "weight 50" in runtime
        assert "kept: be_app/app2: weight 7 at runtime (file: 20)" in runtime
        result, steps = run_apply(lb.config, lb.target())
        assert result.ok, steps
        servers = lb.servers()
        assert (servers["app1"].srv_iweight, servers["app1"].srv_uweight) == (50, 50)
        assert servers["app2"].srv_uweight == 7
    finally:
        lb.stop()
