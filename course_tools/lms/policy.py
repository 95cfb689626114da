"""Late work and instructor overrides: kept beside a part's grades, so regrades never lose them.

In a part's output folder (``grades/part1/``), next to what the grader writes:

* ``lms.json``: the folder's settings: the late policy, the roster (a copy, ``roster.csv``)
  and whether CSV files get a byte-order mark for Excel (``python -m course_tools gradebook``
  sets them);
* ``submitted.csv``: when each student submitted (``student, submitted_at[, late]``), e.g. from
  ``python -m course_tools canvas collect``, the LMS, or by hand. ``submitted_at`` is ISO 8601
  (``2025-03-07T23:59:00-08:00``; without an offset, UTC); ``late`` = ``yes`` without a time (a
  Canvas ``LATE`` file name) counts as one day late;
* ``overrides.csv``, edited by the instructor: ``student, override, extra_days, comment``. An
  ``override`` is the student's final points for the part (no late penalty applies);
  ``extra_days`` extends their deadline. The grader never writes this file after creating it.

The late policy: ``due``; ``free_days`` late days without penalty (plus a student's
``extra_days``); then ``penalty_per_day`` (a fraction of the points, e.g. 0.1) per day or part
of a day; more than ``max_days`` days past the free ones gives 0. ``grace_minutes`` forgives
a late upload.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from course_tools.lms.csvio import read_table, write_csv

__all__ = ["LatePolicy", "Override", "parse_time", "load_settings", "save_settings", "load_times",
           "load_overrides", "ensure_overrides", "SETTINGS", "TIMES", "OVERRIDES"]

SETTINGS, TIMES, OVERRIDES = "lms.json", "submitted.csv", "overrides.csv"
_YES = {"yes", "y", "true", "1", "late"}


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time (``Z`` allowed); without an offset it is taken as UTC."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass
class LatePolicy:
    due: str
    penalty_per_day: float = 0.1
    free_days: int = 0
    max_days: int | None = None
    grace_minutes: float = 0

    def days_late(self, submitted: dt.datetime | None, flagged: bool = False) -> int:
        """Whole days (started) past the due time and the grace; a flag without a time is 1 day."""
        if submitted is None:
            return 1 if flagged else 0
        late = submitted - parse_time(self.due) - dt.timedelta(minutes=self.grace_minutes)
        return max(0, math.ceil(late.total_seconds() / 86400))

    def penalty(self, points: float, days: int, extra_days: int = 0) -> float:
        """Points taken off ``points`` for ``days`` days late (``extra_days``: an extension)."""
        charged = max(0, days - self.free_days - extra_days)
        if self.max_days is not None and charged > self.max_days:
            return points
        return round(min(points, points * self.penalty_per_day * charged), 4)


@dataclass
class Override:
    points: float | None = None
    extra_days: int = 0
    comment: str = ""


def load_settings(out: str | Path) -> dict:
    try:
        data = json.loads((Path(out) / SETTINGS).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_settings(out: str | Path, **changes) -> dict:
    """Merge ``changes`` (``None`` leaves a setting as it is) into ``lms.json``."""
    settings = {**load_settings(out), **{k: v for k, v in changes.items() if v is not None}}
    path = Path(out) / SETTINGS
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SETTINGS}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(settings, indent=1) + "\n")
    os.replace(tmp, path)
    return settings


def late_policy(settings: dict) -> LatePolicy | None:
    late = settings.get("late")
    return LatePolicy(**late) if isinstance(late, dict) and late.get("due") else None


def load_times(out: str | Path) -> tuple[dict[str, tuple[dt.datetime | None, bool]], list[str]]:
    """``{student: (submitted_at or None, flagged late)}`` from ``submitted.csv``, and problems."""
    path = Path(out) / TIMES
    if not path.exists():
        return {}, []
    found, problems = {}, []
    for n, row in enumerate(read_table(path)[1], start=2):
        student, when = row.get("student", ""), row.get("submitted_at", "")
        try:
            found[student] = (parse_time(when) if when else None, row.get("late", "").lower() in _YES)
        except ValueError:
            problems.append(f"{TIMES} row {n}: {when!r} is not a time like 2025-03-07T23:59:00-08:00")
    return found, problems


def ensure_overrides(out: str | Path, bom: bool = False) -> Path:
    """Create an empty ``overrides.csv`` (its header) if there is none."""
    path = Path(out) / OVERRIDES
    if not path.exists():
        write_csv(path, ["student", "override", "extra_days", "comment"], [], bom=bom)
    return path


def load_overrides(out: str | Path) -> tuple[dict[str, Override], list[str]]:
    """The instructor's overrides by student, and problems (a value that is not a number...)."""
    path = Path(out) / OVERRIDES
    if not path.exists():
        return {}, []
    found, problems = {}, []
    for n, row in enumerate(read_table(path)[1], start=2):
        student = row.get("student", "").lstrip("'")
        if not student:
            continue
        try:
            raw = row.get("override", "").replace(",", ".")
            points = float(raw) if raw else None
            if points is not None and (points < 0 or not math.isfinite(points)):
                raise ValueError
            extra = int(float(row.get("extra_days") or 0))
        except ValueError:
            problems.append(f"{OVERRIDES} row {n} ({student}): override and extra_days must be numbers >= 0")
            continue
        found[student] = Override(points, extra, row.get("comment", ""))
    return found, problems


def as_dict(policy: LatePolicy) -> dict:
    return asdict(policy)
