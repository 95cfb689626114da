"""The compact SAC: its losses, its squashed-Gaussian log-probability, its update (with Exercise 3.4's
soft target passed in, the reference here), and that it learns."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import sac
from course_lib.buffers import Batch
from course_tools.references import part3 as ref


def test_soft_target_uses_the_smaller_critic_the_entropy_term_and_done():
    rew, done = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0])
    next_q = torch.tensor([[5.0, 7.0], [3.0, 9.0]])  # (2 critics, B)
    logp = torch.tensor([-1.0, 4.0])
    y = ref.sac_soft_target(rew, done, next_q, logp, alpha=0.5, gamma=0.9)
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * (3.0 + 0.5), 2.0]))


def test_log_prob_is_the_change_of_variables_of_the_tanh_gaussian():
    gen = torch.Generator().manual_seed(0)
    actor = sac.Actor(3, 2, sac.SACConfig(hidden=16, action_scale=2.0))
    obs = torch.randn(64, 3, generator=gen)
    act, logp = actor(obs, torch.Generator().manual_seed(1))
    mean, log_std = actor.body(obs).chunk(2, dim=-1)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.clamp(sac.LOG_STD_MIN, sac.LOG_STD_MAX).exp()),
        [torch.distributions.TanhTransform(), torch.distributions.AffineTransform(0.0, 2.0)])
    inside = act.abs().max(dim=1).values < 1.99  # away from the edges, where atanh is ill-conditioned
    assert torch.allclose(logp[inside], dist.log_prob(act).sum(-1)[inside], atol=1e-3)
    assert act.abs().max() <= 2.0


def test_twin_critics_are_two_networks_and_detach_blocks_weight_gradients():
    cfg = sac.SACConfig(hidden=8)
    q = sac.TwinQ(3, 1, cfg, torch.Generator().manual_seed(0))
    obs, act = torch.randn(5, 3), torch.randn(5, 1, requires_grad=True)
    out = q(obs, act)
    assert out.shape == (2, 5) and not torch.allclose(out[0], out[1])
    q(obs, act, detach=True).sum().backward()
    assert all(p.grad is None for p in q.parameters()) and act.grad is not None


def _batch(n: int, gen: torch.Generator) -> Batch:
    obs = torch.randn(n, 3, generator=gen)
    return Batch(obs, torch.rand(n, 1, generator=gen) * 4 - 2, torch.randn(n, generator=gen),
                 torch.randn(n, 3, generator=gen), torch.zeros(n))


def test_update_moves_target_critics_by_polyak_averaging():
    cfg = sac.SACConfig(hidden=16, batch_size=32, tau=0.1)
    agent = sac.SAC(3, 1, cfg, torch.Generator().manual_seed(0), soft_target=ref.sac_soft_target)
    old_target = [p.clone() for p in agent.target.parameters()]
    out = agent.update(_batch(32, torch.Generator().manual_seed(1)))
    assert all(torch.isfinite(v) for v in out.values())
    for t_old, t_new, c in zip(old_target, agent.target.parameters(), agent.critic.parameters(), strict=True):
        assert torch.allclose(t_new, 0.9 * t_old + 0.1 * c, atol=1e-6)


def test_update_regresses_the_critics_on_the_given_soft_target():
    seen = []

    def target(rew, done, next_q, next_log_prob, alpha, gamma):
        seen.append((rew.shape, done.shape, next_q.shape, next_log_prob.shape, float(alpha), gamma,
                     torch.is_grad_enabled()))
        return torch.full_like(rew, 3.0)

    cfg = sac.SACConfig(hidden=16, batch_size=32, init_alpha=0.5, gamma=0.9)
    agent = sac.SAC(3, 1, cfg, torch.Generator().manual_seed(0), soft_target=target)
    batch = _batch(32, torch.Generator().manual_seed(1))
    q = agent.critic(batch.obs, batch.act).detach()
    out = agent.update(batch)
    assert seen == [((32,), (32,), (2, 32), (32,), pytest.approx(0.5), 0.9, False)]
    assert torch.allclose(out["critic"], 0.5 * ((q - 3.0) ** 2).mean(dim=1).sum())


def test_same_seed_same_agent():
    a, b = (sac.SAC(3, 1, sac.SACConfig(hidden=8), torch.Generator().manual_seed(3),
                    soft_target=ref.sac_soft_target) for _ in range(2))
    for p, q in zip(a.params, b.params, strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("best", [0.5, -1.2])
def test_sac_learns_a_one_step_bandit(best):
    """Reward -(a - best)^2, every step terminal: the deterministic action must go to ``best``."""
    gen = torch.Generator().manual_seed(0)
    agent = sac.SAC(2, 1, sac.SACConfig(hidden=32, batch_size=64, lr=3e-3, init_alpha=0.1), gen,
                    soft_target=ref.sac_soft_target)
    for _ in range(400):
        obs = torch.randn(64, 2, generator=gen)
        act = torch.rand(64, 1, generator=gen) * 4 - 2
        agent.update(Batch(obs, act, -((act[:, 0] - best) ** 2), obs, torch.ones(64)))
    greedy = agent.act(torch.randn(32, 2, generator=gen), deterministic=True)
    assert (greedy - best).abs().mean() < 0.15
    assert math.isfinite(agent.log_alpha.item())


def test_flat_adam_matches_torch_adam_and_gradients_land_in_the_flat_buffer():
    gen = torch.Generator().manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(3, 4, generator=gen)),
         torch.nn.Parameter(torch.randn(5, generator=gen))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    flat, ref = sac.FlatAdam(a, lr=0.1), torch.optim.Adam(b, lr=0.1)
    for step in range(4):
        for params, opt in ((a, flat), (b, ref)):
            opt.zero_grad()
            ((params[0] ** 2).sum() * (step + 1) + params[1].sin().sum()).backward()
            opt.step()
    assert flat.grad.abs().sum() > 0  # autograd accumulated into the views of the flat gradient
    for p, q in zip(a, b, strict=True):
        assert torch.allclose(p, q, atol=1e-6)
