"""What some HAProxy versions do differently, or wrongly, with a runtime change.

* 3.4 requires level admin for every map and ACL command (``show map`` included);
  up to 3.3 they have no level check (operator is enough).
* 3.4.0: ``clear counters all`` while the worker serves traffic makes it crash
  (segfault, exit 139), and with it the whole master-worker process tree. Seen on
  every try here with the lab's traffic; ``clear counters`` (max values only) does
  not. The console refuses to send it to that version.
* 2.6.12 (Debian 12's): ``set maxconn frontend`` while that frontend is at its limit
  (sessions = maxconn, status FULL) makes the worker abort (SIGABRT), and with it the
  whole master-worker process tree. Seen in the lab's frontend-full drill. The console
  refuses it on that version while the frontend is at its limit; raise the limit in
  the file and reload instead.
"""

from __future__ import annotations

import re

from console.haproxy.binaries import version_branch as branch

MAP_ACL_KINDS = frozenset({"map_add", "map_set", "map_del", "acl_add", "acl_del"})

# (action kind, exact version prefix) -> why it is refused
_CRASHES: dict[tuple[str, str], str] = {
    ("clear_counters_all", "3.4.0"): (
        "HAProxy 3.4.0's worker crashes (segfault) on 'clear counters all' while it "
        "serves traffic, which stops the whole HAProxy"),
}
_CRASH_HINT = ("use 'clear counters' (max values only) or an incident mark (deltas without "
               "clearing), or upgrade HAProxy past 3.4.0")
# The same, only while the frontend is at its limit: (why, hint)
_CRASHES_AT_LIMIT: dict[tuple[str, str], tuple[str, str]] = {
    ("frontend_maxconn", "2.6.12"): (
        "HAProxy 2.6.12's worker aborts (SIGABRT) on 'set maxconn frontend' while that "
        "frontend is at its limit, which stops the whole HAProxy",
        "raise maxconn in the configuration file and reload (haconsole config edit, then "
        "config apply), or wait until the frontend is below its limit"),
}


def _release(version: str) -> str:
    m = re.match(r"[0-9]+\.[0-9]+\.[0-9]+", version)
    return m.group(0) if m else version


def admin_only(kind: str, version: str | None) -> bool:
    """Whether this version requires level admin for *kind* where older ones did not."""
    b = branch(version)
    return kind in MAP_ACL_KINDS and b is not None and b >= (3, 4)


def crash_risk(kind: str, version: str | None, *,
               at_limit: bool = False) -> tuple[str, str] | None:
    """``(why, hint)`` when sending *kind* to this version is known to crash it
    (*at_limit*: its frontend is at its maxconn)."""
    if not version:
        return None
    why = _CRASHES.get((kind, _release(version)))
    if why:
        return why, _CRASH_HINT
    return _CRASHES_AT_LIMIT.get((kind, _release(version))) if at_limit else None
