"""Record in the kernel, judge elsewhere: the pieces, without running a notebook (fast)."""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest
import torch

from course_tools import grading, record, sandbox
from course_tools import replay as gr
from course_tools.references import welcome as ref


@pytest.mark.parametrize("value", [
    None, True, 3, 2.5, "text", b"raw", 1 + 2j,
    np.arange(6.0).reshape(2, 3), np.array([True, False]), np.float32(1.5), np.int64(7),
    torch.arange(4, dtype=torch.float64), torch.ones(2, 2, dtype=torch.bfloat16),
    (np.zeros(3), [1, 2, (3.0,)]), {"a": torch.zeros(1), 2: "b"},
])
def test_plain_data_round_trips(value):
    back = gr._decode(gr.load_record(pickle.dumps({"v": gr._encode(value)}))["v"])
    assert type(back) is type(value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        assert back.dtype == value.dtype and tuple(back.shape) == tuple(value.shape)
        assert (back == value).all()
    elif not isinstance(value, (tuple, dict)):
        assert back == value


def test_tensor_autograd_flags_survive():
    x = torch.ones(3, requires_grad=True)
    back = gr._decode(gr._encode(x * 2))
    assert back.requires_grad and back.grad_fn is not None
    assert gr._decode(gr._encode(x)).is_leaf


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("data", [
    pickle.dumps({"visible": _Evil()}), pickle.dumps(np.zeros(3)), b"not a pickle", b"",
    pickle.dumps([1, 2]),
])
def test_hostile_record_bytes_are_rejected_without_running_anything(data):
    with pytest.raises(ValueError):
        gr.load_record(data)


@pytest.mark.parametrize("bad", [
    ("nd", "|O", (2,), b"\0" * 16), ("nd", "<f8", (3,), b"\0" * 16), ("nd", "<f8", (-1,), b""),
    ("pt", "float64", (2,), "<f8", b"\0" * 8, False, False), ("weird",), ("tuple", "notalist"),
])
def test_malformed_arrays_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        gr._decode(bad)


def _record(monkeypatch, tmp_path, ex_id, name, fn, hidden_args=None):
    monkeypatch.setattr(sys.modules["__main__"], name, fn, raising=False)
    path = tmp_path / f"rec-{ex_id}.pkl"
    try:
        record.produce(ex_id, str(path), hidden_args)
    except AssertionError:
        pass
    return path.read_bytes()


def test_the_judge_passes_a_right_answer_and_fails_a_forged_or_wrong_one(monkeypatch, tmp_path):
    good = _record(monkeypatch, tmp_path, "0.1", "discounted_return", ref.discounted_return)
    assert gr.judge("0.1", good, None, 0, None) == [
        {"check": "discounted_return", "kind": "visible", "passed": True, "message": "passed"}]
    wrong = _record(monkeypatch, tmp_path, "0.1", "discounted_return", lambda r, g: r.sum(axis=1))
    [verdict] = gr.judge("0.1", wrong, None, 0, None)
    assert not verdict["passed"] and "largest difference" in verdict["message"]
    # a forged record that claims success without values, or with too few calls
    forged = pickle.dumps({"visible": {"fn": ("callable",), "calls": [], "end": "finished"}})
    assert not gr.judge("0.1", forged, None, 0, None)[0]["passed"]
    rec = gr.load_record(good)
    rec["visible"]["calls"] = rec["visible"]["calls"][:2]
    rec["visible"]["end"] = "interrupted"
    [verdict] = gr.judge("0.1", pickle.dumps(rec), None, 0, None, cell_timeout=7)
    assert not verdict["passed"] and "cell time limit (7 s)" in verdict["message"]


def test_stub_missing_and_not_a_function_keep_their_messages(monkeypatch, tmp_path):
    def stub(*a, **k):
        raise NotImplementedError("Exercise 0.2: your code here")

    rec = _record(monkeypatch, tmp_path, "0.2", "rollout", stub)
    assert "not done yet" in gr.judge("0.2", rec, None, 0, None)[0]["message"]
    rec = _record(monkeypatch, tmp_path, "0.2", "rollout", 42)
    assert "should be a function" in gr.judge("0.2", rec, None, 0, None)[0]["message"]
    monkeypatch.delattr(sys.modules["__main__"], "rollout", raising=False)
    path = tmp_path / "missing.pkl"
    with pytest.raises(AssertionError):
        record.produce("0.2", str(path))
    assert "no `rollout` is defined" in gr.judge("0.2", path.read_bytes(), None, 0, None)[0]["message"]


def test_hidden_checks_are_planned_from_the_seed_and_judged(monkeypatch, tmp_path):
    hidden = str(grading.default_hidden_dir())
    plan = gr.plan(hidden, 123, ["0.1", "0.2"])
    again = gr.plan(hidden, 123, ["0.1", "0.2"])
    assert set(plan) == {"0.1", "0.2"}
    assert [p["fingerprints"] for p in plan.values()] == [p["fingerprints"] for p in again.values()]
    assert plan["0.1"]["fingerprints"] != gr.plan(hidden, 124, ["0.1"])["0.1"]["fingerprints"]
    args = tmp_path / "args.pkl"
    args.write_bytes(plan["0.2"]["args"])
    rec = _record(monkeypatch, tmp_path, "0.2", "rollout", ref.rollout, str(args))
    verdicts = gr.judge("0.2", rec, plan["0.2"], 123, hidden)
    assert [v["kind"] for v in verdicts] == ["visible", "hidden"] and all(v["passed"] for v in verdicts)
    # the same record judged with another seed's inputs cannot pass
    other = gr.plan(hidden, 7, ["0.2"])["0.2"]
    assert not gr.judge("0.2", rec, other, 7, hidden)[1]["passed"]


def test_judge_server_forks_clean_and_survives_a_crash():
    with grading.JudgePool(1) as pool:
        assert pool.call("plan", {"hidden_dir": None, "seed": 0, "exercise_ids": ["0.1"]}, 60) == {}
        with pytest.raises(RuntimeError):
            pool.call("judge_many", {"requests": [{"bad": 1}]}, 60)
        assert pool.call("plan", {"hidden_dir": None, "seed": 0, "exercise_ids": []}, 60) == {}


def test_isolation_is_described_honestly():
    assert "NOT isolated" in sandbox.Isolation("none", "macOS").describe()
    assert "NO process-count limit" in sandbox.Isolation("userns", "not root").describe()
    assert sandbox.probe().mode in ("root", "userns", "none")


def test_a_batch_round_trips_and_an_empty_output_buffer_is_refilled_in_the_judge():
    from course_lib.buffers import Batch, ReplayBuffer

    batch = Batch(torch.randn(4, 3), torch.randn(4, 1), torch.randn(4), torch.randn(4, 3), torch.zeros(4))
    back = gr._decode(gr.load_record(pickle.dumps({"v": gr._encode(batch)}))["v"])
    assert type(back) is Batch
    assert all(torch.equal(getattr(back, f), getattr(batch, f)) for f in gr._BATCH_FIELDS)

    def fill(source, out):  # a student's function that writes into the empty buffer it is given
        out.add(*(getattr(source, f) for f in gr._BATCH_FIELDS))
        return len(out)

    calls: list = []
    full = ReplayBuffer(10, 3, 1)
    full.add(batch.obs, batch.act, batch.rew, batch.next_obs, batch.done)
    assert record._Recorder(fill, calls)(batch, ReplayBuffer(10, 3, 1)) == 4
    judge_out, judge_in = ReplayBuffer(10, 3, 1), ReplayBuffer(10, 3, 1)
    judge_in.add(batch.obs[:1], batch.act[:1], batch.rew[:1], batch.next_obs[:1], batch.done[:1])
    replay = gr._Replayer(gr.load_record(pickle.dumps({"calls": calls}))["calls"])
    assert replay(batch, judge_out) == 4 and torch.equal(judge_out.all().obs, batch.obs)
    # a record can never overwrite a buffer that is not empty in the judge (an input)
    replay = gr._Replayer(gr.load_record(pickle.dumps({"calls": calls}))["calls"])
    replay(batch, judge_in)
    assert len(judge_in) == 1 and len(full) == 4
