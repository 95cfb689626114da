"""Checks for 01_mpc_and_backprop: random-shooting scores, the CEM refit, the CEM planner (graded
by what it achieves), the pathwise gradient of the return w.r.t. an action sequence, and the
product of closed-loop Jacobians over T steps."""

from __future__ import annotations

import math

import numpy as np
import torch

from course_lib import envs, gradients, planning
from course_lib.checks._core import Checker, _to_numpy, exercise


def _linear_step(obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A toy model: s' = 0.9 s + a (every dimension), r = -|s|^2 - 0.1 a^2."""
    return 0.9 * obs + act, -(obs**2).sum(-1) - 0.1 * (act**2).sum(-1)


def target_toy(obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A toy model whose best plan is known: r_k = -|a_k - target_k|^2 at step k.

    The state carries the step counter and the target: obs (N, 1 + H A) = (k, target (H, A)
    flattened), as :func:`target_obs` makes it; act (N, A). Returns (obs with k + 1, r (N,)).
    """
    n, a = act.shape
    target = obs[:, 1:].reshape(n, -1, a)
    k = obs[:, 0].round().long().clamp(0, target.shape[1] - 1)
    reward = -((act - target[torch.arange(n), k].to(act.dtype)) ** 2).sum(-1)
    return torch.cat([obs[:, :1] + 1.0, obs[:, 1:]], dim=1), reward


def target_obs(target: torch.Tensor) -> torch.Tensor:
    """The start state of :func:`target_toy` for a best plan ``target`` (H, A): (1 + H A,)."""
    return torch.cat([torch.zeros(1), target.reshape(-1).float()])


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


def plan_array(ck: Checker, out, cfg: planning.CEMConfig, case: str) -> np.ndarray:
    """A planner's output as a float array (H, A) inside the bounds, or a clear failure."""
    __tracebackhide__ = True
    shape = (cfg.horizon, cfg.act_dim)
    arr = _to_numpy(out)
    if arr is None or arr.dtype == object or arr.shape != shape:
        ck.fail(case, f"expected a plan of shape {shape} (horizon H, action dim A), got "
                      f"{'shape ' + str(arr.shape) if arr is not None else type(out).__name__}.",
                "return the best action *sequence* (H, A), not a single action or the scores.")
    if not np.isfinite(arr).all():
        ck.fail(case, "your plan contains NaN or inf.", "check the standard deviation you sample with.")
    if arr.min() < cfg.low - 1e-6 or arr.max() > cfg.high + 1e-6:
        ck.fail(case, f"your plan leaves the action bounds [{cfg.low}, {cfg.high}] "
                      f"(min {arr.min():.3g}, max {arr.max():.3g}).",
                "clip every sample to [cfg.low, cfg.high] before scoring it.")
    return arr


def swing_up_angles(ck: Checker, cfg: planning.CEMConfig, start: float, n_steps: int, seed: int,
                    case: str) -> np.ndarray:
    """MPC with the student's planner on the true pendulum (it is also the model): |angle| per step.

    At every step: plan from the real state, warm-started with the last plan shifted by one,
    execute the first action on the true dynamics. Each call gets its own seeded generator.
    """
    __tracebackhide__ = True
    s, plan, angles = torch.tensor([[start, 0.0]], dtype=torch.float64), None, []
    for t in range(n_steps):
        obs = envs.pendulum_obs(s[0]).float()
        out = ck.call(envs.pendulum_step_obs, obs, plan, cfg, torch.Generator().manual_seed(seed + t),
                      case=case)
        plan = torch.as_tensor(plan_array(ck, out, cfg, case), dtype=torch.float32)
        s, _ = envs.pendulum_step(s, plan[:1].double())
        angles.append(abs(float(envs.angle_normalize(s[0, 0]))))
        plan = torch.cat([plan[1:], torch.zeros_like(plan[:1])])
    return np.array(angles)


@exercise("1.3", "cem_plan")
def cem_plan(ck: Checker) -> None:
    """``cem_plan(step, obs (O,), init_mean (H, A) or None, cfg, generator) -> plan (H, A)``.

    Graded by what the plans achieve: on toy models whose best plan is known, and by MPC on the
    true pendulum (which must swing up).
    """
    gen = torch.Generator().manual_seed(15)
    cfg = planning.CEMConfig(horizon=6, n_candidates=100, n_elite=10, n_iters=6)
    target = torch.tensor([[1.5], [-1.0], [0.5], [0.0], [-1.8], [1.0]])
    target2 = torch.rand(4, 2, generator=gen) * 3 - 1.5
    cases = {
        "a toy model whose best plan is known (H = 6): the plan must find it within 0.15":
            (target, cfg, None, 0.15),
        "2-d actions (H = 4, A = 2): within 0.15 of the best plan":
            (target2, planning.CEMConfig(horizon=4, n_candidates=100, n_elite=10, n_iters=6, act_dim=2), None,
             0.15),
        "the best actions are beyond the bounds (all 3.0): the plan must stay in [-2, 2], near 2":
            (torch.full((5, 1), 3.0), planning.CEMConfig(horizon=5, n_iters=6), None, 0.5),
        "warm start: init_mean is already the best plan; 1 iteration with std 0.1 must stay near it":
            (target, planning.CEMConfig(horizon=6, n_iters=1, init_std=0.1), target, 0.3),
    }
    for i, (case, (best, c, init_mean, tol)) in enumerate(cases.items()):
        out = ck.call(target_toy, target_obs(best), init_mean, c, torch.Generator().manual_seed(i), case=case)
        plan = plan_array(ck, out, c, case)
        best = np.clip(best.numpy(), c.low, c.high)
        err = float(np.abs(plan - best).max())
        ck.true(err <= tol, case=case,
                problem=f"your plan is {err:.3g} away from the best plan {_fmt_plan(best)} "
                        f"(got {_fmt_plan(plan)}; tolerance {tol}).",
                hint="iterate: sample around the mean, score the samples with random_shooting_scores, "
                     "refit mean and std to the elites with cem_refit; start from init_mean when "
                     "it is given; return the best sequence you have scored.")
    case = "MPC on the true pendulum from hanging down, 100 steps (H = 15): upright for the last 20"
    angles = swing_up_angles(ck, planning.CEMConfig(), math.pi, 100, 100, case)
    ck.true(angles[-20:].max() < 0.3, case=case,
            problem=f"the pendulum is not upright at the end: its largest angle over the last 20 steps "
                    f"is {angles[-20:].max():.2f} rad (must stay below 0.3).",
            hint="MPC executes the first action of your plan at every step: the plan must maximise "
                 "the predicted return (the highest scores are the best).")


def _fmt_plan(plan: np.ndarray) -> str:
    return np.array2string(np.asarray(plan).reshape(-1), precision=2, threshold=12, edgeitems=3)


@exercise("1.4", "action_sequence_gradient")
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


def _pendulum_jacobians(feedback: torch.Tensor | None, steps: int = 30):
    """df/ds (T, 2, 2) and df/da (T, 2, 1) along the pendulum from theta = 0.3, open loop (a = 0)
    or under the linear feedback a = feedback @ (theta, theta_dot)."""
    s, states, acts = torch.tensor([[0.3, 0.0]], dtype=torch.float64), [], []
    for _ in range(steps):
        a = torch.zeros(1, 1, dtype=torch.float64) if feedback is None else s @ feedback.T
        states.append(s), acts.append(a)
        s, _ = envs.pendulum_step(s, a)
    return gradients.step_jacobians(envs.pendulum_step, torch.cat(states), torch.cat(acts))[:2]


@exercise("1.5", "closed_loop_product")
def closed_loop_product(ck: Checker) -> None:
    """``closed_loop_product(ds (T, S, S), da (T, S, A), dpi (T, A, S)) -> (S, S)``."""
    gen = torch.Generator().manual_seed(14)
    f64 = torch.float64
    pd = torch.tensor([[-8.0, -2.0]], dtype=f64)  # theta'' = 15 theta + 3 a = -9 theta - 6 theta_dot
    falling, held = _pendulum_jacobians(None), _pendulum_jacobians(pd)
    cases = {
        "open loop (dpi = 0): the pendulum falling from near upright, T = 30 (the product grows fast)":
            (*falling, torch.zeros(30, 1, 2, dtype=f64)),
        "closed loop: the pendulum held near upright by the feedback a = -8 theta - 2 theta_dot, T = 30":
            (*held, pd.repeat(30, 1, 1)),
        "5 random steps with feedback (the Jacobians do not commute: order matters)":
            (torch.randn(5, 2, 2, generator=gen, dtype=f64), torch.randn(5, 2, 1, generator=gen, dtype=f64),
             torch.randn(5, 1, 2, generator=gen, dtype=f64)),
        "3-d states and 2-d actions, T = 4":
            (torch.randn(4, 3, 3, generator=gen, dtype=f64), torch.randn(4, 3, 2, generator=gen, dtype=f64),
             torch.randn(4, 2, 3, generator=gen, dtype=f64)),
        "a single step (T = 1): the product is that step's closed-loop Jacobian":
            (torch.randn(1, 2, 2, generator=gen, dtype=f64), torch.randn(1, 2, 1, generator=gen, dtype=f64),
             torch.randn(1, 1, 2, generator=gen, dtype=f64)),
        "no steps (T = 0): the empty product is the identity":
            (torch.zeros(0, 2, 2, dtype=f64), torch.zeros(0, 2, 1, dtype=f64),
             torch.zeros(0, 1, 2, dtype=f64)),
    }
    for case, (ds, da, dpi) in cases.items():
        got = ck.call(ds, da, dpi, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-8, rtol=1e-6,
                 hint="each step's closed-loop Jacobian is ds[t] + da[t] @ dpi[t] (the state moves the "
                      "next state directly, and through the action the policy takes); start from the "
                      "identity and multiply each new one on the *left*.")
