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


# -- 2.3 REINFORCE loss -------------------------------------------------------------------
def _to_go(rew, gamma):
    out, running = torch.zeros_like(rew), torch.zeros_like(rew[:, 0])
    for t in reversed(range(rew.shape[1])):
        running = rew[:, t] + gamma * running
        out[:, t] = running
    return out


def _pg_no_baseline(log_prob, rew, gamma):
    return -(log_prob * _to_go(rew, gamma)).mean()


def _pg_one_baseline_for_all_steps(log_prob, rew, gamma):
    g = _to_go(rew, gamma)
    return -(log_prob * (g - g.mean())).mean()


def _pg_full_return(log_prob, rew, gamma):
    disc = gamma ** torch.arange(rew.shape[1], dtype=rew.dtype)
    g = (rew * disc).sum(1, keepdim=True).expand_as(rew)
    return -(log_prob * (g - g.mean(0, keepdim=True))).mean()


def _pg_ignores_gamma(log_prob, rew, gamma):
    return ref.reinforce_loss(log_prob, rew, 1.0)


def _pg_discount_from_zero(log_prob, rew, gamma):
    disc = gamma ** torch.arange(rew.shape[1], dtype=rew.dtype)
    g = (rew * disc).flip(1).cumsum(1).flip(1)  # sum_{t' >= t} gamma^t' r_t'
    return -(log_prob * (g - g.mean(0, keepdim=True))).mean()


def _pg_reward_so_far(log_prob, rew, gamma):
    g = rew.cumsum(1)
    return -(log_prob * (g - g.mean(0, keepdim=True))).mean()


def _pg_wrong_sign(log_prob, rew, gamma):
    return -ref.reinforce_loss(log_prob, rew, gamma)


def _pg_sum_not_mean(log_prob, rew, gamma):
    return ref.reinforce_loss(log_prob, rew, gamma) * rew.numel()


def _pg_detached(log_prob, rew, gamma):
    return ref.reinforce_loss(log_prob.detach(), rew, gamma)


def _pg_normalised(log_prob, rew, gamma):
    g = _to_go(rew, gamma)
    adv = g - g.mean(0, keepdim=True)
    return -(log_prob * adv / (adv.std() + 1e-8)).mean()


# -- 2.4 tightrope gap -------------------------------------------------------------------
def _gap_pair(exact_fn):
    def fn(T, eps):
        eps = np.asarray(eps, dtype=float)
        return exact_fn(T, eps), eps * T * (T + 1) / 2
    fn.__name__ = exact_fn.__name__
    return fn


def _gap_approximation_twice(T, eps):
    eps = np.asarray(eps, dtype=float)
    return eps * T * (T + 1) / 2, eps * T * (T + 1) / 2


@_gap_pair
def _gap_off_by_one(T, eps):
    t = np.arange(0, T)
    return (1 - (1 - eps[..., None]) ** t).sum(-1)


@_gap_pair
def _gap_closed_form_divides_by_eps(T, eps):
    with np.errstate(divide="ignore", invalid="ignore"):
        return T - (1 - eps) * (1 - (1 - eps) ** T) / eps


@_gap_pair
def _gap_counts_steps_on_track(T, eps):
    t = np.arange(1, T + 1)
    return ((1 - eps[..., None]) ** t).sum(-1)


@_gap_pair
def _gap_only_the_last_step(T, eps):
    return 1 - (1 - eps) ** T


@_gap_pair
def _gap_flattens(T, eps):
    return ref.tightrope_gap(T, np.ravel(eps))[0]


def _gap_approx_t_squared(T, eps):
    return ref.tightrope_gap(T, eps)[0], np.asarray(eps) * T**2 / 2


def _gap_saturation_as_approx(T, eps):
    eps = np.asarray(eps, dtype=float)
    return ref.tightrope_gap(T, eps)[0], T - (1 - eps) / np.maximum(eps, 1e-300)


def _gap_swapped(T, eps):
    exact, approx = ref.tightrope_gap(T, eps)
    return approx, exact


def _gap_only_exact(T, eps):
    return ref.tightrope_gap(T, eps)[0]


# -- 2.5 branched rollouts ---------------------------------------------------------------
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
    "2.3": (ref.reinforce_loss,
            [_pg_no_baseline, _pg_one_baseline_for_all_steps, _pg_full_return, _pg_ignores_gamma,
             _pg_discount_from_zero, _pg_reward_so_far, _pg_wrong_sign, _pg_sum_not_mean, _pg_detached,
             _pg_normalised]),
    "2.4": (ref.tightrope_gap,
            [_gap_approximation_twice, _gap_off_by_one, _gap_closed_form_divides_by_eps,
             _gap_counts_steps_on_track, _gap_only_the_last_step, _gap_flattens, _gap_approx_t_squared,
             _gap_saturation_as_approx, _gap_swapped, _gap_only_exact]),
    "2.5": (ref.branched_rollouts,
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


def test_reinforce_loss_messages():
    with pytest.raises(checks.CheckFailed, match="requires_grad is False"):
        checks.reinforce_loss(_pg_detached)
    with pytest.raises(checks.CheckFailed, match="mean over the batch at the same step"):
        checks.reinforce_loss(_pg_no_baseline)
    with pytest.raises(checks.CheckFailed, match="minus sign"):
        checks.reinforce_loss(_pg_wrong_sign)


def test_tightrope_gap_messages():
    with pytest.raises(checks.CheckFailed, match="NaN or inf"):
        checks.tightrope_gap(_gap_closed_form_divides_by_eps)
    with pytest.raises(checks.CheckFailed, match=r"\(exact\)"):
        checks.tightrope_gap(_gap_approximation_twice)
    with pytest.raises(checks.CheckFailed, match=r"\(small eps T\)"):
        checks.tightrope_gap(_gap_approx_t_squared)
    with pytest.raises(checks.CheckFailed, match="expected a tuple"):
        checks.tightrope_gap(_gap_only_exact)


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
