"""The readable SAC: its target, its squashed-Gaussian log-probability, the critic pair, what one update
changes, that its two speed choices do not change the algorithm, and that it learns."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from course_lib import sac
from course_lib.buffers import Batch


def _batch(n: int, gen: torch.Generator, terminal: float = 0.0) -> Batch:
    obs = torch.randn(n, 3, generator=gen)
    return Batch(obs, torch.rand(n, 1, generator=gen) * 4 - 2, torch.randn(n, generator=gen),
                 torch.randn(n, 3, generator=gen), (torch.rand(n, generator=gen) < terminal).float())


def test_soft_target_bootstraps_from_the_soft_value_at_a_sampled_next_action():
    batch = Batch(torch.zeros(2, 3), torch.zeros(2, 1), torch.tensor([1.0, 2.0]), torch.ones(2, 3),
                  torch.tensor([0.0, 1.0]))
    seen = []

    def policy(obs):
        seen.append(obs)
        return torch.full((len(obs), 1), 0.5)

    y = sac.soft_target(batch, policy, lambda obs, act: obs.sum(1) + act[:, 0], gamma=0.9)
    assert torch.equal(seen[0], batch.next_obs)
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * 3.5, 2.0]))  # terminal: y = r


def test_log_prob_is_the_change_of_variables_of_the_tanh_gaussian():
    gen = torch.Generator().manual_seed(0)
    actor = sac.Actor(3, 2, sac.SACConfig(hidden=16, action_scale=2.0))
    obs = torch.randn(64, 3, generator=gen)
    act, logp = actor(obs, torch.Generator().manual_seed(1))
    mean, log_std = actor.net(obs).chunk(2, dim=-1)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.clamp(sac.LOG_STD_MIN, sac.LOG_STD_MAX).exp()),
        [torch.distributions.TanhTransform(), torch.distributions.AffineTransform(0.0, 2.0)])
    inside = act.abs().max(dim=1).values < 1.99  # away from the edges, where atanh is ill-conditioned
    assert inside.sum() > 32
    assert torch.allclose(logp[inside], dist.log_prob(act).sum(-1)[inside], atol=1e-3)
    assert torch.allclose(actor.log_prob(obs, act)[inside], logp[inside], atol=1e-3)
    assert act.abs().max() <= 2.0


def test_the_critic_pair_is_the_two_q_networks_it_was_built_from():
    cfg = sac.SACConfig(hidden=8)
    q1, q2 = sac.QNetwork(3, 1, cfg), sac.QNetwork(3, 1, cfg)
    pair = sac.CriticPair(q1, q2)
    obs, act = torch.randn(5, 3), torch.randn(5, 1)
    out = pair(obs, act)
    assert out.shape == (2, 5)
    assert torch.allclose(out[0], q1(obs, act), atol=1e-6) and torch.allclose(out[1], q2(obs, act), atol=1e-6)
    assert not torch.allclose(out[0], out[1])


def _constant_target(rew, *_):
    return torch.full_like(rew, 3.0)


def test_update_regresses_the_critics_on_the_value_target_and_nothing_else():
    seen = []

    def value_target(batch, policy, soft_q, gamma):
        next_act = policy(batch.next_obs)
        seen.append((next_act.shape, soft_q(batch.next_obs, next_act).shape, gamma, torch.is_grad_enabled()))
        return torch.full_like(batch.rew, 3.0)

    config = sac.SACConfig(hidden=16, batch_size=32, gamma=0.9)
    agent = sac.SAC(3, 1, config, torch.Generator().manual_seed(0), value_target=value_target)
    batch = _batch(32, torch.Generator().manual_seed(1))
    before = copy.deepcopy(agent.critics)
    q1, q2 = before(batch.obs, batch.act)
    (torch.nn.functional.mse_loss(q1, torch.full((32,), 3.0))
     + torch.nn.functional.mse_loss(q2, torch.full((32,), 3.0))).backward()
    out = agent.update(batch)
    assert seen == [((32, 1), (32,), 0.9, False)]
    # the critics' gradients are the critic loss's alone: the actor's loss left them untouched
    for p, want in zip(agent.critics.parameters(), before.parameters(), strict=True):
        assert p.requires_grad and torch.allclose(p.grad, want.grad, atol=1e-6)
    want = ((q1.detach() - 3.0) ** 2).mean() + ((q2.detach() - 3.0) ** 2).mean()
    assert out["critic"] == pytest.approx(float(want))


def test_update_moves_target_critics_by_polyak_averaging():
    cfg = sac.SACConfig(hidden=16, batch_size=32, tau=0.1)
    agent = sac.SAC(3, 1, cfg, torch.Generator().manual_seed(0))
    old_target = [p.clone() for p in agent.critics_target.parameters()]
    out = agent.update(_batch(32, torch.Generator().manual_seed(1), terminal=0.3))
    assert all(math.isfinite(v) for v in out.values())
    for t_old, t_new, c in zip(old_target, agent.critics_target.parameters(), agent.critics.parameters(),
                               strict=True):
        assert torch.allclose(t_new, 0.9 * t_old + 0.1 * c, atol=1e-6)


def test_fused_adam_is_the_textbook_adam(monkeypatch):
    """The named speed choice changes nothing: the same seed gives the same agent after 5 updates."""
    agents = []
    for fused in (True, False):
        monkeypatch.setattr(sac, "FUSED_ADAM", fused)
        agent = sac.SAC(3, 1, sac.SACConfig(hidden=16, batch_size=32), torch.Generator().manual_seed(0))
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            agent.update(_batch(32, gen))
        agents.append(agent)
    fused, plain = agents
    for a, b in zip([*fused.actor.parameters(), *fused.critics.parameters()],
                    [*plain.actor.parameters(), *plain.critics.parameters()], strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_same_seed_same_agent():
    a, b = (sac.SAC(3, 1, sac.SACConfig(hidden=8), torch.Generator().manual_seed(3)) for _ in range(2))
    for p, q in zip([*a.actor.parameters(), *a.critics.parameters()],
                    [*b.actor.parameters(), *b.critics.parameters()], strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("best", [0.5, -1.2])
def test_sac_learns_a_one_step_bandit(best):
    """Reward -(a - best)^2, every step terminal: the deterministic action must go to ``best``."""
    gen = torch.Generator().manual_seed(0)
    agent = sac.SAC(2, 1, sac.SACConfig(hidden=32, batch_size=64, lr=3e-3, init_alpha=0.1), gen)
    for _ in range(1500):
        obs = torch.randn(64, 2, generator=gen)
        act = torch.rand(64, 1, generator=gen) * 4 - 2
        agent.update(Batch(obs, act, -((act[:, 0] - best) ** 2), obs, torch.ones(64)))
    greedy = agent.act(torch.randn(32, 2, generator=gen), deterministic=True)
    assert (greedy - best).abs().mean() < 0.1
    assert math.isfinite(agent.log_alpha.item())
