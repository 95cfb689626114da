"""Second-order shooting, the notebook's claims as measured on the pendulum linearised at upright:
the condition number of the action-sequence problem grows exponentially with T; gradient ascent
with the best fixed step converges at short horizons and stalls at long ones; one Newton step
solves the (quadratic) problem; LQR's dynamic programming gives Newton's answer, as time-varying
gains. The gradient is the reference of Exercise 1.4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import envs, shooting
from course_tools.references import part1 as ref

GRADIENT = ref.action_sequence_gradient
S0 = torch.tensor([0.2, 0.0], dtype=torch.float64)


@pytest.fixture(scope="module")
def runs():
    lq = shooting.upright_pendulum()
    out = {}
    for T in (5, 10, 20, 40):
        a0 = torch.zeros(T, 1, dtype=torch.float64)
        r = shooting.descent_vs_newton(GRADIENT, lq, S0, a0, n_descent=200)
        a_lqr, gains = shooting.lqr(lq, S0, T)
        out[T] = {**r, "optimum": shooting.sequence_return(lq, S0, a_lqr), "a_lqr": a_lqr, "gains": gains}
    return lq, out


def test_the_linearisation_is_the_pendulums_step_near_upright():
    lq = shooting.upright_pendulum()
    s, a = torch.tensor([[1e-4, -2e-4]], dtype=torch.float64), torch.tensor([[3e-4]], dtype=torch.float64)
    nxt, r = envs.pendulum_step(s, a)
    lin_nxt, lin_r = lq(s, a)
    assert torch.allclose(lin_nxt, nxt, atol=1e-11) and torch.allclose(lin_r, r, atol=1e-14)


def test_the_condition_number_grows_exponentially_with_the_horizon(runs):
    _, out = runs
    kappa = np.array([out[T]["kappa"] for T in (5, 10, 20, 40)])
    assert (np.diff(np.log(kappa)) > 0).all()
    assert kappa[1] / kappa[0] > 5 and kappa[3] / kappa[2] > 1e2  # faster than any power of T
    assert kappa[3] > 1e6


def test_gradient_ascent_converges_at_short_horizons_and_stalls_at_long_ones(runs):
    _, out = runs
    gap = {T: out[T]["optimum"] - out[T]["descent"] for T in out}
    assert all((np.diff(g) <= 1e-12).all() for g in gap.values())  # the best fixed step never overshoots
    assert gap[5][-1] < 1e-10 and gap[10][-1] < 1e-3
    assert gap[20][-1] > 1e-2 and gap[40][-1] > 1e-2          # 200 steps leave it far from J*
    assert gap[40][-1] > 0.5 * gap[40][1]                      # after the first step it barely moves


def test_one_newton_step_solves_the_quadratic_problem_and_lqr_gives_the_same_actions(runs):
    lq, out = runs
    for T, r in out.items():
        assert r["optimum"] - r["newton"][-1] < 1e-6, T
        assert r["optimum"] >= r["descent"].max() - 1e-12  # LQR's return is the best of all
    assert (out[10]["newton_actions"] - out[10]["a_lqr"]).abs().max() < 1e-6
    # with the exact Hessian (autograd, no finite differences) Newton and LQR agree at T = 40 too
    T = 40
    J = lambda a: ref.random_shooting_scores(lq, S0, a[None])[0]  # noqa: E731
    a0 = torch.zeros(T, 1, dtype=torch.float64)
    hess = torch.autograd.functional.hessian(J, a0).reshape(T, T)
    exact = a0 - torch.linalg.solve(hess, GRADIENT(lq, S0, a0).reshape(-1)).reshape(T, 1)
    assert (exact - out[T]["a_lqr"]).abs().max() < 1e-6


def test_lqr_gains_vary_with_time_and_vanish_at_the_last_step(runs):
    _, out = runs
    gains = out[40]["gains"][:, 0]  # (T, 2)
    assert torch.allclose(gains[0], gains[10], rtol=1e-3)      # far from the end: the stationary gain
    assert (gains[-2].abs() < gains[0].abs()).all() and gains[-2][0].abs() < 0.5 * gains[0][0].abs()  # weaker
    assert torch.equal(gains[-1], torch.zeros(2, dtype=torch.float64))  # a_{T-1} moves only s_T
    assert gains[0][0] < 0 and gains[0][1] < 0                 # push against the lean and the fall


def test_sequence_return_and_lqr_edge_cases():
    lq = shooting.upright_pendulum()
    a = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    want = float(ref.random_shooting_scores(lq, S0, a[None])[0])
    assert shooting.sequence_return(lq, S0, a) == pytest.approx(want)
    actions, gains = shooting.lqr(lq, S0, 0)
    assert actions.shape == (0, 1) and gains.shape == (0, 1, 2)
