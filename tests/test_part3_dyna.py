"""Tabular Dyna-Q and Dyna-Q+ on Sutton & Barto's mazes: exact small cases, the book's results, and
the tie between the readable learner (``dyna.dyna_q`` driven by Exercise 3.1's planning update) and
the batched runner (``dyna.run_dyna``) that draws the averaged figures and the committed sweep."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_lib import dyna, dyna_batched
from course_lib import gridworld as gw
from course_tools.references import part3 as ref


def test_planning_update_is_the_q_learning_update_on_a_replayed_transition():
    Q = np.zeros((3, 4))
    Q[2] = [0.0, 2.0, 1.0, 0.5]
    nxt = np.zeros((3, 4), dtype=int)
    nxt[0, 1] = 2
    rew = np.zeros((3, 4))
    rew[0, 1] = 1.0
    out = ref.dyna_q_planning_update(Q, nxt, rew, np.array([[0, 1]]), 2, 0.5, 0.9, np.random.default_rng(0))
    first = 0.5 * (1.0 + 0.9 * 2.0)
    assert out is Q
    assert Q[0, 1] == pytest.approx(first + 0.5 * (1.0 + 0.9 * 2.0 - first))
    assert np.count_nonzero(Q) == 4  # only (0, 1) changed besides the row of state 2


class _Scripted:
    """An rng whose ``integers`` returns a given sequence: replays chosen draws into the readable loop."""

    def __init__(self, draws):
        self.draws = iter(draws)

    def integers(self, high):
        i = next(self.draws)
        assert 0 <= i < high
        return i


@pytest.mark.parametrize("n_runs", [1, 3])
def test_batched_planning_equals_the_readable_planning_update_on_the_same_draws(n_runs):
    """The batched runner's planning step is Exercise 3.1's loop, run for every run at once."""
    gen = np.random.default_rng(0)
    S, A, n, alpha, gamma = 7, 4, 40, 0.3, 0.9
    Qs = gen.normal(size=(n_runs, S, A))
    model_next, model_reward = gen.integers(0, S, size=(n_runs, S, A)), gen.normal(size=(n_runs, S, A))
    pairs = [np.stack([gen.integers(0, S, 6), gen.integers(0, A, 6)], 1) for _ in range(n_runs)]
    draws = gen.integers(0, 6, size=(n, n_runs))
    # run_dyna's layout: Q (A, R*S), entry a*R*S + r*S + s, next state's column r*S + s'
    Q = np.ascontiguousarray(Qs.transpose(2, 0, 1).reshape(A, n_runs * S))
    runs = np.arange(n_runs)
    s, a = (np.stack([pairs[r][draws[:, r], i] for r in runs], 1) for i in (0, 1))  # (n, R) each
    entries = a * n_runs * S + runs * S + s
    next_cols = runs * S + model_next[runs, s, a]
    dyna_batched._batched_planning(Q, entries, next_cols, model_reward[runs, s, a], alpha, gamma)
    for r in runs:
        readable = ref.dyna_q_planning_update(Qs[r].copy(), model_next[r], model_reward[r], pairs[r], n,
                                              alpha, gamma, _Scripted(draws[:, r]))
        np.testing.assert_array_equal(Q[:, r * S:(r + 1) * S].T, readable)


def _planning_spy(calls):
    def planning_update(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
        calls.append((len(pairs), n, alpha, gamma, Q.shape, model_next.shape, model_reward.shape))
        assert pairs.shape[1] == 2 and len(np.unique(pairs, axis=0)) == len(pairs)  # each seen pair once
        assert (model_reward[tuple(pairs.T)] >= 0).all()
        return ref.dyna_q_planning_update(Q, model_next, model_reward, pairs, n, alpha, gamma, rng)

    return planning_update


def test_dyna_q_calls_the_planning_update_after_every_real_step():
    calls = []
    res = dyna.dyna_q(gw.DYNA_MAZE, dyna.DynaConfig(n_planning=7), _planning_spy(calls),
                      np.random.default_rng(0), n_episodes=3)
    assert res.steps_per_episode.shape == (1, 3) and res.Q.shape == (1, gw.DYNA_MAZE.n_states, 4)
    assert len(calls) == res.steps_per_episode.sum()
    assert {c[1:] for c in calls} == {(7, 0.1, 0.95, (54, 4), (54, 4), (54, 4))}
    seen = [c[0] for c in calls]
    assert seen[0] == 1 and all(b - a in (0, 1) for a, b in zip(seen, seen[1:], strict=False))
    with pytest.raises(ValueError, match="kappa"):
        dyna.dyna_q(gw.DYNA_MAZE, dyna.DynaConfig(kappa=1e-3), _planning_spy([]), np.random.default_rng(0),
                    n_episodes=1)


@pytest.mark.slow
def test_the_readable_learner_and_the_batched_runner_learn_alike_on_the_same_seeds():
    """Same seeds, same config: 30 readable learners (the reference planning loop) and 30 batched runs."""
    for n in (5, 50):
        cfg = dyna.DynaConfig(n_planning=n)
        readable = np.concatenate([dyna.dyna_q(gw.DYNA_MAZE, cfg, ref.dyna_q_planning_update,
                                               np.random.default_rng(seed), n_episodes=30).steps_per_episode
                                   for seed in range(30)])
        (batched,) = dyna.run_dyna(gw.DYNA_MAZE, cfg, 30, np.random.default_rng(0), n_episodes=30)
        for steps in (readable, batched.steps_per_episode):
            assert steps.min() >= gw.DYNA_MAZE.shortest_path()
        a, b = readable[:, 1:].sum(1), batched.steps_per_episode[:, 1:].sum(1)  # after the random walk
        pooled = np.sqrt((a.var() + b.var()) / 30)
        assert abs(a.mean() - b.mean()) < 3 * pooled, (n, a.mean(), b.mean())
        late_a, late_b = readable[:, 20:].mean(), batched.steps_per_episode[:, 20:].mean()
        assert abs(late_a - late_b) < 2.0, (n, late_a, late_b)  # both near the shortest path + detours
        first_a, first_b = readable[:, 0], batched.steps_per_episode[:, 0]  # a random walk for both
        assert abs(first_a.mean() - first_b.mean()) < 3 * np.sqrt((first_a.var() + first_b.var()) / 30)


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
