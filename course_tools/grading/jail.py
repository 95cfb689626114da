"""The sandbox itself: build it around one untrusted command, then execute that command.

``python /path/to/jail.py SPEC.json -- CMD ...`` sets the sandbox described by a :class:`Spec`
up and then executes ``CMD`` (exit code :data:`SETUP_FAILED` if it could not);
``python /path/to/jail.py --probe`` prints, as JSON, the strongest mode that works here and
what an end-to-end self-test (:data:`CHECKS`) saw from inside such a sandbox. This file imports
only the standard library, so the grader runs it by path as a standalone script (it also
imports as ``course_tools.grading.jail``); :mod:`course_tools.grading.sandbox` is the grader's
side. What the command gets depends on the platform:

* **always** (any POSIX system): resource limits per process (``RLIMIT_AS`` memory,
  ``RLIMIT_CPU``, ``RLIMIT_FSIZE``, no core files) and the caller's own session and private
  working folder;
* **Linux as root** (``mode="root"``): new mount, network, PID and IPC namespaces; the command
  runs as a fresh unprivileged user id (one per submission, :func:`private_uid`);
* **Linux, not root, with unprivileged user namespaces** (``mode="userns"``): the same
  namespaces inside a new user namespace. The caller's user id is mapped to *itself* (never to
  0), so the command is an ordinary user there too; only the sandbox's set-up (which runs
  before the command) uses the namespace's capabilities. ``RLIMIT_NPROC`` is not set (it would
  count all of the caller's processes): use a control group for a process-count limit;
* **otherwise** (``mode="none"``, e.g. macOS): limits only. The command can then read and
  write wherever the caller can and use the network.

In both namespace modes the command:

* sees a rebuilt file tree, entered with ``pivot_root`` (the host's tree is detached, so no
  mount of it stays reachable, not even by escaping a ``chroot``): system folders (``/usr``,
  ``/etc``, ``/sys``...) read-only; a minimal ``/dev`` (null, zero, full, random, urandom, tty
  and a private ``/dev/shm``); a fresh ``/proc`` of its own PID namespace; every other
  top-level folder (``/home``, ``/root``, ``/tmp``, ``/run`` and its sockets, the folder
  holding the course...) empty, with only the paths of the spec's ``expose`` list (the Python
  installation, the handout's package) put back read-only; every path of the spec's ``hide``
  list (instructor notebooks, hidden tests, other submissions, ``.git``...) masked by an empty
  read-only folder or an unreadable file; its working folder the only writable place shared
  with the host (besides private, throw-away ``/tmp``, ``/var/tmp`` and ``/dev/shm``);
* has no capabilities at all: the bounding, ambient, permitted and effective sets are empty,
  ``no_new_privs`` is set and the securebits are locked (``SECBIT_NOROOT``...), so neither a
  set-uid program nor running as uid 0 could give any back. It cannot mount or unmount; in a
  nested user namespace of its own (which the kernel allows) the sandbox's mounts are locked
  together, so unmounting a mask reveals nothing and read-only stays read-only;
* has a network namespace with a loopback device and nothing else;
* is PID 1's only child in its PID namespace: when it exits or the caller kills the group, the
  kernel removes every process left there.

Every process of the run is in the spec's control group (``cgroup_procs``) from the start: the
wrapper joins it before anything else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import platform
import resource
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["Limits", "Spec", "CHECKS", "SETUP_FAILED", "private_uid", "exposed_paths", "command",
           "mounts", "mount", "detach", "run", "main"]

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_NEWIPC = 0x40000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 1, 4, 24, 28
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
SECBITS_LOCKED_DOWN = 1 | 2 | 8 | 32 | 64 | 128
"""NOROOT + its lock, NO_SETUID_FIXUP locked off, KEEP_CAPS locked off, NO_CAP_AMBIENT_RAISE +
its lock: uid 0 gets no capabilities at execve, and none can be kept or raised again."""
SETUP_FAILED = 97
"""Exit code of the wrapper when it could not build the sandbox it was asked for."""
SYSTEM_TOPS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "opt", "var", "sys")
"""Top-level folders shown read-only; ``/dev`` and ``/proc`` are rebuilt, and every other one
(``/home``, ``/root``, ``/tmp``, ``/run``, ``/mnt``, the one holding the course...) is replaced
by an empty folder, into which only the ``expose`` paths are put back."""
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
"""The device nodes of the sandbox's ``/dev``."""


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


