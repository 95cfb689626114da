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

import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_tools import authoring, handout
from course_tools.grading import sandbox
from course_tools.grading.assemble import Assembled, assemble, student_cells
from course_tools.grading.codec import clean_text, read_cell_report
from course_tools.grading.hidden import DEFAULT_DIR, hidden_fingerprint
from course_tools.grading.judge import JudgeError, JudgePool
from course_tools.grading.results import ExerciseResult, ResultStore, SubmissionResult, student_seed
from course_tools.grading.runner import RunConfig, kill_running, run_notebook
from course_tools.grading.submissions import MAX_SUBMISSION_MB, Submission, collect

__all__ = ["grade", "grade_one", "regrade", "summary", "GradingRefused", "default_hidden_dir"]

ROOT = Path(__file__).resolve().parents[2]
TEMP_PREFIX = "grade-"


class GradingRefused(RuntimeError):
    """The grader will not start (an output folder of another reference, no isolation...)."""


def default_hidden_dir() -> Path:
    """``course_tools/hidden``: hidden checks, never shipped to students."""
    return DEFAULT_DIR


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@dataclass
class _Context:
    """What every submission of one grading run shares."""

    reference: nbformat.NotebookNode
    exercises: dict
    fingerprint: str
    hidden_dir: str | None
    run_seed: int
    pool: JudgePool
    cfg: RunConfig
    isolation: sandbox.Isolation

    def plan(self, seed: int) -> dict:
        if not self.hidden_dir:
            return {}
        return self.pool.call("plan", {"hidden_dir": self.hidden_dir, "seed": seed,
                                       "exercise_ids": list(self.exercises)}, timeout=600)


# -- one submission ------------------------------------------------------------------------------
def _result(ctx: _Context, sub: Submission) -> SubmissionResult:
    return SubmissionResult(sub.student, sub.path, _sha(sub.data or b""), ctx.fingerprint, "graded",
                            seed=student_seed(ctx.run_seed, sub.student),
                            sandbox=ctx.isolation.describe(cgroup=ctx.isolation.cgroups),
                            path_hex=sub.raw_path.hex())


def _zero(ctx: _Context, message: str) -> dict[str, ExerciseResult]:
    return {ex.id: ExerciseResult(ex.id, 0.0, ex.points, message, [
        {"check": "all", "kind": "visible", "passed": False, "status": "not_run", "message": message,
         "cases_passed": 0, "cases_total": None}]) for ex in ctx.exercises.values()}


def _grade_submission(ctx: _Context, sub: Submission) -> SubmissionResult:
    """Grade one submission; never raises for anything the submission did."""
    result = _result(ctx, sub)
    if sub.status:
        result.status, result.message = sub.status, sub.problem
        result.exercises = _zero(ctx, f"not graded: {sub.problem}")
        return result
    try:
        submission = json.loads(sub.data.decode("utf-8"))
        student_cells(submission)  # a list of cells, or ValueError
    except (ValueError, RecursionError, UnicodeDecodeError, TypeError) as err:
        result.status = "invalid"
        result.message = f"not a readable notebook ({type(err).__name__}: {clean_text(err, 200)})"
        result.exercises = _zero(ctx, "not graded: " + result.message)
        return result
    try:
        plan = ctx.plan(result.seed)
    except JudgeError as err:
        result.status, result.message = "error", f"the hidden checks could not be planned ({err})"
        result.exercises = _zero(ctx, "not graded: a grader problem; your instructor will regrade")
        return result
    base = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    try:
        sandbox.claim_tempdir(base)
        assembled = assemble(ctx.reference, submission, str(base / "work"), set(plan))
        files = {f"args-{ex_id}.pkl": p["args"] for ex_id, p in plan.items()}
        out = run_notebook(assembled.notebook, base, files, ctx.cfg)
    finally:
        if os.environ.get("COURSE_GRADER_KEEP"):
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    result.status, result.message, result.seconds = out.status, out.message, out.seconds
    cells = read_cell_report(out.report)
    _judge_exercises(ctx, result, assembled, cells, out.records, plan)
    result.cell_errors = _cell_errors(ctx, assembled, cells)
    return result


