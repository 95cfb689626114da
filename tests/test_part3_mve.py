"""The MVE target (Exercise 3.3's reference): exact small cases, and its error with exact and wrong
models as ``mve.target_error_stats`` measures it with a given target function."""

from __future__ import annotations

import pytest
import torch

from course_lib import envs, mve
from course_tools.references import part3 as ref


def _model(s, a):
    return s + a, 2.0 * s[:, 0]


def _policy(s):
    return torch.ones(s.shape[0], 1)


def _q(s, a):
    return 10.0 * s[:, 0] + a[:, 0]


def test_mve_target_by_hand():
    r0, s1 = torch.tensor([1.0]), torch.tensor([[0.5]])
    g = 0.9
    one_step = ref.mve_target(r0, s1, _model, _policy, _q, g, 1)
    assert torch.allclose(one_step, torch.tensor([1.0 + g * (5.0 + 1.0)]))
    # H = 3: model rewards 2*0.5 at s^1 and 2*1.5 at s^2, bootstrap at s^3 = 2.5
    three = ref.mve_target(r0, s1, _model, _policy, _q, g, 3)
    assert torch.allclose(three, torch.tensor([1.0 + g * 1.0 + g**2 * 3.0 + g**3 * (25.0 + 1.0)]))


@pytest.fixture(scope="module")
def errors():
    return mve.target_error_stats(ref.mve_target, [0.0, 0.1, 0.3], h_max=15, n_states=128)


def test_an_exact_model_gives_an_exact_target_at_every_horizon(errors):
    assert errors.model_mse[0].abs().max() < 1e-8
    assert torch.allclose(errors.rmse(0.5)[0], 0.5 * errors.gamma ** torch.arange(1.0, 16.0))


def test_model_error_grows_with_the_horizon_and_with_the_model_error(errors):
    rmse = errors.rmse(0.0)
    assert rmse[:, 0].abs().max() < 1e-8  # the one-step target never uses the model
    assert (rmse[2, 1:] > rmse[1, 1:]).float().mean() > 0.9
    assert rmse[2, 9] > 2 * rmse[2, 1]


def test_with_a_good_model_and_a_poor_critic_longer_horizons_win(errors):
    rmse = errors.rmse(0.5)
    assert rmse[1].argmin() > 3 and rmse[1, -1] < rmse[1, 0]
    assert errors.rmse(0.05)[2].argmin() == 0  # with a good critic and a poor model, H = 1 is best


def test_the_exact_critic_is_the_value_of_the_swing_policy():
    gen = torch.Generator().manual_seed(0)
    s = (torch.rand(64, 2, generator=gen, dtype=torch.float64) * 2 - 1) * torch.tensor([3.0, 4.0])
    q = mve.exact_q(0.9, 20)(s, mve.swing_policy(s))
    assert torch.allclose(q, mve.mc_value(s, 0.9, 20))
    other = -mve.swing_policy(s)  # another action: its reward, then the policy
    s_next, r = envs.pendulum_step(s, other)
    assert torch.allclose(mve.exact_q(0.9, 20)(s, other), r + 0.9 * mve.mc_value(s_next, 0.9, 19))


def test_the_stats_use_the_given_target_function():
    calls = []

    def one_step_only(r0, s1, model_step, policy, q_value, gamma, horizon):
        calls.append((horizon, r0.shape, s1.shape))
        return ref.mve_target(r0, s1, model_step, policy, q_value, gamma, 1)

    errors = mve.target_error_stats(one_step_only, [0.0, 0.2], h_max=4, n_states=16)
    assert [c[0] for c in calls] == [1, 2, 3, 4] and calls[0][1:] == ((32,), (32, 2))
    assert errors.model_mse.shape == (2, 4)
    # a "target" that never uses the model is wrong by the critic's truncation only for H > 1
    assert errors.model_mse[:, 0].abs().max() < 1e-8 and (errors.model_mse[:, 1:] > 0).all()
