"""The grader, end to end on 00_welcome: one run with good, wrong, tampered and broken submissions."""

from __future__ import annotations

import csv
import json

import nbformat
import pytest

from course_tools import authoring, grading
from tests.conftest import ROOT

REFERENCE = ROOT / "notebooks" / "00_welcome.ipynb"
pytestmark = pytest.mark.slow


def _cell(nb, tag):
    return next(c for c in nb.cells if tag in c.get("metadata", {}).get("tags", []))


def _write(nb, path):
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subs")
    ref = authoring.read_notebook(REFERENCE)
    student = authoring.make_student(ref)
    subs = {}
    subs["reference"] = _write(ref, tmp / "reference.ipynb")
    subs["blank"] = _write(student, tmp / "blank.ipynb")

    wrong = authoring.read_notebook(REFERENCE)
    _cell(wrong, "solution:0.1").source = (
        "def discounted_return(rewards, gamma):\n    return rewards.sum(axis=1)\n")
    subs["wrong_0_1"] = _write(wrong, tmp / "wrong_0_1.ipynb")

    tampered = authoring.make_student(ref)  # no answers, but the checks are neutered
    _cell(tampered, "exercise:0.1").source = "pass"
    tampered.cells.remove(_cell(tampered, "exercise:0.2"))
    tampered.cells.append(nbformat.v4.new_code_cell(
        "print('Exercise 0.1 passed: all cases')\nprint('Exercise 0.2 passed: all cases')"))
    subs["tampered"] = _write(tampered, tmp / "tampered.ipynb")

    deleted = authoring.read_notebook(REFERENCE)  # right answers, check cells deleted
    deleted.cells = [c for c in deleted.cells if "exercise:0.1" not in c.metadata.get("tags", [])
                     and "exercise:0.2" not in c.metadata.get("tags", [])]
    subs["deleted_checks"] = _write(deleted, tmp / "deleted_checks.ipynb")

    hang = authoring.read_notebook(REFERENCE)  # hangs right before exercise 0.2's answer
    i = hang.cells.index(_cell(hang, "solution:0.2"))
    hang.cells.insert(i, nbformat.v4.new_code_cell("while True:\n    pass"))
    subs["hangs"] = _write(hang, tmp / "hangs.ipynb")

    crash = authoring.read_notebook(REFERENCE)  # kills its kernel after exercise 0.1
    i = crash.cells.index(_cell(crash, "exercise:0.1"))
    crash.cells.insert(i + 1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    subs["crashes"] = _write(crash, tmp / "crashes.ipynb")

    (tmp / "not_json.ipynb").write_text("{ this is not a notebook")
    subs["not_json"] = tmp / "not_json.ipynb"
    subs["no_cells"] = _write(nbformat.v4.new_notebook(), tmp / "no_cells.ipynb")

    out = tmp / "out"
    results = grading.grade(REFERENCE, list(subs.values()), out, jobs=2, cell_timeout=30,
                            notebook_timeout=120, progress=False)
    return {r.student: r for r in results}, out


def _points(results, student):
    return {k: v.points for k, v in results[student].exercises.items()}


def test_reference_scores_full_marks(graded):
    results, _ = graded
    assert _points(results, "reference") == {"0.1": 2.0, "0.2": 3.0}
    assert results["reference"].cell_errors == []


def test_student_version_scores_zero_with_not_done_messages(graded):
    results, _ = graded
    assert _points(results, "blank") == {"0.1": 0.0, "0.2": 0.0}
    assert all("not done yet" in e.message for e in results["blank"].exercises.values())


def test_one_wrong_answer_loses_exactly_that_exercise(graded):
    results, _ = graded
    assert _points(results, "wrong_0_1") == {"0.1": 0.0, "0.2": 3.0}
    assert "largest difference" in results["wrong_0_1"].exercises["0.1"].message


def test_edited_or_deleted_check_cells_and_fake_output_earn_nothing(graded):
    results, _ = graded
    assert _points(results, "tampered") == {"0.1": 0.0, "0.2": 0.0}


def test_deleted_check_cells_are_restored_and_graded(graded):
    results, _ = graded
    assert _points(results, "deleted_checks") == {"0.1": 2.0, "0.2": 3.0}


def test_a_hanging_cell_is_interrupted_and_the_rest_still_graded(graded):
    results, _ = graded
    r = results["hangs"]
    assert _points(results, "hangs") == {"0.1": 2.0, "0.2": 3.0}
    assert any("KeyboardInterrupt" in e for e in r.cell_errors), r.cell_errors


def test_a_dead_kernel_costs_only_the_exercises_after_it(graded):
    results, _ = graded
    r = results["crashes"]
    assert r.exercises["0.1"].points == 2.0 and r.exercises["0.2"].points == 0.0
    assert r.exercises["0.2"].message.startswith(("not graded", "RuntimeError"))


@pytest.mark.parametrize("student", ["not_json", "no_cells"])
def test_broken_files_get_zero_and_a_reason(graded, student):
    results, out = graded
    r = results[student]
    assert r.total == 0
    feedback = (out / "feedback" / f"{student}.md").read_text()
    assert "Total: 0 / 5" in feedback
    if student == "not_json":
        assert r.status == "invalid" and "not a readable notebook" in feedback


def test_gradebook_has_every_submission_and_no_leftovers(graded):
    results, out = graded
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert {r["student"] for r in rows} == set(results)
    by = {r["student"]: r for r in rows}
    assert by["reference"]["total"] == "5" and by["wrong_0_1"]["exercise 0.1"] == "0"
    assert set(json.loads((out / "grades.json").read_text())) == set(results)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert len(list((out / "feedback").glob("*.md"))) == len(results)


def test_resume_skips_what_is_already_graded(graded, tmp_path):
    results, out = graded
    again = grading.grade(REFERENCE, [results["not_json"].path, results["reference"].path], out,
                          resume=True, progress=False)
    assert [r.total for r in again] == [0.0, 5.0]
    assert all(r.seconds == results[r.student].seconds for r in again)
