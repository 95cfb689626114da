"""The notebook the grader runs: the student's cells, rebuilt clean, plus the grader's cells.

:func:`assemble` takes the instructor's reference (trusted) and a submission (anything that
parsed as JSON) and returns an :class:`Assembled` notebook:

* the student's cells are rebuilt from scratch: only their type, their source (as valid UTF-8)
  and their tags survive, so a malformed cell (no ``outputs``, a lone surrogate, odd metadata)
  cannot break the run; cells tagged as checks are dropped (an edited check changes nothing);
* after each exercise's answer cell (or at the end when it is gone) come one grader cell that
  records the visible check, and one for the hidden checks, each a cell of its own so each
  gets the full cell time limit; each carries a random id in its metadata;
* :attr:`Assembled.cells` maps every code cell the grader runs (nbval's numbering) back to what
  the student sees: "your code cell 7", or "the check of exercise 1.2".
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import nbformat

from course_tools import authoring
from course_tools.grading.codec import clean_text
from course_tools.grading.plugin import GRADER_KEY

__all__ = ["Assembled", "assemble", "student_cells"]

MAX_CELL_CHARS = 1_000_000


@dataclass
class Assembled:
    """A notebook ready to run, and how its code cells map back to the submission."""

    notebook: nbformat.NotebookNode
    secrets: dict[str, str] = field(default_factory=dict)
    """Grader cell id (in its metadata) -> ``"visible:<id>"`` or ``"hidden:<id>"``."""
    cells: list[dict] = field(default_factory=list)
    """Per code cell, in order: ``{"kind": "student", "number": k}`` (k = the student's own
    code-cell number, from 1) or ``{"kind": "visible" | "hidden", "exercise": id}``."""
    answer_cells: dict[str, int] = field(default_factory=dict)
    """Exercise id -> index in :attr:`cells` of the student's answer cell."""


def _source(value: Any) -> str:
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return ""
    return value[:MAX_CELL_CHARS].encode("utf-8", "replace").decode("utf-8")  # no lone surrogates


def _tags(cell: dict) -> list[str]:
    meta = cell.get("metadata")
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return [clean_text(t, 100) for t in tags if isinstance(t, str)][:20] if isinstance(tags, list) else []


def student_cells(submission: Any) -> list[tuple[nbformat.NotebookNode, int | None]]:
    """The submission's cells, rebuilt clean, each with its code-cell number (from 1; None for text)."""
    raw = submission.get("cells") if isinstance(submission, dict) else None
    if not isinstance(raw, list):
        raise ValueError("it has no list of cells")
    out, number = [], 0
    for cell in raw:
        if not isinstance(cell, dict):
            continue
        kind, source, tags = cell.get("cell_type"), _source(cell.get("source", "")), _tags(cell)
        if kind == "code":
            number += 1
            new = nbformat.v4.new_code_cell(source)
        elif kind in ("markdown", "raw"):
            new = (nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_raw_cell)(source)
        else:
            continue
        if tags:
            new.metadata["tags"] = tags
        out.append((new, number if kind == "code" else None))
    return out


def _grader_cell(code: str, secret: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(code)
    cell.metadata[GRADER_KEY] = secret
    return cell


def assemble(reference: nbformat.NotebookNode, submission: Any, workdir: str,
             hidden_ids: set[str] | frozenset[str] = frozenset(),
             lenient_ids: set[str] | frozenset[str] = frozenset(),
             skip_tags: tuple[str, ...] | frozenset[str] = ()) -> Assembled:
    """The notebook to run in ``workdir`` (records go there), from the reference's exercises.

    The visible checks of ``lenient_ids`` (exercises graded per case) run on after a failed case.
    Cells carrying one of ``skip_tags`` (demos, training runs: exercise-only grading) are left out;
    the others keep the numbers the student sees."""
    exercises = authoring.exercises(reference)
    skip = set(skip_tags)
    cells = [(c, n) for c, n in student_cells(submission) if authoring.tag_value(c, "exercise") is None
             and not (skip and skip & set(authoring.tags(c)))]
    out = Assembled(nbformat.v4.new_notebook())
    for ex in exercises.values():
        inserted = []
        for kind in ("visible", "hidden") if ex.id in hidden_ids else ("visible",):
            secret = secrets.token_hex(16)
            out.secrets[secret] = f"{kind}:{ex.id}"
            rec = f"{workdir}/rec-{ex.id}-{kind}.pkl"
            lenient = ", lenient=True" if ex.id in lenient_ids else ""
            call = (f"produce({ex.id!r}, {rec!r}{lenient})" if kind == "visible" else
                    f"produce_hidden({ex.id!r}, {rec!r}, {workdir + '/args-' + ex.id + '.pkl'!r})")
            code = (f"# grader: exercise {ex.id}, {kind} checks, judged outside this notebook\n"
                    f"__import__('course_grader_record').{call}")
            inserted.append((_grader_cell(code, secret), (kind, ex.id)))
        answer = next((i for i, (c, _) in enumerate(cells) if authoring.tag_value(c, "solution") == ex.id),
                      None)
        at = len(cells) if answer is None else answer + 1
        cells[at:at] = inserted
    code_index = 0
    for cell, marker in cells:
        out.notebook.cells.append(cell)
        if cell.cell_type != "code":
            continue
        if isinstance(marker, tuple):
            out.cells.append({"kind": marker[0], "exercise": marker[1]})
        else:
            out.cells.append({"kind": "student", "number": marker})
            sid = authoring.tag_value(cell, "solution")
            if sid is not None and sid in exercises and sid not in out.answer_cells:
                out.answer_cells[sid] = code_index
        code_index += 1
    out.notebook.metadata = json.loads(json.dumps(reference.metadata))
    return out
