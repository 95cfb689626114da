"""Every exercise has hidden checks, and they catch what the visible check cannot.

* each exercise registers at least one hidden check in ``course_tools/hidden``;
* the reference passes every hidden check, for several grading seeds;
* an answer **hard-coded for the visible cases** (it returns the reference's answer on every
  input the visible check uses, and a memorised answer otherwise) passes the visible check and
  fails every hidden check of its exercise;
* hidden inputs change with the seed, and the argument lists the grader sends to a student's
  kernel unpickle with the handout alone (no instructor module named in them).
"""

from __future__ import annotations

import contextlib
import copy
import io
import pickle
import pickletools

import pytest

from course_lib import checks
from course_lib.checks._core import Checker, CheckFailed
from course_tools import references
from course_tools.grading import codec, default_hidden_dir, record
from course_tools.grading import hidden as gr
from course_tools.grading.record import GlobalRngs as _GlobalRngs

IDS = sorted(checks.EXERCISES)
SEEDS = [0, 1, 12345]


@pytest.fixture(scope="module")
def hidden():
    return gr.load_hidden(default_hidden_dir())


def _run_hidden(spec, hs, fn, seed) -> None:
    ck = gr.HiddenChecker(spec.id, spec.name, fn, seed)
    with contextlib.redirect_stdout(io.StringIO()), _GlobalRngs():
        hs.body(ck)


def _copy(x):
    """A deep copy; a tensor with a graph (a loss) becomes a fresh non-leaf that requires grad."""
    if getattr(x, "grad_fn", None) is not None:
        return x.detach().clone().requires_grad_(True).clone()
    return copy.deepcopy(x)


def _hardcoded(ex_id):
    """A function right on exactly the visible check's inputs, and memorised everywhere else."""
    from course_lib.checks._recordable import CONTAINERS

    spec = checks.EXERCISES[ex_id]
    ref = references.get(ex_id)
    memo: dict[str, object] = {}

    def recording(*args, **kwargs):
        # fingerprint before the call: a reference may change its arguments in place (3.1)
        key, outputs = codec.fingerprint(args, kwargs), record.empty_containers(args, kwargs)
        out = ref(*args, **kwargs)
        filled = [(k, tag, CONTAINERS[tag].dump(c)) for k, tag, c in outputs]
        memo.setdefault(key, (_copy(out), filled))
        return out

    with contextlib.redirect_stdout(io.StringIO()), _GlobalRngs():
        spec.body(Checker(spec.id, spec.name, recording))
    fallback = next(iter(memo.values()))

    def hardcoded(*args, **kwargs):
        out, filled = memo.get(codec.fingerprint(args, kwargs), fallback)
        outputs = {k: c for k, _tag, c in record.empty_containers(args, kwargs)}  # filled by 3.5
        for k, tag, dumped in filled:
            if k in outputs:
                CONTAINERS[tag].fill(outputs[k], dumped)
        return _copy(out)

    return hardcoded


def test_every_exercise_has_a_hidden_check(hidden):
    missing = [ex_id for ex_id in IDS if not hidden.get(ex_id)]
    assert not missing, f"exercises without hidden checks: {missing}"
    unknown = sorted(set(hidden) - set(IDS))
    assert not unknown, f"hidden checks of unknown exercises: {unknown}"


@pytest.mark.parametrize("ex_id", IDS)
def test_the_reference_passes_every_hidden_check(ex_id, hidden):
    spec = checks.EXERCISES[ex_id]
    for hs in hidden.get(ex_id, []):
        for seed in SEEDS:
            _run_hidden(spec, hs, references.get(ex_id), seed)


@pytest.mark.parametrize("ex_id", IDS)
def test_an_answer_hardcoded_for_the_visible_cases_fails_every_hidden_check(ex_id, hidden):
    spec = checks.EXERCISES[ex_id]
    fake = _hardcoded(ex_id)
    with contextlib.redirect_stdout(io.StringIO()), _GlobalRngs():
        spec.body(Checker(spec.id, spec.name, fake))  # it does fool the visible check
    assert hidden.get(ex_id), f"exercise {ex_id} has no hidden check"
    for hs in hidden[ex_id]:
        for seed in SEEDS:
            with pytest.raises(CheckFailed):
                _run_hidden(spec, hs, fake, seed)


@pytest.mark.parametrize("ex_id", IDS)
def test_hidden_inputs_depend_on_the_seed_and_need_only_the_handout(ex_id, hidden):
    if not hidden.get(ex_id):
        pytest.fail(f"exercise {ex_id} has no hidden check")
    plans = {seed: gr.plan(str(default_hidden_dir()), seed, [ex_id])[ex_id] for seed in SEEDS}
    assert plans[0]["fingerprints"] != plans[1]["fingerprints"]
    for plan in plans.values():
        modules = {arg.split(" ")[0] for op, arg, _ in pickletools.genops(plan["args"])
                   if op.name in ("GLOBAL", "STACK_GLOBAL") and isinstance(arg, str)}
        modules |= {arg for op, arg, _ in pickletools.genops(plan["args"])
                    if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE") and isinstance(arg, str)
                    and arg.startswith("course_")}
        assert not any(m.startswith("course_tools") for m in modules), modules
        pickle.loads(plan["args"])
