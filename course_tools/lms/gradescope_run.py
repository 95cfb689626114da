"""Inside Gradescope's container: grade ``/autograder/submission`` and write ``results.json``.

``run_autograder`` calls ``python -m course_tools.lms.gradescope_run --root /autograder`` (the
root is a setting, so a test can use a temporary folder laid out like Gradescope's). It reads
the part's settings (``autograder.json`` in the zip), picks the submitted notebook, grades it
with :func:`course_tools.grading.grade` (the sandbox and the judge of ``python -m course_tools
grade``), and writes Gradescope's results: per exercise one test for the check in the
student's notebook, visible at once, and one for the hidden checks, shown after grades are
published (``after_published``). Whatever happens, ``results.json`` is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from course_tools.grading.codec import clean_text
from course_tools.grading.results import SubmissionResult
from course_tools.grading.submissions import safe_id

__all__ = ["results_json", "main", "pick_notebook", "student_id"]

SOURCE = Path(__file__).resolve().parents[2]
DIGITS = 4


def _test(name: str, number: str, score: float, max_score: float, passed: bool, output: str,
          visibility: str) -> dict:
    return {"name": name, "number": number, "score": round(score, DIGITS),
            "max_score": round(max_score, DIGITS), "status": "passed" if passed else "failed",
            "output": clean_text(output, 8000),
            "output_format": "text", "visibility": visibility}


def _cases(checks: list[dict]) -> str:
    known = [c for c in checks if isinstance(c.get("cases_total"), int)]
    if not known:
        return ""
    passed = sum(c["cases_total"] if c["passed"] else min(c.get("cases_passed", 0), c["cases_total"])
                 for c in known)
    return f"{passed} / {sum(c['cases_total'] for c in known)} cases passed"


def results_json(r: SubmissionResult) -> dict:
    """Gradescope's results for one graded submission (see the module docstring)."""
    tests = []
    for e in r.exercises.values():
        visible = [c for c in e.checks if c.get("kind") == "visible"]
        hidden = [c for c in e.checks if c.get("kind") == "hidden"]
        v_ok, h_ok = all(c["passed"] for c in visible), all(c["passed"] for c in hidden)
        if e.partial and e.per_case:
            v_pts, v_max = (sum(c.get(k, 0.0) for c in visible) for k in ("points", "max_points"))
            h_pts, h_max = (sum(c.get(k, 0.0) for c in hidden) for k in ("points", "max_points"))
            each = f" ({e.per_case:.3g} points per case)"
        elif hidden:  # all or nothing: the points show with the hidden checks, once published
            v_pts = v_max = 0.0
            h_pts, h_max = e.points, e.max_points
            each = f" (all {e.max_points:g} points need every case, seen and unseen)"
        else:
            v_pts, v_max, h_pts, h_max, each = e.points, e.max_points, 0.0, 0.0, ""
        v_msg = "passed" if v_ok else next((c["message"] for c in visible if not c["passed"]), e.message)
        if not v_ok and e.message and not e.message.startswith("A case you have not seen"):
            v_msg = e.message
        tests.append(_test(f"Exercise {e.id}: the check in your notebook{each}", f"{e.id}.1", v_pts, v_max,
                           v_ok, f"{_cases(visible)}\n{v_msg}".strip(), "visible"))
        if hidden:
            h_msg = "passed" if h_ok else "\n\n".join(
                "A case you have not seen failed:\n" + c["message"] for c in hidden if not c["passed"])
            tests.append(_test(f"Exercise {e.id}: cases you have not seen{each}", f"{e.id}.2", h_pts,
                               h_max, h_ok, f"{_cases(hidden)}\n{h_msg}".strip(), "after_published"))
    lines = ["Graded."] if r.status == "graded" else [
        f"Your notebook could not be graded normally ({r.status}): {clean_text(r.message, 2000)}"]
    if r.cell_errors:
        lines += ["", "Cells of yours that raised an error:",
                  *[clean_text(e, 500) for e in r.cell_errors[:20]]]
    lines += ["", "The checks of your notebook show here now; the cases you have not seen show when "
              "grades are published."]
    return {"score": round(r.total, DIGITS), "execution_time": int(r.seconds), "output": "\n".join(lines),
            "output_format": "text", "stdout_visibility": "hidden", "tests": tests}


