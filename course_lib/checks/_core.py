"""The machinery behind every exercise check.

A check cell calls one public function of ``course_lib.checks``, e.g.
``checks.discounted_return()``. That function finds the student's function by name in
the notebook, runs it on several seeded cases (edge cases included) and compares with the
expected answers. It prints one deterministic line on success and raises :class:`CheckFailed`
(an ``AssertionError``) on failure, with a message that says which case, what was
expected, what came back, and a hint. A stub that still raises ``NotImplementedError``,
a wrong shape, a NaN and a crash each get their own message.

The expected answers are data, not code: ``ck.answer(case)`` reads what the instructor's
reference implementation returned on that case, saved in ``course_lib/data/answers`` when the
handout was made (``python -m course_tools data``). The handout holds no implementation of an
exercise, so a check cannot be passed by calling one.

Checks grade by raising, never by printed text: the grader and nbval only look at
whether the check cell raised.
"""

from __future__ import annotations

import copy
import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CheckFailed", "Checker", "ExerciseSpec", "EXERCISES", "exercise"]


class CheckFailed(AssertionError):
    """An exercise check did not pass; the message says why.

    In a notebook IPython shows only the message (``_render_traceback_``): no traceback through
    the check's own code. When the student's function raised, the lines of *their* code that
    led to it follow the message.
    """

    def _render_traceback_(self) -> list[str]:
        red, bold, reset = "\x1b[31m", "\x1b[1m", "\x1b[0m"
        first, *rest = str(self).splitlines() or [""]
        lines = [f"{red}{bold}Check failed{reset}{red}: {first}{reset}", *rest]
        cause = self.__cause__
        if cause is not None and cause.__traceback__ is not None:
            import traceback

            frames = [f for f in traceback.extract_tb(cause.__traceback__)
                      if "course_lib" not in f.filename.replace("\\", "/").split("/")]
            if frames:
                lines += ["", "  Where your code raised it:"]
                lines += ["  " + ln for ln in "".join(traceback.format_list(frames)).rstrip().splitlines()]
                lines.append(f"  {type(cause).__name__}: {cause}")
        return lines


@dataclass(frozen=True)
class ExerciseSpec:
    """What the grader and the tests need to know about one exercise."""

    id: str
    """Exercise id as in the notebook's cell tags, e.g. ``"1.2"``."""
    name: str
    """Name of the function (or variable) the student defines."""
    check: Callable[..., None]
    """The public check function (takes the student's object or looks it up)."""
    body: Callable[[Checker], None]
    """The check's body: takes a :class:`Checker` bound to the student's object."""


EXERCISES: dict[str, ExerciseSpec] = {}
"""Every registered exercise, by id."""


def _user_namespace() -> dict[str, Any]:
    """The namespace the notebook's cells run in (IPython's user_ns, else ``__main__``)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            return shell.user_ns
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        pass
    return vars(sys.modules["__main__"])


_MISSING = object()


def exercise(exercise_id: str, name: str) -> Callable[[Callable[[Checker], None]], Callable]:
    """Register a check body as the public check of exercise ``exercise_id``.

    The body receives a :class:`Checker` bound to the student's object. The returned
    public function takes that object (or looks ``name`` up in the notebook) and prints
    ``Exercise <id> passed`` when the body finishes without a failure.
    """

    def decorate(body: Callable[[Checker], None]) -> Callable[..., None]:
        @functools.wraps(body)
        def check(fn: Any = _MISSING) -> None:
            __tracebackhide__ = True
            if fn is _MISSING:
                fn = _user_namespace().get(name, _MISSING)
            if fn is _MISSING:
                raise CheckFailed(
                    f"Exercise {exercise_id}: no `{name}` is defined in this notebook.\n"
                    f"  Expected: the exercise cell above (the one that starts "
                    f"`def {name}(`) defines `{name}`.\n"
                    "  Hint: run that cell (Shift+Enter) before its check, and keep the name "
                    "unchanged. After a kernel restart, run the cells above it first "
                    "(Run > Run All Above Selected Cell)."
                )
            ck = Checker(exercise_id, name, fn)
            body(ck)
            ck.passed()

        check.__doc__ = f"Check exercise {exercise_id} (`{name}`).\n\n{body.__doc__ or ''}"
        if exercise_id in EXERCISES:
            raise RuntimeError(f"exercise id {exercise_id!r} is registered twice")
        EXERCISES[exercise_id] = ExerciseSpec(exercise_id, name, check, body)
        return check

    return decorate


def _describe(x: Any) -> str:
    """A short description of a value for a failure message."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        kind = "torch tensor" if type(x).__module__.startswith("torch") else "array"
        return f"{kind} of shape {tuple(x.shape)} and dtype {x.dtype}"
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of length {len(x)}"
    return f"{type(x).__name__} {x!r}"[:120]


