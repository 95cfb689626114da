"""The math test: open loop <= MPC <= closed loop, solved exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from course_lib import information


def test_default_math_test_values_are_exact():
    values = information.compare(information.math_test())
    # open loop: skip and guess the pop quiz: 0.3 * (2/4 - 3/4); MPC answers a pop quiz right: 0.3 * 2
    assert values == pytest.approx({"open loop": -0.075, "MPC (replanning)": 0.6, "closed loop": 2.0})
    _, ol_plan = information.open_loop_value(information.math_test())
    assert ol_plan[0] == 0  # open loop skips the test


@pytest.mark.parametrize("pop_quiz, k", list(itertools.product([0.0, 0.3, 0.7, 1.0], [1, 2, 4, 10])))
def test_mpc_sits_between_open_and_closed_loop(pop_quiz, k):
    v = information.compare(information.math_test(k, pop_quiz=pop_quiz))
    assert v["open loop"] <= v["MPC (replanning)"] + 1e-12 <= v["closed loop"] + 2e-12
    if k == 1:  # one possible question: nothing to learn, all three agree
        assert v["open loop"] == pytest.approx(v["closed loop"])


def test_deterministic_mdp_open_loop_equals_closed_loop():
    rng = np.random.default_rng(0)
    n_s, n_a = 4, 3
    P = np.zeros((n_s, n_a, n_s))
    P[np.arange(n_s)[:, None], np.arange(n_a)[None], rng.integers(0, n_s, (n_s, n_a))] = 1.0
    mdp = information.FiniteMDP(P, rng.normal(size=(n_s, n_a)), 3, 0, tuple("abcd"), tuple("xyz"))
    v = information.compare(mdp)
    assert v["open loop"] == pytest.approx(v["closed loop"]) == pytest.approx(v["MPC (replanning)"])


def test_math_test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_questions"):
        information.math_test(0)
    with pytest.raises(ValueError, match="pop_quiz"):
        information.math_test(3, pop_quiz=1.5)
