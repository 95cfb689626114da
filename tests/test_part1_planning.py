"""Planning (random shooting, CEM, MPC): exact small cases and tiny tasks with a known optimum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import buffers, dynamics, envs, planning


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one torch thread is much faster (and does not fight the other test worker)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _target_step(target: torch.Tensor):
    """A model whose reward only depends on the action: r_k = -|a - target_k|^2 at step k."""
    def step(obs, act):
        k = obs[:, 0].long()
        return obs + 1.0, -((act - target[k]) ** 2).sum(-1)
    return step


def test_rollout_returns_is_the_sum_of_model_rewards():
    def step(obs, act):  # s' = s + a, r = s (the state before the step)
        return obs + act, obs[:, 0]

    actions = torch.tensor([[[1.0], [2.0], [3.0]], [[0.0], [0.0], [0.0]]])
    got = planning.rollout_returns(step, torch.tensor([10.0]), actions)
    assert got.tolist() == [10 + 11 + 13, 30.0]


def test_rollout_returns_names_bad_shapes():
    step = envs.pendulum_step_obs
    with pytest.raises(ValueError, match=r"actions: expected shape \(N, H, A\)"):
        planning.rollout_returns(step, torch.zeros(3), torch.zeros(4, 5))
    with pytest.raises(ValueError, match="obs: expected shape"):
        planning.rollout_returns(step, torch.zeros(2, 3), torch.zeros(4, 5, 1))


def test_cem_refit_batched_equals_one_at_a_time():
    g = torch.Generator().manual_seed(0)
    samples, scores = torch.randn(3, 20, 4, 2, generator=g), torch.randn(3, 20, generator=g)
    mean, std = planning.cem_refit(samples, scores, 5)
    for b in range(3):
        m, s = planning.cem_refit(samples[b], scores[b], 5)
        assert torch.allclose(mean[b], m) and torch.allclose(std[b], s)
    with pytest.raises(ValueError, match="n_elite"):
        planning.cem_refit(samples[0], scores[0], 0)
    with pytest.raises(ValueError, match="scores: expected shape"):
        planning.cem_refit(samples[0], scores[0, :5], 2)


def test_cem_finds_a_known_action_sequence_and_beats_random_shooting():
    target = torch.tensor([[1.5], [-1.0], [0.5], [0.0], [-1.8], [1.0]])
    step = _target_step(target)
    cfg = planning.CEMConfig(horizon=6, n_candidates=100, n_elite=10, n_iters=6)
    plan = planning.cem_plan(step, torch.zeros(1), cfg, torch.Generator().manual_seed(0))
    assert plan.shape == (6, 1)
    assert (plan - target).abs().max() < 0.15
    rs = planning.random_shooting(step, torch.zeros(1), cfg, torch.Generator().manual_seed(0))
    score = lambda p: float(planning.rollout_returns(step, torch.zeros(1), p[None]))  # noqa: E731
    assert score(plan) > score(rs)


def test_cem_batched_plans_each_state_and_stays_in_bounds():
    target = torch.full((5, 1), 3.0)  # outside the bounds: the best feasible plan is all 2.0
    cfg = planning.CEMConfig(horizon=5, n_candidates=50, n_elite=5, n_iters=4)
    plans = planning.cem_plan(_target_step(target), torch.zeros(3, 1), cfg, torch.Generator().manual_seed(1))
    assert plans.shape == (3, 5, 1)
    assert plans.max() <= 2.0 and plans.min() >= -2.0 and plans.mean() > 1.5


@pytest.mark.parametrize("probabilistic", [False, True])
def test_frozen_mean_step_matches_mean_step(probabilistic):
    g = torch.Generator().manual_seed(0)
    cfg = dynamics.EnsembleConfig(n_members=4, n_elites=2, hidden=16, n_layers=3, probabilistic=probabilistic)
    model = dynamics.DynamicsEnsemble(3, 1, cfg, g)
    with torch.no_grad():
        model.in_norm.mean.normal_(generator=g)
        model.in_norm.std.uniform_(0.5, 2.0, generator=g)
        model.out_norm.mean.normal_(generator=g)
        model.out_norm.std.uniform_(0.5, 2.0, generator=g)
        for layer in [*model.layers, model.head]:
            layer.bias.normal_(generator=g)
        model.elites.copy_(torch.tensor([3, 1]))
    obs, act = torch.randn(7, 3, generator=g), torch.randn(7, 1, generator=g)
    fast = planning.frozen_mean_step(model)
    with torch.no_grad():
        for got, want in zip(fast(obs, act), model.mean_step(obs, act), strict=True):
            assert torch.allclose(got, want, atol=1e-5)
    act.requires_grad_(True)
    _, r = planning.frozen_mean_step(model, differentiable=True)(obs, act)
    r.sum().backward()
    assert act.grad is not None and torch.isfinite(act.grad).all()


def test_mpc_episode_on_the_true_dynamics_balances_and_logs_everything():
    env, _ = envs.make_pendulum(seed=0, max_episode_steps=30)
    buf = buffers.ReplayBuffer(100, 3, 1)
    calls = []

    def after_step(t, log):
        calls.append(t)
        return envs.pendulum_step_obs if t == 10 else None

    cfg = planning.CEMConfig(horizon=10, n_candidates=50, n_elite=5, n_iters=2)
    log = planning.run_mpc_episode(env, envs.pendulum_step_obs, cfg, torch.Generator().manual_seed(0),
                                   seed=2, buffer=buf, after_step=after_step)
    assert len(log.rewards) == 30 and len(log.obs) == 31 and len(buf) == 30
    assert calls == list(range(30))
    assert len(log.plans) == 30 and log.plans[0].shape == (11, 3)
    assert np.allclose(log.plans[0][0], log.obs[0], atol=1e-6)


def test_evaluate_mpc_runs_episodes_side_by_side():
    cfg = planning.CEMConfig(horizon=5, n_candidates=20, n_elite=4, n_iters=1)
    returns = planning.evaluate_mpc(envs.pendulum_step_obs, cfg, torch.Generator().manual_seed(0), (1, 2))
    assert returns.shape == (2,) and np.isfinite(returns).all()
    with pytest.raises(ValueError, match="seeds"):
        planning.evaluate_mpc(envs.pendulum_step_obs, cfg, torch.Generator(), ())


def test_mbrl_loop_refits_on_schedule_and_uses_its_step_budget():
    env, _ = envs.make_pendulum(seed=0, max_episode_steps=50)
    cfg = planning.MBRLConfig(
        random_steps=60, mpc_episodes=1, refit_every=20,
        model=dynamics.EnsembleConfig(n_members=2, n_elites=1, hidden=16, n_layers=1, probabilistic=False,
                                      max_epochs=3),
        planner=planning.CEMConfig(horizon=3, n_candidates=8, n_elite=2, n_iters=1))
    seen = []
    result = planning.mbrl_v15(env, cfg, seed=0, progress=False, callback=lambda t, log: seen.append(t))
    assert len(result.buffer) == 60 + 50
    assert result.n_fits == 1 + 2  # the first fit, then after MPC steps 20 and 40
    assert seen == list(range(50)) and len(result.episodes) == 1
