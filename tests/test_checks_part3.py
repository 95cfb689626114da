"""Checks of 03_dyna_mve_mbpo: the right answer passes, each wrong answer fails with a clear message."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import checks, dyna

# -- 3.1 Dyna-Q planning ------------------------------------------------------------------------


def _mean_bootstrap(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    for _ in range(n):
        s, a = pairs[rng.integers(len(pairs))]
        target = model_reward[s, a] + gamma * Q[model_next[s, a]].mean()
        Q[s, a] += alpha * (target - Q[s, a])
    return Q


def _all_at_once(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    Q0 = Q.copy()
    for _ in range(n):
        s, a = pairs[rng.integers(len(pairs))]
        Q[s, a] += alpha * (model_reward[s, a] + gamma * Q0[model_next[s, a]].max() - Q[s, a])
    return Q


def _any_pair(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    for _ in range(n):
        s, a = rng.integers(Q.shape[0]), rng.integers(Q.shape[1])
        Q[s, a] += alpha * (model_reward[s, a] + gamma * Q[model_next[s, a]].max() - Q[s, a])
    return Q


def _no_discount(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    return dyna.planning_updates(Q, model_next, model_reward, pairs, n, alpha, 1.0, rng)


def _returns_nothing(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    dyna.planning_updates(Q, model_next, model_reward, pairs, n, alpha, gamma, rng)


# exercise id -> (a correct answer, wrong answers); tests/test_checks_all.py uses this table.
CASES = {
    "3.1": (dyna.planning_updates,
            [_mean_bootstrap, _all_at_once, _any_pair, _no_discount, _returns_nothing]),
}


@pytest.mark.parametrize("wrong, expected", [
    (_mean_bootstrap, "max over a'"),
    (_all_at_once, "one update after the other"),
    (_any_pair, "draw (s, a) only from `pairs`"),
])
def test_dyna_planning_messages_point_at_the_mistake(wrong, expected):
    with pytest.raises(checks.CheckFailed) as info:
        checks.dyna_q_planning_update(wrong)
    assert expected in str(info.value) and "Exercise 3.1" in str(info.value)


def test_dyna_planning_check_accepts_other_ways_to_draw_pairs(capsys):
    def with_choice(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
        for i in rng.choice(len(pairs), size=n):
            s, a = pairs[i]
            Q[s, a] += alpha * (model_reward[s, a] + gamma * np.max(Q[model_next[s, a]]) - Q[s, a])
        return Q

    checks.dyna_q_planning_update(with_choice)
    assert "passed" in capsys.readouterr().out
