"""Checks for 03_dyna_mve_mbpo's MBPO pieces: the branched rollouts (3.2) and MBPO's learning step,
assembled from the pieces (3.5).

Both test properties on toy models (which member, and which model version, made a simulated row is
readable from it) instead of comparing with saved answers. The toy systems here are also the inputs
of the hidden checks, so they are module-level and picklable.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from course_lib.buffers import Batch, ReplayBuffer
from course_lib.checks._core import Checker, exercise
from course_lib.checks.part3 import _id_buffer

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
