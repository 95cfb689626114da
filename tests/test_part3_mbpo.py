"""MBPO's pieces (schedule, the model box and its injected faults, the finite model buffer, the
measured rollout error), a diverging model, and the loop end to end with the exercises' pieces (the
references) passed in."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from course_lib import envs, mbpo, mbpo_tools, sac
from course_lib.buffers import Batch, ReplayBuffer
from course_lib.dynamics import DynamicsEnsemble, EnsembleConfig
from course_tools.references import part3 as ref

TINY = mbpo.MBPOConfig(
    total_steps=300, init_steps=100, model_every=100, rollout_every=100, rollout_starts=64,
    k_schedule=(1, 3, 100, 300), updates_per_step=2, eval_every=100, eval_episodes=2, model_epochs=5,
    sac=sac.SACConfig(hidden=16, batch_size=32),
    ensemble=EnsembleConfig(n_members=3, n_elites=2, hidden=16, n_layers=2))
PIECES = {"learn": ref.mbpo_learn, "value_target": mbpo.mve_value_target(ref.mve_target)}


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


NO_FAULTS = mbpo.ModelFaults()


def _model(faults: mbpo.ModelFaults = NO_FAULTS, sample: bool = False) -> mbpo.LearnedModel:
    cfg = EnsembleConfig(n_members=4, n_elites=3, hidden=8, n_layers=2)
    ensemble = DynamicsEnsemble(3, 1, cfg, torch.Generator().manual_seed(0))
    ensemble.elites = torch.tensor([2, 0, 3])
    config = dataclasses.replace(mbpo.MBPOConfig(), sample_model=sample)
    return mbpo.LearnedModel(ensemble, _buffer(10, 0.5), config, torch.Generator().manual_seed(5), faults)


def _inputs():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(5, 3, generator=gen), torch.randn(5, 1, generator=gen)


def test_the_model_predicts_with_every_elites_mean_or_a_sample_of_its_gaussian():
    model, (obs, act) = _model(), _inputs()
    next_all, rew_all = model.predict(obs, act)
    want_next, want_rew = model.ensemble.predict(obs, act)
    elites = model.ensemble.elites
    assert next_all.shape == (3, 5, 3) and rew_all.shape == (3, 5)
    assert torch.allclose(next_all, want_next[elites], atol=1e-6)
    assert torch.allclose(rew_all, want_rew[elites])
    sampled, _ = _model(sample=True).predict(obs, act)
    assert sampled.shape == (3, 5, 3) and not torch.allclose(sampled, next_all)


def test_injected_faults_change_the_prediction_as_documented():
    (obs, act), exact = _inputs(), _model().predict(*_inputs())
    fast = _model(mbpo.ModelFaults(model_error=0.5)).predict(obs, act)
    assert torch.allclose(fast[0] - obs, 1.5 * (exact[0] - obs), atol=1e-6) and torch.equal(fast[1], exact[1])
    for error, gain in ((0.5, 0.0), (1.0, -1.0), (0.25, 0.5)):
        biased = _model(mbpo.ModelFaults(torque_error=error)).predict(obs, act)
        asked = _model().predict(obs, gain * act)
        assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(biased, asked, strict=True))
    _, rew = _model(mbpo.ModelFaults(known_reward=True)).predict(obs, act)
    assert torch.allclose(rew, envs.pendulum_step_obs(obs, act)[1].expand(3, -1))


def test_a_model_fitted_once_never_trains_again():
    model = _model(mbpo.ModelFaults(fit_once=True))
    model.real = _buffer(50, 0.3)
    model.fit()
    weights = [p.clone() for p in model.ensemble.parameters()]
    model.real = _buffer(50, -0.7)
    model.fit()
    assert len(model.fits) == 2
    assert all(torch.equal(a, b) for a, b in zip(weights, model.ensemble.parameters(), strict=True))


def test_rollout_error_is_zero_for_the_true_model_and_compounds_for_a_wrong_one():
    real, gen = ReplayBuffer(500, 3, 1), torch.Generator().manual_seed(0)
    state = (torch.rand(500, 2, generator=gen) * 2 - 1) * torch.tensor([np.pi, 4.0])
    real.add(envs.pendulum_obs(state), torch.zeros(500, 1), torch.zeros(500), envs.pendulum_obs(state),
             torch.zeros(500))
    policy = lambda obs: torch.sign(obs[:, 2:]) * 2.0  # noqa: E731  (pushes with the swing)

    def model(params):
        def predict(obs, act):
            nxt, rew = envs.pendulum_step_obs(obs, act, params)
            return nxt.expand(2, -1, -1), rew.expand(2, -1)
        return predict

    exact = mbpo_tools.rollout_error(model(envs.PENDULUM), policy, real, 10, torch.Generator().manual_seed(1))
    assert max(exact["trajectory"]) < 1e-4 and max(exact["step"]) < 1e-4
    wrong = mbpo_tools.rollout_error(model(envs.PendulumParams(g=11.0)), policy, real, 10,
                                     torch.Generator().manual_seed(1))
    traj = np.array(wrong["trajectory"])
    assert np.all(np.diff(traj[:5]) > 0) and traj[9] > 4 * traj[0]  # the error compounds over steps


def test_steps_to_threshold_needs_every_later_evaluation_above():
    steps = [250, 500, 750, 1000]
    assert mbpo_tools.steps_to_threshold(steps, [-900, -150, -250, -180]) == 1000
    assert mbpo_tools.steps_to_threshold(steps, [-900, -150, -190, -180]) == 500
    assert mbpo_tools.steps_to_threshold(steps, [-150, -150, -190, -300]) is None


def test_the_one_step_mve_target_is_sacs_soft_target():
    """Exercise 3.4's target with H = 1 (terminal rows handled) trains exactly like SAC's own target."""
    agents = [sac.SAC(3, 1, sac.SACConfig(hidden=16, batch_size=32), torch.Generator().manual_seed(1),
                      value_target=target) for target in (sac.soft_target, PIECES["value_target"])]
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        batch = Batch(torch.randn(32, 3, generator=gen), torch.rand(32, 1, generator=gen) * 4 - 2,
                      torch.randn(32, generator=gen), torch.randn(32, 3, generator=gen),
                      (torch.rand(32, generator=gen) < 0.3).float())
        losses = [agent.update(batch) for agent in agents]
        assert losses[0] == losses[1]


def test_the_loop_runs_end_to_end_and_logs_every_box():
    log = mbpo.run(TINY, seed=0, progress=False, **PIECES)
    assert log.steps == [100, 200, 300] and log.stopped is None
    assert len(log.model_mse) == 3 and all(np.isfinite(log.model_mse)) and log.k == [1, 2, 3]
    assert [len(e) for e in log.trajectory_error] == [25] * 3 and [len(e) for e in log.step_error] == [25] * 3
    assert all(np.isfinite(log.returns))
    assert log.buffer_sizes[-1] == (300, 64 * (1 + 2 + 3))


def test_rollouts_every_step_fill_the_model_buffer_every_step():
    config = dataclasses.replace(TINY, rollout_every=1, rollout_starts=4)
    log = mbpo.run(config, seed=0, progress=False, **PIECES)
    assert len(log.model_mse) == 3  # refits still every 100 steps
    rolled = sum(4 * mbpo.rollout_length(t, TINY.k_schedule) for t in range(100, 301))
    assert log.buffer_sizes[-1][1] == rolled


def test_without_a_model_it_is_plain_sac():
    log = mbpo.run(dataclasses.replace(TINY, use_model=False, updates_per_step=1), seed=0, progress=False,
                   learn=None)
    assert log.model_mse == [] and log.buffer_sizes[-1] == (300, 0)


def test_a_diverging_model_stops_training_cleanly_with_a_clear_message():
    bad = dataclasses.replace(TINY, ensemble=dataclasses.replace(TINY.ensemble, lr=1e8))
    with pytest.warns(RuntimeWarning, match="NaN/inf"):
        log = mbpo.run(bad, seed=0, progress=False, **PIECES)
    assert log.stopped is not None and "step 100" in log.stopped
    assert log.buffer_sizes == [] and log.model_mse == []  # nothing from the broken model was used


def test_mbpo_needs_a_learning_step():
    with pytest.raises(ValueError, match="learn"):
        mbpo.run(TINY, seed=0, progress=False, learn=None)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_mbpo_beats_sac_at_one_update_per_step_at_the_class_budget(seed):
    """Science: the notebook's live run. 1250 real steps of the class-sized MBPO (the exercises'
    references) against SAC at its usual one update per real step, same seed and evaluation."""
    budget = dataclasses.replace(mbpo.MBPOConfig(), total_steps=1250, eval_every=1250)
    with_model = mbpo.run(budget, seed, progress=False, **PIECES)
    sac_g1 = mbpo.run(dataclasses.replace(budget, use_model=False, updates_per_step=1), seed, progress=False,
                      learn=None)
    assert with_model.stopped is None and with_model.steps == sac_g1.steps == [1250]
    assert with_model.returns[-1] > sac_g1.returns[-1] + 500, (with_model.returns, sac_g1.returns)


def _reach(sweep: dict, name: str) -> np.ndarray:
    """Real steps until each seed's return stays >= -200 (inf: never within the run)."""
    return np.array([np.inf if x is None else x for x in sweep["steps_to_threshold"][name].values()])


