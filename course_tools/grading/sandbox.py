"""Run one untrusted command (a submission's notebook run) in a sandbox.

``python -m course_tools.sandbox SPEC.json -- CMD ...`` sets the sandbox up and then executes
``CMD``. What it can provide depends on the platform, and :func:`probe` says what it got:

* **always** (any POSIX system): resource limits (``RLIMIT_AS`` memory, ``RLIMIT_CPU``,
  ``RLIMIT_FSIZE``, no core files) and the caller's own session and private working folder;
* **Linux as root** (``mode="root"``): new mount, network, PID and IPC namespaces, and the
  command runs as a fresh unprivileged user id (one per submission) with ``no_new_privs``.
  It sees a rebuilt file tree: system folders (``/usr``, ``/etc``...) read-only; every other
  top-level folder (``/home``, ``/root``, ``/tmp``, the one holding the course...) empty, with
  only the Python installation and the course package put back (read-only); every path in the
  spec's ``hide`` list (instructor notebooks, hidden tests, other submissions, ``.git``...)
  masked by an empty folder; its working folder the only writable place besides a private
  ``/tmp``. The network namespace has a loopback device and nothing else. With a private user
  id, ``RLIMIT_NPROC`` counts only that submission's processes (a fork bomb stops there).
  When the command (PID 1's only child) exits or the caller kills the group, the kernel
  removes every process left in the PID namespace;
* **Linux, not root, with user namespaces** (``mode="userns"``): the same namespaces and file
  tree, but the command keeps the caller's user id, so ``RLIMIT_NPROC`` is not set (it would
  count all of the caller's processes);
* **otherwise** (``mode="none"``, e.g. macOS): limits only. The command can then read and
  write wherever the caller can and use the network; :func:`probe` says so and the grader
  prints it in its summary and in every feedback file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import resource
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["Limits", "Isolation", "Spec", "probe", "command", "private_uid"]

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_NEWIPC = 0x40000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 32, 4096, 16384, 1 << 18)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SETUP_FAILED = 97
"""Exit code of the wrapper when it could not build the sandbox it was asked for."""
SYSTEM_TOPS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "opt", "var", "run",
               "dev", "sys")
"""Top-level folders shown (read-only but /dev); every other one (``/home``, ``/root``, ``/tmp``,
``/mnt``, ``/srv``, the one holding the course...) is replaced by an empty folder, into which
only the interpreter and the course package are put back."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (each applies per process unless said otherwise)."""

    memory_mb: int = 4096
    """Address space per process (``RLIMIT_AS``); an allocation beyond it raises MemoryError."""
    cpu_seconds: int = 1800
    """CPU time per process (``RLIMIT_CPU``): a backstop behind the wall-clock timeouts."""
    processes: int = 256
    """Processes and threads of the sandbox's private user (``RLIMIT_NPROC``; root mode only)."""
    file_mb: int = 512
    """Largest file the run may write (``RLIMIT_FSIZE``)."""
    workdir_mb: int = 1024
    """Size of the working folder, a tmpfs of its own in root mode (the disk cannot fill up)."""


@dataclass(frozen=True)
class Isolation:
    """What the sandbox can provide on this machine (see the module docstring)."""

    mode: str
    """'root', 'userns' or 'none'."""
    reason: str = ""
    """Why a stronger mode is unavailable ('' when mode is 'root')."""

    @property
    def network(self) -> bool:
        return self.mode != "none"

    @property
    def filesystem(self) -> bool:
        return self.mode != "none"

    @property
    def fork_limit(self) -> bool:
        return self.mode == "root"

    def describe(self) -> str:
        """One line for the summary and the feedback."""
        if self.mode == "root":
            return ("sandbox: private user, no network, private file tree, memory/CPU/process/disk "
                    "limits")
        if self.mode == "userns":
            return ("sandbox: no network, private file tree, memory/CPU limits; NO process-count "
                    f"limit ({self.reason})")
        return ("sandbox: memory/CPU limits only; NOT isolated from the network or the file "
                f"system ({self.reason})")


@dataclass
class Spec:
    """Everything the wrapper needs, written as JSON next to the run."""

    workdir: str
    """The only writable folder (must exist; owned by ``uid`` in root mode)."""
    newroot: str
    """An empty folder outside ``workdir`` where the new file tree is mounted."""
    mode: str = "none"
    uid: int | None = None
    """Private user and group id the command runs as (root mode)."""
    hide: list[str] = field(default_factory=list)
    """Paths masked by an empty folder (or an empty file)."""
    expose: list[str] = field(default_factory=list)
    """Paths put back read-only inside the hidden top-level folders."""
    limits: dict = field(default_factory=lambda: asdict(Limits()))


