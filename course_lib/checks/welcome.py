"""Checks for 00_welcome: the discounted return and a batched rollout of a policy."""

from __future__ import annotations

import numpy as np
import torch

from course_lib import envs
from course_lib.checks._core import Checker, exercise
from course_lib.checks.toys import ConstantPolicy, LinearPolicy, LinearSystem


@exercise("0.1", "discounted_return")
def discounted_return(ck: Checker) -> None:
    """``discounted_return(rewards (B, T), gamma) -> (B,)`` equals sum_t gamma^t r_t."""
    rng = np.random.default_rng(1)
    cases = {
        "a batch of 4 random trajectories, T = 6, gamma = 0.9": (rng.normal(size=(4, 6)), 0.9),
        "gamma = 0: only the first reward counts": (rng.normal(size=(3, 5)), 0.0),
        "gamma = 1: the plain sum": (rng.normal(size=(2, 7)), 1.0),
        "a single step (T = 1)": (rng.normal(size=(5, 1)), 0.5),
        "one long trajectory (B = 1, T = 200), gamma = 0.99": (rng.normal(size=(1, 200)), 0.99),
    }
    for case, (rewards, gamma) in cases.items():
        got = ck.call(rewards, gamma, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-8,
                 hint="the reward at step t (counting from 0) is weighted by gamma**t; "
                      "sum over the time axis, one number per trajectory.")


def _pendulum_starts(gen: torch.Generator, n: int) -> torch.Tensor:
    theta = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * np.pi - np.pi
    return torch.stack([theta, torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1], -1)


def pump(state: torch.Tensor) -> torch.Tensor:
    """Full torque in the direction of motion (pumps energy into the swing)."""
    return 2.0 * torch.sign(state[:, 1:2])


@exercise("0.2", "rollout")
def rollout(ck: Checker) -> None:
    """``rollout(step, policy, state (B, S), T) -> (states (B, T+1, S), rewards (B, T))``."""
    gen = torch.Generator().manual_seed(2)
    toy = LinearSystem(torch.tensor([[0.9, 0.2], [-0.1, 0.8]], dtype=torch.float64),
                       torch.tensor([[0.0, 1.0], [0.5, 0.0]], dtype=torch.float64))
    cases = {
        "the pendulum, 8 random starts, full torque along the motion, T = 20":
            (envs.pendulum_step, pump, _pendulum_starts(gen, 8), 20),
        "a linear toy system with 2-d actions from a linear policy, T = 6":
            (toy, LinearPolicy(torch.tensor([[0.3, -0.4], [0.1, 0.2]], dtype=torch.float64)),
             torch.randn(5, 2, generator=gen, dtype=torch.float64), 6),
        "a single step (T = 1)": (envs.pendulum_step, ConstantPolicy(torch.tensor([1.5])),
                                  _pendulum_starts(gen, 3), 1),
        "no steps (T = 0): only the start states, and no rewards":
            (envs.pendulum_step, pump, _pendulum_starts(gen, 4), 0),
        "one start (B = 1), a long rollout T = 100":
            (envs.pendulum_step, pump, _pendulum_starts(gen, 1), 100),
    }
    for case, (step, policy, state, T) in cases.items():
        out = ck.call(step, policy, state, T, case=case)
        ck.true(isinstance(out, tuple) and len(out) == 2, case=case,
                problem=f"expected a tuple (states, rewards), got {type(out).__name__}.")
        want_states, want_rewards = ck.answer(case)
        ck.close(out[0], want_states, case=case + " (states)", tensor=True, atol=1e-9,
                 hint="states[:, 0] is the start; states[:, t + 1] is what step returns from "
                      "states[:, t] and the policy's action there. Stack along dimension 1.")
        ck.close(out[1], want_rewards, case=case + " (rewards)", tensor=True, atol=1e-9,
                 hint="rewards[:, t] is the reward step returns for the move from states[:, t]; "
                      "with T = 0 it is an empty (B, 0) tensor.")
