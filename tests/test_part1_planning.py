"""Planning (random shooting, CEM, MPC): exact small cases and tiny tasks with a known optimum.

The planners take the exercises' pieces as arguments; here they get the references.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import buffers, datafiles, dynamics, envs, planning
from course_tools.references import part1 as ref

SCORE, REFIT, PLAN = ref.random_shooting_scores, ref.cem_refit, ref.cem_plan


def _planner(cfg: planning.CEMConfig, seed: int = 0) -> planning.Planner:
    return planning.as_planner(PLAN, cfg, torch.Generator().manual_seed(seed))


def _target_step(target: torch.Tensor):
    """A model whose reward only depends on the action: r_k = -|a - target_k|^2 at step k."""
    def step(obs, act):
        k = obs[:, 0].long()
        return obs + 1.0, -((act - target[k]) ** 2).sum(-1)
    return step


def test_the_reference_score_is_the_sum_of_model_rewards():
    def step(obs, act):  # s' = s + a, r = s (the state before the step)
        return obs + act, obs[:, 0]

    actions = torch.tensor([[[1.0], [2.0], [3.0]], [[0.0], [0.0], [0.0]]])
    got = SCORE(step, torch.tensor([10.0]), actions)
    assert got.tolist() == [10 + 11 + 13, 30.0]


def test_the_reference_refit_averages_the_elites():
    samples = torch.tensor([[[0.0]], [[4.0]], [[1.0]], [[3.0]]])
    mean, std = REFIT(samples, torch.tensor([0.0, 3.0, 1.0, 2.0]), 2)  # elites: 4 and 3
    assert mean.tolist() == [[3.5]] and std.tolist() == [[0.5]]


def test_planners_say_which_piece_returned_a_bad_shape():
    cfg = planning.CEMConfig(horizon=4, n_candidates=10, n_elite=3, n_iters=1)
    step, obs, gen = envs.pendulum_step_obs, torch.zeros(3), torch.Generator()
    keep_axis = lambda st, o, a: SCORE(st, o, a)[:, None]  # noqa: E731
    with pytest.raises(ValueError, match=r"score: expected scores of shape \(10,\)"):
        planning.random_shooting(keep_axis, step, obs, cfg, gen)
    first_action = planning.as_planner(lambda *args: PLAN(*args)[0], cfg, gen)
    with pytest.raises(ValueError, match=r"plan: expected a plan of shape \(4, 1\)"):
        first_action(step, obs, None)


def test_as_planner_accepts_numpy_plans_and_passes_its_settings():
    """A student's plan may come back as a float64 NumPy array; MPC gets a float32 tensor."""
    cfg = planning.CEMConfig(horizon=4, n_candidates=20, n_elite=4, n_iters=2)
    seen = []

    def np_plan(step, obs, init_mean, c, generator):
        seen.append((obs.dtype, obs.shape, c, generator))
        return PLAN(step, obs, init_mean, c, generator).numpy().astype(np.float64)

    gen = torch.Generator().manual_seed(0)
    plan = planning.as_planner(np_plan, cfg, gen)(envs.pendulum_step_obs, torch.zeros(1, 3).double())
    assert plan.shape == (4, 1) and plan.dtype == torch.float32
    assert seen == [(torch.float32, (3,), cfg, gen)]


def test_cem_finds_a_known_action_sequence_and_beats_random_shooting():
    target = torch.tensor([[1.5], [-1.0], [0.5], [0.0], [-1.8], [1.0]])
    step = _target_step(target)
    cfg = planning.CEMConfig(horizon=6, n_candidates=100, n_elite=10, n_iters=6)
    plan = PLAN(step, torch.zeros(1), None, cfg, torch.Generator().manual_seed(0))
    assert plan.shape == (6, 1)
    assert (plan - target).abs().max() < 0.15
    rs = planning.random_shooting(SCORE, step, torch.zeros(1), cfg, torch.Generator().manual_seed(0))
    score = lambda p: float(SCORE(step, torch.zeros(1), p[None]))  # noqa: E731
    assert score(plan) > score(rs)


