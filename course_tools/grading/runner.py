"""One submission's run: its assembled notebook under nbval, inside the sandbox, and nothing left after.

:func:`run_notebook` writes the notebook and the hidden checks' argument lists into a fresh
working folder (a tmpfs of its own in root mode), runs ``pytest --nbval-lax`` there through
:mod:`course_tools.grading.sandbox` with the handout's package on ``PYTHONPATH``, waits with a
per-notebook wall-clock timeout (nbval applies the per-cell one), kills the whole process tree
(its process group, its private user's processes, anything carrying the run's token), and reads
back what the run wrote, as untrusted bytes with size caps. Nothing here interprets those
bytes: :mod:`course_tools.grading.codec` does.

Fair sharing: where control groups work, each run gets its own (a CPU quota of its fair share
of the cores, a process-count and a memory limit over the whole run), so a submission that
forks busy processes cannot slow its neighbour under ``--jobs N``; elsewhere a watcher kills a
run whose whole process tree exceeds its CPU-time budget.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_tools import handout
from course_tools.grading import sandbox
from course_tools.grading.record import MAX_RECORD_BYTES

__all__ = ["RunConfig", "RunOutput", "run_notebook", "kill_running", "read_untrusted"]

MAX_REPORT_BYTES = 16 * 1024 * 1024


@dataclass
class RunConfig:
    """How every submission of a grading run is run."""

    cell_timeout: float = 60
    notebook_timeout: float = 600
    threads: int = 1
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    isolation: sandbox.Isolation | None = None
    hide: list[str] = field(default_factory=list)
    runtime: handout.GradingRuntime | None = None
    """The handout's package and the recording helpers, put on the sandbox's PYTHONPATH."""
    cpus: float = 1.0
    """Each run's fair share of the machine's cores (a cgroup quota, where cgroups work)."""
    cpu_budget: float = 1800.0
    """CPU seconds the whole process tree of a run may use (where there is no cgroup)."""


@dataclass
class RunOutput:
    """What came back from one run (all of it untrusted bytes but ``status``/``message``)."""

    status: str
    """'graded' (the run finished), 'timeout' (the notebook limit) or 'error' (it broke)."""
    message: str
    report: bytes
    """The cell report (JSON lines) written by the pytest plugin."""
    records: dict[str, bytes]
    """Record files by name (``rec-<id>-visible.pkl``, ``rec-<id>-hidden.pkl``)."""
    seconds: float = 0.0


def _kill_tree(proc: subprocess.Popen, token: str, uid: int | None) -> None:
    """Stop the run: its process group, its descendants, anything with ``token`` or ``uid``."""
    import psutil

    victims = []
    try:
        victims = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        pass
    for p in psutil.process_iter(["uids"] if uid is not None else ["environ"]):
        try:
            if uid is not None:  # a private user id: every process of it belongs to this run
                if p.info["uids"] and p.info["uids"].real == uid:
                    victims.append(p)
            elif (p.info.get("environ") or {}).get("COURSE_GRADE_TOKEN") == token:
                victims.append(p)
        except psutil.Error:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in victims:
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.wait()


_RUNNING: dict[subprocess.Popen, tuple[str, int | None]] = {}
"""Sandboxed runs in progress (killed if the grader is stopped)."""
_RUNNING_LOCK = threading.Lock()


def kill_running() -> None:
    """Kill every run in progress (the grader is stopping)."""
    with _RUNNING_LOCK:
        running = list(_RUNNING.items())
    for proc, (token, uid) in running:
        _kill_tree(proc, token, uid)


def read_untrusted(path: Path, limit: int) -> bytes | None:
    """Bytes of a file the sandbox wrote, or None (missing, not a regular file, too large)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        return f.read(limit + 1)[:limit]


def _env(work: str, token: str, threads: int, pythonpath: list[str]) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work, "TMPDIR": work,
           "PYTHONPATH": os.pathsep.join(pythonpath), "PYTHONNOUSERSITE": "1",
           "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8",
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "COURSE_GRADE_TOKEN": token,
           "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LD_LIBRARY_PATH"):
        if var in os.environ:
            env[var] = os.environ[var]
    return env


def run_notebook(nb: nbformat.NotebookNode, base: Path, files: dict[str, bytes], cfg: RunConfig,
                 ) -> RunOutput:
    """Run ``nb`` under nbval in the sandbox, in ``base/work`` (``base`` must be empty)."""
    isolation = cfg.isolation or sandbox.probe()
    work = base / "work"
    work.mkdir(mode=0o700)
    uid = sandbox.private_uid() if isolation.mode == "root" else None
    mounted = uid is not None and sandbox.mount_workdir(work, cfg.limits.workdir_mb, uid)
    try:
        return _run_in(nb, base, work, uid, files, cfg, isolation)
    finally:
        if mounted:
            sandbox.unmount(work)


