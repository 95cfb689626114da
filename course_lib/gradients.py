"""Backpropagation through a model (MBRL v2.0) and why its gradients explode or vanish.

MBRL v2.0 (lecture part 1) trains a policy pi_theta by differentiating the model's return

    J(theta) = sum_{t=0}^{T-1} r_hat(s_t, a_t),  a_t = pi_theta(s_t),  s_{t+1} = f_hat(s_t, a_t)

through time (BPTT). By the chain rule the gradient for the action at step t is

    dJ/da_t = dr_t/da_t + (df/da_t)^T lambda_{t+1},   lambda_t = dr_t/ds_t + (df/ds_t)^T lambda_{t+1},

so every reward k > t reaches a_t through the product of Jacobians
prod_{j=t+1}^{k-1} ds_{j+1}/ds_j. Long products of Jacobians explode or vanish, like the
gradients of an RNN trained with BPTT, and unlike an LSTM we cannot choose the recurrence:
f_hat has to match the real dynamics.

A *step function* maps ``obs (N, O), act (N, A) -> (next_obs (N, O), reward (N,))``: a
learned model's ``mean_step`` or the true ``envs.pendulum_step``. Everything is batched.

Two pieces are yours, written in the notebook and passed in as arguments: ``gradient``
(Exercise 1.3: ``gradient(step, obs (O,), actions (T, A)) -> dJ/da (T, A)`` by BPTT) and
``product`` (Exercise 1.4: ``product(jacobians (T, S, S)) -> (S, S)``, the Jacobian of T steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
GradientFn = Callable[[StepFn, torch.Tensor, torch.Tensor], torch.Tensor]
"""``gradient(step, obs (O,), actions (T, A)) -> dJ/da (T, A)`` of the open-loop return (Exercise 1.3)."""
ProductFn = Callable[[torch.Tensor], torch.Tensor]
"""``product(jacobians (T, S, S)) -> (S, S)``: A_{T-1} ... A_0, the Jacobian of T steps (Exercise 1.4)."""

__all__ = [
    "GradientFn",
    "ProductFn",
    "step_jacobians",
    "singular_values",
    "product_singular_values",
    "hessian_condition_number",
    "clip_for_log",
    "MLPPolicy",
    "BPTTConfig",
    "BPTTLog",
    "policy_return",
    "policy_action_gradients",
    "train_policy_bptt",
    "evaluate_policy",
]


def step_jacobians(step: StepFn, obs: torch.Tensor, act: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Jacobians of one step at N (state, action) pairs, all in one backward pass.

    obs (N, O), act (N, A). Returns ds'/ds (N, O, O), ds'/da (N, O, A), dr/ds (N, O),
    dr/da (N, A). (The batch is replicated O + 1 times, once per output row.)
    """
    n, o = obs.shape
    rows = o + 1
    s = obs.detach().repeat(rows, 1).requires_grad_(True)
    a = act.detach().repeat(rows, 1).requires_grad_(True)
    nxt, r = step(s, a)
    out = torch.cat([nxt, r.unsqueeze(-1)], dim=-1).reshape(rows, n, rows)
    picked = torch.diagonal(out, dim1=0, dim2=2)  # (N, rows): block i keeps output i
    gs, ga = torch.autograd.grad(picked.sum(), (s, a))
    gs = gs.reshape(rows, n, o).transpose(0, 1)  # (N, rows, O)
    ga = ga.reshape(rows, n, -1).transpose(0, 1)
    return gs[:, :o], ga[:, :o], gs[:, o], ga[:, o]


def singular_values(matrices: torch.Tensor) -> torch.Tensor:
    """Singular values (largest first) of (..., S, S) matrices; non-finite inputs give inf."""
    finite = torch.isfinite(matrices).all(dim=(-2, -1))
    safe = torch.where(finite[..., None, None], matrices, torch.zeros_like(matrices))
    sv = torch.linalg.svdvals(safe)
    return torch.where(finite[..., None], sv, torch.full_like(sv, float("inf")))


def product_singular_values(product: ProductFn, jacobians: torch.Tensor) -> torch.Tensor:
    """Singular values (largest first) of every partial product P_k = A_{k-1} ... A_0, k = 1..T.

    jacobians: (T, S, S) -> (T, S). ``product(jacobians[:k])`` (Exercise 1.4) computes P_k, once
    per k. An SVD cannot resolve sigma_min below ~1e-16 sigma_max, so for 2 x 2 Jacobians the
    smaller value is |det P_k| / sigma_max with det P_k = prod_j det A_j, which stays accurate
    however ill-conditioned the product gets.
    """
    t_max, s = jacobians.shape[0], jacobians.shape[-1]
    if t_max == 0:
        return torch.zeros(0, s, dtype=jacobians.dtype)
    products = torch.stack([torch.as_tensor(product(jacobians[:k]), dtype=jacobians.dtype).reshape(s, s)
                            for k in range(1, t_max + 1)])
    sv = singular_values(products)
    if s == 2:
        det = torch.cumprod(torch.linalg.det(jacobians).abs(), dim=0)
        sv = torch.stack([sv[:, 0], det / sv[:, 0]], dim=-1)
        sv = torch.where(torch.isfinite(sv[:, :1]), sv, torch.full_like(sv, float("inf")))
    return sv


