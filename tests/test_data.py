"""course_lib/data: what it stores round-trips, and it is in step with the references and notebooks.

* every visible check's saved answers equal what the reference computes today;
* every ``precomputed.run_or_load(key, ...)`` of a notebook has its data file, and no data file
  is left over from a key no notebook uses;
* ``run_or_load`` runs the student's code, falls back (with its one-line notice) only on a
  stub, and saves what it computed when the instructor's data build asks it to.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from course_lib import checks, datafiles, precomputed
from course_tools import data
from tests.conftest import NOTEBOOKS


def _same(a, b, path="") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.allclose(a.double(), b.double(), rtol=1e-9, atol=1e-12, equal_nan=True), path
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, path
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            _same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif dataclasses.is_dataclass(a):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, float):
        assert isinstance(b, float) and (a == b or np.isclose(a, b, rtol=1e-9) or (a != a and b != b)), path
    else:
        assert a == b, path


@pytest.mark.parametrize("ex_id", sorted(checks.EXERCISES))
def test_saved_answers_match_the_references(ex_id):
    fresh = data.compute_answers(ex_id)
    path = datafiles.DATA / "answers" / f"{ex_id}.json"
    if not fresh:
        assert not path.exists(), f"{path.name} is left over: the check asks for no answers"
        return
    assert path.exists(), f"run `python -m course_tools data --answers-only --ids {ex_id}`"
    _same(fresh, datafiles.load(f"answers/{ex_id}.json"), ex_id)


def test_every_precomputed_key_has_its_data_and_nothing_is_left_over():
    used = {key for nb in NOTEBOOKS for key in data.precomputed_keys(nb)}
    stored = {p.stem for p in (datafiles.DATA / "precomputed").glob("*.json")}
    assert used <= stored, f"missing (run `python -m course_tools data`): {sorted(used - stored)}"
    assert stored <= used, f"left over: {sorted(stored - used)}"
    for key in used:
        precomputed.load(key)


@dataclasses.dataclass
class _NotCourseData:
    x: int = 1


@pytest.mark.parametrize("value", [
    {"a": np.arange(6.0).reshape(2, 3), "b": [1, 2.5, "x", None, True]},
    (torch.arange(4, dtype=torch.float32), np.float64(np.inf), np.int64(3)),
    {0.9: np.zeros(0), (1, 2): torch.ones(2, 2, dtype=torch.bfloat16)},
])
def test_data_files_round_trip(value, tmp_path):
    datafiles.save(tmp_path / "x.json", value)
    back = datafiles.loads((tmp_path / "x.json").read_text())
    if isinstance(value, tuple):
        assert isinstance(back, tuple) and torch.equal(back[0], value[0]) and back[1] == np.inf
    else:
        assert list(back) == list(value)


def test_zero_dimensional_arrays_keep_their_shape():
    assert datafiles.loads(datafiles.dumps(np.array(3.0))).shape == ()
    assert datafiles.loads(datafiles.dumps(torch.tensor(2.5))).shape == torch.Size([])


def test_data_files_refuse_what_is_not_plain_data(tmp_path):
    with pytest.raises(TypeError):
        datafiles.save(tmp_path / "x.json", torch.nn.Linear(2, 2))
    with pytest.raises(TypeError):
        datafiles.save(tmp_path / "x.json", _NotCourseData())
    with pytest.raises(ValueError):
        datafiles.decode({"__course_data__": "dataclass", "class": "os:system", "fields": {}})


def test_run_or_load_runs_the_students_code_and_falls_back_only_on_a_stub(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(datafiles, "DATA", tmp_path)
    datafiles.save(tmp_path / "precomputed" / "k.json", {"value": 1.0})
    assert precomputed.run_or_load("k", lambda: {"value": 2.0}) == {"value": 2.0}
    assert capsys.readouterr().out == ""

    def stub():
        raise NotImplementedError("Exercise 0.1: your code here")

    assert precomputed.run_or_load("k", stub) == {"value": 1.0}
    line = capsys.readouterr().out
    assert line.startswith("Showing precomputed results: finish Exercise 0.1 (`discounted_return`)")

    def not_a_stub():
        raise NotImplementedError("this torch op is missing")

    with pytest.raises(NotImplementedError):
        precomputed.run_or_load("k", not_a_stub)
    with pytest.raises(ZeroDivisionError):
        precomputed.run_or_load("k", lambda: 1 / 0)


def test_run_or_load_saves_for_the_data_build(monkeypatch, tmp_path):
    monkeypatch.setenv(precomputed.RECORD_ENV, str(tmp_path))
    precomputed.run_or_load("saved", lambda: {"x": np.arange(3)})
    assert np.array_equal(datafiles.loads((tmp_path / "saved.json").read_text())["x"], np.arange(3))
