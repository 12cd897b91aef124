"""A steady, rate-limited mix of requests towards the lab's frontends, so counters move."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_RATE = 20.0  # requests per second
MAX_RATE = 200.0
MAX_IN_FLIGHT = 64
CONNECT_TIMEOUT = 2.0
ANSWER_TIMEOUT = 10.0


@dataclass(frozen=True)
class Request:
    frontend: str  # "fe_web" or "fe_api"
    method: str
    path: str
    host: str
    body: bytes = b""


def _pick(rng: random.Random) -> Request:
    """One request from a fixed mix: pages, static files, API calls, some 404s."""
    n = rng.randint(1, 500)
    web: list[tuple[int, Request]] = [
        (5, Request("fe_web", "GET", "/", "www.lab.local")),
        (4, Request("fe_web", "GET", f"/products/{n}", "shop.lab.local")),
        (3, Request("fe_web", "GET", rng.choice(("/static/app.js", "/static/site.css",
                                                 "/static/logo.png")), "www.lab.local")),
        (2, Request("fe_web", "GET", f"/img/{n}.jpg", "cdn.lab.local")),
        (1, Request("fe_web", "GET", "/v1/status", "api.lab.local")),
        (1, Request("fe_web", "GET", f"/missing/{n}", "www.lab.local")),
        (1, Request("fe_web", "HEAD", "/", "other.example")),
    ]
    api: list[tuple[int, Request]] = [
        (4, Request("fe_api", "GET", "/v1/users", "api.lab.local")),
        (3, Request("fe_api", "GET", f"/v1/orders/{n}", "api.lab.local")),
        (2, Request("fe_api", "POST", "/v1/orders", "api.lab.local",
                    f'{{"item": {n}, "quantity": {rng.randint(1, 5)}}}'.encode())),
        (1, Request("fe_api", "DELETE", f"/v1/sessions/{n}", "api.lab.local")),
        (1, Request("fe_api", "GET", "/v1/missing", "api.lab.local")),
    ]
    pool = web if rng.random() < 0.6 else api
    return rng.choices([r for _, r in pool], weights=[w for w, _ in pool])[0]


ABUSER = "127.0.0.2"  # the abusive client's source address (loopback, Linux)
ABUSE_PATH_MAX = 200


def check_abuse_path(path: str) -> str:
    if (not path.startswith("/") or len(path) > ABUSE_PATH_MAX
            or not all(33 <= ord(c) < 127 for c in path)):
        raise ValueError("the path starts with / and is printable ASCII without spaces, "
                         f"at most {ABUSE_PATH_MAX} characters")
    return path


class Traffic:
    """Sends requests at about *rate* per second until stopped; never raises on failures."""

    def __init__(self, ports: dict[str, int], rate: float = DEFAULT_RATE,
                 seed: int | None = None) -> None:
        self.ports = ports
        self.rate = rate
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        # the abusive client: GET abuse_path on fe_web from ABUSER, abuse_rate per second
        self.abuse_path = "/"
        self.abuse_rate = 0.0
        self._abuse_task: asyncio.Task[None] | None = None

    def set_rate(self, rate: float) -> None:
        if not 0 <= rate <= MAX_RATE:
            raise ValueError(f"rate must be between 0 and {MAX_RATE:g}")
        self.rate = rate

    def set_abuse(self, path: str, rate: float) -> None:
        """An abusive client hammering *path* on fe_web from ABUSER (rate 0 stops it)."""
        if not 0 <= rate <= MAX_RATE:
            raise ValueError(f"rate must be between 0 and {MAX_RATE:g}")
        self.abuse_path = check_abuse_path(path)
        self.abuse_rate = rate
        if rate > 0 and self._abuse_task is None and self._task is not None:
            self._abuse_task = asyncio.create_task(self._abuse(), name="lab-abuse")

    def summary(self) -> str:
        c = self.counts
        text = (f"rate={self.rate:g}/s sent={c['sent']} 2xx={c['2xx']} 3xx={c['3xx']} "
                f"4xx={c['4xx']} 5xx={c['5xx']} failed={c['failed']}")
        if self.abuse_rate or c["abuse_sent"]:
            text += (f" abuse={self.abuse_rate:g}/s from {ABUSER} on {self.abuse_path} "
                     f"sent={c['abuse_sent']} 2xx={c['abuse_2xx']} 4xx={c['abuse_4xx']}")
        return text

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="lab-traffic")

    async def stop(self) -> None:
        abuse, self._abuse_task = self._abuse_task, None
        if abuse is not None:
            abuse.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await abuse
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for t in list(self._in_flight):
            t.cancel()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._in_flight.clear()

    async def _run(self) -> None:
        while True:
            if self.rate <= 0:
                await asyncio.sleep(0.5)
                continue
            if len(self._in_flight) < MAX_IN_FLIGHT:
                task = asyncio.create_task(self._send(_pick(self._rng)))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            else:
                self.counts["skipped"] += 1
            await asyncio.sleep(self._rng.uniform(0.5, 1.5) / self.rate)

    async def _abuse(self) -> None:
        while True:
            if self.abuse_rate <= 0:
                await asyncio.sleep(0.5)
                continue
            if len(self._in_flight) < MAX_IN_FLIGHT:
                req = Request("fe_web", "GET", self.abuse_path, "www.lab.local")
                task = asyncio.create_task(self._send(req, source=ABUSER, prefix="abuse_"))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            await asyncio.sleep(1.0 / self.abuse_rate)

    async def _send(self, req: Request, source: str | None = None, prefix: str = "") -> None:
        self.counts[prefix + "sent"] += 1
        try:
            status = await asyncio.wait_for(self._exchange(req, source), ANSWER_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except (TimeoutError, OSError, EOFError, ValueError):
            self.counts[prefix + "failed"] += 1
            return
        except Exception:  # noqa: BLE001 - traffic must keep flowing whatever happens
            log.exception("traffic: unexpected error")
            self.counts[prefix + "failed"] += 1
            return
        self.counts[f"{prefix}{status // 100}xx"] += 1

    async def _exchange(self, req: Request, source: str | None = None) -> int:
        port = self.ports[req.frontend]
        local = (source, 0) if source else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=local), CONNECT_TIMEOUT)
        try:
            head = [f"{req.method} {req.path} HTTP/1.1", f"Host: {req.host}",
                    "User-Agent: haconsole-lab", "Accept: */*", "Connection: close"]
            if req.body:
                head += ["Content-Type: application/json", f"Content-Length: {len(req.body)}"]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + req.body)
            await writer.drain()
            line = await reader.readline()
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise EOFError("no status line")
            status = int(parts[1])
            while await reader.read(65536):
                pass
            return status
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