def _where(assembled: Assembled, cell_num: int) -> str:
    info = assembled.cells[cell_num] if 0 <= cell_num < len(assembled.cells) else {}
    if info.get("kind") == "student":
        return f"your code cell {info['number']}"
    if info.get("kind") in ("visible", "hidden"):
        return f"the {'hidden ' if info['kind'] == 'hidden' else ''}check of exercise {info['exercise']}"
    return "a cell"


def _is_timeout(cell: dict) -> bool:
    err = cell.get("error") or {}
    return "Timeout" in err.get("evalue", "") or err.get("ename") == "KeyboardInterrupt"


def _cell_errors(ctx: _Context, assembled: Assembled, cells: list[dict]) -> list[str]:
    errors = []
    for cell in cells:
        info = assembled.cells[cell["cell_num"]] if cell["cell_num"] < len(assembled.cells) else {}
        if info.get("kind") != "student" or cell["outcome"] != "failed" or not cell["error"]:
            continue
        if _is_timeout(cell):
            errors.append(f"{_where(assembled, cell['cell_num'])}: timed out after "
                          f"{ctx.cfg.cell_timeout:g} s (the limit for one cell)")
        else:
            errors.append(f"{_where(assembled, cell['cell_num'])}: {cell['error']['ename']}: "
                          f"{cell['error']['evalue']}")
    return errors[:20]


def _answer_problem(ctx: _Context, assembled: Assembled, cells: list[dict], ex_id: str) -> str:
    """Why the student's answer cell of ``ex_id`` failed to define it (a syntax error...), or ''."""
    index = assembled.answer_cells.get(ex_id)
    cell = next((c for c in cells if c["cell_num"] == index), None)
    if cell is None or cell["outcome"] != "failed" or not cell["error"]:
        return ""
    where = _where(assembled, index)
    if cell["error"]["ename"] in ("SyntaxError", "IndentationError", "TabError"):
        return (f"your answer cell ({where}) has a {cell['error']['ename']}: {cell['error']['evalue']}; "
                "fix it and run the cell")
    if _is_timeout(cell):
        return f"your answer cell ({where}) timed out after {ctx.cfg.cell_timeout:g} s"
    return f"your answer cell ({where}) raised {cell['error']['ename']}: {cell['error']['evalue']}"


