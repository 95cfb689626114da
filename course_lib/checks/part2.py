"""Checks for 02_gradients_and_compounding_error.

2.1 likelihood_ratio_grad, 2.2 reparam_grad: per-sample gradient estimators of
d/dmu E_{x~N(mu, sigma^2)}[f(x)]; 2.3 reinforce_loss: REINFORCE's surrogate loss (MBRL v2.5);
2.4 tightrope_gap: the toy's exact gap and its small-eps T approximation; 2.5 branched_rollouts:
MBRL v3.0's generator (start states from real data, k model steps).

2.1-2.4 compare with the reference's saved answers (``ck.answer``). 2.5 draws random start
states, and several correct ways to draw them give different draws, so its check tests the
properties that define a right answer instead: every branch starts at a real state, starts are
spread over all trajectories and all times, every step is ``step_fn(obs, policy(obs))``, and the
generator alone decides the draws.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from course_lib import envs, estimators
from course_lib.checks._core import Checker, exercise


def _eps(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class Power:
    """f(x) = scale * x**p, elementwise (a picklable test function)."""

    def __init__(self, p: int, scale: float = 1.0):
        self.p, self.scale = int(p), float(scale)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x**self.p

    def __repr__(self) -> str:
        return f"f(x) = {self.scale:g} x**{self.p}"


class Constant:
    """f(x) = c whatever x is (its derivative is 0; written 0 * x + c so autograd sees x)."""

    def __init__(self, c: float):
        self.c = float(c)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return 0.0 * x + self.c

    def __repr__(self) -> str:
        return f"f(x) = {self.c:g}"


def _gradient_cases() -> dict[str, tuple]:
    return {
        "f = sin, mu = 0.3, sigma = 0.5, 1000 draws": (torch.sin, 0.3, 0.5, _eps(1000, 0)),
        "f(x) = x**3, mu = -1, sigma = 2 (sigma != 1)": (Power(3), -1.0, 2.0, _eps(500, 1)),
        "f = tanh, a tiny spread sigma = 0.01": (torch.tanh, 0.7, 0.01, _eps(200, 2)),
        "a single draw (N = 1)": (torch.cos, 1.2, 0.8, _eps(1, 3)),
    }



@exercise("2.1", "likelihood_ratio_grad")
def likelihood_ratio_grad(ck: Checker) -> None:
    """``likelihood_ratio_grad(f, mu, sigma, eps (N,)) -> (N,)``: f(x) times the score of N(mu, sigma^2)."""
    for case, (f, mu, sigma, eps) in _gradient_cases().items():
        got = ck.call(f, mu, sigma, eps, case=case)
        ck.close(got, ck.answer(case), case=case, tensor=True, atol=1e-6, rtol=1e-6,
                 hint="per sample: f(x) times the score d log N(x; mu, sigma^2)/d mu, with "
                      "x = mu + sigma * eps; work the score out by hand (where does sigma appear?). "
                      "Return one number per draw, not the mean.")
    case = "200000 draws: the mean is the true gradient"
    f, mu, sigma, eps = torch.sin, 0.4, 0.6, _eps(200_000, 4)
    got = ck.call(f, mu, sigma, eps, case=case)
    mean = ck.scalar(got.mean() if hasattr(got, "mean") else got, case=case)
    truth = estimators.gaussian_sin_grad(mu, sigma)
    ck.true(abs(mean - truth) < 0.02, case=case,
            problem=f"the average of your estimates is {mean:.4f}, the exact gradient is {truth:.4f}.")


@exercise("2.2", "reparam_grad")
def reparam_grad(ck: Checker) -> None:
    """``reparam_grad(f, mu, sigma, eps (N,)) -> (N,)``: d f(mu + sigma eps_i) / d mu by autograd."""
    for case, (f, mu, sigma, eps) in _gradient_cases().items():
        got = ck.call(f, mu, sigma, eps, case=case)
        ck.close(got, ck.answer(case), case=case, tensor=True, atol=1e-6, rtol=1e-6,
                 hint="make mu a tensor with requires_grad=True (one copy per draw), build "
                      "x = mu + sigma * eps, and let torch.autograd.grad differentiate f(x).sum() "
                      "with respect to mu. The derivative is with respect to mu, not eps.")
        ck.true(not got.requires_grad, case=case,
                problem="your result still requires grad; return it detached (a plain tensor of numbers).",
                hint="torch.autograd.grad returns plain tensors, or call .detach().")


def _pg_batch(b: int, h: int, seed: int, offset: float = 0.0, dtype: torch.dtype = torch.float64
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(log_prob (b, h) requiring grad, rewards (b, h)): a made-up batch of rollouts."""
    gen = torch.Generator().manual_seed(seed)
    log_prob = (-1.0 - torch.rand(b, h, generator=gen, dtype=dtype)).requires_grad_(True)
    return log_prob, offset + torch.randn(b, h, generator=gen, dtype=dtype)


