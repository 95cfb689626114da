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
Lyapunov exponent, so the pathwise variance grows about exp(2 lambda T). Where the parameter only
moves the start state (:func:`logistic_gradients`), the likelihood-ratio estimator multiplies a
bounded f(x_T) by the score of that one draw and its variance stays bounded. Where it moves the
noise of *every* step, as a stochastic policy's parameters do (:func:`per_step_gradients`), the
score is a sum of T terms and the likelihood-ratio variance grows with T too.

:func:`pendulum_gradient_spread` measures the same on the Pendulum: a stochastic policy acting in
a (learned) model, REINFORCE through your loss (Exercise 2.3) against backprop through the model.
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
    "StepRollout",
    "per_step_gradients",
    "SpreadConfig",
    "GradientSpread",
    "pendulum_gradient_spread",
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


class StepRollout:
    """f(a) = x_T as a function of the action at one step s, every other action fixed.

    ``x_s`` (N,) the states at step s, ``later`` (T - s - 1, N) the actions of the steps after s:
    x_{s+1} = fold(r x_s (1 - x_s) + a), then the later steps. Elementwise in a (N,).
    """

    def __init__(self, r: float, x_s: torch.Tensor, later: torch.Tensor):
        self.r, self.x_s, self.later = float(r), x_s, later

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        x = logistic_step(self.x_s, self.r, a)
        for a_t in self.later:
            x = logistic_step(x, self.r, a_t)
        return x

    def __repr__(self) -> str:
        return f"StepRollout(r={self.r}, {len(self.later) + 1} steps)"


@one_thread()
def per_step_gradients(likelihood_ratio: Estimator, pathwise: Estimator, config: LogisticConfig,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """dJ_T/dmu, J_T = E[x_T], when the noise of *every* step is a 'policy' a_t ~ N(mu, noise^2).

    x_{t+1} = fold(r x_t (1 - x_t) + a_t) at mu = 0, x_0 = theta + sigma0 eps_0 as in
    :func:`logistic_gradients` (same draws from the same generator: the same trajectories), but
    now mu moves the mean of every action. mu appears once per step, so dJ_T/dmu is the sum over
    steps s < T of the derivative with respect to step s's mean alone: your estimator applied to
    f = :class:`StepRollout` (x_T as a function of a_s) with eps = that step's draws, summed over s.
    The likelihood ratio becomes x_T sum_s xi_s / noise (T score terms); the pathwise one sums T
    products of Jacobians. Returns (likelihood_ratio, pathwise), each (horizon + 1, n_samples).
    """
    c = config
    if c.horizon < 0 or c.n_samples < 2 or c.noise <= 0:
        raise ValueError(f"config: expected horizon >= 0, n_samples >= 2, noise > 0, got {c}")
    eps0 = torch.randn(c.n_samples, generator=generator, dtype=torch.float64)
    xi = torch.randn(c.horizon, c.n_samples, generator=generator, dtype=torch.float64)
    mu = 0.0
    actions = mu + c.noise * xi
    xs = [c.theta + c.sigma0 * eps0]
    for a_t in actions:
        xs.append(logistic_step(xs[-1], c.r, a_t))
    lr = torch.zeros(c.horizon + 1, c.n_samples, dtype=torch.float64)
    path = torch.zeros_like(lr)
    for T in range(1, c.horizon + 1):
        for s in range(T):
            f = StepRollout(c.r, xs[s].clone(), actions[s + 1:T].clone())
            lr[T] += torch.as_tensor(likelihood_ratio(f, mu, c.noise, xi[s].clone())).detach().double()
            path[T] += torch.as_tensor(pathwise(f, mu, c.noise, xi[s].clone())).detach().double()
    return lr, path


@dataclass(frozen=True)
class SpreadConfig:
    """A stochastic linear policy on the Pendulum: per-rollout gradient estimates against T."""

    n_rollouts: int = 1000
    """Independent rollouts (one estimate each)."""
    horizons: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 100)
    """The T at which J_T = E[sum_{t<T} r_t] is differentiated."""
    sigma: float = 1.0
    """Standard deviation of the policy's action noise, at every step (REINFORCE's initial policy's)."""
    weight_scale: float = 0.0
    """The policy's weights w ~ weight_scale N(0, I): a = 2 tanh(w . (cos, sin, theta_dot, 1)) + sigma xi.
    0: the gradient at the policy with mean torque 0, where training starts."""