def _final(sweep: dict, name: str, until: int = 2000) -> np.ndarray:
    return mbpo_tools.curves(sweep, name, until)[1][:, -1]


def test_the_committed_sweep_shows_what_the_notebook_says():
    """The notebook's claims about the fair comparison, k, and model bias, as the sweep measured them."""
    sweep = mbpo_tools.load_sweep()
    assert sweep["seeds"] == [0, 1, 2] and "scripts/part3_sweep.py mbpo" in sweep["command"]
    # SAC at one update per real step is far behind SAC at ten, on every seed
    assert np.all(_reach(sweep, "sac_g1") >= 3 * _reach(sweep, "sac_g10"))
    # at the same update ratio the model buys no clear gain: neither needs less than half the other's steps
    for g in (10, 20):
        mbpo_steps, sac_steps = _reach(sweep, f"mbpo_g{g}").mean(), _reach(sweep, f"sac_g{g}").mean()
        assert 0.5 * sac_steps < mbpo_steps < 2 * sac_steps, (g, mbpo_steps, sac_steps)
    # k: with the refitted model k = 25 is no worse than k = 1; with a model fitted once it is worse on
    # average, and its 25th simulated transitions are far worse than its first
    assert _final(sweep, "k25").mean() >= _final(sweep, "k1").mean() - 20
    assert _final(sweep, "fit_once_k25").mean() < _final(sweep, "fit_once_k1").mean() - 50
    step_error = np.array([r["step_error"] for r in sweep["runs"]["fit_once_k25"].values()]).mean((0, 1))
    assert step_error[-1] > 3 * step_error[0]
    # model bias: a model wrong about the motor makes MBPO worse than SAC at the same G, which never sees it
    for level in ("torque0.5", "torque1.0"):
        assert _final(sweep, level).mean() < _final(sweep, "sac_g10").mean() - 300
