"""Canvas: its "Download Submissions" zip into student ids, and grades in its import format.

**Collect.** Canvas names each file of the zip ``<name>_[late_]<user id>_<file id>_<original
name>`` (the name lower-cased and stripped of punctuation; ``LATE`` marks a late submission; a
resubmitted file's original name gets ``-1``, ``-2``...). :func:`collect` writes each student's
notebook as ``<student id>.ipynb`` into a folder, ready for ``python -m course_tools grade``:
the roster maps Canvas user ids to student ids (a student it does not list becomes
``canvas-<user id>`` and is listed); when a student sent several notebooks, the one named like
the assignment's (else the newest upload) is kept and the others are listed. Times go to
``submitted.csv`` (the ``late`` flag; Canvas's zip has no submission time).

**Export.** :func:`export` writes the CSV that Canvas's gradebook import reads: ``Student, ID,
SIS User ID, SIS Login ID, Section``, then one column per assignment (``Part 1 (12345)``: the
assignment's Canvas id in parentheses updates that assignment; a new title creates one). Canvas
requires ``Section`` to close the student columns and ``SIS Login ID`` right after ``SIS User
ID`` (``Student, ID, SIS User ID, Section`` is refused as an invalid header). Every roster
student has a row (0 when they submitted nothing); a graded student missing from the roster
keeps a row too (Canvas lists it as not found) and is listed here.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from course_tools.lms.book import class_book
from course_tools.lms.csvio import write_csv
from course_tools.lms.policy import TIMES
from course_tools.lms.roster import Roster

__all__ = ["CanvasFile", "parse_name", "collect", "export", "Collected", "HEADER"]

HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
_NAME = re.compile(r"^(?P<name>.*?)_(?:(?P<late>late)_)?(?P<user>\d+)_(?P<file>\d+)_(?P<original>.+)$",
                   re.IGNORECASE | re.DOTALL)
_RESUBMITTED = re.compile(r"-\d+(?=\.ipynb$)", re.IGNORECASE)


@dataclass
class CanvasFile:
    name: str
    late: bool
    user_id: str
    file_id: int
    original: str
    """The name the student gave the file (Canvas's ``-N`` resubmission suffix removed)."""


def parse_name(filename: str) -> CanvasFile | None:
    """The parts of a Canvas submission file name, or None when it is not one."""
    m = _NAME.match(filename.rsplit("/", 1)[-1])
    if not m:
        return None
    return CanvasFile(m["name"], bool(m["late"]), m["user"], int(m["file"]),
                      _RESUBMITTED.sub("", m["original"]))


@dataclass
class Collected:
    written: dict[str, str] = field(default_factory=dict)
    """Student id -> the zip entry written as ``<id>.ipynb``."""
    not_in_roster: list[str] = field(default_factory=list)
    no_submission: list[str] = field(default_factory=list)
    """Roster students with no notebook in the zip."""
    skipped: list[str] = field(default_factory=list)
    """Entries not collected, each with why."""

    def lines(self) -> list[str]:
        out = [f"collected {len(self.written)} notebooks"]
        if self.not_in_roster:
            out.append(f"not in the roster (kept as canvas-<user id>): {', '.join(self.not_in_roster)}")
        if self.no_submission:
            more = " ..." if len(self.no_submission) > 30 else ""
            out.append(f"no notebook from {len(self.no_submission)} roster students: "
                       + ", ".join(self.no_submission[:30]) + more)
        out += [f"skipped {s}" for s in self.skipped]
        return out


def collect(zip_path: str | Path, into: str | Path, roster: Roster | None = None,
            expected: str | None = None, max_mb: float = 32) -> Collected:
    """Write each student's notebook from a Canvas submissions zip into ``into`` (see the doc)."""
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    done = Collected()
    chosen: dict[str, tuple[zipfile.ZipInfo, CanvasFile]] = {}
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            parsed = parse_name(info.filename)
            if parsed is None:
                done.skipped.append(f"{info.filename}: not a Canvas submission file name")
                continue
            if not parsed.original.lower().endswith(".ipynb"):
                done.skipped.append(f"{info.filename}: not a notebook")
                continue
            if info.file_size > max_mb * 2**20:
                done.skipped.append(f"{info.filename}: larger than {max_mb:g} MB")
                continue
            student = roster.by_canvas_id(parsed.user_id) if roster else None
            sid = student.id if student else f"canvas-{parsed.user_id}"
            if roster and student is None and sid not in done.not_in_roster:
                done.not_in_roster.append(sid)
            old = chosen.get(sid)
            if old is None or _better(parsed, old[1], expected):
                if old is not None:
                    done.skipped.append(f"{old[0].filename}: {sid} also sent {info.filename}, kept that one")
                chosen[sid] = (info, parsed)
            else:
                done.skipped.append(f"{info.filename}: {sid} also sent {old[0].filename}, kept that one")
        for sid, (info, _) in sorted(chosen.items()):
            with zf.open(info) as src:
                data = src.read(int(max_mb * 2**20) + 1)
            (into / f"{sid}.ipynb").write_bytes(data)
            done.written[sid] = info.filename
    if roster:
        done.no_submission = sorted(set(roster.students) - set(done.written))
    write_csv(into / TIMES, ["student", "submitted_at", "late", "canvas_user_id", "file"],
              [[sid, "", "yes" if chosen[sid][1].late else "no", chosen[sid][1].user_id, info]
               for sid, info in sorted(done.written.items())])
    return done


def _better(new: CanvasFile, old: CanvasFile, expected: str | None) -> bool:
    """Keep the notebook named like the assignment's, else the newest upload (larger file id)."""
    if expected and (new.original == expected) != (old.original == expected):
        return new.original == expected
    return new.file_id > old.file_id


def export(roster: Roster, assignments: list[tuple[str, str | Path]], out: str | Path, *,
           bom: bool = False, points_possible: dict[str, float] | None = None) -> list[str]:
    """Write Canvas's gradebook import CSV for ``assignments`` ([(column title, grades folder)])."""
    from course_tools.grading.results import ResultStore

    finals: dict[str, dict[str, float]] = {}
    extra: set[str] = set()
    for title, folder in assignments:
        results = ResultStore(folder).load_all()
        ids = list(next((r.exercises for r in results.values() if r.exercises), {}))
        book = class_book(folder, results, ids)
        finals[title] = {sid: book.final.get(sid, 0.0) for sid in set(book.final) | set(roster.students)}
        extra |= set(results) - set(roster.students)
    rows: list[list] = []
    if points_possible:
        rows.append(["Points Possible", "", "", "", "",
                     *[points_possible.get(t, "") for t, _ in assignments]])
    for s in sorted(roster.students.values(), key=lambda s: (s.name.lower(), s.id)):
        rows.append([s.name or s.id, s.canvas_id, s.sis_user_id, s.sis_login_id, s.section,
                     *[finals[t].get(s.id, 0.0) for t, _ in assignments]])
    for sid in sorted(extra):
        canvas_id = sid.removeprefix("canvas-") if re.fullmatch(r"canvas-\d+", sid) else ""
        rows.append([sid, canvas_id, "", "", "", *[finals[t].get(sid, 0.0) for t, _ in assignments]])
    write_csv(out, [*HEADER, *[t for t, _ in assignments]], rows, bom=bom)
    lines = [f"wrote {out}: {len(roster.students)} roster students, {len(assignments)} assignments"]
    if extra:
        lines.append(f"graded but not in the roster (rows kept; Canvas matches them by ID only if known): "
                     f"{', '.join(sorted(extra))}")
    return lines
