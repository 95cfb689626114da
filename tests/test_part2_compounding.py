"""Part 2, compounding error: the exact toy, the exact-sum machinery, the learned model's slopes with
injected mistakes, and its own error against the data it saw (as the notebook reports them)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import branching, compounding, envs, policy_gradient
from course_lib.utils import torch_generator
from course_tools.references import part2 as ref


def _gap(T, eps):
    """The exact gap of the reference ``tightrope_gap``."""
    return ref.tightrope_gap(T, eps)[0]


def test_toy_gap_edge_cases_and_closed_form():
    assert _gap(10, 0.0) == 0.0
    assert _gap(1, 0.3) == pytest.approx(0.3)
    assert _gap(7, 1.0) == pytest.approx(7.0)
    assert _gap(0, 0.5) == 0.0
    eps = np.array([1e-3, 0.05, 0.5])
    closed = 12 - (1 - eps) * (1 - (1 - eps) ** 12) / eps
    np.testing.assert_allclose(_gap(12, eps), closed)
    exact, approx = ref.tightrope_gap(5, np.zeros((2, 3)))
    assert exact.shape == approx.shape == (2, 3)
    for bad_T in (-1, 2.5):
        with pytest.raises(ValueError, match="T"):
            ref.tightrope_gap(bad_T, 0.1)
    with pytest.raises(ValueError, match="eps"):
        ref.tightrope_gap(3, np.array([0.1, np.nan]))


def test_small_eps_T_approximation_and_saturation_formula():
    """eps T (T+1)/2 is within eps T of the exact gap (relative) while eps T is small; once eps T >> 1
    the gap is T - (1 - eps)/eps = T + 1 - 1/eps, not T - 1/eps (off by exactly one step)."""
    for T, eps in ((10, 0.001), (100, 1e-4), (1000, 1e-4)):
        exact, approx = ref.tightrope_gap(T, np.array([eps]))
        assert approx[0] >= exact[0] and (approx[0] - exact[0]) / exact[0] < eps * T
    for eps in (0.5, 0.1, 0.02):
        g = _gap(1000, eps)
        assert g == pytest.approx(1000 - (1 - eps) / eps, abs=1e-6)
        assert g - (1000 - 1 / eps) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("T, eps", [(10, 0.01), (100, 0.001), (100, 0.05)])
def test_toy_simulation_matches_the_exact_gap(T, eps):
    mean, se = compounding.simulate_toy_gap(T, eps, 40_000, np.random.default_rng(0))
    assert abs(mean - _gap(T, eps)) < 4 * se


def test_toy_slopes_are_2_in_T_and_1_in_eps_while_eps_T_is_small_then_saturate():
    Ts = np.arange(5, 101)
    g = np.array([_gap(t, 1e-3) for t in Ts])
    assert compounding.loglog_slope(Ts, g) == pytest.approx(2, abs=0.1)
    es = np.geomspace(1e-5, 1e-3, 8)
    assert compounding.loglog_slope(es, _gap(100, es)) == pytest.approx(1, abs=0.05)
    Ts = np.arange(50, 101)
    g = np.array([_gap(t, 0.1) for t in Ts])
    assert compounding.loglog_slope(Ts, g) < 1.2  # saturated: each extra step adds about one step off


def test_expected_gap_of_absorbing_mistakes_is_the_toy_exactly():
    T = 30
    tau = np.arange(1, T + 2)[:, None, None]  # index T means "no mistake"
    t = np.arange(1, T + 1)[None, None, :]
    off = (t >= tau) & (tau <= T)  # off from the first mistake on, for 3 identical "start states"
    off = np.repeat(off, 3, axis=1)
    cum = off.mean(1).cumsum(-1)
    for eps in (0.0, 1e-3, 0.2, 1.0):
        np.testing.assert_allclose(compounding.expected_gap(cum, np.arange(1, T + 1), eps),
                                   [_gap(k, eps) for k in range(1, T + 1)], atol=1e-12)
    assert compounding.expected_gap(cum, 5, np.array([0.1, 0.2])).shape == (2,)
    with pytest.raises(ValueError, match="T"):
        compounding.expected_gap(cum, T + 1, 0.1)


def test_sample_first_mistake_is_geometric():
    u = np.random.default_rng(0).random(200_000)
    tau = compounding.sample_first_mistake(0.1, u)
    assert tau.min() == 1 and abs(tau.mean() - 10) < 0.1
    assert np.isinf(compounding.sample_first_mistake(0.0, u[:3])).all()
    assert (compounding.sample_first_mistake(1.0, u[:3]) == 1).all()


def test_model_errors_of_a_perfect_model_are_zero_and_of_a_biased_one_add_up():
    config = compounding.MistakeConfig(n_starts=8, horizon=20)
    perfect = compounding.model_errors(_true_step, config)
    assert perfect.state_error.shape == perfect.return_error.shape == (20,)
    assert perfect.state_error.max() < 1e-4 and perfect.one_step < 1e-5

    def drifting(obs, act):  # the true step plus a constant push on the angular velocity
        nxt, rew = _true_step(obs, act)
        return torch.cat([nxt[:, :2], nxt[:, 2:] + 0.001], -1), rew

    biased = compounding.model_errors(drifting, config)
    assert biased.one_step == pytest.approx(0.001, rel=1e-3)
    assert biased.state_error[0] == pytest.approx(0.001, rel=1e-3)
    assert biased.state_error[9] > 5 * biased.state_error[0]  # errors add up over the rollout


def test_branched_rollouts_start_at_real_states_and_follow_the_model():
    real = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)

    def step(obs, act):
        return obs + act, obs.sum(-1)

    out = ref.branched_rollouts(real, step, lambda o: torch.ones(o.shape[0], 1), 3, 7,
                                        torch_generator(0))
    assert out.shape == (7, 4, 3)
    flat = real.reshape(-1, 3)
    assert all((flat == row).all(1).any() for row in out[:, 0])
    torch.testing.assert_close(out[:, 3], out[:, 0] + 3)


def _true_step(obs, act):
    nxt, rew = envs.pendulum_step_obs(obs.double(), act.double())
    return nxt.to(obs.dtype), rew.to(obs.dtype)


def test_a_perfect_model_is_never_off_and_kicks_are_absorbing():
    rollouts = compounding.mistake_rollouts(_true_step, compounding.MistakeConfig(n_starts=8, horizon=25))
    assert rollouts.model.shape == (26, 8, 26, 3) and rollouts.off.shape == (26, 8, 25)
    assert not rollouts.off[-1].any()  # no mistake: the model is the real pendulum
    assert compounding.model_horizon(rollouts) == 25
    assert rollouts.off[0].mean() > 0.9  # a kick of 3 rad/s keeps it off
    cum = rollouts.cum_off
    Ts = np.arange(4, 26)
    np.testing.assert_allclose(compounding.expected_gap(cum, Ts, 0.0), 0.0)
    table = branching.branch_table(ref.branched_rollouts, _true_step, rollouts, 5, 64, torch_generator(0))
    np.testing.assert_allclose(branching.branched_gap(table, np.array([10, 25]), 3, 0.0), 0.0)
    assert (np.diff(table.start_time) >= 0).all() and table.start_time.max() <= 20


@pytest.fixture(scope="module")
def learned():
    """The notebook's setting: a model fitted to 3000 random transitions, its mistake rollouts and
    the branch table drawn by the reference ``branched_rollouts``."""
    model, _, _ = policy_gradient.fit_pendulum_model(policy_gradient.ModelDataConfig())
    rollouts = compounding.mistake_rollouts(model.mean_step)
    return rollouts, branching.branch_table(ref.branched_rollouts, model.mean_step, rollouts, 15, 512,
                                              torch_generator(1))


def test_branch_table_branches_replay_the_real_torques_and_kick_once():
    rollouts = compounding.mistake_rollouts(_true_step, compounding.MistakeConfig(n_starts=5, horizon=20))
    table = branching.branch_table(ref.branched_rollouts, _true_step, rollouts, 6, 40, torch_generator(2))
    k_max, n = 6, 40
    assert table.off.shape == (k_max + 1, n, k_max) and table.phase.shape == (k_max + 1, n, k_max, 2)
    assert table.start_time.max() <= 20 - k_max and (np.diff(table.start_time) >= 0).all()
    real = rollouts.real.numpy()
    steps = table.start_time[:, None] + np.arange(1, k_max + 1)
    cont = real[table.start_traj[:, None], steps]  # (n, k_max, 3) the real continuation
    real_phase = np.stack([np.arctan2(cont[..., 1], cont[..., 0]), cont[..., 2]], -1)
    np.testing.assert_allclose(table.phase[-1], real_phase, atol=0.02)  # no mistake: the true step = reality
    assert not table.off[-1].any()
    for tau in range(1, k_max + 1):  # the kick of +-3 rad/s lands at step tau, and only there
        jump = table.phase[tau - 1, :, tau - 1, 1].astype(float) - table.phase[-1, :, tau - 1, 1]
        np.testing.assert_allclose(np.abs(jump), rollouts.config.kick, atol=0.02)
        np.testing.assert_allclose(table.phase[tau - 1, :, : tau - 1], table.phase[-1, :, : tau - 1])


def test_branch_table_rejects_a_brancher_with_the_wrong_output():
    rollouts = compounding.mistake_rollouts(_true_step, compounding.MistakeConfig(n_starts=3, horizon=10))

    def drops_the_start(*args):
        return ref.branched_rollouts(*args)[:, 1:]

    with pytest.raises(ValueError, match="branched_rollouts: expected a tensor of shape"):
        branching.branch_table(drops_the_start, _true_step, rollouts, 4, 8, torch_generator(0))


@pytest.mark.slow
def test_learned_model_gap_has_slope_2_in_T_and_1_in_eps_while_eps_T_is_small(learned):
    rollouts, _ = learned
    cum = rollouts.cum_off
    t_valid = compounding.model_horizon(rollouts)
    assert t_valid >= 12, "the learned model drifts off by itself too early to measure anything"
    Ts = np.arange(4, t_valid + 1)
    slope_T = compounding.loglog_slope(Ts, compounding.expected_gap(cum, Ts, 1e-3))
    es = np.geomspace(1e-4, 0.1 / t_valid, 10)
    slope_eps = compounding.loglog_slope(es, compounding.expected_gap(cum, t_valid, es))
    print(f"learned model: horizon {t_valid}, slope in T {slope_T:.3f}, slope in eps {slope_eps:.3f}")
    assert slope_T == pytest.approx(2, abs=0.2)
    assert slope_eps == pytest.approx(1, abs=0.1)
    # sampled mistakes agree with the exact sum
    mean, se = compounding.simulate_model_gap(rollouts, 40, 0.01, 40_000, np.random.default_rng(0))
    assert abs(mean - compounding.expected_gap(cum, 40, 0.01)) < 4 * se
    # saturation: at eps T >> 1 nearly every step is off and eps hardly matters
    T = cum.shape[1]
    assert compounding.expected_gap(cum, T, 0.3) > 0.85 * T
    es = np.geomspace(0.1, 0.3, 5)
    assert compounding.loglog_slope(es, compounding.expected_gap(cum, T, es)) < 0.2


@pytest.mark.slow
def test_the_notebooks_model_error_adds_up_early_and_matches_the_committed_sweep(learned):
    """Section 3.3 as measured: the summed error C(T) of the 3000-transition model has a log-log slope
    near that of T(T+1)/2 over T = 2..20 and is of the size eps_1 T(T+1)/2; later it is steeper. The
    committed sweep's row for the same model is this measurement."""
    rollouts, _ = learned
    model, _, _ = policy_gradient.fit_pendulum_model(policy_gradient.ModelDataConfig())
    own = compounding.model_errors(model.mean_step)
    T = np.arange(1, 61)
    C = own.state_error.cumsum()
    early = compounding.loglog_slope(T[1:20], C[1:20])
    print(f"eps_1 {own.one_step:.4f}, slope 2..20 {early:.3f}, 20..40 "
          f"{compounding.loglog_slope(T[19:40], C[19:40]):.3f}")
    assert early == pytest.approx(compounding.loglog_slope(T[1:20], T[1:20] * (T[1:20] + 1)), abs=0.2)
    assert 0.3 < C[19] / (own.one_step * 210) < 3
    assert compounding.loglog_slope(T[19:40], C[19:40]) > 2.5
    # the model alone is the no-mistake row of the mistake rollouts
    alone = (rollouts.model[-1, :, 1:] - rollouts.real[:, 1:]).norm(dim=-1).mean(0).numpy()
    np.testing.assert_allclose(own.state_error, alone, rtol=1e-4, atol=1e-6)
    sweep = compounding.load_model_error_sweep()
    i = list(sweep["n_transitions"]).index(3000)
    np.testing.assert_allclose(sweep["state_error"][i, 0], own.state_error, rtol=1e-3, atol=1e-5)
    assert sweep["one_step"][i, 0] == pytest.approx(own.one_step, rel=1e-3)


