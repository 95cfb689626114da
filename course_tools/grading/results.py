"""What grading produces, and the output folder that keeps it safe to open and hard to lose.

The output folder of a part (``grades/part1/``)::

    run.json              the run's secret seed and what was graded against (instructor only)
    students/<id>.json    everything about one student's latest grade (written atomically)
    history/<id>.jsonl    one line per earlier grade of that student (regrades never lose one)
    feedback/<id>.md      what to send the student
    grades.json           the index: per student, points per exercise, total, status
    gradebook.csv         one row per student, for a spreadsheet or an LMS

Each student's files are written as soon as they are graded, so the work done survives any
crash; the index and the gradebook are rebuilt from ``students/`` (their size grows linearly
with the class). Everything a student wrote (exception messages, cell errors) reaches the
feedback capped and fenced, so it cannot end a code block, add HTML or forge a total; no
gradebook cell starts a spreadsheet formula.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_tools.grading.codec import clean_text

__all__ = ["ExerciseResult", "SubmissionResult", "ResultStore", "student_seed", "csv_safe",
           "feedback_markdown", "gradebook_csv"]

MAX_MESSAGE_CHARS = 4000
MAX_CELL_ERRORS = 20


def student_seed(run_seed: int, student: str) -> int:
    """Each student's hidden-check seed: a keyed hash of their id with the run's secret seed.

    Students cannot predict it (the run seed stays with the instructor), two students get
    different inputs, and regrading with the same run seed gives a student the same inputs.
    """
    digest = hmac.new(str(int(run_seed)).encode(), student.encode("utf-8", "surrogateescape"),
                      hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass
class ExerciseResult:
    """Score of one exercise of one submission."""

    id: str
    points: float
    max_points: float
    message: str
    checks: list[dict] = field(default_factory=list)
    """Every check of the exercise: ``{"check", "kind" (visible|hidden), "passed", "status",
    "message", "cases_passed", "cases_total", "failed_cases", "points", "max_points"}``."""
    partial: bool = False
    """Graded per case (the exercise's points split over its visible and hidden cases)."""
    per_case: float = 0.0
    """What one case is worth when ``partial`` (0 when graded all or nothing)."""


@dataclass
class SubmissionResult:
    """Everything the grader learned about one submission."""

    student: str
    path: str
    sha256: str
    reference_sha256: str
    """Hash of the reference notebook and the hidden checks (``--resume`` compares it)."""
    status: str
    """'graded', 'invalid' (not a readable notebook file), 'timeout' or 'error' (the run broke)."""
    message: str = ""
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    cell_errors: list[str] = field(default_factory=list)
    """Errors raised by the student's own cells (context for the feedback)."""
    seconds: float = 0.0
    seed: int = 0
    """This student's hidden-check seed (for the instructor; never in the feedback)."""
    sandbox: str = ""
    graded_at: str = ""
    mode: str = ""
    """How it ran: "exercise-only" (demo and training cells skipped), "full", or a full rerun."""
    path_hex: str = ""
    """The file's path as raw bytes (hex), so a regrade finds files whose names are not UTF-8."""
    integrity: dict = field(default_factory=dict)
    """Instructor-only flags (:mod:`course_tools.grading.integrity`); never in the feedback."""

    @property
    def total(self) -> float:
        return sum(e.points for e in self.exercises.values())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SubmissionResult:
        d = dict(d)
        d["exercises"] = {k: ExerciseResult(**v) for k, v in d.get("exercises", {}).items()}
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def csv_safe(value: object) -> str:
    """A cell no spreadsheet reads as a formula: a leading = + - @ tab or CR gets a quote mark."""
    text = clean_text(str(value), 500).replace("\r", " ").replace("\n", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(results: list[SubmissionResult], exercise_ids: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", *[f"exercise {i}" for i in exercise_ids], "total", "status"])
    for r in sorted(results, key=lambda r: r.student):
        w.writerow([csv_safe(r.student), *[f"{r.exercises[i].points:g}" if i in r.exercises else "0"
                                           for i in exercise_ids], f"{r.total:g}", csv_safe(r.status)])
    return buf.getvalue()


def _fenced(text: str) -> list[str]:
    """``text`` as a Markdown code block whose fence no line of it can close.

    The text is a student's (an exception message...): each line is indented and ``**`` broken
    up, so not even a plain-text reader of the feedback can take a line of it for the grader's.
    """
    text = clean_text(text, MAX_MESSAGE_CHARS).replace("**", "* *")
    text = "\n".join("  " + line for line in text.splitlines())
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def _cases(checks: list[dict], kind: str) -> str:
    mine = [c for c in checks if c.get("kind") == kind]
    if not mine:
        return "-"
    if any(c.get("cases_total") is None for c in mine):
        return f"{sum(c['passed'] for c in mine)} / {len(mine)} checks"
    passed = sum(c["cases_total"] if c["passed"] else min(c.get("cases_passed", 0), c["cases_total"])
                 for c in mine)
    return f"{passed} / {sum(c['cases_total'] for c in mine)}"


def feedback_markdown(r: SubmissionResult) -> str:
    """The feedback a student receives (no seed, no check names, student text fenced)."""
    max_total = sum(e.max_points for e in r.exercises.values())
    lines = [f"# Feedback for {r.student}", "", f"**Total: {r.total:g} / {max_total:g}**", ""]
    if r.status != "graded":
        lines += [f"Grading problem ({r.status}):", "", *_fenced(r.message), ""]
    per_case = any(e.partial for e in r.exercises.values())
    lines += ["| Exercise | Points | Cases passed (your notebook's check) | Cases passed (unseen) |"
              + (" Points per case |" if per_case else ""),
              "|---|---|---|---|" + ("---|" if per_case else "")]
    for e in r.exercises.values():
        each = ""
        if per_case:
            each = f" {e.per_case:.3g} |" if e.partial and e.per_case else " all or nothing |"
        lines.append(f"| {e.id} | {e.points:g} / {e.max_points:g} | {_cases(e.checks, 'visible')} | "
                     f"{_cases(e.checks, 'hidden')} |{each}")
    if per_case:
        lines += ["", "Exercises with a points-per-case value earn that much for every case they pass, "
                  "in your notebook's check and in the unseen ones; the others earn their points when "
                  "every case passes."]
    for e in r.exercises.values():
        if e.points >= e.max_points or all(c.get("passed") for c in e.checks):
            continue
        lines += ["", f"## Exercise {e.id}", "", *_fenced(e.message)]
        shown = {e.message}
        for c in e.checks:
            if c.get("passed") or c.get("message") in shown:
                continue
            shown.add(c.get("message"))
            what = "A case you have not seen" if c.get("kind") == "hidden" else "The check in your notebook"
            lines += ["", f"{what} also failed:", "", *_fenced(c.get("message", ""))]
    if r.cell_errors:
        lines += ["", "## Other cells that raised an error", "",
                  *_fenced("\n".join(r.cell_errors[:MAX_CELL_ERRORS]))]
    if r.sandbox:
        lines += ["", f"<sub>Graded with {clean_text(r.sandbox, 300)}.</sub>"]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ResultStore:
    """The output folder of one graded part (see the module docstring)."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.lock = threading.Lock()

    def path(self, kind: str, student: str) -> Path:
        suffix = {"students": ".json", "feedback": ".md", "history": ".jsonl"}[kind]
        return self.out / kind / f"{student}{suffix}"

    def load(self, student: str) -> SubmissionResult | None:
        try:
            return SubmissionResult.from_dict(json.loads(self.path("students", student).read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def load_all(self) -> dict[str, SubmissionResult]:
        found = {}
        for p in sorted((self.out / "students").glob("*.json")):
            r = self.load(p.stem)
            if r is not None:
                found[r.student] = r
        return found

    def save(self, r: SubmissionResult) -> None:
        """Write one student's grade and feedback; the grade it replaces goes to their history."""
        r.graded_at = r.graded_at or time.strftime("%Y-%m-%dT%H:%M:%S")
        with self.lock:
            old = self.load(r.student)
            if old is not None and (old.graded_at, old.sha256) != (r.graded_at, r.sha256):
                entry = {"graded_at": old.graded_at, "sha256": old.sha256, "status": old.status,
                         "total": old.total, "points": {k: e.points for k, e in old.exercises.items()},
                         "path": old.path}
                hist = self.path("history", r.student)
                hist.parent.mkdir(parents=True, exist_ok=True)
                with open(hist, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
            _atomic_write(self.path("students", r.student), json.dumps(r.to_dict(), indent=1))
            _atomic_write(self.path("feedback", r.student), feedback_markdown(r))

    def write_index(self, exercise_ids: list[str]) -> dict[str, SubmissionResult]:
        """Rebuild ``grades.json`` and ``gradebook.csv`` from every student's file."""
        with self.lock:
            results = self.load_all()
            index = {s: {"total": r.total, "status": r.status, "path": r.path, "graded_at": r.graded_at,
                         "points": {k: e.points for k, e in r.exercises.items()},
                         "file": f"students/{s}.json"} for s, r in sorted(results.items())}
            _atomic_write(self.out / "grades.json", json.dumps(index, indent=1))
            try:  # with the roster, late policy and overrides of the folder (course_tools.lms)
                from course_tools.lms.book import write_gradebook

                write_gradebook(self.out, results, exercise_ids)
            except Exception as err:  # noqa: BLE001 - a broken hand-edited file must not lose the grades
                print(f"gradebook.csv without roster, late work or overrides ({type(err).__name__}: "
                      f"{clean_text(err, 300)})", file=sys.stderr)
                _atomic_write(self.out / "gradebook.csv", gradebook_csv(list(results.values()), exercise_ids))
        return results
