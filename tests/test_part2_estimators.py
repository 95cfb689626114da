"""Part 2, gradient estimators: exact small cases, unbiasedness, and the chaos that separates them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib import envs, estimators
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


# -- noise at every step ------------------------------------------------------------------
def test_per_step_gradients_are_the_score_sum_and_the_path_derivative():
    """The likelihood ratio with noise at every step is x_T sum_s xi_s / sigma_a (T score terms), and
    the pathwise one is d x_T / d mu with every step's action shifted by mu (finite differences)."""
    config = estimators.LogisticConfig(horizon=6, n_samples=40)
    lr, path = estimators.per_step_gradients(*ESTIMATORS, config, torch_generator(5))
    gen = torch_generator(5)
    eps0 = torch.randn(40, generator=gen, dtype=torch.float64)
    xi = torch.randn(6, 40, generator=gen, dtype=torch.float64)

    def x_T(mu, T):
        x = config.theta + config.sigma0 * eps0
        for t in range(T):
            x = estimators.logistic_step(x, config.r, mu + config.noise * xi[t])
        return x

    for T in (1, 3, 6):
        torch.testing.assert_close(lr[T], x_T(0.0, T) * xi[:T].sum(0) / config.noise)
        h = 1e-7
        fd = (x_T(h, T) - x_T(-h, T)) / (2 * h)
        torch.testing.assert_close(path[T], fd, rtol=1e-4, atol=1e-6)
    assert (lr[0] == 0).all() and (path[0] == 0).all()


def test_with_noise_at_every_step_the_likelihood_ratio_variance_grows_like_T():
    """Section 1.3 as measured: Var[likelihood ratio] ~ T^p with p near 1 (T score terms), the pathwise
    variance still grows at about 2 lambda per step, and pathwise overtakes within 5..15 steps."""
    config = estimators.LogisticConfig()
    lr, path = estimators.per_step_gradients(*ESTIMATORS, config, torch_generator(0))
    T = np.arange(config.horizon + 1)
    v_lr, v_pw = lr.var(1).numpy(), path.var(1).numpy()
    from course_lib import compounding

    p = compounding.loglog_slope(T[2:], v_lr[2:])
    rate = estimators.log_variance_slope(T[5:], v_pw[5:])
    lam = estimators.lyapunov_exponent(config.r, torch_generator(1), noise=config.noise)
    print(f"per step: Var[LR] ~ T^{p:.3f}, Var[pathwise] ~ e^({rate:.3f} T), 2 lambda = {2 * lam:.3f}")
    assert p == pytest.approx(1.0, abs=0.2)
    assert abs(rate / (2 * lam) - 1) < 0.25
    assert v_lr[-1] > 5 * v_lr[3]  # it grows, unlike the start-only case (a factor < 3 there)
    assert 5 <= T[1:][v_pw[1:] > v_lr[1:]][0] <= 15


def test_pendulum_spread_both_estimators_estimate_the_same_gradient_and_reinforce_variance_grows():
    """On the true Pendulum (no fitted model, so it is fast): REINFORCE through the reference loss and
    backprop agree on dJ_T/dw within their standard errors (both unbiased for J_T), and REINFORCE's
    per-rollout variance grows with T, as a power above 1."""
    from course_lib import compounding

    def true_step(obs, act):
        nxt, rew = envs.pendulum_step_obs(obs.double(), act.double())
        return nxt.float(), rew.float()

    config = estimators.SpreadConfig(n_rollouts=2000, horizons=(1, 3, 5, 10, 20, 40))
    spread = estimators.pendulum_gradient_spread(true_step, ref.reinforce_loss, config, torch_generator(0))
    n = config.n_rollouts
    for k, T in enumerate(config.horizons[:4]):
        se = np.sqrt((spread.var_reinforce[k] + spread.var_pathwise[k]) / n)
        assert np.abs(spread.mean_reinforce[k] - spread.mean_pathwise[k]).max() < 4 * se, T
    T = spread.horizons
    p = compounding.loglog_slope(T[2:], spread.var_reinforce[2:])
    print(f"true pendulum: Var[REINFORCE] ~ T^{p:.2f}, Var[pathwise] ~ "
          f"T^{compounding.loglog_slope(T[2:], spread.var_pathwise[2:]):.2f}")
    assert (np.diff(spread.var_reinforce) > 0).all() and p > 1.5
    assert spread.var_pathwise[0] < spread.var_reinforce[0] / 100  # short horizons: backprop wins


@pytest.mark.slow
def test_pendulum_spread_in_the_learned_model_as_the_notebook_reports_it():
    """Section 2.1 as measured on the 300-transition model: both variances grow as powers of T over
    T = 5..100, the pathwise one faster, and backprop is the less noisy estimator at short horizons only."""
    from course_lib import compounding, policy_gradient

    model, _, _ = policy_gradient.fit_pendulum_model(policy_gradient.ModelDataConfig(n_transitions=300))
    spread = estimators.pendulum_gradient_spread(model.mean_step, ref.reinforce_loss,
                                                 estimators.SpreadConfig(), torch_generator(0))
    T, keep = spread.horizons, spread.horizons >= 5
    p_lr = compounding.loglog_slope(T[keep], spread.var_reinforce[keep])
    p_pw = compounding.loglog_slope(T[keep], spread.var_pathwise[keep])
    print(f"learned model: Var[REINFORCE] ~ T^{p_lr:.2f}, Var[pathwise] ~ T^{p_pw:.2f}")
    assert p_lr > 1.5 and p_pw > p_lr + 1
    assert spread.var_pathwise[0] < spread.var_reinforce[0]
    assert spread.var_pathwise[-1] > spread.var_reinforce[-1]
