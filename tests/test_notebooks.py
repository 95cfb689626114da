"""Every notebook under nbval, instructor and student versions, through the grader.

The instructor version must run without a single error and score full marks. The student
version must fail exactly its check cells: nothing else in a notebook may depend on an
exercise's answer. Notebooks are stored clean (no outputs) and small.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from course_tools import authoring, grading
from tests.conftest import NOTEBOOKS, ROOT


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean_and_small(path):
    nb = authoring.read_notebook(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {i} has outputs"
    assert path.stat().st_size < 1_000_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_image_a_notebook_shows_exists(path):
    nb = authoring.read_notebook(path)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", cell.source):
                assert (path.parent / target).resolve().is_file(), f"{path.name}: missing {target}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_instructor_passes_everything_and_student_fails_exactly_its_checks(path, tmp_path):
    ref = authoring.read_notebook(path)
    exercises = authoring.exercises(ref)
    instructor = tmp_path / "instructor.ipynb"
    nbformat.write(ref, str(instructor))
    student = tmp_path / "student.ipynb"
    nbformat.write(authoring.make_student(ref), str(student))
    results = grading.grade(path, [instructor, student], tmp_path / "out", jobs=2,
                            cell_timeout=600, notebook_timeout=1800, progress=False)
    by = {r.student: r for r in results}
    full = {ex.id: ex.points for ex in exercises.values()}
    got = {k: v.points for k, v in by["instructor"].exercises.items()}
    assert got == full, {k: v.message for k, v in by["instructor"].exercises.items()}
    assert by["instructor"].cell_errors == [], by["instructor"].cell_errors
    assert by["student"].total == 0
    for ex in by["student"].exercises.values():
        assert "not done yet" in ex.message, (ex.id, ex.message)
    assert by["student"].cell_errors == [], (
        "cells other than checks failed in the student version (they must not use the "
        f"exercise answers): {by['student'].cell_errors}")


def test_assets_script_draws_every_static_image(tmp_path):
    import subprocess
    import sys

    from course_lib.demos import static_images

    subprocess.run([sys.executable, str(ROOT / "assets" / "make_assets.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True)
    for name in static_images():
        assert (tmp_path / name).stat().st_size > 1000
        assert (ROOT / "assets" / name).is_file(), f"assets/{name} is not committed"
