"""Partial credit: an exercise tagged ``partial`` earns points per case, visible and hidden.

Its checks run leniently in the kernel and in the judge (a failed case does not end the check),
so every case counts; all or nothing stays the default. Fast: no notebook runs here (the
Gradescope test grades a whole notebook per case).
"""

from __future__ import annotations

import contextlib
import sys

import nbformat
import pytest

from course_lib import checks
from course_tools import authoring
from course_tools.grading import judge, record
from course_tools.grading.results import ExerciseResult, SubmissionResult, feedback_markdown
from course_tools.grading.scoring import exercise_points, resolve_partial
from course_tools.references import welcome as ref
from tests.conftest import ROOT
from tests.test_checks_all import CASES, IDS


def _judged(monkeypatch, tmp_path, ex_id, fn, lenient):
    monkeypatch.setattr(sys.modules["__main__"], checks.EXERCISES[ex_id].name, fn, raising=False)
    path = tmp_path / "rec.pkl"
    with contextlib.suppress(AssertionError):
        record.produce(ex_id, str(path), lenient=lenient)
    [verdict] = judge.judge(ex_id, path.read_bytes(), None, None, 0, None, lenient=lenient)
    return verdict


def _wrong_on_one_step(rewards, gamma):
    out = ref.discounted_return(rewards, gamma)
    return out + 1 if rewards.shape[1] == 1 else out


def _crashes_on_gamma_zero(rewards, gamma):
    if gamma == 0:
        raise ZeroDivisionError("gamma")
    return ref.discounted_return(rewards, gamma)


@pytest.mark.parametrize("fn, strict, lenient", [
    (ref.discounted_return, 5, 5),
    (_wrong_on_one_step, 3, 4),          # the 4th of 5 cases fails: strict stops there
    (_crashes_on_gamma_zero, 0, 4),      # a crash on one case costs that case only
    (lambda r, g: r.sum(axis=1), 0, 2),  # right only where gamma = 1 or T = 1
])
def test_a_lenient_check_counts_every_case(monkeypatch, tmp_path, fn, strict, lenient):
    a = _judged(monkeypatch, tmp_path, "0.1", fn, lenient=False)
    b = _judged(monkeypatch, tmp_path, "0.1", fn, lenient=True)
    assert (a["cases_passed"], b["cases_passed"]) == (strict, lenient)
    assert a["passed"] == b["passed"] == (lenient == 5)
    if lenient < 5:
        assert b["failed_cases"] and b["message"].startswith("Exercise 0.1")
        assert len(b["failed_cases"]) == 5 - lenient and len(a["failed_cases"]) == 1


def test_a_stub_stays_not_done_and_earns_no_case(monkeypatch, tmp_path):
    def stub(*a, **k):
        raise NotImplementedError("Exercise 0.1: your code here")

    v = _judged(monkeypatch, tmp_path, "0.1", stub, lenient=True)
    assert v["cases_passed"] == 0 and "not done yet" in v["message"]


@pytest.mark.parametrize("ex_id", IDS)
def test_lenient_replay_keeps_every_verdict(ex_id, monkeypatch, tmp_path):
    """Right answers pass every case, wrong ones fail, as in the strict replay."""
    right, wrong = CASES[ex_id]
    v = _judged(monkeypatch, tmp_path, ex_id, right, lenient=True)
    assert v["passed"] and v["cases_passed"] == v["cases_total"], v
    for fn in wrong:
        v = _judged(monkeypatch, tmp_path, ex_id, fn, lenient=True)
        assert not v["passed"] and v["cases_passed"] < v["cases_total"], (getattr(fn, "__name__", fn), v)


def test_points_split_over_visible_and_hidden_cases():
    checks_ = [{"passed": False, "cases_passed": 3, "cases_total": 4},
               {"passed": True, "cases_passed": 6, "cases_total": 6}]
    points, per_case = exercise_points(5.0, checks_, partial=True)
    assert per_case == 0.5 and points == 4.5
    assert [(c["points"], c["max_points"]) for c in checks_] == [(1.5, 2.0), (3.0, 3.0)]
    assert exercise_points(5.0, [dict(c) for c in checks_], partial=False) == (0.0, 0.0)
    unknown = [{"passed": False, "cases_passed": 1, "cases_total": None}]
    assert exercise_points(2.0, unknown, partial=True) == (0.0, 0.0)  # falls back to all or nothing


def test_the_partial_tag_is_read_and_validated():
    nb = authoring.read_notebook(ROOT / "notebooks" / "00_welcome.ipynb")
    exercises = authoring.exercises(nb)
    assert not any(ex.partial for ex in exercises.values())
    check = nb.cells[exercises["0.1"].check_cell]
    check.metadata["tags"] = [*check.metadata["tags"], "partial"]
    assert authoring.exercises(nb)["0.1"].partial and not authoring.exercises(nb)["0.2"].partial
    assert resolve_partial(authoring.exercises(nb), None) == {"0.1"}
    assert resolve_partial(exercises, "all") == {"0.1", "0.2"} and resolve_partial(exercises, "none") == set()
    assert resolve_partial(exercises, "0.2") == {"0.2"}
    with pytest.raises(ValueError, match="9.9"):
        resolve_partial(exercises, ["9.9"])
    nb.cells.insert(0, nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["partial"]}))
    assert any("belongs on a check cell" in p for p in authoring.validate(nb))


def test_feedback_shows_points_per_case():
    checks_ = [{"check": "c", "kind": "visible", "passed": False, "status": "failed", "message": "m",
                "cases_passed": 3, "cases_total": 4}]
    points, per_case = exercise_points(2.0, checks_, True)
    r = SubmissionResult("s", "s.ipynb", "", "", "graded", exercises={
        "0.1": ExerciseResult("0.1", points, 2.0, "m", checks_, partial=True, per_case=per_case),
        "0.2": ExerciseResult("0.2", 3.0, 3.0, "passed", [], partial=False)})
    text = feedback_markdown(r)
    assert "| 0.1 | 1.5 / 2 | 3 / 4 | - | 0.5 |" in text
    assert "| 0.2 | 3 / 3 | - | - | all or nothing |" in text


def test_hidden_cases_count_one_by_one_too(monkeypatch, tmp_path):
    from course_tools.grading import hidden as hid

    def wrong_for_three(rewards, gamma):  # the first unseen case has a batch of 3
        out = ref.discounted_return(rewards, gamma)
        return out * 2 if rewards.shape[0] == 3 else out

    plan = hid.plan(str(hid.DEFAULT_DIR), 5, ["0.1"])["0.1"]
    (tmp_path / "args.pkl").write_bytes(plan["args"])
    monkeypatch.setattr(sys.modules["__main__"], "discounted_return", wrong_for_three, raising=False)
    record.produce_hidden("0.1", str(tmp_path / "hidden.pkl"), str(tmp_path / "args.pkl"))
    raw = (tmp_path / "hidden.pkl").read_bytes()
    strict = judge.judge("0.1", None, raw, plan, 5, str(hid.DEFAULT_DIR))[1]
    lenient = judge.judge("0.1", None, raw, plan, 5, str(hid.DEFAULT_DIR), lenient=True)[1]
    assert not strict["passed"] and not lenient["passed"]
    assert (strict["cases_passed"], lenient["cases_passed"], lenient["cases_total"]) == (0, 3, 4)
    assert lenient["failed_cases"][0].startswith("B = 3") and "seed" not in lenient["message"]