@exercise("2.3", "reinforce_loss")
def reinforce_loss(ck: Checker) -> None:
    """``reinforce_loss(log_prob (B, H), rew (B, H), gamma) -> scalar``: REINFORCE's surrogate loss."""
    cases = {
        "B = 6 rollouts of H = 5 steps, gamma = 0.9 (float32, as a policy's log_prob)":
            (*_pg_batch(6, 5, 0, dtype=torch.float32), 0.9),
        "gamma = 1: the reward-to-go is the plain sum of the rewards still to come":
            (*_pg_batch(4, 7, 1), 1.0),
        "gamma = 0: the reward-to-go is the reward of that step": (*_pg_batch(5, 3, 2), 0.0),
        "rewards all shifted by -100 (the per-step baseline must remove the shift)":
            (*_pg_batch(8, 4, 3, offset=-100.0), 0.95),
        "one step (H = 1)": (*_pg_batch(5, 1, 4), 0.99),
        "one rollout (B = 1): it is its own baseline, so the loss is 0": (*_pg_batch(1, 6, 5), 0.9),
    }
    for case, (log_prob, rew, gamma) in cases.items():
        got = ck.call(log_prob, rew, gamma, case=case)
        want = ck.answer(case).reshape(())  # saved as a 1-element tensor
        ck.close(got, want, case=case, tensor=True, atol=1e-5, rtol=1e-5,
                 hint="weigh log pi(a_t|s_t) by the reward-to-go from step t on (discounted from t), minus "
                      "its mean over the batch at the same step t; average over all B*H terms; minus "
                      "sign, because the optimiser minimises.")
        ck.true(getattr(got, "requires_grad", False), case=case + " (the loss carries the gradient)",
                problem="your loss does not depend on log_prob through autograd (requires_grad is False), "
                        "so loss.backward() would not reach the policy.",
                hint="do not detach log_prob or turn it into numbers: only the rewards are plain data.")


@exercise("2.4", "tightrope_gap")
def tightrope_gap(ck: Checker) -> None:
    """``tightrope_gap(T, eps) -> (exact, approx)``: expected steps off among 1..T, exact and small-eps T."""
    cases = {
        "T = 10, eps = [0.01]": (10, np.array([0.01])),
        "T = 50, eps = [0, 1e-3, 0.1, 0.5, 1] (an array; eps = 0 must give 0, not NaN)":
            (50, np.array([0.0, 1e-3, 0.1, 0.5, 1.0])),
        "T = 1: one step, one chance to fail": (1, np.array([0.0, 0.2, 1.0])),
        "T = 1000, eps = 1e-4 (eps T = 0.1: small, but the approximation is not exact)":
            (1000, np.array([1e-4])),
        "a 2-D array of eps, T = 7": (7, np.array([[0.01, 0.02], [0.3, 0.9]])),
    }
    for case, (T, eps) in cases.items():
        got = ck.call(T, eps, case=case)
        ck.true(isinstance(got, (tuple, list)) and len(got) == 2, case=case,
                problem=f"expected a tuple (exact, approx) of two arrays, got {type(got).__name__}"
                        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "") + ".",
                hint="return exact, approx")
        exact, approx = ck.answer(case)
        ck.close(got[0], exact, case=case + " (exact)", tensor=False, atol=1e-9, rtol=1e-7,
                 hint="at step t you are off the tightrope if any of the steps 1..t went wrong. "
                      "Add up the probability of being off over t = 1..T, elementwise in eps.")
        ck.close(got[1], approx, case=case + " (small eps T)", tensor=False, atol=1e-12, rtol=1e-9,
                 hint="for small eps t, 1 - (1 - eps)^t is about eps t; then sum over t = 1..T exactly.")


