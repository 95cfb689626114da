"""Model-based value expansion (MVE, Feinberg et al. 2018): an H-step target through the model.

The one-step target of Q-learning / actor-critic bootstraps right away from the critic:

    y_1 = r_0 + gamma Q(s_1, pi(s_1)).

MVE rolls the model H - 1 steps from the real next state s_1 and bootstraps at the end:

    y_H = r_0 + sum_{k=1}^{H-1} gamma^k r^_k + gamma^H Q(s^_H, pi(s^_H)),   s^_1 = s_1.

The critic's error is damped by gamma^H, but every model step adds its own error, and those
compound. :func:`target_error_stats` measures both on Pendulum with an exactly known value
function, a model with wrong gravity and a critic with a known error; it takes the target
itself as an argument (``mve_target``, Exercise 3.4 of the notebook):

    mve_target(r0 (B,), s1 (B, d), model_step, policy, q_value, gamma, horizon) -> y_H (B,)

with model_step(s (B, d), a (B, m)) -> (s' (B, d), r (B,)), policy(s) -> a (B, m) and
q_value(s, a) -> (B,). An MVE learner would regress Q(s_0, a_0) on y_H (and, in the paper,
also the Q values of the imagined states along the way).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from course_lib import envs
from course_lib.planning import StepFn

__all__ = ["swing_policy", "mc_value", "exact_q", "TargetErrors", "MVETarget", "target_error_stats"]


def swing_policy(state: torch.Tensor) -> torch.Tensor:
    """The fixed policy whose value we estimate: push with the swing (energy pumping), |a| = 1.

    state (B, 2) as (theta, theta_dot) -> action (B, 1).
    """
    return torch.sign(state[:, 1:] * torch.cos(state[:, :1]))


def mc_value(state: torch.Tensor, gamma: float, horizon: int | torch.Tensor) -> torch.Tensor:
    """V^pi(s) of ``swing_policy`` under the true dynamics, summed over ``horizon`` steps.

    state (B, 2); horizon an int or (B,) ints (rows stop counting after their horizon).
    Deterministic policy and dynamics: one rollout per state is exact. Returns (B,).
    """
    horizon = torch.as_tensor(horizon).expand(state.shape[0])
    total = torch.zeros(state.shape[0], dtype=state.dtype)
    for t in range(int(horizon.max())):
        state, r = envs.pendulum_step(state, swing_policy(state))
        total = total + torch.where(horizon > t, gamma**t * r, 0.0)
    return total


@dataclass
class TargetErrors:
    """Mean squared error of y_H against the true Q^pi, split into the model's and the critic's parts.

    With an exact critic the error e_model comes from the model alone. The critic's error at
    s^_H is independent noise of spread delta std(Q^pi), weighted gamma^H in y_H, so
    E[e^2] = E[e_model^2] + delta^2 gamma^(2H) (all in units of std(Q^pi)).
    """

    model_errors: list[float]
    """Relative gravity errors epsilon of the model."""
    horizons: list[int]
    """H = 1 .. H_max."""
    gamma: float
    """Discount factor."""
    model_mse: torch.Tensor
    """(eps, H) mean squared error of y_H with an exact critic, over std(Q^pi)^2."""

    def rmse(self, delta: float) -> torch.Tensor:
        """(eps, H) root mean squared target error for a critic error of spread ``delta``."""
        h = torch.tensor(self.horizons, dtype=self.model_mse.dtype)
        return (self.model_mse + delta**2 * self.gamma ** (2 * h)).sqrt()


def exact_q(gamma: float, steps: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The exact critic Q^pi(s, a) of ``swing_policy``, summed over ``steps`` steps (>= 1).

    q_value(s (B, 2), a (B, 1)) -> (B,): the reward of (s, a), then ``steps - 1`` discounted
    rewards of ``swing_policy`` under the true dynamics.
    """
    def q_value(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        next_state, reward = envs.pendulum_step(state, action)
        return reward + gamma * mc_value(next_state, gamma, steps - 1)

    return q_value


MVETarget = Callable[[torch.Tensor, torch.Tensor, StepFn, Callable, Callable, float, int], torch.Tensor]
"""mve_target(r0 (B,), s1 (B, d), model_step, policy, q_value, gamma, horizon) -> y_H (B,) (Exercise 3.4)."""


def target_error_stats(mve_target: MVETarget, model_errors: list[float], h_max: int = 30,
                       n_states: int = 512, gamma: float = 0.95, seed: int = 0,
                       value_horizon: int = 100) -> TargetErrors:
    """Errors of ``mve_target``'s y_H (exact critic) against the true Q^pi(s_0, a_0), H = 1..h_max.

    States s_0 are uniform over angle and speed in [-4, 4]; a_0 = swing_policy(s_0); s_1 is the
    true next state. The model is the pendulum with gravity g (1 + epsilon). True values sum
    ``value_horizon`` rewards after s_1, and so does y_H (the critic at s^_H sums the
    value_horizon - (H - 1) rewards left), so an exact model gives zero error. One call of
    ``mve_target`` per H, on every model error's states at once.
    """
    gen = torch.Generator().manual_seed(seed)
    high = torch.tensor([torch.pi, 4.0], dtype=torch.float64)
    s0 = (torch.rand(n_states, 2, generator=gen, dtype=torch.float64) * 2 - 1) * high
    s1, r0 = envs.pendulum_step(s0, swing_policy(s0))
    q_true = r0 + gamma * mc_value(s1, gamma, value_horizon)
    n_eps = len(model_errors)
    eps = torch.tensor(model_errors, dtype=torch.float64).repeat_interleave(n_states)  # row i: error i // B
    wrong_gravity = envs.PendulumParams(g=10.0 * (1.0 + eps))  # one gravity per row
    model_step = functools.partial(envs.pendulum_step, params=wrong_gravity)
    r0_all, s1_all = r0.repeat(n_eps), s1.repeat(n_eps, 1)
    mse = torch.zeros(n_eps, h_max, dtype=torch.float64)
    for h in range(1, h_max + 1):
        y_h = mve_target(r0_all, s1_all, model_step, swing_policy, exact_q(gamma, value_horizon - h + 1),
                         gamma, h)
        err = y_h.detach().double().reshape(n_eps, n_states) - q_true
        mse[:, h - 1] = (err**2).mean(1) / q_true.var()
    return TargetErrors(list(model_errors), list(range(1, h_max + 1)), gamma, mse.float())
