"""Exercise-only grading: the cells tagged ``demo`` or ``training`` are skipped, and a submission
that skipping broke is rerun in full, so skipping never costs a student a point."""

from __future__ import annotations

import nbformat
import pytest

from course_tools import authoring, grading
from tests.conftest import ROOT

REFERENCE = ROOT / "notebooks" / "00_welcome.ipynb"
pytestmark = pytest.mark.slow


def _cell(nb, tag):
    return next(c for c in nb.cells if tag in c.get("metadata", {}).get("tags", []))


def _tagged(nb):
    """The welcome notebook with a slow 'training' cell (it defines ``SCALE``) tagged to skip."""
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    slow = nbformat.v4.new_code_cell("import time\ntime.sleep(8)\nSCALE = 1.0")
    slow.metadata["tags"] = ["training"]
    nb.cells.insert(first + 1, slow)
    return nb


def test_demo_and_training_tags_are_known_to_the_validator():
    nb = authoring.read_notebook(REFERENCE)
    _cell(nb, "solution:0.1").metadata["tags"].append("demo")
    assert any("cannot be tagged" in p for p in authoring.validate(nb))


def test_skipped_cells_save_time_and_a_broken_skip_is_rerun_in_full(tmp_path):
    ref = _tagged(authoring.read_notebook(REFERENCE))
    ref_path = tmp_path / "ref.ipynb"
    nbformat.write(ref, str(ref_path))
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(ref, str(subs / "fast.ipynb"))
    needs = nbformat.from_dict(ref)  # its answer uses a name only the skipped cell defines
    _cell(needs, "solution:0.1").source = ("def discounted_return(rewards, gamma):\n"
                                           "    weights = gamma ** np.arange(rewards.shape[1])\n"
                                           "    return SCALE * (rewards @ weights)\n")
    nbformat.write(needs, str(subs / "needs_training.ipynb"))
    by = {r.student: r for r in grading.grade(ref_path, [subs], tmp_path / "out", progress=False)}
    full = {r.student: r for r in grading.grade(ref_path, [subs / "fast.ipynb"], tmp_path / "out_full",
                                                progress=False, full=True)}
    assert by["fast"].total == 5 and by["fast"].mode == "exercise-only"
    assert by["needs_training"].total == 5 and by["needs_training"].mode.startswith("full (rerun")
    assert full["fast"].total == 5 and full["fast"].mode == "full"
    assert by["fast"].seconds < full["fast"].seconds - 5  # the 8 s cell was skipped