def test_cem_stays_in_bounds_and_warm_starts_from_the_planner():
    target = torch.full((5, 1), 3.0)  # outside the bounds: the best feasible plan is all 2.0
    cfg = planning.CEMConfig(horizon=5, n_candidates=50, n_elite=5, n_iters=4)
    planner = _planner(cfg, seed=1)
    plan = planner(_target_step(target), torch.zeros(1), None)
    assert plan.shape == (5, 1)
    assert plan.max() <= 2.0 and plan.min() >= -2.0 and plan.mean() > 1.5
    again = planner(_target_step(target), torch.zeros(1), plan)  # warm start: still as good
    assert again.mean() >= plan.mean() - 0.05


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
    log = planning.run_mpc_episode(env, _planner(cfg), envs.pendulum_step_obs, seed=2, buffer=buf,
                                   after_step=after_step)
    assert len(log.rewards) == 30 and len(log.obs) == 31 and len(buf) == 30
    assert calls == list(range(30))
    assert len(log.plans) == 30 and log.plans[0].shape == (11, 3)
    assert np.allclose(log.plans[0][0], log.obs[0], atol=1e-6)


def test_evaluate_mpc_runs_episodes_side_by_side():
    cfg = planning.CEMConfig(horizon=5, n_candidates=20, n_elite=4, n_iters=1)
    returns = planning.evaluate_mpc(_planner(cfg), envs.pendulum_step_obs, (1, 2))
    assert returns.shape == (2,) and np.isfinite(returns).all()
    with pytest.raises(ValueError, match="seeds"):
        planning.evaluate_mpc(_planner(cfg), envs.pendulum_step_obs, ())


def test_mbrl_loop_refits_on_schedule_and_uses_its_step_budget():
    env, _ = envs.make_pendulum(seed=0, max_episode_steps=50)
    cfg = planning.MBRLConfig(
        random_steps=60, mpc_episodes=1, refit_every=20,
        model=dynamics.EnsembleConfig(n_members=2, n_elites=1, hidden=16, n_layers=1, probabilistic=False,
                                      max_epochs=3),
        planner=planning.CEMConfig(horizon=3, n_candidates=8, n_elite=2, n_iters=1))
    seen = []
    result = planning.mbrl_v15(env, cfg, _planner(cfg.planner), seed=0, progress=False,
                               callback=lambda t, log: seen.append(t))
    assert len(result.transitions) == 60 + 50
    assert result.n_fits == 1 + 2  # the first fit, then after MPC steps 20 and 40
    assert seen == list(range(50)) and len(result.episodes) == 1
    # plain data: it round-trips through the precomputed files, and the model comes back
    again = datafiles.loads(datafiles.dumps(result))
    assert len(again.episodes[0].plans) == 50 and again.n_fits == 3
    obs, act = result.transitions.obs[:7], result.transitions.act[:7]
    with torch.no_grad():
        for got, want in zip(again.final_model().mean_step(obs, act),
                             result.final_model().mean_step(obs, act), strict=True):
            assert torch.equal(got, want)


def test_mbrl_stops_at_an_unfinished_exercise_and_says_which():
    """The notebook's fallback: a stub's NotImplementedError reaches precomputed.run_or_load."""
    env, _ = envs.make_pendulum(seed=0, max_episode_steps=10)
    cfg = planning.MBRLConfig(
        random_steps=20, mpc_episodes=1,
        model=dynamics.EnsembleConfig(n_members=1, n_elites=1, hidden=8, n_layers=1, max_epochs=1),
        planner=planning.CEMConfig(horizon=3, n_candidates=8, n_elite=2, n_iters=1))

    def stub(step, obs, init_mean, c, generator):
        raise NotImplementedError("Exercise 1.3: your code here")

    with pytest.raises(NotImplementedError, match="Exercise 1.3"):
        planning.mbrl_v15(env, cfg, planning.as_planner(stub, cfg.planner, torch.Generator()),
                          seed=0, progress=False)
