"""The torch pendulum is gymnasium's Pendulum-v1."""

from __future__ import annotations

import numpy as np
import torch

from course_lib import envs


def test_pendulum_step_matches_gymnasium_env_step_over_200_steps():
    """Every step of 3 episodes, from the env's own state: same observation and reward."""
    env, _ = envs.make_pendulum(seed=0)
    rng = np.random.default_rng(0)
    for episode in range(3):
        env.reset(seed=episode)
        worst_obs, worst_reward = 0.0, 0.0
        for _ in range(200):
            u = rng.uniform(-3, 3, size=1).astype(np.float32)  # includes torques the env clips
            state = torch.tensor(env.unwrapped.state, dtype=torch.float64)
            nxt, r = envs.pendulum_step(state, torch.tensor(u, dtype=torch.float64))
            obs, reward, *_ = env.step(u)
            worst_obs = max(worst_obs, float(np.abs(envs.pendulum_obs(nxt).numpy() - obs).max()))
            worst_reward = max(worst_reward, abs(float(r) - reward))
        assert worst_obs < 1e-5 and worst_reward < 1e-5, (episode, worst_obs, worst_reward)


def test_free_running_rollout_stays_close_to_gymnasium_while_swinging_gently():
    """200 steps without re-syncing, small torques: rounding differences stay tiny."""
    env, _ = envs.make_pendulum(seed=0)
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.5, 0.0])
    state = torch.tensor([0.5, 0.0], dtype=torch.float64)
    for t in range(200):
        u = np.array([0.5 * np.sin(t / 10)], dtype=np.float32)
        obs, *_ = env.step(u)
        state, _ = envs.pendulum_step(state, torch.tensor(u, dtype=torch.float64))
        assert np.abs(envs.pendulum_obs(state).numpy() - obs).max() < 1e-5, t


def test_pendulum_step_is_batched_and_differentiable():
    state = torch.zeros(5, 7, 2, requires_grad=True)
    action = torch.ones(5, 7, 1, requires_grad=True)
    nxt, r = envs.pendulum_step(state, action)
    assert nxt.shape == (5, 7, 2) and r.shape == (5, 7)
    (nxt.sum() + r.sum()).backward()
    assert torch.isfinite(action.grad).all() and action.grad.abs().sum() > 0


def test_obs_state_round_trip():
    state = torch.tensor([[0.3, -1.0], [-3.0, 7.5]])
    back = envs.pendulum_state(envs.pendulum_obs(state))
    assert torch.allclose(back, state, atol=1e-6)


def test_pendulum_step_rejects_wrong_shapes_with_a_message():
    import pytest

    with pytest.raises(ValueError, match="state: expected last dimension 2"):
        envs.pendulum_step(torch.zeros(4, 3), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="action: expected last dimension 1"):
        envs.pendulum_step(torch.zeros(4, 2), torch.zeros(4))
