"""The Gradescope autograder: the zip, and run_autograder on a folder laid out like Gradescope's.

The slow test builds the zip for 00_welcome with partial credit, unpacks it into
``<tmp>/autograder/source``, puts a submission in ``submission/`` and runs ``run_autograder``
with ``AUTOGRADER_ROOT`` pointing there; ``results.json`` must follow Gradescope's format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import nbformat
import pytest

from course_tools import authoring
from course_tools.lms import gradescope, gradescope_run
from tests.conftest import ROOT

REFERENCE = ROOT / "notebooks" / "00_welcome.ipynb"
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def _valid_results(data: dict) -> None:
    """Gradescope's results.json: a score, and tests with score <= max_score, names and visibilities."""
    assert isinstance(data["score"], (int, float)) and data["score"] >= 0
    assert data.get("stdout_visibility", "hidden") in VISIBILITY
    for test in data["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert 0 <= test["score"] <= test["max_score"] + 1e-9
        assert test["visibility"] in VISIBILITY and test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
    json.dumps(data)


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    out = tmp_path_factory.mktemp("gs") / "autograder_welcome.zip"
    gradescope.build(REFERENCE, out, partial="all", seed=1234)
    return out


def test_the_zip_holds_what_gradescope_runs_and_nothing_else(autograder):
    with zipfile.ZipFile(autograder) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        reqs = zf.read("requirements.txt").decode()
        settings = json.loads(zf.read("autograder.json"))
    assert {"setup.sh", "run_autograder", "requirements.txt", "constraints.txt", "pyproject.toml",
            "autograder.json", "reference/00_welcome.ipynb", "course_lib/__init__.py",
            "course_tools/grading/judge.py", "course_tools/hidden/welcome.py",
            "course_tools/references/welcome.py", "course_lib/data/answers/0.1.json"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "course_lib/__main__.py" not in names
    assert [n for n in names if n.startswith("course_tools/hidden/")] == ["course_tools/hidden/welcome.py"]
    torch = next(line for line in (ROOT / "constraints.txt").read_text().splitlines()
                 if line.startswith("torch=="))
    assert torch in reqs.splitlines() and "--extra-index-url https://download.pytorch.org/whl/cpu" in reqs
    assert "nbval" in reqs and "pytest" in reqs and "playwright" not in reqs
    assert settings["partial"] == ["0.1", "0.2"] and settings["seed"] == 1234
    assert settings["exercises"] == {"0.1": 2.0, "0.2": 3.0}
    with zipfile.ZipFile(autograder) as zf:
        for script in ("setup.sh", "run_autograder"):
            syntax = subprocess.run(["bash", "-n"], input=zf.read(script), capture_output=True)
            assert syntax.returncode == 0, (script, syntax.stderr)


def test_which_notebook_is_graded_and_who_submitted(tmp_path):
    sub = tmp_path / "submission"
    assert gradescope_run.pick_notebook(sub, "a.ipynb")[0] is None
    (sub / "x").mkdir(parents=True)
    (sub / "x" / "mine.ipynb").write_text("{}")
    assert gradescope_run.pick_notebook(sub, "a.ipynb")[0].name == "mine.ipynb"
    (sub / "a.ipynb").write_text("{}")
    (sub / ".ipynb_checkpoints").mkdir()
    (sub / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    assert gradescope_run.pick_notebook(sub, "a.ipynb")[0] == sub / "a.ipynb"
    (sub / "a.ipynb").unlink()
    (sub / "b.ipynb").write_text("{}")
    path, problem = gradescope_run.pick_notebook(sub, "a.ipynb")
    assert path is None and "several notebooks" in problem and "a.ipynb" in problem
    (tmp_path / "submission_metadata.json").write_text(json.dumps(
        {"id": 9, "users": [{"id": 2, "email": "b@u.edu"}, {"id": 1, "email": "a@u.edu", "sid": "S 1"}]}))
    assert gradescope_run.student_id(tmp_path).startswith("S_1+b@u.edu")
    assert gradescope_run.student_id(tmp_path / "nowhere") == "student"


def _gradescope_root(tmp_path, autograder) -> tuple[dict, object]:
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(autograder) as zf:
        zf.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)

    def run() -> dict:
        env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
        env.pop("PYTHONPATH", None)
        done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads((root / "results" / "results.json").read_text())

    return root, run


def test_an_empty_submission_gets_results_that_say_so(tmp_path, autograder):
    root, run = _gradescope_root(tmp_path, autograder)
    data = run()
    _valid_results(data)
    assert data["score"] == 0 and data["tests"] == [] and "00_welcome.ipynb" in data["output"]
    (root / "submission" / "00_welcome.ipynb").write_text("{}")
    (root / "source" / "reference" / "00_welcome.ipynb").unlink()  # the autograder itself breaks
    data = run()
    _valid_results(data)
    assert data["score"] == 0 and "not because of your code" in data["output"]


@pytest.mark.slow
def test_run_autograder_grades_with_partial_credit_and_hides_unseen_cases(tmp_path, autograder):
    root, run = _gradescope_root(tmp_path, autograder)
    nb = authoring.read_notebook(REFERENCE)
    cell = next(c for c in nb.cells if "solution:0.1" in c.metadata.get("tags", []))
    cell.source = ("def discounted_return(rewards, gamma):\n    import numpy as np\n"
                   "    out = (rewards * gamma ** np.arange(rewards.shape[1])).sum(axis=1)\n"
                   "    return out + 1 if rewards.shape[1] == 1 else out   # wrong when T = 1\n")
    nbformat.write(nb, str(root / "submission" / "00_welcome.ipynb"))
    (root / "submission_metadata.json").write_text(json.dumps({"id": 5, "users": [{"id": 1, "sid": "s1"}]}))
    data = run()
    _valid_results(data)
    tests = {t["number"]: t for t in data["tests"]}
    assert set(tests) == {"0.1.1", "0.1.2", "0.2.1", "0.2.2"}
    assert {t["visibility"] for n, t in tests.items() if n.endswith(".1")} == {"visible"}
    assert {t["visibility"] for n, t in tests.items() if n.endswith(".2")} == {"after_published"}
    assert abs(sum(t["max_score"] for t in tests.values()) - 5) < 1e-3
    assert abs(sum(t["score"] for t in tests.values()) - data["score"]) < 1e-3
    assert 3 < data["score"] < 5                          # one visible case of 0.1 lost, not its 2 points
    assert tests["0.1.1"]["status"] == "failed" and "4 / 5 cases passed" in tests["0.1.1"]["output"]
    assert "a single step (T = 1)" in tests["0.1.1"]["output"]
    assert tests["0.2.1"]["score"] == tests["0.2.1"]["max_score"] > 0
    assert "seed" not in json.dumps(data).lower() and "matches_reference" not in json.dumps(data)
