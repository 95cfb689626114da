"""The MVE target: exact small cases, and its error with exact and wrong models."""

from __future__ import annotations

import pytest
import torch

from course_lib import mve


def _model(s, a):
    return s + a, 2.0 * s[:, 0]


def _policy(s):
    return torch.ones(s.shape[0], 1)


def _q(s, a):
    return 10.0 * s[:, 0] + a[:, 0]


def test_mve_target_by_hand():
    r0, s1 = torch.tensor([1.0]), torch.tensor([[0.5]])
    g = 0.9
    one_step = mve.mve_target(r0, s1, _model, _policy, _q, g, 1)
    assert torch.allclose(one_step, torch.tensor([1.0 + g * (5.0 + 1.0)]))
    # H = 3: model rewards 2*0.5 at s^1 and 2*1.5 at s^2, bootstrap at s^3 = 2.5
    three = mve.mve_target(r0, s1, _model, _policy, _q, g, 3)
    assert torch.allclose(three, torch.tensor([1.0 + g * 1.0 + g**2 * 3.0 + g**3 * (25.0 + 1.0)]))
    with pytest.raises(ValueError, match="horizon"):
        mve.mve_target(r0, s1, _model, _policy, _q, g, 0)


@pytest.fixture(scope="module")
def errors():
    return mve.target_error_stats([0.0, 0.1, 0.3], h_max=15, n_states=128)


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
