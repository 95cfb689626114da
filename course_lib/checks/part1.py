"""Checks for 01_mpc_and_backprop: random-shooting scores, the CEM refit, the pathwise gradient of
the return w.r.t. an action sequence, and the product of Jacobians over T steps."""

from __future__ import annotations

import numpy as np
import torch

from course_lib import envs, gradients
from course_lib.checks._core import Checker, _to_numpy, exercise


def _linear_step(obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A toy model: s' = 0.9 s + a (every dimension), r = -|s|^2 - 0.1 a^2."""
    return 0.9 * obs + act, -(obs**2).sum(-1) - 0.1 * (act**2).sum(-1)


def _pendulum_obs(gen: torch.Generator, n: int) -> torch.Tensor:
    th = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * np.pi - np.pi
    thd = torch.rand(n, generator=gen, dtype=torch.float64) * 4 - 2
    return envs.pendulum_obs(torch.stack([th, thd], -1))


@exercise("1.1", "random_shooting_scores")
def random_shooting_scores(ck: Checker) -> None:
    """``random_shooting_scores(step, obs (O,), actions (N, H, A)) -> (N,)`` predicted returns."""
    gen = torch.Generator().manual_seed(11)
    cases = {
        "the true pendulum, 8 sequences of 5 steps":
            (envs.pendulum_step_obs, _pendulum_obs(gen, 1)[0],
             torch.rand(8, 5, 1, generator=gen, dtype=torch.float64) * 4 - 2),
        "a linear toy model (s' = 0.9 s + a, r = -|s|^2 - 0.1 a^2), 2-d actions":
            (_linear_step, torch.tensor([1.0, -2.0], dtype=torch.float64),
             torch.randn(6, 4, 2, generator=gen, dtype=torch.float64)),
        "horizon H = 1: only the first reward counts":
            (envs.pendulum_step_obs, _pendulum_obs(gen, 1)[0],
             torch.rand(5, 1, 1, generator=gen, dtype=torch.float64) * 4 - 2),
        "a single candidate (N = 1), long horizon H = 30":
            (envs.pendulum_step_obs, _pendulum_obs(gen, 1)[0],
             torch.rand(1, 30, 1, generator=gen, dtype=torch.float64) * 4 - 2),
    }
    for case, (step, obs, actions) in cases.items():
        got = ck.call(step, obs, actions, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-6,
                 hint="start every candidate at obs, feed the *predicted* state back into the "
                      "model at each step, and add up all H rewards (no discount).")


def _closest(got, options: list) -> object:
    """The option nearest to ``got`` (either std convention is accepted); the first if none fits."""
    arr = _to_numpy(got)
    shape = np.shape(_to_numpy(options[0]))
    if arr is None or arr.shape != shape or not np.isfinite(arr).all():
        return options[0]
    return min(options, key=lambda o: float(np.nan_to_num(np.abs(arr - _to_numpy(o)), nan=np.inf).max()))


@exercise("1.2", "cem_refit")
def cem_refit(ck: Checker) -> None:
    """``cem_refit(samples (N, H, A), scores (N,), n_elite) -> (mean, std)``, each (H, A)."""
    gen = torch.Generator().manual_seed(12)
    cases = {
        "64 samples of shape (4, 1), 5 elites":
            (torch.randn(64, 4, 1, generator=gen), torch.randn(64, generator=gen), 5),
        "2-d actions, 10 elites out of 40":
            (torch.randn(40, 3, 2, generator=gen) * 2 + 1, torch.rand(40, generator=gen), 10),
        "every sample is an elite (n_elite = N)":
            (torch.randn(8, 2, 1, generator=gen), torch.randn(8, generator=gen), 8),
        "the best samples are at the end (scores increasing)":
            (torch.arange(30.0).reshape(30, 1, 1) * torch.ones(30, 2, 1), torch.arange(30.0), 3),
    }
    for case, (samples, scores, k) in cases.items():
        out = ck.call(samples, scores, k, case=case)
        ck.true(isinstance(out, tuple) and len(out) == 2, case=case,
                problem=f"expected a tuple (mean, std), got {type(out).__name__}.")
        mean, std = out
        want_mean, *stds = ck.answer(case)  # the elites' mean, population std and sample std
        ck.close(mean, want_mean, case=case + " (mean)", atol=1e-5,
                 hint="keep the n_elite samples with the *highest* scores (scores.topk) and "
                      "average them over the sample axis 0.")
        ck.close(std, _closest(std, stds), case=case + " (std)", atol=1e-5,
                 hint="the standard deviation of the elites over axis 0 (not the variance, "
                      "not over all samples).")


@exercise("1.3", "action_sequence_gradient")
def action_sequence_gradient(ck: Checker) -> None:
    """``action_sequence_gradient(step, obs (O,), actions (T, A)) -> dJ/da (T, A)``."""
    gen = torch.Generator().manual_seed(13)
    cases = {
        "the true pendulum, T = 8":
            (envs.pendulum_step, torch.tensor([2.5, 0.5], dtype=torch.float64),
             torch.rand(8, 1, generator=gen, dtype=torch.float64) * 2 - 1),
        "the true pendulum near upright, T = 25 (early actions matter most)":
            (envs.pendulum_step, torch.tensor([0.2, 0.0], dtype=torch.float64),
             torch.rand(25, 1, generator=gen, dtype=torch.float64) * 2 - 1),
        "a linear toy model with 2-d states and actions, T = 4":
            (_linear_step, torch.tensor([1.0, -1.0], dtype=torch.float64),
             torch.randn(4, 2, generator=gen, dtype=torch.float64)),
        "a single step (T = 1): only the direct effect of a_0 on r_0":
            (_linear_step, torch.tensor([0.5, 0.5], dtype=torch.float64),
             torch.tensor([[0.3, -0.7]], dtype=torch.float64)),
    }
    for case, (step, obs, actions) in cases.items():
        got = ck.call(step, obs, actions, case=case)
        ck.close(got, ck.answer(case), case=case,
                 atol=1e-6, rtol=1e-5,
                 hint="make a copy of the actions that requires grad, roll the model forward "
                      "from obs (batch of one: obs[None], actions[t][None]), sum *all* rewards "
                      "into J and call torch.autograd.grad(J, actions). Do not detach the state.")


@exercise("1.4", "jacobian_product")
def jacobian_product(ck: Checker) -> None:
    """``jacobian_product(jacobians (T, S, S)) -> (S, S)`` = A_{T-1} ... A_1 A_0."""
    gen = torch.Generator().manual_seed(14)
    s0 = torch.tensor([[0.3, 0.0]], dtype=torch.float64)
    states, a = [], torch.zeros(1, 1, dtype=torch.float64)
    for _ in range(30):
        states.append(s0)
        s0, _ = envs.pendulum_step(s0, a)
    pend = gradients.step_jacobians(envs.pendulum_step, torch.cat(states), a.expand(30, 1))[0]
    cases = {
        "5 random 2 x 2 Jacobians (they do not commute: order matters)":
            torch.randn(5, 2, 2, generator=gen, dtype=torch.float64),
        "the pendulum falling from near upright, T = 30 (the product grows fast)": pend,
        "3 x 3 Jacobians, T = 4": torch.randn(4, 3, 3, generator=gen, dtype=torch.float64),
        "a single step (T = 1): the product is that Jacobian":
            torch.randn(1, 2, 2, generator=gen, dtype=torch.float64),
        "no steps (T = 0): the empty product is the identity": torch.zeros(0, 2, 2, dtype=torch.float64),
    }
    for case, jac in cases.items():
        got = ck.call(jac, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-8, rtol=1e-6,
                 hint="start from the identity and multiply each new Jacobian on the *left*: "
                      "P <- A_t @ P (s_{t+1} depends on s_0 through A_t ... A_0).")
