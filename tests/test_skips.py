"""The demo/training tags that exercise-only grading skips are derived from the code and stay so."""

from __future__ import annotations

import nbformat
import pytest

from course_tools import authoring, skips
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebooks_skip_tags_are_current(path):
    found = skips.problems(authoring.read_notebook(path))
    assert not found, f"{path.name} (run `python -m course_tools skips`):\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_skips_its_demos(path):
    """Exercise-only grading has something to skip: the live demos at least."""
    nb = authoring.read_notebook(path)
    skipped = [c for c in nb.cells if set(authoring.SKIP_WHEN_GRADING) & set(authoring.tags(c))]
    shows = [c for c in nb.cells if c.cell_type == "code" and ".show()" in authoring._source(c)]
    assert shows and all(c in skipped for c in shows)


def test_names_follow_python_scopes():
    defined, read = skips.names(
        "%matplotlib widget\n"
        "x = 1\nprint(x)\ny += 2\n"
        "def f(a, b=default):\n    local = a + env.step(z)\n    return local\n"
        "[q for q in data if q > lim]\n"
        "lam = lambda s: s * scale\n"
        "class C:\n    k = K0\n"
        "def g():\n    n = 0\n    n += 1\n    return n\n")
    assert defined == {"x", "y", "f", "lam", "C", "g"}
    # (the magic becomes a get_ipython() call)
    assert read == {"get_ipython", "y", "default", "env", "z", "data", "lim", "scale", "K0"}
    assert "n" not in read  # a function's own augmented local
    assert "a" not in read and "local" not in read and "q" not in read and "x" not in read


def _toy() -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell("import numpy as np"),
             nbformat.v4.new_code_cell("data = np.arange(3)"),               # read by the answer
             nbformat.v4.new_code_cell("scale = 2.0\nplot_me = data * scale"),  # a demo
             nbformat.v4.new_code_cell("def answer(x):\n    return x + data.sum()"),
             nbformat.v4.new_code_cell("checks.answer()"),
             nbformat.v4.new_code_cell("model = train(answer)  # slow"),
             nbformat.v4.new_code_cell("demo = Demo(model)\ndemo.show()")]
    cells[3].metadata["tags"] = ["solution:9.1"]
    cells[4].metadata["tags"] = ["exercise:9.1", "points:1"]
    return nbformat.v4.new_notebook(cells=cells)


def test_the_plan_keeps_what_an_answer_reads_and_skips_the_rest():
    assert skips.plan(_toy()) == {0: None, 1: None, 2: "demo", 3: None, 4: None, 5: "training", 6: "demo"}


def test_a_stale_or_wrong_tag_is_reported_and_update_fixes_it(tmp_path):
    nb = _toy()
    assert len(skips.problems(nb)) == 3  # nothing tagged yet
    nb.cells[1].metadata["tags"] = ["training"]  # would hide `data` from the answer
    assert any("cell 1: tagged 'training'" in p for p in skips.problems(nb))
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, str(path))
    assert skips.update(path) and not skips.update(path)
    fixed = authoring.read_notebook(path)
    assert skips.problems(fixed) == []
    assert authoring.tags(fixed.cells[1]) == [] and authoring.tags(fixed.cells[5]) == ["training"]


def test_an_author_can_keep_a_cell():
    nb = _toy()
    nb.cells[5].metadata["tags"] = [skips.KEEP_TAG]
    plan = skips.plan(nb)
    assert plan[5] is None and plan[6] == "demo"
