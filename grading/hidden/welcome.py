"""Hidden checks of 00_welcome: new inputs drawn from the grading run's seed.

Kept outside ``course_lib`` (which students have and can import), never shipped in the student
version, and invisible to the sandboxed kernel. Each check gets a ``HiddenChecker`` whose
``rng`` / ``torch_generator()`` are seeded per grading run, so the inputs cannot be predicted.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib import envs, returns
from course_lib.grading_replay import HiddenChecker, hidden


@hidden("0.1", reference=returns.discounted_return)
def discounted_return_unseen_shapes(ck: HiddenChecker) -> None:
    """Odd batch sizes and horizons, gamma drawn at random."""
    for b, t in [(3, 11), (1, 37), (6, 2)]:
        rewards, gamma = ck.rng.normal(size=(b, t)), float(ck.rng.uniform(0.3, 1.0))
        case = f"hidden case: B = {b}, T = {t}, gamma = {gamma:.3f}"
        ck.close(ck.call(rewards, gamma, case=case), returns.discounted_return(rewards, gamma),
                 case=case, atol=1e-8)


@hidden("0.2", reference=envs.pendulum_step)
def pendulum_step_unseen_states(ck: HiddenChecker) -> None:
    """A fresh batch of states and torques, some of them beyond the clipping limits."""
    gen = ck.torch_generator()
    state = torch.stack([torch.rand(9, generator=gen, dtype=torch.float64) * 8 - 4,
                         torch.rand(9, generator=gen, dtype=torch.float64) * 20 - 10], dim=-1)
    action = torch.rand(9, 1, generator=gen, dtype=torch.float64) * 8 - 4
    case = "hidden case: 9 random states (some beyond the speed limit), torques in [-4, 4]"
    out = ck.call(state, action, case=case)
    ck.true(isinstance(out, tuple) and len(out) == 2, case=case,
            problem=f"expected a tuple (next_state, reward), got {type(out).__name__}.")
    want_state, want_reward = envs.pendulum_step(state, action)
    ck.close(out[0], want_state, case=case + " (next_state)", tensor=True)
    ck.close(out[1], want_reward, case=case + " (reward)", tensor=True)
    ck.true(np.isfinite(float(out[1].sum())), case=case, problem="the reward is not finite.")
