"""MBPO's pieces (schedule, rollouts, mixed batches), a diverging model, and the loop end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from course_lib import mbpo, sac
from course_lib.buffers import ReplayBuffer
from course_lib.dynamics import EnsembleConfig

TINY = mbpo.MBPOConfig(
    total_steps=300, init_steps=100, model_every=100, rollout_starts=64, k_schedule=(1, 3, 100, 300),
    updates_per_step=2, eval_every=100, eval_episodes=2, model_epochs=5,
    sac=sac.SACConfig(hidden=16, batch_size=32),
    ensemble=EnsembleConfig(n_members=3, n_elites=2, hidden=16, n_layers=2))


def test_rollout_length_schedule():
    sched = (1, 5, 1000, 3000)
    assert [mbpo.rollout_length(t, sched) for t in (0, 1000, 2000, 3000, 9000)] == [1, 1, 3, 5, 5]
    assert mbpo.rollout_length(10, (1, 1, 0, 0)) == 1


def _buffer(n: int, value: float) -> ReplayBuffer:
    buf = ReplayBuffer(n, 3, 1)
    buf.add(torch.full((n, 3), value), torch.zeros(n, 1), torch.full((n,), value), torch.zeros(n, 3),
            torch.zeros(n))
    return buf


def test_mixed_batch_takes_the_real_share_first_and_is_all_real_without_model_data():
    gen = torch.Generator().manual_seed(0)
    batch = mbpo.mixed_batch(_buffer(10, 1.0), _buffer(50, -1.0), 256, 0.05, gen)
    assert len(batch) == 256 and (batch.rew[:12] == 1).all() and (batch.rew[12:] == -1).all()
    assert (mbpo.mixed_batch(_buffer(10, 1.0), ReplayBuffer(5, 3, 1), 64, 0.05, gen).rew == 1).all()


def test_branched_rollout_chains_k_steps_and_drops_non_finite_predictions():
    gen = torch.Generator().manual_seed(0)
    real, out = _buffer(20, 1.0), ReplayBuffer(1000, 3, 1)

    def model_step(obs, act, g):
        nxt = obs + 1.0
        nxt[::2] = float("nan")  # half of the rows blow up
        return nxt, obs[:, 0]

    added = mbpo.branched_rollout(real, model_step, lambda o: torch.zeros(len(o), 1), out, 16, 3, gen)
    data = out.all()
    assert added == len(out) == 8 + 4 + 2  # the NaN rows are dropped and not rolled further
    assert torch.isfinite(data.obs).all() and torch.isfinite(data.next_obs).all()


def test_steps_to_threshold_needs_every_later_evaluation_above():
    steps = [250, 500, 750, 1000]
    assert mbpo.steps_to_threshold(steps, [-900, -150, -250, -180]) == 1000
    assert mbpo.steps_to_threshold(steps, [-900, -150, -190, -180]) == 500
    assert mbpo.steps_to_threshold(steps, [-150, -150, -190, -300]) is None


def test_the_loop_runs_end_to_end_and_logs_every_box():
    log = mbpo.run(TINY, seed=0, progress=False)
    assert log.steps == [100, 200, 300] and log.stopped is None
    assert len(log.model_mse) == 3 and all(np.isfinite(log.model_mse)) and log.k == [1, 2, 3]
    assert all(np.isfinite(log.returns))
    real_size, model_size = log.buffer_sizes[-1]
    assert real_size == 300 and model_size == 64 * (1 + 2 + 3)


def test_without_a_model_it_is_plain_sac():
    log = mbpo.run(dataclasses.replace(TINY, use_model=False, updates_per_step=1), seed=0, progress=False)
    assert log.model_mse == [] and log.buffer_sizes[-1] == (300, 0)


def test_a_diverging_model_stops_training_cleanly_with_a_clear_message():
    bad = dataclasses.replace(TINY, ensemble=dataclasses.replace(TINY.ensemble, lr=1e8))
    with pytest.warns(RuntimeWarning, match="NaN/inf"):
        log = mbpo.run(bad, seed=0, progress=False)
    assert log.stopped is not None and "step 100" in log.stopped
    assert log.buffer_sizes == [] and log.model_mse == []  # nothing from the broken model was used


def test_injected_model_error_scales_the_predicted_change():
    class Shift:
        def sample_step(self, obs, act, generator):
            return obs + 1.0, obs[:, 0]

    step = mbpo.biased_model_step(Shift(), 0.5)
    nxt, rew = step(torch.zeros(4, 3), torch.zeros(4, 1), torch.Generator())
    assert torch.allclose(nxt, torch.full((4, 3), 1.5)) and torch.equal(rew, torch.zeros(4))
    log = mbpo.run(dataclasses.replace(TINY, model_error=1.0, total_steps=200), seed=0, progress=False)
    assert log.stopped is None and len(log.returns) == 2


def test_injected_torque_error_changes_the_action_the_model_is_asked_about():
    class Push:
        def sample_step(self, obs, act, generator):
            return obs + act, act[:, 0]

    for error, gain in ((0.0, 1.0), (0.5, 0.0), (1.0, -1.0), (0.25, 0.5)):
        step = mbpo.biased_model_step(Push(), 0.0, torque_error=error)
        nxt, rew = step(torch.zeros(4, 3), torch.full((4, 1), 2.0), torch.Generator())
        assert torch.allclose(nxt, torch.full((4, 3), 2.0 * gain))
        assert torch.allclose(rew, torch.full((4,), 2.0 * gain))
    step = mbpo.biased_model_step(Push(), 0.0, torque_error=1.0, reward_fn=lambda o, a: a[:, 0])
    assert torch.equal(step(torch.zeros(2, 3), torch.ones(2, 1), torch.Generator())[1], torch.ones(2))
    log = mbpo.run(dataclasses.replace(TINY, torque_error=1.0, total_steps=200), seed=0, progress=False)
    assert log.stopped is None and len(log.returns) == 2


@pytest.mark.parametrize("seed", [0, 1])
def test_mbpo_beats_sac_at_the_same_small_budget(seed):
    """Science: 1000 real steps of the class-sized MBPO against the same SAC without a model."""
    budget = dataclasses.replace(mbpo.MBPOConfig(), total_steps=1000, eval_every=500)
    with_model = mbpo.run(budget, seed, progress=False)
    without = mbpo.run(dataclasses.replace(budget, use_model=False, updates_per_step=1), seed, progress=False)
    assert with_model.stopped is None and with_model.steps == without.steps == [500, 1000]
    assert with_model.returns[-1] > without.returns[-1] + 300, (with_model.returns, without.returns)