CHECKS = {
    "user": "the command does not run as root",
    "no_capabilities": "the command holds no capabilities (effective, permitted, bounding, ambient)",
    "hidden": "hidden paths and the rest of the host's file tree cannot be read",
    "read_only": "exposed and system paths cannot be written",
    "workdir": "the working folder can be written",
    "no_remount": "mounts cannot be undone, not even from a nested user namespace",
    "network": "no network but a private loopback",
}
"""What the ``--probe`` self-test checks from inside a sandbox (name: meaning)."""


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
    """Paths masked by an empty folder (or an unreadable file)."""
    expose: list[str] = field(default_factory=list)
    """Paths put back read-only inside the hidden top-level folders."""
    limits: dict = field(default_factory=lambda: asdict(Limits()))
    cgroup_procs: list[str] = field(default_factory=list)
    """``cgroup.procs`` files the wrapper moves itself into before anything else
    (``CGroup.procs_files``), so the whole run, from its first process on, is in the group."""


# -- what the caller needs to start it ---------------------------------------------------------
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


# -- mounts and system calls -------------------------------------------------------------------
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "i686": 217,
                   "i386": 217, "armv7l": 218, "ppc64le": 203, "s390x": 217}.get(platform.machine())
_SYS_MOUNT_SETATTR = 442  # the same on every architecture (added after the tables were unified)
_ST_TO_MS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: 1024, 2048: 2048,
             4096: 1 << 21}  # statvfs flags -> mount flags (rdonly ... noatime, nodiratime, relatime)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unescape(s: str) -> str:
    """A path field of /proc/self/mountinfo (spaces and such are written as octal escapes)."""
    if "\\" not in s:
        return s
    return s.encode().decode("unicode_escape").encode("latin-1").decode(errors="surrogateescape")


def mounts() -> list[tuple[str, str, str, str]]:
    """(root, mount point, filesystem type, super options) of each mount this process sees."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            a, b = left.split(), right.split()
            out.append((_unescape(a[3]), _unescape(a[4]), b[0], b[2] if len(b) > 2 else ""))
    return out


def mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None):
    """mount(2); raises OSError if refused."""

    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _check(_libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {src} on {dst}")


def detach(path: str) -> None:
    """Detach the mount at ``path`` (``MNT_DETACH``), ignoring any failure."""
    _libc.umount2(path.encode(), MNT_DETACH)


def _restrict(path: str, recursive: bool = True, nodev: bool = True, noexec: bool = False,
              readonly: bool = True) -> None:
    """Make the mount at ``path`` (and, if ``recursive``, every mount below it) nosuid and
    read-only (nodev, noexec: if asked), keeping its other flags (a user namespace must)."""
    wanted = ((MS_RDONLY if readonly else 0) | MS_NOSUID | (MS_NODEV if nodev else 0)
              | (MS_NOEXEC if noexec else 0))
    attr = ctypes.create_string_buffer(struct.pack("QQQQ", wanted, 0, 0, 0), 32)
    ret = _libc.syscall(ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(-100), path.encode(),
                        ctypes.c_uint(0x8000 if recursive else 0), attr, ctypes.c_size_t(32))
    if ret == 0:
        return
    if ctypes.get_errno() not in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
        _check(ret, f"mount_setattr {path}")
    targets = [path]
    if recursive:  # older kernels: each mount below, one by one
        targets += [mp for _r, mp, _fs, _o in mounts() if mp.startswith(path.rstrip("/") + "/")]
    for mp in dict.fromkeys(targets):
        st = os.statvfs(mp).f_flag
        kept = 0
        for st_flag, ms_flag in _ST_TO_MS.items():
            if st & st_flag:
                kept |= ms_flag
        mount(None, mp, None, MS_BIND | MS_REMOUNT | kept | wanted)


def _bind(src: str, dst: str, readonly: bool) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            open(dst, "w").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    if readonly:
        _restrict(dst)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, ifr)[:18])[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))  # SIOCSIFFLAGS, IFF_UP


def _build_dev(dev: str) -> None:
    """A minimal /dev: a few harmless device nodes, fd links and a private /dev/shm."""
    os.makedirs(dev, exist_ok=True)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in DEV_NODES:
        if os.path.exists("/dev/" + name):
            _bind("/dev/" + name, f"{dev}/{name}", readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(dev + "/shm")
    mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    _restrict(dev, recursive=False, nodev=False, noexec=True)


def _enter(new: str) -> str:
    """Make ``new`` the root: pivot_root, then detach the old root. Returns how ('' if so)."""
    os.chdir(new)
    if _SYS_PIVOT_ROOT is not None:
        if _libc.syscall(ctypes.c_long(_SYS_PIVOT_ROOT), b".", b".") == 0:
            _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
            os.chdir("/")
            return ""
        why = os.strerror(ctypes.get_errno())
    else:
        why = f"unknown architecture {platform.machine()}"
    os.chroot(new)  # e.g. the old root is the initial ramfs, which pivot_root refuses
    os.chdir("/")
    return f"pivot_root failed ({why}), used chroot"


def _build_tree(spec: Spec) -> str:
    """Mount the new file tree at ``spec.newroot`` and enter it (PID 1 of the namespaces).

    Returns '' or a warning (chroot instead of pivot_root)."""
    new = spec.newroot.rstrip("/")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=16m")
    tops = {"/" + Path(p).parts[1] for p in [spec.workdir, *spec.hide] if len(Path(p).parts) > 1}
    shown = [n for n in SYSTEM_TOPS if "/" + n not in tops]
    for name in os.listdir("/"):
        src, dst = "/" + name, new + "/" + name
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif name in shown and os.path.isdir(src):
            _bind(src, dst, readonly=True)
        elif os.path.isdir(src):
            os.makedirs(dst, exist_ok=True)
    _build_dev(new + "/dev")
    os.makedirs(new + "/tmp", exist_ok=True)
    mount("tmpfs", new + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=512m")
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
            mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
        else:  # an unreadable file: /dev/null on a nodev mount cannot even be opened
            mount("/dev/null", target, None, MS_BIND)
            _restrict(target, recursive=False, noexec=True)
    _bind(spec.workdir, new + spec.workdir, readonly=False)
    _restrict(new + spec.workdir, readonly=False)
    if os.path.isdir(new + "/var/tmp"):
        mount("tmpfs", new + "/var/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    os.makedirs(new + "/proc", exist_ok=True)
    mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _restrict(new, recursive=False)  # the skeleton itself (empty folders, links) read-only
    how = _enter(new)
    os.chdir(spec.workdir)
    return how


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


def _lock_down(strict: bool) -> None:
    """Empty the capability bounding and ambient sets and lock the securebits (needs
    CAP_SETPCAP, which both namespace modes hold here); ``strict``: fail if refused."""
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            if err == errno.EINVAL:  # beyond what this kernel knows
                break
            if strict:
                _check(-1, f"drop capability {cap} from the bounding set")
    if _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 and strict:
        if ctypes.get_errno() != errno.EINVAL:  # EINVAL: a kernel without ambient capabilities
            _check(-1, "clear the ambient capabilities")
    if _libc.prctl(PR_SET_SECUREBITS, SECBITS_LOCKED_DOWN, 0, 0, 0) != 0 and strict:
        _check(-1, "lock the securebits")


def _drop_all_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets of this process (capset)."""
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = ctypes.create_string_buffer(24)  # two {effective, permitted, inheritable}: zeros
    _check(_libc.capset(ctypes.create_string_buffer(header, 8), data), "capset")


