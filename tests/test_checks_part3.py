"""Checks of 03_dyna_mve_mbpo: the right answer passes, each wrong answer fails with a clear message."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from course_lib import checks, mbpo
from course_lib.buffers import Batch
from course_tools.references import part3 as ref

FIELDS = [f.name for f in dataclasses.fields(Batch)]

# -- 3.1 Dyna-Q planning ------------------------------------------------------------------------


def _mean_bootstrap(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    for _ in range(n):
        s, a = pairs[rng.integers(len(pairs))]
        target = model_reward[s, a] + gamma * Q[model_next[s, a]].mean()
        Q[s, a] += alpha * (target - Q[s, a])
    return Q


def _all_at_once(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    Q0 = Q.copy()
    for _ in range(n):
        s, a = pairs[rng.integers(len(pairs))]
        Q[s, a] += alpha * (model_reward[s, a] + gamma * Q0[model_next[s, a]].max() - Q[s, a])
    return Q


def _any_pair(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    for _ in range(n):
        s, a = rng.integers(Q.shape[0]), rng.integers(Q.shape[1])
        Q[s, a] += alpha * (model_reward[s, a] + gamma * Q[model_next[s, a]].max() - Q[s, a])
    return Q


def _no_discount(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    return ref.dyna_q_planning_update(Q, model_next, model_reward, pairs, n, alpha, 1.0, rng)


def _returns_nothing(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    ref.dyna_q_planning_update(Q, model_next, model_reward, pairs, n, alpha, gamma, rng)


# exercise id -> (a correct answer, wrong answers); tests/test_checks_all.py uses this table.
CASES = {
    "3.1": (ref.dyna_q_planning_update,
            [_mean_bootstrap, _all_at_once, _any_pair, _no_discount, _returns_nothing]),
}


@pytest.mark.parametrize("wrong, expected", [
    (_mean_bootstrap, "max over a'"),
    (_all_at_once, "one update after the other"),
    (_any_pair, "draw (s, a) only from `pairs`"),
])
def test_dyna_planning_messages_point_at_the_mistake(wrong, expected):
    with pytest.raises(checks.CheckFailed) as info:
        checks.dyna_q_planning_update(wrong)
    assert expected in str(info.value) and "Exercise 3.1" in str(info.value)


def test_dyna_planning_check_accepts_other_ways_to_draw_pairs(capsys):
    def with_choice(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
        for i in rng.choice(len(pairs), size=n):
            s, a = pairs[i]
            Q[s, a] += alpha * (model_reward[s, a] + gamma * np.max(Q[model_next[s, a]]) - Q[s, a])
        return Q

    checks.dyna_q_planning_update(with_choice)
    assert "passed" in capsys.readouterr().out


# -- 3.3 the mixed batch ----------------------------------------------------------------------

def _rounds(real_buffer, model_buffer, batch_size, real_ratio, generator):
    n_real = round(batch_size * real_ratio)
    real, fake = real_buffer.sample(n_real, generator), model_buffer.sample(batch_size - n_real, generator)
    return Batch(*(torch.cat([getattr(real, f), getattr(fake, f)]) for f in FIELDS))


def _ignores_empty_model_buffer(real_buffer, model_buffer, batch_size, real_ratio, generator):
    n_real = int(batch_size * real_ratio)
    real, fake = real_buffer.sample(n_real, generator), model_buffer.sample(batch_size - n_real, generator)
    return Batch(*(torch.cat([getattr(real, f), getattr(fake, f)]) for f in FIELDS))


def _first_rows(real_buffer, model_buffer, batch_size, real_ratio, generator):
    n_real = int(batch_size * real_ratio) if len(model_buffer) else batch_size
    real, fake = real_buffer.all(), model_buffer.all()
    return Batch(*(torch.cat([getattr(real, f)[:n_real], getattr(fake, f)[:batch_size - n_real]])
                   for f in FIELDS))


def _mixed_up_fields(real_buffer, model_buffer, batch_size, real_ratio, generator):
    batch = ref.mbpo_mixed_batch(real_buffer, model_buffer, batch_size, real_ratio, generator)
    batch.act = batch.act.flip(0)
    return batch


def _global_rng(real_buffer, model_buffer, batch_size, real_ratio, generator):
    return ref.mbpo_mixed_batch(real_buffer, model_buffer, batch_size, real_ratio, None)  # torch's global RNG


def _fixed_generator(real_buffer, model_buffer, batch_size, real_ratio, generator):
    return ref.mbpo_mixed_batch(real_buffer, model_buffer, batch_size, real_ratio, torch.Generator())


def _swapped_ratio(real_buffer, model_buffer, batch_size, real_ratio, generator):
    return ref.mbpo_mixed_batch(real_buffer, model_buffer, batch_size, 1 - real_ratio, generator)


# -- 3.4 the MVE target ------------------------------------------------------------------------

def _mve_discount_off_by_one(r0, s1, model_step, policy, q_value, gamma, horizon):
    y, s = r0, s1
    for k in range(1, horizon):
        s, r = model_step(s, policy(s))
        y = y + gamma ** (k - 1) * r
    return y + gamma**horizon * q_value(s, policy(s))


def _mve_bootstrap_too_early(r0, s1, model_step, policy, q_value, gamma, horizon):
    y, s = r0, s1
    for k in range(1, horizon):
        s, r = model_step(s, policy(s))
        y = y + gamma**k * r
    return y + gamma ** (horizon - 1) * q_value(s, policy(s))


def _mve_without_r0(r0, s1, model_step, policy, q_value, gamma, horizon):
    return ref.mve_target(torch.zeros_like(r0), s1, model_step, policy, q_value, gamma, horizon)


def _mve_horizon_steps(r0, s1, model_step, policy, q_value, gamma, horizon):
    return ref.mve_target(r0, s1, model_step, policy, q_value, gamma, horizon + 1)


def _mve_numpy(r0, s1, model_step, policy, q_value, gamma, horizon):
    return ref.mve_target(r0, s1, model_step, policy, q_value, gamma, horizon).numpy()


# -- 3.2 branched rollouts ------------------------------------------------------------------

def _random_member(next_all, rew_all, generator):
    member = torch.randint(next_all.shape[0], (next_all.shape[1],), generator=generator)
    rows = torch.arange(next_all.shape[1])
    return next_all[member, rows], rew_all[member, rows]


def _rollout_with(pick):
    """A rollout that keeps, at each step, what ``pick(next_all, rew_all, generator)`` selects."""
    def rollout(real_buffer, model_predict, policy, model_buffer, n_starts, k, generator):
        obs = real_buffer.sample(n_starts, generator).obs
        for _ in range(k):
            act = policy(obs)
            next_obs, rew = pick(*model_predict(obs, act), generator)
            model_buffer.add(obs, act, rew, next_obs, torch.zeros(len(obs)))
            obs = next_obs
        return n_starts * k

    return rollout


_rollout_member0 = _rollout_with(lambda nxt, rew, g: (nxt[0], rew[0]))
_rollout_member0.__name__ = "_rollout_member0"
_rollout_ensemble_mean = _rollout_with(lambda nxt, rew, g: (nxt.mean(0), rew.mean(0)))
_rollout_ensemble_mean.__name__ = "_rollout_ensemble_mean"


def _rollout_never_advances(real_buffer, model_predict, policy, model_buffer, n_starts, k, generator):
    obs = real_buffer.sample(n_starts, generator).obs
    for _ in range(k):
        act = policy(obs)
        next_obs, rew = _random_member(*model_predict(obs, act), generator)
        model_buffer.add(obs, act, rew, next_obs, torch.zeros(len(obs)))
    return n_starts * k


def _rollout_one_step_short(real_buffer, model_predict, policy, model_buffer, n_starts, k, generator):
    return ref.mbpo_branched_rollout(real_buffer, model_predict, policy, model_buffer, n_starts, k - 1,
                                     generator)


def _rollout_from_first_rows(real_buffer, model_predict, policy, model_buffer, n_starts, k, generator):
    obs = real_buffer.all().obs[:n_starts]
    for _ in range(k):
        act = policy(obs)
        next_obs, rew = _random_member(*model_predict(obs, act), generator)
        model_buffer.add(obs, act, rew, next_obs, torch.zeros(len(obs)))
        obs = next_obs
    return n_starts * k


# -- 3.5 MBPO's learning step ---------------------------------------------------------------

def _learn_with(*, fit=True, roll=True, k_fixed=None, updates_first=False, extra_updates=0, every_step=False,
                ratio=None):
    """A learning step with one mistake, given by the keyword that differs from the default."""
    def learn(t, real_buffer, model_buffer, model, policy, update, config, generator):
        out = []
        batch = lambda: ref.mbpo_mixed_batch(real_buffer, model_buffer, config.sac.batch_size,  # noqa: E731
                                             config.real_ratio if ratio is None else ratio, generator)
        if updates_first:
            out = [update(batch()) for _ in range(config.updates_per_step)]
        if fit and (every_step or t % config.model_every == 0):
            model.fit()
        if roll and (every_step or t % config.rollout_every == 0):
            k = k_fixed or mbpo.rollout_length(t, config.k_schedule)
            ref.mbpo_branched_rollout(real_buffer, model.predict, policy, model_buffer, config.rollout_starts,
                                      k, generator)
        if not updates_first:
            out = [update(batch()) for _ in range(config.updates_per_step + extra_updates)]
        return out

    return learn


def _learn_only_at_refits(t, real_buffer, model_buffer, model, policy, update, config, generator):
    if t % config.model_every == 0:
        model.fit()
        ref.mbpo_branched_rollout(real_buffer, model.predict, policy, model_buffer, config.rollout_starts,
                                  mbpo.rollout_length(t, config.k_schedule), generator)
    return [update(ref.mbpo_mixed_batch(real_buffer, model_buffer, config.sac.batch_size, config.real_ratio,
                                        generator)) for _ in range(config.updates_per_step)]


def _learn_returns_nothing(t, real_buffer, model_buffer, model, policy, update, config, generator):
    ref.mbpo_learn(t, real_buffer, model_buffer, model, policy, update, config, generator)


_WRONG_LEARN = {
    "_learn_without_fit": _learn_with(fit=False),
    "_learn_k_fixed_at_1": _learn_with(k_fixed=1),
    "_learn_updates_before_rollouts": _learn_with(updates_first=True),
    "_learn_one_update_too_many": _learn_with(extra_updates=1),
    "_learn_refits_and_rolls_out_every_step": _learn_with(every_step=True),
    "_learn_only_real_data": _learn_with(ratio=1.0),
}
for _name, _fn in _WRONG_LEARN.items():
    _fn.__name__ = _name

CASES.update({
    "3.2": (ref.mbpo_branched_rollout, [_rollout_member0, _rollout_ensemble_mean, _rollout_never_advances,
                                        _rollout_one_step_short, _rollout_from_first_rows]),
    "3.3": (ref.mbpo_mixed_batch, [_rounds, _ignores_empty_model_buffer, _first_rows, _mixed_up_fields,
                                   _swapped_ratio, _global_rng, _fixed_generator]),
    "3.4": (ref.mve_target, [_mve_discount_off_by_one, _mve_bootstrap_too_early, _mve_without_r0,
                             _mve_horizon_steps, _mve_numpy]),
    "3.5": (ref.mbpo_learn, [*_WRONG_LEARN.values(), _learn_only_at_refits, _learn_returns_nothing]),
})


@pytest.mark.parametrize("wrong, expected", [
    (_WRONG_LEARN["_learn_without_fit"], "model.fit() first"),
    (_WRONG_LEARN["_learn_k_fixed_at_1"], "holds 16 transitions"),
    (_WRONG_LEARN["_learn_updates_before_rollouts"], "roll out before the updates"),
    (_WRONG_LEARN["_learn_refits_and_rolls_out_every_step"], "which is not a refit step"),
    (_learn_only_at_refits, "The batches are all real"),
    (_learn_returns_nothing, "expected a list"),
])
def test_learn_messages(wrong, expected):
    with pytest.raises(checks.CheckFailed, match=re.escape(expected)):
        checks.mbpo_learn(wrong)


@pytest.mark.parametrize("wrong, expected", [
    (_rounds, "rounded down"),
    (_first_rows, "uniform sample"),
    (_mixed_up_fields, "different transitions"),
    (_global_rng, "same seed gave different batches"),
    (_fixed_generator, "different seeds drew the same real rows"),
])
def test_mixed_batch_messages(wrong, expected):
    with pytest.raises(checks.CheckFailed, match=expected):
        checks.mbpo_mixed_batch(wrong)


@pytest.mark.parametrize("wrong, expected", [
    (_rollout_member0, "uniformly random member"),
    (_rollout_ensemble_mean, "uniformly random member"),
    (_rollout_never_advances, "start states only"),
    (_rollout_from_first_rows, "not a random sample"),
])
def test_branched_rollout_messages(wrong, expected):
    with pytest.raises(checks.CheckFailed, match=expected):
        checks.mbpo_branched_rollout(wrong)
