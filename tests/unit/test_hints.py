"""The commands the CLI suggests are spelled with the instance flags given, shell-quoted."""

from __future__ import annotations

import shlex

from console import hints


def test_hints_name_the_instance_as_given(monkeypatch) -> None:
    class Args:
        settings, instance, socket, master = "/etc/my settings.toml", "edge 1", None, None
        config, url = ["a b.cfg", "conf.d/"], "http://ops:s3cret@127.0.0.1:8404/stats"

    monkeypatch.setattr(hints, "_given", [])
    assert hints.command("config", "apply") == "haconsole config apply"
    hints.remember(Args())
    printed = hints.command("config", "apply")
    assert shlex.split(printed) == [
        "haconsole", "--settings", "/etc/my settings.toml", "-i", "edge 1", "-c", "a b.cfg",
        "-c", "conf.d/", "--url", "http://127.0.0.1:8404/stats", "config", "apply"]
    assert "s3cret" not in printed
    assert hints.spelled("hint: `haconsole config rebase` re-applies; an older haconsole") \
        == f"hint: `{hints.command('config', 'rebase')}` re-applies; an older haconsole"