def _exec(spec: Spec, cmd: list[str]) -> None:
    """Final steps in the process that becomes the command: limits, privileges, exec."""
    limits = Limits(**spec.limits)
    isolated = spec.mode in ("root", "userns")
    _set_limits(limits, nproc=spec.mode == "root")  # before setuid: the new user inherits them
    if isolated or os.geteuid() == 0:
        _lock_down(strict=isolated)
    if spec.mode == "root":
        os.setgroups([])
        os.setgid(spec.uid)
        os.setuid(spec.uid)  # from root to another user: the kernel clears every capability
    if isolated:
        _drop_all_capabilities()  # (userns mode: the namespace's, held since unshare)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    os.execvp(cmd[0], cmd)


def _unshare(user: bool) -> None:
    """New namespaces; with ``user``, a user namespace where the caller keeps its own ids."""
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | (CLONE_NEWUSER if user else 0)
    _check(_libc.unshare(flags), "unshare")
    if user:  # the namespace's capabilities are held from here on, whatever the uid
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _init(spec: Spec, cmd: list[str]) -> int:
    """PID 1 of the new namespaces: build the tree, start the command, reap until it exits."""
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    try:
        warning = _build_tree(spec)
        _loopback_up()
    except OSError as err:
        print(f"course_tools.sandbox: could not build the sandbox: {err}", file=sys.stderr)
        return SETUP_FAILED
    if warning:
        print(f"course_tools.sandbox: {warning}", file=sys.stderr)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the command may not ptrace or read PID 1
    child = os.fork()
    if child == 0:
        try:
            _exec(spec, cmd)
        except BaseException as err:  # noqa: BLE001 - whatever it is, say it, then exit
            print(f"course_tools.sandbox: could not start the command: {err!r}", file=sys.stderr)
        finally:
            os._exit(SETUP_FAILED)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return SETUP_FAILED
        except InterruptedError:
            continue
        if pid == child:
            return os.waitstatus_to_exitcode(status) % 256


