"""The grader's side of the sandbox: what isolation holds here, and how to start a run in it.

The sandbox itself is :mod:`course_tools.grading.jail`, a standalone script (it says what the
command gets on each platform); this module is what the grader calls around it:

* :func:`probe` runs the jail's end-to-end self-test once and returns an :class:`Isolation`
  that claims only what the self-test confirmed (:attr:`Isolation.isolated` is the grader's
  ``--require-isolation``); its :meth:`~Isolation.describe` line goes into the summary and
  every feedback file, so a run without isolation never passes for one;
* :func:`command` gives the argv running a command in the jail described by a :class:`Spec`
  (with :class:`Limits`, a :func:`private_uid` and the :func:`exposed_paths`);
  :func:`mount_workdir` gives a run's working folder a tmpfs of its own (root);
* whole-tree limits (CPU share, total memory, process count, total CPU time) need a control
  group: :class:`CGroup` (cgroup v2 or v1, :func:`fair_cpus` gives each run its CPU share), or
  :class:`TreeCpuWatch` as a CPU-time fallback;
* :func:`claim_tempdir` and :func:`cleanup_stale` clean up after a grader that was killed: they
  remove only what a dead grader left (its folders, their mounts, its control groups).

The jail's :class:`Limits`, :class:`Spec`, :data:`CHECKS`, :data:`SETUP_FAILED`, :func:`command`,
:func:`private_uid` and :func:`exposed_paths`, and :class:`CGroup`, :data:`CGROUP_PREFIX` and
:class:`TreeCpuWatch`, are re-exported here: the grader imports them all from this module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from course_tools.grading import jail
from course_tools.grading.cgroups import CGROUP_PREFIX as CGROUP_PREFIX
from course_tools.grading.cgroups import CGroup
from course_tools.grading.cpuwatch import TreeCpuWatch
from course_tools.grading.jail import CHECKS, SETUP_FAILED, Limits, Spec, command, exposed_paths, private_uid
from course_tools.grading.procfs import pid_namespace, start_time

__all__ = ["Limits", "Isolation", "Spec", "probe", "command", "private_uid", "exposed_paths",
           "mount_workdir", "unmount", "SETUP_FAILED", "CGroup", "TreeCpuWatch", "fair_cpus",
           "claim_tempdir", "cleanup_stale"]

OWNER_FILE = ".grader-owner"
"""Written by :func:`claim_tempdir`: the pid and start time of the process owning a folder."""


@dataclass(frozen=True)
class Isolation:
    """What the sandbox provides on this machine, as :func:`probe` found it.

    ``mode`` is what the wrapper will try; ``verified``/``failed`` are what an end-to-end
    self-test saw from inside such a sandbox (:data:`CHECKS`). An ``Isolation`` built by hand
    (no self-test: both empty) is described as unverified.
    """

    mode: str
    """'root', 'userns' or 'none'."""
    reason: str = ""
    """Why a stronger mode is unavailable, or what is weaker than it should be ('' if nothing)."""
    verified: tuple[str, ...] = ()
    """Names of the :data:`CHECKS` the self-test confirmed."""
    failed: tuple[str, ...] = ()
    """``"name: what was seen"`` for each check that failed."""
    cgroup: str = ""
    """'v2' or 'v1' when :class:`CGroup` can make per-run control groups here, else ''."""
    cgroup_reason: str = ""
    """Why control groups are unavailable ('' if they are)."""

    @property
    def self_tested(self) -> bool:
        return bool(self.verified or self.failed)

    @property
    def isolated(self) -> bool:
        """True only if the self-test confirmed that the file tree and the network are isolated
        and that the command has no capabilities (the grader's ``--require-isolation``)."""
        return self.mode != "none" and not self.failed and set(CHECKS) <= set(self.verified)

    def _holds(self, *names: str) -> bool:
        if self.mode == "none":
            return False
        return all(n in self.verified for n in names) if self.self_tested else True

    @property
    def network(self) -> bool:
        return self._holds("network")

    @property
    def filesystem(self) -> bool:
        return self._holds("hidden", "read_only")

    @property
    def fork_limit(self) -> bool:
        """A process-count limit without a control group (``RLIMIT_NPROC`` of a private user)."""
        return self.mode == "root"

    @property
    def cgroups(self) -> bool:
        return bool(self.cgroup)

    def describe(self, cgroup: bool = False) -> str:
        """One line for the summary and the feedback; ``cgroup``: the run had a :class:`CGroup`."""
        if self.mode == "none":
            return ("sandbox: memory/CPU limits only; NOT isolated from the network or the file "
                    f"system ({self.reason})")
        limits = "memory/CPU/process/disk limits" if self.fork_limit else "memory/CPU limits"
        if cgroup and self.cgroup:
            limits += f", whole-run CPU share/memory/process limits (cgroup {self.cgroup})"
        elif not self.fork_limit:
            limits += f"; NO process-count limit ({self.reason or 'no private user id'})"
        who = "private user" if self.mode == "root" else "unprivileged user namespace"
        if not self.self_tested:
            return f"sandbox ({self.mode}, not self-tested): {who}, no network, private file tree, {limits}"
        if self.isolated:
            return f"sandbox: {who}, no capabilities, no network, private file tree, {limits}"
        holds = [CHECKS[n] for n in CHECKS if n in self.verified]
        broken = [f.split(":", 1)[0] for f in self.failed]
        return (f"sandbox: PARTIAL isolation ({self.mode}); FAILED: {', '.join(broken)}; holds: "
                f"{'; '.join(holds) or 'nothing'}; {limits}")


@lru_cache(maxsize=1)
def probe() -> Isolation:
    """Which mode works here, checked end to end, and whether control groups are usable.

    Runs :mod:`~course_tools.grading.jail` by path with ``--probe`` in a child process: it tries
    the namespaces, then runs a small self-test inside a real sandbox (:data:`CHECKS`); then
    tries to make a control group (:meth:`CGroup.support`). Takes about a second; cached.
    """
    if not sys.platform.startswith("linux"):
        return Isolation("none", f"namespaces need Linux (this is {sys.platform})",
                         cgroup_reason="control groups need Linux")
    try:
        out = subprocess.run([sys.executable, os.path.abspath(jail.__file__), "--probe"],
                             capture_output=True, text=True, timeout=120)
        d = json.loads(out.stdout.strip().splitlines()[-1])
        d["cgroup"], d["cgroup_reason"] = CGroup.support()
        return Isolation(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
    except Exception as err:  # noqa: BLE001 - any failure means: no isolation
        return Isolation("none", f"probe failed: {type(err).__name__}: {err}")


def mount_workdir(path: Path, size_mb: int, uid: int) -> bool:
    """Mount a tmpfs of ``size_mb`` owned by ``uid`` on ``path`` (root on Linux); True if done."""
    try:
        jail.mount("tmpfs", str(path), "tmpfs", jail.MS_NOSUID | jail.MS_NODEV,
                   f"size={int(size_mb)}m,mode=700,uid={uid},gid={uid}")
    except OSError:
        return False
    return True


def unmount(path: Path) -> None:
    """Detach the tmpfs mounted by :func:`mount_workdir`."""
    jail.detach(str(path))


def fair_cpus(jobs: int) -> float:
    """Each of ``jobs`` parallel runs' fair share of this machine's usable cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(0.1, cores / max(1, int(jobs)))


# -- leftovers of a killed grader ---------------------------------------------------------------
def claim_tempdir(path: str | Path) -> Path:
    """Mark the folder ``path`` as this process's (its pid and start time, in ``.grader-owner``).

    :func:`cleanup_stale` removes a claimed folder once its owner is dead. Call it right after
    making the folder (``tempfile.mkdtemp(prefix="grade-")``), before mounting anything in it.
    """
    path = Path(path)
    tmp = path / (OWNER_FILE + ".tmp")
    tmp.write_text(f"{os.getpid()} {start_time(os.getpid()) or '-'} {pid_namespace()}\n")
    os.replace(tmp, path / OWNER_FILE)
    return path


def _owner_alive(folder: Path) -> bool | None:
    """True/False if the folder was claimed by a live/dead process, None if it was never
    claimed or claimed from another PID namespace (whose pids mean nothing here)."""
    try:
        pid, start, pidns = (folder / OWNER_FILE).read_text().split()
        pid_n = int(pid)
    except (OSError, ValueError):
        return None
    if pidns != pid_namespace():
        return None
    now = start_time(pid_n)
    return now is not None and (start == "-" or now == start)


def cleanup_stale(tmp_root: str | Path | None = None, prefix: str = "grade-", *,
                  cgroups: bool = True) -> list[str]:
    """Remove what graders that died left behind; returns the paths cleaned.

    In ``tmp_root`` (default: the system's temporary folder), every folder named
    ``<prefix>...`` that is owned by this user, is not a symbolic link and was claimed with
    :func:`claim_tempdir` by a process that is no longer running: whatever is still mounted
    below it (the working folder's tmpfs...) is detached (``MNT_DETACH``), then the folder is
    deleted. Unclaimed folders are left alone (they may be a live grader's, between
    ``mkdtemp`` and ``claim_tempdir``). With ``cgroups``, also :meth:`CGroup.remove_stale`.
    Safe to call while other graders run: their folders have live owners.
    """
    root = Path(tmp_root or tempfile.gettempdir())
    cleaned: list[str] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        entries = []
    for folder in entries:
        if not folder.name.startswith(prefix) or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            if folder.lstat().st_uid != os.geteuid() or _owner_alive(folder) is not False:
                continue
        except OSError:
            continue
        real = os.path.realpath(folder)
        if sys.platform.startswith("linux"):
            below = sorted({mp for _r, mp, _fs, _o in jail.mounts() if mp.startswith(real + "/")},
                           key=len, reverse=True)
            for mp in below:
                jail.detach(mp)
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.lexists(folder):
            cleaned.append(str(folder))
    if cgroups and sys.platform.startswith("linux"):
        try:
            cleaned += CGroup.remove_stale()
        except OSError:
            pass
    return cleaned

