"""Record in the kernel, judge elsewhere: the pieces, without running a notebook (fast).

The codec reads every record as hostile data: classes, malformed arrays, huge integers, deep
nesting, unhashable keys, lone surrogates and oversized records are refused (or cleaned), never
executed and never allowed to crash the grader.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from course_tools.grading import codec, judge, record, sandbox
from course_tools.grading import hidden as hid
from course_tools.references import welcome as ref


def _round_trip(value):
    return codec.decode(codec.load_record(pickle.dumps({"v": record.encode(value)}))["v"])


@pytest.mark.parametrize("value", [
    None, True, 3, 2.5, "text", b"raw", 1 + 2j,
    np.arange(6.0).reshape(2, 3), np.array([True, False]), np.float32(1.5), np.int64(7),
    torch.arange(4, dtype=torch.float64), torch.ones(2, 2, dtype=torch.bfloat16),
    (np.zeros(3), [1, 2, (3.0,)]), {"a": torch.zeros(1), 2: "b"},
])
def test_plain_data_round_trips(value):
    back = _round_trip(value)
    assert type(back) is type(value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        assert back.dtype == value.dtype and tuple(back.shape) == tuple(value.shape)
        assert (back == value).all()
    elif not isinstance(value, (tuple, dict)):
        assert back == value


def test_tensor_autograd_flags_survive():
    x = torch.ones(3, requires_grad=True)
    back = codec.decode(record.encode(x * 2))
    assert back.requires_grad and back.grad_fn is not None
    assert codec.decode(record.encode(x)).is_leaf


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("data", [
    pickle.dumps({"run": _Evil()}), pickle.dumps(np.zeros(3)), b"not a pickle", b"",
    pickle.dumps([1, 2]), b"(" * 100_000 + b".",
])
def test_hostile_record_bytes_are_rejected_without_running_anything(data):
    with pytest.raises(codec.BadRecord):
        codec.load_record(data)


@pytest.mark.parametrize("bad", [
    ("nd", "|O", (2,), b"\0" * 16), ("nd", "<f8", (3,), b"\0" * 16), ("nd", "<f8", (-1,), b""),
    ("pt", "float64", (2,), "<f8", b"\0" * 8, False, False), ("weird",), ("tuple", "notalist"),
    2**200, ("dict", [(("list", [1]), 2)]), ("list",) * 3, ("struct", "os", []),
    ("nd", "<f8", (2**40,), b""),
])
def test_malformed_values_are_refused(bad):
    with pytest.raises(codec.BadRecord):
        codec.decode(bad)


def test_deep_nesting_and_size_have_a_budget():
    deep = 1
    for _ in range(200):
        deep = ("list", [deep])
    with pytest.raises(codec.BadRecord, match="nested too deeply"):
        codec.decode(deep)
    many = ("list", [0] * 1000)
    with pytest.raises(codec.BadRecord, match="too large"):
        codec.decode(many, codec.Budget(max_items=100))
    with pytest.raises(codec.BadRecord, match="too large"):
        codec.decode(("nd", "<f8", (1000,), b"\0" * 8000), codec.Budget(max_bytes=1000))


def test_lone_surrogates_and_control_characters_are_cleaned():
    text = codec.decode("bad \udcff and \x1b[31m red")
    text.encode("utf-8")  # never raises
    assert "\x1b" not in text
    assert codec.clean_text("x" * 5000, 100).endswith("[...]")


def test_the_cell_report_keeps_only_well_formed_lines():
    lines = [b'{"cell_num": 1, "grader_id": null, "outcome": "failed", '
             b'"error": {"ename": "E", "evalue": "v"}}',
             b'{"cell_num": 99999999999, "outcome": "passed"}', b"[" * 100_000, b'{"cell_num": 1e400}',
             b'{"cell_num": 2, "grader_id": ["x"], "outcome": "passed", "error": null}',
             b'{"cell_num": 3, "grader_id": "ab", "outcome": "skipped", "error": null}',
             ("\udcff".encode("utf-8", "surrogatepass")), b"1" * 5000]
    got = codec.read_cell_report(b"\n".join(lines))
    assert [c["cell_num"] for c in got] == [1, 3]


def _record(monkeypatch, tmp_path, ex_id, name, fn):
    monkeypatch.setattr(sys.modules["__main__"], name, fn, raising=False)
    path = tmp_path / f"rec-{ex_id}.pkl"
    try:
        record.produce(ex_id, str(path))
    except AssertionError:
        pass
    return path.read_bytes()


def test_the_judge_passes_a_right_answer_and_fails_a_forged_or_wrong_one(monkeypatch, tmp_path):
    good = _record(monkeypatch, tmp_path, "0.1", "discounted_return", ref.discounted_return)
    [verdict] = judge.judge("0.1", good, None, None, 0, None)
    assert verdict["passed"] and verdict["cases_passed"] == verdict["cases_total"] == 5
    wrong = _record(monkeypatch, tmp_path, "0.1", "discounted_return", lambda r, g: r.sum(axis=1))
    [verdict] = judge.judge("0.1", wrong, None, None, 0, None)
    assert not verdict["passed"] and "largest difference" in verdict["message"]
    assert verdict["cases_passed"] == 0 and verdict["status"] == "failed"
    forged = pickle.dumps({"exercise": "0.1", "kind": "visible",
                           "run": {"fn": ("callable",), "calls": [], "end": "finished"}})
    assert not judge.judge("0.1", forged, None, None, 0, None)[0]["passed"]
    rec = codec.load_record(good)
    rec["run"]["calls"] = rec["run"]["calls"][:2]
    rec["run"]["end"] = "interrupted"
    [verdict] = judge.judge("0.1", pickle.dumps(rec), None, None, 0, None, cell_timeout=7)
    assert not verdict["passed"] and "cell time limit (7 s)" in verdict["message"]
    other = pickle.dumps({**codec.load_record(good), "exercise": "0.2"})
    assert "not this check's" in judge.judge("0.1", other, None, None, 0, None)[0]["message"]


def test_stub_missing_and_not_a_function_keep_their_messages(monkeypatch, tmp_path):
    def stub(*a, **k):
        raise NotImplementedError("Exercise 0.2: your code here")

    rec = _record(monkeypatch, tmp_path, "0.2", "rollout", stub)
    assert "not done yet" in judge.judge("0.2", rec, None, None, 0, None)[0]["message"]
    rec = _record(monkeypatch, tmp_path, "0.2", "rollout", 42)
    assert "should be a function" in judge.judge("0.2", rec, None, None, 0, None)[0]["message"]
    monkeypatch.delattr(sys.modules["__main__"], "rollout", raising=False)
    path = tmp_path / "missing.pkl"
    with pytest.raises(AssertionError):
        record.produce("0.2", str(path))
    message = judge.judge("0.2", path.read_bytes(), None, None, 0, None)[0]["message"]
    assert "no `rollout` is defined" in message


def test_hidden_checks_are_planned_from_the_seed_and_judged(monkeypatch, tmp_path):
    hidden = str(hid.DEFAULT_DIR)
    plan = hid.plan(hidden, 123, ["0.1", "0.2"])
    again = hid.plan(hidden, 123, ["0.1", "0.2"])
    assert set(plan) == {"0.1", "0.2"}
    assert [p["fingerprints"] for p in plan.values()] == [p["fingerprints"] for p in again.values()]
    assert plan["0.1"]["fingerprints"] != hid.plan(hidden, 124, ["0.1"])["0.1"]["fingerprints"]
    assert all(n > 0 for n in plan["0.2"]["cases"])
    args = tmp_path / "args.pkl"
    args.write_bytes(plan["0.2"]["args"])
    visible = _record(monkeypatch, tmp_path, "0.2", "rollout", ref.rollout)
    record.produce_hidden("0.2", str(tmp_path / "hidden.pkl"), str(args))
    hidden_rec = (tmp_path / "hidden.pkl").read_bytes()
    verdicts = judge.judge("0.2", visible, hidden_rec, plan["0.2"], 123, hidden)
    assert [v["kind"] for v in verdicts] == ["visible", "hidden"] and all(v["passed"] for v in verdicts)
    assert verdicts[1]["cases_passed"] == verdicts[1]["cases_total"] > 0
    # the same record judged with another seed's inputs cannot pass
    other = hid.plan(hidden, 7, ["0.2"])["0.2"]
    failed = judge.judge("0.2", visible, hidden_rec, other, 7, hidden)[1]
    assert not failed["passed"] and "seed" not in failed["message"]


def test_judge_server_forks_clean_and_survives_a_crash():
    with judge.JudgePool(1) as pool:
        assert pool.call("plan", {"hidden_dir": None, "seed": 0, "exercise_ids": ["0.1"]}, 60) == {}
        with pytest.raises(judge.JudgeError):
            pool.call("judge_many", {"requests": [{"bad": 1}]}, 60)
        assert pool.call("plan", {"hidden_dir": None, "seed": 0, "exercise_ids": []}, 60) == {}


def test_a_judge_child_has_memory_and_time_limits():
    code = ("from course_tools.grading import judge\nimport resource\njudge._limit_child(3)\n"
            "print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20,"
            " resource.getrlimit(resource.RLIMIT_CPU)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(judge.JUDGE_MEMORY_MB), "8"]


def test_isolation_is_described_honestly():
    assert "NOT isolated" in sandbox.Isolation("none", "macOS").describe()
    assert "NO process-count limit" in sandbox.Isolation("userns", "not root").describe()
    assert sandbox.probe().mode in ("root", "userns", "none")


def test_a_batch_round_trips_and_an_empty_output_buffer_is_refilled_in_the_judge():
    from course_lib.buffers import Batch, ReplayBuffer

    fields = ("obs", "act", "rew", "next_obs", "done")
    batch = Batch(torch.randn(4, 3), torch.randn(4, 1), torch.randn(4), torch.randn(4, 3), torch.zeros(4))
    back = _round_trip(batch)
    assert type(back) is Batch
    assert all(torch.equal(getattr(back, f), getattr(batch, f)) for f in fields)

    def fill(source, out):  # a student's function that writes into the empty buffer it is given
        out.add(*(getattr(source, f) for f in fields))
        return len(out)

    calls: list = []
    full = ReplayBuffer(10, 3, 1)
    full.add(batch.obs, batch.act, batch.rew, batch.next_obs, batch.done)
    assert record.Recorder(fill, calls, record._Size(10**9))(batch, ReplayBuffer(10, 3, 1)) == 4
    judge_out, judge_in = ReplayBuffer(10, 3, 1), ReplayBuffer(10, 3, 1)
    judge_in.add(batch.obs[:1], batch.act[:1], batch.rew[:1], batch.next_obs[:1], batch.done[:1])
    calls = codec.load_record(pickle.dumps({"calls": calls}))["calls"]
    replay = judge.Replayer(calls, codec.Budget())
    assert replay(batch, judge_out) == 4 and torch.equal(judge_out.all().obs, batch.obs)
    # a record can never overwrite a buffer that is not empty in the judge (an input)
    judge.Replayer(calls, codec.Budget())(batch, judge_in)
    assert len(judge_in) == 1 and len(full) == 4


def test_results_too_large_to_record_are_not_comparable():
    calls: list = []
    rec = record.Recorder(lambda: np.zeros(1000), calls, record._Size(100))
    rec()
    assert calls[0][0] == "return" and calls[0][1][0] == "opaque"
    assert isinstance(codec.decode(calls[0][1]), codec.Unrecorded)
