"""``haconsole lab``: the lab headless, or the lab with the console opened on it.

With the console, the lab runs as a child process (``haconsole lab --no-ui``)
so the TUI and the lab's backends do not share an event loop, and the lab is
stopped when the console exits, however it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from console.haproxy.errors import HAProxyError, NotFound
from console.settings import DEFAULT_INTERVAL

LAB_START_TIMEOUT = 60.0


def describe(info: dict) -> str:
    lines = [
        f"HAProxy lab is running in {info.get('dir')}",
        f"  haproxy        {info.get('haproxy')} ({info.get('haproxy_version')}, "
        f"{info.get('haproxy_origin', '?')})",
        f"  admin socket   {info.get('admin_socket')}",
        f"  master socket  {info.get('master_socket')}",
        f"  config         {info.get('config')}",
        f"  stats page     {info.get('stats_url')}",
    ]
    for name, url in (info.get("frontends") or {}).items():
        lines.append(f"  frontend       {name} {url}")
    lines.append("  try:           " + shlex.join(["haconsole", "-s", str(info.get("admin_socket")),
                                                   "show", "stat"]))
    return "\n".join(lines)


def run_headless(directory: str | None, haproxy: str | None) -> int:
    from console.haproxy.lab import run_lab

    def announce(info: dict) -> None:
        print(describe(info), flush=True)
        print("Stop with Ctrl-C (SIGINT) or SIGTERM.", flush=True)

    return run_lab(directory, haproxy, announce=announce)


def start_child(directory: str, haproxy: str | None) -> subprocess.Popen[bytes]:
    lab_json = Path(directory, "lab.json")
    lab_json.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "console", "lab", "--no-ui", "--dir", directory]
    if haproxy:
        cmd += ["--haproxy", haproxy]
    from console.haproxy.children import die_with_parent

    log = open(Path(directory, "lab-console.log"), "ab")  # noqa: SIM115 - owned by the child
    # killed with the console (SIGTERM or SIGKILL to `haconsole lab`), the lab stops too
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=die_with_parent)  # noqa: PLW1509


def wait_ready(child: subprocess.Popen[bytes], directory: str) -> dict:
    lab_json = Path(directory, "lab.json")
    deadline = time.monotonic() + LAB_START_TIMEOUT
    while time.monotonic() < deadline:
        if lab_json.exists():
            try:
                return json.loads(lab_json.read_text())
            except (OSError, ValueError):
                pass
        if child.poll() is not None:
            break
        time.sleep(0.1)
    tail = ""
    try:
        tail = Path(directory, "lab-console.log").read_text(errors="replace")[-1500:]
    except OSError:
        pass
    raise HAProxyError("the lab did not start", directory,
                       f"its log says:\n{tail.strip()}" if tail.strip() else "see its log")


def stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def run_with_console(args: argparse.Namespace) -> int:
    directory = args.dir or tempfile.mkdtemp(prefix="haconsole-lab-")
    os.makedirs(directory, exist_ok=True)
    child = start_child(os.path.abspath(directory), args.haproxy)
    try:
        info = wait_ready(child, os.path.abspath(directory))
        from console.instance import Target
        from console.ui.app import run_app

        target = Target(name="lab", socket=info["admin_socket"], master=info["master_socket"],
                        config=info["config"], url=info.get("stats_url"),
                        haproxy=info.get("haproxy"), interval=args.interval or DEFAULT_INTERVAL,
                        read_only=args.read_only)
        target.notes.append(f"lab: HAProxy {info.get('haproxy_version')} "
                            f"({info.get('haproxy_origin', '?')}) in {directory}")
        from console.cli import _log_source

        target.log_file, target.log_journal = _log_source(args)
        return run_app(target, theme=args.theme, triage=getattr(args, "triage", False))
    except NotFound:
        raise
    finally:
        stop_child(child)
