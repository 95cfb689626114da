"""What went right and wrong across a class: ``python -m course_tools report grades/part1``.

For the instructor only (it names students, hidden checks and integrity flags):

* per exercise: mean points, how many earned full marks, the pass rate of the visible check and
  of each hidden check, and the most-failed cases of each (for an exercise graded all or
  nothing a check stops at its first failed case, so its counts are first failures);
* the timeouts (whole notebooks, and cells of the students' own), the invalid files, the errors;
* integrity flags: edited or deleted check cells, imports of instructor-only modules, answers
  identical across students (comments and layout ignored; very short answers are left out,
  since many students write the same one-liner; answers identical to the solution are listed
  on their own), and answers identical to the solution.

Hidden cases are drawn per student, so their names' decimal numbers are grouped as ``…``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

from course_tools.grading.results import ResultStore, SubmissionResult

__all__ = ["build", "render"]

MIN_TOKENS = 15
"""Answers shorter than this (in tokens) are not compared across students."""
TOP = 5
_DRAWN = re.compile(r"-?\d+\.\d+")


def _pct(n: int, of: int) -> str:
    return f"{100 * n / of:.0f}%" if of else "-"


def build(out: str | Path) -> dict:
    """The report's data, from a grades folder."""
    results: dict[str, SubmissionResult] = ResultStore(out).load_all()
    graded = [r for r in results.values() if r.status == "graded"]
    statuses = Counter(r.status for r in results.values())
    exercises: dict[str, dict] = {}
    for r in results.values():
        for e in r.exercises.values():
            ex = exercises.setdefault(e.id, {"max": e.max_points, "partial": e.partial, "points": [],
                                             "checks": {}, "full": 0})
            ex["points"].append(e.points)
            ex["full"] += e.points >= e.max_points
            if r.status != "graded":
                continue
            for c in e.checks:
                name = "visible check" if c.get("kind") == "visible" else f"hidden {c.get('check', '?')}"
                check = ex["checks"].setdefault(name, {"kind": c.get("kind"), "runs": 0, "passed": 0,
                                                       "failed_cases": Counter()})
                check["runs"] += 1
                check["passed"] += bool(c.get("passed"))
                cases = c.get("failed_cases") or []
                if c.get("kind") == "hidden":  # drawn per student: group "gamma = 0.968" with "= 0.904"
                    cases = [_DRAWN.sub("…", case) for case in cases]
                check["failed_cases"].update(cases)
    timeouts = [(r.student, r.message) for r in results.values() if r.status == "timeout"]
    cell_timeouts = [(r.student, e) for r in results.values() for e in r.cell_errors
                     if "timed out" in e]
    answers: dict[tuple[str, str], list[str]] = defaultdict(list)
    flags = {"edited_checks": [], "instructor_imports": [], "matches_reference": [], "identical": []}
    for r in sorted(results.values(), key=lambda r: r.student):
        f = r.integrity or {}
        if f.get("edited_checks"):
            flags["edited_checks"].append((r.student, f["edited_checks"]))
        if f.get("instructor_imports"):
            flags["instructor_imports"].append((r.student, f["instructor_imports"]))
        if f.get("matches_reference"):
            flags["matches_reference"].append((r.student, f["matches_reference"]))
        for ex_id, a in (f.get("answers") or {}).items():
            if a.get("tokens", 0) >= MIN_TOKENS and ex_id not in (f.get("matches_reference") or []):
                answers[(ex_id, a["sha"])].append(r.student)
    flags["identical"] = sorted((ex_id, students) for (ex_id, _), students in answers.items()
                                if len(students) > 1)
    return {"folder": str(out), "students": len(results), "statuses": dict(statuses),
            "graded": len(graded), "exercises": exercises, "timeouts": timeouts,
            "cell_timeouts": cell_timeouts,
            "invalid": [(r.student, r.message) for r in results.values() if r.status == "invalid"],
            "errors": [(r.student, r.message) for r in results.values() if r.status == "error"],
            "integrity": flags}


def render(data: dict) -> str:
    """The report as text."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data["statuses"].items()))
    lines = [f"Report for {data['folder']}: {data['students']} students ({counts or 'none'})", ""]
    for ex_id, ex in sorted(data["exercises"].items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
        n = len(ex["points"])
        mean = sum(ex["points"]) / n if n else 0.0
        scheme = "per case" if ex["partial"] else "all or nothing"
        lines.append(f"Exercise {ex_id} ({ex['max']:g} points, {scheme}): mean {mean:.2f}, "
                     f"full marks {ex['full']}/{n} ({_pct(ex['full'], n)})")
        for name, c in ex["checks"].items():
            lines.append(f"  {name}: passed {c['passed']}/{c['runs']} ({_pct(c['passed'], c['runs'])})")
            for case, k in c["failed_cases"].most_common(TOP):
                lines.append(f"    failed by {k} ({_pct(k, c['runs'])}): {case}")
    lines.append("")
    lines.append(f"Timeouts (whole notebook): {len(data['timeouts'])}")
    lines += [f"  {s}: {m[:200]}" for s, m in data["timeouts"]]
    lines.append(f"Cells of their own that timed out: {len(data['cell_timeouts'])}")
    lines += [f"  {s}: {m[:200]}" for s, m in data["cell_timeouts"][:50]]
    lines.append(f"Invalid files: {len(data['invalid'])}")
    lines += [f"  {s}: {m[:200]}" for s, m in data["invalid"]]
    if data["errors"]:
        lines.append(f"Errors (regrade these): {len(data['errors'])}")
        lines += [f"  {s}: {m[:200]}" for s, m in data["errors"]]
    f = data["integrity"]
    lines += ["", "Integrity flags (for you only; never in feedback):"]
    lines += [f"  edited or deleted check cells: {s} (exercises {', '.join(ids)})"
              for s, ids in f["edited_checks"]]
    lines += [f"  imports of instructor-only modules: {s}: {'; '.join(m)}"
              for s, m in f["instructor_imports"]]
    lines += [f"  answer identical to the solution: {s} (exercises {', '.join(ids)})"
              for s, ids in f["matches_reference"]]
    lines += [f"  identical answers to exercise {ex_id}: {', '.join(students)}"
              for ex_id, students in f["identical"]]
    if not any(f.values()):
        lines.append("  none")
    return "\n".join(lines) + "\n"
