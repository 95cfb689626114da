"""Checks of 01_mpc_and_backprop: the right answers pass, plausible wrong answers fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import checks
from course_tools.references import part1 as ref

# -- 1.1 random-shooting scores ----------------------------------------------------------------


def _scores_right(step, obs, actions):
    s = obs.expand(actions.shape[0], -1)
    total = torch.zeros(actions.shape[0], dtype=actions.dtype)
    for t in range(actions.shape[1]):
        s, r = step(s, actions[:, t])
        total = total + r
    return total


def _scores_discounted(step, obs, actions):
    s, total = obs.expand(actions.shape[0], -1), 0.0
    for t in range(actions.shape[1]):
        s, r = step(s, actions[:, t])
        total = total + 0.99**t * r
    return total


def _scores_state_never_advances(step, obs, actions):
    s, total = obs.expand(actions.shape[0], -1), 0.0
    for t in range(actions.shape[1]):
        _, r = step(s, actions[:, t])
        total = total + r
    return total


def _scores_mean_not_sum(step, obs, actions):
    return _scores_right(step, obs, actions) / actions.shape[1]


def _scores_keep_axis(step, obs, actions):
    return _scores_right(step, obs, actions)[:, None]


def _scores_last_reward_only(step, obs, actions):
    s = obs.expand(actions.shape[0], -1)
    for t in range(actions.shape[1]):
        s, r = step(s, actions[:, t])
    return r


def _scores_nan(step, obs, actions):
    return torch.full((actions.shape[0],), float("nan"), dtype=actions.dtype)


# -- 1.2 CEM refit -----------------------------------------------------------------------------


def _refit_unbiased_std(samples, scores, n_elite):
    elite = samples[scores.topk(n_elite).indices]
    return elite.mean(0), elite.std(0)


def _refit_worst(samples, scores, n_elite):
    elite = samples[scores.topk(n_elite, largest=False).indices]
    return elite.mean(0), elite.std(0)


def _refit_all_samples(samples, scores, n_elite):
    return samples.mean(0), samples.std(0)


def _refit_variance(samples, scores, n_elite):
    elite = samples[scores.topk(n_elite).indices]
    return elite.mean(0), elite.var(0)


def _refit_wrong_axis(samples, scores, n_elite):
    elite = samples[scores.topk(n_elite).indices]
    return elite.mean(1), elite.std(1)


def _refit_first_k(samples, scores, n_elite):
    elite = samples[:n_elite]
    return elite.mean(0), elite.std(0)


# -- 1.3 the CEM planner -----------------------------------------------------------------------


def _cem(step, obs, init_mean, cfg, generator, *, refit=True, sign=1.0, iters=None, clip=True,
         warm=True, out="best"):
    """CEM with switches that make the plausible mistakes (the defaults are a right answer)."""
    shape = (cfg.horizon, cfg.act_dim)
    mean = init_mean.clone() if (init_mean is not None and warm) else torch.zeros(shape)
    std = torch.full(shape, cfg.init_std)
    best, best_score = mean.clamp(cfg.low, cfg.high), -float("inf")
    for _ in range(cfg.n_iters if iters is None else iters):
        samples = mean + std * torch.randn(cfg.n_candidates, *shape, generator=generator)
        samples = samples.clamp(cfg.low, cfg.high) if clip else samples
        scores = sign * ref.random_shooting_scores(step, obs, samples)
        i = int(scores.argmax())
        if scores[i] > best_score:
            best, best_score = samples[i], float(scores[i])
        if refit:
            new_mean, new_std = ref.cem_refit(samples, scores, cfg.n_elite)
            mean = cfg.alpha * mean + (1 - cfg.alpha) * new_mean
            std = (cfg.alpha * std + (1 - cfg.alpha) * new_std).clamp_min(cfg.min_std)
    return {"best": best, "mean": mean.clamp(cfg.low, cfg.high), "first": best[0]}[out]


def _plan_returns_the_final_mean(step, obs, init_mean, cfg, generator):  # also right
    return _cem(step, obs, init_mean, cfg, generator, out="mean")


def _plan_minimises(step, obs, init_mean, cfg, generator):
    return _cem(step, obs, init_mean, cfg, generator, sign=-1.0)


def _plan_never_refits(step, obs, init_mean, cfg, generator):
    return _cem(step, obs, init_mean, cfg, generator, refit=False)


def _plan_one_iteration(step, obs, init_mean, cfg, generator):
    return _cem(step, obs, init_mean, cfg, generator, iters=1)


def _plan_ignores_the_warm_start(step, obs, init_mean, cfg, generator):
    return _cem(step, obs, init_mean, cfg, generator, warm=False)


def _plan_not_clipped(step, obs, init_mean, cfg, generator):
    return _cem(step, obs, init_mean, cfg, generator, clip=False)


def _plan_first_action_only(step, obs, init_mean, cfg, generator):
    return _cem(step, obs, init_mean, cfg, generator, out="first")


# -- 1.4 pathwise gradient w.r.t. the action sequence -------------------------------------------


def _grad_right(step, obs, actions):
    a = actions.detach().clone().requires_grad_(True)
    s, j = obs[None], 0.0
    for t in range(a.shape[0]):
        s, r = step(s, a[t][None])
        j = j + r.sum()
    (grad,) = torch.autograd.grad(j, a)
    return grad


def _grad_detached_state(step, obs, actions):
    a = actions.detach().clone().requires_grad_(True)
    s, j = obs[None], 0.0
    for t in range(a.shape[0]):
        s, r = step(s.detach(), a[t][None])
        j = j + r.sum()
    return torch.autograd.grad(j, a)[0]


def _grad_last_reward_only(step, obs, actions):
    a = actions.detach().clone().requires_grad_(True)
    s = obs[None]
    for t in range(a.shape[0]):
        s, r = step(s, a[t][None])
    return torch.autograd.grad(r.sum(), a)[0]


def _grad_of_cost(step, obs, actions):
    return -_grad_right(step, obs, actions)


def _grad_returns_j(step, obs, actions):
    return ref.random_shooting_scores(step, obs, actions[None])[0]


# -- 1.5 closed-loop Jacobian product ---------------------------------------------------------


def _product_right(ds, da, dpi):
    p = torch.eye(ds.shape[-1], dtype=ds.dtype)
    for t in range(len(ds)):
        p = (ds[t] + da[t] @ dpi[t]) @ p
    return p


def _product_reversed(ds, da, dpi):
    p = torch.eye(ds.shape[-1], dtype=ds.dtype)
    for t in range(len(ds)):
        p = p @ (ds[t] + da[t] @ dpi[t])
    return p


def _product_open_loop(ds, da, dpi):
    return ref.closed_loop_product(ds, torch.zeros_like(da), dpi)


def _product_feedback_outside(ds, da, dpi):
    return ref.closed_loop_product(ds, torch.zeros_like(da), dpi) + (da @ dpi).sum(0)


def _product_crashes_on_empty(ds, da, dpi):
    import functools

    return functools.reduce(lambda p, m: m @ p, ds + da @ dpi)


def _product_transposed(ds, da, dpi):
    return _product_right(ds, da, dpi).T


def _product_elementwise(ds, da, dpi):
    return (ds + da @ dpi).prod(0) if len(ds) else torch.eye(ds.shape[-1], dtype=ds.dtype)


# exercise id -> (a correct answer, wrong answers); tests/test_checks_all.py uses this table.
CASES = {
    "1.1": (ref.random_shooting_scores,
            [_scores_discounted, _scores_state_never_advances, _scores_mean_not_sum, _scores_keep_axis,
             _scores_nan, _scores_last_reward_only]),
    "1.2": (ref.cem_refit,
            [_refit_worst, _refit_all_samples, _refit_variance, _refit_wrong_axis, _refit_first_k]),
    "1.3": (ref.cem_plan,
            [_plan_minimises, _plan_never_refits, _plan_one_iteration, _plan_ignores_the_warm_start,
             _plan_not_clipped, _plan_first_action_only]),
    "1.4": (ref.action_sequence_gradient,
            [_grad_detached_state, _grad_last_reward_only, _grad_of_cost, _grad_returns_j]),
    "1.5": (ref.closed_loop_product,
            [_product_reversed, _product_open_loop, _product_feedback_outside, _product_crashes_on_empty,
             _product_transposed, _product_elementwise]),
}


def test_the_notebook_style_answers_pass_too(capsys):
    checks.random_shooting_scores(_scores_right)
    checks.action_sequence_gradient(_grad_right)
    checks.closed_loop_product(_product_right)
    checks.cem_refit(_refit_unbiased_std)  # either std convention is accepted
    checks.cem_plan(_cem)
    checks.cem_plan(_plan_returns_the_final_mean)  # the last mean is a fine plan too
    assert capsys.readouterr().out.count("passed") == 6


@pytest.mark.parametrize("wrong, expected", [
    (_scores_keep_axis, "expected an output of shape (8,), got shape (8, 1)"),
    (_scores_nan, "NaN or inf"),
    (_scores_state_never_advances, "feed the *predicted* state back"),
])
def test_random_shooting_messages_say_what_is_wrong(wrong, expected):
    with pytest.raises(checks.CheckFailed) as info:
        checks.random_shooting_scores(wrong)
    assert expected in str(info.value) and "Exercise 1.1" in str(info.value)


def test_cem_refit_messages_name_the_output():
    with pytest.raises(checks.CheckFailed, match=r"\(mean\)[\s\S]*highest"):
        checks.cem_refit(_refit_worst)
    with pytest.raises(checks.CheckFailed, match=r"\(std\)[\s\S]*not the variance"):
        checks.cem_refit(_refit_variance)
    with pytest.raises(checks.CheckFailed, match=r"expected a tuple \(mean, std\)"):
        checks.cem_refit(lambda s, sc, k: s.mean(0))


def test_gradient_and_product_messages():
    with pytest.raises(checks.CheckFailed, match="Do not detach the state"):
        checks.action_sequence_gradient(_grad_detached_state)
    with pytest.raises(checks.CheckFailed, match="expected an output of shape"):
        checks.action_sequence_gradient(_grad_returns_j)
    with pytest.raises(checks.CheckFailed, match="on the \\*left\\*"):
        checks.closed_loop_product(_product_reversed)
    with pytest.raises(checks.CheckFailed, match=r"closed loop: [\s\S]*da\[t\] @ dpi\[t\]"):
        checks.closed_loop_product(_product_open_loop)
    with pytest.raises(checks.CheckFailed, match=r"T = 0[\s\S]*raised TypeError"):
        checks.closed_loop_product(_product_crashes_on_empty)


@pytest.mark.parametrize("wrong, expected", [
    (_plan_minimises, "away from the best plan"),
    (_plan_one_iteration, "away from the best plan"),
    (_plan_ignores_the_warm_start, "warm start"),
    (_plan_not_clipped, "leaves the action bounds"),
    (_plan_first_action_only, "expected a plan of shape (6, 1)"),
])
def test_cem_plan_messages_say_what_is_wrong(wrong, expected):
    with pytest.raises(checks.CheckFailed) as info:
        checks.cem_plan(wrong)
    assert expected in str(info.value) and "Exercise 1.3" in str(info.value)


def test_numpy_answers_are_accepted_where_no_gradient_is_needed(capsys):
    def numpy_product(ds, da, dpi):
        closed = (ds + da @ dpi).numpy()
        return np.linalg.multi_dot([np.eye(ds.shape[-1]), np.eye(ds.shape[-1]), *closed[::-1]])

    checks.closed_loop_product(numpy_product)
    checks.cem_plan(lambda *args: _cem(*args).numpy().astype(np.float64))
    out = capsys.readouterr().out
    assert "Exercise 1.5 passed" in out and "Exercise 1.3 passed" in out
