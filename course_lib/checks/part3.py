"""Checks for 03_dyna_mve_mbpo: Dyna-Q planning (3.1), MBPO's branched rollouts (3.2), the mixed
batch (3.3), the MVE target (3.4) and MBPO's learning step, assembled from them (3.5).

Expected answers come from ``course_lib/data/answers`` (``ck.answer``); the checks of 3.2 and 3.5
test properties on toy models instead (which member, and which model version, made a row is
readable from it).
The toy systems here are also the inputs of the hidden checks, so they are module-level and
picklable.
"""

from __future__ import annotations

import dataclasses

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


# -- 3.2 MBPO's branched rollouts -------------------------------------------------------------

class _ToyEnsemble:
    """Deterministic members m = 0..E-1: next state decay * s + a + m, reward m + 0.1 s_0.

    So the member a stored row used is rew - 0.1 obs[:, 0], and its next state is predictable.
    """

    def __init__(self, n_members: int = 3, decay: float = 0.5):
        self.n_members, self.decay = int(n_members), float(decay)

    def __call__(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = torch.arange(self.n_members, dtype=obs.dtype).reshape(-1, 1, 1)
        next_obs = self.decay * obs + act + m  # (E, B, o)
        return next_obs, m[:, :, 0] + 0.1 * obs[:, 0]


class _SharedBuffer(ReplayBuffer):
    """An output buffer the student's function fills: the checker's defensive deep copy leaves it
    shared, and it travels (pickled, to a student's kernel) empty, as it was when passed in."""

    def __deepcopy__(self, memo: dict) -> _SharedBuffer:
        return self

    def __reduce__(self):
        return (type(self), (self.capacity, self.obs_dim, self.act_dim))


def _dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact pairwise distances (cdist's fast matmul mode is too imprecise for equality tests)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _rollout_policy(obs: torch.Tensor) -> torch.Tensor:
    return -0.3 * obs[:, :1]


def _real_buffer(gen: torch.Generator, n: int = 200) -> ReplayBuffer:
    real = ReplayBuffer(n, 3, 1)
    real.add(torch.randn(n, 3, generator=gen), torch.zeros(n, 1), torch.zeros(n),
             torch.randn(n, 3, generator=gen), torch.zeros(n))
    return real


def check_rollout(ck: Checker, real: ReplayBuffer, ensemble: _ToyEnsemble, policy, n: int, k: int,
                  generator: torch.Generator, *, case: str) -> None:
    """Call the student's rollout once and check what it put into an empty model buffer."""
    buf = _SharedBuffer(max(n * k, 1) + 64, 3, 1)
    real_obs = real.all().obs
    added = ck.call(real, ensemble, policy, buf, n, k, generator, case=case)
    ck.true(len(buf) == n * k, case=case, problem=f"the model buffer holds {len(buf)} transitions, "
            f"expected n_starts * k = {n * k}.", hint="add every simulated step, k per rollout.")
    ck.true(added == n * k, case=case, problem=f"returned {added!r}, expected {n * k}.",
            hint="return how many transitions you added.")
    data = buf.all()
    member = data.rew - 0.1 * data.obs[:, 0]
    ck.true(torch.allclose(data.act, policy(data.obs), atol=1e-5), case=case,
            problem="the stored actions are not policy(obs).", hint="act = policy(obs) at every step.")
    predicted = ensemble.decay * data.obs + data.act + member.round()[:, None]
    ck.true(torch.allclose(member, member.round(), atol=1e-4)
            and torch.allclose(data.next_obs, predicted, atol=1e-4),
            case=case, problem="a stored (obs, act, rew, next_obs) is not one member's prediction.",
            hint="take next_obs and rew of the same member for each row: next_all[member, rows], "
                 "rew_all[member, rows].")
    is_start = (_dist(data.obs, real_obs) < 1e-5).any(1)
    ck.true(int(is_start.sum()) == n and torch.equal(data.done, torch.zeros(n * k)), case=case,
            problem=f"{int(is_start.sum())} stored states are states of the real buffer; expected the "
                    f"{n} start states only (and done = 0 everywhere).",
            hint="start from real_buffer.sample(n_starts, generator).obs, then continue from the "
                 "model's next states.")
    if n >= 32:
        start_rows = _dist(data.obs[is_start], real_obs).argmin(1)
        ck.true(int(start_rows.max()) >= n, case=case,
                problem="the start states are the first rows of the real buffer, not a random sample.",
                hint="draw them with real_buffer.sample(n_starts, generator).")
    if k > 1:
        chained = (_dist(data.obs[~is_start], data.next_obs) < 1e-5).any(1)
        ck.true(bool(chained.all()), case=case, problem="some rollout steps do not start where the "
                "previous model step ended.", hint="after each step, set obs = next_obs.")
    if n * k >= 20 * ensemble.n_members:
        counts = torch.bincount(member.round().long(), minlength=ensemble.n_members)
        ck.true(bool((counts > n * k / (3 * ensemble.n_members)).all()), case=case,
                problem=f"the members were used {counts.tolist()} times; each row should use a "
                        "uniformly random member.",
                hint="member = torch.randint(E, (B,), generator=generator) for each step.")


@exercise("3.2", "mbpo_branched_rollout")
def mbpo_branched_rollout(ck: Checker) -> None:
    """``mbpo_branched_rollout(real_buffer, model_predict, policy, model_buffer, n_starts, k, generator)
    -> int``: k model steps from n_starts real states, a random member per row, into the model buffer."""
    real = _real_buffer(torch.Generator().manual_seed(35))
    for case, (n, k) in {"64 rollouts of k = 3 steps": (64, 3), "k = 1": (40, 1),
                         "a single rollout of k = 6 steps": (1, 6)}.items():
        check_rollout(ck, real, _ToyEnsemble(), _rollout_policy, n, k, torch.Generator().manual_seed(1),
                      case=case)


# -- 3.5 MBPO's learning step, assembled ----------------------------------------------------

class _VersionedModel:
    """A model whose predictions say which ``fit()`` made them: member m of version v predicts
    next state 0.5 s + a + m and reward -(1000 + 100 v + m) (model rows have rewards <= -1000)."""

    def __init__(self, n_members: int = 3):
        self.n_members, self.version = int(n_members), 0

    def fit(self) -> None:
        self.version += 1

    def predict(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = torch.arange(self.n_members, dtype=obs.dtype).reshape(-1, 1, 1)
        rew = -(1000.0 + 100.0 * self.version + m[:, :, 0]).expand(-1, obs.shape[0])
        return 0.5 * obs + act + m, rew


class _Echo:
    """An ``update`` that learns nothing and returns the batch it was given."""

    def __call__(self, batch: Batch) -> Batch:
        return batch


def _old_rollouts(n: int = 200) -> ReplayBuffer:
    """A model buffer holding rollouts of an earlier refit: rewards -5000 - i."""
    buf = ReplayBuffer(n, 3, 1)
    i = torch.arange(n, dtype=torch.float32)
    buf.add(torch.stack([i, -i, i], 1), torch.zeros(n, 1), -5000.0 - i, torch.stack([i, i, -i], 1),
            torch.zeros(n))
    return buf


HINT_LEARN = ("every config.model_every steps model.fit(); every config.rollout_every steps your "
              "mbpo_branched_rollout(real_buffer, model.predict, policy, model_buffer, "
              "config.rollout_starts, k, generator) with k = mbpo.rollout_length(t, config.k_schedule); then "
              "config.updates_per_step times update(mbpo_mixed_batch(real_buffer, model_buffer, "
              "config.sac.batch_size, config.real_ratio, generator)); return the updates' outputs.")


def check_learn(ck: Checker, t: int, config, prefilled: bool, *, case: str) -> None:
    """Call the student's learning step once at real step t and check what it did."""
    from course_lib.mbpo import rollout_length

    real = _id_buffer(np.arange(1, 151))
    fit_due, roll_due = t % config.model_every == 0, t % config.rollout_every == 0
    k, n = rollout_length(t, config.k_schedule), config.rollout_starts
    model_buf = _old_rollouts() if prefilled else _SharedBuffer(n * k + 64, 3, 1)
    out = ck.call(t, real, model_buf, _VersionedModel(), _rollout_policy, _Echo(), config,
                  torch.Generator().manual_seed(t), case=case)
    G, B = config.updates_per_step, config.sac.batch_size
    ck.true(isinstance(out, list) and len(out) == G and all(isinstance(b, Batch) for b in out), case=case,
            problem=f"expected a list of the {G} outputs of update (here each returns its batch), got "
                    f"{type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, list) else "")
                    + ".",
            hint=HINT_LEARN)
    n_real = int(B * config.real_ratio) if (roll_due or prefilled) else B
    for b in out:
        got = int((b.rew > 0).sum())
        why = (" The batches are all real: was the model buffer still empty when you updated? At a rollout "
               "step, roll out before the updates." if got == B and n_real < B else "")
        ck.true(len(b) == B and got == n_real, case=case, hint=HINT_LEARN,
                problem=f"a batch has {len(b)} rows, {got} of them real; expected {B} rows, "
                        f"int(batch_size * real_ratio) = {n_real} real.{why}")
    if prefilled:
        rew = torch.cat([b.rew for b in out])
        fresh = rew[(rew <= -1000) & (rew > -5000)]
        ck.true(roll_due or len(fresh) == 0, case=case,
                problem=f"t = {t} is not a rollout step (rollout_every = {config.rollout_every}), but the "
                        "batches contain new model rows.", hint=HINT_LEARN)
        return
    data = model_buf.all()
    want = n * k if roll_due else 0
    ck.true(len(model_buf) == want, case=case,
            problem=f"the model buffer holds {len(model_buf)} transitions after step t = {t}; expected "
                    + (f"rollout_starts * k = {n} * {k} = {want} (k = rollout_length(t, k_schedule))"
                       if roll_due else f"none (t is not a multiple of rollout_every = "
                                        f"{config.rollout_every})")
                    + ".", hint=HINT_LEARN)
    if want:
        version = (-data.rew - 1000) // 100
        problem = ("the rollouts used the model as it was before this step's refit: call model.fit() first."
                   if fit_due else f"the model was refitted at t = {t}, which is not a refit step "
                   f"(model_every = {config.model_every}).")
        ck.true(bool((version == int(fit_due)).all()), case=case, problem=problem, hint=HINT_LEARN)


@exercise("3.5", "mbpo_learn")
def mbpo_learn(ck: Checker) -> None:
    """``mbpo_learn(t, real_buffer, model_buffer, model, policy, update, config, generator) -> list``:
    refit when due, roll out when due (k from the schedule), then G updates on mixed batches."""
    from course_lib.mbpo import MBPOConfig
    from course_lib.sac import SACConfig

    config = MBPOConfig(model_every=100, rollout_every=50, rollout_starts=16, k_schedule=(1, 3, 100, 300),
                        updates_per_step=3, real_ratio=0.25, sac=SACConfig(batch_size=32))
    cases = {
        "t = 200: refit, then rollouts of k = 2 steps, then 3 updates": (200, config, False),
        "t = 250: rollouts with the current model (no refit), then 3 updates": (250, config, False),
        "t = 120: neither refit nor rollouts, 3 updates on the old model buffer": (120, config, True),
        "t = 300, G = 5, real ratio 0.5: refit, rollouts of k = 3, 5 updates":
            (300, dataclasses.replace(config, updates_per_step=5, real_ratio=0.5), False),
    }
    for case, (t, cfg, prefilled) in cases.items():
        check_learn(ck, t, cfg, prefilled, case=case)
