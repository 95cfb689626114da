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
Branching (MBRL v3.0) lives in :mod:`course_lib.branching`.
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
