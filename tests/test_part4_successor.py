"""Science of Part 4 on the Dyna maze: exact SR, TD-learned SR, V from the SR, successor features, GPI."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import gridworld, successor
from course_tools.references import part4 as ref


@pytest.fixture(scope="module")
def chain():
    return successor.maze_chain(gridworld.DYNA_MAZE)


@pytest.fixture(scope="module")
def P_pi(chain):
    return successor.policy_transition(chain.P, successor.shortest_path_policy(chain, 0.3))


def test_maze_chain_has_free_cells_only_and_restarts_at_the_goal(chain):
    maze = gridworld.DYNA_MAZE
    assert chain.n == maze.rows * maze.cols - len(maze.walls) == 47
    np.testing.assert_allclose(chain.P.sum(axis=2), 1.0)
    assert (chain.P[chain.goal, :, chain.start] == 1).all()
    assert chain.reward.sum() == 1 and chain.reward[chain.goal] == 1
    assert np.isnan(chain.to_grid(np.zeros(chain.n))[1, 2])  # a wall
    with pytest.raises(ValueError, match="cell"):
        chain.index((1, 2))


def test_maze_distances_match_breadth_first_search(chain):
    D = successor.maze_distances(chain)
    assert D[chain.start, chain.goal] == gridworld.DYNA_MAZE.shortest_path() == 14
    np.testing.assert_array_equal(D, D.T)  # moves are reversible in this maze


def test_shortest_path_policy_reaches_the_goal_in_14_steps(chain):
    pi = successor.shortest_path_policy(chain, 0.0)
    s, steps = chain.start, 0
    while s != chain.goal:
        s = int(chain.P[s, pi[s].argmax()].argmax())
        steps += 1
    assert steps == 14
    np.testing.assert_allclose(successor.shortest_path_policy(chain, 0.3).sum(axis=1), 1.0)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99])
def test_exact_sr_is_a_distribution_and_solves_its_bellman_equation(P_pi, gamma):
    M = successor.sr_matrix(P_pi, gamma)
    np.testing.assert_allclose(M.sum(axis=1), 1.0, atol=1e-10)
    assert (M >= -1e-12).all()
    np.testing.assert_allclose(M, (1 - gamma) * np.eye(len(M)) + gamma * P_pi @ M, atol=1e-10)


def test_exact_sr_matches_the_discounted_sum_of_powers_and_dayans_is_it_over_1_minus_gamma(P_pi):
    gamma, M_sum, dayan, Pk = 0.8, np.zeros_like(P_pi), np.zeros_like(P_pi), np.eye(len(P_pi))
    for k in range(400):
        M_sum += (1 - gamma) * gamma**k * Pk
        dayan += gamma**k * Pk  # Dayan (1993): discounted visit counts
        Pk = Pk @ P_pi
    M = successor.sr_matrix(P_pi, gamma)
    np.testing.assert_allclose(M, M_sum, atol=1e-12)
    np.testing.assert_allclose(dayan, M / (1 - gamma), atol=1e-10)
    np.testing.assert_allclose(dayan.sum(axis=1), 1 / (1 - gamma), atol=1e-9)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.95])
def test_value_from_sr_equals_policy_evaluation_to_1e6(chain, P_pi, gamma):
    V_sr = successor.sr_matrix(P_pi, gamma) @ chain.reward / (1 - gamma)
    V_pe = successor.policy_evaluation(P_pi, chain.reward, gamma)
    assert np.abs(V_sr - V_pe).max() < 1e-6
    assert V_pe[chain.start] > 0


def test_barretos_psi_is_ours_over_1_minus_gamma_with_phi_of_the_state_left(chain):
    """psi_B(s, a) = E sum_i gamma^i phi(s_{t+i}, a_{t+i}, s_{t+i+1}) with phi(s, a, s') = phi(s),
    estimated by Monte Carlo on the chain, against (1 - gamma)^-1 mu(s, a)^T phi."""
    gamma, rng = 0.8, np.random.default_rng(0)
    phi = successor.landmark_features(chain)
    pi = successor.shortest_path_policy(chain, 0.3)
    psi = successor.successor_features(chain.P, pi, phi, gamma)
    s0, a0, n_runs, T = chain.index((5, 0)), 2, 4000, 120
    s = np.full(n_runs, s0)
    a = np.full(n_runs, a0)
    total = np.zeros((n_runs, phi.shape[1]))
    for i in range(T):
        total += gamma**i * phi[s]
        s = successor._sample_rows(chain.P[s, a], rng)
        a = successor._sample_rows(pi[s], rng)
    np.testing.assert_allclose(total.mean(axis=0), psi[s0, a0] / (1 - gamma), atol=0.1)


@pytest.mark.parametrize("gamma, seed", [(0.9, 0), (0.9, 1), (0.5, 2)])
def test_td_learned_sr_is_within_1e2_of_the_exact_one(chain, gamma, seed):
    pi = successor.shortest_path_policy(chain, 0.3)
    M = successor.sr_matrix(successor.policy_transition(chain.P, pi), gamma)
    mu = successor.sr_state_action(chain.P, M, gamma)
    mu_td, log = successor.learn_psi_td(ref.psi_td_update, chain.P, pi, np.eye(chain.n), gamma, 3000,
                                        np.random.default_rng(seed), psi_exact=mu)
    err = np.abs(mu_td - mu).max()
    assert err < 1e-2, err
    assert log.max_abs_error[-1] == pytest.approx(err)
    assert log.max_abs_error[-1] < log.max_abs_error[0] / 10


def test_td_update_leaves_other_pairs_and_the_input_alone():
    psi = np.full((3, 2, 3), 1 / 3)
    one = lambda i: np.array([i])  # noqa: E731
    out = ref.psi_td_update(psi, np.eye(3), one(1), one(0), one(2), one(1), 0.5, 1.0)
    np.testing.assert_allclose(psi, 1 / 3)
    np.testing.assert_allclose(np.delete(out.reshape(6, 3), 2, axis=0), 1 / 3)
    np.testing.assert_allclose(out[1, 0], [1 / 6, 0.5 + 1 / 6, 1 / 6])


def test_reward_regression_recovers_visited_weights_and_zeroes_unvisited_ones(chain):
    phi = successor.landmark_features(chain)
    w = np.array([-1.0, 1.0, 0.0, 1.0])
    feats, r = successor.observe_rewards(chain, phi, w, 2000, 0.5, np.random.default_rng(0))
    w_hat = ref.reward_weights(feats, r, 1.0)
    visits = feats.sum(axis=0)
    for k in range(4):
        if visits[k] == 0:
            assert w_hat[k] == 0.0
        elif visits[k] >= 20:  # noise 0.5 / sqrt(20) ~ 0.11, plus the ridge's shrinkage w n / (n + 1)
            assert abs(w_hat[k] - w[k]) < 0.4, (k, w_hat[k])
    assert visits.sum() > 100


@pytest.fixture(scope="module")
def gpi_setup(chain):
    gamma = 0.9
    phi = successor.landmark_features(chain)
    base = [successor.optimal_policy(chain.P, phi[:, k], gamma) for k in range(phi.shape[1])]
    psi = np.stack([successor.successor_features(chain.P, pi, phi, gamma) for pi in base])
    return gamma, phi, base, psi


def test_successor_features_evaluate_a_new_reward_without_relearning(chain, gpi_setup):
    gamma, phi, base, psi = gpi_setup
    w = np.array([0.3, -1.0, 0.5, 2.0])
    for pi, psi_k in zip(base, psi, strict=True):
        V_sf = np.einsum("sa,sad->sd", pi, psi_k) @ w / (1 - gamma)
        V_pe = successor.policy_evaluation(successor.policy_transition(chain.P, pi), phi @ w, gamma)
        assert np.abs(V_sf - V_pe).max() < 1e-6


@pytest.mark.parametrize("w", [[-1, 1, 0, 1], [0, 1, 1, 0], [1, 0.5, 0.5, 0.5], [1, -1, -1, -1]])
def test_gpi_return_on_a_new_task_is_at_least_each_base_policys(chain, gpi_setup, w):
    gamma, phi, base, psi = gpi_setup
    w = np.asarray(w, dtype=float)
    r = phi @ w
    V_gpi = successor.policy_evaluation(
        successor.policy_transition(chain.P, successor.policy_table(ref.gpi_action(psi, w), 4)), r, gamma)
    V_base = np.stack([successor.policy_evaluation(successor.policy_transition(chain.P, pi), r, gamma)
                       for pi in base])
    assert (V_gpi >= V_base - 1e-9).all()  # at every state, including the start
    assert V_gpi.mean() >= V_base.mean(axis=1).max() - 1e-9


def test_gpi_strictly_improves_on_the_notebooks_task(chain, gpi_setup):
    gamma, phi, base, psi = gpi_setup
    w = np.array([-1.0, 1.0, 0.0, 1.0])
    r = phi @ w
    V_gpi = successor.policy_evaluation(
        successor.policy_transition(chain.P, successor.policy_table(ref.gpi_action(psi, w), 4)), r, gamma)
    best_base = max(successor.policy_evaluation(successor.policy_transition(chain.P, pi), r, gamma).mean()
                    for pi in base)
    assert V_gpi.mean() > best_base + 0.5


def test_gpi_with_one_policy_is_its_greedy_improvement(chain, gpi_setup):
    gamma, phi, base, psi = gpi_setup
    w = np.eye(4)[1]
    Q = psi[1] @ w
    np.testing.assert_array_equal(ref.gpi_action(psi[1:2], w), Q.argmax(axis=1))


def test_solved_as_a_student_would_psi_td_plus_w_regression_plus_gpi_solves_the_new_task(chain, gpi_setup):
    """The notebook's pipeline with only the exercises' functions: psi by TD from samples, w by
    ridge regression on noisy observed rewards, then GPI. It beats every base policy on the new
    task, by a clear margin on average, and reaches the optimal policy's mean value."""
    gamma, phi, base, psi_exact = gpi_setup
    rng = np.random.default_rng(0)
    psi = np.stack([successor.learn_psi_td(ref.psi_td_update, chain.P, p, phi, gamma, 1000, rng)[0]
                    for p in base])
    assert np.abs(psi - psi_exact).max() < 0.02
    w_new = np.array([-1.0, 1.0, 0.0, 1.0])
    feats, r = successor.observe_rewards(chain, phi, w_new, 2000, 0.5, rng)
    a_gpi = ref.gpi_action(psi, ref.reward_weights(feats, r, 1.0))
    r_new = phi @ w_new
    value = lambda pi: successor.policy_evaluation(successor.policy_transition(chain.P, pi), r_new, gamma)  # noqa: E731
    V_gpi = value(successor.policy_table(a_gpi, 4))
    V_base = np.stack([value(pi) for pi in base])
    V_opt = value(successor.optimal_policy(chain.P, r_new, gamma))
    assert (V_gpi >= V_base.max(axis=0) - 1e-9).all()
    assert V_gpi.mean() > V_base.mean(axis=1).max() + 0.5
    assert V_gpi.mean() > V_opt.mean() - 0.05


def test_errors_name_the_argument(P_pi):
    with pytest.raises(ValueError, match="gamma"):
        successor.sr_matrix(P_pi, 1.0)
    with pytest.raises(ValueError, match="P, pi"):
        successor.policy_transition(np.zeros((3, 4, 3)), np.zeros((3, 2)))
