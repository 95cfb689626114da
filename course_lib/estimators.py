"""Two ways to differentiate an expectation, and the chaotic system that tells them apart.

For J(mu) = E_{x ~ N(mu, sigma^2)}[f(x)] there are two per-sample gradient estimators, which you
write in Exercises 2.1 and 2.2 (this module takes them as arguments, see :data:`Estimator`):

* likelihood ratio (score function, REINFORCE): f(x) times the score d/dmu log N(x; mu, sigma^2).
  It only needs values of f, never its derivative.
* pathwise (reparameterised, backprop): write x = mu + sigma eps with eps ~ N(0, 1) and
  differentiate f(mu + sigma eps) with respect to mu. It differentiates through f, which for a
  T-step system is a product of T Jacobians.

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

from course_lib.utils import one_thread

__all__ = [
    "Estimator",
    "gaussian_sin_grad",
    "LogisticConfig",
    "fold",
    "logistic_step",
    "LogisticRollout",
    "logistic_gradients",
    "lyapunov_exponent",
    "log_variance_slope",
]

Estimator = Callable[[Callable[[torch.Tensor], torch.Tensor], float, float, torch.Tensor], torch.Tensor]
"""A per-sample gradient estimator ``(f, mu, sigma, eps (N,)) -> (N,)`` of d/dmu E_{x~N(mu, sigma^2)}[f(x)]:
Exercise 2.1 (likelihood ratio) or 2.2 (pathwise)."""


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


class LogisticRollout:
    """f(x_0) = x_T: T steps of the noisy logistic map, one noise sequence per sample.

    ``noise`` (T, N): the process noise of sample i is ``noise[:, i]``, so f maps x_0 (N,) to
    x_T (N,) elementwise and is differentiable: the function both estimators of Part 2 take.
    """

    def __init__(self, r: float, noise: torch.Tensor):
        self.r, self.noise = float(r), noise

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for noise_t in self.noise:
            x = logistic_step(x, self.r, noise_t)
        return x

    def __repr__(self) -> str:
        return f"LogisticRollout(r={self.r}, T={len(self.noise)})"


@one_thread()
def logistic_gradients(likelihood_ratio: Estimator, pathwise: Estimator, config: LogisticConfig,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Both estimators of dJ_T/dtheta, J_T = E[x_T], for every horizon T = 0..config.horizon.

    x_0 = theta + sigma0 eps_0, so J_T(theta) = E_{x_0 ~ N(theta, sigma0^2)}[f_T(x_0)] with
    f_T = :class:`LogisticRollout` of the first T noise steps (the noise does not depend on theta).
    ``likelihood_ratio`` and ``pathwise`` are per-sample estimators ``(f, mu, sigma, eps) -> (N,)``
    (Exercises 2.1 and 2.2): the pathwise one multiplies T Jacobians, the likelihood ratio only
    multiplies x_T by the score of x_0. All randomness is drawn before either is called.
    Returns (likelihood_ratio, pathwise), each (horizon + 1, n_samples), float64.
    """
    c = config
    if c.horizon < 0 or c.n_samples < 2 or c.sigma0 <= 0:
        raise ValueError(f"config: expected horizon >= 0, n_samples >= 2, sigma0 > 0, got {c}")
    eps0 = torch.randn(c.n_samples, generator=generator, dtype=torch.float64)
    noise = c.noise * torch.randn(c.horizon, c.n_samples, generator=generator, dtype=torch.float64)
    lr, path = [], []
    for T in range(c.horizon + 1):
        f_T = LogisticRollout(c.r, noise[:T])
        lr.append(torch.as_tensor(likelihood_ratio(f_T, c.theta, c.sigma0, eps0.clone())).detach())
        path.append(torch.as_tensor(pathwise(f_T, c.theta, c.sigma0, eps0.clone())).detach())
    return torch.stack(lr).double(), torch.stack(path).double()


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
