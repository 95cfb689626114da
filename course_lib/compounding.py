"""Compounding model error: why the gap of a T-step model rollout grows like eps T^2, and why
short rollouts branched from real states (MBRL v3.0) make it linear in T.

The toy (the lecture's tightrope): at every step the model makes a mistake with probability eps,
and a mistake is absorbing (once off the real trajectory you stay off). The *gap* G(T, eps) is
the expected number of steps t = 1..T spent off the real trajectory: you derive it in
Exercise 2.4. It is about eps T (T + 1) / 2 while eps T << 1 and approaches
T - (1 - eps) / eps once eps T >> 1 (almost every rollout is off).

The same with a learned Pendulum model and *injected* mistakes (a check of the assumption that
mistakes are absorbing): each model step, with probability eps, the predicted angular velocity is
wrong by +-kick rad/s. The model's state is *off* at step t when its observation is more than
``tol`` from the real one (same start, same torques). We roll out the model once for every
possible time tau of the first mistake, so the expected gap is an exact sum over tau:

    G(T, eps) = sum_{tau=1}^T eps (1 - eps)^(tau-1) D_tau(T) + (1 - eps)^T D_none(T),

D_tau(T) = steps off among 1..T when the first mistake is at tau (averaged over start states).
:func:`model_errors` measures the learned model's *own* error instead (nothing injected): the
distance to reality after t steps, and its one-step error.
Branching (MBRL v3.0, Exercise 2.5 draws the branches): T model steps made as T/k rollouts of
k steps, each from a real state, have gap (T/k) G(k, eps) ~ eps T (k + 1) / 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from course_lib import datafiles, envs
from course_lib.utils import one_thread

__all__ = [
    "simulate_toy_gap",
    "first_mistake_probs",
    "MistakeConfig",
    "MistakeRollouts",
    "mistake_rollouts",
    "expected_gap",
    "model_horizon",
    "simulate_model_gap",
    "sample_first_mistake",
    "loglog_slope",
    "real_rollouts",
    "ModelErrors",
    "model_errors",
    "load_model_error_sweep",
    "Brancher",
    "BranchTable",
    "branch_table",
    "branched_gap",
    "branched_gap_by_k",
]

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def simulate_toy_gap(T: int, eps: float, n_runs: int, rng: np.random.Generator) -> tuple[float, float]:
    """Monte Carlo of the toy: Bernoulli(eps) mistakes per step, absorbing. Returns (mean, std error)."""
    mistakes = rng.random((n_runs, T)) < eps
    off = np.logical_or.accumulate(mistakes, axis=1)  # off from the first mistake on
    steps_off = off.sum(1)
    return float(steps_off.mean()), float(steps_off.std() / math.sqrt(n_runs))


def first_mistake_probs(T: int, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(first mistake at step tau) for tau = 1..T and P(no mistake in T steps).

    eps: (E,). Returns (E, T) and (E,).
    """
    eps = np.asarray(eps, dtype=np.float64).reshape(-1)
    tau = np.arange(1, T + 1)
    return eps[:, None] * (1.0 - eps[:, None]) ** (tau - 1), (1.0 - eps) ** T


def sample_first_mistake(eps: float, u: np.ndarray) -> np.ndarray:
    """Step of the first mistake (1, 2, ...; inf for none) from uniforms u in (0, 1): inverse CDF."""
    if eps <= 0:
        return np.full(np.shape(u), np.inf)
    if eps >= 1:
        return np.ones(np.shape(u))
    return np.ceil(np.log(u) / math.log1p(-eps))


@dataclass(frozen=True)
class MistakeConfig:
    """Model rollouts with injected mistakes, compared with real rollouts."""

    n_starts: int = 48
    """Real start states (Pendulum-v1's reset distribution)."""
    horizon: int = 60
    """Longest rollout T (steps)."""
    kick: float = 3.0
    """A mistake adds +-kick (random sign) to the predicted angular velocity (rad/s)."""
    tol: float = 0.5
    """The model is *off* when its observation is farther than tol (Euclidean) from the real one."""
    seed: int = 0
    """Seed of the start states, torques and kick signs."""


