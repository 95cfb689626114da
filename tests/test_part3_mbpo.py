"""MBPO's pieces (schedule, the elites' predictions, the finite model buffer), a diverging model, and
the loop end to end with the exercises' pieces (the references) passed in."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from course_lib import mbpo, sac
from course_lib.buffers import ReplayBuffer
from course_lib.dynamics import DynamicsEnsemble, EnsembleConfig
from course_tools.references import part3 as ref

TINY = mbpo.MBPOConfig(
    total_steps=300, init_steps=100, model_every=100, rollout_starts=64, k_schedule=(1, 3, 100, 300),
    updates_per_step=2, eval_every=100, eval_episodes=2, model_epochs=5,
    sac=sac.SACConfig(hidden=16, batch_size=32),
    ensemble=EnsembleConfig(n_members=3, n_elites=2, hidden=16, n_layers=2))
PIECES = {"soft_target": ref.sac_soft_target, "mixed_batch": ref.mbpo_mixed_batch,
          "branched_rollout": ref.mbpo_branched_rollout}


def test_rollout_length_schedule():
    sched = (1, 5, 1000, 3000)
    assert [mbpo.rollout_length(t, sched) for t in (0, 1000, 2000, 3000, 9000)] == [1, 1, 3, 5, 5]
    assert mbpo.rollout_length(10, (1, 1, 0, 0)) == 1


def _buffer(n: int, value: float) -> ReplayBuffer:
    buf = ReplayBuffer(n, 3, 1)
    buf.add(torch.full((n, 3), value), torch.zeros(n, 1), torch.full((n,), value), torch.zeros(n, 3),
            torch.zeros(n))
    return buf


def test_the_model_buffer_drops_non_finite_predictions_whoever_rolls_the_model_out():
    gen = torch.Generator().manual_seed(0)
    real, out = _buffer(20, 1.0), mbpo.FiniteReplayBuffer(1000, 3, 1)

    def model_predict(obs, act):
        nxt = (obs + 1.0).expand(2, -1, -1).clone()
        nxt[:, ::2] = float("nan")  # half of the rows blow up, in both members
        return nxt, obs[:, 0].expand(2, -1)

    added = ref.mbpo_branched_rollout(real, model_predict, lambda o: torch.zeros(len(o), 1), out, 16, 3, gen)
    data = out.all()
    assert added == 48 and len(out) == 3 * 8  # the rollout added 16 rows per step, 8 of them NaN
    assert torch.isfinite(data.obs).all() and torch.isfinite(data.next_obs).all()
    out.add(torch.zeros(3), torch.zeros(1), 0.5, torch.ones(3), 0.0)  # one transition, as ReplayBuffer.add
    assert len(out) == 25


def _model(seed: int = 0) -> DynamicsEnsemble:
    cfg = EnsembleConfig(n_members=4, n_elites=3, hidden=8, n_layers=2)
    model = DynamicsEnsemble(3, 1, cfg, torch.Generator().manual_seed(seed))
    model.elites = torch.tensor([2, 0, 3])
    return model


def test_elite_predictor_gives_every_elites_mean_prediction():
    model, gen = _model(), torch.Generator().manual_seed(1)
    obs, act = torch.randn(5, 3, generator=gen), torch.randn(5, 1, generator=gen)
    next_all, rew_all = mbpo.elite_predictor(model)(obs, act)
    want_next, want_rew = model.predict(obs, act)
    assert next_all.shape == (3, 5, 3) and rew_all.shape == (3, 5)
    assert torch.equal(next_all, want_next[model.elites]) and torch.equal(rew_all, want_rew[model.elites])
    sampled, _ = mbpo.elite_predictor(model, noise=True, generator=gen)(obs, act)
    assert sampled.shape == (3, 5, 3) and not torch.allclose(sampled, next_all)
    with pytest.raises(ValueError, match="generator"):
        mbpo.elite_predictor(model, noise=True)


def test_injected_model_error_scales_the_predicted_change():
    model, gen = _model(), torch.Generator().manual_seed(1)
    obs, act = torch.randn(5, 3, generator=gen), torch.randn(5, 1, generator=gen)
    exact, rew = mbpo.elite_predictor(model)(obs, act)
    fast, rew_fast = mbpo.elite_predictor(model, model_error=0.5)(obs, act)
    assert torch.allclose(fast - obs, 1.5 * (exact - obs), atol=1e-6) and torch.equal(rew, rew_fast)
    log = mbpo.run(dataclasses.replace(TINY, model_error=1.0, total_steps=200), seed=0, progress=False,
                   **PIECES)
    assert log.stopped is None and len(log.returns) == 2


def test_injected_torque_error_changes_the_action_the_model_is_asked_about():
    model, gen = _model(), torch.Generator().manual_seed(1)
    obs, act = torch.randn(5, 3, generator=gen), torch.randn(5, 1, generator=gen)
    for error, gain in ((0.5, 0.0), (1.0, -1.0), (0.25, 0.5)):
        biased = mbpo.elite_predictor(model, torque_error=error)(obs, act)
        asked = mbpo.elite_predictor(model)(obs, gain * act)
        assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(biased, asked, strict=True))
    _, rew = mbpo.elite_predictor(model, torque_error=1.0, reward_fn=lambda o, a: a[:, 0])(obs, act)
    assert torch.equal(rew, act[:, 0].expand(3, -1))
    log = mbpo.run(dataclasses.replace(TINY, torque_error=1.0, total_steps=200), seed=0, progress=False,
                   **PIECES)
    assert log.stopped is None and len(log.returns) == 2


def test_steps_to_threshold_needs_every_later_evaluation_above():
    steps = [250, 500, 750, 1000]
    assert mbpo.steps_to_threshold(steps, [-900, -150, -250, -180]) == 1000
    assert mbpo.steps_to_threshold(steps, [-900, -150, -190, -180]) == 500
    assert mbpo.steps_to_threshold(steps, [-150, -150, -190, -300]) is None


def test_the_loop_runs_end_to_end_and_logs_every_box():
    log = mbpo.run(TINY, seed=0, progress=False, **PIECES)
    assert log.steps == [100, 200, 300] and log.stopped is None
    assert len(log.model_mse) == 3 and all(np.isfinite(log.model_mse)) and log.k == [1, 2, 3]
    assert all(np.isfinite(log.returns))
    real_size, model_size = log.buffer_sizes[-1]
    assert real_size == 300 and model_size == 64 * (1 + 2 + 3)


def test_without_a_model_it_is_plain_sac():
    log = mbpo.run(dataclasses.replace(TINY, use_model=False, updates_per_step=1), seed=0, progress=False,
                   **PIECES)
    assert log.model_mse == [] and log.buffer_sizes[-1] == (300, 0)


def test_a_diverging_model_stops_training_cleanly_with_a_clear_message():
    bad = dataclasses.replace(TINY, ensemble=dataclasses.replace(TINY.ensemble, lr=1e8))
    with pytest.warns(RuntimeWarning, match="NaN/inf"):
        log = mbpo.run(bad, seed=0, progress=False, **PIECES)
    assert log.stopped is not None and "step 100" in log.stopped
    assert log.buffer_sizes == [] and log.model_mse == []  # nothing from the broken model was used


@pytest.mark.parametrize("seed", [0, 1])
def test_mbpo_beats_sac_at_the_same_small_budget(seed):
    """Science: 1000 real steps of the class-sized MBPO against the same SAC without a model."""
    budget = dataclasses.replace(mbpo.MBPOConfig(), total_steps=1000, eval_every=500)
    with_model = mbpo.run(budget, seed, progress=False, **PIECES)
    without = mbpo.run(dataclasses.replace(budget, use_model=False, updates_per_step=1), seed, progress=False,
                       **PIECES)
    assert with_model.stopped is None and with_model.steps == without.steps == [500, 1000]
    assert with_model.returns[-1] > without.returns[-1] + 300, (with_model.returns, without.returns)
