"""Replay buffers and real-environment data collection.

The buffer stores transitions (s, a, r, s', terminated) as float32 torch tensors in a ring of
fixed capacity. It is the "real buffer" of model-based RL (what the dynamics model is trained
on, where branched rollouts start) and, with a second instance, the "model buffer" of
Dyna-style methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Batch", "ReplayBuffer", "collect"]


@dataclass
class Batch:
    """A batch of transitions; every field has leading dimension B."""

    obs: torch.Tensor
    """(B, obs_dim) states s."""
    act: torch.Tensor
    """(B, act_dim) actions a."""
    rew: torch.Tensor
    """(B,) rewards r(s, a)."""
    next_obs: torch.Tensor
    """(B, obs_dim) next states s'."""
    done: torch.Tensor
    """(B,) 1.0 where s' is terminal (no bootstrapping), else 0.0. Time limits are not terminal."""

    def __len__(self) -> int:
        return self.obs.shape[0]


class ReplayBuffer:
    """A ring buffer of transitions with uniform sampling from an explicit generator."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        if capacity <= 0:
            raise ValueError(f"capacity: expected a positive int, got {capacity!r}")
        self.capacity, self.obs_dim, self.act_dim = int(capacity), int(obs_dim), int(act_dim)
        self.obs = torch.zeros(capacity, obs_dim)
        self.act = torch.zeros(capacity, act_dim)
        self.rew = torch.zeros(capacity)
        self.next_obs = torch.zeros(capacity, obs_dim)
        self.done = torch.zeros(capacity)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, obs, act, rew, next_obs, done) -> None:
        """Add one transition, or a batch of them (leading dimension B on every argument)."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, self.obs_dim)
        n = obs.shape[0]
        act = torch.as_tensor(np.asarray(act), dtype=torch.float32).reshape(n, self.act_dim)
        rew = torch.as_tensor(np.asarray(rew), dtype=torch.float32).reshape(n)
        next_obs = torch.as_tensor(np.asarray(next_obs), dtype=torch.float32).reshape(n, self.obs_dim)
        done = torch.as_tensor(np.asarray(done), dtype=torch.float32).reshape(n)
        if n > self.capacity:  # keep only the newest
            obs, act, rew, next_obs, done = (x[-self.capacity:] for x in (obs, act, rew, next_obs, done))
            n = self.capacity
        idx = (self._next + torch.arange(n)) % self.capacity
        self.obs[idx], self.act[idx], self.rew[idx] = obs, act, rew
        self.next_obs[idx], self.done[idx] = next_obs, done
        self._next = (self._next + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer: add transitions first")
        idx = torch.randint(0, self._size, (batch_size,), generator=generator)
        return self._take(idx)

    def all(self) -> Batch:
        """Every stored transition (oldest first once the ring has wrapped)."""
        if self._size < self.capacity:
            idx = torch.arange(self._size)
        else:
            idx = (self._next + torch.arange(self.capacity)) % self.capacity
        return self._take(idx)

    def _take(self, idx: torch.Tensor) -> Batch:
        return Batch(self.obs[idx], self.act[idx], self.rew[idx], self.next_obs[idx], self.done[idx])


def collect(
    env,
    policy: Callable[[np.ndarray], np.ndarray],
    n_steps: int,
    buffer: ReplayBuffer,
    *,
    seed: int,
    progress: bool = True,
    desc: str = "collecting",
) -> list[float]:
    """Run ``policy`` in ``env`` for ``n_steps`` steps, adding every transition to ``buffer``.

    Episodes are reset with seeds ``seed, seed + 1, ...``. ``policy`` maps one observation to
    one action. Returns the returns of the episodes that finished.
    """
    from tqdm.auto import tqdm

    returns: list[float] = []
    episode = 0
    obs, _ = env.reset(seed=seed)
    total = 0.0
    for _ in tqdm(range(n_steps), desc=desc, disable=not progress, leave=False):
        act = np.asarray(policy(obs), dtype=np.float32)
        next_obs, rew, terminated, truncated, _ = env.step(act)
        buffer.add(obs, act, rew, next_obs, float(terminated))
        total += float(rew)
        obs = next_obs
        if terminated or truncated:
            returns.append(total)
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
            total = 0.0
    return returns