@dataclass
class MistakeRollouts:
    """Real rollouts and, for every first-mistake time tau, the model rollout from the same start."""

    real: torch.Tensor
    """(B, T+1, 3) real observations under the torques ``actions``."""
    actions: torch.Tensor
    """(B, T, 1) the torques, uniform in [-2, 2], shared by real and model rollouts."""
    signs: torch.Tensor
    """(B, T) the sign of the kick a mistake at each step would give."""
    model: torch.Tensor
    """(T+1, B, T+1, 3) model observations; index tau-1 = first mistake at step tau, index T = none."""
    off: np.ndarray
    """(T+1, B, T) bool: model off the real trajectory at steps 1..T (same tau indexing)."""
    config: MistakeConfig
    """How they were made."""

    @property
    def cum_off(self) -> np.ndarray:
        """(T+1, T): D_tau(t), steps off among 1..t averaged over start states."""
        return self.off.mean(1).cumsum(-1)


def _kicked(obs: torch.Tensor, kick: torch.Tensor) -> torch.Tensor:
    return torch.cat([obs[..., :2], obs[..., 2:] + kick[..., None]], dim=-1)


@torch.no_grad()
def real_rollouts(config: MistakeConfig = MistakeConfig()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The real side of the experiment: ``config.n_starts`` Pendulum trajectories of ``horizon``
    steps under uniformly random torques. Returns real obs (B, T+1, 3) float32, torques (B, T, 1)
    and the kick signs (B, T) a mistake at each step would use."""
    c = config
    gen = torch.Generator().manual_seed(c.seed)
    b, T = c.n_starts, c.horizon
    theta = (torch.rand(b, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    state = torch.stack([theta, torch.rand(b, generator=gen, dtype=torch.float64) * 2 - 1], -1)
    actions = torch.rand(b, T, 1, generator=gen) * 4 - 2
    signs = torch.where(torch.rand(b, T, generator=gen) < 0.5, -1.0, 1.0)
    real = [envs.pendulum_obs(state)]
    for t in range(T):
        state, _ = envs.pendulum_step(state, actions[:, t].double())
        real.append(envs.pendulum_obs(state))
    return torch.stack(real, 1).float(), actions, signs


@one_thread()
@torch.no_grad()
def mistake_rollouts(model_step: StepFn, config: MistakeConfig = MistakeConfig()) -> MistakeRollouts:
    """Roll the real Pendulum and the model (with a first mistake at every possible step) from the
    same B start states under the same random torques. Costs (T+1) B model rollouts of T steps."""
    c = config
    b, T = c.n_starts, c.horizon
    real, actions, signs = real_rollouts(c)
    k = T + 1  # tau = 1..T, and "no mistake"
    tau = torch.arange(1, k + 1).repeat_interleave(b)
    obs = real[:, 0].repeat(k, 1)
    model = [obs]
    for t in range(T):
        obs, _ = model_step(obs, actions[:, t].repeat(k, 1))
        obs = _kicked(obs, torch.where(tau == t + 1, c.kick * signs[:, t].repeat(k), 0.0))
        model.append(obs)
    model = torch.stack(model, 1).reshape(k, b, T + 1, 3)
    off = ((model[:, :, 1:] - real[None, :, 1:]).norm(dim=-1) > c.tol).numpy()
    return MistakeRollouts(real, actions, signs, model, off, c)


@dataclass
class ModelErrors:
    """A learned model's own error, nothing injected: the model rolled out open loop beside reality."""

    state_error: np.ndarray
    """(T,) mean over start states of |model obs - real obs| after t = 1..T steps (same torques)."""
    one_step: float
    """Mean |model(o_t, a_t) - o_{t+1}| over the real transitions: the per-step error eps_1."""
    return_error: np.ndarray
    """(T,) mean over start states of |model return - real return| over the first t = 1..T steps."""


@one_thread()
@torch.no_grad()
def model_errors(model_step: StepFn, config: MistakeConfig = MistakeConfig()) -> ModelErrors:
    """Measure ``model_step`` against the real rollouts of ``config``: the distance after t steps of
    the model alone, the one-step error on the real transitions, and the return error."""
    real, actions, _ = real_rollouts(config)
    b, T = actions.shape[:2]
    state = envs.pendulum_state(real[:, :-1].double())
    _, real_rew = envs.pendulum_step(state, actions.double())  # (B, T) reward of each real step
    obs, model_obs, model_rew = real[:, 0], [], []
    for t in range(T):
        obs, rew = model_step(obs, actions[:, t])
        model_obs.append(obs)
        model_rew.append(rew)
    model_obs, model_rew = torch.stack(model_obs, 1), torch.stack(model_rew, 1).double()
    one, _ = model_step(real[:, :-1].reshape(-1, 3), actions.reshape(-1, 1))
    return ModelErrors(
        state_error=(model_obs - real[:, 1:]).norm(dim=-1).mean(0).double().numpy(),
        one_step=float((one.reshape(b, T, 3) - real[:, 1:]).norm(dim=-1).mean()),
        return_error=(model_rew - real_rew).cumsum(1).abs().mean(0).numpy())


def load_model_error_sweep() -> dict:
    """The committed sweep of :func:`model_errors` over data sizes and seeds (see its "command").

    Keys: "command", "config", "n_transitions" (N,), "seeds" (S,), "state_error" (N, S, T),
    "one_step" (N, S), "return_error" (N, S, T).
    """
    return datafiles.load("part2_model_error.json")


def expected_gap(cum_off: np.ndarray, T: int | np.ndarray, eps: float | np.ndarray) -> np.ndarray:
    """G(T, eps) from D_tau(T) = ``cum_off`` (n_tau + 1, T_max), exactly, as in the module docstring.

    T: int or (nT,) ints in 1..T_max; eps: float or (nE,). Returns (nE, nT), squeezed like the inputs.
    """
    t_max = cum_off.shape[1]
    Ts = np.atleast_1d(np.asarray(T, dtype=int))
    es = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    if Ts.min() < 1 or Ts.max() > t_max:
        raise ValueError(f"T: expected values in 1..{t_max}, got {T}")
    n_tau = cum_off.shape[0] - 1
    p, _ = first_mistake_probs(n_tau, es)  # (nE, n_tau)
    tau = np.arange(1, n_tau + 1)
    d = cum_off[:-1, Ts - 1] * (tau[:, None] <= Ts[None, :])  # mistakes after T do not count
    out = p @ d + (1.0 - es[:, None]) ** Ts[None, :] * cum_off[-1, Ts - 1][None, :]
    out = np.maximum(out, 0.0)
    if np.ndim(T) == 0:
        out = out[:, 0]
    return out[0] if np.ndim(eps) == 0 else out


def model_horizon(rollouts: MistakeRollouts) -> int:
    """Steps for which the learned model alone (no injected mistake) stays within tol of reality
    on every start state: the largest T with D_none(T) = 0."""
    drifted = rollouts.off[-1].any(0)  # (T,) some start state is off at step t
    return int(np.argmax(drifted)) if drifted.any() else int(drifted.shape[0])


def simulate_model_gap(rollouts: MistakeRollouts, T: int, eps: float, n_draws: int,
                       rng: np.random.Generator) -> tuple[float, float]:
    """Monte Carlo of G(T, eps): draw a start state and a first-mistake time, count steps off.

    Checks ``expected_gap`` by sampling. Returns (mean, std error) over n_draws rollouts.
    """
    b = rng.integers(0, rollouts.off.shape[1], n_draws)
    tau = sample_first_mistake(eps, rng.random(n_draws))
    idx = np.where(tau <= rollouts.off.shape[2], tau - 1, rollouts.off.shape[0] - 1).astype(int)
    steps_off = rollouts.off[idx, b, :T].sum(-1)
    return float(steps_off.mean()), float(steps_off.std() / math.sqrt(n_draws))


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x (positive entries only)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x > 0) & (y > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


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
