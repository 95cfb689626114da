"""Reference answers of 00_welcome: the discounted return and a batched policy rollout."""

from __future__ import annotations

import numpy as np
import torch

from course_tools.references import reference


@reference("0.1")
def discounted_return(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """J_b = sum_{t=0}^{T-1} gamma^t r_{b,t}. rewards (B, T) -> (B,)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return rewards @ (gamma ** np.arange(rewards.shape[1]))


@reference("0.2")
def rollout(step, policy, state: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Roll ``policy`` through ``step`` for T steps from a batch of states.

    state (B, S) -> states (B, T + 1, S) with the start first, rewards (B, T).
    """
    states, rewards = [state], []
    for _ in range(T):
        state, reward = step(state, policy(state))
        states.append(state)
        rewards.append(reward)
    empty = torch.zeros(state.shape[0], 0, dtype=state.dtype)
    return torch.stack(states, 1), torch.stack(rewards, 1) if rewards else empty
