"""Replay buffer, dynamics ensemble and mazes: small exact cases and tiny 'it learns' tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import buffers, dynamics, gridworld


def test_buffer_adds_single_and_batched_transitions_and_wraps():
    buf = buffers.ReplayBuffer(5, obs_dim=2, act_dim=1)
    buf.add([0.0, 0.0], [1.0], 1.0, [1.0, 1.0], 0.0)
    buf.add(np.arange(12.0).reshape(6, 2), np.zeros((6, 1)), np.arange(6.0), np.ones((6, 2)), np.zeros(6))
    assert len(buf) == 5
    assert buf.all().rew.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]  # the oldest two were overwritten


def test_buffer_sampling_is_reproducible_and_empty_buffer_says_so():
    buf = buffers.ReplayBuffer(100, 1, 1)
    with pytest.raises(ValueError, match="empty buffer"):
        buf.sample(4, torch.Generator().manual_seed(0))
    buf.add(np.arange(50.0)[:, None], np.zeros((50, 1)), np.arange(50.0), np.zeros((50, 1)), np.zeros(50))
    a = buf.sample(8, torch.Generator().manual_seed(3)).rew
    b = buf.sample(8, torch.Generator().manual_seed(3)).rew
    assert torch.equal(a, b) and a.shape == (8,)


@pytest.mark.parametrize("probabilistic", [False, True])
def test_ensemble_learns_a_linear_system(probabilistic):
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(800, 2, generator=g)
    act = torch.randn(800, 1, generator=g)
    a_mat = torch.tensor([[0.9, 0.1], [-0.2, 0.8]])
    next_obs = obs @ a_mat.T + 0.5 * act
    rew = -(obs**2).sum(-1)
    cfg = dynamics.EnsembleConfig(n_members=3, n_elites=2, hidden=64, n_layers=2,
                                  probabilistic=probabilistic, max_epochs=150)
    model = dynamics.DynamicsEnsemble(2, 1, cfg, g)
    log = dynamics.train_ensemble(model, obs, act, next_obs, rew, g)
    assert not log.diverged and len(log.elites) == 2 and log.epochs >= 5
    test_obs, test_act = torch.randn(200, 2, generator=g), torch.randn(200, 1, generator=g)
    with torch.no_grad():
        pred, r = model.mean_step(test_obs, test_act)
    truth = test_obs @ a_mat.T + 0.5 * test_act
    assert (pred - truth).abs().mean() < 0.05
    assert (r + (test_obs**2).sum(-1)).abs().mean() < 0.3
    nxt, rr = model.predict(test_obs, test_act)
    assert nxt.shape == (3, 200, 2) and rr.shape == (3, 200)
    s_next, s_rew = model.sample_step(test_obs, test_act, g)
    assert s_next.shape == (200, 2) and s_rew.shape == (200,)


def test_mean_step_is_differentiable_with_respect_to_actions():
    g = torch.Generator().manual_seed(1)
    model = dynamics.DynamicsEnsemble(3, 1, dynamics.EnsembleConfig(n_members=2, n_elites=2, hidden=16), g)
    act = torch.zeros(4, 1, requires_grad=True)
    nxt, rew = model.mean_step(torch.randn(4, 3, generator=g), act)
    (nxt.sum() + rew.sum()).backward()
    assert act.grad is not None and torch.isfinite(act.grad).all()


def test_diverging_training_stops_cleanly_with_finite_weights():
    g = torch.Generator().manual_seed(0)
    cfg = dynamics.EnsembleConfig(n_members=2, n_elites=1, hidden=16, lr=1e6, max_epochs=50)
    model = dynamics.DynamicsEnsemble(1, 1, cfg, g)
    x = torch.randn(300, 1, generator=g)
    log = dynamics.train_ensemble(model, x, x, 1e3 * x**3, x[:, 0], g)
    assert log.diverged
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with torch.no_grad():
        nxt, _ = model.mean_step(x[:5], x[:5])
    assert torch.isfinite(nxt).all()


def test_ensemble_rejects_more_elites_than_members():
    with pytest.raises(ValueError, match="n_elites"):
        dynamics.DynamicsEnsemble(1, 1, dynamics.EnsembleConfig(n_members=2, n_elites=3),
                                  torch.Generator())


@pytest.mark.parametrize("maze, length", [
    (gridworld.DYNA_MAZE, 14), (gridworld.BLOCKING_MAZE, 10), (gridworld.BLOCKING_MAZE_AFTER, 16),
    (gridworld.SHORTCUT_MAZE, 16), (gridworld.SHORTCUT_MAZE_AFTER, 10)])
def test_sutton_barto_mazes_have_the_books_shortest_paths(maze, length):
    assert maze.shortest_path() == length


def test_maze_moves_stop_at_walls_and_edges():
    m = gridworld.DYNA_MAZE
    s = m.index((2, 1))
    assert m.step(s, 2) == (s, 0.0, False)  # (2, 2) is a wall
    assert m.step(m.index((0, 0)), 0) == (m.index((0, 0)), 0.0, False)  # off the top edge
    assert m.step(m.index((1, 8)), 0) == (m.goal_state, 1.0, True)
