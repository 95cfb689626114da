"""MBRL v3.0's short rollouts branched from real states, and their compounding gap.

T model steps made as T/k rollouts of k steps, each started from a real state, have gap
(T/k) G(k, eps) ~ eps T (k + 1) / 2: linear in T, where one rollout of T steps is quadratic
(:mod:`course_lib.compounding`). The branches are drawn by your ``branched_rollouts``
(Exercise 2.5), which :func:`branch_table` takes as an argument; the mistakes are injected as in
:func:`course_lib.compounding.mistake_rollouts`, with a first mistake at every possible step, so
the expected gap is an exact sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from course_lib.compounding import MistakeRollouts, StepFn, _kicked, first_mistake_probs
from course_lib.utils import one_thread

__all__ = ["Brancher", "BranchTable", "branch_table", "branched_gap", "branched_gap_by_k"]


Brancher = Callable[..., torch.Tensor]
"""MBRL v3.0's data generator (Exercise 2.5): ``(real_obs (N, L, o), step_fn, policy, k, n_branches,
generator) -> (n_branches, k + 1, o)``, start states drawn from all real states, then k model steps."""


@dataclass
class BranchTable:
    """Branches of up to k_max model steps from real states, with every first-mistake time."""

    start_time: np.ndarray
    """(n,) time index t0 of each branch's start in its real trajectory, sorted."""
    start_traj: np.ndarray
    """(n,) index b of the real trajectory each branch starts from."""
    off: np.ndarray
    """(k_max + 1, n, k_max) bool: branch off the real continuation at steps 1..k_max; index
    tau - 1 = first mistake at step tau, index k_max = no mistake (as in MistakeRollouts)."""
    phase: np.ndarray
    """(k_max + 1, n, k_max, 2) the model's (theta, theta_dot) at steps 1..k_max, float16 (for plots)."""

    def __post_init__(self) -> None:
        # (k_max + 1, n, k_max): steps off among the first k, per tau and branch
        self.cum_off = self.off.cumsum(-1)


