"""The class list: who is in the course, and which LMS file belongs to whom.

A roster is a CSV file with one row per student. Columns (case and spacing do not matter):

* ``id``: the student's id in the gradebook (letters, digits and ``._-@+``); required unless
  the file is a Canvas gradebook export (below);
* ``name``, ``section``, ``email``: optional;
* ``canvas_id`` (Canvas's numeric user id), ``sis_user_id``, ``sis_login_id``: what Canvas's
  gradebook import matches students on;
* ``aliases``: other names an LMS gives this student's files, separated by ``;``.

A Canvas gradebook export (``Student, ID, SIS User ID, SIS Login ID, Section, ...``) works as a
roster as it is: its ``ID`` is the Canvas user id and the student's id is their SIS login id
(else SIS user id, else Canvas id). Its "Points Possible" row is skipped.

:meth:`Roster.match` maps an LMS file name to a student: the whole name, else the one student
whose id, Canvas id, SIS ids, email (or its local part) or aliases appear in it as a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from course_tools.grading.submissions import safe_id
from course_tools.lms.csvio import read_table

__all__ = ["Student", "Roster", "RosterError"]


class RosterError(ValueError):
    """The roster file cannot be used (no id column, a bad or repeated id...)."""


@dataclass
class Student:
    id: str
    name: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""
    aliases: list[str] = field(default_factory=list)

    def keys(self) -> set[str]:
        local = self.email.split("@", 1)[0] if "@" in self.email else ""
        found = {self.id, self.canvas_id, self.sis_user_id, self.sis_login_id, self.email, local,
                 *self.aliases}
        return {k.lower() for k in found if k and len(k) >= 2}


@dataclass
class Roster:
    students: dict[str, Student]
    path: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Roster:
        header, rows = read_table(path)
        sis = {"sis_user_id", "sis_login_id"} & set(header)
        canvas_export = header[:2] == ["student", "id"] and bool(sis)
        if "id" not in header:
            raise RosterError(f"{path}: no 'id' column (columns: {', '.join(header) or 'none'})")
        students: dict[str, Student] = {}
        problems = []
        for n, row in enumerate(rows, start=2):
            name = row.get("name") or row.get("student", "")
            if "points possible" in name.lower():
                continue
            canvas_id = row.get("canvas_id", "") or (row.get("id", "") if canvas_export else "")
            sid = (row.get("sis_login_id") or row.get("sis_user_id") or canvas_id) if canvas_export \
                else row.get("id", "")
            if not sid:
                continue
            if safe_id(sid.encode() + b".ipynb") != sid:
                problems.append(f"row {n}: id {sid!r} may only use letters, digits and ._-@+")
                continue
            if sid in students:
                problems.append(f"row {n}: id {sid!r} is listed twice")
                continue
            aliases = [a.strip() for a in re.split(r"[;|]", row.get("aliases", "")) if a.strip()]
            students[sid] = Student(sid, name, canvas_id, row.get("sis_user_id", ""),
                                    row.get("sis_login_id", ""), row.get("section", ""),
                                    row.get("email", ""), aliases)
        if problems:
            raise RosterError(f"{path}: " + "; ".join(problems[:10]))
        return cls(students, str(path))

    def by_canvas_id(self, user_id: str) -> Student | None:
        return next((s for s in self.students.values() if s.canvas_id == str(user_id)), None)

    def match(self, filename: str) -> Student | None:
        """The one student an LMS file name belongs to, or None (no one, or ambiguous)."""
        stem = filename[:-6] if filename.lower().endswith(".ipynb") else filename
        index: dict[str, set[str]] = {}
        for s in self.students.values():
            for k in s.keys():
                index.setdefault(k, set()).add(s.id)
        whole = index.get(stem.lower(), set())
        if len(whole) == 1:
            return self.students[next(iter(whole))]
        words = {w.strip(".") for w in re.split(r"[\s_\-/\\(),]+", stem.lower()) if len(w.strip(".")) >= 3}
        hits = set().union(*(index.get(w, set()) for w in words)) if words else set()
        return self.students[next(iter(hits))] if len(hits) == 1 else None
