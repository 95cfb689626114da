"""Exercise convention and the student version of a notebook.

An instructor notebook marks each exercise with cell tags (never cell numbers):

* the **answer cell** is tagged ``solution:<id>``; the code between ``# BEGIN SOLUTION``
  and ``# END SOLUTION`` is the solution;
* the **check cell** right after it is tagged ``exercise:<id>`` and ``points:<n>`` and
  calls one function of :mod:`course_lib.checks`; an extra ``partial`` tag there splits the
  exercise's points over its cases, visible and hidden (default: all or nothing).

The student version replaces each solution block by a stub that raises
``NotImplementedError`` naming the exercise, drops cells tagged ``instructor-only``,
and clears outputs. Check cells are copied unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = [
    "BEGIN",
    "END",
    "Exercise",
    "AuthoringError",
    "read_notebook",
    "tags",
    "tag_value",
    "exercises",
    "validate",
    "strip_solutions",
    "make_student",
    "write_student_versions",
    "notebook_bytes",
    "title",
]

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
INSTRUCTOR_ONLY = "instructor-only"
PARTIAL = "partial"
SKIP_WHEN_GRADING = ("demo", "training")
"""Tags of cells the grader skips by default (a live demo, a plot, a long training run): no
exercise's check needs them. The grader reruns a submission in full when skipping broke it."""
"""Tag of a check cell whose exercise earns points per case passed (visible and hidden)."""
_ID = re.compile(r"^[0-9]+(\.[0-9]+)*[a-z]?$")


class AuthoringError(ValueError):
    """An instructor notebook breaks the exercise convention."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook: its id, points and where its two cells are."""

    id: str
    points: float
    solution_cell: int
    """Index (in ``nb.cells``) of the answer cell tagged ``solution:<id>``."""
    check_cell: int
    """Index of the check cell tagged ``exercise:<id>``."""
    partial: bool = False
    """True when its check cell is tagged ``partial``: points are split over the cases."""


def read_notebook(path: str | Path) -> NotebookNode:
    """Read a notebook as nbformat v4."""
    return nbformat.read(str(path), as_version=4)


def notebook_bytes(nb: NotebookNode) -> bytes:
    """The canonical serialisation used for writing and hashing."""
    return (nbformat.writes(nb) + "\n").encode()


def tags(cell: NotebookNode) -> list[str]:
    """The cell's tags (an empty list when it has none or they are malformed)."""
    value = cell.get("metadata", {}).get("tags", [])
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def tag_value(cell: NotebookNode, prefix: str) -> str | None:
    """Value of the first tag ``<prefix>:<value>`` of ``cell``, or None."""
    for t in tags(cell):
        if t.startswith(prefix + ":"):
            return t[len(prefix) + 1 :]
    return None


def _source(cell: NotebookNode) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def validate(nb: NotebookNode) -> list[str]:
    """Problems with the exercise convention in ``nb`` (empty when it is followed)."""
    problems: list[str] = []
    solutions: dict[str, int] = {}
    checks: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        src = _source(cell)
        sid, cid = tag_value(cell, "solution"), tag_value(cell, "exercise")
        n_begin = sum(line.strip() == BEGIN for line in src.splitlines())
        n_end = sum(line.strip() == END for line in src.splitlines())
        if n_begin != n_end:
            problems.append(f"cell {i}: {n_begin} '{BEGIN}' but {n_end} '{END}'")
        if n_begin and sid is None:
            problems.append(f"cell {i}: has a solution block but no 'solution:<id>' tag")
        if sid is not None:
            if cell.cell_type != "code":
                problems.append(f"cell {i}: 'solution:{sid}' is on a {cell.cell_type} cell")
            if not n_begin:
                problems.append(f"cell {i}: tagged 'solution:{sid}' but has no '{BEGIN}'")
            if sid in solutions:
                problems.append(f"cell {i}: exercise {sid} has a second answer cell")
            solutions[sid] = i
        if set(SKIP_WHEN_GRADING) & set(tags(cell)) and (sid is not None or cid is not None):
            problems.append(f"cell {i}: an answer or check cell cannot be tagged "
                            f"{'/'.join(SKIP_WHEN_GRADING)} (the grader would skip it)")
        if PARTIAL in tags(cell) and cid is None:
            problems.append(f"cell {i}: the '{PARTIAL}' tag belongs on a check cell ('exercise:<id>')")
        if cid is not None:
            if not _ID.match(cid):
                problems.append(f"cell {i}: exercise id {cid!r} is not like '1.2'")
            if cell.cell_type != "code":
                problems.append(f"cell {i}: check 'exercise:{cid}' is on a {cell.cell_type} cell")
            if n_begin:
                problems.append(f"cell {i}: check cell {cid} contains a solution block")
            pts = tag_value(cell, "points")
            try:
                if pts is None or float(pts) <= 0:
                    raise ValueError
            except ValueError:
                problems.append(f"cell {i}: check cell {cid} needs a 'points:<n>' tag with n > 0")
            if cid in checks:
                problems.append(f"cell {i}: exercise {cid} has a second check cell")
            checks[cid] = i
    for sid, i in solutions.items():
        if sid not in checks:
            problems.append(f"cell {i}: exercise {sid} has no check cell tagged 'exercise:{sid}'")
        elif checks[sid] < i:
            problems.append(f"exercise {sid}: the check cell comes before the answer cell")
    for cid, i in checks.items():
        if cid not in solutions:
            problems.append(f"cell {i}: check {cid} has no answer cell tagged 'solution:{cid}'")
    return problems


