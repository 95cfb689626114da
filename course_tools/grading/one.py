"""Grading one submission: run it, judge it, and say what happened in the student's terms.

:func:`grade_submission` never raises for anything the submission did: an unreadable file, a
notebook that is not one, a run that times out or crashes, records that cannot be decoded, a
judge that fails on it: each becomes this submission's status and message. Messages speak the
student's language: their own cell numbers, syntax errors as syntax errors, hidden failures as
"a case you have not seen" (never a seed or a check's internal name).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_tools import authoring
from course_tools.grading import sandbox
from course_tools.grading.assemble import Assembled, assemble, student_cells
from course_tools.grading.codec import clean_text, read_cell_report
from course_tools.grading.integrity import scan
from course_tools.grading.judge import JudgeError, JudgePool
from course_tools.grading.results import ExerciseResult, SubmissionResult, student_seed
from course_tools.grading.runner import RunConfig, RunOutput, run_notebook
from course_tools.grading.scoring import exercise_points
from course_tools.grading.submissions import Submission

__all__ = ["Context", "grade_submission", "error_result", "TEMP_PREFIX"]

TEMP_PREFIX = "grade-"


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@dataclass
class Context:
    """What every submission of one grading run shares."""

    reference: nbformat.NotebookNode
    exercises: dict
    fingerprint: str
    hidden_dir: str | None
    run_seed: int
    pool: JudgePool
    cfg: RunConfig
    isolation: sandbox.Isolation
    partial: frozenset[str] = frozenset()
    """Exercises graded per case (see :mod:`course_tools.grading.scoring`)."""
    exercise_only: bool = True
    """Skip the cells tagged as demos or training (rerun in full when that broke the submission)."""

    def plan(self, seed: int) -> dict:
        if not self.hidden_dir:
            return {}
        return self.pool.call("plan", {"hidden_dir": self.hidden_dir, "seed": seed,
                                       "exercise_ids": list(self.exercises)}, timeout=600)


# -- one submission ------------------------------------------------------------------------------
def _result(ctx: Context, sub: Submission) -> SubmissionResult:
    return SubmissionResult(sub.student, sub.path, _sha(sub.data or b""), ctx.fingerprint, "graded",
                            seed=student_seed(ctx.run_seed, sub.student),
                            sandbox=ctx.isolation.describe(cgroup=ctx.isolation.cgroups),
                            path_hex=sub.raw_path.hex())


def _zero(ctx: Context, message: str) -> dict[str, ExerciseResult]:
    return {ex.id: ExerciseResult(ex.id, 0.0, ex.points, message, [
        {"check": "all", "kind": "visible", "passed": False, "status": "not_run", "message": message,
         "cases_passed": 0, "cases_total": None, "failed_cases": [], "points": 0.0,
         "max_points": ex.points}], partial=ex.id in ctx.partial) for ex in ctx.exercises.values()}


def grade_submission(ctx: Context, sub: Submission) -> SubmissionResult:
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
        result.integrity = scan(ctx.reference, submission)
    except Exception as err:  # noqa: BLE001 - flags are a courtesy; never fail a submission on them
        result.integrity = {"error": clean_text(err, 200)}
    try:
        plan = ctx.plan(result.seed)
    except JudgeError as err:
        result.status, result.message = "error", f"the hidden checks could not be planned ({err})"
        result.exercises = _zero(ctx, "not graded: a grader problem; your instructor will regrade")
        return result
    skip = authoring.SKIP_WHEN_GRADING if ctx.exercise_only else ()
    assembled, cells, out = _run(ctx, submission, plan, skip)
    result.mode = "exercise-only" if skip else "full"
    _fill(ctx, result, assembled, cells, out, plan)
    if skip and _needs_full(result, cells, assembled):
        seconds = result.seconds
        assembled, cells, out = _run(ctx, submission, plan, ())
        result.mode = "full (rerun: the exercise-only run was not enough)"
        result.cell_errors, result.exercises = [], {}
        _fill(ctx, result, assembled, cells, out, plan)
        result.seconds += seconds
    return result


def _run(ctx: Context, submission, plan: dict, skip) -> tuple[Assembled, list[dict], RunOutput]:
    """Assemble and run the submission once (skipping the cells tagged ``skip``)."""
    base = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    try:
        sandbox.claim_tempdir(base)
        assembled = assemble(ctx.reference, submission, str(base / "work"), set(plan), ctx.partial, skip)
        files = {f"args-{ex_id}.pkl": p["args"] for ex_id, p in plan.items()}
        out = run_notebook(assembled.notebook, base, files, ctx.cfg)
    finally:
        if os.environ.get("COURSE_GRADER_KEEP"):
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return assembled, read_cell_report(out.report), out


def _fill(ctx: Context, result: SubmissionResult, assembled: Assembled, cells: list[dict],
          out: RunOutput, plan: dict) -> None:
    result.status, result.message, result.seconds = out.status, out.message, out.seconds
    _judge_exercises(ctx, result, assembled, cells, out.records, plan)
    result.cell_errors = _cell_errors(ctx, assembled, cells)


_NEEDS_FULL = ("NameError", "is not defined", "UnboundLocalError")


def _needs_full(result: SubmissionResult, cells: list[dict], assembled: Assembled) -> bool:
    """Did skipping the demo/training cells break this run (so a full run could grade it better)?

    Yes when the run did not finish, when a check could not run or use its records, or when a
    cell or the student's function failed on a name that a skipped cell may have defined.
    """
    if result.status != "graded":
        return True
    for ex in result.exercises.values():
        for check in ex.checks:
            if check.get("status") in ("not_run", "unusable", "timeout"):
                return True
            if not check.get("passed") and any(s in check.get("message", "") for s in _NEEDS_FULL):
                return True
    for cell in cells:
        err = cell.get("error") or {}
        if cell["outcome"] == "failed" and any(s in err.get("ename", "") + err.get("evalue", "")
                                               for s in _NEEDS_FULL):
            return True
    return False


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


def _cell_errors(ctx: Context, assembled: Assembled, cells: list[dict]) -> list[str]:
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


def _answer_problem(ctx: Context, assembled: Assembled, cells: list[dict], ex_id: str) -> str:
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


def _judge_exercises(ctx: Context, result: SubmissionResult, assembled: Assembled, cells: list[dict],
                     records: dict[str, bytes], plan: dict) -> None:
    by_secret = {c["grader_id"]: c for c in cells if c["grader_id"]}
    cell_of = {v: by_secret.get(k) for k, v in assembled.secrets.items()}
    requests = [{"exercise_id": ex.id, "visible": records.get(f"rec-{ex.id}-visible.pkl"),
                 "hidden": records.get(f"rec-{ex.id}-hidden.pkl"), "hidden_plan": plan.get(ex.id),
                 "seed": result.seed, "hidden_dir": ctx.hidden_dir, "cell_timeout": ctx.cfg.cell_timeout,
                 "lenient": ex.id in ctx.partial}
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
        res = ExerciseResult(ex.id, 0.0, ex.points, "", checks, partial=ex.id in ctx.partial)
        res.points, res.per_case = exercise_points(ex.points, checks, res.partial)
        if checks and not failed:
            res.message = "passed"
        else:
            first = failed[0] if failed else {"kind": "visible", "message": "not graded"}
            res.message = first["message"]
            problem = _answer_problem(ctx, assembled, cells, ex.id)
            if problem and (first["status"] != "failed" or "is defined" in first["message"]):
                res.message = problem
            elif first["kind"] == "hidden":
                res.message = "A case you have not seen failed:\n" + res.message
        result.exercises[ex.id] = res


def error_result(ctx: Context, sub: Submission, message: str, seconds: float = 0.0) -> SubmissionResult:
    """A row for a submission the grader itself failed on (status ``error``)."""
    r = _result(ctx, sub)
    r.status, r.seconds, r.message = "error", seconds, message
    r.exercises = _zero(ctx, "not graded: a grader problem; your instructor will regrade")
    return r
