"""The exercise convention and the student-version generator."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_tools import authoring
from tests.conftest import NOTEBOOKS


def _solution_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == authoring.BEGIN:
            inside = True
        elif line.strip() == authoring.END:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_instructor_notebook_follows_the_convention(path):
    assert authoring.validate(authoring.read_notebook(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_version_has_stubs_no_solutions_and_intact_checks(path):
    nb = authoring.read_notebook(path)
    student = authoring.make_student(nb)
    exercises = authoring.exercises(nb)
    assert exercises, f"{path.name} has no exercises"
    student_lines = {ln.strip() for c in student.cells if c.cell_type == "code"
                     for ln in c.source.splitlines()}
    # lines that also occur outside solution blocks (e.g. a shared `return`) may stay
    outside = {ln.strip() for c in nb.cells if c.cell_type == "code"
               for ln in authoring.strip_solutions(c.source, "x").splitlines()}
    for ex in exercises.values():
        for line in _solution_lines(nb.cells[ex.solution_cell].source):
            assert line not in student_lines or line in outside, (
                f"solution line survived in the student version: {line!r}")
        stubs = [c for c in student.cells if authoring.tag_value(c, "solution") == ex.id]
        assert len(stubs) == 1
        assert f'raise NotImplementedError("Exercise {ex.id}: your code here")' in stubs[0].source
        checks = [c for c in student.cells if authoring.tag_value(c, "exercise") == ex.id]
        assert len(checks) == 1 and checks[0].source == nb.cells[ex.check_cell].source
        assert checks[0].metadata["tags"] == nb.cells[ex.check_cell].metadata["tags"]
    assert "BEGIN SOLUTION" not in json.dumps(student)


def test_stub_keeps_the_indentation_of_the_solution_block():
    src = "def f(x):\n    y = 1\n    # BEGIN SOLUTION\n    return x + y\n    # END SOLUTION\n"
    out = authoring.strip_solutions(src, "3.1")
    assert out.splitlines() == [
        "def f(x):", "    y = 1", "    # YOUR CODE HERE",
        '    raise NotImplementedError("Exercise 3.1: your code here")']


def _nb(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def _code(src, tags=()):
    return nbformat.v4.new_code_cell(src, metadata={"tags": list(tags)} if tags else {})


@pytest.mark.parametrize("cells, problem", [
    ([_code("# BEGIN SOLUTION\nx = 1\n", ["solution:1.1"]),
      _code("check()", ["exercise:1.1", "points:1"])], "'# END SOLUTION'"),
    ([_code("# BEGIN SOLUTION\nx=1\n# END SOLUTION")], "no 'solution:<id>' tag"),
    ([_code("# BEGIN SOLUTION\nx=1\n# END SOLUTION", ["solution:1.1"])], "has no check cell"),
    ([_code("# BEGIN SOLUTION\nx=1\n# END SOLUTION", ["solution:1.1"]),
      _code("check()", ["exercise:1.1"])], "points"),
    ([_code("check()", ["exercise:1.1", "points:2"]),
      _code("# BEGIN SOLUTION\nx=1\n# END SOLUTION", ["solution:1.1"])], "comes before"),
    ([_code("check()", ["exercise:1.1", "points:2"])], "has no answer cell"),
])
def test_validate_reports_broken_conventions(cells, problem):
    problems = authoring.validate(_nb(cells))
    assert any(problem in p for p in problems), problems
    with pytest.raises(authoring.AuthoringError):
        authoring.make_student(_nb(cells))


def test_instructor_only_cells_are_dropped():
    nb = _nb([_code("secret = 1", ["instructor-only"]), _code("x = 2")])
    assert [c.source for c in authoring.make_student(nb).cells] == ["x = 2"]


def test_regeneration_is_idempotent_and_never_overwrites_a_students_edits(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nb = _nb([_code("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION",
                    ["solution:1.1"]),
              _code("check()", ["exercise:1.1", "points:1"])])
    nbformat.write(nb, str(src / "part.ipynb"))
    out = tmp_path / "student"
    assert authoring.write_student_versions(src, out)[0].startswith("wrote")
    assert authoring.write_student_versions(src, out)[0].startswith("fresh")
    # the instructor changes the notebook: an untouched student copy is updated
    nb.cells.append(_code("print('new cell')"))
    nbformat.write(nb, str(src / "part.ipynb"))
    assert authoring.write_student_versions(src, out)[0].startswith("updated")
    # the student edits their copy; then the instructor changes the notebook again
    edited = authoring.read_notebook(out / "part.ipynb")
    edited.cells[0].source = "def f():\n    return 1"
    nbformat.write(edited, str(out / "part.ipynb"))
    nb.cells.append(_code("print('another')"))
    nbformat.write(nb, str(src / "part.ipynb"))
    line = authoring.write_student_versions(src, out)[0]
    assert line.startswith("kept") and "part.updated.ipynb" in line
    assert authoring.read_notebook(out / "part.ipynb").cells[0].source == "def f():\n    return 1"
    assert (out / "part.updated.ipynb").exists()