def run(spec: Spec, cmd: list[str]) -> int:
    """Enter the sandbox and run ``cmd``; returns its exit code (128 + signal if killed)."""
    if spec.mode == "userns" and os.geteuid() == 0:
        print("course_tools.sandbox: userns mode refused as root (the command would own root's "
              "files); use mode 'root'", file=sys.stderr)
        return SETUP_FAILED
    if spec.mode not in ("root", "userns"):
        try:
            _exec(spec, cmd)
        except OSError as err:
            print(f"course_tools.sandbox: {err}", file=sys.stderr)
            return SETUP_FAILED
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
        except BaseException as err:  # noqa: BLE001 - say it: the grader shows the last lines
            print(f"course_tools.sandbox: {err!r}", file=sys.stderr)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


# -- the probe ----------------------------------------------------------------------------------
def _probe_mode(user: bool) -> str:
    """'' if the namespaces and a tmpfs mount work in a child process, else the error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        msg = ""
        try:
            _unshare(user)
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            mount("tmpfs", "/mnt", "tmpfs", 0, "size=4k")
            _loopback_up()
        except Exception as err:  # noqa: BLE001
            msg = f"{type(err).__name__}: {err}" or "failed"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return msg


_SELF_TEST = r'''
import ctypes, json, os, socket, sys
a = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def readable(p):
    try:
        with open(p, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False
def writable(p):
    try:
        with open(p, "ab"):
            pass
        return True
    except OSError:
        return False
def caps():
    return {k: int(v, 16) for k, _, v in (l.partition(":") for l in open("/proc/self/status"))
            if k.startswith("Cap")}
out = {"user": [os.getuid() != 0 and os.geteuid() != 0, f"uid {os.getuid()}"]}
c = caps()
out["no_capabilities"] = [not any(c.values()), " ".join(f"{k}={v:x}" for k, v in c.items())]
shown = [p for p in a["secret"] if readable(p) or (os.path.isdir(p) and os.listdir(p))]
out["hidden"] = [not shown, f"readable: {shown}"]
wrote = [p for p in a["readonly"] if writable(p)]
out["read_only"] = [not wrote, f"written: {wrote}"]
out["workdir"] = [writable(os.path.join(a["workdir"], "probe.txt")), a["workdir"]]
undone = []
if libc.umount2(a["mask"].encode(), 2) == 0:
    undone.append("umount")
if libc.mount(b"tmpfs", a["workdir"].encode(), b"tmpfs", 0, None) == 0:
    undone.append("mount")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    found = []
    try:
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(0x10000000 | 0x00020000) == 0:
            open("/proc/self/setgroups", "w").write("deny")
            open("/proc/self/uid_map", "w").write(f"0 {uid} 1")
            open("/proc/self/gid_map", "w").write(f"0 {gid} 1")
            libc.umount2(a["mask"].encode(), 2)
            libc.mount(None, a["exposed"].encode(), None, 32 | 4096, None)  # remount rw
            libc.umount2(b"/", 2)
            os.makedirs("/tmp/escape", exist_ok=True)
            os.chroot("/tmp/escape")
            for _ in range(64):
                os.chdir("..")
            os.chroot(".")
            found = [p for p in a["secret"] if readable(p) or (os.path.isdir(p) and os.listdir(p))]
            found += ["wrote " + p for p in a["readonly"] if writable(p)]
    except Exception as e:
        found = [f"error {e!r}"]
    os.write(w, json.dumps(found).encode())
    os._exit(0)
os.close(w)
nested = json.loads(os.read(r, 65536) or b"[]")
os.waitpid(pid, 0)
out["no_remount"] = [not undone and not nested, f"did: {undone}; nested user namespace: {nested}"]
s = socket.socket()
s.settimeout(2)
outside = s.connect_ex((a["outside"], 9))
s.close()
s = socket.socket()
s.settimeout(2)
host = s.connect_ex(("127.0.0.1", a["port"]))
s.close()
lo = socket.socket()
lo.bind(("127.0.0.1", 0))
lo.listen()
s = socket.socket()
s.settimeout(2)
loop = s.connect_ex(lo.getsockname())
out["network"] = [outside != 0 and host != 0 and loop == 0,
                  f"outside {outside}, host loopback {host}, own loopback {loop}"]
print(json.dumps(out))
'''


def _self_test(mode: str) -> tuple[list[str], list[str], str]:
    """Run :data:`_SELF_TEST` in a real sandbox: (verified, failed, warning)."""
    base = Path(tempfile.mkdtemp(prefix="sandbox-probe-"))
    listener = socket.socket()
    try:
        os.chmod(base, 0o755)
        work, newroot, course = base / "work", base / "root", base / "course"
        for d in (work, newroot, course / "instructor"):
            d.mkdir(parents=True)
        (course / "pkg.py").write_text("x = 1\n")
        (course / "answers.py").write_text("secret = 1\n")
        (course / "instructor" / "key.txt").write_text("secret\n")
        (base / "beside.txt").write_text("secret\n")
        uid = private_uid() if mode == "root" else None
        if uid is not None:
            os.chown(work, uid, uid)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        args = {"workdir": str(work), "mask": str(course / "instructor"), "exposed": str(course),
                "secret": [str(course / "instructor" / "key.txt"), str(course / "answers.py"),
                           str(base / "beside.txt"), str(newroot), os.path.realpath(__file__)],
                "readonly": [str(course / "pkg.py"), str(course / "new.py"), "/etc/probe",
                             "/usr/probe", "/probe", "/dev/probe"],
                "outside": "192.0.2.1", "port": listener.getsockname()[1]}
        hide = [str(course / "instructor"), str(course / "answers.py")]
        spec = Spec(str(work), str(newroot), mode, uid, hide=hide,
                    expose=[*exposed_paths(), str(course)])
        argv = command(spec, base / "spec.json",
                       [sys.executable, "-I", "-S", "-c", _SELF_TEST, json.dumps(args)])
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=work)
        warning = " ".join(line.split(": ", 1)[-1] for line in out.stderr.splitlines()
                           if line.startswith("course_tools.sandbox: pivot_root"))
        try:
            seen = json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            tail = " | ".join(out.stderr.strip().splitlines()[-3:])
            return [], [f"{n}: the sandbox did not run (exit {out.returncode}: {tail})"
                        for n in CHECKS], warning
        verified = [n for n in CHECKS if seen.get(n, [False])[0]]
        failed = [f"{n}: {seen.get(n, [False, 'not checked'])[1]}" for n in CHECKS
                  if n not in verified]
        return verified, failed, warning
    finally:
        listener.close()
        shutil.rmtree(base, ignore_errors=True)


def _probe() -> dict:
    """What ``--probe`` prints: the mode, why not a stronger one, and the self-test's checks
    (whether control groups work is :func:`course_tools.grading.sandbox.probe`'s to add)."""
    if os.geteuid() == 0:
        err = _probe_mode(user=False)
        mode, reason = ("root", "") if not err else ("none", f"namespaces refused even as root: {err}")
    else:
        err = _probe_mode(user=True)
        mode, reason = (("userns", "not root, so no private user id") if not err else
                        ("none", f"not root and no user namespaces ({err})"))
    verified: list[str] = []
    failed: list[str] = []
    if mode != "none":
        verified, failed, warning = _self_test(mode)
        if not verified:
            mode, reason = "none", f"the {mode} sandbox did not run: {failed[0].split(': ', 1)[1]}"
            failed = []
        else:
            extra = sorted(set(os.getgroups()) - {os.getegid()}) if mode == "userns" else []
            groups = (f"the command keeps the caller's supplementary groups {extra} (a user "
                      "namespace cannot drop them)") if extra else ""
            reason = "; ".join(r for r in (reason, warning, groups) if r)
    return {"mode": mode, "reason": reason, "verified": verified, "failed": failed}


def join_cgroups(files: list[str] | list[bytes]) -> None:
    """Move the calling process into the control groups whose ``cgroup.procs`` files are given
    (fork-safe: it only opens and writes those files)."""
    for f in files:
        fd = os.open(f, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def main(argv: list[str]) -> int:
    if sys.platform.startswith("linux"):
        _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # the grader died: so does this run
    if argv[:1] == ["--probe"]:
        print(json.dumps(_probe()))
        return 0
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python jail.py SPEC.json -- CMD ...  |  python jail.py --probe",
              file=sys.stderr)
        return 2
    spec = Spec(**json.loads(Path(argv[0]).read_text()))
    try:
        join_cgroups(spec.cgroup_procs)  # first: every process of the run is in the group
    except OSError as err:
        print(f"course_tools.sandbox: could not join the control group: {err}", file=sys.stderr)
        return SETUP_FAILED
    return run(spec, argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
