"""The HTTP stats page transport against real HAProxy."""

from __future__ import annotations

import pytest

from console.haproxy import errors
from console.haproxy.statspage import StatsPage
from console.haproxy.transport import RuntimeClient

pytestmark = pytest.mark.haproxy


async def _status(instance, backend: str, server: str) -> str:
    text = await RuntimeClient(instance.admin).run("show stat")
    header = text.splitlines()[0][2:].split(",")
    for line in text.splitlines()[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == backend and row.get("svname") == server:
            return row["status"]
    raise AssertionError(f"{backend}/{server} not in show stat")


async def test_csv_matches_socket(instance) -> None:
    async with StatsPage(instance.stats_url) as page:
        csv = await page.fetch_csv()
    sock = await RuntimeClient(instance.admin).run("show stat")
    assert csv.splitlines()[0] == sock.splitlines()[0]
    names = lambda t: sorted(tuple(ln.split(",")[:2]) for ln in t.splitlines()[1:] if ln)  # noqa: E731
    assert names(csv) == names(sock)


async def test_admin_action_drain_then_ready(instance) -> None:
    async with StatsPage(instance.stats_url) as page:
        result = await page.admin("be_other", ["other1"], "drain")
        assert result.code == "DONE"
        assert await _status(instance, "be_other", "other1") in ("DRAIN", "no check")
        state = await RuntimeClient(instance.admin).run("show servers state be_other")
        admin_state = int(state.splitlines()[2].split()[6])
        assert admin_state & 0x08, state
        result = await page.admin("be_other", ["other1"], "ready")
        assert result.code == "DONE"
        state = await RuntimeClient(instance.admin).run("show servers state be_other")
        assert not int(state.splitlines()[2].split()[6]) & 0x08


async def test_admin_action_validates_before_sending(instance) -> None:
    async with StatsPage(instance.stats_url) as page:
        with pytest.raises(errors.ValidationError):
            await page.admin("be_other", ["other1&action=maint"], "drain")
        with pytest.raises(errors.ValidationError):
            await page.admin("be_other", ["other1"], "destroy")


async def test_wrong_path_is_clear(instance) -> None:
    async with StatsPage(instance.stats_url.replace("/stats", "/nope")) as page:
        with pytest.raises(errors.HAProxyError) as exc:
            await page.fetch_csv()
    assert "/nope" in str(exc.value)


async def test_refused_is_clear() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with StatsPage(f"http://127.0.0.1:{port}/stats") as page:
        with pytest.raises(errors.ConnectionRefused) as exc:
            await page.fetch_csv()
    assert str(port) in str(exc.value)


async def test_basic_auth(instance) -> None:
    async with StatsPage(instance.stats_auth_url) as page:
        with pytest.raises(errors.PermissionDenied) as exc:
            await page.fetch_csv()
    assert "user and password" in str(exc.value)
    async with StatsPage(instance.stats_auth_url, "ops", "wrong") as page:
        with pytest.raises(errors.PermissionDenied):
            await page.fetch_csv()
    async with StatsPage(instance.stats_auth_url, "ops", "s3cret") as page:
        assert (await page.fetch_csv()).startswith("# pxname,")
    url = instance.stats_auth_url.replace("http://", "http://ops:s3cret@")
    async with StatsPage(url) as page:
        assert "ops" not in page.url  # credentials are not kept in the URL shown to people
        assert (await page.fetch_csv()).startswith("# pxname,")
