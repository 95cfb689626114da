"""Environments as batched, differentiable torch functions.

``pendulum_step`` is Pendulum-v1's true dynamics and reward (gymnasium's ``env.step``) for a
batch of states: the ground truth the learned models are compared to, and the system the
backprop-through-time demos differentiate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "PendulumParams",
    "PENDULUM",
    "angle_normalize",
    "pendulum_step",
    "pendulum_obs",
    "pendulum_state",
    "pendulum_step_obs",
    "make_pendulum",
]


@dataclass(frozen=True)
class PendulumParams:
    """Physical constants of gymnasium's Pendulum-v1."""

    g: float = 10.0
    """Gravity."""
    m: float = 1.0
    """Mass of the pole."""
    l: float = 1.0
    """Length of the pole."""
    dt: float = 0.05
    """Integration time step (s)."""
    max_speed: float = 8.0
    """Angular velocity is clipped to [-max_speed, max_speed]."""
    max_torque: float = 2.0
    """Torque is clipped to [-max_torque, max_torque]."""


PENDULUM = PendulumParams()


def angle_normalize(theta: torch.Tensor) -> torch.Tensor:
    """Wrap angles to [-pi, pi)."""
    return torch.remainder(theta + math.pi, 2 * math.pi) - math.pi


def pendulum_step(
    state: torch.Tensor, action: torch.Tensor, params: PendulumParams = PENDULUM
) -> tuple[torch.Tensor, torch.Tensor]:
    """One semi-implicit Euler step of Pendulum-v1, batched and differentiable.

    theta_dot' = clip(theta_dot + (3g/(2l) sin(theta) + 3/(m l^2) u) dt, +-max_speed)
    theta'     = theta + theta_dot' dt
    r          = -(normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2), u = clip(a, +-max_torque)

    state: (..., 2) as (theta, theta_dot); action: (..., 1).
    Returns next_state (..., 2) and reward (...,) (the reward of the state *before* the step).
    """
    if state.shape[-1] != 2:
        raise ValueError(f"state: expected last dimension 2 (theta, theta_dot), got {tuple(state.shape)}")
    if action.shape[-1] != 1:
        raise ValueError(f"action: expected last dimension 1 (torque), got {tuple(action.shape)}")
    p = params
    th, thdot = state[..., 0], state[..., 1]
    u = action[..., 0].clamp(-p.max_torque, p.max_torque)
    reward = -(angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2)
    new_thdot = thdot + (3 * p.g / (2 * p.l) * torch.sin(th) + 3.0 / (p.m * p.l**2) * u) * p.dt
    new_thdot = new_thdot.clamp(-p.max_speed, p.max_speed)
    new_th = th + new_thdot * p.dt
    return torch.stack([new_th, new_thdot], dim=-1), reward


def pendulum_obs(state: torch.Tensor) -> torch.Tensor:
    """Observation (cos theta, sin theta, theta_dot) of a state (..., 2). Returns (..., 3)."""
    th, thdot = state[..., 0], state[..., 1]
    return torch.stack([torch.cos(th), torch.sin(th), thdot], dim=-1)


def pendulum_state(obs: torch.Tensor) -> torch.Tensor:
    """State (theta, theta_dot) of an observation (..., 3). Returns (..., 2)."""
    return torch.stack([torch.atan2(obs[..., 1], obs[..., 0]), obs[..., 2]], dim=-1)


def pendulum_step_obs(
    obs: torch.Tensor, action: torch.Tensor, params: PendulumParams = PENDULUM
) -> tuple[torch.Tensor, torch.Tensor]:
    """``pendulum_step`` in observation space: obs (..., 3), action (..., 1) -> obs', reward."""
    next_state, reward = pendulum_step(pendulum_state(obs), action, params)
    return pendulum_obs(next_state), reward


def make_pendulum(seed: int | None = None, **kwargs):
    """``gym.make("Pendulum-v1")``, reset with ``seed``. Returns (env, first observation)."""
    import gymnasium as gym

    env = gym.make("Pendulum-v1", **kwargs)
    obs, _ = env.reset(seed=seed)
    return env, obs
