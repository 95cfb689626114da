"""Control groups (cgroup v2 or v1): limits and accounting for one run's whole process tree.

:class:`CGroup` guarantees a CPU share, a total memory limit, a process count and the tree's
total CPU time, whatever the tree does; :meth:`CGroup.remove_stale` removes groups of a dead
grader. Linux only; making a group needs root (or a delegated cgroup v2 folder).
"""

from __future__ import annotations

import errno
import functools
import os
import secrets
import signal
import sys
import time
from functools import lru_cache
from pathlib import Path

from course_tools.grading.jail import join_cgroups, mounts
from course_tools.grading.procfs import pid_namespace

__all__ = ["CGroup", "CGROUP_PREFIX"]

CGROUP_PREFIX = "course-grade-"
"""Name prefix of the control groups made by :class:`CGroup` (then ``<pid namespace>-<pid>-``
of the owner: :meth:`CGroup.remove_stale` removes a group once its owner is dead)."""


def _write(path: str | Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _read(path: str | Path) -> str:
    with open(path) as f:
        return f.read()


def _cgroup_parents() -> tuple[str, dict[str, str], str]:
    """('v2'|'v1'|'', {controller: folder of this process's own group}, reason if '')."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _id, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                own[c] = path
    table = mounts()

    def join(mount_point: str, root: str, path: str) -> str:
        if root != "/" and (path == root or path.startswith(root + "/")):
            path = path[len(root):]
        return os.path.join(mount_point, path.lstrip("/"))

    reasons = []
    v2 = [(root, mp) for root, mp, fs, _ in table if fs == "cgroup2"]
    if v2 and "" in own:
        parent = join(v2[0][1], v2[0][0], own[""])
        try:
            have = set(_read(os.path.join(parent, "cgroup.controllers")).split())
        except OSError as err:
            have, reasons = set(), [f"cgroup v2: {err}"]
        missing = [c for c in ("cpu", "memory", "pids") if c not in have]
        if not missing:
            return "v2", {"": parent}, ""
        if not reasons:
            reasons.append(f"cgroup v2 at {v2[0][1]} lacks the {'/'.join(missing)} controller(s)")
    else:
        reasons.append("no cgroup v2 hierarchy")
    dirs, missing = {}, []
    for c in ("cpu", "cpuacct", "memory", "pids"):
        found = [(root, mp) for root, mp, fs, opts in table if fs == "cgroup" and c in opts.split(",")]
        if found and c in own:
            dirs[c] = join(found[0][1], found[0][0], own[c])
        else:
            missing.append(c)
    if not missing:
        return "v1", dirs, ""
    reasons.append(f"no cgroup v1 {'/'.join(missing)} controller(s)")
    return "", {}, "; ".join(reasons)


class CGroup:
    """A control group of one run: limits and accounting for its whole process tree.

    Guarantees, for every process attached and all its descendants (they cannot leave the
    group: moving needs write access to cgroup files, which the sandboxed command lacks):

    * **CPU share**: at most ``cpus`` cores' worth of CPU time per 100 ms (CFS quota), however
      many processes the run starts, so one run cannot take the cores of the others
      (:func:`~course_tools.grading.sandbox.fair_cpus` gives each of ``jobs`` runs its share);
    * **memory**: the tree's total memory (page cache included) stays under ``memory_mb``;
      beyond it the kernel's OOM killer kills a process of this tree, and only of it;
    * **process count**: at most ``pids`` processes and threads in the tree (a fork bomb stops);
    * **accounting**: :meth:`cpu_seconds` is the CPU time of the whole tree, exited processes
      included; :meth:`remove` kills whatever is left and deletes the group.

    The group is made below this process's own group (so the caller's own limits still apply),
    with cgroup v2 if its unified hierarchy offers the cpu, memory and pids controllers and they
    can be enabled there, else with cgroup v1 (cpu, cpuacct, memory and pids hierarchies).
    Making one needs write access to those folders (root, or a delegated v2 group).

    Use: ``cg = CGroup.create(cpus=fair_cpus(jobs), memory_mb=..., pids=...)`` (None when
    unavailable: :meth:`support` says why); put ``cg.procs_files`` in the :class:`Spec`'s
    ``cgroup_procs`` (the wrapper joins the group first thing), or pass
    ``preexec_fn=cg.preexec_fn()`` to ``subprocess.Popen``, or call ``cg.attach(pid)``;
    read ``cg.cpu_seconds()``; finally ``cg.remove()`` (or use it as a context manager).
    """

    PERIOD_US = 100_000

    def __init__(self, version: str, dirs: dict[str, str]):
        self.version = version
        self.dirs = dirs
        """Controller ('' for v2) -> folder of this group."""
        self.final_cpu_seconds: float | None = None
        """CPU seconds of the tree when :meth:`remove` deleted the group."""

    @staticmethod
    @lru_cache(maxsize=1)
    def support() -> tuple[str, str]:
        """('v2'|'v1', '') if groups can be made here, else ('', why not). Cached."""
        if not sys.platform.startswith("linux"):
            return "", "control groups need Linux"
        try:
            cg = CGroup.create(pids=8, _checked=True)
        except OSError as err:
            return "", f"cannot make a control group: {err}"
        if cg is None:
            return "", _cgroup_parents()[2]
        cg.remove()
        return cg.version, ""

    @classmethod
    def create(cls, *, cpus: float | None = None, memory_mb: int | None = None,
               pids: int | None = None, name: str | None = None,
               _checked: bool = False) -> CGroup | None:
        """A new group with those limits (None = unlimited), or None if groups are unavailable.

        ``name`` defaults to ``course-grade-<pid namespace>-<pid>-<random>`` (of this process:
        :meth:`remove_stale` uses them to find groups left by a dead grader).
        """
        if not _checked and not cls.support()[0]:
            return None
        version, parents, _reason = _cgroup_parents()
        if not version:
            return None
        name = name or f"{CGROUP_PREFIX}{pid_namespace()}-{os.getpid()}-{secrets.token_hex(4)}"
        if version == "v2":
            parent = parents[""]
            try:
                enabled = set(_read(os.path.join(parent, "cgroup.subtree_control")).split())
                wanted = [c for c in ("cpu", "memory", "pids") if c not in enabled]
                if wanted:  # refused (EBUSY) when the parent holds processes and is not the root
                    _write(os.path.join(parent, "cgroup.subtree_control"),
                           " ".join("+" + c for c in wanted))
            except OSError:
                if _checked:
                    raise
                return None
            dirs = {"": os.path.join(parent, name)}
        else:
            dirs = {c: os.path.join(p, name) for c, p in parents.items()}
        cg = cls(version, dirs)
        try:
            for d in cg._folders():
                os.mkdir(d, 0o755)
            cg._limit(cpus, memory_mb, pids)
        except OSError:
            cg.remove()
            if _checked:
                raise
            return None
        return cg

    def _folders(self) -> list[str]:
        return list(dict.fromkeys(self.dirs.values()))

    def _file(self, controller: str, name: str) -> str:
        return os.path.join(self.dirs["" if self.version == "v2" else controller], name)

    def _limit(self, cpus: float | None, memory_mb: int | None, pids: int | None) -> None:
        quota = None if cpus is None else max(1000, int(cpus * self.PERIOD_US))
        mem = None if memory_mb is None else int(memory_mb) * 1024 * 1024
        if self.version == "v2":
            if quota is not None:
                _write(self._file("cpu", "cpu.max"), f"{quota} {self.PERIOD_US}")
            if mem is not None:
                _write(self._file("memory", "memory.max"), str(mem))
                try:  # swap would let the tree exceed its memory limit
                    _write(self._file("memory", "memory.swap.max"), "0")
                except OSError:
                    pass
        else:
            if quota is not None:
                _write(self._file("cpu", "cpu.cfs_period_us"), str(self.PERIOD_US))
                _write(self._file("cpu", "cpu.cfs_quota_us"), str(quota))
            if mem is not None:
                _write(self._file("memory", "memory.limit_in_bytes"), str(mem))
                try:
                    _write(self._file("memory", "memory.memsw.limit_in_bytes"), str(mem))
                except OSError:
                    pass
        if pids is not None:
            _write(self._file("pids", "pids.max"), str(int(pids)))

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid (or 0, itself) into to join."""
        return [os.path.join(d, "cgroup.procs") for d in self._folders()]

    def attach(self, pid: int = 0) -> None:
        """Move process ``pid`` (0: the caller) into the group; its future children follow."""
        for f in self.procs_files:
            _write(f, str(int(pid)))

    def preexec_fn(self):
        """A ``preexec_fn`` for ``subprocess.Popen``: the child joins the group before exec.

        It only writes to files opened by path, with no allocation beyond that (fork-safe);
        a failure raises in the child, so Popen raises in the caller and nothing runs.
        """
        return functools.partial(join_cgroups, [f.encode() for f in self.procs_files])

    def pids(self) -> list[int]:
        """Processes in the group now (host pids)."""
        found: set[int] = set()
        for f in self.procs_files:
            try:
                found.update(int(p) for p in _read(f).split())
            except OSError:
                pass
        return sorted(found)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the whole tree so far, exited processes included."""
        if self.final_cpu_seconds is not None:
            return self.final_cpu_seconds
        if self.version == "v2":
            for line in _read(self._file("cpu", "cpu.stat")).splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return 0.0
        return int(_read(self._file("cpuacct", "cpuacct.usage")).strip()) / 1e9

    def memory_peak_mb(self) -> float | None:
        """Largest memory use of the tree so far (None if the kernel does not say)."""
        name = "memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes"
        try:
            return int(_read(self._file("memory", name)).strip()) / 1024 / 1024
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int | None:
        """Processes of the tree the OOM killer killed (None if the kernel does not say)."""
        name = "memory.events" if self.version == "v2" else "memory.oom_control"
        try:
            for line in _read(self._file("memory", name)).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return None

    def kill(self, timeout: float = 10.0) -> bool:
        """SIGKILL every process of the group until none is left; True if it emptied in time."""
        if self.version == "v2":
            try:
                _write(self._file("", "cgroup.kill"), "1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            if not left:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self, timeout: float = 10.0) -> float:
        """Kill what is left, delete the group; returns the tree's total CPU seconds."""
        if self.final_cpu_seconds is None:
            try:
                self.final_cpu_seconds = self.cpu_seconds()
            except (OSError, ValueError):
                self.final_cpu_seconds = 0.0
        self.kill(timeout)
        deadline = time.monotonic() + timeout
        for d in reversed(self._folders()):
            while os.path.isdir(d):
                try:
                    os.rmdir(d)
                except OSError as err:
                    if err.errno != errno.EBUSY or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
        return self.final_cpu_seconds

    def __enter__(self) -> CGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    @staticmethod
    def remove_stale(prefix: str = CGROUP_PREFIX) -> list[str]:
        """Remove groups named ``<prefix><pid namespace>-<pid>-...`` (next to the ones this
        process would make) whose owner, in this PID namespace, is no longer running; groups
        of other PID namespaces are left alone (their pids mean nothing here)."""
        version, parents, _ = _cgroup_parents()
        mine = prefix + pid_namespace() + "-"
        removed = []
        for parent in dict.fromkeys(parents.values()):
            try:
                names = os.listdir(parent)
            except OSError:
                continue
            for name in names:
                pid = name[len(mine):].split("-", 1)[0]
                if not (name.startswith(mine) and pid.isdigit()) or os.path.exists(f"/proc/{pid}"):
                    continue
                stale = CGroup(version, {"": os.path.join(parent, name)})
                stale.final_cpu_seconds = 0.0
                stale.remove(timeout=5)
                if not os.path.exists(stale.dirs[""]):
                    removed.append(stale.dirs[""])
        return removed

