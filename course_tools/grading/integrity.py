"""Integrity flags, for the instructor only: never in a student's feedback.

:func:`scan` looks at one submission (parsed JSON, untrusted) next to the reference and notes:

* ``edited_checks``: exercises whose check cell was edited or deleted (the grader ignores such
  cells anyway: it records its own checks; the flag is for the conversation);
* ``instructor_imports``: student code that imports an instructor-only module
  (``course_tools``, the grader's recording helpers), by the student's own cell number;
* ``answers``: a fingerprint of each answer cell's code (comments and layout ignored; the
  unchanged stub gives none), so the class report can list identical answers across students;
* ``matches_reference``: exercises whose answer is the instructor's solution, token for token.

The flags go into ``students/<id>.json`` and ``python -m course_tools report``.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize
from typing import Any

from course_tools import authoring
from course_tools.grading.assemble import student_cells

__all__ = ["scan", "normalized", "INSTRUCTOR_MODULES"]

INSTRUCTOR_MODULES = ("course_tools", "course_grader")
_BY_NAME = re.compile(r"""(?:import_module|__import__)\(\s*[rbuf]*["']"""
                      r"""((?:course_tools|course_grader)[\w.]*)""")


def normalized(source: str) -> str:
    """The code's tokens without comments or layout (whitespace-collapsed text if it won't tokenize)."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    try:
        toks = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type not in skip]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return " ".join(source.split())
    return " ".join(toks)


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()[:16]


def _imports(source: str) -> list[str]:
    names: list[str] = []
    try:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        names += re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, re.M)
    names += [m.group(1) for m in _BY_NAME.finditer(source)]
    return sorted({n for n in names if n.split(".")[0].startswith(INSTRUCTOR_MODULES)})


def scan(reference: Any, submission: Any) -> dict:
    """The flags of one submission (see the module docstring); never raises on a bad submission."""
    try:
        cells = student_cells(submission)
    except ValueError:
        return {}
    exercises = authoring.exercises(reference)
    ref_checks = {i: authoring._source(reference.cells[ex.check_cell]) for i, ex in exercises.items()}
    ref_answers = {i: authoring._source(reference.cells[ex.solution_cell]) for i, ex in exercises.items()}
    flags: dict = {"edited_checks": [], "instructor_imports": [], "answers": {}, "matches_reference": []}
    seen_checks = set()
    for cell, number in cells:
        if cell.cell_type != "code":
            continue
        check_id, answer_id = authoring.tag_value(cell, "exercise"), authoring.tag_value(cell, "solution")
        if check_id in ref_checks:
            seen_checks.add(check_id)
            if normalized(cell.source) != normalized(ref_checks[check_id]):
                flags["edited_checks"].append(check_id)
        for name in _imports(cell.source):
            flags["instructor_imports"].append(f"code cell {number}: {name}")
        if answer_id in ref_answers and answer_id not in flags["answers"]:
            code = normalized(cell.source)
            stub = normalized(authoring.strip_solutions(ref_answers[answer_id], answer_id))
            if code != stub:
                flags["answers"][answer_id] = {"sha": _digest(code), "tokens": len(code.split())}
            if code == normalized(ref_answers[answer_id]):
                flags["matches_reference"].append(answer_id)
    flags["edited_checks"] += [i for i in ref_checks if i not in seen_checks]
    flags["edited_checks"] = sorted(set(flags["edited_checks"]))
    flags["instructor_imports"] = flags["instructor_imports"][:20]
    return flags
