"""Hidden checks of 00_welcome: inputs drawn from the grading seed, edge cases the visible check skips.

Never shipped to students and never run in their kernel: the grader plans the calls here, the
kernel only receives the argument lists, and the judge replays the answers through these bodies.
Inputs must be picklable with the handout alone (``course_lib`` functions and the classes of
``course_lib.checks.toys``), since the student's kernel unpickles them.
"""

from __future__ import annotations

import functools

import torch

from course_lib import envs
from course_lib.checks.toys import ConstantPolicy, LinearPolicy, LinearSystem
from course_lib.checks.welcome import pump
from course_tools.grading.hidden import HiddenChecker, hidden
from course_tools.references import welcome as ref


@hidden("0.1", reference=ref.discounted_return)
def discounted_return_unseen_shapes(ck: HiddenChecker) -> None:
    """Odd batch sizes and horizons, gamma drawn at random, and rewards of very different sizes."""
    for b, t in [(3, 11), (1, 37), (6, 2)]:
        rewards, gamma = ck.rng.normal(size=(b, t)), float(ck.rng.uniform(0.3, 1.0))
        case = f"B = {b}, T = {t}, gamma = {gamma:.3f}"
        ck.close(ck.call(rewards, gamma, case=case), ref.discounted_return(rewards, gamma),
                 case=case, atol=1e-8)
    rewards = ck.rng.normal(size=(4, 9)) * 10.0 ** ck.rng.integers(-3, 4, size=(4, 1))
    case = "rewards on scales from 0.001 to 1000, gamma = 0.97"
    ck.close(ck.call(rewards, 0.97, case=case), ref.discounted_return(rewards, 0.97), case=case,
             atol=1e-8, rtol=1e-9)


@hidden("0.2", reference=ref.rollout)
def rollout_unseen_systems(ck: HiddenChecker) -> None:
    """Fresh start states, another gravity, a 3-d linear system and an empty batch."""
    gen = ck.torch_generator()
    n = int(ck.rng.integers(2, 9))
    T = int(ck.rng.integers(3, 30))
    theta = torch.rand(n, generator=gen, dtype=torch.float64) * 6 - 3
    state = torch.stack([theta, torch.rand(n, generator=gen, dtype=torch.float64) * 4 - 2], -1)
    heavy = functools.partial(envs.pendulum_step, params=envs.PendulumParams(g=float(ck.rng.uniform(4, 15))))
    cases = {
        f"the pendulum with another gravity, {n} starts, T = {T}": (heavy, pump, state, T),
        f"a 3-d linear system, T = {T // 2 + 1}": (
            LinearSystem(torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.5,
                         torch.randn(3, 1, generator=gen, dtype=torch.float64)),
            LinearPolicy(torch.randn(1, 3, generator=gen, dtype=torch.float64)),
            torch.randn(n, 3, generator=gen, dtype=torch.float64), T // 2 + 1),
        "a constant torque from the bottom, T = 2": (
            envs.pendulum_step, ConstantPolicy(torch.tensor([float(ck.rng.uniform(-3, 3))])),
            torch.tensor([[torch.pi, 0.0]] * 2, dtype=torch.float64), 2),
    }
    for case, (step, policy, start, steps) in cases.items():
        out = ck.call(step, policy, start, steps, case=case)
        ck.true(isinstance(out, tuple) and len(out) == 2, case=case,
                problem=f"expected a tuple (states, rewards), got {type(out).__name__}.")
        want_states, want_rewards = ref.rollout(step, policy, start, steps)
        ck.close(out[0], want_states, case=case + " (states)", tensor=True, atol=1e-9)
        ck.close(out[1], want_rewards, case=case + " (rewards)", tensor=True, atol=1e-9)
