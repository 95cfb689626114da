"""Part 2, gradient estimators: exact small cases, unbiasedness, and the chaos that separates them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib import estimators
from course_lib.utils import torch_generator
from course_tools.references import part2 as ref

ESTIMATORS = (ref.likelihood_ratio_grad, ref.reparam_grad)


def test_estimators_match_hand_computed_values():
    eps = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
    mu, sigma = 0.5, 2.0
    x = mu + sigma * eps  # [-1.5, 0.5, 4.5]
    lr = ref.likelihood_ratio_grad(lambda z: z**2, mu, sigma, eps)
    torch.testing.assert_close(lr, x**2 * (x - mu) / sigma**2)
    pw = ref.reparam_grad(lambda z: z**2, mu, sigma, eps)
    torch.testing.assert_close(pw, 2 * x)
    assert not pw.requires_grad


@pytest.mark.parametrize("mu, sigma", [(0.4, 0.6), (-1.0, 1.5)])
def test_both_estimators_are_unbiased_for_a_gaussian(mu, sigma):
    eps = torch.randn(200_000, generator=torch_generator(0), dtype=torch.float64)
    exact = estimators.gaussian_sin_grad(mu, sigma)
    for g in (ref.likelihood_ratio_grad(torch.sin, mu, sigma, eps),
              ref.reparam_grad(torch.sin, mu, sigma, eps)):
        se = g.std().item() / math.sqrt(len(g))
        assert abs(g.mean().item() - exact) < 4 * se + 1e-12


def test_likelihood_ratio_variance_grows_as_sigma_shrinks():
    eps = torch.randn(50_000, generator=torch_generator(1), dtype=torch.float64)
    v = [ref.likelihood_ratio_grad(torch.sin, 0.4, s, eps).var().item() for s in (1.0, 0.1, 0.01)]
    assert v[0] < v[1] < v[2] and v[2] > 50 * v[1] / 2  # ~ 1 / sigma^2


def test_bad_inputs_raise_with_the_argument_name():
    with pytest.raises(ValueError, match="eps"):
        ref.likelihood_ratio_grad(torch.sin, 0.0, 1.0, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="sigma"):
        ref.likelihood_ratio_grad(torch.sin, 0.0, 0.0, torch.zeros(3))
    with pytest.raises(ValueError, match="eps"):
        ref.reparam_grad(torch.sin, 0.0, 1.0, torch.tensor([float("nan")]))


def test_lyapunov_exponent_of_the_fully_chaotic_map_is_log_2():
    assert estimators.lyapunov_exponent(4.0, torch_generator(0)) == pytest.approx(math.log(2), abs=0.01)
    assert estimators.lyapunov_exponent(3.2, torch_generator(0)) < 0  # a stable 2-cycle


def test_fold_keeps_values_in_the_unit_interval_and_is_continuous():
    y = torch.linspace(-0.5, 1.5, 201, dtype=torch.float64)
    x = estimators.fold(y)
    assert (x >= 0).all() and (x <= 1).all()
    assert (x[1:] - x[:-1]).abs().max() <= 0.0100001


def test_pathwise_variance_grows_at_about_2_lambda_and_likelihood_ratio_stays_bounded():
    config = estimators.LogisticConfig()
    lr, path = estimators.logistic_gradients(ESTIMATORS[0], ESTIMATORS[1], config, torch_generator(0))
    assert path.shape == lr.shape == (config.horizon + 1, config.n_samples)
    assert torch.equal(path[0], torch.ones(config.n_samples, dtype=torch.float64))  # dx0/dtheta = 1
    lam = estimators.lyapunov_exponent(config.r, torch_generator(1), noise=config.noise)
    T = np.arange(config.horizon + 1)
    var_path, var_lr = path.var(1).numpy(), lr.var(1).numpy()
    slope = estimators.log_variance_slope(T[5:], var_path[5:])
    assert abs(slope / (2 * lam) - 1) < 0.2, (slope, 2 * lam)
    assert var_lr[1:].max() / var_lr[1:].min() < 3  # within a constant factor for T = 1..30
    crossing = T[1:][var_path[1:] > var_lr[1:]][0]
    assert 2 <= crossing <= 10
    # the likelihood-ratio estimate is still usable at T = 30: its mean is finite and small
    assert abs(lr[-1].mean().item()) < 5 * lr[-1].std().item() / math.sqrt(config.n_samples) + 0.05


def test_logistic_gradients_pathwise_matches_finite_differences_on_one_trajectory():
    config = estimators.LogisticConfig(horizon=6, n_samples=2, noise=0.0)
    _, path = estimators.logistic_gradients(ESTIMATORS[0], ESTIMATORS[1], config, torch_generator(3))
    eps0 = torch.randn(2, generator=torch_generator(3), dtype=torch.float64)

    def x_T(theta):
        x = theta + config.sigma0 * eps0
        for _ in range(config.horizon):
            x = estimators.logistic_step(x, config.r, torch.zeros(2, dtype=torch.float64))
        return x

    h = 1e-7
    fd = (x_T(config.theta + h) - x_T(config.theta - h)) / (2 * h)
    torch.testing.assert_close(path[-1], fd, rtol=1e-4, atol=1e-6)


def test_logistic_gradients_use_the_estimators_they_are_given():
    config = estimators.LogisticConfig(horizon=4, n_samples=50)
    calls = []

    def spy(name):
        def estimator(f, mu, sigma, eps):
            calls.append((name, f))
            return torch.full_like(eps, 7.0 if name == "lr" else -3.0)
        return estimator

    lr, path = estimators.logistic_gradients(spy("lr"), spy("pw"), config, torch_generator(0))
    assert (lr == 7).all() and (path == -3).all() and lr.shape == (5, 50) and lr.dtype == torch.float64
    assert [n for n, _ in calls] == ["lr", "pw"] * 5
    assert [len(f.noise) for _, f in calls[::2]] == [0, 1, 2, 3, 4]  # f_T = T steps of the map
    # the likelihood ratio of the reference is x_T eps_0 / sigma_0: the score of x_0 times x_T
    lr, _ = estimators.logistic_gradients(ESTIMATORS[0], ESTIMATORS[1], config, torch_generator(1))
    gen = torch_generator(1)
    eps0 = torch.randn(50, generator=gen, dtype=torch.float64)
    noise = config.noise * torch.randn(4, 50, generator=gen, dtype=torch.float64)
    x_T = estimators.LogisticRollout(config.r, noise)(config.theta + config.sigma0 * eps0)
    torch.testing.assert_close(lr[-1], x_T * eps0 / config.sigma0)


def test_an_unfinished_estimator_stops_the_experiment_with_its_exercise():
    def stub(f, mu, sigma, eps):
        raise NotImplementedError("Exercise 2.2: your code here")

    with pytest.raises(NotImplementedError, match="Exercise 2.2"):
        estimators.logistic_gradients(ref.likelihood_ratio_grad, stub, estimators.LogisticConfig(),
                                      torch_generator(0))