def _fake_model(obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic stand-in for a learned model (a rotation, a push and a drift)."""
    c, s = math.cos(0.3), math.sin(0.3)
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 0.9]], dtype=obs.dtype)
    nxt = obs @ rot.T + torch.cat([torch.zeros_like(act), torch.zeros_like(act), 0.5 * act], -1) + 0.01
    return nxt, -(obs**2).sum(-1)


def _linear_policy(obs: torch.Tensor) -> torch.Tensor:
    return torch.tanh(obs @ torch.tensor([[0.5], [-1.0], [0.2]], dtype=obs.dtype))


def _real_trajectories(n: int, length: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    state = torch.stack([(torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi,
                         torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1], -1)
    obs = [envs.pendulum_obs(state)]
    for _ in range(length - 1):
        state, _ = envs.pendulum_step(state, torch.rand(n, 1, generator=gen, dtype=torch.float64) * 4 - 2)
        obs.append(envs.pendulum_obs(state))
    return torch.stack(obs, 1)


def _branches_look_right(ck: Checker, out, real: torch.Tensor, step_fn, policy, k: int, n: int, *,
                        case: str) -> None:
    """The properties of a right ``branched_rollouts`` output (the hidden checks use them too)."""
    d = real.shape[-1]
    ck.true(isinstance(out, torch.Tensor), case=case,
            problem=f"expected a torch tensor, got {type(out).__name__}.")
    ck.true(tuple(out.shape) == (n, k + 1, d), case=case,
            problem=f"expected shape {(n, k + 1, d)} (branches, k + 1 states including the start, obs), "
                    f"got {tuple(out.shape)}.",
            hint="keep the start state as index 0, then append one state per model step.")
    ck.true(bool(torch.isfinite(out).all()), case=case, problem="your branches contain NaN or inf.")
    flat = real.reshape(-1, d).double()
    dist = torch.cdist(out[:, 0].double(), flat)
    ck.true(bool((dist.min(1).values < 1e-5).all()), case=case,
            problem="some branches do not start at a real state (a row of real_obs).",
            hint="index the real states: real_obs.reshape(-1, obs_dim)[indices].")
    if k > 0:
        before = out[:, :-1].reshape(-1, d).double()
        ck.close(out[:, 1:].reshape(-1, d).double(), step_fn(before, policy(before))[0],
                 case=case + " (each step is step_fn(obs, policy(obs)))", atol=1e-5,
                 hint="every step must call step_fn on the previous state and the policy's "
                      "action there; the real dynamics are not the model.")
    if n >= 1000:
        idx = dist.argmin(1)
        traj, time = idx // real.shape[1], idx % real.shape[1]
        late = float((time >= real.shape[1] // 2).double().mean())
        share = (real.shape[1] - real.shape[1] // 2) / real.shape[1]
        ck.true(abs(late - share) < 0.15, case=case,
                problem=f"{late:.0%} of your start states come from the second half of the trajectories; "
                        f"sampled uniformly from all real states it would be about {share:.0%}.",
                hint="draw start states from anywhere along the real trajectories, late steps included.")
        counts = torch.bincount(traj, minlength=real.shape[0])
        ck.true(bool((counts > 0.6 * n / real.shape[0]).all()), case=case,
                problem=f"start states per real trajectory: {counts.tolist()}; expected all of them "
                        "used about equally.")


@exercise("2.5", "branched_rollouts")
def branched_rollouts(ck: Checker) -> None:
    """``branched_rollouts(real_obs (N, L, o), step_fn, policy, k, n_branches, generator) -> (n, k+1, o)``."""
    real = _real_trajectories(6, 40, seed=5)
    for case, (k, n) in {"k = 5 model steps, 3000 branches": (5, 3000), "k = 1, 200 branches": (1, 200),
                         "k = 0: just the sampled real states": (0, 50),
                         "a single branch of 12 steps": (12, 1)}.items():
        out = ck.call(real, _fake_model, _linear_policy, k, n, torch.Generator().manual_seed(7), case=case)
        _branches_look_right(ck, out, real, _fake_model, _linear_policy, k, n, case=case)
    first, again = (ck.call(real, _fake_model, _linear_policy, 3, 100, torch.Generator().manual_seed(11),
                            case="generator seeded with 11") for _ in range(2))
    other = ck.call(real, _fake_model, _linear_policy, 2, 100, torch.Generator().manual_seed(12),
                    case="generator seeded with 12")
    _same_seed_same_starts(ck, first, again, other)


def _same_seed_same_starts(ck: Checker, first, again, other) -> None:
    """``first`` and ``again`` come from equal generators, ``other`` from another seed (and another k)."""
    tensors = all(isinstance(x, torch.Tensor) and x.dim() == 3 for x in (first, again, other))
    same = tensors and first.shape == again.shape and torch.equal(first, again)
    differ = tensors and first.shape[0] == other.shape[0] and not torch.equal(first[:, 0], other[:, 0])
    ck.true(same and differ, case="the generator decides the starts",
            problem="the same generator seed must give the same branches, and another seed other "
                    "start states.",
            hint="pass generator=generator to torch.randint (do not use the global random state).")