def _prepare(nb, work: Path, uid: int | None, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (work / name).write_bytes(data)
    fonts = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    for cache in sorted(fonts.glob("fontlist-*.json"))[-1:]:  # spare each run a font scan
        (work / ".cache" / "matplotlib").mkdir(parents=True)
        shutil.copy(cache, work / ".cache" / "matplotlib" / cache.name)
    nbformat.write(nb, str(work / "submission.ipynb"))
    (work / "pytest.ini").write_text("[pytest]\naddopts =\n")
    if uid is not None:
        for p in [work, *work.rglob("*")]:
            os.chown(p, uid, uid)


def _run_in(nb, base: Path, work: Path, uid: int | None, files: dict[str, bytes], cfg: RunConfig,
            isolation: sandbox.Isolation) -> RunOutput:
    import time

    _prepare(nb, work, uid, files)
    report = work / "cells.jsonl"
    token = secrets.token_hex(8)
    runtime = cfg.runtime or handout.GradingRuntime.default()
    cmd = [sys.executable, str(runtime.plugin), str(work / "submission.ipynb"), "-q",
           "-p", "nbval.plugin", "-p", runtime.plugin.stem, "--nbval-lax", "--nbval-current-env",
           f"--nbval-cell-timeout={cfg.cell_timeout}", f"--grade-report={report}",
           "-p", "no:cacheprovider", "--rootdir", str(work), "-c", str(work / "pytest.ini")]
    (base / "root").mkdir()
    spec = sandbox.Spec(workdir=str(work), newroot=str(base / "root"), mode=isolation.mode,
                        uid=uid, hide=cfg.hide, expose=[*sandbox.exposed_paths(), *runtime.paths],
                        limits=asdict(cfg.limits))
    cgroup = None
    if isolation.cgroups:
        cgroup = sandbox.CGroup.create(cpus=cfg.cpus, memory_mb=cfg.limits.memory_mb * 2,
                                       pids=cfg.limits.processes)
    if cgroup is not None:
        spec.cgroup_procs = cgroup.procs_files
    argv = sandbox.command(spec, base / "sandbox.json", cmd)
    log_path = base / "pytest.log"
    start = time.perf_counter()
    watch = None
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=work, env=_env(str(work), token, cfg.threads, runtime.paths),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        with _RUNNING_LOCK:
            _RUNNING[proc] = (token, uid)
        if cgroup is None and sys.platform.startswith("linux"):
            watch = sandbox.TreeCpuWatch(proc.pid, cfg.cpu_budget).start()
        status, message = "graded", ""
        try:
            proc.wait(timeout=cfg.notebook_timeout)
        except subprocess.TimeoutExpired:
            status = "timeout"
            message = (f"your notebook did not finish within {cfg.notebook_timeout:g} s and was "
                       "stopped; the checks that had not run get no points")
        finally:
            _kill_tree(proc, token, uid)  # a kernel or a child the student started may linger
            with _RUNNING_LOCK:
                _RUNNING.pop(proc, None)
            if watch is not None:
                watch.stop()
            oom = cgroup.oom_kills() if cgroup is not None else None
            if cgroup is not None:
                cgroup.remove()
    seconds = time.perf_counter() - start
    if watch is not None and watch.exceeded and status == "graded":
        status = "timeout"
        message = (f"your notebook's processes used more than {cfg.cpu_budget:g} s of CPU time "
                   "together and were stopped")
    elif oom and status == "graded":
        message = "your notebook ran out of memory (the run's memory limit) and some processes were killed"
    report_bytes = read_untrusted(report, MAX_REPORT_BYTES) or b""
    # 1 = some cells failed, which is normal; but no cell reported means pytest itself broke
    if status == "graded" and (proc.returncode not in (0, 1) or not report_bytes.strip()):
        status = "error"
        with open(log_path, "rb") as f:
            f.seek(max(0, log_path.stat().st_size - 4000))
            tail = f.read().decode(errors="replace").strip().splitlines()[-5:]
        if proc.returncode == sandbox.SETUP_FAILED:
            message = "the grader could not set up its sandbox: " + " | ".join(tail)
        else:
            message = (f"the notebook run stopped abnormally (exit code {proc.returncode}): "
                       + " | ".join(tail))
    records = {}
    for p in work.glob("rec-*.pkl"):
        data = read_untrusted(p, MAX_RECORD_BYTES)
        if data is not None:
            records[p.name] = data
    return RunOutput(status, message, report_bytes, records, seconds)
