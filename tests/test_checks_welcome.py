"""Checks of 00_welcome: the right answer passes, each wrong answer fails with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import checks
from course_tools.references import welcome as ref


def _undiscounted(rewards, gamma):
    return rewards.sum(axis=1)


def _off_by_one(rewards, gamma):
    return rewards @ gamma ** np.arange(1, rewards.shape[1] + 1)


def _keeps_axis(rewards, gamma):
    return (rewards * gamma ** np.arange(rewards.shape[1])).sum(axis=1, keepdims=True)


def _nan(rewards, gamma):
    return np.full(rewards.shape[0], np.nan)


def _rollout(step, policy, state, T):
    return ref.rollout(step, policy, state, T)


def _no_start(step, policy, state, T):
    states, rewards = ref.rollout(step, policy, state, T)
    return states[:, 1:], rewards


def _reward_after_step(step, policy, state, T):
    states, rewards = [state], []
    for _ in range(T):
        state, _ = step(state, policy(state))
        states.append(state)
        rewards.append(step(state, policy(state))[1])
    return torch.stack(states, 1), torch.stack(rewards, 1) if rewards else torch.zeros(len(state), 0)


def _open_loop_first_action(step, policy, state, T):
    a0 = policy(state)
    return ref.rollout(step, lambda s: a0, state, T)


def _time_major(step, policy, state, T):
    states, rewards = ref.rollout(step, policy, state, T)
    return states.transpose(0, 1), rewards.transpose(0, 1)


def _crashes_on_no_steps(step, policy, state, T):
    states, rewards = [state], []
    for _ in range(T):
        state, r = step(state, policy(state))
        states.append(state)
        rewards.append(r)
    return torch.stack(states, 1), torch.stack(rewards, 1)


# exercise id -> (a correct answer, wrong answers); tests/test_checks_all.py uses this table.
CASES = {
    "0.1": (ref.discounted_return, [_undiscounted, _off_by_one, _keeps_axis, _nan]),
    "0.2": (_rollout, [_no_start, _reward_after_step, _open_loop_first_action, _time_major,
                       _crashes_on_no_steps]),
}


@pytest.mark.parametrize("wrong, expected", [
    (_undiscounted, "largest difference"),
    (_keeps_axis, "expected an output of shape (4,), got shape (4, 1)"),
    (_nan, "NaN or inf"),
])
def test_discounted_return_messages_say_what_is_wrong(wrong, expected):
    with pytest.raises(checks.CheckFailed) as info:
        checks.discounted_return(wrong)
    assert expected in str(info.value)
    assert "Exercise 0.1" in str(info.value)


def test_rollout_messages_name_the_output_and_the_rule():
    with pytest.raises(checks.CheckFailed, match=r"\(states\)[\s\S]*expected an output of shape"):
        checks.rollout(_no_start)
    with pytest.raises(checks.CheckFailed, match=r"T = 0[\s\S]*raised RuntimeError"):
        checks.rollout(_crashes_on_no_steps)