@dataclass
class GradientSpread:
    """Per-rollout estimates of dJ_T/dw for the policy's 4 weights, summarised per horizon T."""

    horizons: np.ndarray
    """(nT,) the horizons T."""
    var_reinforce: np.ndarray
    """(nT,) total variance (trace of the covariance) of the per-rollout REINFORCE estimates."""
    var_pathwise: np.ndarray
    """(nT,) the same for the pathwise (backprop through the model) estimates."""
    mean_reinforce: np.ndarray
    """(nT, 4) the REINFORCE estimate of dJ_T/dw (the mean over rollouts)."""
    mean_pathwise: np.ndarray
    """(nT, 4) the pathwise estimate of dJ_T/dw."""


def _policy_mean(w: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """2 tanh(w . (cos, sin, theta_dot, 1)): w (N, 4), obs (N, ..., 3) -> (N, ..., 1)."""
    feats = torch.cat([obs, torch.ones_like(obs[..., :1])], -1)
    w = w.reshape(w.shape[0], *([1] * (obs.dim() - 2)), 4)
    return 2.0 * torch.tanh((feats * w).sum(-1, keepdim=True))


@one_thread()
def pendulum_gradient_spread(model_step, reinforce_loss, config: SpreadConfig,
                             generator: torch.Generator) -> GradientSpread:
    """REINFORCE (through ``reinforce_loss``, Exercise 2.3, gamma = 1) and pathwise estimates of
    dJ_T/dw, J_T = E[sum_{t<T} r_t], for a policy with noise at every step acting in ``model_step``.

    Every rollout i has its own copy w_i of the weights, so one backward pass gives every
    rollout's estimate: REINFORCE g_i = -N T dL/dw_i (your loss is a mean over N T terms),
    pathwise g_i = d(sum_{t<T} r_it)/dw_i with the actions a = mean(w_i, s) + sigma xi and the
    torque clipped to +-2 before the model sees it. Both use the same start states and noise.
    """
    from course_lib.policy_gradient import pendulum_starts

    c, n = config, config.n_rollouts
    t_max = max(c.horizons)
    w0 = c.weight_scale * torch.randn(4, generator=generator)
    obs0 = pendulum_starts(n, generator)
    xi = torch.randn(n, t_max, 1, generator=generator)
    w = w0.expand(n, 4).clone().requires_grad_(True)
    with torch.no_grad():  # REINFORCE: sample, then differentiate log pi only
        obs, act, rew, o = [], [], [], obs0
        for t in range(t_max):
            a = _policy_mean(w, o) + c.sigma * xi[:, t]
            o_next, r = model_step(o, a.clamp(-2.0, 2.0))
            obs.append(o), act.append(a), rew.append(r)
            o = o_next
        obs, act, rew = torch.stack(obs, 1), torch.stack(act, 1), torch.stack(rew, 1)
    log_prob = (-0.5 * ((act - _policy_mean(w, obs)) / c.sigma) ** 2).sum(-1)  # (N, T) up to a constant
    g_lr = []
    for T in c.horizons:
        (g,) = torch.autograd.grad(reinforce_loss(log_prob[:, :T], rew[:, :T], 1.0), w, retain_graph=True)
        g_lr.append(-g * n * T)
    w_pw = w0.expand(n, 4).clone().requires_grad_(True)  # pathwise: differentiate through the model
    o, returns = obs0, []
    for t in range(t_max):
        o, r = model_step(o, (_policy_mean(w_pw, o) + c.sigma * xi[:, t]).clamp(-2.0, 2.0))
        returns.append(r)
    returns = torch.stack(returns, 1).cumsum(1)
    g_pw = [torch.autograd.grad(returns[:, T - 1].sum(), w_pw, retain_graph=True)[0] for T in c.horizons]
    g_lr, g_pw = torch.stack(g_lr).double(), torch.stack(g_pw).double()  # (nT, N, 4)
    return GradientSpread(np.array(c.horizons), g_lr.var(1).sum(-1).numpy(), g_pw.var(1).sum(-1).numpy(),
                          g_lr.mean(1).numpy(), g_pw.mean(1).numpy())
