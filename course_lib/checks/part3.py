"""Checks for 03_dyna_mve_mbpo: Dyna-Q planning, the mixed batch, the MVE target, the SAC soft
target and MBPO's branched rollouts."""

from __future__ import annotations

import numpy as np

from course_lib import dyna
from course_lib.checks._core import Checker, exercise


def _q_case(rng: np.random.Generator, n_states: int = 6) -> np.ndarray:
    return rng.normal(size=(n_states, 4))


@exercise("3.1", "dyna_q_planning_update")
def dyna_q_planning_update(ck: Checker) -> None:
    """``dyna_q_planning_update(Q (S, A), model_next (S, A), model_reward (S, A), pairs (M, 2), n,
    alpha, gamma, rng) -> Q (S, A)``: n sequential Q-learning updates on replayed transitions."""
    rng = np.random.default_rng(31)
    hint_target = "the target is r + gamma * max over a' of Q[s', a'], with (s', r) from the model tables."
    # exact cases: a single observed pair, so the draws do not matter
    Q0 = _q_case(rng)
    nxt = rng.integers(0, 6, size=(6, 4))
    rew = rng.normal(size=(6, 4))
    single = {
        "one observed pair, one update": (Q0, nxt, rew, np.array([[2, 1]]), 1, 0.1, 0.95),
        "one observed pair, 6 updates in a row (each sees the last)":
            (Q0, nxt, rew, np.array([[4, 3]]), 6, 0.5, 0.9),
        "n = 0: no planning, Q unchanged": (Q0, nxt, rew, np.array([[2, 1], [0, 0]]), 0, 0.1, 0.95),
    }
    # a self-loop makes sequential and all-at-once updates differ
    loop_next, loop_q, loop_rew = nxt.copy(), Q0.copy(), rew.copy()
    loop_next[4, 3], loop_q[4], loop_rew[4, 3] = 4, [0.0, 0.2, 0.1, 1.0], 1.0
    single["a self-loop (s' = s), 6 updates in a row"] = (loop_q, loop_next, loop_rew, np.array([[4, 3]]),
                                                           6, 0.5, 0.9)
    hint_pairs = ("draw (s, a) only from `pairs` (rows of observed state-action pairs), uniformly, "
                  "e.g. pairs[rng.integers(len(pairs))]; other entries must stay as they were.")
    for case, args in single.items():
        got = ck.call(*args, np.random.default_rng(0), case=case)
        want = dyna.planning_updates(args[0].copy(), *args[1:], np.random.default_rng(0))
        arr = np.asarray(got, dtype=float) if isinstance(got, np.ndarray) else None
        if arr is not None and arr.shape == want.shape:
            untouched = np.ones(want.shape, dtype=bool)
            untouched[tuple(args[3].T)] = False
            ck.true(np.array_equal(arr[untouched], args[0][untouched]), case=case,
                    problem="entries of Q that are not in `pairs` changed.", hint=hint_pairs)
        ck.close(got, want, case=case, atol=1e-9, tensor=False,
                 hint=hint_target + " Update Q in place, one update after the other, and return Q.")
    # a chain 0 -> 1 -> 2 (terminal, Q = 0): many random draws must converge to r, gamma r
    Q = np.zeros((3, 4))
    chain_next = np.array([[0, 1, 0, 0], [1, 1, 2, 1], [2, 2, 2, 2]])
    chain_rew = np.zeros((3, 4))
    chain_rew[1, 2] = 1.0
    pairs = np.array([[0, 1], [1, 2]])
    case = "a two-step chain, 3000 updates drawn from 2 observed pairs"
    got = ck.call(Q, chain_next, chain_rew, pairs, 3000, 0.2, 0.9, np.random.default_rng(5), case=case)
    want = np.zeros((3, 4))
    want[1, 2], want[0, 1] = 1.0, 0.9
    ck.close(got, want, case=case, atol=1e-3, tensor=False, hint=hint_pairs)