# -- helpers used by the grader ------------------------------------------------------------
@lru_cache(maxsize=1)
def probe() -> Isolation:
    """Try the namespaces in a throw-away child process and say which mode works here."""
    if not sys.platform.startswith("linux"):
        return Isolation("none", f"namespaces need Linux (this is {sys.platform})")
    try:
        out = subprocess.run([sys.executable, "-m", "course_tools.grading.sandbox", "--probe"],
                             capture_output=True, text=True, timeout=60)
        return Isolation(**json.loads(out.stdout.strip().splitlines()[-1]))
    except Exception as err:  # noqa: BLE001 - any failure means: no isolation
        return Isolation("none", f"probe failed: {type(err).__name__}: {err}")


_used_uids: set[int] = set()


def private_uid() -> int:
    """A fresh user id, unused by any account, for one sandboxed run (root mode)."""
    while True:
        uid = 1_500_000_000 + secrets.randbelow(400_000_000)
        if uid not in _used_uids:
            _used_uids.add(uid)
            return uid


@lru_cache(maxsize=1)
def exposed_paths() -> list[str]:
    """The interpreter and its libraries: what a run must be able to read.

    Taken from a fresh interpreter's ``sys.path`` (not this process's, which may hold the
    caller's script folder), never a top-level folder such as ``/tmp`` or ``/home`` itself.
    Source trees on that path (an editable install of the course puts the course folder there)
    are left out: the grader puts the handout's package on the sandbox's ``PYTHONPATH`` itself.
    """
    out = subprocess.run([sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                         capture_output=True, text=True, cwd="/", timeout=60,
                         env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix,
             str(Path(os.path.realpath(sys.executable)).parent)}
    paths.update(p for p in json.loads(out.stdout) if p and os.path.isdir(p)
                 and not any(os.path.isdir(os.path.join(p, pkg)) and
                             os.path.isfile(os.path.join(p, "pyproject.toml"))
                             for pkg in ("course_lib", "course_tools")))
    real = {os.path.realpath(p) for p in paths}
    return sorted(p for p in real if len(Path(p).parts) > 2)


def command(spec: Spec, spec_path: Path, cmd: list[str]) -> list[str]:
    """The argv that runs ``cmd`` inside the sandbox described by ``spec``."""
    spec_path.write_text(json.dumps(asdict(spec)))
    # run this file, not the package: the wrapper needs nothing from the course (faster start)
    return [sys.executable, os.path.abspath(__file__), str(spec_path), "--", *cmd]


def mount_workdir(path: Path, size_mb: int, uid: int) -> bool:
    """Mount a tmpfs of ``size_mb`` owned by ``uid`` on ``path`` (root on Linux); True if done."""
    try:
        _mount("tmpfs", str(path), "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={int(size_mb)}m,mode=700,uid={uid},gid={uid}")
    except OSError:
        return False
    return True


def unmount(path: Path) -> None:
    """Detach the tmpfs mounted by :func:`mount_workdir`."""
    _libc.umount2(str(path).encode(), 2)  # MNT_DETACH


# -- the wrapper ------------------------------------------------------------------------------
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None):
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _check(_libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {src} on {dst}")


def _bind(src: str, dst: str, readonly: bool) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            open(dst, "w").close()
    _mount(src, dst, None, MS_BIND | MS_REC)
    if readonly:
        _mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)


def _loopback_up() -> None:
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, ifr)[:18])[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))  # SIOCSIFFLAGS, IFF_UP


