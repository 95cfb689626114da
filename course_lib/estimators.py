"""Two ways to differentiate an expectation, and the chaotic system that tells them apart.

For J(mu) = E_{x ~ N(mu, sigma^2)}[f(x)] write x = mu + sigma * eps with eps ~ N(0, 1).

* likelihood-ratio (score-function, REINFORCE) estimator: grad log p(x) = (x - mu) / sigma^2, so
  g_LR = f(x) (x - mu) / sigma^2 = f(mu + sigma eps) eps / sigma. It never differentiates f.
* pathwise (reparameterised, backprop) estimator: g_PW = d f(mu + sigma eps) / d mu = f'(x).
  It differentiates through f, which for a T-step system is a product of T Jacobians.

Both are unbiased. Through T steps of the noisy logistic map x' = r x (1 - x) (+ noise, folded
into [0, 1]) with r = 3.9 the product of Jacobians grows like exp(lambda T), lambda the
Lyapunov exponent, so the pathwise variance grows about exp(2 lambda T); the likelihood-ratio
estimator only multiplies a bounded f(x_T) by the score of the first step, so its variance stays
bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from course_lib.policy_gradient import one_thread

__all__ = [
    "likelihood_ratio_grad",
    "reparam_grad",
    "gaussian_sin_grad",
    "LogisticConfig",
    "fold",
    "logistic_step",
    "logistic_gradients",
    "lyapunov_exponent",
    "log_variance_slope",
]


def _check_eps(eps: torch.Tensor) -> None:
    if not isinstance(eps, torch.Tensor) or eps.dim() != 1:
        raise ValueError(f"eps: expected a 1-D torch tensor of N(0, 1) draws, got {eps!r:.80}")
    if not torch.isfinite(eps).all():
        raise ValueError("eps: expected finite values, got NaN or inf")


def likelihood_ratio_grad(f: Callable[[torch.Tensor], torch.Tensor], mu: float, sigma: float,
                          eps: torch.Tensor) -> torch.Tensor:
    """Per-sample likelihood-ratio estimates of d/dmu E_{x~N(mu, sigma^2)}[f(x)].

    g_i = f(x_i) * d log N(x_i; mu, sigma^2)/d mu = f(x_i) (x_i - mu) / sigma^2, x_i = mu + sigma eps_i.
    f: elementwise torch function; eps: (N,) standard normal draws. Returns (N,); their mean is
    the estimate.
    """
    _check_eps(eps)
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
    x = mu + sigma * eps
    return f(x) * (x - mu) / sigma**2


def reparam_grad(f: Callable[[torch.Tensor], torch.Tensor], mu: float, sigma: float,
                 eps: torch.Tensor) -> torch.Tensor:
    """Per-sample pathwise (reparameterised) estimates: g_i = d f(mu + sigma eps_i) / d mu.

    Autograd differentiates x_i = mu + sigma eps_i, then f. f: elementwise torch function;
    eps: (N,). Returns (N,), detached.
    """
    _check_eps(eps)
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)  # one copy of mu per sample
    (grad,) = torch.autograd.grad(f(mu_t + sigma * eps).sum(), mu_t)
    return grad.detach()


def gaussian_sin_grad(mu: float, sigma: float) -> float:
    """Exact d/dmu E_{x~N(mu, sigma^2)}[sin x] = cos(mu) exp(-sigma^2 / 2)."""
    return float(np.cos(mu) * np.exp(-(sigma**2) / 2))


@dataclass(frozen=True)
class LogisticConfig:
    """The noisy logistic map experiment: J(theta) = E[x_T], x_0 = theta + sigma0 eps_0."""

    r: float = 3.9
    """Logistic-map parameter (chaotic for r = 3.9)."""
    theta: float = 0.3
    """Mean of the start state x_0: the parameter we differentiate with respect to."""
    sigma0: float = 0.05
    """Standard deviation of x_0 (the only randomness that depends on theta)."""
    noise: float = 0.01
    """Standard deviation of the process noise added at every step."""
    horizon: int = 30
    """Largest number of steps T."""
    n_samples: int = 2000
    """Samples per estimator and horizon."""


def fold(y: torch.Tensor) -> torch.Tensor:
    """Reflect y into [0, 1] (continuous, slope +-1): keeps a noisy map on the unit interval."""
    return 1.0 - (1.0 - y.abs()).abs()


def logistic_step(x: torch.Tensor, r: float, noise: torch.Tensor) -> torch.Tensor:
    """x' = fold(r x (1 - x) + noise), elementwise and differentiable."""
    return fold(r * x * (1.0 - x) + noise)


@one_thread()
def logistic_gradients(config: LogisticConfig, generator: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Both estimators of dJ_T/dtheta, J_T = E[x_T], for every horizon T = 0..config.horizon.

    Pathwise: dx_T/dtheta = prod_t dx_{t+1}/dx_t (a product of T Jacobians, by autograd).
    Likelihood ratio: x_T * eps_0 / sigma0 (the score of x_0; the noise does not depend on theta).
    Returns (pathwise, likelihood_ratio), each (horizon + 1, n_samples), float64.
    """
    c = config
    if c.horizon < 0 or c.n_samples < 2 or c.sigma0 <= 0:
        raise ValueError(f"config: expected horizon >= 0, n_samples >= 2, sigma0 > 0, got {c}")
    eps0 = torch.randn(c.n_samples, generator=generator, dtype=torch.float64)
    noise = c.noise * torch.randn(c.horizon, c.n_samples, generator=generator, dtype=torch.float64)
    theta = torch.full((c.n_samples,), c.theta, dtype=torch.float64, requires_grad=True)
    x = theta + c.sigma0 * eps0
    xs = [x]
    for t in range(c.horizon):
        x = logistic_step(x, c.r, noise[t])
        xs.append(x)
    path = torch.stack([torch.autograd.grad(x_t.sum(), theta, retain_graph=True)[0] for x_t in xs])
    lr = torch.stack(xs).detach() * eps0 / c.sigma0
    return path, lr


@one_thread()
def lyapunov_exponent(r: float, generator: torch.Generator, *, noise: float = 0.0,
                      n_chains: int = 500, n_steps: int = 1000, burn_in: int = 100) -> float:
    """lambda = lim (1/T) sum_t log |f'(x_t)|, f'(x) = r (1 - 2x), averaged over n_chains chains.

    The rate at which nearby trajectories separate; lambda > 0 means chaos.
    """
    x = 0.1 + 0.8 * torch.rand(n_chains, generator=generator, dtype=torch.float64)
    total = torch.zeros(n_chains, dtype=torch.float64)
    for t in range(burn_in + n_steps):
        if t >= burn_in:
            total += torch.log((r * (1 - 2 * x)).abs().clamp_min(1e-300))
        x = logistic_step(x, r, noise * torch.randn(n_chains, generator=generator, dtype=torch.float64))
    return float(total.mean() / n_steps)


def log_variance_slope(horizons: np.ndarray, variances: np.ndarray) -> float:
    """Least-squares slope of log Var against T (the growth rate of the variance per step)."""
    horizons, variances = np.asarray(horizons, float), np.asarray(variances, float)
    keep = variances > 0
    if keep.sum() < 2:
        raise ValueError(f"variances: need at least two positive values, got {variances}")
    return float(np.polyfit(horizons[keep], np.log(variances[keep]), 1)[0])
