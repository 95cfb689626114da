"""Exercise checks, one public function per exercise (see ``_core`` for the conventions).

A check cell reads ``checks.<name>()``: it finds the student's ``<name>`` in the notebook,
tests it on several cases, prints one line on success and raises ``CheckFailed`` (an
``AssertionError``) with a helpful message otherwise.

Each notebook's checks live in their own module here (``welcome``, ``part1``...). Every
module is imported below, and each registered check is exported under its exercise's name.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from course_lib.checks._core import EXERCISES, Checker, CheckFailed, ExerciseSpec
from course_lib.checks._status import status

for _mod in _pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_"):
        _importlib.import_module(f"{__name__}.{_mod.name}")

for _spec in EXERCISES.values():
    if _spec.name in globals() or _spec.name == "status":
        raise RuntimeError(f"two exercises check a function named {_spec.name!r}")
    globals()[_spec.name] = _spec.check

__all__ = ["EXERCISES", "CheckFailed", "Checker", "ExerciseSpec", "status",
           *(spec.name for spec in EXERCISES.values())]
