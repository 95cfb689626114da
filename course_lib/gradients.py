"""Backpropagation through a model (MBRL v2.0) and why its gradients explode or vanish.

MBRL v2.0 (lecture part 1) trains a policy pi_theta by differentiating the model's return

    J(theta) = sum_{t=0}^{T-1} r_hat(s_t, a_t),  a_t = pi_theta(s_t),  s_{t+1} = f_hat(s_t, a_t)

through time (BPTT). By the chain rule, dJ/dtheta = sum_t dJ/da_t dpi/dtheta(s_t), where

    dJ/da_t = dr/da_t + sum_{k>t} (dr_k/ds_k) Ã_{k-1} ... Ã_{t+1} (df/da)(s_t, a_t),
    Ã_j = df/ds(s_j, a_j) + df/da(s_j, a_j) dpi/ds(s_j),   dr_k/ds_k = dr/ds + dr/da dpi/ds:

every reward k > t reaches a_t through the product of *closed-loop* Jacobians Ã (the policy
reacts to every state it is moved to). For an open-loop action sequence dpi/ds = 0 and Ã_j is
the model's own ds_{j+1}/ds_j. Long products of Jacobians explode or vanish, like the
gradients of an RNN trained with BPTT, and unlike an LSTM we cannot choose the recurrence:
f_hat has to match the real dynamics.

A *step function* maps ``obs (N, O), act (N, A) -> (next_obs (N, O), reward (N,))``: a
learned model's ``mean_step`` or the true ``envs.pendulum_step``. Everything is batched.

Two pieces are yours, written in the notebook and passed in as arguments: ``gradient``
(Exercise 1.4: ``gradient(step, obs (O,), actions (T, A)) -> dJ/da (T, A)`` by BPTT) and
``product`` (Exercise 1.5: ``product(ds (T, S, S), da (T, S, A), dpi (T, A, S)) -> (S, S)``,
the closed-loop Jacobian of T steps, Ã_{T-1} ... Ã_0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
GradientFn = Callable[[StepFn, torch.Tensor, torch.Tensor], torch.Tensor]
"""``gradient(step, obs (O,), actions (T, A)) -> dJ/da (T, A)`` of the open-loop return (Exercise 1.4)."""
ProductFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``product(ds (T, S, S), da (T, S, A), dpi (T, A, S)) -> (S, S)``: Ã_{T-1} ... Ã_0 (Exercise 1.5)."""

