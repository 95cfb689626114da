"""Reference answers of 01_mpc_and_backprop: random-shooting scores, the CEM refit, the CEM
planner, the pathwise gradient of an open-loop return, and the product of closed-loop Jacobians.

The tests, the benchmarks and the instructor's data build pass these wherever ``course_lib``
takes an exercise's piece as an argument (``planning.as_planner(cem_plan, ...)``, the demos'
data functions...).
"""

from __future__ import annotations

import torch

from course_tools.references import reference


@reference("1.1")
def random_shooting_scores(step, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Predicted return J_n = sum_k r_hat(s_k, a_{n,k}) of every candidate, s_0 = obs.

    obs: (O,) (or (N, O), one start per candidate); actions: (N, H, A). Returns (N,),
    differentiable if ``step`` is.
    """
    s = obs.expand(actions.shape[0], obs.shape[-1])
    total = torch.zeros(actions.shape[0], dtype=actions.dtype)
    for k in range(actions.shape[1]):
        s, r = step(s, actions[:, k])
        total = total + r
    return total


def _elites(samples: torch.Tensor, scores: torch.Tensor, n_elite: int) -> torch.Tensor:
    return samples[torch.as_tensor(scores).topk(n_elite).indices]


def cem_refit_expected(samples: torch.Tensor, scores: torch.Tensor, n_elite: int
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What the checks of 1.2 compare with: (mean, population std, sample std) of the elites.

    Either standard deviation is accepted (the check compares with the closer one).
    """
    elite = _elites(samples, scores, n_elite)
    return elite.mean(0), elite.std(0, correction=0), elite.std(0, correction=1)


@reference("1.2", expected=cem_refit_expected)
def cem_refit(samples: torch.Tensor, scores: torch.Tensor, n_elite: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population std of the ``n_elite`` highest-scoring samples.

    samples: (N, H, A); scores: (N,). Returns mean, std, each (H, A).
    """
    elite = _elites(samples, scores, n_elite)
    return elite.mean(0), elite.std(0, correction=0)


@reference("1.3")
def cem_plan(step, obs: torch.Tensor, init_mean: torch.Tensor | None, cfg, generator: torch.Generator
             ) -> torch.Tensor:
    """The cross-entropy method over action sequences from ``obs``; returns the best plan seen (H, A).

    Sample N sequences from N(mean, std^2) clipped to [low, high], score them (1.1), refit mean
    and std to the elites (1.2), smooth with ``alpha``, floor the std, repeat ``n_iters`` times.
    ``init_mean`` (H, A) warm-starts the mean (zeros if None); ``cfg`` is a ``planning.CEMConfig``.
    """
    shape = (cfg.horizon, cfg.act_dim)
    mean = torch.zeros(shape) if init_mean is None else torch.as_tensor(init_mean).float().clone()
    std = torch.full(shape, cfg.init_std)
    best, best_score = mean.clamp(cfg.low, cfg.high), -float("inf")
    for _ in range(cfg.n_iters):
        noise = torch.randn(cfg.n_candidates, *shape, generator=generator)
        samples = (mean + std * noise).clamp(cfg.low, cfg.high)
        with torch.no_grad():
            scores = random_shooting_scores(step, obs, samples)
        i = int(scores.argmax())
        if scores[i] > best_score:
            best, best_score = samples[i], float(scores[i])
        new_mean, new_std = cem_refit(samples, scores, cfg.n_elite)
        mean = cfg.alpha * mean + (1 - cfg.alpha) * new_mean
        std = (cfg.alpha * std + (1 - cfg.alpha) * new_std).clamp_min(cfg.min_std)
    return best


@reference("1.4")
def action_sequence_gradient(step, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """dJ/da_t of J = sum_t r(s_t, a_t) along the rollout from obs, by autograd (BPTT).

    obs: (O,); actions: (T, A). Returns (T, A).
    """
    a = actions.detach().clone().requires_grad_(True)
    s, total = obs.detach()[None], torch.zeros((), dtype=a.dtype)
    for t in range(a.shape[0]):
        s, r = step(s, a[t][None])
        total = total + r.sum()
    (grad,) = torch.autograd.grad(total, a)
    return grad


@reference("1.5")
def closed_loop_product(ds: torch.Tensor, da: torch.Tensor, dpi: torch.Tensor) -> torch.Tensor:
    """ds_T/ds_0 under a policy: Ã_{T-1} ... Ã_1 Ã_0 with Ã_t = ds_t + da_t @ dpi_t (latest on the left).

    ds: (T, S, S) df/ds; da: (T, S, A) df/da; dpi: (T, A, S) dpi/ds. Returns (S, S); T = 0 gives
    the identity.
    """
    product = torch.eye(ds.shape[-1], dtype=ds.dtype)
    for t in range(ds.shape[0]):
        product = (ds[t] + da[t] @ dpi[t]) @ product
    return product
