"""Model-based value expansion (MVE, Feinberg et al. 2018): an H-step target through the model.

The one-step target of Q-learning / actor-critic bootstraps right away from the critic:

    y_1 = r_0 + gamma Q(s_1, pi(s_1)).

MVE rolls the model H - 1 steps from the real next state s_1 and bootstraps at the end:

    y_H = r_0 + sum_{k=1}^{H-1} gamma^k r^_k + gamma^H Q(s^_H, pi(s^_H)),   s^_1 = s_1.

The critic's error is damped by gamma^H, but every model step adds its own error, and those
compound. :func:`target_error_stats` measures both on Pendulum with an exactly known value
function, a model with wrong gravity and a critic with a known error.

``mve_target`` is the target only; an MVE learner would regress Q(s_0, a_0) on it (and, in the
paper, also the Q values of the imagined states along the way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from course_lib import envs

__all__ = ["mve_target", "swing_policy", "mc_value", "TargetErrors", "target_error_stats"]


def mve_target(r0: torch.Tensor, s1: torch.Tensor, model_step: Callable, policy: Callable,
               q_value: Callable, gamma: float, horizon: int) -> torch.Tensor:
    """The H-step MVE target y_H (horizon = H >= 1; H = 1 is the one-step target).

    r0 (B,) real reward; s1 (B, d) real next state; model_step(s (B, d), a (B, m)) -> (s' (B, d),
    r (B,)); policy(s (B, d)) -> a (B, m); q_value(s, a) -> (B,). Returns (B,).
    """
    if horizon < 1:
        raise ValueError(f"horizon: expected an int >= 1, got {horizon!r}")
    y, s = r0, s1
    for k in range(1, horizon):
        s, r = model_step(s, policy(s))
        y = y + gamma**k * r
    return y + gamma**horizon * q_value(s, policy(s))


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


def target_error_stats(model_errors: list[float], h_max: int = 30, n_states: int = 512,
                       gamma: float = 0.95, seed: int = 0, value_horizon: int = 100) -> TargetErrors:
    """Errors of the MVE target y_H (exact critic) against the true Q^pi(s_0, a_0), H = 1..h_max.

    States s_0 are uniform over angle and speed in [-4, 4]; a_0 = swing_policy(s_0); s_1 is the
    true next state. The model is the pendulum with gravity g (1 + epsilon). True values sum
    ``value_horizon`` rewards after s_1 (exactly the same steps for every H), so an exact model
    gives zero error.
    """
    gen = torch.Generator().manual_seed(seed)
    high = torch.tensor([torch.pi, 4.0], dtype=torch.float64)
    s0 = (torch.rand(n_states, 2, generator=gen, dtype=torch.float64) * 2 - 1) * high
    s1, r0 = envs.pendulum_step(s0, swing_policy(s0))
    q_true = r0 + gamma * mc_value(s1, gamma, value_horizon)
    steps_left = torch.arange(value_horizon, value_horizon - h_max, -1).repeat_interleave(n_states)
    mse = torch.zeros(len(model_errors), h_max, dtype=torch.float64)
    for i, eps in enumerate(model_errors):
        params = envs.PendulumParams(g=10.0 * (1.0 + eps))
        y, s, partial, ends = r0, s1, [], []
        for k in range(1, h_max + 1):  # y = r0 + sum_{j<k} gamma^j r^_j and s = s^_k
            partial.append(y)
            ends.append(s)
            s, r = envs.pendulum_step(s, swing_policy(s), params)
            y = y + gamma**k * r
        v_end = mc_value(torch.cat(ends), gamma, steps_left).reshape(h_max, n_states)
        discount = gamma ** torch.arange(1, h_max + 1, dtype=torch.float64).reshape(-1, 1)
        y_h = torch.stack(partial) + discount * v_end  # (H, B)
        mse[i] = ((y_h - q_true) ** 2).mean(1) / q_true.var()
    return TargetErrors(list(model_errors), list(range(1, h_max + 1)), gamma, mse.float())
