"""Gradients through a model: autograd vs finite differences and the chain rule (open and closed
loop), and the claims of the notebook: early actions get huge gradients, Jacobian products explode
or vanish open loop and shrink when a stabilising policy closes the loop, the optimisation's
condition number grows with T. The exercises' pieces are the references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import envs, gradients
from course_lib.demos import part1
from course_tools.references import part1 as ref

GRADIENT, PRODUCT = ref.action_sequence_gradient, ref.closed_loop_product


def _open(ds):
    """An open-loop product: no action reacts (da, dpi = 0)."""
    t, s = ds.shape[0], ds.shape[-1]
    return PRODUCT(ds, torch.zeros(t, s, 1, dtype=ds.dtype), torch.zeros(t, 1, s, dtype=ds.dtype))


def _return(step, s0, actions):
    return ref.random_shooting_scores(step, s0, actions[None])[0]


def _trajectory(s0, actions):
    states, s = [], s0[None]
    for a in actions:
        states.append(s[0])
        s, _ = envs.pendulum_step(s, a[None])
    return torch.stack(states)


def test_action_sequence_gradient_matches_finite_differences():
    s0 = torch.tensor([2.0, 0.5], dtype=torch.float64)
    a = torch.linspace(-1, 1, 10, dtype=torch.float64)[:, None]
    grad = GRADIENT(envs.pendulum_step, s0, a)
    eps = 1e-6
    for t in (0, 4, 9):
        up, down = a.clone(), a.clone()
        up[t] += eps
        down[t] -= eps
        fd = (_return(envs.pendulum_step, s0, up) - _return(envs.pendulum_step, s0, down)) / (2 * eps)
        assert float(grad[t, 0]) == pytest.approx(float(fd), rel=1e-5, abs=1e-7)


def test_step_jacobians_match_jacrev_and_the_chain_rule_gives_the_autograd_gradient():
    """The notebook's formula: dJ/da_t = dr_t/da_t + sum_{k>t} dr_k/ds_k (prod_j A_j) ds_{t+1}/da_t."""
    s0 = torch.tensor([2.5, 0.3], dtype=torch.float64)
    a = torch.rand(12, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    states = _trajectory(s0, a)
    ds, da, rs, ra = gradients.step_jacobians(envs.pendulum_step, states, a)
    for t in (0, 7):
        jac = torch.func.jacrev(lambda x, u: envs.pendulum_step(x, u)[0], argnums=(0, 1))
        j_s, j_a = jac(states[t], a[t])
        assert torch.allclose(ds[t], j_s) and torch.allclose(da[t], j_a)
    for h in (1, 5, 12):
        chain = torch.stack([ra[t] + sum(rs[k] @ _open(ds[t + 1:k]) @ da[t] for k in range(t + 1, h))
                             for t in range(h)])
        assert torch.allclose(chain, GRADIENT(envs.pendulum_step, s0, a[:h]), atol=1e-12)
        jac = {"ds": ds[:h], "da": da[:h], "dpi": torch.zeros(h, 1, 2, dtype=torch.float64), "rs": rs[:h],
               "ra": ra[:h]}
        assert torch.allclose(gradients.chain_rule_action_gradients(PRODUCT, jac), chain, atol=1e-12)


def test_the_policy_formula_with_closed_loop_products_is_autograds_gradient():
    """The notebook's policy formula: dJ/da_t through products of A + B K, latest on the left."""
    policy = gradients.MLPPolicy(2, 1, hidden=8, generator=torch.Generator().manual_seed(3)).double()
    s0 = torch.tensor([2.0, -0.5], dtype=torch.float64)
    jac = gradients.closed_loop_jacobians(policy, envs.pendulum_step, s0, 15)
    x = s0[None]
    for t in range(15):  # dpi is the policy's own Jacobian at the states it visits
        assert torch.allclose(jac["dpi"][t], torch.func.jacrev(policy)(x)[0, :, 0], atol=1e-10)
        x, _ = envs.pendulum_step(x, policy(x).detach())
    want = gradients.policy_action_gradient(policy, envs.pendulum_step, s0, 15)
    got = gradients.chain_rule_action_gradients(PRODUCT, jac)
    assert torch.allclose(got, want, atol=1e-10)
    open_loop = gradients.chain_rule_action_gradients(PRODUCT, {**jac, "dpi": torch.zeros_like(jac["dpi"])})
    assert (open_loop - want).abs().max() > 1e-2 * want.abs().max()  # the feedback term matters


def test_jacobian_products_order_and_the_singular_values_of_every_prefix():
    g = torch.Generator().manual_seed(1)
    jac = torch.randn(6, 2, 2, generator=g, dtype=torch.float64)
    want = jac[5] @ jac[4] @ jac[3] @ jac[2] @ jac[1] @ jac[0]
    assert torch.allclose(_open(jac), want)
    assert torch.equal(_open(jac[:0]), torch.eye(2, dtype=torch.float64))
    b, k = torch.randn(6, 2, 1, generator=g, dtype=torch.float64), torch.randn(6, 1, 2, generator=g,
                                                                                 dtype=torch.float64)
    closed = jac + b @ k
    want = closed[5] @ closed[4] @ closed[3] @ closed[2] @ closed[1] @ closed[0]
    assert torch.allclose(PRODUCT(jac, b, k), want)
    assert torch.allclose(gradients.product_singular_values(PRODUCT, jac, b, k)[-1],
                          torch.linalg.svdvals(PRODUCT(jac, b, k)), rtol=1e-8)
    prefixes = torch.stack([_open(jac[:k]) for k in range(1, 7)])
    sv = gradients.product_singular_values(PRODUCT, jac)
    assert torch.allclose(sv, torch.linalg.svdvals(prefixes), rtol=1e-8)
    jac3 = torch.randn(4, 3, 3, generator=g, dtype=torch.float64)
    sv3 = gradients.product_singular_values(PRODUCT, jac3)
    assert torch.allclose(sv3[-1], torch.linalg.svdvals(_open(jac3)))
    assert gradients.product_singular_values(PRODUCT, jac[:0]).shape == (0, 2)


def test_smallest_singular_value_stays_accurate_when_the_product_explodes():
    s0 = torch.tensor([0.0, 0.0], dtype=torch.float64)  # upright and still: an unstable equilibrium
    a = torch.zeros(150, 1, dtype=torch.float64)
    ds = gradients.step_jacobians(envs.pendulum_step, _trajectory(s0, a), a)[0]
    sv = gradients.product_singular_values(PRODUCT, ds)
    assert sv[-1, 0] > 1e10
    # semi-implicit Euler preserves area (det = 1): sigma_min = 1 / sigma_max exactly
    assert torch.allclose(sv[:, 0] * sv[:, 1], torch.ones(150, dtype=torch.float64), rtol=1e-9)


def test_singular_values_and_log_clipping_flag_inf_and_nan():
    m = torch.tensor([[[1.0, 0.0], [0.0, float("inf")]], [[2.0, 0.0], [0.0, 1.0]]])
    sv = gradients.singular_values(m)
    assert torch.isinf(sv[0]).all() and torch.allclose(sv[1], torch.tensor([2.0, 1.0]))
    clipped, flagged = gradients.clip_for_log(np.array([np.inf, np.nan, 1e20, 1.0, 0.0]), 1e-8, 1e12)
    assert np.isfinite(clipped).all() and flagged.tolist() == [True, True, True, False, False]
    assert clipped.tolist() == [1e12, 1e12, 1e12, 1.0, 1e-8]


def test_early_actions_get_huge_gradients_near_upright_and_it_grows_with_curvature():
    grid = part1.gradient_grid(GRADIENT, PRODUCT, np.array([0.0, 1.0, 2.0]), t_max=80)
    g, sv, closed = grid["grad"], grid["sv"], grid["sv_closed"]
    ratio = g[:, 79, 0] / g[:, 79, 79]  # ||dJ/da_0|| / ||dJ/da_{T-1}|| at T = 80
    assert ratio[1] > 1e5 and ratio[2] > 1e3 * ratio[1]
    assert ratio[0] < 1e4  # no gravity: polynomial, not exponential, growth
    # singular values of the Jacobian product: one explodes, the other vanishes
    assert sv[1, 79, 0] > 1e6 and sv[1, 79, 1] < 1e-6
    assert sv[1, 79, 0] > 1e3 * sv[1, 39, 0]
    assert sv[0, 79, 0] < 10  # no gravity: the product only shears
    # the PD controller that flew the trajectory closes the loop into a contraction, at every gain
    assert (closed[:, 79, 0] < 1e-2).all() and (closed[:, 79, 0] < closed[:, 9, 0]).all()


def test_condition_number_of_the_action_optimisation_grows_with_horizon():
    s0 = torch.tensor([2.0, 0.0], dtype=torch.float64)
    conds = [gradients.hessian_condition_number(GRADIENT, envs.pendulum_step, s0,
                                                torch.zeros(T, 1, dtype=torch.float64))
             for T in (1, 5, 10, 20, 40)]
    assert conds[0] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(conds, conds[1:], strict=False))
    assert conds[-1] > 10 * conds[1]
    # the Hessian by differences of the gradient equals autograd's second derivative
    a = torch.rand(8, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    hess = torch.autograd.functional.hessian(lambda x: _return(envs.pendulum_step, s0, x), a)
    eig = torch.linalg.eigvalsh(hess.reshape(8, 8)).abs()
    want = float(eig.max() / eig.min())
    got = gradients.hessian_condition_number(GRADIENT, envs.pendulum_step, s0, a)
    assert got == pytest.approx(want, rel=1e-5)


def test_the_gradient_grid_uses_the_pieces_it_is_given():
    """gradient_grid runs the student's functions: all gains side by side, one call per horizon."""
    calls = {"gradient": 0, "product": 0}

    def gradient(step, obs, actions):
        calls["gradient"] += 1
        assert obs.shape == (4,) and actions.shape[1:] == (2,)  # two pendulums as one system
        return GRADIENT(step, obs, actions)

    def product(ds, da, dpi):
        calls["product"] += 1
        return PRODUCT(ds, da, dpi)

    grid = part1.gradient_grid(gradient, product, np.array([0.5, 1.5]), t_max=10)
    assert calls == {"gradient": 10, "product": 2 * 2 * 10}  # open and closed loop, 2 gains, k = 1..10
    assert grid["grad"].shape == (2, 10, 10) and grid["sv"].shape == grid["sv_closed"].shape == (2, 10, 2)
    assert (np.triu(grid["grad"][0], 1) == 0).all()  # row T - 1 holds horizons T only


def _linear_step(obs, act):
    return obs + 0.5 * act, -(obs**2).sum(-1)


def test_bptt_learns_to_drive_a_linear_system_to_zero():
    g = torch.Generator().manual_seed(0)
    policy = gradients.MLPPolicy(1, 1, hidden=16, max_action=2.0, generator=g)
    starts = torch.rand(256, 1, generator=g) * 4 - 2
    with torch.no_grad():
        before = float(gradients.policy_return(policy, _linear_step, starts, 5).mean())
    cfg = gradients.BPTTConfig(horizon=5, n_updates=100, batch_size=32, lr=1e-2)
    log = gradients.train_policy_bptt(policy, _linear_step, starts, cfg, g)
    with torch.no_grad():
        after = float(gradients.policy_return(policy, _linear_step, starts, 5).mean())
    assert after > 0.5 * before  # returns are negative: the cost at least halves
    # the best possible: E[s0^2] + E[max(|s0| - 1, 0)^2] = 4/3 + 1/6 = -1.5 (|a| <= 2 moves s by <= 1)
    assert after > -1.8
    assert len(log.objective) == 100 and np.isfinite(log.grad_norm).all()


def test_bptt_skips_non_finite_gradients_instead_of_crashing():
    def exploding(obs, act):
        return obs * 1e30 + act, -(obs**2).sum(-1)

    g = torch.Generator().manual_seed(0)
    policy = gradients.MLPPolicy(1, 1, generator=g)
    before = [p.detach().clone() for p in policy.parameters()]
    log = gradients.train_policy_bptt(policy, exploding, torch.ones(8, 1),
                                      gradients.BPTTConfig(horizon=6, n_updates=3, batch_size=4), g)
    assert not np.isfinite(log.grad_norm).any()
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))


def test_policy_action_gradients_shapes_and_growth():
    g = torch.Generator().manual_seed(0)
    policy = gradients.MLPPolicy(3, 1, generator=g)
    obs0 = envs.pendulum_obs(torch.tensor([[0.1, 0.0], [-0.2, 0.1]]))
    per_step_5, norm_5 = gradients.policy_action_gradients(policy, envs.pendulum_step_obs, obs0, 5)
    per_step_40, norm_40 = gradients.policy_action_gradients(policy, envs.pendulum_step_obs, obs0, 40)
    assert per_step_5.shape == (5,) and per_step_40.shape == (40,)
    assert norm_40 > 10 * norm_5 and per_step_40[0] > 10 * per_step_40[-1]
