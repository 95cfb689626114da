"""The exercises of each notebook, read from its tags: the table it opens with, and the data
behind ``checks.status()``.

Every notebook opens (right after its title cell) with a markdown cell tagged
``exercise-overview`` that lists its exercises: id, what the student writes, points and the
section where it sits. The table is generated from the cells' tags (``exercise:<id>``,
``points:<n>``), the exercise's heading (``### Exercise 1.2 · Title (n points)``), the
section heading above it (``## 2. ...``) and the check registry (the function's name), so it
cannot drift: ``tests/test_overview.py`` fails when a table differs from what the tags say.

    python -m course_tools overview                 # rewrite every notebook's table
    python -m course_tools overview --check         # say which tables are stale (exit 1)

``python -m course_tools data`` writes the same facts to ``course_lib/data/exercises.json``,
which ``checks.status()`` reads for the points (``course_lib`` never imports this module).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat

from course_tools import authoring

__all__ = ["OVERVIEW_TAG", "exercises", "overview_source", "update", "stale", "exercise_data"]

OVERVIEW_TAG = "exercise-overview"
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

_HEADING = re.compile(r"^###\s+Exercise\s+(?P<id>[\w.]+)\s*·\s*(?P<title>.+?)\s*(\(\d+ points?\))?\s*$",
                      re.M)
_SECTION = re.compile(r"^##\s+(?!#)(?P<title>.+?)\s*$", re.M)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercises(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """The exercises of ``nb`` in order: id, name, title, points, section."""
    from course_lib.checks import EXERCISES

    rows, section, titles = [], "", {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for m in _SECTION.finditer(cell.source):
                section = m.group("title")
            for m in _HEADING.finditer(cell.source):
                titles[m.group("id")] = m.group("title")
            continue
        tags = _tags(cell)
        ids = [t.split(":", 1)[1] for t in tags if t.startswith("exercise:")]
        points = [t.split(":", 1)[1] for t in tags if t.startswith("points:")]
        for ex_id in ids:
            spec = EXERCISES.get(ex_id)
            rows.append({"id": ex_id, "name": spec.name if spec else "",
                         "title": titles.get(ex_id, ""),
                         "points": float(points[0]) if points else 0.0,
                         "section": section,
                         "partial": authoring.PARTIAL in tags})
    return rows


def _points(p: float) -> str:
    return f"{p:g}"


def overview_source(nb: nbformat.NotebookNode) -> str:
    """The markdown of the overview cell of ``nb``."""
    rows = exercises(nb)
    total = sum(r["points"] for r in rows)
    lines = [f"**Exercises in this notebook** ({len(rows)}, {_points(total)} points)", "",
             "| Exercise | What you write | Points | Where |", "|---|---|---|---|"]
    for r in rows:
        what = f"`{r['name']}`: {r['title']}" if r["name"] else r["title"]
        where = r["section"] + (" (points per case)" if r["partial"] else "")
        lines.append(f"| {r['id']} | {what} | {_points(r['points'])} | {where} |")
    lines += ["", "The cell `checks.status()` near the end of the notebook says which of them pass now: "
              "run it whenever you like."]
    return "\n".join(lines)


def _overview_index(nb: nbformat.NotebookNode) -> int | None:
    for i, cell in enumerate(nb.cells):
        if OVERVIEW_TAG in _tags(cell):
            return i
    return None


def update(path: Path) -> bool:
    """Write (or rewrite) the overview cell of the notebook at ``path``; True if it changed."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    source = overview_source(nb)
    i = _overview_index(nb)
    if i is not None and nb.cells[i].source == source:
        return False
    if i is None:
        cell = nbformat.v4.new_markdown_cell(source, metadata={"tags": [OVERVIEW_TAG]})
        nb.cells.insert(1, cell)
    else:
        nb.cells[i].source = source
    nbformat.write(nb, path)
    return True


def stale(paths: list[Path]) -> list[str]:
    """Notebooks whose overview cell is missing or differs from their tags."""
    bad = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        i = _overview_index(nb)
        if i is None or nb.cells[i].source != overview_source(nb) or i != 1:
            bad.append(Path(path).name)
    return bad


def exercise_data(paths: list[Path] | None = None) -> dict[str, dict[str, Any]]:
    """Exercise id -> notebook, name, title, points: what ``checks.status()`` reads."""
    out = {}
    for path in paths or sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for r in exercises(nb):
            out[r["id"]] = {"notebook": Path(path).name, "name": r["name"], "title": r["title"],
                            "points": r["points"], "section": r["section"]}
    return dict(sorted(out.items(), key=lambda kv: [int(x) if x.isdigit() else x
                                                    for x in kv[0].split(".")]))
