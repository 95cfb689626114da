"""Reference answers of 01_mpc_and_backprop: random-shooting scores, the CEM refit, the pathwise
gradient of an open-loop return, and the product of Jacobians over T steps.

The tests, the benchmarks and the instructor's data build pass these wherever ``course_lib``
takes an exercise's piece as an argument (``planning.cem_plan(score, refit, ...)``, the demos'
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


@reference("1.4")
def jacobian_product(jacobians: torch.Tensor) -> torch.Tensor:
    """ds_T/ds_0 = A_{T-1} ... A_1 A_0 (the latest Jacobian on the left).

    jacobians: (T, S, S). Returns (S, S); T = 0 gives the identity.
    """
    product = torch.eye(jacobians.shape[-1], dtype=jacobians.dtype)
    for a in jacobians:
        product = a @ product
    return product
