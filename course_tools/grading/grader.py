"""Grading a class: every submission gets exactly one row, and no submission can stop the run.

For each submission file :func:`grade`

1. reads it as untrusted bytes (:mod:`.submissions`: no symlink followed, special files and
   oversized files refused, odd names given a safe id, duplicate ids reported);
2. **assembles** the notebook to run (:mod:`.assemble`): the student's cells rebuilt clean,
   their check cells dropped, and after each answer cell the grader's own recording cells;
3. **runs** it (:mod:`.runner`) under nbval in the sandbox, against the *handout's*
   ``course_lib``; the instructor package is not visible there;
4. **judges** each exercise in a clean process (:mod:`.judge`): the check bodies replay the
   recorded answers; hidden checks use inputs from the student's own seed;
5. **records** the result (:mod:`.results`): the student's JSON file, feedback and history at
   once; the index and gradebook after the run (and when it is stopped).

Whatever goes wrong with one submission (an unreadable file, a broken notebook, a run that
times out or crashes, a record that cannot be decoded, a judge that fails on it) becomes that
submission's status (``invalid``, ``timeout`` or ``error``) and message; the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from course_tools import authoring, handout
from course_tools.grading import sandbox
from course_tools.grading.codec import clean_text
from course_tools.grading.hidden import DEFAULT_DIR, hidden_fingerprint
from course_tools.grading.judge import JudgePool
from course_tools.grading.one import TEMP_PREFIX, Context, error_result, grade_submission
from course_tools.grading.results import ResultStore, SubmissionResult
from course_tools.grading.runner import RunConfig, kill_running
from course_tools.grading.scoring import resolve_partial
from course_tools.grading.submissions import MAX_SUBMISSION_MB, Submission, collect

__all__ = ["grade", "grade_one", "regrade", "summary", "GradingRefused", "default_hidden_dir"]

ROOT = Path(__file__).resolve().parents[2]


class GradingRefused(RuntimeError):
    """The grader will not start (an output folder of another reference, no isolation...)."""


def default_hidden_dir() -> Path:
    """``course_tools/hidden``: hidden checks, never shipped to students."""
    return DEFAULT_DIR


# -- the class -----------------------------------------------------------------------------------
def _hide_list(reference: Path, submissions: list[Submission], out: Path, hidden_dir) -> list[str]:
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
    hide.add(str(Path(__file__).resolve().parents[1]))  # course_tools, wherever it is installed
    hide.add(str(Path(course_lib.__file__).resolve().parent))  # the instructor's copy
    for p in [reference.resolve().parent, out.resolve()]:
        hide.add(str(p))
    for sub in submissions:
        hide.add(os.fsdecode(os.path.dirname(os.path.abspath(sub.raw_path))))
    if hidden_dir is not None:
        hide.add(str(Path(hidden_dir).resolve()))
    return sorted(h for h in hide if h not in exposed and h != "/" and os.sep in h)


def _run_info(out: Path) -> dict:
    try:
        info = json.loads((out / "run.json").read_text())
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_run_info(out: Path, info: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".run.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(tmp, out / "run.json")


def _cleanup_stale() -> list[str]:
    """Remove temp folders, mounts and control groups left by a grader that was killed."""
    try:
        return sandbox.cleanup_stale(tempfile.gettempdir(), prefix=TEMP_PREFIX)
    except OSError:
        return []


class _Stop(BaseException):
    """SIGTERM arrived: stop like Ctrl-C."""


def grade(reference: str | Path, submissions: list[str | Path], out: str | Path, *, jobs: int = 1,
          cell_timeout: float = 60, notebook_timeout: float = 600, resume: bool = False,
          progress: bool = True, hidden_dir: str | Path | None = None,
          limits: sandbox.Limits | None = None, seed: int | None = None,
          handout_package: str | Path | None = None, force: bool = False,
          require_isolation: bool = False, full: bool = False,
          max_submission_mb: float = MAX_SUBMISSION_MB,
          partial: str | list[str] | None = None) -> list[SubmissionResult]:
    """Grade ``submissions`` against ``reference`` into ``out``; returns one result per file.

    Grading into a folder that holds grades merges with them: the students graded now get
    their new grade (the old one goes to their history), the others keep theirs. A folder graded
    against another reference or other hidden checks is refused unless ``force``. ``resume``
    skips students already graded with the same file. ``seed`` is the run's secret (default:
    the folder's, else a new one); ``require_isolation`` refuses to grade without a sandbox
    that truly isolates the student's code. ``partial`` grades exercises per case: ``"all"``,
    ``"none"`` or a list of ids (default: the exercises whose check cell is tagged ``partial``).
    By default the cells tagged ``demo`` or ``training`` are skipped (exercise-only grading) and a
    submission that skipping broke is rerun in full; ``full`` runs every cell of every submission.
    """
    reference, out = Path(reference), Path(out)
    hidden_dir = default_hidden_dir() if hidden_dir is None else Path(hidden_dir)
    ref_nb = authoring.read_notebook(reference)
    exercises = authoring.exercises(ref_nb)
    hidden = str(hidden_dir) if Path(hidden_dir).is_dir() else None
    per_case = resolve_partial(exercises, partial)
    scheme = (b"" if per_case == resolve_partial(exercises, None)
              else ("partial:" + ",".join(sorted(per_case))).encode())
    fingerprint = hashlib.sha256(reference.read_bytes() + hidden_fingerprint(hidden).encode()
                                 + scheme).hexdigest()
    isolation = sandbox.probe()
    if require_isolation and not isolation.isolated:
        raise GradingRefused(f"the sandbox cannot isolate submissions here ({isolation.describe()}"
                             f"{'; failed: ' + ', '.join(isolation.failed) if isolation.failed else ''}); "
                             "grade on Linux with user namespaces or as root, or drop --require-isolation")
    store = ResultStore(out)
    info = _run_info(out)
    previous = store.load_all()
    foreign = sorted(s for s, r in previous.items() if r.reference_sha256 != fingerprint)
    if foreign and not force:
        raise GradingRefused(f"{out} holds grades made against another reference, other hidden "
                             f"checks or another --partial ({len(foreign)} students, e.g. {foreign[0]}); "
                             "use another --out, or --force to grade into it anyway")
    run_seed = int(seed) if seed is not None else int(info.get("run_seed", secrets.randbelow(2**31)))
    _write_run_info(out, {**info, "run_seed": run_seed, "reference": str(reference.resolve()),
                          "hidden_dir": hidden, "fingerprint": fingerprint, "partial": sorted(per_case)})
    _cleanup_stale()
    subs = collect(submissions, max_submission_mb)
    jobs = max(1, int(jobs))
    threads_each = max(1, (os.cpu_count() or 1) // jobs)
    if limits is None:  # CPU time: a backstop that never bites before the wall-clock limit
        limits = sandbox.Limits(cpu_seconds=int(notebook_timeout * threads_each) + 60)
    cfg = RunConfig(cell_timeout, notebook_timeout, threads_each, limits, isolation,
                    _hide_list(reference, subs, out, hidden_dir), cpus=sandbox.fair_cpus(jobs),
                    cpu_budget=notebook_timeout * threads_each + 60)
    def already_graded(s: Submission) -> bool:
        prev = previous.get(s.student)
        return (resume and prev is not None and prev.path == s.path and prev.reference_sha256 == fingerprint
                and prev.sha256 == hashlib.sha256(s.data or b"").hexdigest())

    todo = [s for s in subs if not already_graded(s)]
    done: dict[str, SubmissionResult] = {s.student: previous[s.student] for s in subs if s not in todo}
    ids = list(exercises)
    stop = threading.Event()
    saving = {"now": False, "term": False}
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.getsignal(signal.SIGTERM) if in_main else None

    def on_term(*_):
        if saving["now"]:  # finish writing this student's files first
            saving["term"] = True
        else:
            raise _Stop

    if old_term is not None:
        signal.signal(signal.SIGTERM, on_term)
    bar = None
    try:
        with JudgePool(min(jobs, max(1, len(todo)))) as pool, \
                handout.GradingRuntime.build(package=handout_package) as runtime:
            cfg.runtime = runtime
            ctx = Context(ref_nb, exercises, fingerprint, hidden, run_seed, pool, cfg, isolation, per_case,
                          exercise_only=not full)
            if progress and todo:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(todo), desc="grading", unit="nb", file=sys.stderr)
            with ThreadPoolExecutor(max_workers=jobs) as threads:
                futures = {threads.submit(_safe_grade, ctx, s, stop): s for s in todo}
                try:
                    for fut in as_completed(futures):
                        r = fut.result()
                        saving["now"] = True
                        store.save(r)
                        done[r.student] = r
                        saving["now"] = False
                        if saving["term"]:
                            raise _Stop
                        if bar is not None:
                            bar.update()
                except BaseException:  # Ctrl-C or SIGTERM: stop every run now; what is saved stays
                    stop.set()
                    threads.shutdown(wait=False, cancel_futures=True)
                    kill_running()
                    raise
    except (KeyboardInterrupt, _Stop):
        if bar is not None:
            bar.close()
            bar = None
        store.write_index(ids)
        graded = sum(1 for s in todo if s.student in done)
        print(f"stopped: {graded} of {len(todo)} submissions graded and saved in {out}; run the "
              "same command with --resume to grade the rest", file=sys.stderr)
        raise KeyboardInterrupt from None
    finally:
        if bar is not None:
            bar.close()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    store.write_index(ids)
    return [done[s.student] for s in subs if s.student in done]


def _safe_grade(ctx: Context, sub: Submission, stop: threading.Event) -> SubmissionResult:
    """:func:`_grade_submission`, turning any unexpected failure into this submission's error."""
    start = time.perf_counter()
    try:
        return grade_submission(ctx, sub)
    except Exception as err:  # noqa: BLE001 - a grader bug must not stop the class
        if stop.is_set():
            raise
        return error_result(ctx, sub, f"the grader failed on this submission "
                                      f"({type(err).__name__}: {clean_text(err, 300)})",
                            time.perf_counter() - start)