def _build_tree(spec: Spec) -> None:
    """Mount the new file tree at ``spec.newroot`` and chroot into it (PID 1 of the namespace)."""
    new = spec.newroot.rstrip("/")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=16m")
    tops = {"/" + Path(p).parts[1] for p in [spec.workdir, *spec.hide] if len(Path(p).parts) > 1}
    shown = [n for n in SYSTEM_TOPS if "/" + n not in tops]
    for name in os.listdir("/"):
        src, dst = "/" + name, new + "/" + name
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif name in shown and os.path.isdir(src):
            _bind(src, dst, readonly=name != "dev")
        elif os.path.isdir(src):
            os.makedirs(dst, exist_ok=True)
    os.makedirs(new + "/tmp", exist_ok=True)
    _mount("tmpfs", new + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=512m")
    done: list[str] = []
    for p in sorted(spec.expose, key=len):
        if any(p == d or p.startswith(d + "/") for d in done) or not os.path.exists(p):
            continue
        if Path(p).parts[1] not in shown:
            _bind(p, new + p, readonly=True)
            done.append(p)
    for p in spec.hide:
        target = new + p
        if not os.path.lexists(target):
            continue
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
        else:
            _mount("/dev/null", target, None, MS_BIND)
    _bind(spec.workdir, new + spec.workdir, readonly=False)
    for shm in ("/dev/shm", "/var/tmp"):
        if os.path.isdir(new + shm):
            _mount("tmpfs", new + shm, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV)
    os.chroot(new)
    os.chdir(spec.workdir)


def _set_limits(limits: Limits, nproc: bool) -> None:
    mb = 1024 * 1024
    wanted = [(resource.RLIMIT_AS, limits.memory_mb * mb), (resource.RLIMIT_CPU, limits.cpu_seconds),
              (resource.RLIMIT_FSIZE, limits.file_mb * mb), (resource.RLIMIT_CORE, 0)]
    if nproc:
        wanted.append((resource.RLIMIT_NPROC, limits.processes))
    for which, value in wanted:
        _soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def _exec(spec: Spec, cmd: list[str]) -> None:
    """Final steps in the process that becomes the command: limits, user, exec."""
    limits = Limits(**spec.limits)
    if spec.mode == "root":
        _set_limits(limits, nproc=True)  # before setuid: the new user inherits them
        os.setgroups([])
        os.setgid(spec.uid)
        os.setuid(spec.uid)
    else:
        _set_limits(limits, nproc=False)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.execvp(cmd[0], cmd)


def _unshare(user: bool) -> None:
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | (CLONE_NEWUSER if user else 0)
    _check(_libc.unshare(flags), "unshare")
    if user:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
        Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def _init(spec: Spec, cmd: list[str]) -> int:
    """PID 1 of the new namespaces: build the tree, start the command, reap until it exits."""
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    try:
        _build_tree(spec)
        _loopback_up()
    except OSError as err:
        print(f"course_tools.sandbox: could not build the sandbox: {err}", file=sys.stderr)
        return SETUP_FAILED
    child = os.fork()
    if child == 0:
        try:
            _exec(spec, cmd)
        finally:
            os._exit(SETUP_FAILED)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return SETUP_FAILED
        if pid == child:
            return os.waitstatus_to_exitcode(status) % 256


def run(spec: Spec, cmd: list[str]) -> int:
    """Enter the sandbox and run ``cmd``; returns its exit code (128 + signal if killed)."""
    if spec.mode == "none":
        _exec(spec, cmd)
    try:
        _unshare(user=spec.mode == "userns")
    except OSError as err:
        print(f"course_tools.sandbox: {err}", file=sys.stderr)
        return SETUP_FAILED
    pid = os.fork()
    if pid == 0:
        code = SETUP_FAILED
        try:
            code = _init(spec, cmd)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _probe_mode(user: bool) -> str:
    """'' if the namespaces and a tmpfs mount work in a child process, else the error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        msg = ""
        try:
            _unshare(user)
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount("tmpfs", "/mnt", "tmpfs", 0, "size=4k")
            _loopback_up()
        except Exception as err:  # noqa: BLE001
            msg = f"{type(err).__name__}: {err}" or "failed"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.waitpid(pid, 0)
    return msg


def _probe() -> dict:
    if os.geteuid() == 0:
        err = _probe_mode(user=False)
        if not err:
            return {"mode": "root", "reason": ""}
        return {"mode": "none", "reason": f"namespaces refused even as root: {err}"}
    err = _probe_mode(user=True)
    if not err:
        return {"mode": "userns", "reason": "not root, so no private user id"}
    return {"mode": "none", "reason": f"not root and no user namespaces ({err})"}


def main(argv: list[str]) -> int:
    if sys.platform.startswith("linux"):
        _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # the grader died: so does this run
    if argv[:1] == ["--probe"]:
        print(json.dumps(_probe()))
        return 0
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m course_tools.sandbox SPEC.json -- CMD ...", file=sys.stderr)
        return 2
    spec = Spec(**json.loads(Path(argv[0]).read_text()))
    return run(spec, argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
