"""Reference answers of 02_gradients_and_compounding_error: two gradient estimators, the toy's
compounding gap and MBRL v3.0's branched rollouts."""

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


@reference("2.3")
def compounding_gap(T: int, eps: np.ndarray) -> np.ndarray:
    """G(T, eps) = sum_{t=1}^T [1 - (1 - eps)^t]: expected steps off the tightrope, elementwise in eps."""
    if int(T) != T or T < 0:
        raise ValueError(f"T: expected a non-negative int, got {T!r}")
    eps = np.asarray(eps, dtype=np.float64)
    if np.any(~np.isfinite(eps)) or np.any((eps < 0) | (eps > 1)):
        raise ValueError(f"eps: expected probabilities in [0, 1], got {eps}")
    t = np.arange(1, int(T) + 1)
    return (1.0 - (1.0 - eps[..., None]) ** t).sum(-1)


@reference("2.4")
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
