"""The autograder: run submissions under nbval with the reference's check cells restored.

For every submission the grader

1. reads it (a file that is not a notebook gets zero, with the reason in its feedback);
2. **assembles** the notebook it will run: the student's cells, minus any cell tagged as a
   check, plus every check cell of the reference, inserted right after the student's answer
   cell of that exercise (or at the end when the answer cell is gone). An edited or deleted
   check cell therefore changes nothing. Each inserted cell carries a random id in its
   metadata that only the grader knows;
3. **runs** it with ``pytest --nbval-lax`` in a fresh process (its own session, a private
   temporary folder, a per-cell timeout and a per-notebook timeout) with a small plugin
   that records each cell's outcome from the grader's side;
4. **scores** exercise ``<id>`` with its points when the inserted check cell ran without
   raising, else zero, with the check's message as feedback.

Results are written as they arrive: ``grades.json`` and ``gradebook.csv`` are rewritten
atomically after every submission, and each student gets ``feedback/<student>.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_lib import authoring
from course_lib.grading_plugin import GRADER_KEY

__all__ = ["ExerciseResult", "SubmissionResult", "assemble", "grade", "grade_one", "student_id"]


@dataclass
class ExerciseResult:
    """Score of one exercise of one submission."""

    id: str
    points: float
    max_points: float
    message: str


@dataclass
class SubmissionResult:
    """Everything the grader learned about one submission."""

    student: str
    path: str
    sha256: str
    reference_sha256: str
    status: str
    """'graded', 'invalid' (not a readable notebook), 'timeout' or 'error' (the run broke)."""
    message: str = ""
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    cell_errors: list[str] = field(default_factory=list)
    """Errors raised by the student's own cells (context for the feedback)."""
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(e.points for e in self.exercises.values())