def _to_numpy(x: Any) -> np.ndarray | None:
    """Convert a tensor, array, number or nested list to a float64 array (None if it can't)."""
    if type(x).__module__.startswith("torch"):
        try:
            return x.detach().cpu().double().numpy()
        except Exception:
            return None
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def _fmt(a: np.ndarray) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return np.array2string(a, precision=5, threshold=12, edgeitems=3)


_ANSWERS: dict[str, dict] = {}
"""Answers of the visible checks, by exercise id, loaded once from ``course_lib/data/answers``."""


def load_answers(exercise_id: str) -> dict:
    """The saved answers of exercise ``exercise_id``'s visible check, by case."""
    if exercise_id not in _ANSWERS:
        from course_lib import datafiles

        _ANSWERS[exercise_id] = datafiles.load(f"answers/{exercise_id}.json")
    return _ANSWERS[exercise_id]


class Checker:
    """Runs a student's function on cases and compares its answers, with clear messages."""

    def __init__(self, exercise_id: str, name: str, fn: Any):
        self.exercise_id = exercise_id
        self.name = name
        self.fn = fn
        self.n_cases = 0

    # -- expected answers --------------------------------------------------------------
    def answer(self, case: str) -> Any:
        """The reference's answer on ``case`` (the arguments of the last ``call`` with that case).

        Saved in ``course_lib/data/answers`` by the instructor's tools, which run this same
        check body with the reference implementation in place of the student's function.
        """
        answers = load_answers(self.exercise_id)
        if case not in answers:
            raise KeyError(f"exercise {self.exercise_id}: no saved answer for case {case!r}; the "
                           "instructor rebuilds them with `python -m course_tools data`")
        return answers[case]

    # -- failure messages -------------------------------------------------------------
    def fail(self, case: str, problem: str, hint: str = "") -> None:
        """Raise :class:`CheckFailed` for ``case`` with ``problem`` and an optional hint."""
        __tracebackhide__ = True
        msg = f"Exercise {self.exercise_id} (`{self.name}`), case: {case}\n  {problem}"
        if hint:
            msg += f"\n  Hint: {hint}"
        raise CheckFailed(msg)

    # -- calling the student's code ----------------------------------------------------
    def call(self, *args: Any, case: str, **kwargs: Any) -> Any:
        """Call the student's function on deep copies of the arguments.

        A stub still raising ``NotImplementedError`` and any other exception become a
        :class:`CheckFailed` that names the exercise and the case.
        """
        __tracebackhide__ = True
        if not callable(self.fn):
            raise CheckFailed(
                f"Exercise {self.exercise_id}: `{self.name}` should be a function, "
                f"but it is {_describe(self.fn)}."
            )
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        try:
            return self.fn(*args, **kwargs)
        except NotImplementedError:
            raise CheckFailed(
                f"Exercise {self.exercise_id} (`{self.name}`) is not done yet: it still raises "
                "NotImplementedError.\n  Replace the `raise NotImplementedError(...)` line "
                "with your code, run that cell, then run this check again."
            ) from None
        except CheckFailed:
            raise
        except Exception as err:
            hint = ""
            if isinstance(err, NameError):
                hint = ("\n  Hint: a name your code uses is not defined: after a kernel restart, run "
                        "the notebook's cells from the top (Run > Run All Above Selected Cell).")
            raise CheckFailed(
                f"Exercise {self.exercise_id} (`{self.name}`), case: {case}\n"
                f"  Your function raised {type(err).__name__}: {err}{hint}"
            ) from err

    # -- comparisons -------------------------------------------------------------------
    def close(
        self,
        got: Any,
        expected: Any,
        *,
        case: str,
        atol: float = 1e-6,
        rtol: float = 1e-5,
        hint: str = "",
        tensor: bool | None = None,
    ) -> None:
        """Compare an array-like answer with the reference: type, shape, finiteness, values.

        ``tensor=True`` requires a ``torch.Tensor`` (e.g. when gradients must flow),
        ``tensor=False`` forbids one; ``None`` accepts either.
        """
        __tracebackhide__ = True
        self.n_cases += 1
        is_tensor = type(got).__module__.startswith("torch")
        if tensor is True and not is_tensor:
            self.fail(case, f"expected a torch tensor, got {_describe(got)}.",
                      hint or "build the result with torch operations so gradients can flow.")
        if tensor is False and is_tensor:
            self.fail(case, f"expected a NumPy array or a number, got {_describe(got)}.", hint)
        exp = _to_numpy(expected)
        arr = _to_numpy(got)
        if arr is None or (arr.dtype == object):
            self.fail(case, f"expected numbers of shape {exp.shape}, got {_describe(got)}.", hint)
        if arr.shape != exp.shape:
            self.fail(
                case,
                f"expected an output of shape {exp.shape}, got shape {arr.shape}.",
                "check which axis you reduce over, and whether you keep or drop a size-1 axis.",
            )
        bad = ~np.isfinite(arr) & np.isfinite(exp)
        if bad.any():
            where = f" (first at index {tuple(int(i) for i in np.argwhere(bad)[0])})" if bad.ndim else ""
            self.fail(
                case,
                f"your output contains NaN or inf{where}; expected finite values like {_fmt(exp)}.",
                hint or "look for a division by zero, a log of 0, or an uninitialised array.",
            )
        if not np.allclose(arr, exp, atol=atol, rtol=rtol, equal_nan=True):
            err = np.asarray(np.abs(arr - exp), dtype=np.float64)
            err[~np.isfinite(err)] = np.inf
            idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
            where = f" at index {tuple(int(i) for i in idx)}" if err.ndim else ""
            self.fail(
                case,
                f"expected {_fmt(exp)}\n  got      {_fmt(arr)}\n"
                f"  largest difference {float(np.max(err)):.3g}{where} "
                f"(tolerance {atol:g} + {rtol:g}*|expected|).",
                hint,
            )

    def true(self, condition: bool, *, case: str, problem: str, hint: str = "") -> None:
        """Fail ``case`` with ``problem`` unless ``condition`` holds."""
        __tracebackhide__ = True
        self.n_cases += 1
        if not bool(condition):
            self.fail(case, problem, hint)

    def scalar(self, got: Any, *, case: str) -> float:
        """Return ``got`` as a Python float, failing clearly if it is not one number."""
        __tracebackhide__ = True
        arr = _to_numpy(got)
        if arr is None or arr.size != 1:
            self.fail(case, f"expected a single number, got {_describe(got)}.")
        value = float(arr.reshape(()))
        if not math.isfinite(value):
            self.fail(case, f"expected a finite number, got {value}.")
        return value

    def passed(self) -> None:
        """Print the one deterministic success line."""
        print(f"Exercise {self.exercise_id} passed: `{self.name}` is right on all "
              f"{self.n_cases} cases.")