def _failure(message: str) -> dict:
    return {"score": 0.0, "output": message, "output_format": "text", "stdout_visibility": "hidden",
            "tests": []}


def pick_notebook(folder: Path, expected: str) -> tuple[Path | None, str]:
    """The submitted notebook: the one named like the assignment's, else the only one."""
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                   and not p.is_symlink() and p.is_file()) if folder.is_dir() else []
    named = [p for p in found if p.name == expected]
    if named:
        return named[0], ""
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"No notebook (.ipynb) was found in your submission: upload {expected}."
    names = ", ".join(p.name for p in found[:10])
    return None, f"Your submission holds several notebooks ({names}): upload only {expected}."


def student_id(root: Path) -> str:
    """The submitter's id (their hidden-check seed derives from it): SID, else email, else user id."""
    try:
        meta = json.loads((root / "submission_metadata.json").read_text())
        users = sorted(meta.get("users") or [], key=lambda u: str(u.get("id", "")))
        keys = [str(u.get("sid") or u.get("email") or u.get("id") or "") for u in users]
        name = "+".join(k for k in keys if k) or str(meta.get("id") or "")
    except (OSError, ValueError, AttributeError, TypeError):
        name = ""
    return safe_id((name or "student").encode() + b".ipynb")


def _grade(root: Path, settings: dict) -> dict:
    from course_tools import grading
    from course_tools.grading import sandbox

    reference = SOURCE / settings["reference"]
    notebook, problem = pick_notebook(root / "submission", reference.name)
    if notebook is None:
        return _failure(problem)
    sid = student_id(root)
    print(sandbox.probe().describe(), flush=True)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        copy = Path(tmp) / "submission" / f"{sid}.ipynb"
        copy.parent.mkdir()
        copy.write_bytes(notebook.read_bytes())
        limits = sandbox.Limits(memory_mb=int(settings.get("memory_mb", 4096)),
                                cpu_seconds=int(settings["notebook_timeout"] * (os.cpu_count() or 1)) + 60)
        try:
            [r] = grading.grade(reference, [copy], Path(tmp) / "out", jobs=1, progress=False,
                                cell_timeout=settings["cell_timeout"], limits=limits,
                                notebook_timeout=settings["notebook_timeout"], seed=settings["seed"],
                                hidden_dir=SOURCE / "course_tools" / "hidden",
                                partial=settings.get("partial") or ["none"],
                                require_isolation=settings.get("require_isolation", False))
        except grading.GradingRefused as err:
            print(f"not grading: {err}", flush=True)
            return _failure("The autograder could not grade safely on this machine; your instructor "
                            "has been told and will grade your submission.")
    print(json.dumps({"student": sid, "status": r.status, "total": r.total, "integrity": r.integrity}),
          flush=True)
    return results_json(r)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.lms.gradescope_run")
    parser.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    parser.add_argument("--check", action="store_true", help="only check that the settings load")
    args = parser.parse_args(argv)
    settings = json.loads((SOURCE / "autograder.json").read_text())
    if args.check:
        print(f"autograder for {settings['reference']}: {len(settings['exercises'])} exercises")
        return 0
    root = Path(args.root)
    start = time.perf_counter()
    try:
        payload = _grade(root, settings)
    except Exception as err:  # noqa: BLE001 - Gradescope must always get a results.json
        print(f"autograder error: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        payload = _failure("The autograder failed on this submission (not because of your code); "
                           "your instructor has been told and will grade it.")
    payload.setdefault("execution_time", int(time.perf_counter() - start))
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    tmp = results / "results.json.part"
    tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, results / "results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
