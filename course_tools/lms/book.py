"""The class gradebook (``gradebook.csv``): grades joined with the roster, late work and overrides.

Rebuilt after every ``grade`` and ``regrade`` (and by ``python -m course_tools gradebook``) from
``students/*.json`` and the folder's ``lms.json``, ``roster.csv``, ``submitted.csv`` and
``overrides.csv`` (:mod:`course_tools.lms.policy`), so late penalties and overrides survive any
regrade. Columns::

    student, exercise <id>..., total, status, late days, late penalty, override, final,
    cases <id>...              (exercises graded per case: "9 of 12")
    name, section, in roster   (when a roster is set)

``final`` is what goes to the LMS: the override when there is one, else ``total`` less the late
penalty. With a roster every student has a row: one who submitted nothing gets 0 (status
``missing``); a graded student the roster does not list keeps their row (``in roster`` = no).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from course_tools.grading.results import SubmissionResult
from course_tools.lms import policy
from course_tools.lms.csvio import write_csv
from course_tools.lms.roster import Roster

__all__ = ["Book", "class_book", "write_gradebook", "cases_text"]


@dataclass
class Book:
    header: list[str]
    rows: list[list]
    final: dict[str, float] = field(default_factory=dict)
    """Each student's final points (what an LMS gets)."""
    missing: list[str] = field(default_factory=list)
    """Roster students with no grade (they get 0)."""
    not_in_roster: list[str] = field(default_factory=list)
    late: dict[str, int] = field(default_factory=dict)
    """Days late, for students who were late."""
    problems: list[str] = field(default_factory=list)
    roster: Roster | None = None


def cases_text(checks: list[dict]) -> str:
    """``"9 of 12"`` cases passed (never ``9/12``, which a spreadsheet reads as a date)."""
    known = [c for c in checks if isinstance(c.get("cases_total"), int)]
    passed = sum(c["cases_total"] if c.get("passed") else min(c.get("cases_passed") or 0, c["cases_total"])
                 for c in known)
    return f"{passed} of {sum(c['cases_total'] for c in known)}" if known else ""


def _roster(out: Path, settings: dict) -> Roster | None:
    name = settings.get("roster")
    return Roster.load(out / name) if name and (out / name).exists() else None


def class_book(out: str | Path, results: dict[str, SubmissionResult], exercise_ids: list[str]) -> Book:
    """The gradebook's rows (see the module docstring)."""
    out = Path(out)
    settings = policy.load_settings(out)
    roster = _roster(out, settings)
    late = policy.late_policy(settings)
    times, problems = policy.load_times(out) if late else ({}, [])
    overrides, more = policy.load_overrides(out)
    partial = [i for i in exercise_ids if any(r.exercises.get(i) and r.exercises[i].partial
                                              for r in results.values())]
    header = ["student", *[f"exercise {i}" for i in exercise_ids], "total", "status", "late days",
              "late penalty", "override", "final", *[f"cases {i}" for i in partial]]
    if roster:
        header += ["name", "section", "in roster"]
    book = Book(header, [], problems=problems + more, roster=roster)
    students = sorted(set(results) | set(roster.students if roster else []))
    for sid in students:
        r = results.get(sid)
        total = r.total if r else 0.0
        days = late.days_late(*times.get(sid, (None, False))) if (late and r) else 0
        ov = overrides.get(sid, policy.Override())
        penalty = late.penalty(total, days, ov.extra_days) if late and days else 0.0
        final = ov.points if ov.points is not None else max(0.0, total - penalty)
        book.final[sid] = round(final, 4)
        if days:
            book.late[sid] = days
        if r is None:
            book.missing.append(sid)
        elif roster and sid not in roster.students:
            book.not_in_roster.append(sid)
        points = [r.exercises[i].points if r and i in r.exercises else 0.0 for i in exercise_ids]
        row = [sid, *points, total, r.status if r else "missing", days, penalty,
               "" if ov.points is None else ov.points, final,
               *[cases_text(r.exercises[i].checks) if r and i in r.exercises else "" for i in partial]]
        if roster:
            s = roster.students.get(sid)
            row += [s.name if s else "", s.section if s else "", "yes" if s else "no"]
        book.rows.append(row)
    return book


def write_gradebook(out: str | Path, results: dict[str, SubmissionResult], exercise_ids: list[str]) -> Book:
    """Write ``gradebook.csv`` (UTF-8; with a byte-order mark if the folder's settings say so)."""
    book = class_book(out, results, exercise_ids)
    write_csv(Path(out) / "gradebook.csv", book.header, book.rows,
              bom=bool(policy.load_settings(out).get("bom")))
    return book
