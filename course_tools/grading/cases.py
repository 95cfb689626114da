"""Checks that remember which cases failed, and lenient checks for exercises graded per case.

Runs on both sides: in the student's kernel (the grader copies this file next to the recording
helpers, as ``course_grader_cases``) and in the judge. It imports only the handout's
``course_lib``. :func:`tracking` subclasses a checker class so that the judge can say which
cases failed (for the instructor's report) and, for an exercise tagged ``partial``, keep going
after a failed case so that every case counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["tracking", "MAX_FAILED_CASES"]


def _text(value: Any, limit: int) -> str:
    try:
        return str(value)[:limit]
    except Exception:  # noqa: BLE001 - a hostile __str__
        return "(the message could not be shown)"


class _NoResult:
    """What a lenient check's ``call`` returns when the student's function raised on a case."""

    def __repr__(self) -> str:
        return "no result (your function raised an error on this case)"


MAX_FAILED_CASES = 50


def tracking(base: type, lenient: bool = False) -> type:
    """A subclass of the checker class ``base`` that remembers which cases failed.

    With ``lenient`` (an exercise graded per case) a failed comparison does not end the check:
    it is counted (``n_failed``), its message kept, and the next case runs; a case on which the
    student's function raised gets a result that fails its comparisons. A stub, a missing or a
    non-callable answer still ends the check at once. The kernel and the judge run the same
    class, so they make the same calls in the same order.
    """
    from course_lib.checks._core import CheckFailed

    class Tracking(base):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.failed_cases: list[str] = []
            self.messages: list[str] = []
            self.n_failed = 0

        def _note(self, case: Any) -> None:
            text = _text(case, 200)
            if len(self.failed_cases) < MAX_FAILED_CASES and self.failed_cases[-1:] != [text]:
                self.failed_cases.append(text)

        def fail(self, case: str, problem: str, hint: str = "") -> None:
            __tracebackhide__ = True
            self._note(case)
            super().fail(case, problem, hint)

        def _soft(self, method: Callable, *args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            if not lenient:
                return method(*args, **kwargs)
            try:
                method(*args, **kwargs)
            except CheckFailed as err:
                self.n_failed += 1
                self.messages.append(_text(err, 4000))

        def close(self, *args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            self._soft(super().close, *args, **kwargs)

        def true(self, *args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            self._soft(super().true, *args, **kwargs)

        def call(self, *args: Any, case: str, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            try:
                return super().call(*args, case=case, **kwargs)
            except CheckFailed as err:
                self._note(case)
                if not lenient or err.__cause__ is None:  # a stub, not a function: stop here
                    raise
                self.messages.append(_text(err, 4000))
                return _NoResult()

        def finish(self) -> None:
            """Raise the first failure of a lenient check (its verdict in the notebook)."""
            if self.messages:
                raise CheckFailed(self.messages[0])

    Tracking.lenient = lenient
    Tracking.__name__ = Tracking.__qualname__ = f"Tracking{base.__name__}"
    return Tracking
