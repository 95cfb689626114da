"""Hidden checks of 02_gradients_and_compounding_error: inputs drawn from the grading seed, and edge
cases the visible checks do not show.

Never shipped to students and never run in their kernel (see ``course_tools/hidden/welcome.py``).
Inputs are picklable with the handout alone: torch's own functions, ``course_lib`` classes
(``estimators.LogisticRollout``, ``checks.toys``, the test functions of ``checks.part2``) and
plain tensors and arrays.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib import estimators
from course_lib.checks.part2 import Constant, Power, _branches_look_right, _same_seed_same_starts
from course_lib.checks.toys import LinearPolicy, LinearSystem
from course_tools.grading.hidden import HiddenChecker, hidden
from course_tools.references import part2 as ref


def _estimator_cases(ck: HiddenChecker) -> dict[str, tuple]:
    """Fresh (f, mu, sigma, eps) from the seed: odd sizes, sigma from 0.02 to 5, a chaotic f, a constant f."""
    gen = ck.torch_generator()
    cases = {}
    for f, name in [(torch.sin, "sin"), (Power(2, float(ck.rng.uniform(-2, 2))), "a scaled square"),
                    (torch.exp, "exp")]:
        n = int(ck.rng.integers(2, 700))
        mu, sigma = float(ck.rng.uniform(-2, 2)), float(np.exp(ck.rng.uniform(np.log(0.02), np.log(5.0))))
        if name == "exp":
            sigma = min(sigma, 1.5)
        cases[f"f = {name}, mu = {mu:.3f}, sigma = {sigma:.3f}, {n} draws"] = (
            f, mu, sigma, torch.randn(n, generator=gen, dtype=torch.float64))
    T = int(ck.rng.integers(3, 12))
    noise = 0.01 * torch.randn(T, 300, generator=gen, dtype=torch.float64)
    cases[f"f = {T} steps of the noisy logistic map (chaotic), mu = 0.3, sigma = 0.05"] = (
        estimators.LogisticRollout(3.9, noise), 0.3, 0.05,
        torch.randn(300, generator=gen, dtype=torch.float64))
    c = float(ck.rng.uniform(1, 5))
    cases[f"a constant f = {c:.3f}"] = (Constant(c), float(ck.rng.uniform(-1, 1)), 0.7,
                                        torch.randn(50, generator=gen, dtype=torch.float64))
    return cases


@hidden("2.1", reference=ref.likelihood_ratio_grad)
def likelihood_ratio_unseen_functions(ck: HiddenChecker) -> None:
    """Other functions (a chaotic map, a constant), sigma from 0.02 to 5, odd sample sizes."""
    for case, (f, mu, sigma, eps) in _estimator_cases(ck).items():
        got = ck.call(f, mu, sigma, eps, case=case)
        ck.close(got, ref.likelihood_ratio_grad(f, mu, sigma, eps), case=case, tensor=True,
                 atol=1e-6, rtol=1e-6)


@hidden("2.2", reference=ref.reparam_grad)
def pathwise_unseen_functions(ck: HiddenChecker) -> None:
    """The same unseen functions: through a chaotic map the per-sample gradients are huge, and a
    constant f has gradient 0 everywhere."""
    for case, (f, mu, sigma, eps) in _estimator_cases(ck).items():
        got = ck.call(f, mu, sigma, eps, case=case)
        ck.close(got, ref.reparam_grad(f, mu, sigma, eps), case=case, tensor=True, atol=1e-6, rtol=1e-6)
        ck.true(not got.requires_grad, case=case,
                problem="your result still requires grad; return it detached.")


@hidden("2.3", reference=ref.reinforce_loss)
def reinforce_loss_unseen_batches(ck: HiddenChecker) -> None:
    """Fresh batch sizes, horizons and discounts, float64 inputs, rewards with a large offset and
    rewards that only differ at the last step (the reward-to-go must run backwards)."""
    gen = ck.torch_generator()
    cases = {}
    for _ in range(3):
        b, h = int(ck.rng.integers(2, 40)), int(ck.rng.integers(2, 60))
        gamma = float(ck.rng.choice([ck.rng.uniform(0.5, 1.0), 1.0, ck.rng.uniform(0.0, 0.5)]))
        dtype = torch.float64 if ck.rng.random() < 0.5 else torch.float32
        log_prob = (-torch.rand(b, h, generator=gen, dtype=dtype) * 3).requires_grad_(True)
        offset = float(ck.rng.uniform(-300, 300) if dtype == torch.float64 else ck.rng.uniform(-3, 3))
        rew = offset + torch.randn(b, h, generator=gen, dtype=dtype) * float(ck.rng.uniform(0.1, 5))
        cases[f"B = {b}, H = {h}, gamma = {gamma:.3f}, {dtype}, rewards around {offset:.1f}"] = (
            log_prob, rew, gamma)
    b, h = int(ck.rng.integers(3, 10)), int(ck.rng.integers(4, 12))
    rew = torch.zeros(b, h)
    rew[:, -1] = torch.randn(b, generator=gen)
    cases[f"B = {b}, H = {h}: only the last reward differs between rollouts"] = (
        (-torch.rand(b, h, generator=gen)).requires_grad_(True), rew, 0.8)
    for case, (log_prob, rew, gamma) in cases.items():
        got = ck.call(log_prob, rew, gamma, case=case)
        ck.close(got, ref.reinforce_loss(log_prob, rew, gamma), case=case, tensor=True, atol=1e-5, rtol=1e-4)
        ck.true(getattr(got, "requires_grad", False), case=case,
                problem="your loss does not carry the gradient of log_prob (requires_grad is False).")


@hidden("2.4", reference=ref.tightrope_gap)
def tightrope_gap_unseen_grids(ck: HiddenChecker) -> None:
    """Random T and eps arrays of 1 to 3 dimensions, a long tightrope with tiny eps, and 0 and 1."""
    cases = {}
    for _ in range(3):
        T = int(ck.rng.integers(2, 400))
        shape = tuple(int(s) for s in ck.rng.integers(1, 5, size=int(ck.rng.integers(1, 4))))
        eps = np.exp(ck.rng.uniform(np.log(1e-5), 0.0, size=shape))
        cases[f"T = {T}, eps of shape {shape}"] = (T, eps)
    T = int(ck.rng.integers(2000, 6000))
    long_case = f"T = {T}, eps from 1e-7 to 1e-5 (eps T small: the gap is about eps T (T+1)/2)"
    cases[long_case] = (T, np.exp(ck.rng.uniform(np.log(1e-7), np.log(1e-5), size=4)))
    cases["T = 17, eps = 0 and 1 in a 3-D array"] = (17, np.array([[[0.0, 1.0]], [[1.0, 0.0]]]))
    for case, (T, eps) in cases.items():
        got = ck.call(T, eps, case=case)
        ck.true(isinstance(got, (tuple, list)) and len(got) == 2, case=case,
                problem="expected a tuple (exact, approx) of two arrays.")
        exact, approx = ref.tightrope_gap(T, eps)
        # tiny eps: a closed form (eps = 0 handled) loses up to ~1e-4 to cancellation; still right
        rtol = 1e-3 if case == long_case else 1e-7
        ck.close(got[0], exact, case=case + " (exact)", tensor=False, atol=1e-9, rtol=rtol)
        ck.close(got[1], approx, case=case + " (small eps T)", tensor=False, atol=1e-12, rtol=1e-9)


@hidden("2.5", reference=ref.branched_rollouts)
def branched_rollouts_unseen_systems(ck: HiddenChecker) -> None:
    """Another model (a linear system with 2 or 4 state dimensions), other sizes and another seed."""
    gen = ck.torch_generator()
    n_traj, length = int(ck.rng.integers(3, 9)), int(ck.rng.integers(10, 50))
    d = int(ck.rng.choice([2, 4]))
    real = torch.randn(n_traj, length, d, generator=gen, dtype=torch.float64)
    model = LinearSystem(torch.randn(d, d, generator=gen, dtype=torch.float64) * 0.4,
                         torch.randn(d, 1, generator=gen, dtype=torch.float64))
    policy = LinearPolicy(torch.randn(1, d, generator=gen, dtype=torch.float64) * 0.5)
    seed = int(ck.rng.integers(0, 2**31))
    k_many, k_few = int(ck.rng.integers(2, 9)), int(ck.rng.integers(1, 20))
    n_few = int(ck.rng.integers(2, 60))
    cases = {
        f"{n_traj} trajectories of {length} {d}-d states, k = {k_many}, 4000 branches": (k_many, 4000),
        f"k = {k_few}, {n_few} branches": (k_few, n_few),
        "k = 0, one branch": (0, 1),
    }
    for case, (k, n) in cases.items():
        out = ck.call(real, model, policy, k, n, torch.Generator().manual_seed(seed), case=case)
        _branches_look_right(ck, out, real, model, policy, k, n, case=case)
    first, again = (ck.call(real, model, policy, 2, 64, torch.Generator().manual_seed(seed + 1),
                            case=f"generator seeded with {seed + 1}") for _ in range(2))
    other = ck.call(real, model, policy, 3, 64, torch.Generator().manual_seed(seed + 2),
                    case=f"generator seeded with {seed + 2}")
    _same_seed_same_starts(ck, first, again, other)
