"""Reference implementations of the exercises: the instructor's answers, never in the handout.

One module per notebook (``welcome``, ``part1``...). Each reference is registered under its
exercise id::

    @reference("0.1")
    def discounted_return(rewards, gamma): ...

The registry serves three readers:

* ``python -m course_tools data`` runs every visible check with the reference in place of the
  student's function and saves the answers it compares with into ``course_lib/data/answers``
  (``expected=`` names a function that returns what the check compares with, when that is more
  than the reference's return value);
* hidden checks (``course_tools/hidden``) compute their expected answers with it, on inputs
  drawn from the grading run's seed;
* the tests, which pass it as the right answer of every exercise.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Reference", "REFERENCES", "reference", "load_all", "get"]


@dataclass(frozen=True)
class Reference:
    """The instructor's answer to one exercise."""

    exercise_id: str
    fn: Callable[..., Any]
    """A correct implementation, with the signature the exercise asks for."""
    expected: Callable[..., Any] | None = None
    """What the visible check compares with, on the same arguments (default: ``fn``)."""


REFERENCES: dict[str, Reference] = {}


def reference(exercise_id: str, *, expected: Callable[..., Any] | None = None) -> Callable:
    """Register the decorated function as the reference answer of exercise ``exercise_id``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if exercise_id in REFERENCES and REFERENCES[exercise_id].fn is not fn:
            raise RuntimeError(f"exercise {exercise_id} has two references")
        REFERENCES[exercise_id] = Reference(exercise_id, fn, expected)
        return fn

    return decorate


def load_all() -> dict[str, Reference]:
    """Import every reference module; returns the registry."""
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    return REFERENCES


def get(exercise_id: str) -> Callable[..., Any]:
    """The reference implementation of ``exercise_id``."""
    load_all()
    return REFERENCES[exercise_id].fn
