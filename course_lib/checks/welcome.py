"""Checks for 00_welcome: the discounted return and one batched pendulum step."""

from __future__ import annotations

import numpy as np
import torch

from course_lib import envs, returns
from course_lib.checks._core import Checker, exercise


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
        ck.close(got, returns.discounted_return(rewards, gamma), case=case, atol=1e-8,
                 hint="the reward at step t (counting from 0) is weighted by gamma**t; "
                      "sum over the time axis, one number per trajectory.")


@exercise("0.2", "pendulum_step")
def pendulum_step(ck: Checker) -> None:
    """``pendulum_step(state (B, 2), action (B, 1)) -> (next_state (B, 2), reward (B,))``."""
    gen = torch.Generator().manual_seed(2)
    b = 16
    random_state = torch.stack(
        [torch.rand(b, generator=gen, dtype=torch.float64) * 2 * np.pi - np.pi,
         torch.rand(b, generator=gen, dtype=torch.float64) * 16 - 8], dim=-1)
    cases = {
        "16 random states and torques in [-2, 2]":
            (random_state, torch.rand(b, 1, generator=gen, dtype=torch.float64) * 4 - 2),
        "torques outside [-2, 2] must be clipped":
            (random_state, torch.tensor([[5.0], [-7.0]] * 8, dtype=torch.float64)),
        "a fast state: the new speed must be clipped to [-8, 8]":
            (torch.tensor([[1.5, 7.9], [-1.5, -7.9]], dtype=torch.float64),
             torch.tensor([[2.0], [-2.0]], dtype=torch.float64)),
        "a single state (B = 1), upright and still":
            (torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)),
    }
    for case, (state, action) in cases.items():
        out = ck.call(state, action, case=case)
        ck.true(isinstance(out, tuple) and len(out) == 2, case=case,
                problem=f"expected a tuple (next_state, reward), got {type(out).__name__}.")
        want_state, want_reward = envs.pendulum_step(state, action)
        ck.close(out[0], want_state, case=case + " (next_state)", tensor=True,
                 hint="clip the torque first, update theta_dot, clip it, then update theta "
                      "with the *new* theta_dot.")
        ck.close(out[1], want_reward, case=case + " (reward)", tensor=True,
                 hint="the reward uses the state before the step, the clipped torque, and "
                      "the angle wrapped to [-pi, pi).")
