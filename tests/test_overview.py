"""The exercise table each notebook opens with, ``checks.status()``, and what a failing check
shows a student (its message, not a traceback through the package)."""

from __future__ import annotations

import json

import pytest

from course_lib import checks, datafiles
from course_lib.checks import _core, _status
from course_tools import overview
from course_tools.references import get
from tests.conftest import NOTEBOOKS

# Part 3 is being rewritten on another branch: it gets its table when that work lands
# (`python -m course_tools overview notebooks/03_dyna_mve_mbpo.ipynb`).
PENDING = {"03_dyna_mve_mbpo.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_opens_with_the_table_of_its_exercises(path):
    nb = overview.authoring.read_notebook(path)
    if path.name in PENDING and overview._overview_index(nb) is None:
        pytest.skip(f"{path.name}: exercise table not added yet")
    assert not overview.stale([path]), (
        f"{path.name}: the exercise table differs from the tags: run `python -m course_tools overview`")
    rows = overview.exercises(nb)
    assert rows and all(r["name"] and r["title"] and r["points"] > 0 and r["section"] for r in rows), rows
    assert nb.cells[1].source.count("\n| ") == len(rows) + 1


def test_the_status_data_file_matches_the_notebooks():
    saved = json.loads((datafiles.DATA / "exercises.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(overview.exercise_data())), (
        "course_lib/data/exercises.json is stale: run `python -m course_tools data --answers-only`")


def test_status_prints_which_exercises_pass_with_their_points(monkeypatch, capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 0.2: your code here")

    ns = {"discounted_return": get("0.1"), "rollout": stub}
    monkeypatch.setattr(_status, "_user_namespace", lambda: ns)
    checks.status()
    out = capsys.readouterr().out
    assert "00_welcome.ipynb: 2 of 5 points pass the visible checks" in out, out
    assert "✓ 0.1" in out and "passes" in out
    assert "✗ 0.2" in out and "not done yet" in out
    assert "Exercise 0.1 passed" not in out  # the checks ran quietly

    def wrong(rewards, gamma):
        return rewards.sum(1)

    ns["discounted_return"] = wrong
    checks.status("00")
    out = capsys.readouterr().out
    assert "0 of 5 points" in out and "fails on: a batch of 4 random trajectories" in out, out


def test_status_before_anything_ran_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setattr(_status, "_user_namespace", lambda: {})
    checks.status()
    assert "run the notebook's cells first" in capsys.readouterr().out


def test_a_failing_check_renders_as_its_message_only():
    def wrong(rewards, gamma):
        return rewards.sum(1)

    with pytest.raises(checks.CheckFailed) as info:
        checks.discounted_return(wrong)
    lines = info.value._render_traceback_()
    text = "\n".join(lines)
    assert "Check failed" in lines[0] and "case:" in lines[0]
    assert "expected" in text and "Hint:" in text
    assert "Traceback" not in text and "course_lib" not in text and "ck.answer" not in text


def test_a_crash_in_the_students_code_shows_their_lines_only():
    def crashes(rewards, gamma):
        weights = gamma ** undefined_name  # noqa: F821 - the student's mistake
        return rewards @ weights

    with pytest.raises(checks.CheckFailed) as info:
        checks.discounted_return(crashes)
    text = "\n".join(info.value._render_traceback_())
    assert "Where your code raised it" in text and "undefined_name" in text
    assert "NameError" in text and "Run All Above Selected Cell" in text
    assert "_core.py" not in text


def test_a_check_run_before_its_exercise_cell_names_the_cell_to_run(monkeypatch):
    monkeypatch.setattr(_core, "_user_namespace", lambda: {})
    with pytest.raises(checks.CheckFailed, match=r"def discounted_return\(") as info:
        checks.discounted_return()
    assert "Run All Above Selected Cell" in str(info.value)