@one_thread()
@torch.no_grad()
def branch_table(branched_rollouts: Brancher, model_step: StepFn, rollouts: MistakeRollouts, k_max: int,
                 n_branches: int, generator: torch.Generator) -> BranchTable:
    """Branches drawn by ``branched_rollouts`` (Exercise 2.5) from the real trajectories of
    ``rollouts``, k_max model steps each, with a first mistake at every tau = 1..k_max (or none).

    The starts are real states at times t0 <= T - k_max (so the real continuation exists). To
    compare every branch with reality, the "state" handed to ``branched_rollouts`` carries more
    than the pendulum: per row, k_max + 1 copies of the model's observation (one per
    first-mistake time tau) and the indices (trajectory b, start time t0, time t). The policy
    replays the real torque of (b, t); the step moves every copy with ``model_step`` and kicks
    copy tau at step tau. Your function sees an ordinary batch of states.
    """
    c = rollouts.config
    real, actions, signs = rollouts.real, rollouts.actions, rollouts.signs  # (B, T+1, 3), (B, T, 1), (B, T)
    n_traj, T = actions.shape[:2]
    if not 1 <= k_max <= T:
        raise ValueError(f"k_max: expected 1..{T}, got {k_max}")
    K = k_max + 1  # first mistake at tau = 1..k_max, or none
    length = T - k_max + 1  # eligible start times 0..T - k_max
    b_idx = torch.arange(n_traj, dtype=real.dtype)[:, None].expand(n_traj, length)
    t_idx = torch.arange(length, dtype=real.dtype)[None, :].expand(n_traj, length)
    copies = real[:, :length, None, :].expand(n_traj, length, K, 3).reshape(n_traj, length, 3 * K)
    starts = torch.cat([copies, b_idx[..., None], t_idx[..., None], t_idx[..., None]], -1)
    kick_slot = torch.arange(K)  # copy j is kicked at step j + 1 (copy k_max never)

    def indices(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return obs[:, -3].round().long(), obs[:, -2].round().long(), obs[:, -1].round().long()

    def replay_torques(obs: torch.Tensor) -> torch.Tensor:
        b, _, t = indices(obs)
        return actions[b, t].to(obs.dtype)

    def step_all_copies(obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t0, t = indices(obs)
        x = obs[:, : 3 * K].reshape(-1, 3).to(real.dtype)
        nxt, rew = model_step(x, act.to(real.dtype).repeat_interleave(K, 0))
        nxt = nxt.reshape(-1, K, 3)
        kick = torch.where(kick_slot[None, :] == (t - t0)[:, None], c.kick * signs[b, t][:, None], 0.0)
        nxt = _kicked(nxt, kick).reshape(-1, 3 * K).to(obs.dtype)
        return torch.cat([nxt, obs[:, -3:-1], (t + 1)[:, None].to(obs.dtype)], -1), rew.reshape(-1, K)[:, -1]

    out = branched_rollouts(starts, step_all_copies, replay_torques, k_max, n_branches, generator)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n_branches, K, 3 * K + 3):
        raise ValueError(f"branched_rollouts: expected a tensor of shape {(n_branches, K, 3 * K + 3)}, "
                         f"got {getattr(out, 'shape', type(out).__name__)}")
    b, t0, _ = indices(out[:, 0])
    order = torch.argsort(t0, stable=True)
    out, b, t0 = out[order], b[order], t0[order]
    model = out[:, :, : 3 * K].reshape(n_branches, K, K, 3).permute(2, 0, 1, 3).float()  # (tau, n, step, 3)
    cont = real[b[:, None], t0[:, None] + torch.arange(K)]  # (n, K, 3) the real continuation
    off = ((model[:, :, 1:] - cont[None, :, 1:]).norm(dim=-1) > c.tol).numpy()
    obs = model[:, :, 1:]
    phase = torch.stack([torch.atan2(obs[..., 1], obs[..., 0]), obs[..., 2]], -1)
    return BranchTable(t0.numpy(), b.numpy(), off, phase.numpy().astype(np.float16))


def branched_gap(table: BranchTable, T: np.ndarray, k: int, eps: float) -> np.ndarray:
    """Expected steps off among T model steps made as T/k branches of k steps, started from real
    states at times t0 <= T - k (the real data seen so far). T: (nT,) ints >= k. Returns (nT,)."""
    k_max = table.off.shape[2]
    if not 1 <= k <= k_max:
        raise ValueError(f"k: expected 1..{k_max}, got {k}")
    T = np.asarray(T, dtype=int)
    p, none = first_mistake_probs(k, np.array([eps]))
    per_branch = table.cum_off[:, :, k - 1]  # (k_max + 1, n) steps off in k steps, per tau
    g = p[0] @ per_branch[:k] + none[0] * per_branch[-1]  # (n,) expected gap of each branch
    prefix = np.cumsum(g)
    n_eligible = np.searchsorted(table.start_time, T - k, side="right")
    n_eligible = np.maximum(n_eligible, 1)
    return T / k * prefix[n_eligible - 1] / n_eligible


def branched_gap_by_k(table: BranchTable, T: int, eps: float) -> np.ndarray:
    """``branched_gap`` at one T for every k = 1..min(k_max, T) at once. Returns (k_max,) (0 where k > T)."""
    k_max = table.off.shape[2]
    ks = np.arange(1, k_max + 1)
    p, none = first_mistake_probs(k_max, np.array([eps]))
    w = np.where(ks[None, :] <= ks[:, None], p, 0.0)  # (k, tau): the first mistake must come within k
    cum = table.cum_off  # (k_max + 1, n, k_max)
    per_branch = np.einsum("kt,tnk->kn", w, cum[:-1]) + (1.0 - eps) ** ks[:, None] * cum[-1].T  # (k, n)
    prefix = np.cumsum(per_branch, axis=1)
    n_eligible = np.maximum(np.searchsorted(table.start_time, T - ks, side="right"), 1)
    out = T / ks * prefix[ks - 1, n_eligible - 1] / n_eligible
    return np.where(ks <= T, out, 0.0)