def test_committed_sweep_shows_the_early_slope_at_every_data_size():
    """The claims of Section 3.3 on the committed data: the early slope is near 2 for every N and seed
    average, more data lowers the one-step error, and the late slope departs from 2 both ways."""
    sweep = compounding.load_model_error_sweep()
    assert "scripts/part2_model_error.py" in sweep["command"]
    n, err, eps1 = sweep["n_transitions"], sweep["state_error"].astype(float), sweep["one_step"]
    assert err.shape == (len(n), len(sweep["seeds"]), 60) and eps1.shape == err.shape[:2]
    T = np.arange(1, 61)
    for row in err:
        slopes = [compounding.loglog_slope(T[1:20], e.cumsum()[1:20]) for e in row]
        assert 1.7 < np.mean(slopes) < 2.3, slopes
    assert eps1[0].mean() > 5 * eps1[-1].mean()
    late = [compounding.loglog_slope(T[19:], row.mean(0).cumsum()[19:]) for row in err]
    assert late[0] < 2 and min(late[n.tolist().index(1000):]) > 2.5, late


@pytest.mark.slow
def test_branched_gap_grows_linearly_in_T_for_fixed_k(learned):
    rollouts, table = learned
    eps = 0.01
    for k in (1, 5, 10):
        Ts = np.arange(max(k, 5), 61)
        gap = branching.branched_gap(table, Ts, k, eps)
        slope = compounding.loglog_slope(Ts, gap)
        print(f"k = {k}: slope in T {slope:.3f}, gap(60) {gap[-1]:.3f}, eps T (k+1)/2 = {eps * 30 * (k + 1)}")
        assert slope == pytest.approx(1, abs=0.1)
        np.testing.assert_allclose(gap, eps * Ts * (k + 1) / 2, rtol=0.2)
    long = compounding.expected_gap(rollouts.cum_off, 60, eps)
    assert long > 5 * branching.branched_gap(table, np.array([60]), 5, eps)[0]


def test_branched_gap_by_k_equals_branched_gap_for_each_k():
    rollouts = compounding.mistake_rollouts(_true_step, compounding.MistakeConfig(n_starts=6, horizon=30))
    table = branching.branch_table(ref.branched_rollouts, _true_step, rollouts, 8, 80, torch_generator(0))
    table.off = np.random.default_rng(0).random(table.off.shape) < 0.3  # a non-trivial table
    table.__post_init__()
    for T in (5, 12, 30):
        for eps in (0.0, 0.05, 1.0):
            want = [branching.branched_gap(table, np.array([T]), k, eps)[0] if k <= T else 0.0
                    for k in range(1, 9)]
            np.testing.assert_allclose(branching.branched_gap_by_k(table, T, eps), want)
