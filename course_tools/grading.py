"""The autograder: run each submission in a sandbox, judge its answers in a clean process.

For every submission the grader

1. reads it (a file that is not a notebook gets zero, with the reason in its feedback);
2. **assembles** the notebook it will run: the student's cells, minus any cell tagged as a
   check, plus one grader cell per exercise of the reference, inserted right after the
   student's answer cell (or at the end when the answer cell is gone). The grader cell runs
   the exercise's check and *records* what the student's function returned
   (:mod:`course_tools.record`); for hidden checks (``course_tools/hidden/*.py``) it only
   calls the student's function on argument lists the grader planned. An edited, deleted or
   neutered check cell therefore changes nothing;
3. **runs** it with ``pytest --nbval-lax`` inside :mod:`course_tools.sandbox` (its own user,
   process group and PID namespace, no network, a private file tree where only its working
   folder is writable and the instructor notebooks, hidden tests and other submissions are
   invisible, memory/CPU/process limits, a per-cell and a per-notebook timeout). The kernel
   imports the *handout's* ``course_lib``, copied for this run; the instructor package
   (references, hidden checks, this grader) is not there, so importing it fails;
4. **judges** each exercise in a separate clean process (``python -I``, started in an empty
   folder, so no ``course_lib`` of the submission's or the current folder is imported): the
   check bodies (visible and hidden) run again in the judge's own installation and are fed the
   recorded results. Nothing the kernel prints, raises or replies decides a grade, so patching
   the checks, ``assert``, ``numpy`` or IPython inside the kernel, or printing "passed", earns
   nothing. An exercise earns its points when all its checks (visible and hidden) pass. Each
   student's hidden inputs come from their own seed (:func:`student_seed`).

Results are written as they arrive: ``grades.json`` and ``gradebook.csv`` are rewritten
atomically after every submission, and each student gets ``feedback/<student>.md``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import pickle
import queue
import secrets
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_tools import authoring, handout, sandbox
from course_tools.plugin import GRADER_KEY

__all__ = ["ExerciseResult", "SubmissionResult", "JudgePool", "assemble", "grade", "grade_one",
           "student_id", "summary", "default_hidden_dir"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ExerciseResult:
    """Score of one exercise of one submission."""

    id: str
    points: float
    max_points: float
    message: str
    checks: list[dict] = field(default_factory=list)
    """Every check of the exercise: ``{"check", "kind" (visible|hidden), "passed", "message"}``."""


@dataclass
class SubmissionResult:
    """Everything the grader learned about one submission."""

    student: str
    path: str
    sha256: str
    reference_sha256: str
    """Hash of the reference notebook and the hidden checks (``--resume`` compares it)."""
    status: str
    """'graded', 'invalid' (not a readable notebook), 'timeout' or 'error' (the run broke)."""
    message: str = ""
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    cell_errors: list[str] = field(default_factory=list)
    """Errors raised by the student's own cells (context for the feedback)."""
    seconds: float = 0.0
    seed: int = 0
    """Seed of this student's hidden-check inputs (for the instructor; never in the feedback)."""
    sandbox: str = ""
    """What the sandbox provided (see :meth:`course_lib.sandbox.Isolation.describe`)."""

    @property
    def total(self) -> float:
        return sum(e.points for e in self.exercises.values())


def student_id(path: Path) -> str:
    """The student id is the submission's file name without ``.ipynb``."""
    return path.name[: -len(".ipynb")] if path.name.endswith(".ipynb") else path.name


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_hidden_dir() -> Path:
    """``course_tools/hidden``: hidden checks, never shipped to students."""
    return Path(__file__).resolve().parent / "hidden"


