"""Points from verdicts: all or nothing (the default), or split over the cases (``partial``).

An exercise whose check cell is tagged ``partial`` (or named by ``grade(..., partial=...)``)
splits its points evenly over every case of its checks, visible and hidden: each case is worth
``points / (visible cases + hidden cases)``. Its checks were run leniently (a failed case does
not end a check), so every case counts. Without the tag an exercise earns its points only when
every check passes. Each verdict gets ``points`` and ``max_points`` (what its cases are worth).
"""

from __future__ import annotations

__all__ = ["exercise_points", "resolve_partial", "cases_of"]

DIGITS = 4


def cases_of(check: dict) -> tuple[int, int] | None:
    """``(cases passed, cases)`` of one verdict, or None when its number of cases is unknown."""
    total = check.get("cases_total")
    if not isinstance(total, int) or total <= 0:
        return None
    passed = total if check.get("passed") else min(max(int(check.get("cases_passed") or 0), 0), total)
    return passed, total


def exercise_points(points: float, checks: list[dict], partial: bool) -> tuple[float, float]:
    """``(points earned, points per case)``; annotates each verdict with its points.

    ``points per case`` is 0 for an all-or-nothing exercise, and for a partial one whose number
    of cases is unknown (then it is graded all or nothing too).
    """
    counts = [cases_of(c) for c in checks]
    if partial and checks and all(counts):
        per_case = points / sum(total for _, total in counts)
        earned = 0.0
        for check, (passed, total) in zip(checks, counts, strict=True):
            check["points"] = round(per_case * passed, DIGITS)
            check["max_points"] = round(per_case * total, DIGITS)
            earned += per_case * passed
        return min(points, round(earned, DIGITS)), per_case
    full = bool(checks) and all(c.get("passed") for c in checks)
    for i, check in enumerate(checks):  # all or nothing: the points ride on the exercise as a whole
        check["points"] = (points if full else 0.0) if i == 0 else 0.0
        check["max_points"] = points if i == 0 else 0.0
    return (points if full else 0.0), 0.0


def resolve_partial(exercises: dict, override: str | list[str] | None) -> frozenset[str]:
    """The exercises graded per case: the notebook's ``partial`` tags, unless ``override`` says
    ``"all"``, ``"none"`` or lists exercise ids."""
    if override is None:
        return frozenset(i for i, ex in exercises.items() if ex.partial)
    if isinstance(override, str):
        override = [p for p in override.replace(",", " ").split() if p]
    if override == ["all"]:
        return frozenset(exercises)
    if override in (["none"], []):
        return frozenset()
    unknown = sorted(set(override) - set(exercises))
    if unknown:
        raise ValueError(f"--partial names exercises this notebook does not have: {', '.join(unknown)}")
    return frozenset(override)
