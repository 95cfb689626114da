"""Each instructor notebook has a reviewable percent script beside it, and the two agree."""

from __future__ import annotations

import nbformat

from course_tools import sources
from tests.conftest import NOTEBOOKS


def test_every_notebook_and_its_script_are_in_step():
    assert NOTEBOOKS, "no notebooks found"
    assert sources.stale() == [], "run `python -m course_tools sources`"


def test_a_script_rebuilds_its_notebook_cell_for_cell():
    for path in NOTEBOOKS:
        nb = nbformat.read(str(path), as_version=4)
        back = sources.from_script(path.with_suffix(".py").read_text(), like=nb)
        assert [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in back.cells] == [
            (c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells], path.name
        assert [c.get("id") for c in back.cells] == [c.get("id") for c in nb.cells]


def test_an_edit_to_a_script_reaches_the_notebook(tmp_path):
    nb = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    text = sources.to_script(nb).replace("# ## Setup", "# ## Setting up", 1)
    back = sources.from_script(text, like=nb)
    assert any(c.source.startswith("## Setting up") for c in back.cells)
    assert sum(a.get("id") != b.get("id") for a, b in zip(back.cells, nb.cells, strict=True)) == 1
