"""A node's configuration files, read and written over SSH, with a local mirror.

The config pipeline (staging, ``haproxy -c``, history, atomic write, server state,
reload, verify, rollback) works on files. For a node reached over SSH it works on a
**mirror**: a private local copy of the node's ``-f`` files under haconsole's state
directory (``nodes/NAME/root`` + the path on the node). Staging, the diff and the
history are kept there, on the engineer's side. Whatever has an effect happens on the
node, through :class:`NodeFiles`:

* :meth:`NodeFiles.sync` copies the node's files into the mirror (every command starts
  with it, so a change made on the node since is seen, and a staged change becomes
  stale exactly as for a local file);
* the candidate is written to a ``mktemp`` file next to the live file on the node
  (owner and mode of the live file, synced) and checked there with the node's binary
  and the service's other ``-f`` files;
* the replace is a ``mv`` on the node, refused when the live file's sha256 is no longer
  the one the change was made on; the directory is synced after it;
* the node's ``systemctl`` or reload command runs on the node.

Nothing is installed on the node: every command is a fixed POSIX ``sh`` script using
coreutils only (``mktemp``, ``cat``, ``chmod``/``chown --reference``, ``sync``,
``sha256sum``, ``mv``, ``stat``, ``readlink``), with every path passed as an argument
(never pasted into the script), run with ``sudo -n`` when the instance says so. A
sudo that would ask for a password is a clear refusal. Every answer is bounded in
size and time.
"""

from __future__ import annotations

import base64
import os
import re
import selectors
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from console.haproxy.atomic import WriteError, sha256, write_private
from console.haproxy.binaries import Binary, parse_build_info
from console.haproxy.errors import HAProxyError, NotFound
from console.haproxy.ssh import SSHError, SSHNode, check_remote_path, explain

MAX_FILE = 64 * 1024 * 1024  # a config file larger than this is refused
MAX_OUTPUT = 8 * 1024 * 1024  # other answers (haproxy -c, systemctl)
TIMEOUT = 60.0
TEMP_PREFIX = ".haconsole."
DEFAULT_BINARY = "/usr/sbin/haproxy"  # Debian's and Ubuntu's
_VERSION_RE = re.compile(r"(?:HAProxy|HA-Proxy) version (\S+)")

# The scripts. "$@" holds the paths; nothing is interpolated into the text.
READ = '[ -e "$1" ] || exit 3; [ -f "$1" ] || exit 4; exec cat -- "$1"'
KIND = 'if [ -d "$1" ]; then echo dir; elif [ -f "$1" ]; then echo file; ' \
    'elif [ -e "$1" ]; then echo other; else echo none; fi'
LIST_CFG = 'for f in "$1"/*.cfg; do [ -f "$f" ] && printf "%s\\0" "$f"; done; exit 0'
WRITE_TEMP = r"""
real=$1
[ -f "$real" ] || { echo "not a regular file" >&2; exit 3; }
t=$(mktemp "$(dirname -- "$real")/.haconsole.XXXXXXXXXX") || exit 4
trap 'rm -f -- "$t"' EXIT HUP INT TERM
cat > "$t" || exit 5
chown --reference="$real" -- "$t" 2>/dev/null || \
  { [ "$(stat -c %u:%g -- "$real")" = "$(stat -c %u:%g -- "$t")" ] || exit 6; }
chmod --reference="$real" -- "$t" || exit 7
sync -- "$t" 2>/dev/null || sync
trap - EXIT HUP INT TERM
printf '%s\n' "$t"
"""
REPLACE = r"""
t=$1 real=$2 want=$3
case "$t" in */.haconsole.*) ;; *) exit 9 ;; esac
if [ "$want" != - ]; then
  have=$(sha256sum -- "$real" | cut -d' ' -f1)
  [ "$have" = "$want" ] || { rm -f -- "$t"; exit 5; }
fi
mv -f -- "$t" "$real" || { rm -f -- "$t"; exit 6; }
sync -- "$(dirname -- "$real")" 2>/dev/null || sync
stat -c '%A %U:%G' -- "$real"
"""
DIGESTS = r"""
i=0
for p in "$@"; do
  i=$((i+1))
  if [ -d "$p" ]; then
    for f in "$p"/*.cfg; do
      [ -f "$f" ] || continue
      h=$(sha256sum < "$f") || exit 3
      printf '%s\0%s\0%s\0' "$i" "$f" "${h%% *}"
    done
  elif [ -f "$p" ]; then
    h=$(sha256sum < "$p") || exit 3
    printf '%s\0%s\0%s\0' "$i" "$p" "${h%% *}"
  else
    exit 4
  fi
done
"""
DISCARD = 'case "$1" in */.haconsole.*) exec rm -f -- "$1" ;; esac; exit 9'
IN_DIR = 'cd -- "$1" || exit 126; shift; exec "$@"'
PROCESS = r"""
p=$1
for f in cmdline environ; do base64 -w0 < "/proc/$p/$f" 2>/dev/null; echo; done
for l in cwd exe; do readlink "/proc/$p/$l" 2>/dev/null | base64 -w0; echo; done
uname -n | base64 -w0; echo
"""

