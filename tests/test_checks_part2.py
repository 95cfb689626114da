"""Checks of 02_gradients_and_compounding_error: right answers pass, plausible wrong ones fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import checks
from course_lib.checks.part2 import _fake_model, _linear_policy, _real_trajectories
from course_tools.references import part2 as ref


# -- 2.1 likelihood ratio ---------------------------------------------------------------
def _lr_forgot_sigma_squared(f, mu, sigma, eps):
    x = mu + sigma * eps
    return f(x) * (x - mu)


def _lr_divides_by_sigma_squared_twice(f, mu, sigma, eps):
    return f(mu + sigma * eps) * eps / sigma**2


def _lr_returns_the_mean(f, mu, sigma, eps):
    return ref.likelihood_ratio_grad(f, mu, sigma, eps).mean()


def _lr_is_pathwise(f, mu, sigma, eps):
    return ref.reparam_grad(f, mu, sigma, eps)


def _lr_forgot_f(f, mu, sigma, eps):
    return eps / sigma


def _lr_nan(f, mu, sigma, eps):
    return torch.full_like(eps, float("nan"))


# -- 2.2 pathwise ------------------------------------------------------------------------
def _pw_wrt_eps(f, mu, sigma, eps):
    e = eps.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(mu + sigma * e).sum(), e)
    return g


def _pw_returns_f(f, mu, sigma, eps):
    return f(mu + sigma * eps)


def _pw_finite_difference(f, mu, sigma, eps):
    x = mu + sigma * eps
    return (f(x + 0.01) - f(x)) / 0.01


def _pw_is_likelihood_ratio(f, mu, sigma, eps):
    return ref.likelihood_ratio_grad(f, mu, sigma, eps)


def _pw_not_detached(f, mu, sigma, eps):
    mu_t = torch.full_like(eps, mu, requires_grad=True)
    (g,) = torch.autograd.grad(f(mu_t + sigma * eps).sum(), mu_t, create_graph=True)
    return g


# -- 2.3 compounding gap -----------------------------------------------------------------
def _gap_approximation(T, eps):
    return np.asarray(eps) * T * (T + 1) / 2


def _gap_off_by_one(T, eps):
    t = np.arange(0, T)
    return (1 - (1 - np.asarray(eps)[..., None]) ** t).sum(-1)


def _gap_closed_form_divides_by_eps(T, eps):
    eps = np.asarray(eps, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return T - (1 - eps) * (1 - (1 - eps) ** T) / eps


def _gap_counts_steps_on_track(T, eps):
    t = np.arange(1, T + 1)
    return ((1 - np.asarray(eps)[..., None]) ** t).sum(-1)


def _gap_only_the_last_step(T, eps):
    return 1 - (1 - np.asarray(eps, dtype=float)) ** T


def _gap_flattens(T, eps):
    return ref.compounding_gap(T, np.ravel(eps))


# -- 2.4 branched rollouts ---------------------------------------------------------------
def _roll(obs, step_fn, policy, k):
    out = [obs]
    for _ in range(k):
        obs, _ = step_fn(obs, policy(obs))
        out.append(obs)
    return torch.stack(out, 1)


def _br_starts_at_t0(real_obs, step_fn, policy, k, n_branches, generator):
    idx = torch.randint(0, real_obs.shape[0], (n_branches,), generator=generator)
    return _roll(real_obs[idx, 0], step_fn, policy, k)


def _br_one_trajectory(real_obs, step_fn, policy, k, n_branches, generator):
    idx = torch.randint(0, real_obs.shape[1], (n_branches,), generator=generator)
    return _roll(real_obs[0, idx], step_fn, policy, k)


def _br_drops_start(real_obs, step_fn, policy, k, n_branches, generator):
    return ref.branched_rollouts(real_obs, step_fn, policy, k, n_branches, generator)[:, 1:]


def _br_one_start_for_all(real_obs, step_fn, policy, k, n_branches, generator):
    flat = real_obs.reshape(-1, real_obs.shape[-1])
    start = flat[torch.randint(0, flat.shape[0], (1,), generator=generator)]
    return _roll(start.expand(n_branches, -1), step_fn, policy, k)


def _br_global_rng(real_obs, step_fn, policy, k, n_branches, generator):
    flat = real_obs.reshape(-1, real_obs.shape[-1])
    return _roll(flat[torch.randint(0, flat.shape[0], (n_branches,))], step_fn, policy, k)


def _br_zero_action(real_obs, step_fn, policy, k, n_branches, generator):
    return ref.branched_rollouts(real_obs, step_fn, lambda o: torch.zeros(o.shape[0], 1), k,
                                         n_branches, generator)


def _br_perturbs_start(real_obs, step_fn, policy, k, n_branches, generator):
    out = ref.branched_rollouts(real_obs, step_fn, policy, k, n_branches, generator)
    return out + 1e-3


# exercise id -> (a correct answer, wrong answers); tests/test_checks_all.py uses this table.
CASES = {
    "2.1": (ref.likelihood_ratio_grad,
            [_lr_forgot_sigma_squared, _lr_divides_by_sigma_squared_twice, _lr_returns_the_mean,
             _lr_is_pathwise, _lr_forgot_f, _lr_nan]),
    "2.2": (ref.reparam_grad,
            [_pw_wrt_eps, _pw_returns_f, _pw_finite_difference, _pw_not_detached, _pw_is_likelihood_ratio]),
    "2.3": (ref.compounding_gap,
            [_gap_approximation, _gap_off_by_one, _gap_closed_form_divides_by_eps, _gap_counts_steps_on_track,
             _gap_only_the_last_step, _gap_flattens]),
    "2.4": (ref.branched_rollouts,
            [_br_starts_at_t0, _br_one_trajectory, _br_drops_start, _br_global_rng, _br_zero_action,
             _br_perturbs_start, _br_one_start_for_all]),
}


@pytest.mark.parametrize("wrong, expected", [
    (_lr_forgot_sigma_squared, "sigma = 0.5"),
    (_lr_returns_the_mean, "expected an output of shape (1000,), got shape ()"),
    (_lr_nan, "NaN or inf"),
])
def test_likelihood_ratio_messages(wrong, expected):
    with pytest.raises(checks.CheckFailed) as info:
        checks.likelihood_ratio_grad(wrong)
    assert expected in str(info.value) and "Exercise 2.1" in str(info.value)


def test_reparam_messages_point_at_mu_and_detach():
    with pytest.raises(checks.CheckFailed, match="not eps"):
        checks.reparam_grad(_pw_wrt_eps)
    with pytest.raises(checks.CheckFailed, match="detached"):
        checks.reparam_grad(_pw_not_detached)


def test_compounding_gap_messages():
    with pytest.raises(checks.CheckFailed, match="NaN or inf"):
        checks.compounding_gap(_gap_closed_form_divides_by_eps)
    with pytest.raises(checks.CheckFailed, match="largest difference"):
        checks.compounding_gap(_gap_approximation)


@pytest.mark.parametrize("wrong, expected", [
    (_br_starts_at_t0, "second half"),
    (_br_one_trajectory, "per real trajectory"),
    (_br_drops_start, "expected shape (3000, 6, 3)"),
    (_br_global_rng, "generator"),
    (_br_zero_action, "step_fn(obs, policy(obs))"),
    (_br_perturbs_start, "do not start at a real state"),
])
def test_branched_rollouts_messages(wrong, expected):
    with pytest.raises(checks.CheckFailed) as info:
        checks.branched_rollouts(wrong)
    assert expected in str(info.value)


def test_fake_model_and_policy_shapes():
    real = _real_trajectories(2, 5, seed=0)
    nxt, rew = _fake_model(real[:, 0], _linear_policy(real[:, 0]))
    assert real.shape == (2, 5, 3) and nxt.shape == (2, 3) and rew.shape == (2,)
