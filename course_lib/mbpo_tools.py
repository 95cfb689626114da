"""Measuring MBPO runs: the run log, the evaluation, the model's error along a rollout, the sweeps.

Nothing here is part of the algorithm (that is :mod:`course_lib.mbpo`); these are the instruments
the notebook reads its results with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from course_lib import envs
from course_lib.buffers import ReplayBuffer

__all__ = ["RunLog", "evaluate", "rollout_error", "steps_to_threshold", "load_sweep", "curves",
           "settings_table"]

DATA = Path(__file__).resolve().parent / "data"


@dataclass
class RunLog:
    """What one training run did."""

    steps: list[int] = field(default_factory=list)
    """Real steps at each evaluation."""
    returns: list[float] = field(default_factory=list)
    """Mean evaluation return at each evaluation."""
    model_mse: list[float] = field(default_factory=list)
    """Elites' held-out MSE (normalised) after each model refit."""
    k: list[int] = field(default_factory=list)
    """Rollout length of the schedule at each refit."""
    trajectory_error: list[list[float]] = field(default_factory=list)
    """After each refit: the rollouts' distance to the true trajectory, k = 1..25 (:func:`rollout_error`)."""
    step_error: list[list[float]] = field(default_factory=list)
    """After each refit: the error of the k-th simulated transition, k = 1..25 (:func:`rollout_error`)."""
    buffer_sizes: list[tuple[int, int]] = field(default_factory=list)
    """(real buffer, model buffer) sizes at each evaluation."""
    stopped: str | None = None
    """Why training stopped early (a diverged model), or None."""
    seconds: float = 0.0
    """Wall time of the run."""


@torch.no_grad()
def evaluate(agent, n_episodes: int, seed: int = 12345, horizon: int = 200) -> float:
    """Mean return of ``agent.act(obs, deterministic=True)`` over ``n_episodes`` Pendulum-v1 episodes.

    Batched: start states are drawn like gymnasium's reset (theta ~ U(-pi, pi), theta_dot ~
    U(-1, 1)) from a fixed seed, and stepped with ``envs.pendulum_step`` (Pendulum-v1's dynamics).
    """
    gen = torch.Generator().manual_seed(seed)
    high = torch.tensor([np.pi, 1.0])
    state = (torch.rand(n_episodes, 2, generator=gen) * 2 - 1) * high
    total = torch.zeros(n_episodes)
    for _ in range(horizon):
        act = agent.act(envs.pendulum_obs(state), deterministic=True)
        state, rew = envs.pendulum_step(state, act)
        total += rew
    return float(total.mean())


@torch.no_grad()
def rollout_error(model_predict: Callable, policy: Callable, real_buffer: ReplayBuffer, k_max: int,
                  generator: torch.Generator, n_starts: int = 256) -> dict[str, list[float]]:
    """The model's error along branched rollouts of 1..k_max steps, two ways (each k_max floats).

    Starts are ``n_starts`` states of the real buffer; the rollout acts with ``policy`` and steps
    through a random elite per row, as branched rollouts do. Distances are Euclidean in
    observation space (cos, sin, speed), averaged over rollouts:

    * "trajectory": |s^_k - s_k|, the true pendulum replaying the same actions from the same start
      (the error compounds, as in Part 2);
    * "step": |s^_k - f(s^_{k-1}, a_{k-1})|, the error of the k-th simulated transition itself, f
      being the true dynamics at the model's own state: what the learner is trained on.
    """
    obs = real_buffer.sample(n_starts, generator).obs
    true_obs, rows = obs, torch.arange(n_starts)
    errors: dict[str, list[float]] = {"trajectory": [], "step": []}
    for _ in range(k_max):
        act = policy(obs)
        next_all, _ = model_predict(obs, act)
        next_obs = next_all[torch.randint(next_all.shape[0], (n_starts,), generator=generator), rows]
        true_obs = envs.pendulum_step_obs(true_obs, act)[0]
        for key, want in (("trajectory", true_obs), ("step", envs.pendulum_step_obs(obs, act)[0])):
            errors[key].append(float((next_obs - want).norm(dim=1).nan_to_num(1e6).mean()))
        obs = next_obs
    return errors


def steps_to_threshold(steps: list[int], returns: list[float], threshold: float = -200.0) -> int | None:
    """First evaluation step from which every later evaluation is >= threshold (None: never)."""
    below = [i for i, r in enumerate(returns) if not r >= threshold]
    first = below[-1] + 1 if below else 0
    return int(steps[first]) if first < len(steps) else None


def load_sweep(name: str = "part3_mbpo_sweep") -> dict:
    """The committed sweep ``course_lib/data/<name>.json`` of ``scripts/part3_sweep.py`` (its "command")."""
    return json.loads((DATA / f"{name}.json").read_text())


def curves(sweep: dict, name: str, until: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Steps (T,) and returns (seeds, T) of the sweep's runs ``name``, up to real step ``until``."""
    runs = list(sweep["runs"][name].values())
    steps = np.array(runs[0]["steps"])
    keep = steps <= (until if until is not None else steps[-1])
    return steps[keep], np.array([run["returns"] for run in runs])[:, keep]


def settings_table(config) -> str:
    """A markdown table: MBPO's published settings (Janner et al., 2019, appendix C, and the authors'
    code) against ``config`` (an ``MBPOConfig``), with why they differ."""
    c, e, s = config, config.ensemble, config.sac
    k_min, k_max, start, end = c.k_schedule
    rows = [
        ("task", "MuJoCo locomotion, 125k-300k real steps", f"Pendulum-v1, {c.total_steps:,} real steps",
         "a class has minutes, on a laptop's CPU"),
        ("model refit", "every 250 real steps (1,000 for Humanoid)", f"every {c.model_every} real steps",
         "the same"),
        ("branched rollouts", "100,000 every 250 steps (400 per real step)",
         f"{c.rollout_starts:,} every {c.rollout_every} steps "
         f"({c.rollout_starts / c.rollout_every:.0f} per real step)",
         "10x fewer model steps to compute; the real-ratio sweep below shows what it costs"),
        ("rollout length k", "per task: 1 (HalfCheetah, Walker2d), 1 -> 15 (Hopper), 1 -> 25 (Ant)",
         f"{k_min} -> {k_max} over real steps {start:,}-{end:,}",
         "the pendulum is learned within ~1,500 steps; the k sweep below tries 1 and 25"),
        ("updates per real step G", "20 (HalfCheetah 40; the authors' InvertedPendulum config 10)",
         f"{c.updates_per_step}", "class time: each update costs as much as one of SAC's"),
        ("real ratio rho", "0.05", f"{c.real_ratio}",
         "0.05 oscillated with 10x fewer rollouts (the real-ratio sweep below)"),
        ("model buffer", "the rollouts of the last 1,000 real steps (5,000 for Humanoid)",
         f"the rollouts of the last {c.retain} refits ({c.retain * c.model_every:,} real steps)",
         "the same idea"),
        ("model step", "a random elite, sampling its Gaussian",
         "a random elite, " + ("sampling its Gaussian" if c.sample_model else "its Gaussian's mean"),
         "the pendulum is deterministic: the spread learned from little data only adds noise"),
        ("networks", "SAC 256 x 2; ensemble of 7 (5 elites), 4 layers of 200",
         f"SAC {s.hidden} x {s.n_layers}, batch {s.batch_size}; ensemble of {e.n_members} "
         f"({e.n_elites} elites), {e.n_layers} layers of {e.hidden}", "smaller networks, faster updates"),
    ]
    lines = ["| setting | MBPO paper | this course | why |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {x} | {y} |" for a, b, x, y in rows])