_WRITE_ERRORS = {
    3: ("the config file on the node is not a regular file", "check the path"),
    4: ("cannot create a temp file next to the config on the node",
        "the directory must be writable (run with sudo = true in the instance?)"),
    5: ("cannot write the temp file on the node", "the disk may be full: check df"),
    6: ("cannot keep the file's owner on the node", "run with sudo = true in the instance"),
    7: ("cannot keep the file's mode on the node", "check the directory's permissions"),
}
_SUDO_PROMPT = re.compile(r"sudo: (a password is required|a terminal is required|"
                          r"[0-9]+ incorrect password|no tty present)")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass
class Process:
    """A process on the node, as ``/proc`` shows it (None: not readable)."""

    cmdline: bytes | None
    environ: bytes | None
    cwd: str | None
    exe: str | None
    host: str


@dataclass
class Done:
    """A node-side command's end: exit status, output (bounded), error text."""

    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")


def _bounded(argv: list[str], data: bytes, timeout: float, cap: int,
             where: str) -> tuple[int | None, bytes, bytes, bool]:
    """Run *argv* feeding *data*; ``(code, out, err, timed_out)`` with both outputs
    capped (more than *cap* bytes is a refusal: the process is killed)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin and proc.stdout and proc.stderr

    def feed() -> None:
        try:
            if data:
                proc.stdin.write(data)  # type: ignore[union-attr]
        except OSError:
            pass
        finally:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    sel = selectors.DefaultSelector()
    for stream in bufs:
        sel.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    timed_out = too_big = False
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(min(left, 1.0)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = bufs[key.fileobj]  # type: ignore[index]
                buf += chunk
                if len(buf) > cap:
                    too_big = True
                    break
            if too_big:
                break
    finally:
        sel.close()
        if timed_out or too_big:
            proc.kill()
        try:
            code = proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        writer.join(1)
    if too_big:
        from console.haproxy.limits import too_large

        raise too_large("an answer from the node", where, cap)
    return (None if timed_out else code), bytes(bufs[proc.stdout]), \
        bytes(bufs[proc.stderr]), timed_out


@dataclass
class NodeFiles:
    """The files of one node, over its SSH connection, mirrored under *mirror_root*."""

    node: SSHNode
    mirror_root: str
    name: str = ""  # the instance, for messages ("lb1:/etc/haproxy/haproxy.cfg")
    synced: dict[str, str] = field(default_factory=dict)  # node path -> sha256 at sync
    _versions: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def for_instance(cls, node: SSHNode, name: str, state_dir: str) -> NodeFiles:
        """The mirror of instance *name* under *state_dir*/nodes (private directories)."""
        safe = name if _SAFE_NAME.fullmatch(name) and name not in (".", "..") \
            else "h-" + sha256(name.encode())[:16]
        root = os.path.join(state_dir, "nodes", safe, "root")
        for d in (os.path.join(state_dir, "nodes"), os.path.dirname(root), root):
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
            except OSError as exc:
                raise WriteError(f"cannot create the node mirror: {exc.strerror}", d,
                                 "check haconsole's state directory") from None
            if os.path.islink(d) or not os.path.isdir(d):
                raise WriteError("refused: the node mirror is not a directory", d,
                                 "remove it; haconsole creates it again")
        return cls(node, root, name or node.host)

    # -- paths -------------------------------------------------------------------------

    def where(self, path: str) -> str:
        """``lb1:/etc/haproxy/haproxy.cfg`` for a path on the node or in the mirror."""
        return f"{self.name}:{self.remote(path)}"

    def in_mirror(self, path: str) -> bool:
        """Whether *path* is a file or directory of the mirror."""
        return any(path == root or path.startswith(root + "/") for root in self._roots())

    def said(self, text: str) -> str:
        """*text* with every mirror path in it said as the node's
        (``…/nodes/lb1/root/etc/haproxy/haproxy.cfg`` → ``lb1:/etc/haproxy/haproxy.cfg``)."""
        for root in self._roots():
            text = text.replace(root + "/", f"{self.name}:/")
        return text

    def _roots(self) -> list[str]:
        """The mirror's root as given and with its symlinks resolved (the pipeline
        resolves paths: a state directory under a symlink appears both ways)."""
        root = self.mirror_root.rstrip("/")
        if not root:
            return []
        real = os.path.realpath(root)
        return [root] if real == root else [root, real]

    def mirror(self, remote: str) -> str:
        """The mirror's path for the node's absolute path *remote*."""
        check_remote_path(remote, "config")
        norm = os.path.normpath(remote)
        if norm != remote.rstrip("/") and norm != remote or ".." in norm.split("/"):
            raise SSHError(f"refused an unusual path on the node: {remote!r}", self.name,
                           "give the plain absolute path (no '..', no '//')")
        return os.path.join(self.mirror_root, norm.lstrip("/"))

    def remote(self, path: str) -> str:
        """The node's path for a mirror path (other paths are returned as they are)."""
        for root in self._roots():
            if path.startswith(root + "/"):
                return path[len(root):]
            if path == root:
                return "/"
        return path

    # -- running -----------------------------------------------------------------------

    def run(self, argv: list[str], *, data: bytes = b"", timeout: float = TIMEOUT,
            cap: int = MAX_OUTPUT, what: str = "a command") -> Done:
        """Run *argv* on the node (with ``sudo -n`` when the node says so).

        An ssh failure (exit 255), a sudo that would prompt, a timeout or an answer
        over *cap* raise :class:`SSHError`; any other exit status is returned.
        """
        self.node.ensure()
        where = f"{self.name} ({what})"
        try:
            code, out, err, timed_out = _bounded(self.node.command(argv), data, timeout, cap,
                                                 where)
        except OSError as exc:
            raise SSHError(f"cannot run ssh for {self.name}: {exc.strerror}", self.name,
                           "check that ssh is installed") from None
        text = err.decode("utf-8", "replace")
        if timed_out:
            raise SSHError(f"{self.name}: {what} did not finish within {timeout:g} s",
                           self.name, "the node may be overloaded or the connection stuck")
        if self.node.sudo and _SUDO_PROMPT.search(text):
            raise SSHError(f"sudo on {self.name} would prompt for a password: {what} was "
                           "not run", self.name, "allow it without a password for this "
                           "user (NOPASSWD in sudoers), or set sudo = false if the login "
                           "user may already do it")
        if code == 255:
            raise explain(self.name, text, code)
        return Done(code or 0, out, text)

    def sh(self, script: str, *args: str, data: bytes = b"", what: str = "a command",
           cap: int = MAX_OUTPUT, timeout: float = TIMEOUT) -> Done:
        return self.run(["sh", "-c", script, "sh", *args], data=data, what=what, cap=cap,
                        timeout=timeout)

    # -- reading -----------------------------------------------------------------------

    def read(self, path: str) -> bytes:
        """The node's file *path* (a regular file, at most MAX_FILE bytes)."""
        remote = check_remote_path(self.remote(path), "config")
        done = self.sh(READ, remote, what=f"reading {remote}", cap=MAX_FILE)
        if done.code == 3:
            raise WriteError("config file not found on the node", self.where(remote),
                             "check the instance's config paths")
        if done.code == 4:
            raise WriteError("not a regular file on the node", self.where(remote),
                             "check the instance's config paths")
        if done.code != 0:
            raise WriteError(f"cannot read the file on the node: {_last(done.err)}",
                             self.where(remote), "check its permissions (sudo = true?)")
        return done.out

    def realpath(self, path: str) -> str:
        """The node's *path* with its symlinks resolved (``readlink -f``)."""
        remote = check_remote_path(self.remote(path), "config")
        done = self.run(["readlink", "-f", "--", remote], what=f"resolving {remote}",
                        cap=8192)
        real = done.text.strip("\n")
        if done.code != 0 or not real:
            return remote
        return check_remote_path(real, "config")

    def is_link(self, path: str) -> bool:
        return self.realpath(path) != self.remote(path)

    def expand(self, paths: list[str]) -> list[str]:
        """The node's files for the ``-f`` *paths* (a directory gives its ``*.cfg``)."""
        out: list[str] = []
        for path in paths:
            remote = check_remote_path(path, "config")
            kind = self.sh(KIND, remote, what=f"looking at {remote}", cap=64).text.strip()
            if kind != "dir":
                out.append(remote)
                continue
            listing = self.sh(LIST_CFG, remote, what=f"listing {remote}", cap=1 << 20)
            names = [n.decode("utf-8", "surrogateescape") for n in listing.out.split(b"\0")
                     if n]
            out += sorted((n for n in names if _usable(n)), key=os.fsencode)
        return out

    def digests(self, paths: list[str]) -> list[str]:
        """The sha256 of each file HAProxy reads for the ``-f`` *paths* (a directory
        gives its ``*.cfg``, in HAProxy's order), as the node has them now: one command
        on the node. A path missing or unreadable there is a :class:`WriteError`."""
        remote = [check_remote_path(p, "config") for p in paths]
        done = self.sh(DIGESTS, *remote, what="sha256sum of the configuration",
                       cap=1 << 20)
        if done.code != 0:
            why = {3: "a configuration file cannot be read on the node",
                   4: "a configuration path is missing on the node"}.get(
                       done.code, f"cannot hash the configuration: {_last(done.err)}")
            raise WriteError(why, ", ".join(self.where(p) for p in remote),
                             "check the instance's config paths (sudo = true?)")
        from console.haproxy.config.fileset import _is_cfg_name

        fields = done.out.split(b"\0")
        found: dict[int, list[tuple[bytes, str]]] = {}
        for n in range(0, len(fields) - 2, 3):
            index, name, digest = fields[n:n + 3]
            if not re.fullmatch(rb"[0-9]{1,6}", index) or not 0 < int(index) <= len(remote) or \
                    not re.fullmatch(rb"[0-9a-f]{64}", digest):
                raise WriteError("the node answered an unexpected sha256sum",
                                 self.name, "check the node's coreutils")
            given = os.fsencode(remote[int(index) - 1])
            # a -f file as it is; of a directory, the *.cfg names HAProxy reads
            if name == given or _is_cfg_name(os.fsdecode(os.path.basename(name))):
                found.setdefault(int(index), []).append((name, digest.decode()))
        return [d for n in range(1, len(remote) + 1)
                for _, d in sorted(found.get(n, []))]  # a directory's: by name, as bytes

    def sync(self, paths: list[str]) -> list[str]:
        """Copy the node's files for the ``-f`` *paths* into the mirror; the mirror
        paths of *paths* (in order). Mirror files of a directory that are gone on the
        node are removed."""
        mirrored: list[str] = []
        for path in paths:
            remote = check_remote_path(path, "config")
            local = self.mirror(remote)
            done = self.sh(READ, remote, what=f"reading {remote}", cap=MAX_FILE)
            if done.code == 0:  # a file: the usual case, one round trip
                self._keep(remote, done.out)
                mirrored.append(local)
                continue
            kind = self.sh(KIND, remote, what=f"looking at {remote}", cap=64).text.strip()
            if kind == "dir":
                os.makedirs(local, 0o700, exist_ok=True)
                wanted = set()
                for f in self.expand([remote]):
                    wanted.add(os.path.basename(f))
                    self._copy(f)
                for name in os.listdir(local):
                    full = os.path.join(local, name)
                    if name not in wanted and os.path.isfile(full):
                        os.unlink(full)
            elif kind == "file":
                self._copy(remote)
            else:
                raise WriteError("config file not found on the node" if kind == "none"
                                 else "not a regular file on the node", self.where(remote),
                                 "check the instance's config paths")
            mirrored.append(local)
        return mirrored

    def _copy(self, remote: str) -> None:
        self._keep(remote, self.read(remote))

    def _keep(self, remote: str, data: bytes) -> None:
        local = self.mirror(remote)
        os.makedirs(os.path.dirname(local), 0o700, exist_ok=True)
        try:
            with open(local, "rb") as f:
                same = f.read() == data
        except OSError:
            same = False
        if not same:
            write_private(local, data, action="mirror the node's config file")
        self.synced[remote] = sha256(data)

    # -- writing -----------------------------------------------------------------------

    def write_temp(self, real: str, data: bytes) -> str:
        """A new temp file next to the node's *real* file holding *data* (owner and mode
        of *real*, synced); its path on the node."""
        real = check_remote_path(self.remote(real), "config")
        done = self.sh(WRITE_TEMP, real, data=data, what=f"writing a temp file next to {real}",
                       cap=8192)
        if done.code != 0:
            what, hint = _WRITE_ERRORS.get(done.code, (f"cannot write a temp file on the "
                                                       f"node: {_last(done.err)}",
                                                       "check the directory"))
            raise WriteError(what, self.where(real), hint)
        temp = done.text.strip("\n")
        check_remote_path(temp, "temp")
        if os.path.dirname(temp) != os.path.dirname(real) or \
                not os.path.basename(temp).startswith(TEMP_PREFIX):
            raise WriteError(f"the node answered an unexpected temp path {temp!r}",
                             self.where(real), "check the node's mktemp")
        return temp

    def discard(self, temp: str | None) -> None:
        if temp:
            try:
                self.sh(DISCARD, temp, what=f"removing {temp}", cap=4096, timeout=15)
            except HAProxyError:
                pass

    def replace(self, temp: str, real: str, expect: bytes | None) -> str:
        """``mv`` *temp* over *real* on the node, only while *real* still holds *expect*
        (None: whatever it holds); the file's ``mode owner:group`` afterwards."""
        real = check_remote_path(self.remote(real), "config")
        want = sha256(expect) if expect is not None else "-"
        done = self.sh(REPLACE, temp, real, want, what=f"replacing {real}", cap=8192)
        if done.code == 5:
            raise WriteError("the file changed on the node during the apply: nothing "
                             "replaced", self.where(real),
                             "`haconsole config rebase`, then apply again")
        if done.code != 0:
            self.discard(temp)
            raise WriteError(f"cannot replace the file on the node: {_last(done.err)}",
                             self.where(real), "check the directory and the disk (df)")
        desc = done.text.strip().split()
        return f"mode {desc[0]} {desc[1]}" if len(desc) == 2 else "mode unknown"

    def write_atomic(self, real: str, data: bytes) -> str:
        return self.replace(self.write_temp(real, data), real, None)

    # -- the binary ------------------------------------------------------------------

    def binary(self, path: str | None, origin: str) -> Binary:
        """The node's HAProxy binary *path* (default ``/usr/sbin/haproxy``), its version
        asked on the node with ``-v``."""
        path = check_remote_path((path or DEFAULT_BINARY).removesuffix(" (deleted)"),
                                 "haproxy binary")
        if path not in self._versions:
            done = self.run([path, "-v"], what=f"{path} -v", cap=1 << 16, timeout=20)
            m = _VERSION_RE.search(done.text + done.err)
            if not m:
                raise NotFound(f"no HAProxy at {path} on {self.name}", self.where(path),
                               "set haproxy = PATH in the instance's settings (the binary "
                               "on the node)")
            self._versions[path] = m.group(1)
        return Binary(path, self._versions[path], f"{origin}, on {self.name}")

    def build_info(self, path: str) -> tuple[frozenset[str] | None, str | None]:
        """``haproxy -vv`` of the node's binary, as :func:`binaries.parse_build_info`."""
        try:
            done = self.run([check_remote_path(path, "haproxy binary"), "-vv"],
                            what=f"{path} -vv", cap=1 << 20, timeout=20)
        except HAProxyError:
            return None, None
        return parse_build_info(done.text + done.err)

    # -- the service -------------------------------------------------------------------

    def process(self, pid: int) -> Process:
        """The node's process *pid*: command line, environment, working directory,
        binary and the node's host name, in one round trip."""
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError("a pid")
        done = self.sh(PROCESS, str(pid), what=f"reading /proc/{pid}", cap=4 << 20)
        fields = done.out.split(b"\n")
        if done.code != 0 or len(fields) < 5:
            return Process(None, None, None, None, "")

        def part(i: int) -> bytes | None:
            try:
                data = base64.b64decode(fields[i], validate=True)
            except ValueError:
                return None
            return data or None

        def text(i: int) -> str | None:
            raw = part(i)
            value = raw.decode("utf-8", "replace").rstrip("\n") if raw else ""
            return value if value.startswith("/") else None

        host = (part(4) or b"").decode("utf-8", "replace").strip()
        return Process(part(0), part(1), text(2), text(3), host)

    def run_in(self, cwd: str | None, argv: list[str], *, environ: Mapping[str, str] | None,
               timeout: float, what: str) -> Done:
        """*argv* on the node in *cwd*, with exactly *environ* when given (``env -i``)."""
        words = list(argv)
        if environ is not None:
            words = ["env", "-i", *(f"{k}={v}" for k, v in sorted(environ.items())
                                    if _env_name(k)), *words]
        if cwd:
            return self.sh(IN_DIR, check_remote_path(cwd, "directory"), *words,
                           what=what, timeout=timeout)
        return self.run(words, what=what, timeout=timeout)


def _usable(name: str) -> bool:
    from console.haproxy.config.fileset import _is_cfg_name

    return _is_cfg_name(os.path.basename(name)) and \
        not any(ord(c) < 32 or c == "\x7f" for c in name)


def _env_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name))


def _last(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"