def _judge_exercises(ctx: _Context, result: SubmissionResult, assembled: Assembled, cells: list[dict],
                     records: dict[str, bytes], plan: dict) -> None:
    by_secret = {c["grader_id"]: c for c in cells if c["grader_id"]}
    cell_of = {v: by_secret.get(k) for k, v in assembled.secrets.items()}
    requests = [{"exercise_id": ex.id, "visible": records.get(f"rec-{ex.id}-visible.pkl"),
                 "hidden": records.get(f"rec-{ex.id}-hidden.pkl"), "hidden_plan": plan.get(ex.id),
                 "seed": result.seed, "hidden_dir": ctx.hidden_dir, "cell_timeout": ctx.cfg.cell_timeout}
                for ex in ctx.exercises.values()]
    try:
        verdicts = ctx.pool.call("judge_many", {"requests": requests},
                                 timeout=60 + 2 * ctx.cfg.cell_timeout * len(requests))
    except JudgeError as err:
        result.status = "error"
        result.message = f"the judge failed on this submission ({clean_text(err, 300)})"
        result.exercises = _zero(ctx, "not graded: " + result.message)
        return
    for ex in ctx.exercises.values():
        checks = verdicts.get(ex.id, [])
        for check in checks:
            cell = cell_of.get(f"{check['kind']}:{ex.id}")
            if check["status"] == "not_run" and cell is not None and cell["outcome"] == "skipped":
                check["message"] = "not graded: an earlier cell timed out, so this check was skipped"
            elif check["status"] == "not_run" and result.status != "graded":
                check["message"] = f"not graded: its check did not run ({result.message})"
        failed = [c for c in checks if not c["passed"]]
        res = ExerciseResult(ex.id, 0.0, ex.points, "", checks)
        if checks and not failed:
            res.points, res.message = ex.points, "passed"
        else:
            first = failed[0] if failed else {"kind": "visible", "message": "not graded"}
            res.message = first["message"]
            problem = _answer_problem(ctx, assembled, cells, ex.id)
            if problem and (first["status"] != "failed" or "is defined" in first["message"]):
                res.message = problem
            elif first["kind"] == "hidden":
                res.message = "A case you have not seen failed:\n" + res.message
        result.exercises[ex.id] = res


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
          require_isolation: bool = False, max_submission_mb: float = MAX_SUBMISSION_MB,
          ) -> list[SubmissionResult]:
    """Grade ``submissions`` against ``reference`` into ``out``; returns one result per file.

    Grading into a folder that holds grades merges with them: the students graded now get
    their new grade (the old one goes to their history), the others keep theirs. A folder graded
    against another reference or other hidden checks is refused unless ``force``. ``resume``
    skips students already graded with the same file. ``seed`` is the run's secret (default:
    the folder's, else a new one); ``require_isolation`` refuses to grade without a sandbox
    that truly isolates the student's code.
    """
    reference, out = Path(reference), Path(out)
    hidden_dir = default_hidden_dir() if hidden_dir is None else Path(hidden_dir)
    ref_nb = authoring.read_notebook(reference)
    exercises = authoring.exercises(ref_nb)
    hidden = str(hidden_dir) if Path(hidden_dir).is_dir() else None
    fingerprint = _sha(reference.read_bytes() + hidden_fingerprint(hidden).encode())
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
        raise GradingRefused(f"{out} holds grades made against another reference or other hidden "
                             f"checks ({len(foreign)} students, e.g. {foreign[0]}); use another --out, "
                             "or --force to grade into it anyway")
    run_seed = int(seed) if seed is not None else int(info.get("run_seed", secrets.randbelow(2**31)))
    _write_run_info(out, {**info, "run_seed": run_seed, "reference": str(reference.resolve()),
                          "hidden_dir": hidden, "fingerprint": fingerprint})
    _cleanup_stale()
    subs = collect(submissions, max_submission_mb)
    jobs = max(1, int(jobs))
    threads_each = max(1, (os.cpu_count() or 1) // jobs)
    if limits is None:  # CPU time: a backstop that never bites before the wall-clock limit
        limits = sandbox.Limits(cpu_seconds=int(notebook_timeout * threads_each) + 60)
    cfg = RunConfig(cell_timeout, notebook_timeout, threads_each, limits, isolation,
                    _hide_list(reference, subs, out, hidden_dir), cpus=sandbox.fair_cpus(jobs),
                    cpu_budget=notebook_timeout * threads_each + 60)
    todo = [s for s in subs if not (resume and s.student in previous
                                    and previous[s.student].sha256 == _sha(s.data or b"")
                                    and previous[s.student].reference_sha256 == fingerprint
                                    and previous[s.student].path == s.path)]
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
            ctx = _Context(ref_nb, exercises, fingerprint, hidden, run_seed, pool, cfg, isolation)
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


def _safe_grade(ctx: _Context, sub: Submission, stop: threading.Event) -> SubmissionResult:
    """:func:`_grade_submission`, turning any unexpected failure into this submission's error."""
    start = time.perf_counter()
    try:
        return _grade_submission(ctx, sub)
    except Exception as err:  # noqa: BLE001 - a grader bug must not stop the class
        if stop.is_set():
            raise
        r = _result(ctx, sub)
        r.status, r.seconds = "error", time.perf_counter() - start
        r.message = f"the grader failed on this submission ({type(err).__name__}: {clean_text(err, 300)})"
        r.exercises = _zero(ctx, "not graded: a grader problem; your instructor will regrade")
        return r


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