def hessian_condition_number(gradient: GradientFn, step: StepFn, obs: torch.Tensor,
                             actions: torch.Tensor, eps: float = 1e-5) -> float:
    """|lambda|_max / |lambda|_min of the Hessian d^2 J / da^2 over the action sequence (T, A).

    The Hessian is the derivative of the gradient: its column i is the central difference
    (g(a + eps e_i) - g(a - eps e_i)) / (2 eps) of ``gradient(step, obs, a)`` (Exercise 1.3),
    symmetrised. Pass float64 tensors (obs (O,), actions (T, A)).
    """
    a = actions.detach().reshape(-1)
    cols = []
    for i in range(a.numel()):
        e = torch.zeros_like(a)
        e[i] = eps
        up, down = (torch.as_tensor(gradient(step, obs.detach(), (a + d).reshape(actions.shape)),
                                    dtype=a.dtype).reshape(-1) for d in (e, -e))
        cols.append((up - down) / (2 * eps))
    hess = torch.stack(cols, dim=1)
    eig = torch.linalg.eigvalsh(0.5 * (hess + hess.T)).abs()
    return float(eig.max() / eig.min().clamp_min(torch.finfo(eig.dtype).tiny))


def clip_for_log(values: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Values ready for a log-scale plot: clipped to [low, high]; returns (clipped, flagged).

    ``flagged`` marks entries that were inf, NaN or above ``high`` (drawn as warning markers).
    Entries below ``low`` (including exact zeros) are drawn at ``low`` without a flag.
    """
    v = np.asarray(values, dtype=np.float64)
    flagged = ~np.isfinite(v) | (v > high)
    clipped = np.clip(np.nan_to_num(v, nan=high, posinf=high, neginf=low), low, high)
    return clipped, flagged


class MLPPolicy(nn.Module):
    """Deterministic policy a = max_action * tanh(MLP(obs)): obs (B, O) -> act (B, A)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 32, max_action: float = 2.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.max_action = max_action
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                 nn.Tanh(), nn.Linear(hidden, act_dim))
        if generator is not None:
            with torch.no_grad():
                for p in self.parameters():
                    bound = 1.0 / np.sqrt(p.shape[-1]) if p.dim() > 1 else 0.0
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.max_action * torch.tanh(self.net(obs))


@dataclass(frozen=True)
class BPTTConfig:
    """Training a policy by backpropagating the model's return through time."""

    horizon: int = 15
    """T: model steps per imagined rollout."""
    n_updates: int = 150
    """Gradient steps."""
    batch_size: int = 64
    """Start states per update (drawn from real observations)."""
    lr: float = 3e-3
    """Adam learning rate."""


@dataclass
class BPTTLog:
    """Per update: the model's mean return over the batch and the gradient norm."""

    objective: list[float] = field(default_factory=list)
    """Mean J over the batch of start states (model return over T steps)."""
    grad_norm: list[float] = field(default_factory=list)
    """||dJ/dtheta|| before the optimiser step (inf/NaN if it blew up)."""


def policy_return(policy: nn.Module, step: StepFn, obs0: torch.Tensor, horizon: int) -> torch.Tensor:
    """J = sum_{t<T} r_hat(s_t, pi(s_t)) from each start state, differentiable: (B, O) -> (B,)."""
    s, total = obs0, torch.zeros(obs0.shape[0], dtype=obs0.dtype)
    for _ in range(horizon):
        s, r = step(s, policy(s))
        total = total + r
    return total


def policy_action_gradients(policy: nn.Module, step: StepFn, obs0: torch.Tensor, horizon: int
                            ) -> tuple[np.ndarray, float]:
    """Per-step gradients of a policy's model return, and the gradient for its weights.

    Perturbs each action of the rollout, a_t = pi(s_t) + delta_t, and differentiates J at delta = 0.
    obs0: (B, O). Returns (||dJ/da_t|| averaged over the batch, shape (T,), and ||dJ/dtheta||)
    as NumPy/float; they may be inf or NaN when the rollout blows up.
    """
    delta = torch.zeros(obs0.shape[0], horizon, 1, requires_grad=True)
    s, total = obs0, torch.zeros(obs0.shape[0])
    for t in range(horizon):
        s, r = step(s, policy(s) + delta[:, t])
        total = total + r
    params = [p for p in policy.parameters() if p.requires_grad]
    g_delta, *g_theta = torch.autograd.grad(total.mean(), [delta, *params])
    per_step = (g_delta * obs0.shape[0]).norm(dim=-1).mean(0)
    theta_norm = torch.sqrt(sum((g**2).sum() for g in g_theta))
    return per_step.detach().numpy(), float(theta_norm)


def train_policy_bptt(policy: nn.Module, step: StepFn, start_obs: torch.Tensor, cfg: BPTTConfig,
                      generator: torch.Generator) -> BPTTLog:
    """MBRL v2.0: gradient ascent on the model return J(theta) through T steps (BPTT).

    start_obs: (M, O) real observations to start imagined rollouts from. A step whose loss
    or gradient is not finite is skipped (and logged), so training never crashes.
    """
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    log = BPTTLog()
    for _ in range(cfg.n_updates):
        idx = torch.randint(start_obs.shape[0], (cfg.batch_size,), generator=generator)
        j = policy_return(policy, step, start_obs[idx], cfg.horizon).mean()
        opt.zero_grad()
        (-j).backward()
        norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), float("inf"))
        log.objective.append(float(j.detach()))
        log.grad_norm.append(float(norm))
        if torch.isfinite(norm) and torch.isfinite(j):
            opt.step()
    return log


def evaluate_policy(policy: nn.Module, seeds: list[int]) -> np.ndarray:
    """Real Pendulum-v1 return of a deterministic policy, one episode per seed: (len(seeds),)."""
    from course_lib.envs import make_pendulum

    returns = []
    for seed in seeds:
        env, obs = make_pendulum(seed=seed)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                act = policy(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
            obs, rew, terminated, truncated, _ = env.step(act)
            total, done = total + float(rew), terminated or truncated
        env.close()
        returns.append(total)
    return np.array(returns)
