"""Returns: the quantity every part of the lecture optimises.

J = sum_t gamma^t r_t for one trajectory; the reward-to-go is its tail from step t.
"""

from __future__ import annotations

import numpy as np

__all__ = ["discounted_return", "reward_to_go"]


def discounted_return(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted return J = sum_{t=0}^{T-1} gamma^t r_t of each trajectory in a batch.

    rewards: (B, T) rewards of B trajectories of length T; gamma in [0, 1].
    Returns (B,).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 2:
        raise ValueError(f"rewards: expected shape (B, T), got shape {rewards.shape}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma: expected a value in [0, 1], got {gamma!r}")
    discounts = gamma ** np.arange(rewards.shape[1])
    return rewards @ discounts


def reward_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Reward-to-go G_t = sum_{t'>=t} gamma^(t'-t) r_t' for every step (backward recursion).

    rewards: (B, T). Returns (B, T).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 2:
        raise ValueError(f"rewards: expected shape (B, T), got shape {rewards.shape}")
    out = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        out[:, t] = running
    return out
