"""Hidden checks of 01_mpc_and_backprop: inputs drawn from the grading seed, edge cases the visible
checks skip (float32 models as the planner uses them, another gravity, 3-d states, an action that
cannot change any reward, long products, T = 0 in 3-d), and the CEM planner graded by what its
plans achieve on the true pendulum from fresh start states.

Never shipped to students and never run in their kernel: the grader plans the calls here, the
kernel only receives the argument lists, and the judge replays the answers through these bodies.
Inputs must be picklable with the handout alone (``course_lib`` functions, ``functools.partial``
of them and the classes of ``course_lib.checks.toys``), since the student's kernel unpickles them.
"""

from __future__ import annotations

import functools
import math

import torch

from course_lib import envs, planning
from course_lib.checks.part1 import _closest, _linear_step, plan_array, target_obs, target_toy
from course_lib.checks.toys import LinearSystem
from course_tools.grading.hidden import HiddenChecker, hidden
from course_tools.references import part1 as ref


def _pendulum_states(gen: torch.Generator, n: int) -> torch.Tensor:
    """n pendulum states (theta, theta_dot), float64."""
    theta = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi - math.pi
    return torch.stack([theta, torch.rand(n, generator=gen, dtype=torch.float64) * 4 - 2], -1)


def _other_gravity(ck: HiddenChecker) -> tuple[functools.partial, float]:
    g = float(ck.rng.uniform(4.0, 15.0))
    return functools.partial(envs.pendulum_step, params=envs.PendulumParams(g=g)), g


def _linear_system(gen: torch.Generator, s: int, a: int, rho: float = 0.1) -> LinearSystem:
    """A random, mildly stable linear system with s-d states and a-d actions."""
    A = torch.randn(s, s, generator=gen, dtype=torch.float64) * (0.6 / math.sqrt(s))
    return LinearSystem(A, torch.randn(s, a, generator=gen, dtype=torch.float64), rho=rho)


