"""Part 2, MBRL v2.5: REINFORCE pieces on exact cases, and training inside a learned model."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from course_lib import envs, policy_gradient
from course_lib.utils import torch_generator


def test_reinforce_loss_weighs_log_probs_by_the_normalised_reward_to_go():
    policy = policy_gradient.GaussianPolicy(generator=torch_generator(0))
    obs = policy_gradient.pendulum_starts(6, torch_generator(1)).reshape(2, 3, 3)
    act = torch.randn(2, 3, 1, generator=torch_generator(2))
    rew = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    g = torch.tensor([[1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0],  # sum_{t' >= t} 0.5^(t' - t) r_t'
                      [0 + 0.5 * -1 + 0.25 * 4, -1 + 0.5 * 4, 4.0]])
    adv = g - g.mean(0, keepdim=True)
    adv = adv / (adv.std() + 1e-8)
    logp = policy.log_prob(obs.reshape(-1, 3), act.reshape(-1, 1)).reshape(2, 3)
    loss = policy_gradient.reinforce_loss(policy, obs, act, rew, 0.5)
    torch.testing.assert_close(loss, -(logp * adv).mean())


def test_policy_log_prob_is_a_gaussian_and_sampling_uses_the_generator():
    policy = policy_gradient.GaussianPolicy(init_std=0.7, generator=torch_generator(0))
    obs = policy_gradient.pendulum_starts(5, torch_generator(1))
    act = torch.randn(5, 1, generator=torch_generator(2))
    want = torch.distributions.Normal(policy(obs), 0.7).log_prob(act).sum(-1)
    torch.testing.assert_close(policy.log_prob(obs, act), want)
    a1 = policy.sample(obs, torch_generator(3))
    a2 = policy.sample(obs, torch_generator(3))
    assert torch.equal(a1, a2) and a1.shape == (5, 1)
    assert (policy(obs).abs() <= 2).all()


def test_reinforce_gradient_moves_actions_towards_higher_reward():
    policy = policy_gradient.GaussianPolicy(generator=torch_generator(0))
    gen = torch_generator(1)
    obs = policy_gradient.pendulum_starts(512, gen)[:, None].expand(512, 4, 3)
    act = policy.sample(obs.reshape(-1, 3), gen).reshape(512, 4, 1).detach()
    rew = act[..., 0]  # reward = action: the gradient must push the mean action up
    loss = policy_gradient.reinforce_loss(policy, obs, act, rew, gamma=1.0)
    loss.backward()
    with torch.no_grad():
        before = policy(obs.reshape(-1, 3)).mean()
        for p in policy.parameters():
            p -= 0.05 * p.grad
        assert policy(obs.reshape(-1, 3)).mean() > before


def test_rollout_shapes_and_real_step_is_the_true_pendulum():
    policy = policy_gradient.GaussianPolicy(generator=torch_generator(0))
    obs0 = policy_gradient.pendulum_starts(6, torch_generator(1))
    obs, act, rew = policy_gradient.simulate(policy_gradient.real_step, policy, obs0, 7, torch_generator(2))
    assert obs.shape == (6, 7, 3) and act.shape == (6, 7, 1) and rew.shape == (6, 7)
    nxt, r = envs.pendulum_step_obs(obs[:, 0].double(), act[:, 0].double())
    torch.testing.assert_close(obs[:, 1], nxt.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rew[:, 0], r.float(), atol=1e-4, rtol=1e-5)
    starts = policy_gradient.pendulum_starts(1000, torch_generator(3))
    theta = envs.pendulum_state(starts)
    assert theta[:, 1].abs().max() <= 1 and math.isclose(float(torch.norm(starts[0, :2])), 1.0, abs_tol=1e-5)


def test_one_thread_restores_the_thread_count():
    from course_lib.utils import one_thread

    n = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == n


@pytest.mark.slow
def test_v25_policy_improves_in_the_model_and_the_gap_grows_with_the_horizon():
    model, buf, log = policy_gradient.fit_pendulum_model(policy_gradient.ModelDataConfig(n_transitions=300))
    assert len(buf) == 300 and not log.diverged
    gen = torch_generator(1)
    policy = policy_gradient.GaussianPolicy(generator=gen)
    initial = copy.deepcopy(policy)
    pg_log = policy_gradient.train_in_model(model.mean_step, policy, policy_gradient.PGConfig(), gen)
    assert pg_log.iteration[-1] == 100 and len(pg_log.model_return) == len(pg_log.real_return)
    assert pg_log.model_return[-1] > pg_log.model_return[0] + 300  # it learns, in the model
    obs0 = policy_gradient.pendulum_starts(256, torch_generator(0))
    gaps = {}
    for name, pi in (("initial", initial), ("trained", policy)):
        model_ret, real_ret = policy_gradient.model_vs_real_returns(model.mean_step, pi, obs0, 200)
        gaps[name] = np.abs(model_ret - real_ret).mean(0)
        assert gaps[name][199] > 5 * gaps[name][9] and gaps[name][49] > gaps[name][9]
    print({k: (v[9], v[49], v[199]) for k, v in gaps.items()}, pg_log.model_return[-1],
          pg_log.real_return[-1])
    assert gaps["trained"][199] > gaps["initial"][199]  # the trained policy exploits the model
    assert pg_log.model_return[-1] > pg_log.real_return[-1] + 100  # ... and the model over-promises
