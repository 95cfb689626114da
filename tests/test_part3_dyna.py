"""Tabular Dyna-Q and Dyna-Q+ on Sutton & Barto's mazes: exact small cases and the book's results."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_lib import dyna
from course_lib import gridworld as gw


def test_planning_update_is_the_q_learning_update_on_a_replayed_transition():
    Q = np.zeros((3, 4))
    Q[2] = [0.0, 2.0, 1.0, 0.5]
    nxt = np.zeros((3, 4), dtype=int)
    nxt[0, 1] = 2
    rew = np.zeros((3, 4))
    rew[0, 1] = 1.0
    out = dyna.planning_updates(Q, nxt, rew, np.array([[0, 1]]), 2, 0.5, 0.9, np.random.default_rng(0))
    first = 0.5 * (1.0 + 0.9 * 2.0)
    assert out is Q
    assert Q[0, 1] == pytest.approx(first + 0.5 * (1.0 + 0.9 * 2.0 - first))
    assert np.count_nonzero(Q) == 4  # only (0, 1) changed besides the row of state 2


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="corruption"):
        dyna.run_dyna(gw.DYNA_MAZE, dyna.DynaConfig(corruption=1.5), 2, np.random.default_rng(0), n_steps=10)
    with pytest.raises(ValueError, match="n_episodes and n_steps"):
        dyna.run_dyna(gw.DYNA_MAZE, dyna.DynaConfig(), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_planning"):
        dyna.run_dyna(gw.DYNA_MAZE, [dyna.DynaConfig(n_planning=0), dyna.DynaConfig(n_planning=5)], 2,
                      np.random.default_rng(0), n_steps=10)


def _greedy_path_length(maze: gw.Maze, Q: np.ndarray, limit: int = 100) -> int:
    s, policy = maze.start_state, dyna.greedy_policy(Q)
    for t in range(1, limit + 1):
        s, _, done = maze.step(s, int(policy[s]))
        if done:
            return t
    return limit + 1


@pytest.fixture(scope="module")
def dyna_maze_runs():
    rng = np.random.default_rng(0)
    return {n: dyna.run_dyna(gw.DYNA_MAZE, dyna.DynaConfig(n_planning=n), 30, rng, n_episodes=50)[0]
            for n in (0, 5, 50)}


@pytest.mark.slow
def test_dyna_maze_planning_speeds_learning_as_in_the_book(dyna_maze_runs):
    mean = {n: np.nanmean(r.steps_per_episode, axis=0) for n, r in dyna_maze_runs.items()}
    assert mean[50][4] <= 20  # n = 50: near the shortest path (14) by episode 5
    assert np.all(mean[50][4:] <= 20)
    assert mean[0][9] > 20  # n = 0: still far from it at episode 10
    assert dyna.episodes_to_reach(dyna_maze_runs[50].steps_per_episode, 20) <= 5
    assert dyna.episodes_to_reach(dyna_maze_runs[5].steps_per_episode, 20) <= 15
    for r in dyna_maze_runs.values():
        assert np.isfinite(r.steps_per_episode).all()
        assert r.steps_per_episode.min() >= gw.DYNA_MAZE.shortest_path()


@pytest.mark.slow
def test_dyna_q_greedy_policy_finds_the_shortest_path(dyna_maze_runs):
    lengths = [_greedy_path_length(gw.DYNA_MAZE, Q) for Q in dyna_maze_runs[50].Q]
    assert np.median(lengths) == gw.DYNA_MAZE.shortest_path() == 14


def test_episodes_to_reach():
    steps = np.array([[100, 30, 15, 25, 14, 12], [90, 20, 15, 15, 16, 14]], dtype=float)
    assert dyna.episodes_to_reach(steps, 20) == 3  # means 95, 25, 15, 20, 15, 13
    assert dyna.episodes_to_reach(steps, 10) is None
    assert dyna.episodes_to_reach(steps, 1000) == 1


@pytest.mark.slow
@pytest.mark.parametrize("before, after, n_steps, change_at", [
    (gw.BLOCKING_MAZE, gw.BLOCKING_MAZE_AFTER, 3000, 1000),
    (gw.SHORTCUT_MAZE, gw.SHORTCUT_MAZE_AFTER, 6000, 3000),
], ids=["blocking", "shortcut"])
def test_dyna_q_plus_beats_dyna_q_on_the_changing_mazes(before, after, n_steps, change_at):
    cfg = dyna.DynaConfig(n_planning=10, alpha=1.0)
    configs = [cfg, dataclasses.replace(cfg, kappa=1e-3)]
    plain, plus = dyna.run_dyna(before, configs, 20, np.random.default_rng(1), n_steps=n_steps,
                                maze_after=after, change_at=change_at)
    assert plain.cumulative_reward.shape == (20, n_steps)
    gained_plain = plain.cumulative_reward[:, -1] - plain.cumulative_reward[:, change_at - 1]
    gained_plus = plus.cumulative_reward[:, -1] - plus.cumulative_reward[:, change_at - 1]
    assert plus.cumulative_reward[:, -1].mean() > 1.1 * plain.cumulative_reward[:, -1].mean()
    assert gained_plus.mean() > gained_plain.mean()  # it adapts better after the change


@pytest.mark.parametrize("n", [0, 50])
@pytest.mark.parametrize("corruption", [0.0, 1.0])
def test_extreme_settings_run_and_corruption_hurts_planning(n, corruption):
    cfg = dyna.DynaConfig(n_planning=n, corruption=corruption)
    (res,) = dyna.run_dyna(gw.DYNA_MAZE, cfg, 4, np.random.default_rng(0), n_steps=400)
    assert np.isfinite(res.Q).all() and res.cumulative_reward.shape == (4, 400)


def test_a_corrupted_model_makes_planning_worse():
    cfgs = [dyna.DynaConfig(n_planning=20, corruption=c) for c in (0.0, 0.5)]
    clean, corrupted = dyna.run_dyna(gw.DYNA_MAZE, cfgs, 10, np.random.default_rng(0), n_steps=1500)
    assert clean.cumulative_reward[:, -1].mean() > 3 * corrupted.cumulative_reward[:, -1].mean()