def student_seed(run_seed: int, student: str) -> int:
    """Each student's hidden-check seed: a keyed hash of their id with the run's secret seed.

    Students cannot predict it (the run seed stays with the instructor), two students get
    different inputs, and regrading with the same run seed gives a student the same inputs.
    """
    digest = hmac.new(str(int(run_seed)).encode(), student.encode("utf-8", "surrogateescape"),
                      hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _grader_cell(exercise_id: str, workdir: str, with_hidden: bool, secret: str) -> nbformat.NotebookNode:
    rec = f"{workdir}/rec-{exercise_id}.pkl"
    args = f"{workdir}/args-{exercise_id}.pkl" if with_hidden else None
    cell = nbformat.v4.new_code_cell(
        f"# grader: exercise {exercise_id}, checked outside this notebook\n"
        f"__import__('course_grader_record').produce("
        f"{exercise_id!r}, {rec!r}, {args!r})")
    cell.metadata[GRADER_KEY] = secret
    return cell


def assemble(
    reference: nbformat.NotebookNode, submission: nbformat.NotebookNode, workdir: str = ".",
    hidden_ids: frozenset[str] | set[str] = frozenset(),
) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook to run: the submission with one grader cell per reference exercise.

    Every cell the submission tags as a check is dropped; each grader cell carries a random
    id in its metadata (returned per exercise id) and records into ``workdir``.
    """
    ref_exercises = authoring.exercises(reference)
    cells = [
        c for c in submission.get("cells", [])
        if isinstance(c, dict) and authoring.tag_value(c, "exercise") is None
        and GRADER_KEY not in c.get("metadata", {})
    ]
    secret_ids: dict[str, str] = {}
    for ex in ref_exercises.values():
        secret_ids[ex.id] = secrets.token_hex(16)
        check = _grader_cell(ex.id, workdir, ex.id in hidden_ids, secret_ids[ex.id])
        answer = next(
            (i for i, c in enumerate(cells) if authoring.tag_value(c, "solution") == ex.id), None
        )
        cells.insert(len(cells) if answer is None else answer + 1, check)
    nb = nbformat.v4.new_notebook()
    nb.metadata = json.loads(json.dumps(reference.metadata))
    nb.cells = cells
    return nb, secret_ids


# -- the judge processes ------------------------------------------------------------------------
class _JudgeServer:
    """One ``python -I -m course_tools.replay --serve``: imports the checks once, forks per job.

    ``-I`` ignores ``PYTHONPATH`` and the user's site folder, and the process starts in an empty
    folder: the judge imports its own installation of ``course_lib`` and ``course_tools``.
    """

    def __init__(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        self.cwd = tempfile.mkdtemp(prefix="judge-cwd-")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "course_tools.replay", "--serve"], cwd=self.cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True)

    def call(self, func: str, kwargs: dict, timeout: float):
        with tempfile.TemporaryDirectory(prefix="judge-") as tmp:
            path = os.path.join(tmp, "result.pkl")
            payload = pickle.dumps((func, kwargs, path, timeout), protocol=4)
            self.proc.stdin.write(struct.pack("<Q", len(payload)) + payload)
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline().decode().strip()
            if answer == "ok":
                with open(path, "rb") as f:
                    return pickle.load(f)
            detail = Path(path + ".err").read_text() if os.path.exists(path + ".err") else ""
            raise RuntimeError(f"the judge {answer or 'stopped'} {detail}".strip())

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()
        shutil.rmtree(self.cwd, ignore_errors=True)


class JudgePool:
    """``n`` judge servers shared by the grading threads (a broken one is replaced)."""

    def __init__(self, n: int = 1):
        self.servers: queue.Queue[_JudgeServer] = queue.Queue()
        for _ in range(max(1, n)):
            self.servers.put(_JudgeServer())

    def call(self, func: str, kwargs: dict, timeout: float):
        server = self.servers.get()
        try:
            return server.call(func, kwargs, timeout)
        except Exception:
            server.close()
            server = _JudgeServer()
            raise
        finally:
            self.servers.put(server)

    def close(self) -> None:
        while not self.servers.empty():
            self.servers.get().close()

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- running one notebook ------------------------------------------------------------------------
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
"""Sandboxed runs in progress (killed if the grader is interrupted)."""
_RUNNING_LOCK = threading.Lock()


def _kill_running() -> None:
    with _RUNNING_LOCK:
        running = list(_RUNNING.items())
    for proc, (token, uid) in running:
        _kill_tree(proc, token, uid)


def _read_untrusted(path: Path, limit: int) -> bytes | None:
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


@dataclass
class _RunConfig:
    cell_timeout: float = 60
    notebook_timeout: float = 600
    threads: int = 1
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    isolation: sandbox.Isolation | None = None
    hide: list[str] = field(default_factory=list)
    runtime: handout.GradingRuntime | None = None
    """The handout's package and the recording helpers, put on the sandbox's PYTHONPATH."""


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


def _run(nb: nbformat.NotebookNode, base: Path, files: dict[str, bytes], cfg: _RunConfig,
         ) -> tuple[list[dict], dict[str, bytes], str, str]:
    """Run ``nb`` under nbval in the sandbox, in ``base/work``.

    Returns (cell records, record bytes by file name, status, message).
    """
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


def _run_in(nb, base: Path, work: Path, uid: int | None, files: dict[str, bytes], cfg: _RunConfig,
            isolation: sandbox.Isolation) -> tuple[list[dict], dict[str, bytes], str, str]:
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
    report = work / "cells.jsonl"
    token = secrets.token_hex(8)
    runtime = cfg.runtime or handout.GradingRuntime.default()
    cmd = [
        sys.executable, str(runtime.plugin), str(work / "submission.ipynb"), "-q",
        "-p", "nbval.plugin",
        "-p", runtime.plugin.stem, "--nbval-lax", "--nbval-current-env",
        f"--nbval-cell-timeout={cfg.cell_timeout}", f"--grade-report={report}",
        "-p", "no:cacheprovider", "--rootdir", str(work), "-c", str(work / "pytest.ini"),
    ]
    (base / "root").mkdir()
    spec = sandbox.Spec(workdir=str(work), newroot=str(base / "root"), mode=isolation.mode,
                        uid=uid, hide=cfg.hide, expose=[*sandbox.exposed_paths(), *runtime.paths],
                        limits=asdict(cfg.limits))
    argv = sandbox.command(spec, base / "sandbox.json", cmd)
    log_path = base / "pytest.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=work, env=_env(str(work), token, cfg.threads, runtime.paths),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        with _RUNNING_LOCK:
            _RUNNING[proc] = (token, uid)
        status, message = "graded", ""
        try:
            proc.wait(timeout=cfg.notebook_timeout)
        except subprocess.TimeoutExpired:
            status = "timeout"
            message = f"the notebook did not finish within {cfg.notebook_timeout:g} s and was stopped"
        finally:
            _kill_tree(proc, token, uid)  # a kernel or a child the student started may linger
            with _RUNNING_LOCK:
                _RUNNING.pop(proc, None)
    records = []
    for line in (_read_untrusted(report, 16 * 1024 * 1024) or b"").decode(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            records.append(rec)
    # 1 = some cells failed, which is normal; but 1 with no cell run means pytest itself broke
    if status == "graded" and (proc.returncode not in (0, 1) or not records):
        status = "error"
        with open(log_path, "rb") as f:
            f.seek(max(0, log_path.stat().st_size - 4000))
            tail = f.read().decode(errors="replace").strip().splitlines()[-5:]
        if proc.returncode == sandbox.SETUP_FAILED:
            message = "the grader could not set up its sandbox: " + " | ".join(tail)
        else:
            message = (f"the notebook run stopped abnormally (exit code {proc.returncode}): "
                       + " | ".join(tail))
    from course_tools.replay import MAX_RECORD_BYTES

    produced = {}
    for p in work.glob("rec-*.pkl"):
        produced[p.name] = _read_untrusted(p, MAX_RECORD_BYTES)
    return records, produced, status, message


def _first_line(text: str, limit: int = 300) -> str:
    text = str(text).strip()
    return text if len(text) <= limit else text[:limit] + " ..."


@dataclass
class _Context:
    """What every submission of one grading run shares."""

    reference_path: Path
    ref_bytes: bytes
    reference: nbformat.NotebookNode
    exercises: dict
    fingerprint: str
    hidden_dir: str | None
    run_seed: int
    """The run's secret; each student's hidden-check seed is derived from it (:func:`student_seed`)."""
    pool: JudgePool
    cfg: _RunConfig

    def plan(self, seed: int) -> dict:
        """The hidden checks' argument lists for one student's seed (planned by the judge)."""
        if not self.hidden_dir:
            return {}
        return self.pool.call("plan", {"hidden_dir": self.hidden_dir, "seed": seed,
                                       "exercise_ids": list(self.exercises)}, timeout=600)


def _context(reference_path: Path, *, hidden_dir: str | Path | None, run_seed: int,
             pool: JudgePool, cfg: _RunConfig) -> _Context:
    ref_bytes = reference_path.read_bytes()
    reference = nbformat.reads(ref_bytes.decode(), as_version=4)
    exercises = authoring.exercises(reference)
    from course_tools.replay import hidden_fingerprint

    hidden = str(hidden_dir) if hidden_dir is not None and Path(hidden_dir).is_dir() else None
    fingerprint = _sha(ref_bytes + hidden_fingerprint(hidden).encode())
    return _Context(reference_path, ref_bytes, reference, exercises, fingerprint, hidden,
                    int(run_seed), pool, cfg)


def _grade(ctx: _Context, path: Path) -> SubmissionResult:
    isolation = ctx.cfg.isolation or sandbox.probe()
    try:
        data = path.read_bytes()
    except OSError as err:
        data, read_error = b"", f"could not read the file: {err}"
    else:
        read_error = ""
    student = student_id(path)
    seed = student_seed(ctx.run_seed, student)
    result = SubmissionResult(student, str(path), _sha(data), ctx.fingerprint, "graded",
                              seed=seed, sandbox=isolation.describe())
    zero = {ex.id: ExerciseResult(ex.id, 0.0, ex.points, "") for ex in ctx.exercises.values()}
    try:
        if read_error:
            raise ValueError(read_error)
        submission = nbformat.reads(data.decode("utf-8"), as_version=4)
        if not isinstance(submission.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as err:  # not JSON, not a notebook, not UTF-8 ...
        result.status = "invalid"
        result.message = f"not a readable notebook ({type(err).__name__}: {_first_line(str(err))})"
        for e in zero.values():
            e.message = "not graded: " + result.message
            e.checks = [{"check": "all", "kind": "visible", "passed": False, "message": e.message}]
        result.exercises = zero
        return result

    base = Path(tempfile.mkdtemp(prefix="grade-"))
    try:
        work = str(base / "work")
        plan = ctx.plan(seed)
        nb, secret_ids = assemble(ctx.reference, submission, work, set(plan))
        files = {f"args-{ex_id}.pkl": p["args"] for ex_id, p in plan.items()}
        start = time.perf_counter()
        records, produced, result.status, result.message = _run(nb, base, files, ctx.cfg)
        result.seconds = time.perf_counter() - start
    finally:
        if os.environ.get("COURSE_GRADER_KEEP"):
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)

    by_secret = {r.get("grader_id"): r for r in records if r.get("grader_id")}
    requests = []
    for ex in ctx.exercises.values():
        rec = produced.get(f"rec-{ex.id}.pkl")
        if rec is None:
            cell = by_secret.get(secret_ids[ex.id])
            if cell is not None and cell.get("outcome") == "skipped":
                why = "not graded: an earlier cell timed out, so this check was skipped"
            else:
                why = "not graded: its check did not run (" + (
                    result.message or "the kernel stopped before reaching it") + ")"
            zero[ex.id].message = why
            zero[ex.id].checks = [{"check": "all", "kind": "visible", "passed": False, "message": why}]
            continue
        requests.append({"exercise_id": ex.id, "record": rec, "hidden_plan": plan.get(ex.id),
                         "seed": seed, "hidden_dir": ctx.hidden_dir,
                         "cell_timeout": ctx.cfg.cell_timeout})
    if requests:
        try:
            verdicts = ctx.pool.call("judge_many", {"requests": requests},
                                     timeout=60 + 2 * ctx.cfg.cell_timeout * len(requests))
        except RuntimeError as err:
            result.status = "error"
            result.message = f"the judge failed: {_first_line(str(err))}"
            verdicts = {}
        for req in requests:
            res = zero[req["exercise_id"]]
            res.checks = verdicts.get(req["exercise_id"], [])
            failed = [c for c in res.checks if not c["passed"]]
            if res.checks and not failed:
                res.points, res.message = res.max_points, "passed"
            else:
                res.message = failed[0]["message"] if failed else result.message or "not graded"
                if failed and failed[0]["kind"] == "hidden" and len(failed) == 1:
                    res.message = "a hidden check failed: " + res.message
    secret_set = set(secret_ids.values())
    for r in records:
        if r.get("grader_id") not in secret_set and r.get("outcome") == "failed" and isinstance(
                r.get("error"), dict):
            err = r["error"]
            result.cell_errors.append(
                f"code cell {r.get('cell_num')}: {_first_line(err.get('ename', ''), 80)}: "
                f"{_first_line(err.get('evalue', ''))}")
    result.cell_errors = result.cell_errors[:20]
    result.exercises = zero
    return result


def _hide_list(reference: Path, submissions: list[Path], out: Path, hidden_dir) -> list[str]:
    """What a submission must not see: the whole course folder (instructor package included)
    but the Python environment inside it, the installed ``course_lib`` and ``course_tools``
    (the kernel imports the handout's copy instead), the reference, the other submissions, the
    output folder and the hidden checks."""
    import course_lib

    exposed = {os.path.realpath(p) for p in sandbox.exposed_paths()}
    keep = set()
    for p in exposed:  # e.g. .venv inside the course folder
        rel = os.path.relpath(p, ROOT)
        if not rel.startswith(".."):
            keep.add(rel.split(os.sep)[0])
    hide = {str(ROOT / name) for name in os.listdir(ROOT) if name not in keep}
    hide.add("/run/user")  # per-user sockets (session bus...) when not running as root
    hide.add(str(Path(__file__).resolve().parent))  # course_tools, wherever it is installed
    hide.add(str(Path(course_lib.__file__).resolve().parent))  # the instructor's copy
    for p in [reference.resolve().parent, out.resolve(), *(s.resolve().parent for s in submissions)]:
        hide.add(str(p))
    if hidden_dir is not None:
        hide.add(str(Path(hidden_dir).resolve()))
    return sorted(h for h in hide if h not in exposed and h != "/")


def _run_seed(out: Path, seed: int | None) -> int:
    """The run's secret seed: ``seed`` if given, else the one this output folder used, else new.

    Kept in ``<out>/run.json`` (for the instructor), so a regrade or ``--resume`` gives each
    student the same hidden inputs.
    """
    path = out / "run.json"
    saved = None
    try:
        saved = int(json.loads(path.read_text())["run_seed"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    run_seed = int(seed) if seed is not None else saved if saved is not None else secrets.randbelow(2**31)
    if run_seed != saved:
        out.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps({"run_seed": run_seed}) + "\n")
    return run_seed


def grade_one(reference_path: Path, path: Path, *, cell_timeout: float = 60,
              notebook_timeout: float = 600, threads: int = 1,
              hidden_dir: str | Path | None = None, seed: int | None = None) -> SubmissionResult:
    """Grade one submission against the reference notebook (starts its own judge)."""
    reference_path, path = Path(reference_path), Path(path)
    hidden_dir = default_hidden_dir() if hidden_dir is None else hidden_dir
    cfg = _RunConfig(cell_timeout, notebook_timeout, threads,
                     hide=_hide_list(reference_path, [path], path.parent, hidden_dir))
    run_seed = secrets.randbelow(2**31) if seed is None else int(seed)
    with JudgePool(1) as pool, handout.GradingRuntime.build() as runtime:
        cfg.runtime = runtime
        return _grade(_context(reference_path, hidden_dir=hidden_dir, run_seed=run_seed, pool=pool,
                               cfg=cfg), path)


# -- outputs ------------------------------------------------------------------------------
def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _gradebook_csv(results: list[SubmissionResult], exercise_ids: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", *[f"exercise {i}" for i in exercise_ids], "total", "status"])
    for r in sorted(results, key=lambda r: r.student):
        w.writerow([r.student, *[f"{r.exercises[i].points:g}" if i in r.exercises else "0"
                                 for i in exercise_ids], f"{r.total:g}", r.status])
    return buf.getvalue()


def _feedback_md(r: SubmissionResult) -> str:
    max_total = sum(e.max_points for e in r.exercises.values())
    lines = [f"# Feedback for {r.student}", "", f"**Total: {r.total:g} / {max_total:g}**", ""]
    if r.status != "graded":
        lines += [f"> Grading problem ({r.status}): {r.message}", ""]
    lines += ["| Exercise | Points | Checks passed | |", "|---|---|---|---|"]
    for e in r.exercises.values():
        mark = "passed" if e.points == e.max_points else "see below"
        n_ok = sum(c["passed"] for c in e.checks)
        lines.append(f"| {e.id} | {e.points:g} / {e.max_points:g} | {n_ok} / {len(e.checks)} | {mark} |")
    for e in r.exercises.values():
        if e.points < e.max_points:
            lines += ["", f"## Exercise {e.id}", "", "```", e.message, "```"]
            for c in e.checks:
                if not c["passed"] and c["message"] != e.message:
                    what = "a hidden check" if c["kind"] == "hidden" else "the check in your notebook"
                    lines += ["", f"Also failed ({what}):", "", "```", c["message"], "```"]
    if r.cell_errors:
        lines += ["", "## Other cells that raised an error", ""]
        lines += [f"- {msg}" for msg in r.cell_errors]
    if r.sandbox:
        lines += ["", f"<sub>Graded with {r.sandbox}.</sub>"]
    return "\n".join(lines) + "\n"


def grade(
    reference: str | Path,
    submissions: list[str | Path],
    out: str | Path,
    *,
    jobs: int = 1,
    cell_timeout: float = 60,
    notebook_timeout: float = 600,
    resume: bool = False,
    progress: bool = True,
    hidden_dir: str | Path | None = None,
    limits: sandbox.Limits | None = None,
    seed: int | None = None,
    handout_package: str | Path | None = None,
) -> list[SubmissionResult]:
    """Grade ``submissions`` against ``reference``; write gradebook, grades.json, feedback.

    ``hidden_dir`` defaults to :func:`default_hidden_dir`. ``seed`` is the run's secret, from
    which each student's hidden-check seed is derived; it defaults to the one ``out`` used
    before, else a fresh random one. ``handout_package`` is the folder holding the handout's
    ``course_lib`` that submissions run against (default: a copy of this one's, made for the run).
    """
    reference, out = Path(reference), Path(out)
    hidden_dir = default_hidden_dir() if hidden_dir is None else Path(hidden_dir)
    exercise_ids = list(authoring.exercises(authoring.read_notebook(reference)))
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    run_seed = _run_seed(out, seed)
    grades_path = out / "grades.json"
    done: dict[str, SubmissionResult] = {}
    if resume and grades_path.exists():
        for student, d in json.loads(grades_path.read_text()).items():
            d["exercises"] = {k: ExerciseResult(**v) for k, v in d["exercises"].items()}
            done[student] = SubmissionResult(**d)
    paths = [Path(p) for p in submissions]
    jobs = max(1, int(jobs))
    threads_each = max(1, (os.cpu_count() or 1) // jobs)
    if limits is None:  # CPU time: a backstop that never bites before the wall-clock limit
        limits = sandbox.Limits(cpu_seconds=int(notebook_timeout * threads_each) + 60)
    cfg = _RunConfig(cell_timeout, notebook_timeout, threads_each, limits, sandbox.probe(),
                     _hide_list(reference, paths, out, hidden_dir))
    lock = threading.Lock()

    def record(r: SubmissionResult) -> None:
        with lock:
            done[r.student] = r
            _atomic_write(out / "feedback" / f"{r.student}.md", _feedback_md(r))
            _atomic_write(grades_path, json.dumps(
                {s: asdict(v) for s, v in sorted(done.items())}, indent=1))
            _atomic_write(out / "gradebook.csv", _gradebook_csv(list(done.values()), exercise_ids))

    runtime_cm = handout.GradingRuntime.build(package=handout_package)
    with JudgePool(min(jobs, max(1, len(paths)))) as pool, runtime_cm as runtime:
        cfg.runtime = runtime
        ctx = _context(reference, hidden_dir=hidden_dir, run_seed=run_seed, pool=pool, cfg=cfg)
        todo = []
        for p in paths:
            prev = done.get(student_id(p))
            sha = _sha(p.read_bytes()) if p.is_file() else ""
            if resume and prev and prev.sha256 == sha and prev.reference_sha256 == ctx.fingerprint:
                continue
            todo.append(p)
        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="grading", unit="nb", file=sys.stderr)
        with ThreadPoolExecutor(max_workers=jobs) as threads:
            futures = [threads.submit(_grade, ctx, p) for p in todo]
            try:
                for fut in as_completed(futures):
                    record(fut.result())
                    if bar is not None:
                        bar.update()
            except BaseException:  # Ctrl-C: stop every run now; what is recorded stays
                threads.shutdown(wait=False, cancel_futures=True)
                _kill_running()
                raise
        if bar is not None:
            bar.close()
    if not done:
        _atomic_write(out / "gradebook.csv", _gradebook_csv([], exercise_ids))
    return [done[student_id(p)] for p in paths if student_id(p) in done]


def summary(results: list[SubmissionResult]) -> str:
    """One line for the instructor: counts by status, mean score per exercise, the sandbox."""
    if not results:
        return "no submissions graded"
    counts = {"graded": 0, "failed to run": 0, "timed out": 0}
    for r in results:
        key = {"graded": "graded", "timeout": "timed out"}.get(r.status, "failed to run")
        counts[key] += 1
    ids = list(results[0].exercises)
    means = ", ".join(
        f"{i}: {sum(r.exercises[i].points for r in results if i in r.exercises) / len(results):.2f}"
        f"/{results[0].exercises[i].max_points:g}" for i in ids)
    parts = ", ".join(f"{n} {s}" for s, n in counts.items())
    boxes = sorted({r.sandbox for r in results if r.sandbox})
    return (f"{len(results)} submissions ({parts}); mean per exercise: {means}"
            + (f"; {'; '.join(boxes)}" if boxes else ""))
