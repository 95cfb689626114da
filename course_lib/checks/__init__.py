"""Exercise checks, one public function per exercise (see ``_core`` for the conventions).

A check cell reads ``checks.<name>()``: it finds the student's ``<name>`` in the notebook,
tests it on several cases, prints one line on success and raises ``CheckFailed`` (an
``AssertionError``) with a helpful message otherwise.
"""

from course_lib.checks._core import EXERCISES, Checker, CheckFailed, ExerciseSpec
from course_lib.checks.welcome import discounted_return, pendulum_step

__all__ = [
    "EXERCISES",
    "CheckFailed",
    "Checker",
    "ExerciseSpec",
    "discounted_return",
    "pendulum_step",
]