def grade_one(reference_path: str | Path, path: str | Path, *, out: str | Path | None = None,
              **kwargs) -> SubmissionResult:
    """Grade one submission (into a temporary output folder unless ``out`` is given)."""
    with tempfile.TemporaryDirectory(prefix="grade-one-") as tmp:
        [r] = grade(reference_path, [path], out or tmp, progress=False, **kwargs)
        return r


def regrade(out: str | Path, students: list[str], **kwargs) -> list[SubmissionResult]:
    """Grade the named students of ``out`` again, from the files they were graded from."""
    out = Path(out)
    info = _run_info(out)
    if "reference" not in info:
        raise GradingRefused(f"{out} has no run.json: grade it first")
    store = ResultStore(out)
    paths = []
    for student in students:
        r = store.load(student)
        if r is None:
            raise GradingRefused(f"{out} has no grade for {student!r}")
        paths.append(bytes.fromhex(r.path_hex) if r.path_hex else r.path)
    kwargs.setdefault("hidden_dir", info.get("hidden_dir"))
    if "partial" in info:
        kwargs.setdefault("partial", list(info["partial"]) or ["none"])
    return grade(info["reference"], paths, out, **kwargs)


def summary(results: list[SubmissionResult]) -> str:
    """One line for the instructor: counts by status, mean score per exercise, the sandbox."""
    if not results:
        return "no submissions graded"
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    ids = list(next((r.exercises for r in results if r.exercises), {}))
    means = ", ".join(
        f"{i}: {sum(r.exercises[i].points for r in results if i in r.exercises) / len(results):.2f}"
        f"/{next(r.exercises[i].max_points for r in results if i in r.exercises):g}" for i in ids)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    boxes = sorted({r.sandbox for r in results if r.sandbox})
    return (f"{len(results)} submissions ({parts}); mean per exercise: {means}"
            + (f"; {'; '.join(boxes)}" if boxes else ""))
