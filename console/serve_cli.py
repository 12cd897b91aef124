"""``haconsole serve``: the console in a browser, for a room, as a read-only spectator.

Each browser that opens the page gets its own console process (``textual-serve`` runs
``haconsole --spectator`` with the instance's options and relays its screen over a
websocket). A spectator console offers no change at all: no runtime action, no
counter clearing, no configuration change, no block; its header says "spectator", and
it writes nothing on the serving host (no mark kept, no export, no theme saved).

- It binds to 127.0.0.1 unless ``--host`` says otherwise (a warning then says that
  anyone with the URL can watch).
- A token is drawn for each run (``secrets``, 192 bits); the page and the websocket
  answer 403 without it. The first line printed is the full URL, token included; it is
  printed once the server listens, so the URL answers as soon as it is shown.
- ``--port 0`` (the default) takes a free port: the socket is bound before the URL is
  made, so no other program can take the port in between.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import re
import secrets
import shlex
import socket
import sys
from typing import Any

from console.haproxy.errors import ValidationError
from console.haproxy.safe_text import visible
from console.instance import ExitStatus

log = logging.getLogger("haconsole.serve")

DEFAULT_HOST = "127.0.0.1"
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9.-]{1,253}$")
FORBIDDEN = ("haconsole: watching needs the token: open the full URL that "
             "'haconsole serve' printed\n")
# the instance options passed on to each spectator console (option, attribute)
PASSED_ON = (("-s", "socket"), ("-m", "master"), ("--url", "url"), ("--ssh", "ssh"),
             ("--ssh-config", "ssh_config"), ("--settings", "settings"),
             ("--interval", "interval"), ("--theme", "theme"), ("--log-file", "log_file"),
             ("--log-journal", "log_journal"))


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="the console in a browser for a room: read-only "
                       "spectators, a token in the URL")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")


def check_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _HOSTNAME_RE.match(host) or host.startswith(("-", ".")):
        raise ValidationError(f"--host: not an address or a host name: {visible(host)!r}",
                              "--host", "e.g. 127.0.0.1, 0.0.0.0 or a host name")
    return host


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to *host*:*port* (0: a free port), ready for the server."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValidationError(f"--host: cannot resolve {visible(host)!r}: {exc.strerror}",
                              "--host", "give an address, e.g. 127.0.0.1") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ValidationError(f"cannot listen on {visible(host)} port {port}: {exc.strerror}",
                              "--port", "choose another --port, or 0 for a free one") from exc
    sock.setblocking(False)
    return sock


def spectator_command(args: argparse.Namespace) -> str:
    """The command each browser's console runs (for ``/bin/sh -c``, every part quoted)."""
    argv = [sys.executable, "-m", "console"]
    for option, attr in PASSED_ON:
        value = getattr(args, attr, None)
        if value is not None:
            argv += [option, str(value)]
    for path in getattr(args, "config", None) or []:
        argv += ["-c", path]
    if getattr(args, "instance", None):
        argv += ["-i", args.instance]
    argv.append("--spectator")
    return shlex.join(argv)


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def make_server(command: str, host: str, port: int, token: str, title: str) -> Any:
    """The textual-serve server, with the token checked on the page and the websocket.

    Its ``serve_on(sock, ready)`` serves on an already bound socket and calls *ready*
    once the server accepts connections."""
    import asyncio
    import signal

    import aiohttp_jinja2
    import jinja2
    from aiohttp import web
    from textual_serve.server import Server

    class SpectatorServer(Server):
        def initialize_logging(self) -> None:
            pass  # the console's own log; nothing printed over the URL line

        async def on_startup(self, app: web.Application) -> None:
            log.info("serving %s on %s", command, self.public_url)

        def allowed(self, given: str) -> bool:
            return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                       token.encode())

        async def _make_app(self) -> web.Application:
            app = web.Application()
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
            app.add_routes([
                web.get("/", self.index, name="index"),
                web.get("/ws/{token}", self.websocket, name="websocket"),
                web.static("/static", self.statics_path, name="static"),
            ])
            app.on_startup.append(self.on_startup)
            app.on_shutdown.append(self.on_shutdown)
            return app

        async def index(self, request: web.Request) -> web.StreamResponse:
            if not self.allowed(request.query.get("token", "")):
                raise web.HTTPForbidden(text=FORBIDDEN)
            router = request.app.router
            ws = f"{self.public_url}{router['websocket'].url_for(token=token)}"
            context = {
                "font_size": 16,
                "app_websocket_url": "ws:" + ws.split(":", 1)[1],
                "config": {"static": {"url": f"{self.public_url}"
                                             f"{router['static'].url_for(filename='/')}"
                                             .rstrip("/") + "/"}},
                "application": {"name": self.title},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        async def websocket(self, request: web.Request) -> web.StreamResponse:
            if not self.allowed(request.match_info.get("token", "")):
                raise web.HTTPForbidden(text=FORBIDDEN)
            return await self.handle_websocket(request)

        def serve_on(self, sock: socket.socket, ready: Any) -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_exit)
            # aiohttp calls print once every site listens: that is when the URL works
            web.run_app(self._make_app(), sock=sock, handle_signals=False, loop=loop,
                        print=lambda *_: ready())

    return SpectatorServer(command, host=host, port=port, title=title,
                           public_url=f"http://{url_host(host)}:{port}")


def run(args: argparse.Namespace) -> int:
    from console.cli import NOTHING_FOUND, resolve_target

    try:
        import textual_serve  # noqa: F401
    except ImportError:
        print("haconsole: serving to browsers needs textual-serve: "
              "pip install 'haconsole[serve]'", file=sys.stderr)
        return ExitStatus.USAGE
    host = check_host(args.host)
    if not 0 <= args.port <= 65535:
        raise ValidationError("--port must be 0 to 65535", "--port")
    target = resolve_target(args)
    if not (target.socket or target.url):
        print(f"haconsole: {NOTHING_FOUND}", file=sys.stderr)
        return ExitStatus.ERROR
    sock = listening_socket(host, args.port)
    port = int(sock.getsockname()[1])
    token = secrets.token_urlsafe(24)
    command = spectator_command(args)

    def ready() -> None:
        print(f"http://{url_host(host)}:{port}/?token={token}", flush=True)
        print(visible(f"haconsole: serving {target.name} to browsers as a read-only "
                      "spectator console; ctrl+c stops"), file=sys.stderr, flush=True)
        if not loopback(host):
            print(visible(f"haconsole: warning: listening on {host}: anyone who can reach "
                          "it and has the URL can watch"), file=sys.stderr, flush=True)

    try:
        make_server(command, host, port, token,
                    title=f"haconsole — {target.name} (spectator)").serve_on(sock, ready)
    finally:
        sock.close()
    return ExitStatus.OK
