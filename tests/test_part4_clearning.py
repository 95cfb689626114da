"""Part 4 on the point mass: the two-room dynamics, future-state sampling, and C-learning's classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import clearning, clearning_td, dynamics, pointmass
from course_tools.references import part4 as ref

ENV = pointmass.PointMass()


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_moves_through_the_wall_or_out_of_the_square_are_cancelled():
    quiet = pointmass.PointMass(noise=0.0)
    s = torch.tensor([[-0.05, -0.5], [-0.05, 0.4], [0.95, 0.0], [0.3, 0.3]], dtype=torch.float64)
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    nxt = quiet.step(s, a, _gen())
    torch.testing.assert_close(nxt[0], s[0])  # into the wall below the door: stays
    torch.testing.assert_close(nxt[1], s[1] + torch.tensor([0.1, 0.0], dtype=torch.float64))  # door
    torch.testing.assert_close(nxt[2], s[2])  # out of the square: stays
    torch.testing.assert_close(nxt[3], torch.tensor([0.2, 0.4], dtype=torch.float64))
    with pytest.raises(ValueError, match="s, a"):
        quiet.step(s, a[:, :1], _gen())


def test_the_uniform_distribution_is_stationary():
    g = _gen(1)
    states, actions = pointmass.random_trajectories(ENV, ENV.sample_states(4000, g), 60, g)
    assert states.shape == (4000, 61, 2) and actions.shape == (4000, 60, 2)
    last = clearning.histogram(states[:, -1], n_bins=4)
    np.testing.assert_allclose(last, 1 / 16, atol=0.015)
    assert (states.abs() <= 1).all()
    before, after = states[:, :-1].reshape(-1, 2), states[:, 1:].reshape(-1, 2)
    crosses = torch.sign(before[:, 0]) != torch.sign(after[:, 0])
    b, a = before[crosses], after[crosses]
    y_at_wall = b[:, 1] + (a[:, 1] - b[:, 1]) * b[:, 0] / (b[:, 0] - a[:, 0])
    assert len(y_at_wall) > 100
    assert ((y_at_wall > ENV.door[0]) & (y_at_wall < ENV.door[1])).all()  # only through the door


def test_geometric_offsets_have_mean_one_over_one_minus_gamma():
    d = pointmass.geometric_offsets(200_000, 0.9, _gen(2))
    assert d.min() == 1
    assert d.double().mean().item() == pytest.approx(10.0, rel=0.02)
    assert (pointmass.geometric_offsets(10, 0.0, _gen()) == 1).all()
    with pytest.raises(ValueError, match="gamma"):
        pointmass.geometric_offsets(3, 1.0, _gen())


def test_future_states_with_gamma_0_is_one_step():
    s = torch.zeros(3000, 2, dtype=torch.float64)
    a = torch.tensor([[0.5, 0.0]], dtype=torch.float64).expand(3000, 2)
    f = pointmass.future_states(ENV.step, s, a, 0.0, _gen(3))
    mean = f.mean(0)
    assert mean[0].item() == pytest.approx(0.05, abs=0.01) and abs(mean[1].item()) < 0.01
    assert f.std(0).max().item() == pytest.approx(ENV.noise, rel=0.1)


def test_sample_pairs_shapes_and_offsets():
    g = _gen(4)
    states, actions = pointmass.random_trajectories(ENV, ENV.sample_states(8, g), 30, g)
    s, a, pos, neg, gam = clearning.sample_pairs(states, actions, (0.5, 0.9), 64, g)
    for x in (s, a, pos, neg):
        assert x.shape == (64, 2)
    assert set(gam.tolist()) <= {0.5, 0.9}
    flat = states.reshape(-1, 2)
    assert all((flat == row).all(dim=1).any() for row in neg)


def test_density_ratio_total_variation_and_histogram():
    logits = torch.tensor([0.0, np.log(3.0)], dtype=torch.float64)
    want = torch.tensor([2.0, 6.0], dtype=torch.float64)
    torch.testing.assert_close(ref.classifier_density_ratio(logits, 2.0), want)
    p = np.array([0.5, 0.5, 0.0])
    assert clearning.total_variation(p, p) == 0
    assert clearning.total_variation(p, np.array([0.0, 0.0, 1.0])) == 1
    h = clearning.histogram(torch.tensor([[0.5, 0.5], [-0.5, -0.5], [2.0, 0.0]]), n_bins=2)
    np.testing.assert_allclose(h, [[1 / 3, 0], [0, 1 / 3]])  # the point outside counts in N only


def test_classifier_loss_is_log2_twice_at_zero_logits():
    z = torch.zeros(5)
    assert clearning.classifier_loss(z, z).item() == pytest.approx(2 * np.log(2))


@pytest.fixture(scope="module")
def trained():
    g = _gen(0)
    states, actions = pointmass.random_trajectories(ENV, ENV.sample_states(100, g), 250, g)
    clf, losses = clearning.train_classifier(states, actions, clearning.CLearningConfig(), g)
    return states, actions, clf, losses


QUERIES = torch.tensor([[-0.5, -0.3], [-0.15, 0.4], [0.5, 0.5]], dtype=torch.float64)
ACTIONS = torch.tensor([[1.0, 0.0]] * 3, dtype=torch.float64)


@pytest.mark.slow
def test_classifier_odds_recover_the_future_state_density(trained):
    _, _, clf, losses = trained
    assert np.mean(losses[-100:]) < 0.5 * 2 * np.log(2)  # half the loss of a coin flip
    g = _gen(5)
    for gamma in (0.8, 0.95):
        for s, a in zip(QUERIES, ACTIONS, strict=True):
            mc = clearning.histogram(pointmass.future_states(
                ENV.step, s.expand(10_000, 2), a.expand(10_000, 2), gamma, g))
            p, mass = clearning.classifier_grid_density(clf, ref.classifier_density_ratio, s, a, gamma, ENV)
            assert 0.7 < mass < 1.3  # the odds times the marginal is close to a density already
            tv = clearning.total_variation(p, mc)
            assert tv < 0.2, (gamma, s, tv)
            assert tv < 0.4 * clearning.total_variation(np.full_like(mc, mc.sum() / mc.size), mc)


@pytest.mark.slow
def test_one_step_model_error_grows_with_the_horizon_and_the_classifier_wins_at_long_ones(trained):
    states, actions, clf, _ = trained
    g = _gen(6)
    cfg = dynamics.EnsembleConfig(n_members=1, n_elites=1, hidden=64, n_layers=2, max_epochs=30)
    model, _ = clearning.fit_one_step_model(states, actions, cfg, g)
    gammas = (0.5, 0.95, 0.98)
    err = clearning.future_prediction_errors(ENV, {"classifier": clf}, ref.classifier_density_ratio,
                                             clearning.model_step_fn(model), QUERIES, ACTIONS, gammas,
                                             10_000, g)
    model_err, clf_err = err["one-step model"].mean(1), err["classifier"].mean(1)
    assert model_err[2] > model_err[0] + 0.05  # compounding: worse at horizon 50 than at 2
    assert clf_err[2] < model_err[2]
    assert (err["MC noise floor"] < 0.12).all()


def test_td_loss_of_a_classifier_that_knows_nothing_is_2_log_2():
    """Zero logits: C = 1/2 and w = 1, so the weights (1 - gamma) + gamma w + 1 sum to 2."""
    zero = lambda s, a, s_f, gamma: torch.zeros(s.shape[0])  # noqa: E731
    batch = [torch.rand(16, 2, generator=_gen(7)) for _ in range(5)]
    loss = ref.td_classifier_loss(zero, zero, *batch, torch.full((16,), 0.9))
    assert loss.item() == pytest.approx(2 * np.log(2))


def test_drift_policy_moves_right_and_future_states_follow_the_given_policy():
    s = torch.zeros(2000, 2, dtype=torch.float64)
    a = pointmass.drift_policy(s, _gen(8))
    assert (a[:, 0] >= 0.2).all() and (a[:, 0] <= 1.0).all() and a[:, 1].abs().max() <= 0.4
    start = torch.tensor([[0.3, 0.0]], dtype=torch.float64).expand(2000, 2)
    push = torch.tensor([[0.0, 0.0]], dtype=torch.float64).expand(2000, 2)
    drift = pointmass.future_states(ENV.step, start, push, 0.9, _gen(9), policy=pointmass.drift_policy)
    rand = pointmass.future_states(ENV.step, start, push, 0.9, _gen(9))
    assert drift[:, 0].mean() > rand[:, 0].mean() + 0.2


@pytest.fixture(scope="module")
def td_trained(trained):
    states, actions, clf, _ = trained
    g = _gen(10)
    cfg, td = clearning.CLearningConfig(), clearning_td.TDConfig()
    td_random, losses = clearning_td.train_td_classifier(ref.td_classifier_loss, states, actions,
                                                          pointmass.random_policy, cfg, td, g)
    td_drift, _ = clearning_td.train_td_classifier(ref.td_classifier_loss, states, actions,
                                                   pointmass.drift_policy, cfg, td, g)
    return clf, td_random, td_drift, losses


@pytest.mark.slow
def test_td_classifier_matches_monte_carlo_at_middle_horizons_and_drifts_at_the_longest(td_trained):
    clf, td_random, _, losses = td_trained
    assert np.mean(losses[-100:]) < 0.5 * 2 * np.log(2)
    err = clearning.future_prediction_errors(ENV, {"MC": clf, "TD": td_random}, ref.classifier_density_ratio,
                                             None, QUERIES, ACTIONS, (0.8, 0.9, 0.98), 10_000, _gen(11))
    td, mc = err["TD"].mean(axis=1), err["MC"].mean(axis=1)
    assert td[0] < 0.15 and td[1] < 0.15  # as good as Monte Carlo there (MC: ~0.11)
    # bootstrapped errors: at horizon 50, worse than at horizon 10 and than Monte Carlo (seen: +0.03..0.08)
    assert td[2] > td[1] + 0.02 and td[2] > mc[2] + 0.02, (td, mc)
    assert td[2] < 0.4  # ... yet far better than the marginal (TV ~ 0.7)


@pytest.mark.slow
def test_td_classifier_learns_another_policys_future_from_random_data(td_trained):
    clf, _, td_drift, _ = td_trained
    err = clearning.future_prediction_errors(ENV, {"MC": clf, "TD": td_drift}, ref.classifier_density_ratio,
                                             None, QUERIES, ACTIONS, (0.5, 0.8, 0.9), 5000, _gen(12),
                                             policy=pointmass.drift_policy)
    assert (err["TD"].mean(axis=1) < err["MC"].mean(axis=1) - 0.1).all()
    assert err["TD"].mean(axis=1)[0] < 0.2


@pytest.mark.slow
def test_greedy_actions_on_the_classifier_get_through_the_door(trained):
    _, _, clf, _ = trained
    goal = torch.tensor([0.4, 0.0], dtype=torch.float64)
    start = torch.tensor([[-0.4, 0.0]], dtype=torch.float64)
    rates = {}
    for name, policy in {"random": pointmass.random_policy,
                         "straight": lambda s, g: ((goal - s) * 10).clamp(-1, 1),
                         "greedy": clearning_td.greedy_goal_policy(clf, goal, 0.9)}.items():
        _, first = clearning_td.reach_goal(ENV, policy, start.expand(200, 2), goal, 100, _gen(13))
        rates[name] = (first >= 0).double().mean().item()
    assert rates["straight"] == 0.0  # pushes into the wall below the door
    assert rates["greedy"] > rates["random"] + 0.15, rates
