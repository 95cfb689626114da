"""A 2-D point mass in two rooms: the small continuous task of Part 4 (C-learning).

The state is a position s = (x, y) in the square [-1, 1]^2. A vertical wall at x = 0 splits
it into two rooms joined by a door (an opening in the wall). An action a in [-1, 1]^2 moves
the point by ``step_size * a`` plus Gaussian noise. As in the grid mazes, a move that would
leave the square or pass through the wall is cancelled: the point stays where it is.

The policy we study is the uniformly random one, a ~ U([-1, 1]^2). Its proposals are
symmetric and cancelled moves stay put, so the uniform distribution on the square is
stationary (detailed balance): data collected from uniform start states has a uniform
state marginal at every time step, p(s) = 1/4. Everything is batched torch and takes an
explicit ``torch.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["PointMass", "random_policy", "drift_policy", "random_trajectories", "geometric_offsets",
           "future_states"]


@dataclass(frozen=True)
class PointMass:
    """Two rooms in [-1, 1]^2 split by a wall at x = 0 with a door."""

    step_size: float = 0.1
    """Displacement per unit of action."""
    noise: float = 0.05
    """Standard deviation of the Gaussian noise added to every move."""
    door: tuple[float, float] = (0.2, 0.6)
    """Range of y where the wall at x = 0 is open."""

    @property
    def obs_dim(self) -> int:
        """Dimension of a state (x, y)."""
        return 2

    @property
    def act_dim(self) -> int:
        """Dimension of an action."""
        return 2

    @property
    def area(self) -> float:
        """Area of the arena (the uniform marginal has density 1 / area)."""
        return 4.0

    def step(self, s: torch.Tensor, a: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """s' for states s (B, 2) and actions a (B, 2); blocked moves stay at s. Returns (B, 2)."""
        if s.shape[-1] != 2 or a.shape != s.shape:
            raise ValueError(f"s, a: expected two (B, 2) tensors, got {tuple(s.shape)}, {tuple(a.shape)}")
        proposal = s + self.step_size * a.clamp(-1, 1) + self.noise * torch.randn(
            s.shape, generator=generator, dtype=s.dtype)
        return torch.where(self.blocked(s, proposal)[:, None], s, proposal)

    def blocked(self, s: torch.Tensor, proposal: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the move s -> proposal leaves the square or crosses the wall outside the door."""
        outside = (proposal.abs() > 1).any(dim=-1)
        crosses = torch.sign(s[:, 0]) * torch.sign(proposal[:, 0]) < 0
        frac = s[:, 0] / (s[:, 0] - proposal[:, 0]).where(crosses, torch.ones_like(s[:, 0]))
        y_cross = s[:, 1] + frac * (proposal[:, 1] - s[:, 1])
        through_door = (y_cross > self.door[0]) & (y_cross < self.door[1])
        return outside | (crosses & ~through_door)

    def sample_states(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n states from the uniform distribution on the square (the stationary one). (n, 2)."""
        return torch.rand(n, 2, generator=generator, dtype=torch.float64) * 2 - 1

    def wall_segments(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """The wall as line segments ((x0, y0), (x1, y1)), for plotting."""
        return [((0.0, -1.0), (0.0, self.door[0])), ((0.0, self.door[1]), (0.0, 1.0))]


def random_policy(s: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The uniformly random policy: a ~ U([-1, 1]^2) for each state in s (B, 2). Returns (B, 2)."""
    return torch.rand(s.shape, generator=generator, dtype=s.dtype) * 2 - 1


def drift_policy(s: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A policy that drifts right: a = (0.6, 0) + U([-0.4, 0.4]^2), i.e. a_x in [0.2, 1]. Returns (B, 2)."""
    a = (torch.rand(s.shape, generator=generator, dtype=s.dtype) * 2 - 1) * 0.4
    return a + torch.tensor([0.6, 0.0], dtype=s.dtype)


def random_trajectories(env: PointMass, s0: torch.Tensor, horizon: int, generator: torch.Generator
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Trajectories of the random policy from s0 (N, 2).

    Returns states (N, horizon + 1, 2) (s_0 .. s_T) and actions (N, horizon, 2).
    """
    states, actions = [s0], []
    for _ in range(horizon):
        a = random_policy(states[-1], generator)
        actions.append(a)
        states.append(env.step(states[-1], a, generator))
    return torch.stack(states, dim=1), torch.stack(actions, dim=1)


def geometric_offsets(n: int, gamma: float, generator: torch.Generator) -> torch.Tensor:
    """n offsets Delta >= 1 with P(Delta = k) = (1 - gamma) gamma^(k-1). Returns (n,) int64."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma: expected a number in [0, 1), got {gamma!r}")
    u = torch.rand(n, generator=generator, dtype=torch.float64).clamp_min(1e-300)
    if gamma == 0.0:
        return torch.ones(n, dtype=torch.int64)
    return 1 + torch.floor(torch.log(u) / torch.log(torch.tensor(gamma, dtype=torch.float64))).long()


def future_states(step_fn, s: torch.Tensor, a: torch.Tensor, gamma: float, generator: torch.Generator,
                  max_steps: int = 400, policy=random_policy) -> torch.Tensor:
    """Monte-Carlo samples of s_f ~ p^pi(s_f | s, a) = sum_{k>=1} (1-gamma) gamma^(k-1) p(s_{t+k} | s, a).

    ``step_fn(s, a, generator) -> s'`` is the true environment or a learned one-step model.
    s, a: (N, 2), one sample per row (repeat a query to get many samples). Each row draws its
    own offset Delta (truncated at ``max_steps``), takes a first, then follows ``policy(s,
    generator) -> a`` (the random policy by default), and returns s_{t+Delta}. Returns (N, 2).
    """
    delta = geometric_offsets(s.shape[0], gamma, generator).clamp_max(max_steps)
    order = torch.argsort(delta, descending=True)  # rows still running form a prefix
    delta_sorted = delta[order]
    cur = step_fn(s[order], a[order], generator)
    out = torch.empty_like(s)
    for k in range(1, int(delta_sorted[0]) + 1):
        alive = int((delta_sorted >= k).sum())
        cur = cur[:alive]
        done = delta_sorted[:alive] == k
        out[order[:alive][done]] = cur[done]
        if k < int(delta_sorted[0]):
            cur = step_fn(cur, policy(cur, generator), generator)
    return out