def student_id(path: Path) -> str:
    """The student id is the submission's file name without ``.ipynb``."""
    return path.name[: -len(".ipynb")] if path.name.endswith(".ipynb") else path.name


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assemble(
    reference: nbformat.NotebookNode, submission: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook to run: the submission with the reference's check cells restored.

    Returns the notebook and, per exercise id, the secret id stored in the metadata of the
    check cell the grader inserted.
    """
    ref_exercises = authoring.exercises(reference)
    cells = [
        c for c in submission.get("cells", [])
        if isinstance(c, dict) and authoring.tag_value(c, "exercise") is None
    ]
    secret_ids: dict[str, str] = {}
    for ex in ref_exercises.values():
        check = nbformat.from_dict(json.loads(json.dumps(reference.cells[ex.check_cell])))
        check.outputs, check.execution_count = [], None
        secret_ids[ex.id] = secrets.token_hex(16)
        check.metadata[GRADER_KEY] = secret_ids[ex.id]
        answer = next(
            (i for i, c in enumerate(cells) if authoring.tag_value(c, "solution") == ex.id), None
        )
        cells.insert(len(cells) if answer is None else answer + 1, check)
    nb = nbformat.v4.new_notebook()
    nb.metadata = json.loads(json.dumps(reference.metadata))
    nb.cells = cells
    return nb, secret_ids


def _kill_tree(proc: subprocess.Popen, token: str) -> None:
    """Stop the run's process group, its descendants, and any process carrying ``token``."""
    import psutil

    victims = []
    try:
        victims = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        pass
    for p in psutil.process_iter(["environ"]):
        try:
            if (p.info.get("environ") or {}).get("COURSE_GRADE_TOKEN") == token:
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


def _run(nb: nbformat.NotebookNode, cell_timeout: float, notebook_timeout: float,
         threads: int) -> tuple[list[dict], str, str]:
    """Run ``nb`` under nbval in a private folder. Returns (cell records, status, message)."""
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        nb_path = Path(tmp) / "submission.ipynb"
        nbformat.write(nb, str(nb_path))
        report = Path(tmp) / "cells.jsonl"
        (Path(tmp) / "pytest.ini").write_text("[pytest]\naddopts =\n")
        token = secrets.token_hex(8)
        env = dict(os.environ)
        env.update({
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "COURSE_GRADE_TOKEN": token,
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "MPLBACKEND": "Agg",
        })
        cmd = [
            sys.executable, "-m", "pytest", str(nb_path), "-q", "-p", "nbval.plugin",
            "-p", "course_lib.grading_plugin", "--nbval-lax", "--nbval-current-env",
            f"--nbval-cell-timeout={cell_timeout}", f"--grade-report={report}",
            "-p", "no:cacheprovider", "--rootdir", tmp, "-c", str(Path(tmp) / "pytest.ini"),
        ]
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        status, message = "graded", ""
        try:
            out, _ = proc.communicate(timeout=notebook_timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc, token)
            out = b""
            status = "timeout"
            message = f"the notebook did not finish within {notebook_timeout:g} s and was stopped"
        else:
            _kill_tree(proc, token)  # a kernel or a child the student started may linger
            if proc.returncode not in (0, 1):  # 1 = some cells failed, which is normal
                status = "error"
                tail = out.decode(errors="replace").strip().splitlines()[-5:]
                message = "the grader could not run this notebook: " + " | ".join(tail)
        records = []
        if report.exists():
            for line in report.read_text().splitlines():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records, status, message


def _first_line(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " ..."


def grade_one(reference_path: Path, path: Path, *, cell_timeout: float = 60,
              notebook_timeout: float = 600, threads: int = 1) -> SubmissionResult:
    """Grade one submission against the reference notebook."""
    ref_bytes = reference_path.read_bytes()
    reference = nbformat.reads(ref_bytes.decode(), as_version=4)
    ref_exercises = authoring.exercises(reference)
    try:
        data = path.read_bytes()
    except OSError as err:
        data, read_error = b"", f"could not read the file: {err}"
    else:
        read_error = ""
    result = SubmissionResult(student_id(path), str(path), _sha(data), _sha(ref_bytes), "graded")
    zero = {ex.id: ExerciseResult(ex.id, 0.0, ex.points, "") for ex in ref_exercises.values()}
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
        result.exercises = zero
        return result

    nb, secret_ids = assemble(reference, submission)
    start = time.perf_counter()
    records, result.status, result.message = _run(nb, cell_timeout, notebook_timeout, threads)
    result.seconds = time.perf_counter() - start
    by_secret = {r.get("grader_id"): r for r in records if r.get("grader_id")}
    for ex in ref_exercises.values():
        rec = by_secret.get(secret_ids[ex.id])
        res = zero[ex.id]
        if rec is None:
            res.message = "not graded: its check did not run (" + (
                result.message or "the kernel stopped before reaching it") + ")"
        elif rec["outcome"] == "passed":
            res.points, res.message = ex.points, "passed"
        elif rec["outcome"] == "skipped":
            res.message = "not graded: an earlier cell timed out, so this check was skipped"
        else:
            err = rec.get("error") or {}
            text = err.get("evalue", "") or "the check failed"
            if err.get("ename") not in ("AssertionError", "CheckFailed"):
                text = f"{err.get('ename', 'Error')}: {text}"
            res.message = text.strip()
    secret_set = set(secret_ids.values())
    for r in records:
        if r.get("grader_id") not in secret_set and r["outcome"] == "failed" and r.get("error"):
            err = r["error"]
            result.cell_errors.append(
                f"code cell {r['cell_num']}: {err.get('ename')}: {_first_line(err.get('evalue', ''))}")
    result.exercises = zero
    return result


# -- outputs ------------------------------------------------------------------------------
def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _gradebook_csv(results: list[SubmissionResult], exercise_ids: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", *[f"exercise {i}" for i in exercise_ids], "total", "status"])
    for r in sorted(results, key=lambda r: r.student):
        w.writerow([r.student, *[f"{r.exercises[i].points:g}" for i in exercise_ids],
                    f"{r.total:g}", r.status])
    return buf.getvalue()


def _feedback_md(r: SubmissionResult) -> str:
    max_total = sum(e.max_points for e in r.exercises.values())
    lines = [f"# Feedback for {r.student}", "", f"**Total: {r.total:g} / {max_total:g}**", ""]
    if r.status != "graded":
        lines += [f"> Grading problem ({r.status}): {r.message}", ""]
    lines += ["| Exercise | Points | |", "|---|---|---|"]
    for e in r.exercises.values():
        mark = "passed" if e.points == e.max_points else "see below"
        lines.append(f"| {e.id} | {e.points:g} / {e.max_points:g} | {mark} |")
    for e in r.exercises.values():
        if e.points < e.max_points:
            lines += ["", f"## Exercise {e.id}", "", "```", e.message, "```"]
    if r.cell_errors:
        lines += ["", "## Other cells that raised an error", ""]
        lines += [f"- {msg}" for msg in r.cell_errors]
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
) -> list[SubmissionResult]:
    """Grade ``submissions`` against ``reference``; write gradebook, grades.json, feedback."""
    reference, out = Path(reference), Path(out)
    ref_bytes = reference.read_bytes()
    exercise_ids = list(authoring.exercises(authoring.read_notebook(reference)))
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    grades_path = out / "grades.json"
    done: dict[str, SubmissionResult] = {}
    if resume and grades_path.exists():
        for student, d in json.loads(grades_path.read_text()).items():
            d["exercises"] = {k: ExerciseResult(**v) for k, v in d["exercises"].items()}
            done[student] = SubmissionResult(**d)
    paths = [Path(p) for p in submissions]
    todo = []
    for p in paths:
        prev = done.get(student_id(p))
        sha = _sha(p.read_bytes()) if p.is_file() else ""
        if resume and prev and prev.sha256 == sha and prev.reference_sha256 == _sha(ref_bytes):
            continue
        todo.append(p)
    lock = threading.Lock()

    def record(r: SubmissionResult) -> None:
        with lock:
            done[r.student] = r
            _atomic_write(out / "feedback" / f"{r.student}.md", _feedback_md(r))
            _atomic_write(grades_path, json.dumps(
                {s: asdict(v) for s, v in sorted(done.items())}, indent=1))
            _atomic_write(out / "gradebook.csv", _gradebook_csv(list(done.values()), exercise_ids))

    jobs = max(1, int(jobs))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="grading", unit="nb", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_one, reference, p, cell_timeout=cell_timeout,
                               notebook_timeout=notebook_timeout, threads=threads) for p in todo]
        for fut in as_completed(futures):
            record(fut.result())
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    if not done:
        _atomic_write(out / "gradebook.csv", _gradebook_csv([], exercise_ids))
    return [done[student_id(p)] for p in paths if student_id(p) in done]


def summary(results: list[SubmissionResult]) -> str:
    """One line for the instructor: counts by status and the mean score per exercise."""
    if not results:
        return "no submissions graded"
    counts = {s: sum(r.status == s for r in results) for s in ("graded", "invalid", "timeout", "error")}
    ids = list(results[0].exercises)
    means = ", ".join(
        f"{i}: {sum(r.exercises[i].points for r in results) / len(results):.2f}"
        f"/{results[0].exercises[i].max_points:g}" for i in ids)
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return f"{len(results)} submissions ({', '.join(parts)}); mean per exercise: {means}"
