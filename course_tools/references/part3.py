"""Reference answers of 03_dyna_mve_mbpo: Dyna-Q planning, the mixed batch, the MVE target, MBPO's
learning step (the capstone, assembled from the others) and MBPO's branched rollouts.

The instructor's notebook holds the same code in its solution cells; the package's algorithms
(``dyna.dyna_q``, ``mve.target_error_stats``, ``mbpo.run``) take these pieces as
arguments, and instructor-side code (tests, benchmarks, ``scripts/part3_sweep.py``) passes them
from here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from course_lib.buffers import Batch, ReplayBuffer
from course_lib.mbpo import rollout_length
from course_tools.references import reference


@reference("3.1")
def dyna_q_planning_update(Q: np.ndarray, model_next: np.ndarray, model_reward: np.ndarray,
                           pairs: np.ndarray, n: int, alpha: float, gamma: float,
                           rng: np.random.Generator) -> np.ndarray:
    """n Dyna-Q planning updates of one learner's Q (S, A), in place; returns Q.

    Each update draws a previously observed (s, a) uniformly from ``pairs`` (M, 2), asks the
    model tables (S, A) where it leads and what it pays, and applies the Q-learning update
    Q(s, a) += alpha (r + gamma max_a' Q(s', a') - Q(s, a)). The updates are sequential.
    """
    for _ in range(n):
        s, a = pairs[rng.integers(len(pairs))]
        s_next, r = model_next[s, a], model_reward[s, a]
        Q[s, a] += alpha * (r + gamma * Q[s_next].max() - Q[s, a])
    return Q


@reference("3.3")
def mbpo_mixed_batch(real_buffer: ReplayBuffer, model_buffer: ReplayBuffer, batch_size: int,
                     real_ratio: float, generator: torch.Generator) -> Batch:
    """int(batch_size * real_ratio) real transitions first, then model transitions.

    With an empty model buffer the whole batch is real.
    """
    n_real = int(batch_size * real_ratio) if len(model_buffer) > 0 else batch_size
    real = real_buffer.sample(n_real, generator)
    if n_real == batch_size:
        return real
    fake = model_buffer.sample(batch_size - n_real, generator)
    return Batch(*(torch.cat([getattr(real, name), getattr(fake, name)])
                   for name in ("obs", "act", "rew", "next_obs", "done")))


@reference("3.4")
def mve_target(r0: torch.Tensor, s1: torch.Tensor, model_step: Callable, policy: Callable,
               q_value: Callable, gamma: float, horizon: int) -> torch.Tensor:
    """y_H = r0 + sum_{k=1}^{H-1} gamma^k r^_k + gamma^H Q(s^_H, pi(s^_H)), s^_1 = s1. Returns (B,)."""
    y, s = r0, s1
    for k in range(1, horizon):
        s, r = model_step(s, policy(s))
        y = y + gamma**k * r
    return y + gamma**horizon * q_value(s, policy(s))


@reference("3.5")
def mbpo_learn(t: int, real_buffer: ReplayBuffer, model_buffer: ReplayBuffer, model, policy: Callable,
               update: Callable, config, generator: torch.Generator) -> list:
    """MBPO's learning at real step t (the step is already in the real buffer).

    Every ``config.model_every`` steps refit the model; every ``config.rollout_every`` steps make
    branched rollouts (3.2) of k = rollout_length(t) steps from ``config.rollout_starts`` real
    states; then ``config.updates_per_step`` updates on mixed batches (3.3). Returns the updates'
    outputs.
    """
    if t % config.model_every == 0:
        model.fit()
    if t % config.rollout_every == 0:
        k = rollout_length(t, config.k_schedule)
        mbpo_branched_rollout(real_buffer, model.predict, policy, model_buffer, config.rollout_starts, k,
                              generator)
    return [update(mbpo_mixed_batch(real_buffer, model_buffer, config.sac.batch_size, config.real_ratio,
                                    generator))
            for _ in range(config.updates_per_step)]


@reference("3.2")
def mbpo_branched_rollout(real_buffer: ReplayBuffer, model_predict: Callable, policy: Callable,
                          model_buffer: ReplayBuffer, n_starts: int, k: int,
                          generator: torch.Generator) -> int:
    """k model steps from n_starts real states, each row through a random member, into model_buffer.

    ``model_predict(obs (B, o), act (B, a)) -> (next_obs (E, B, o), rew (E, B))``. Returns the
    number of transitions added. Draws from ``generator`` in the order of ``course_lib`` before
    version 2 (starts, then per step: the policy's sample, the members), so the committed
    sweep reproduces.
    """
    steps: list[tuple[torch.Tensor, ...]] = []
    obs = real_buffer.sample(n_starts, generator).obs
    for _ in range(k):  # one member per row and step: gather its prediction from (E, B, ...)
        act = policy(obs)
        next_all, rew_all = model_predict(obs, act)
        pick = torch.randint(next_all.shape[0], (1, n_starts), generator=generator)
        next_obs = next_all.gather(0, pick[..., None].expand(1, n_starts, next_all.shape[-1]))[0]
        steps.append((obs, act, rew_all.gather(0, pick)[0], next_obs))
        obs = next_obs
    if steps:  # the same rows, in the same order, as adding them step by step
        o, a, r, o2 = (torch.cat(x) for x in zip(*steps, strict=True))
        model_buffer.add(o, a, r, o2, torch.zeros(len(o)))
    return n_starts * k
