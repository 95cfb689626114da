"""Every registered exercise check: passes the right answer, fails the stub and wrong answers.

Each ``tests/test_checks_<part>.py`` has a ``CASES`` table: exercise id -> (a correct
answer, a list of wrong answers). This file makes sure every exercise has an entry.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import sys

import pytest

import tests
from course_lib import checks
from course_tools.grading import judge, record


def _all_cases():
    cases = {}
    for mod in pkgutil.iter_modules(tests.__path__):
        if mod.name.startswith("test_checks_") and mod.name != "test_checks_all":
            cases.update(importlib.import_module(f"tests.{mod.name}").CASES)
    return cases


CASES = _all_cases()
IDS = sorted(checks.EXERCISES)


def test_every_exercise_has_cases():
    missing = sorted(set(checks.EXERCISES) - set(CASES))
    assert not missing, f"exercises without right/wrong answers in tests: {missing}"
    for ex_id, (_, wrong) in CASES.items():
        assert wrong, f"exercise {ex_id} has no wrong answer to fail on"


@pytest.mark.parametrize("ex_id", IDS)
def test_correct_answer_passes(ex_id, capsys):
    right, _ = CASES[ex_id]
    checks.EXERCISES[ex_id].check(right)
    assert capsys.readouterr().out.startswith(f"Exercise {ex_id} passed")


@pytest.mark.parametrize("ex_id", IDS)
def test_stub_fails_saying_not_done(ex_id):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"Exercise {ex_id}: your code here")

    with pytest.raises(checks.CheckFailed, match="is not done yet"):
        checks.EXERCISES[ex_id].check(stub)


@pytest.mark.parametrize("ex_id", IDS)
def test_every_wrong_answer_fails(ex_id):
    _, wrong = CASES[ex_id]
    for fn in wrong:
        with pytest.raises(checks.CheckFailed) as info:
            checks.EXERCISES[ex_id].check(fn)
        assert f"Exercise {ex_id}" in str(info.value), fn.__name__


@pytest.mark.parametrize("ex_id", IDS)
def test_a_crash_in_student_code_is_reported_not_raised_raw(ex_id):
    def crashes(*args, **kwargs):
        raise IndexError("index 3 is out of bounds")

    with pytest.raises(checks.CheckFailed, match="raised IndexError: index 3 is out of bounds"):
        checks.EXERCISES[ex_id].check(crashes)


@pytest.mark.parametrize("ex_id", IDS)
def test_missing_definition_is_explained(ex_id):
    spec = checks.EXERCISES[ex_id]
    with pytest.raises(checks.CheckFailed, match=f"no `{spec.name}` is defined"):
        spec.check()  # looks the name up in __main__, where no test defines it


def test_not_a_function_is_explained():
    with pytest.raises(checks.CheckFailed, match="should be a function"):
        checks.discounted_return(42)


def test_scalar_answers_get_clear_messages():
    ck = checks.Checker("9.9", "f", None)
    with pytest.raises(checks.CheckFailed, match=r"expected 2\n  got      1\n"):
        ck.close(1.0, 2.0, case="a number")
    with pytest.raises(checks.CheckFailed, match="contains NaN or inf; expected finite values like 2"):
        ck.close(float("nan"), 2.0, case="a NaN")


@pytest.mark.parametrize("ex_id", IDS)
def test_the_graders_replay_gives_the_same_verdicts(ex_id, monkeypatch, tmp_path):
    """As the grader does: record the answers in the 'kernel', judge them by replay elsewhere.

    Everything a check needs from the student must reach the judge (plain data, a Batch, or an
    empty buffer the function fills): a right answer passes and every wrong answer fails there too.
    """
    right, wrong = CASES[ex_id]
    name = checks.EXERCISES[ex_id].name
    for fn, should_pass in [(right, True)] + [(w, False) for w in wrong]:
        monkeypatch.setattr(sys.modules["__main__"], name, fn, raising=False)
        path = tmp_path / "record.pkl"
        with contextlib.suppress(AssertionError):
            record.produce(ex_id, str(path))
        verdicts = judge.judge(ex_id, path.read_bytes(), None, None, 0, None)
        assert all(v["passed"] for v in verdicts) == should_pass, (getattr(fn, "__name__", fn), verdicts)