def exercises(nb: NotebookNode) -> dict[str, Exercise]:
    """The notebook's exercises in order, by id. Raises :class:`AuthoringError` if malformed."""
    problems = validate(nb)
    if problems:
        raise AuthoringError("exercise convention broken:\n  " + "\n  ".join(problems))
    found: dict[str, Exercise] = {}
    answer_cells = {tag_value(c, "solution"): i for i, c in enumerate(nb.cells)}
    for i, cell in enumerate(nb.cells):
        cid = tag_value(cell, "exercise")
        if cid is not None:
            pts = float(tag_value(cell, "points"))  # validated above
            found[cid] = Exercise(cid, pts, answer_cells[cid], i, PARTIAL in tags(cell))
    return found


def strip_solutions(source: str, exercise_id: str) -> str:
    """Replace every BEGIN/END SOLUTION block of ``source`` by a stub at its indentation."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise AuthoringError(f"exercise {exercise_id}: nested '{BEGIN}'")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("Exercise {exercise_id}: your code here")')
        elif stripped == END:
            if not inside:
                raise AuthoringError(f"exercise {exercise_id}: '{END}' without '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AuthoringError(f"exercise {exercise_id}: '{BEGIN}' is never closed")
    return "\n".join(out)


def title(nb: NotebookNode) -> str:
    """The notebook's title: the text of its first level-1 heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def make_student(nb: NotebookNode, rewrite: list[tuple[str, str]] | None = None,
                 opening: list[NotebookNode] | None = None) -> NotebookNode:
    """The student version of an instructor notebook (a new notebook; ``nb`` is unchanged).

    ``rewrite`` lists ``(old, new)`` replacements made in markdown cells (image links);
    ``opening`` cells go right after the title cell (the handout's Colab badge and install cell).
    """
    exercises(nb)  # validate first: never hand out a half-stripped notebook
    student = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = []
    for cell in student.cells:
        if INSTRUCTOR_ONLY in tags(cell):
            continue
        if cell.cell_type == "code":
            sid = tag_value(cell, "solution")
            if sid is not None:
                cell.source = strip_solutions(_source(cell), sid)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            for old, new in rewrite or []:
                cell.source = _source(cell).replace(old, new)
        cell.get("metadata", {}).pop("execution", None)
        cells.append(cell)
    at = 1 if cells and cells[0].cell_type == "markdown" else 0
    cells[at:at] = [nbformat.from_dict(json.loads(json.dumps(c))) for c in opening or []]
    student.cells = cells
    student.metadata["course_lib"] = {"version": "student"}
    # the handout is written where it runs (make lab): this Python's version, so that opening
    # a notebook in JupyterLab does not mark it modified
    import platform

    info = student.metadata.get("language_info")
    if isinstance(info, dict) and "version" in info:
        info["version"] = platform.python_version()
    return student


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_student_versions(source: str | Path, out: str | Path,
                           rewrite: list[tuple[str, str]] | None = None,
                           opening: Callable[[Path], list[NotebookNode]] | None = None) -> list[str]:
    """Write the student version of a notebook, or of every ``*.ipynb`` in a folder, to ``out``.

    Regenerates only what is stale and never overwrites a student's edits: a notebook in
    ``out`` that differs from what was generated last time is kept, and the new version is
    written beside it as ``<name>.updated.ipynb``. Returns one line per notebook saying
    what happened.
    """
    source, out = Path(source), Path(out)
    paths = sorted(source.glob("*.ipynb")) if source.is_dir() else [source]
    if not paths:
        raise FileNotFoundError(f"no notebooks found at {source}")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / ".generated.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        manifest = {}
    report = []
    for path in paths:
        data = notebook_bytes(make_student(read_notebook(path), rewrite, opening(path) if opening else None))
        dest = out / path.name
        new_sha = _sha(data)
        if not dest.exists():
            dest.write_bytes(data)
            report.append(f"wrote   {dest}")
        else:
            current = _sha(dest.read_bytes())
            if current == new_sha:
                report.append(f"fresh   {dest}")
            elif current == manifest.get(path.name):
                dest.write_bytes(data)
                report.append(f"updated {dest}")
            elif new_sha != manifest.get(path.name):
                side = dest.with_suffix(".updated.ipynb")
                side.write_bytes(data)
                report.append(f"kept    {dest} (it has your edits; the new version is {side.name})")
                continue
            else:
                report.append(f"kept    {dest} (it has your edits)")
                continue
        manifest[path.name] = new_sha
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    tmp.replace(manifest_path)
    return report
