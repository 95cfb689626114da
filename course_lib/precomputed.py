"""The course's convention: *your* function drives the demo.

An algorithm that contains an exercise takes that piece as an argument, and ``course_lib``
ships no default for it: the notebook passes the function you wrote in the exercise cell
above, so the plot that follows is drawn by your code (d2l reuses its reader's code the same
way). While your function is still the stub, the notebook cannot run it; the demo then shows
the result the instructor's solution produced, shipped in ``course_lib/data/precomputed``, and
says in one line which exercise would make it your own::

    planner = planning.as_planner(cem_plan, cfg.planner, generator)  # the student's CEM planner
    result = precomputed.run_or_load("part1_mbrl_v15", lambda: planning.mbrl_v15(env, cfg, planner, seed=0))

prints, while ``cem_plan`` is unfinished (or a function it calls, which the line then names)::

    Showing precomputed results: finish Exercise 1.3 (`cem_plan`) to run this with your
    own code.

How the data gets there: the instructor's tools run the *instructor* notebooks (solutions
filled in) with ``COURSE_PRECOMPUTE_OUT`` set, and every ``run_or_load`` saves what it computed
under its key (``python -m course_tools data``). So a fallback is exactly what the solution
shows, and the same notebook code drives both versions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from course_lib import datafiles

__all__ = ["run_or_load", "load", "stub_exercise", "RECORD_ENV"]

T = TypeVar("T")
RECORD_ENV = "COURSE_PRECOMPUTE_OUT"
"""When set (by the instructor's data build), every computed result is saved to this folder."""
_STUB = re.compile(r"^Exercise ([0-9]+(?:\.[0-9]+)*[a-z]?)\b")


def stub_exercise(err: NotImplementedError) -> str | None:
    """The exercise id named by a stub's ``NotImplementedError("Exercise 1.2: ...")``, else None."""
    match = _STUB.match(str(err))
    return match.group(1) if match else None


def _exercise_name(exercise_id: str) -> str:
    from course_lib.checks import EXERCISES

    spec = EXERCISES.get(exercise_id)
    return f" (`{spec.name}`)" if spec is not None else ""


def load(key: str):
    """The precomputed result saved under ``key``."""
    return datafiles.load(f"precomputed/{key}.json")


def run_or_load(key: str, run: Callable[[], T]) -> T:
    """``run()``, or the precomputed result ``key`` while an exercise that ``run`` uses is a stub.

    ``run`` is a function of no arguments that calls the student's functions. If one of them
    raises the stub's ``NotImplementedError("Exercise <id>: ...")``, this prints one line
    naming that exercise and returns the result the instructor's solution computed. Any other
    error is the student's to see, and is raised unchanged.
    """
    try:
        result = run()
    except NotImplementedError as err:
        exercise_id = stub_exercise(err)
        if exercise_id is None:
            raise
        print(f"Showing precomputed results: finish Exercise {exercise_id}{_exercise_name(exercise_id)} "
              "to run this with your own code.")
        return load(key)
    out = os.environ.get(RECORD_ENV)
    if out:
        datafiles.save(Path(out) / f"{key}.json", result)
    return result
