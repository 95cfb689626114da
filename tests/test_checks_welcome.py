"""Checks of 00_welcome: the right answer passes, each wrong answer fails with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import checks, envs, returns


def _undiscounted(rewards, gamma):
    return rewards.sum(axis=1)


def _off_by_one(rewards, gamma):
    return rewards @ gamma ** np.arange(1, rewards.shape[1] + 1)


def _keeps_axis(rewards, gamma):
    return (rewards * gamma ** np.arange(rewards.shape[1])).sum(axis=1, keepdims=True)


def _nan(rewards, gamma):
    return np.full(rewards.shape[0], np.nan)


def _no_clip(state, action):
    th, thd = state[:, 0], state[:, 1]
    u = action[:, 0]
    r = -((torch.remainder(th + np.pi, 2 * np.pi) - np.pi) ** 2 + 0.1 * thd**2 + 0.001 * u**2)
    thd2 = thd + (15 * torch.sin(th) + 3 * u) * 0.05
    return torch.stack([th + thd2 * 0.05, thd2], 1), r


def _old_speed(state, action):
    nxt, r = envs.pendulum_step(state, action)
    return torch.stack([state[:, 0] + state[:, 1] * 0.05, nxt[:, 1]], 1), r


def _numpy_out(state, action):
    nxt, r = envs.pendulum_step(state, action)
    return nxt.numpy(), r.numpy()


# exercise id -> (a correct answer, wrong answers); tests/test_checks_all.py uses this table.
CASES = {
    "0.1": (returns.discounted_return, [_undiscounted, _off_by_one, _keeps_axis, _nan]),
    "0.2": (envs.pendulum_step, [_no_clip, _old_speed, _numpy_out]),
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


def test_pendulum_step_messages_name_the_output_and_the_rule():
    with pytest.raises(checks.CheckFailed, match=r"torques outside \[-2, 2\].*next_state"):
        checks.pendulum_step(_no_clip)
    with pytest.raises(checks.CheckFailed, match="expected a torch tensor"):
        checks.pendulum_step(_numpy_out)
