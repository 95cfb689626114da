"""Grading speed: one student's five parts, and a class of Part 3 submissions.

Exercise-only grading (the default) skips the cells tagged ``demo`` or ``training``
(``python -m course_tools skips`` derives the tags); ``--full`` runs every cell. Budgets
(issue 16): all five parts for one student in ≤ 30 s, and 30 Part 3 submissions with
``--jobs 2`` in ≤ 20% of the 1184 s that full grading took before exercise-only grading.
The full rows are measured on fewer copies (``BENCH_GRADER_FULL_COPIES``, default 2 x jobs)
and scaled to the class: a full run is ~40 s of CPU per copy.

    python -m benchmarks --only grader
    BENCH_GRADER_COPIES=4 python -m benchmarks --only grader   # a quick look
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.core import ROOT, Row

GROUP = "grader"
BEFORE_S = 1184.0
"""30 Part 3 submissions, --jobs 2, every cell run: measured when exercise-only grading was proposed."""


def _grade(reference: Path, copies: int, jobs: int, full: bool) -> tuple[float, list]:
    from course_tools import grading

    tmp = Path(tempfile.mkdtemp(prefix="bench-grader-"))
    try:
        (tmp / "subs").mkdir()
        subs = []
        for i in range(copies):
            subs.append(tmp / "subs" / f"student{i:03d}.ipynb")
            shutil.copy(reference, subs[-1])
        t0 = time.perf_counter()
        results = grading.grade(reference, subs, tmp / "out", jobs=jobs, progress=False, full=full)
        return time.perf_counter() - t0, results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _full_marks(results) -> int:
    return sum(r.total == sum(e.max_points for e in r.exercises.values()) for r in results)


def rows() -> list[Row]:
    from course_tools.grading import sandbox

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    per_part, modes, marks = {}, set(), 0
    for nb in notebooks:
        seconds, results = _grade(nb, 1, 1, full=False)
        per_part[nb.stem.split("_")[0]] = seconds
        modes |= {r.mode for r in results}
        marks += _full_marks(results)
    out = [Row(GROUP, "one student, all five parts, exercise-only", sum(per_part.values()), "s", "≤ 30 s",
               f"per part: {', '.join(f'{k} {v:.1f} s' for k, v in per_part.items())}; "
               f"{marks}/{len(notebooks)} parts full marks; mode {', '.join(sorted(modes))}; "
               f"{sandbox.probe().mode} sandbox")]

    part3 = next(p for p in notebooks if p.stem.startswith("03"))
    copies, jobs = int(os.environ.get("BENCH_GRADER_COPIES", "30")), 2
    wall, results = _grade(part3, copies, jobs, full=False)
    out.append(Row(GROUP, f"grade {copies} x Part 3, --jobs {jobs}, exercise-only", wall, "s",
                   f"≤ {0.2 * BEFORE_S * copies / 30:.0f} s (20% of {BEFORE_S:.0f} s for 30)",
                   f"{_full_marks(results)}/{copies} full marks; "
                   f"{sum(r.mode == 'exercise-only' for r in results)}/{copies} without a full rerun; "
                   f"per submission {sum(r.seconds for r in results) / max(1, len(results)):.1f} s "
                   "in the sandbox"))
    few = int(os.environ.get("BENCH_GRADER_FULL_COPIES", str(2 * jobs)))
    full_wall, full_results = _grade(part3, few, jobs, full=True)
    scaled = full_wall * copies / few
    out.append(Row(GROUP, f"grade {copies} x Part 3, --jobs {jobs}, --full (scaled from {few})", scaled, "s",
                   "for comparison",
                   f"{full_wall:.0f} s for {few}; exercise-only takes {wall / scaled:.0%} of it; "
                   f"{_full_marks(full_results)}/{few} full marks"))
    return out
