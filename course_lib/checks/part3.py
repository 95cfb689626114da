"""Checks for 03_dyna_mve_mbpo: Dyna-Q planning (3.1), the mixed batch (3.3) and the MVE target (3.4);
MBPO's branched rollouts (3.2) and learning step (3.5) are in :mod:`course_lib.checks.part3_mbpo`.

Expected answers come from ``course_lib/data/answers`` (``ck.answer``).
The toy systems here are also the inputs of the hidden checks, so they are module-level and
picklable.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib.buffers import Batch, ReplayBuffer
from course_lib.checks._core import Checker, exercise


def _q_case(rng: np.random.Generator, n_states: int = 6) -> np.ndarray:
    return rng.normal(size=(n_states, 4))


HINT_PAIRS = ("draw (s, a) only from `pairs` (rows of observed state-action pairs), uniformly, "
              "e.g. pairs[rng.integers(len(pairs))]; other entries must stay as they were.")


def check_untouched(ck: Checker, got, Q0: np.ndarray, pairs: np.ndarray, *, case: str) -> None:
    """Entries of Q0 (S, A) outside ``pairs`` must come back unchanged (when ``got`` has Q's shape)."""
    if isinstance(got, np.ndarray) and got.shape == Q0.shape:
        untouched = np.ones(Q0.shape, dtype=bool)
        untouched[tuple(np.asarray(pairs).T)] = False
        ck.true(np.array_equal(np.asarray(got, dtype=float)[untouched], Q0[untouched]), case=case,
                problem="entries of Q that are not in `pairs` changed.", hint=HINT_PAIRS)


@exercise("3.1", "dyna_q_planning_update")
def dyna_q_planning_update(ck: Checker) -> None:
    """``dyna_q_planning_update(Q (S, A), model_next (S, A), model_reward (S, A), pairs (M, 2), n,
    alpha, gamma, rng) -> Q (S, A)``: n sequential Q-learning updates on replayed transitions."""
    rng = np.random.default_rng(31)
    hint_target = "the target is r + gamma * max over a' of Q[s', a'], with (s', r) from the model tables."
    # exact cases: a single observed pair, so the draws do not matter
    Q0 = _q_case(rng)
    nxt = rng.integers(0, 6, size=(6, 4))
    rew = rng.normal(size=(6, 4))
    single = {
        "one observed pair, one update": (Q0, nxt, rew, np.array([[2, 1]]), 1, 0.1, 0.95),
        "one observed pair, 6 updates in a row (each sees the last)":
            (Q0, nxt, rew, np.array([[4, 3]]), 6, 0.5, 0.9),
        "n = 0: no planning, Q unchanged": (Q0, nxt, rew, np.array([[2, 1], [0, 0]]), 0, 0.1, 0.95),
    }
    # a self-loop makes sequential and all-at-once updates differ
    loop_next, loop_q, loop_rew = nxt.copy(), Q0.copy(), rew.copy()
    loop_next[4, 3], loop_q[4], loop_rew[4, 3] = 4, [0.0, 0.2, 0.1, 1.0], 1.0
    single["a self-loop (s' = s), 6 updates in a row"] = (loop_q, loop_next, loop_rew, np.array([[4, 3]]),
                                                           6, 0.5, 0.9)
    for case, args in single.items():
        got = ck.call(*args, np.random.default_rng(0), case=case)
        check_untouched(ck, got, args[0], args[3], case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-9, tensor=False,
                 hint=hint_target + " Update Q in place, one update after the other, and return Q.")
    # a chain 0 -> 1 -> 2 (terminal, Q = 0): many random draws must converge to r, gamma r
    Q = np.zeros((3, 4))
    chain_next = np.array([[0, 1, 0, 0], [1, 1, 2, 1], [2, 2, 2, 2]])
    chain_rew = np.zeros((3, 4))
    chain_rew[1, 2] = 1.0
    pairs = np.array([[0, 1], [1, 2]])
    case = "a two-step chain, 3000 updates drawn from 2 observed pairs"
    got = ck.call(Q, chain_next, chain_rew, pairs, 3000, 0.2, 0.9, np.random.default_rng(5), case=case)
    want = np.zeros((3, 4))
    want[1, 2], want[0, 1] = 1.0, 0.9
    ck.close(got, want, case=case, atol=1e-3, tensor=False, hint=HINT_PAIRS)


# -- 3.3 the mixed real/model batch ------------------------------------------------------------

def _id_buffer(ids: np.ndarray) -> ReplayBuffer:
    """A buffer whose transition number i is written into every field (to trace rows back)."""
    buf = ReplayBuffer(max(len(ids), 1), 3, 1)
    if len(ids):
        x = torch.as_tensor(ids, dtype=torch.float32)
        buf.add(torch.stack([x, x + 0.5, -x], 1), x[:, None] / 1000, x, torch.stack([x + 1, x, x], 1),
                torch.zeros(len(ids)))
    return buf


def _batch_ids(ck: Checker, batch, case: str, batch_size: int) -> np.ndarray:
    ck.true(isinstance(batch, Batch), case=case,
            problem=f"expected a buffers.Batch, got {type(batch).__name__}.",
            hint="build the result with Batch(obs, act, rew, next_obs, done).")
    shapes = {"obs": (batch_size, 3), "act": (batch_size, 1), "rew": (batch_size,),
              "next_obs": (batch_size, 3), "done": (batch_size,)}
    for name, shape in shapes.items():
        got = tuple(getattr(batch, name).shape)
        ck.true(got == shape, case=case, problem=f"batch.{name} has shape {got}, expected {shape}.",
                hint="concatenate each field of the real and the model batch along dimension 0.")
    ids = batch.rew.numpy()
    same = (np.allclose(batch.obs[:, 0].numpy(), ids) and np.allclose(batch.act[:, 0].numpy(), ids / 1000)
            and np.allclose(batch.next_obs[:, 0].numpy(), ids + 1))
    ck.true(same, case=case, problem="the fields of a row come from different transitions.",
            hint="take obs, act, rew, next_obs and done of the same sampled rows.")
    return ids


@exercise("3.3", "mbpo_mixed_batch")
def mbpo_mixed_batch(ck: Checker) -> None:
    """``mbpo_mixed_batch(real_buffer, model_buffer, batch_size, real_ratio, generator) -> Batch``:
    int(batch_size * real_ratio) real rows, the rest from the model buffer."""
    real, model = _id_buffer(np.arange(1, 101)), _id_buffer(-np.arange(1, 1001))
    cases = {"batch 256, real ratio 0.05": (real, model, 256, 0.05),
             "batch 100, real ratio 0.5": (real, model, 100, 0.5),
             "real ratio 1: only real data": (real, model, 64, 1.0),
             "real ratio 0: only model data": (real, model, 64, 0.0),
             "an empty model buffer: the whole batch is real": (real, _id_buffer(np.array([])), 32, 0.05)}
    for case, (r, m, size, ratio) in cases.items():
        batch = ck.call(r, m, size, ratio, torch.Generator().manual_seed(3), case=case)
        ids = _batch_ids(ck, batch, case, size)
        want = int((ck.answer(case).rew > 0).sum())  # real rows have positive ids
        ck.true((ids > 0).sum() == want, case=case,
                problem=f"{(ids > 0).sum()} real rows, expected int({size} * {ratio}) = {want}.",
                hint="n_real = int(batch_size * real_ratio) (rounded down); all real if the model "
                     "buffer is empty.")
        if size - want >= 64:
            ck.true(np.unique(ids[ids < 0]).size > 32 and ids.min() < -500, case=case,
                    problem="the model rows are not a uniform sample of the whole model buffer.",
                    hint="use model_buffer.sample(n, generator).")
    hint = "draw with real_buffer.sample(n, generator) and model_buffer.sample(n, generator)."
    case = "the same generator seed twice"
    b1 = ck.call(real, model, 64, 0.5, torch.Generator().manual_seed(7), case=case)
    b2 = ck.call(real, model, 64, 0.5, torch.Generator().manual_seed(7), case=case)
    ck.true(isinstance(b1, Batch) and isinstance(b2, Batch) and torch.equal(b1.rew, b2.rew), case=case,
            problem="two generators with the same seed gave different batches.", hint=hint)
    case = "another seed (batch 62: its 31 real rows)"
    b3 = ck.call(real, model, 62, 0.5, torch.Generator().manual_seed(8), case=case)
    ck.true(isinstance(b3, Batch) and not torch.equal(b1.rew[:31], b3.rew[:31]), case=case,
            problem="two generators with different seeds drew the same real rows.", hint=hint)


# -- 3.4 the MVE target -----------------------------------------------------------------------

def _toy_model(s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return 0.9 * s + a, s.sum(-1) - 0.1 * a[:, 0] ** 2


def _toy_policy(s: torch.Tensor) -> torch.Tensor:
    return -0.5 * s[:, :1] + 0.2


def _toy_q(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return (s**2).sum(-1) + 3.0 * a[:, 0]


class _QuadraticCritic:
    """q_value(s (B, d), a (B, m)) = scale * |s|^2 + weight * sum(a): a critic of any dimensions."""

    def __init__(self, scale: float, weight: float):
        self.scale, self.weight = float(scale), float(weight)

    def __call__(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.scale * (s**2).sum(-1) + self.weight * a.sum(-1)


@exercise("3.4", "mve_target")
def mve_target(ck: Checker) -> None:
    """``mve_target(r0 (B,), s1 (B, d), model_step, policy, q_value, gamma, horizon) -> (B,)``."""
    gen = torch.Generator().manual_seed(33)
    s1, r0 = torch.randn(16, 2, generator=gen, dtype=torch.float64), torch.randn(16, generator=gen,
                                                                                   dtype=torch.float64)
    cases = {"H = 1: the one-step target r0 + gamma Q(s1, pi(s1))": (r0, s1, 0.9, 1),
             "H = 2": (r0, s1, 0.9, 2),
             "H = 5, gamma = 0.99": (r0, s1, 0.99, 5),
             "H = 10, one state": (r0[:1], s1[:1], 0.8, 10)}
    for case, (r, s, gamma, h) in cases.items():
        got = ck.call(r, s, _toy_model, _toy_policy, _toy_q, gamma, h, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-6, tensor=True,
                 hint="roll H - 1 model steps from s1 with a = policy(s); the k-th model reward "
                      "(k = 1..H-1) gets gamma**k; bootstrap with gamma**H * q_value(s_H, policy(s_H)).")