@hidden("1.1", reference=ref.random_shooting_scores)
def random_shooting_scores_unseen_models(ck: HiddenChecker) -> None:
    """Another gravity, a 3-d linear system, float32 observations as the planner passes them."""
    gen = ck.torch_generator()
    n, h = int(ck.rng.integers(3, 40)), int(ck.rng.integers(2, 25))
    heavy, g = _other_gravity(ck)
    obs32 = envs.pendulum_obs(_pendulum_states(gen, 1)[0]).float()
    cases = {
        f"the pendulum with gravity {g:.2f}, {n} sequences of {h} steps":
            (heavy, _pendulum_states(gen, 1)[0],
             torch.rand(n, h, 1, generator=gen, dtype=torch.float64) * 4 - 2, 1e-6),
        f"a 3-d linear system with 2-d actions, N = {n + 2}, H = {h // 2 + 1}":
            (_linear_system(gen, 3, 2), torch.randn(3, generator=gen, dtype=torch.float64),
             torch.randn(n + 2, h // 2 + 1, 2, generator=gen, dtype=torch.float64), 1e-6),
        f"float32 observations (cos, sin, speed) and actions, as the planner passes them, H = {h}":
            (envs.pendulum_step_obs, obs32, torch.rand(n, h, 1, generator=gen) * 4 - 2, 1e-3),
        "500 candidates, H = 2": (_linear_step, torch.randn(2, generator=gen, dtype=torch.float64),
                                  torch.randn(500, 2, 2, generator=gen, dtype=torch.float64), 1e-6),
    }
    for case, (step, obs, actions, atol) in cases.items():
        got = ck.call(step, obs, actions, case=case)
        ck.close(got, ref.random_shooting_scores(step, obs, actions), case=case, atol=atol, rtol=1e-5)


@hidden("1.2", reference=ref.cem_refit)
def cem_refit_unseen_shapes(ck: HiddenChecker) -> None:
    """Shapes and elite counts drawn at random, negative returns as scores, n_elite = N - 1."""
    gen = ck.torch_generator()
    n, h, a = int(ck.rng.integers(20, 80)), int(ck.rng.integers(1, 7)), int(ck.rng.integers(1, 4))
    k = int(ck.rng.integers(2, n // 3))
    cases = {
        f"N = {n}, H = {h}, A = {a}, {k} elites":
            (torch.randn(n, h, a, generator=gen) * 1.5 + 0.5, torch.randn(n, generator=gen), k),
        f"pendulum-like returns (all negative, around -1000), N = {n}, {k} elites":
            (torch.rand(n, h, 1, generator=gen) * 4 - 2, -1000 * torch.rand(n, generator=gen), k),
        f"float64, every sample but one is an elite (n_elite = N - 1 = {n - 1})":
            (torch.randn(n, 2, a, generator=gen, dtype=torch.float64),
             torch.randn(n, generator=gen, dtype=torch.float64), n - 1),
        "two elites of one long sequence (H = 30)":
            (torch.randn(12, 30, 1, generator=gen), torch.randperm(12, generator=gen).float(), 2),
    }
    for case, (samples, scores, n_elite) in cases.items():
        out = ck.call(samples, scores, n_elite, case=case)
        ck.true(isinstance(out, tuple) and len(out) == 2, case=case,
                problem=f"expected a tuple (mean, std), got {type(out).__name__}.")
        want_mean, *stds = ref.cem_refit_expected(samples, scores, n_elite)
        ck.close(out[0], want_mean, case=case + " (mean)", atol=1e-5)
        ck.close(out[1], _closest(out[1], stds), case=case + " (std)", atol=1e-5)


@hidden("1.3", reference=ref.cem_plan)
def cem_plan_unseen_targets(ck: HiddenChecker) -> None:
    """Toy models with a known best plan: random targets, horizons, action dims and settings."""
    gen = ck.torch_generator()
    h, a = int(ck.rng.integers(3, 7)), int(ck.rng.integers(1, 3))
    inside = torch.rand(h, a, generator=gen) * 3.4 - 1.7
    outside = torch.sign(torch.randn(h, a, generator=gen)) * (2.5 + torch.rand(h, a, generator=gen))
    wide = planning.CEMConfig(horizon=h, n_candidates=200, n_elite=20, n_iters=10, act_dim=a)
    cases = {
        f"H = {h}, A = {a}, a best plan inside the bounds": (inside, wide, None, 0.2),
        f"H = {h}, A = {a}, best actions beyond the bounds on both sides": (outside, wide, None, 1.0),
        f"warm start from the best plan (H = {h}, A = {a}), 1 iteration, std 0.1":
            (inside, planning.CEMConfig(horizon=h, n_iters=1, init_std=0.1, act_dim=a), inside, 0.3),
    }
    for i, (case, (target, cfg, init_mean, tol)) in enumerate(cases.items()):
        seed = int(ck.rng.integers(2**31))
        out = ck.call(target_toy, target_obs(target), init_mean, cfg, torch.Generator().manual_seed(seed + i),
                      case=case)
        plan = plan_array(ck, out, cfg, case)
        err = float(abs(plan - target.clamp(cfg.low, cfg.high).numpy()).max())
        ck.true(err <= tol, case=case, problem=f"your plan is {err:.3g} away from the best plan "
                                               f"(tolerance {tol}).")


def _real_return(state: torch.Tensor, plan) -> float:
    """Return of a plan executed open loop on the true pendulum from ``state`` (theta, theta_dot)."""
    actions = torch.as_tensor(plan, dtype=torch.float64)[None]
    return float(ref.random_shooting_scores(envs.pendulum_step, state, actions)[0])


@hidden("1.3", reference=ref.cem_plan)
def cem_plan_balances_the_true_pendulum(ck: HiddenChecker) -> None:
    """Outcome on the true dynamics: from fresh states near upright, the plan (H = 20) executed on
    the true pendulum must keep it up: return >= -1 over 20 steps (the reference: -0.2 at worst over
    100 draws; doing nothing: -13 typically; maximising the cost: about -100)."""
    cfg = planning.CEMConfig(horizon=20, n_candidates=200, n_elite=20, n_iters=5)
    for _ in range(3):
        state = torch.tensor([ck.rng.uniform(-0.15, 0.15), ck.rng.uniform(-0.3, 0.3)], dtype=torch.float64)
        case = f"balance from theta = {state[0]:+.2f}, theta_dot = {state[1]:+.2f} for 20 steps"
        out = ck.call(envs.pendulum_step_obs, envs.pendulum_obs(state).float(), None, cfg,
                      torch.Generator().manual_seed(int(ck.rng.integers(2**31))), case=case)
        ret = _real_return(state, plan_array(ck, out, cfg, case))
        ck.true(ret >= -1.0, case=case,
                problem=f"executed on the true pendulum, your plan returns {ret:.2f} over 20 steps "
                        f"(at least -1 expected: it should keep the pendulum up).")


@hidden("1.4", reference=ref.action_sequence_gradient)
def action_sequence_gradient_unseen_models(ck: HiddenChecker) -> None:
    """Another gravity, a 3-d linear system, a reward blind to actions, a float32 model."""
    gen = ck.torch_generator()
    T = int(ck.rng.integers(5, 30))
    heavy, g = _other_gravity(ck)
    cases = {
        f"the pendulum with gravity {g:.2f}, T = {T}":
            (heavy, _pendulum_states(gen, 1)[0],
             torch.rand(T, 1, generator=gen, dtype=torch.float64) * 4 - 2, 1e-6),
        f"a 3-d linear system with 2-d actions, T = {T // 2 + 1}":
            (_linear_system(gen, 3, 2), torch.randn(3, generator=gen, dtype=torch.float64),
             torch.randn(T // 2 + 1, 2, generator=gen, dtype=torch.float64), 1e-6),
        "a reward that ignores the action: the last action changes nothing (gradient 0)":
            (_linear_system(gen, 2, 1, rho=0.0), torch.randn(2, generator=gen, dtype=torch.float64),
             torch.randn(6, 1, generator=gen, dtype=torch.float64), 1e-6),
        f"float32 observations and actions, as a learned model uses them, T = {T // 3 + 2}":
            (envs.pendulum_step_obs, envs.pendulum_obs(_pendulum_states(gen, 1)[0]).float(),
             torch.rand(T // 3 + 2, 1, generator=gen) * 2 - 1, 1e-3),
    }
    for case, (step, obs, actions, atol) in cases.items():
        got = ck.call(step, obs, actions, case=case)
        ck.close(got, ref.action_sequence_gradient(step, obs, actions), case=case, atol=atol,
                 rtol=1e-4)


@hidden("1.5", reference=ref.closed_loop_product)
def closed_loop_product_unseen_sizes(ck: HiddenChecker) -> None:
    """Random sizes, a long product of stretched rotations with feedback, float32, T = 0 in 3-d."""
    gen = ck.torch_generator()
    T, S, A = int(ck.rng.integers(2, 12)), int(ck.rng.integers(2, 5)), int(ck.rng.integers(1, 3))
    angles = torch.rand(150, generator=gen, dtype=torch.float64) * 2 * math.pi
    c, s = torch.cos(angles), torch.sin(angles)
    rotations = 1.01 * torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    rotations[:, 0, 1] += 0.2  # a little shear, so that the order matters

    def rand(*shape, dtype=torch.float64):
        return torch.randn(*shape, generator=gen, dtype=dtype) / math.sqrt(shape[-1])

    cases = {
        f"{T} random steps, {S}-d states, {A}-d actions": (rand(T, S, S), rand(T, S, A), rand(T, A, S)),
        "150 stretched, sheared rotations with a small feedback":
            (rotations, rand(150, 2, 1), 0.05 * rand(150, 1, 2)),
        f"open loop (dpi = 0), {S}-d states, T = {T}":
            (rand(T, S, S), rand(T, S, A), torch.zeros(T, A, S, dtype=torch.float64)),
        f"float32, T = {T + 3}": tuple(rand(T + 3, *shape, dtype=torch.float32)
                                       for shape in ((2, 2), (2, 1), (1, 2))),
        "no steps in 3-d (T = 0): the 3 x 3 identity":
            (torch.zeros(0, 3, 3, dtype=torch.float64), torch.zeros(0, 3, 2, dtype=torch.float64),
             torch.zeros(0, 2, 3, dtype=torch.float64)),
    }
    for case, (ds, da, dpi) in cases.items():
        got = ck.call(ds, da, dpi, case=case)
        ck.close(got, ref.closed_loop_product(ds, da, dpi), case=case, atol=1e-5, rtol=1e-5)