__all__ = [
    "GradientFn",
    "ProductFn",
    "step_jacobians",
    "singular_values",
    "product_singular_values",
    "hessian",
    "hessian_condition_number",
    "clip_for_log",
    "MLPPolicy",
    "BPTTConfig",
    "BPTTLog",
    "policy_return",
    "policy_action_gradients",
    "policy_action_gradient",
    "closed_loop_jacobians",
    "chain_rule_action_gradients",
    "train_policy_bptt",
    "evaluate_policy",
    "HORIZON_SWEEP",
    "load_horizon_sweep",
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


def product_singular_values(product: ProductFn, ds: torch.Tensor, da: torch.Tensor | None = None,
                            dpi: torch.Tensor | None = None) -> torch.Tensor:
    """Singular values (largest first) of every partial product P_k = Ã_{k-1} ... Ã_0, k = 1..T.

    ds (T, S, S), da (T, S, A), dpi (T, A, S): the closed-loop Jacobians Ã_j = ds_j + da_j dpi_j;
    without ``da``/``dpi`` the loop is open (Ã_j = ds_j). ``product(ds[:k], da[:k], dpi[:k])``
    (Exercise 1.5) computes P_k, once per k. Returns (T, S). An SVD cannot resolve sigma_min below
    ~1e-16 sigma_max, so for 2 x 2 Jacobians the smaller value is |det P_k| / sigma_max with
    det P_k = prod_j det Ã_j, which stays accurate however ill-conditioned the product gets.
    """
    t_max, s = ds.shape[0], ds.shape[-1]
    if da is None or dpi is None:
        da, dpi = torch.zeros(t_max, s, 1, dtype=ds.dtype), torch.zeros(t_max, 1, s, dtype=ds.dtype)
    if t_max == 0:
        return torch.zeros(0, s, dtype=ds.dtype)
    products = torch.stack([torch.as_tensor(product(ds[:k], da[:k], dpi[:k]), dtype=ds.dtype).reshape(s, s)
                            for k in range(1, t_max + 1)])
    sv = singular_values(products)
    if s == 2:
        det = torch.cumprod(torch.linalg.det(ds + da @ dpi).abs(), dim=0)
        sv = torch.stack([sv[:, 0], det / sv[:, 0]], dim=-1)
        sv = torch.where(torch.isfinite(sv[:, :1]), sv, torch.full_like(sv, float("inf")))
    return sv


def hessian(gradient: GradientFn, step: StepFn, obs: torch.Tensor, actions: torch.Tensor,
            eps: float = 1e-5) -> torch.Tensor:
    """The Hessian d^2 J / da^2 over the action sequence (T, A), flattened: (T A, T A).

    It is the derivative of the gradient: its column i is the central difference
    (g(a + eps e_i) - g(a - eps e_i)) / (2 eps) of ``gradient(step, obs, a)`` (Exercise 1.4),
    symmetrised; 2 T A gradient calls. Pass float64 tensors (obs (O,), actions (T, A)).
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
    return 0.5 * (hess + hess.T)


def hessian_condition_number(gradient: GradientFn, step: StepFn, obs: torch.Tensor,
                             actions: torch.Tensor, eps: float = 1e-5) -> float:
    """|lambda|_max / |lambda|_min of the Hessian d^2 J / da^2 (:func:`hessian`) at ``actions`` (T, A)."""
    eig = torch.linalg.eigvalsh(hessian(gradient, step, obs, actions, eps)).abs()
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


def policy_action_gradient(policy: nn.Module, step: StepFn, obs0: torch.Tensor, horizon: int) -> torch.Tensor:
    """dJ/da_t of a policy's rollout by autograd, the policy reacting after the nudge: (T, A).

    a_t = pi(s_t) + delta_t from obs0 (O,); the derivative of J at delta = 0.
    """
    delta = torch.zeros(horizon, 1, dtype=obs0.dtype, requires_grad=True)
    s, total = obs0.reshape(1, -1), 0.0
    for t in range(horizon):
        s, r = step(s, policy(s) + delta[t])
        total = total + r.sum()
    return torch.autograd.grad(total, delta)[0]


def closed_loop_jacobians(policy: nn.Module, step: StepFn, obs0: torch.Tensor, horizon: int) -> dict:
    """Every Jacobian of the chain rule along a policy's rollout from obs0 (O,), T = ``horizon`` steps.

    Returns ``ds`` (T, O, O) = df/ds, ``da`` (T, O, A) = df/da, ``dpi`` (T, A, O) = dpi/ds,
    ``rs`` (T, O) = dr/ds and ``ra`` (T, A) = dr/da, at the visited states and the policy's actions.
    """
    states, s = [], obs0.detach().reshape(1, -1)
    with torch.no_grad():
        for _ in range(horizon):
            states.append(s)
            s, _ = step(s, policy(s))
    states = torch.cat(states)
    x = states.clone().requires_grad_(True)
    acts = policy(x)
    dpi = torch.stack([torch.autograd.grad(acts[:, i].sum(), x, retain_graph=True)[0]
                       for i in range(acts.shape[1])], dim=1)  # (T, A, O): each row depends on its own state
    ds, da, rs, ra = step_jacobians(step, states, acts.detach())
    return {"ds": ds, "da": da, "dpi": dpi, "rs": rs, "ra": ra}


def chain_rule_action_gradients(product: ProductFn, jac: dict) -> torch.Tensor:
    """dJ/da_t by the chain rule of the module docstring, with ``product`` (Exercise 1.5): (T, A).

    dJ/da_t = dr/da_t + sum_{k>t} (dr/ds_k + dr/da_k dpi_k) Ã_{k-1} ... Ã_{t+1} df/da_t, with the
    Jacobians ``jac`` of :func:`closed_loop_jacobians` (pass ``dpi`` = 0 for an open-loop sequence).
    """
    ds, da, dpi, rs, ra = (jac[k] for k in ("ds", "da", "dpi", "rs", "ra"))
    horizon, out = ds.shape[0], []
    for t in range(horizon):
        g = ra[t].clone()
        for k in range(t + 1, horizon):
            chain = torch.as_tensor(product(ds[t + 1:k], da[t + 1:k], dpi[t + 1:k]), dtype=ds.dtype)
            g = g + (rs[k] + ra[k] @ dpi[k]) @ chain @ da[t]
        out.append(g)
    return torch.stack(out)


def train_policy_bptt(policy: nn.Module, step: StepFn, start_obs: torch.Tensor, cfg: BPTTConfig,
                      generator: torch.Generator, callback: Callable[[int, nn.Module], None] | None = None
                      ) -> BPTTLog:
    """MBRL v2.0: gradient ascent on the model return J(theta) through T steps (BPTT).

    start_obs: (M, O) real observations to start imagined rollouts from. A step whose loss
    or gradient is not finite is skipped (and logged), so training never crashes.
    ``callback(i, policy)`` runs before update i and once more after the last (i = n_updates).
    """
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    log = BPTTLog()
    for i in range(cfg.n_updates):
        if callback is not None:
            callback(i, policy)
        idx = torch.randint(start_obs.shape[0], (cfg.batch_size,), generator=generator)
        j = policy_return(policy, step, start_obs[idx], cfg.horizon).mean()
        opt.zero_grad()
        (-j).backward()
        norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), float("inf"))
        log.objective.append(float(j.detach()))
        log.grad_norm.append(float(norm))
        if torch.isfinite(norm) and torch.isfinite(j):
            opt.step()
    if callback is not None:
        callback(cfg.n_updates, policy)
    return log


HORIZON_SWEEP = "part1_bptt_horizons.json"
"""The committed BPTT-horizon sweep (``scripts/part1_bptt_horizons.py``), in ``course_lib/data``."""


def load_horizon_sweep() -> dict:
    """The BPTT-horizon sweep: ``horizons`` (H,), ``objective`` and ``grad_norm`` (S, H, U) per update,
    ``real_return`` (S, H, E, 5) every ``eval_updates``, ``mpc_return`` (S, 5), and its ``command``."""
    from course_lib import datafiles

    return datafiles.load(HORIZON_SWEEP)


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
