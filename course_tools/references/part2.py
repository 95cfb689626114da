"""Reference answers of 02_gradients_and_compounding_error: two gradient estimators (2.1, 2.2),
the REINFORCE loss of MBRL v2.5 (2.3), the tightrope's gap and its small-eps T approximation (2.4)
and MBRL v3.0's branched rollouts (2.5)."""

from __future__ import annotations

import numpy as np
import torch

from course_tools.references import reference


def _check_eps(eps: torch.Tensor) -> None:
    if not isinstance(eps, torch.Tensor) or eps.dim() != 1:
        raise ValueError(f"eps: expected a 1-D torch tensor of N(0, 1) draws, got {eps!r:.80}")
    if not torch.isfinite(eps).all():
        raise ValueError("eps: expected finite values, got NaN or inf")


@reference("2.1")
def likelihood_ratio_grad(f, mu: float, sigma: float, eps: torch.Tensor) -> torch.Tensor:
    """Per-sample likelihood-ratio estimates of d/dmu E_{x~N(mu, sigma^2)}[f(x)].

    g_i = f(x_i) * d log N(x_i; mu, sigma^2)/d mu = f(x_i) (x_i - mu) / sigma^2, x_i = mu + sigma eps_i.
    eps (N,) -> (N,); their mean is the estimate.
    """
    _check_eps(eps)
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
    x = mu + sigma * eps
    return f(x) * (x - mu) / sigma**2


@reference("2.2")
def reparam_grad(f, mu: float, sigma: float, eps: torch.Tensor) -> torch.Tensor:
    """Per-sample pathwise (reparameterised) estimates g_i = d f(mu + sigma eps_i) / d mu, by autograd.

    eps (N,) -> (N,), detached.
    """
    _check_eps(eps)
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)  # one copy of mu per sample
    (grad,) = torch.autograd.grad(f(mu_t + sigma * eps).sum(), mu_t)
    return grad.detach()


def _loss_as_data(log_prob: torch.Tensor, rew: torch.Tensor, gamma: float) -> torch.Tensor:
    """What the visible check compares with: the loss as a 1-element tensor (the data files store
    a 0-d array as shape (1,), so the saved answer is kept in that shape; the check reshapes it)."""
    return reinforce_loss(log_prob, rew, gamma).detach().reshape(1)


@reference("2.3", expected=lambda *args, **kwargs: _loss_as_data(*args, **kwargs))
def reinforce_loss(log_prob: torch.Tensor, rew: torch.Tensor, gamma: float) -> torch.Tensor:
    """Surrogate loss of REINFORCE with reward-to-go and a per-step baseline.

    L = -(1/(B H)) sum_{i,t} log_prob[i, t] (G[i, t] - b[t]),
    G[i, t] = sum_{t' >= t} gamma^(t' - t) rew[i, t'],  b[t] = (1/B) sum_i G[i, t].
    log_prob, rew (B, H) -> a scalar tensor; its gradient is minus the REINFORCE estimate / (B H).
    """
    if not isinstance(log_prob, torch.Tensor) or not isinstance(rew, torch.Tensor):
        raise TypeError("log_prob and rew: expected torch tensors")
    if log_prob.dim() != 2 or log_prob.shape != rew.shape:
        raise ValueError(f"log_prob, rew: expected two (B, H) tensors, got {tuple(log_prob.shape)} "
                         f"and {tuple(rew.shape)}")
    if not 0 <= gamma <= 1:
        raise ValueError(f"gamma: expected a discount in [0, 1], got {gamma!r}")
    rew = rew.detach()
    t = torch.arange(rew.shape[1])
    lag = t[None, :] - t[:, None]  # lag[t, t'] = t' - t
    discount = torch.where(lag >= 0, float(gamma) ** lag.clamp(min=0).to(rew.dtype), 0.0)
    reward_to_go = rew @ discount.T  # (B, H): sum_{t' >= t} gamma^(t' - t) rew[:, t']
    advantage = reward_to_go - reward_to_go.mean(0, keepdim=True)
    return -(log_prob * advantage).mean()


@reference("2.4")
def tightrope_gap(T: int, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected steps off the tightrope among 1..T, exactly and for small eps T, elementwise in eps.

    exact  = sum_{t=1}^T [1 - (1 - eps)^t]   (off at t unless all of the steps 1..t went right)
    approx = eps T (T + 1) / 2               (1 - (1 - eps)^t ~ eps t while eps t << 1)
    Returns (exact, approx), each of eps's shape.
    """
    if int(T) != T or T < 0:
        raise ValueError(f"T: expected a non-negative int, got {T!r}")
    eps = np.asarray(eps, dtype=np.float64)
    if np.any(~np.isfinite(eps)) or np.any((eps < 0) | (eps > 1)):
        raise ValueError(f"eps: expected probabilities in [0, 1], got {eps}")
    # P(still on the rope after t steps) = (1 - eps)^t, built as a running product over t
    on_rope = np.cumprod(np.broadcast_to((1.0 - eps)[..., None], eps.shape + (int(T),)), axis=-1)
    return int(T) - on_rope.sum(-1), eps * T * (T + 1) / 2


@reference("2.5")
@torch.no_grad()
def branched_rollouts(real_obs: torch.Tensor, step_fn, policy, k: int, n_branches: int,
                      generator: torch.Generator) -> torch.Tensor:
    """Start states drawn uniformly from *all* real states, then k model steps under ``policy``.

    real_obs (N, L, o) -> (n_branches, k + 1, o); [:, 0] are the real start states.
    """
    n, length, _ = real_obs.shape
    flat = torch.randint(0, n * length, (n_branches,), generator=generator)
    out = real_obs.new_empty(n_branches, k + 1, real_obs.shape[-1])
    out[:, 0] = real_obs[flat // length, flat % length]  # trajectory and time of each draw
    for t in range(k):
        out[:, t + 1] = step_fn(out[:, t], policy(out[:, t]))[0]
    return out
