"""Hidden checks: what the grader tries on inputs the student has not seen.

A hidden check is a check body like the visible ones, in ``course_tools/hidden/<part>.py``::

    @hidden("0.1", reference=ref.discounted_return)
    def discounted_return_unseen_shapes(ck: HiddenChecker) -> None:
        rewards, gamma = ck.rng.normal(size=(3, 11)), float(ck.rng.uniform(0.3, 1.0))
        ck.close(ck.call(rewards, gamma, case="B = 3, T = 11"), ref.discounted_return(rewards, gamma),
                 case="B = 3, T = 11")

Its inputs come from ``ck.rng`` / ``ck.torch_generator()``, seeded with the student's own seed
(:func:`course_tools.grading.results.student_seed`), so they cannot be predicted. The check
code and its expected answers never enter the student's kernel: :func:`plan` runs every hidden
body with the reference as the "student", collects the argument lists of its calls (sent to the
kernel) and their fingerprints; the judge later replays the recorded answers through the body.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_lib.checks._core import Checker
from course_tools.grading.codec import fingerprint
from course_tools.grading.record import GlobalRngs

__all__ = ["HiddenChecker", "HiddenSpec", "HIDDEN", "hidden", "load_hidden", "hidden_fingerprint",
           "plan", "DEFAULT_DIR"]

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "hidden"
"""``course_tools/hidden``: the course's hidden checks, one module per notebook."""
_DEFAULT_HINT = ("this case is not one of the visible check's: compare it with them (its shapes, "
                 "its extreme values) to see what your function does differently.")


class HiddenChecker(Checker):
    """A :class:`Checker` for hidden checks, seeded per student; failures always carry a hint."""

    def __init__(self, exercise_id: str, name: str, fn: Any, seed: int):
        super().__init__(exercise_id, name, fn)
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    def torch_generator(self):
        """A ``torch.Generator`` seeded from the student's seed."""
        import torch

        return torch.Generator().manual_seed(self.seed)

    def fail(self, case: str, problem: str, hint: str = "") -> None:
        __tracebackhide__ = True
        super().fail(f"{case} (a case you have not seen)", problem, hint or _DEFAULT_HINT)


@dataclass(frozen=True)
class HiddenSpec:
    """One hidden check of an exercise."""

    exercise_id: str
    name: str
    """The check body's name (for the instructor; never shown to the student)."""
    body: Callable[[HiddenChecker], None]
    reference: Callable[..., Any]
    """A correct answer, used to plan the argument lists the kernel is given."""


HIDDEN: dict[str, list[HiddenSpec]] = {}
"""Hidden checks loaded by :func:`load_hidden`, by exercise id."""


def hidden(exercise_id: str, *, reference: Callable[..., Any]) -> Callable:
    """Register a hidden check of exercise ``exercise_id`` (a body taking a HiddenChecker)."""

    def decorate(body: Callable[[HiddenChecker], None]) -> Callable[[HiddenChecker], None]:
        HIDDEN.setdefault(exercise_id, []).append(HiddenSpec(exercise_id, body.__name__, body, reference))
        return body

    return decorate


def load_hidden(folder: str | Path | None = DEFAULT_DIR) -> dict[str, list[HiddenSpec]]:
    """Import every ``*.py`` of ``folder`` (hidden checks register themselves); returns HIDDEN."""
    HIDDEN.clear()
    if folder is None or not Path(folder).is_dir():
        return HIDDEN
    for path in sorted(Path(folder).glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"_course_hidden_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return HIDDEN


def hidden_fingerprint(folder: str | Path | None) -> str:
    """A hash of the hidden checks' source, so ``--resume`` regrades when they change."""
    h = hashlib.sha256()
    if folder is not None and Path(folder).is_dir():
        for path in sorted(Path(folder).glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _exercise_name(exercise_id: str) -> str:
    from course_lib.checks import EXERCISES

    return EXERCISES[exercise_id].name


def plan(hidden_dir: str | None, seed: int, exercise_ids: list[str]) -> dict:
    """For each exercise with hidden checks: the argument lists to give the kernel.

    Each hidden body runs with the reference answer as the student's function; the arguments of
    every call are collected (pickled for the kernel) with a fingerprint per call, the number of
    calls and of cases per hidden check.
    """
    load_hidden(hidden_dir)
    out = {}
    for ex_id in exercise_ids:
        specs = HIDDEN.get(ex_id, [])
        if not specs:
            continue
        calls: list = []
        counts, cases = [], []
        for hs in specs:
            before = len(calls)

            def collect(*args: Any, _ref=hs.reference, _calls=calls, **kwargs: Any) -> Any:
                _calls.append((copy.deepcopy(args), copy.deepcopy(kwargs)))
                return _ref(*args, **kwargs)

            ck = HiddenChecker(ex_id, _exercise_name(ex_id), collect, seed)
            with GlobalRngs():
                hs.body(ck)
            counts.append(len(calls) - before)
            cases.append(ck.n_cases)
        out[ex_id] = {"args": pickle.dumps(calls, protocol=4),
                      "fingerprints": [fingerprint(a, k) for a, k in calls],
                      "counts": counts, "cases": cases}
    return out
