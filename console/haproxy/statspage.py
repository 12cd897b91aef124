"""The HTTP stats page as a transport: ``;csv`` reads and admin POST actions."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from console.haproxy.errors import (
    CommandRejected,
    ConnectError,
    ConnectionRefused,
    HAProxyError,
    NoSuchObject,
    ParseError,
    PermissionDenied,
    Timeout,
    ValidationError,
)
from console.haproxy.limits import TIMEOUT_HINT, too_large
from console.haproxy.limits import current as current_limits
from console.haproxy.validate import check_name

ADMIN_ACTIONS = (
    "ready", "drain", "maint", "dhlth", "ehlth", "hrunn", "hnolb", "hdown",
    "dagent", "eagent", "arunn", "adown", "shutdown",
)

# Answer codes in the `;st=CODE` of the 303 redirect after an admin POST.
ST_CODES = {
    "DONE": "done",
    "PART": "done for some servers only",
    "NONE": "nothing to do",
    "ERRP": "HAProxy rejected the request (invalid parameters)",
    "EXCD": "refused: the action exceeds what the stats page allows",
    "DENY": "denied: the stats page has no admin rights for this client ('stats admin if ...')",
    "UNKN": "unexpected error",
    "IVAL": "invalid action",
}


@dataclass(frozen=True)
class AdminResult:
    code: str
    message: str

    @property
    def ok(self) -> bool:
        return self.code in ("DONE", "PART", "NONE")


def _with_suffix(url: str, suffix: str) -> str:
    """Insert ``;csv`` (or another ``;`` option) before the query string."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path + suffix, parts.query, ""))


def _refused(exc: BaseException) -> bool:
    """Whether an httpx connect error comes from a refused connection."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        if isinstance(seen, BaseExceptionGroup):
            return any(_refused(e) for e in seen.exceptions)
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True)
class Answer:
    """A stats page answer, read whole (and capped)."""

    status_code: int
    headers: httpx.Headers
    body: bytes

    @property
    def text(self) -> str:
        charset = "utf-8"
        content_type = self.headers.get("content-type", "")
        m = re.search(r"charset=([\w.-]+)", content_type, re.I)
        if m:
            charset = m.group(1)
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")


class StatsPage:
    """Client for HAProxy's stats page (``stats uri``), with optional basic auth.

    Each request (connect, send, read the whole answer) must end within *timeout*
    seconds in total, and an answer larger than *max_answer* bytes is refused; both
    default to the process-wide :mod:`~console.haproxy.limits`.
    """

    def __init__(self, url: str, user: str | None = None, password: str | None = None,
                 *, timeout: float | None = None, max_answer: int | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(f"invalid stats URL {url!r}",
                                  hint="give a URL such as http://127.0.0.1:8404/stats")
        if parts.username and user is None:
            user, password = parts.username, parts.password or ""
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        self.url = url
        limits = current_limits()
        self.timeout = limits.timeout if timeout is None else timeout
        self.max_answer = limits.max_answer if max_answer is None else max_answer
        self._auth = (user, password or "") if user else None
        self._client = httpx.AsyncClient(timeout=self.timeout, auth=self._auth,
                                         follow_redirects=False, transport=transport)

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> StatsPage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(self, method: str, url: str, **kwargs: object) -> Answer:
        """One request under one total deadline, its body read in chunks up to the cap."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._read(method, url, **kwargs)
        except TimeoutError:
            raise Timeout(f"no complete answer from the stats page within {self.timeout:g} s",
                          url, TIMEOUT_HINT) from None
        except httpx.ConnectTimeout:
            raise Timeout("no connection to the stats page", url,
                          "check the address; HAProxy may be overloaded") from None
        except httpx.TimeoutException:
            raise Timeout("the stats page did not answer in time", url, TIMEOUT_HINT) from None
        except httpx.ConnectError as exc:
            if _refused(exc):
                raise ConnectionRefused("connection refused by the stats page", url,
                                        "is HAProxy running, and is the port right?") from None
            raise ConnectError(f"cannot reach the stats page: {exc}", url,
                               "check the URL") from None
        except httpx.HTTPError as exc:
            raise ConnectError(f"HTTP error talking to the stats page: {exc}", url) from None

    async def _read(self, method: str, url: str, **kwargs: object) -> Answer:
        async with self._client.stream(method, url, **kwargs) as resp:  # type: ignore[arg-type]
            declared = resp.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > self.max_answer:
                raise too_large("the stats page request", url, self.max_answer)
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > self.max_answer:
                    raise too_large("the stats page request", url, self.max_answer)
            return Answer(resp.status_code, resp.headers, bytes(body))

    def _check_status(self, resp: Answer, url: str) -> None:
        if resp.status_code == 401:
            raise PermissionDenied("the stats page asks for a user and password", url,
                                   "give them in the URL (http://user:pass@host/stats) or "
                                   "in the settings (stats_user, stats_password)")
        if resp.status_code == 403:
            raise PermissionDenied("the stats page refused access (403)", url)
        if resp.status_code == 404:
            raise NoSuchObject("no stats page at that URL (404)", url,
                               "check the path against 'stats uri' in the config")
        if resp.status_code >= 400:
            raise CommandRejected(f"the stats page answered HTTP {resp.status_code}", url)

    async def fetch_csv(self) -> str:
        """The same CSV as ``show stat``."""
        url = _with_suffix(self.url, ";csv;norefresh")
        resp = await self._request("GET", url)
        self._check_status(resp, url)
        text = resp.text
        if not text.startswith("# pxname,"):
            raise ParseError("the stats page did not return CSV", url,
                             "is this URL really HAProxy's stats page ('stats uri')?")
        return text

    async def fetch_stat(self) -> list[dict[str, str]]:
        from console.haproxy.parsers import parse_stat

        return parse_stat(await self.fetch_csv())

    async def admin(self, backend: str, servers: list[str], action: str) -> AdminResult:
        """Send an admin action, like the stats page's form does."""
        if action not in ADMIN_ACTIONS:
            raise ValidationError(f"unknown stats page action {action!r}",
                                  hint=f"one of: {', '.join(ADMIN_ACTIONS)}")
        check_name(backend, "backend name")
        if not servers:
            raise ValidationError("no server given for the stats page action")
        for s in servers:
            check_name(s, "server name")
        data = urlencode([("s", s) for s in servers] + [("action", action), ("b", backend)])
        parts = urlsplit(self.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        resp = await self._request("POST", self.url, content=data.encode(), headers={
            "Origin": origin, "Referer": self.url,
            "Content-Type": "application/x-www-form-urlencoded"})
        self._check_status(resp, self.url)
        location = resp.headers.get("location", "")
        m = re.search(r";st=([A-Z]+)", location)
        if resp.status_code != 303 or not m:
            raise CommandRejected(
                f"unexpected answer from the stats page (HTTP {resp.status_code})", self.url,
                "is 'stats admin' enabled for this client?")
        code = m.group(1)
        result = AdminResult(code, ST_CODES.get(code, code))
        if code == "DENY":
            raise PermissionDenied(result.message, self.url,
                                   "add 'stats admin if ...' for this client in the config")
        if not result.ok:
            raise CommandRejected(f"stats page action {action!r} failed: {result.message}",
                                  self.url)
        return result


__all__ = ["ADMIN_ACTIONS", "AdminResult", "HAProxyError", "StatsPage"]
