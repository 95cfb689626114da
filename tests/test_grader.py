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

    syntax = authoring.read_notebook(REFERENCE)  # a syntax error in the answer cell of 0.1
    _cell(syntax, "solution:0.1").source = "def discounted_return(rewards, gamma):\n    return rewards @@ g\n"
    subs["syntax_error"] = _write(syntax, tmp / "syntax_error.ipynb")

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
    assert any(e.startswith("your code cell") and "timed out after 30 s" in e for e in r.cell_errors), \
        r.cell_errors


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


def test_a_syntax_error_is_reported_as_one(graded):
    results, out = graded
    message = results["syntax_error"].exercises["0.1"].message
    assert "SyntaxError" in message and "your answer cell (your code cell" in message, message
    assert results["syntax_error"].exercises["0.2"].points == 3.0


def test_feedback_counts_cases_and_shows_no_seed_or_check_names(graded):
    results, out = graded
    feedback = (out / "feedback" / "wrong_0_1.md").read_text()
    assert "| 0.1 | 0 / 2 | 0 / 5 |" in feedback and "| 0.2 | 3 / 3 | 15 / 15 |" in feedback
    assert str(results["wrong_0_1"].seed) not in feedback and "seed" not in feedback.lower()
    assert "unseen_shapes" not in feedback and "rollout_unseen_systems" not in feedback
    assert (out / "run.json").exists()


def test_resume_skips_what_is_already_graded_and_keeps_the_seeds(graded):
    results, out = graded
    paths = [results["not_json"].path, results["reference"].path]
    again = grading.grade(REFERENCE, paths, out, resume=True, progress=False)
    assert [r.total for r in again] == [0.0, 5.0]
    assert all(r.seconds == results[r.student].seconds for r in again)
    regraded = grading.grade(REFERENCE, [results["wrong_0_1"].path], out, progress=False)
    assert regraded[0].seed == results["wrong_0_1"].seed


def test_grading_one_file_into_the_folder_keeps_every_other_row(graded):
    results, out = graded
    grading.grade(REFERENCE, [results["reference"].path], out, progress=False)
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert {r["student"] for r in rows} == set(results)
    history = (out / "history" / "reference.jsonl").read_text().splitlines()
    assert history and json.loads(history[-1])["total"] == 5.0


def test_regrade_names_students_and_keeps_their_history(graded):
    results, out = graded
    [again] = grading.regrade(out, ["wrong_0_1"], progress=False)
    assert again.total == 3.0 and again.seed == results["wrong_0_1"].seed
    assert (out / "history" / "wrong_0_1.jsonl").exists()


def test_a_folder_of_another_reference_is_refused_without_force(graded, tmp_path):
    results, out = graded
    other = tmp_path / "other.ipynb"
    nb = authoring.read_notebook(REFERENCE)
    nb.cells[0].source += "\n\nchanged"
    nbformat.write(nb, str(other))
    with pytest.raises(grading.GradingRefused, match="another reference"):
        grading.grade(other, [results["reference"].path], out, progress=False)
