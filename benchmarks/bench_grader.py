"""Grading a class: 30 copies of the longest notebook with ``--jobs 2``.

Budget (issue 7): at most 1.2 x (30 x one notebook's run time) / 2. "One notebook's run time"
is the notebook top to bottom in a fresh kernel (``benchmarks.core.run_notebook_seconds``); the
longest-running instructor notebook in ``notebooks/`` is picked when the benchmark runs.

    python -m benchmarks --only grader
    BENCH_GRADER_COPIES=4 python -m benchmarks --only grader   # a quick look
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.core import ROOT, Row, run_notebook_seconds

GROUP = "grader"


def _longest_notebook() -> tuple[Path, float, dict[str, float]]:
    times = {p: run_notebook_seconds(p) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    path = max(times, key=times.get)
    return path, times[path], {p.stem: t for p, t in times.items()}


def rows() -> list[Row]:
    from course_tools import grading
    from course_tools.grading import sandbox

    copies = int(os.environ.get("BENCH_GRADER_COPIES", "30"))
    jobs = 2
    path, one, all_times = _longest_notebook()
    tmp = Path(tempfile.mkdtemp(prefix="bench-grader-"))
    try:
        subs = []
        for i in range(copies):
            dest = tmp / "subs" / f"student{i:03d}.ipynb"
            dest.parent.mkdir(exist_ok=True)
            shutil.copy(path, dest)
            subs.append(dest)
        t0 = time.perf_counter()
        results = grading.grade(path, subs, tmp / "out", jobs=jobs, progress=False)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    full = sum(r.total == sum(e.max_points for e in r.exercises.values()) for r in results)
    ideal = copies * one / jobs
    return [Row(GROUP, f"grade {copies} x {path.stem}, --jobs {jobs}", wall, "s",
                f"≤ {1.2 * ideal:.0f} s (1.2 x {copies} x {one:.1f} s / {jobs})",
                f"{wall / ideal:.2f} x ideal; one run {one:.1f} s; {full}/{copies} full marks; "
                f"per submission {sum(r.seconds for r in results) / max(1, len(results)):.1f} s "
                f"in the sandbox; {sandbox.probe().mode} sandbox; notebooks: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in all_times.items()))]
