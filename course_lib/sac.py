"""Soft actor-critic (Haarnoja et al., 2018): the off-policy learner of Dyna-style methods.

Written to read like CleanRL's ``sac_continuous_action.py`` and Spinning Up's SAC: two critics
and their slowly tracking target copies, a tanh-squashed Gaussian actor, a learned temperature
alpha, one ``torch.optim.Adam`` per part. One :meth:`SAC.update` on a batch (s, a, r, s', d):

    1. critics:     minimise sum_j (Q_j(s, a) - y)^2 with the soft target
                        y = r + gamma (1 - d) [min_j Qbar_j(s', a') - alpha log pi(a'|s')],  a' ~ pi(.|s')
    2. actor:       minimise alpha log pi(a~|s) - min_j Q_j(s, a~),  a~ ~ pi(.|s) reparameterised
    3. temperature: minimise -log alpha (log pi(a~|s) + H_target),   H_target = -act_dim
    4. targets:     Qbar_j <- (1 - tau) Qbar_j + tau Q_j   (Polyak averaging)

The target y is a replaceable piece (``value_target``): the notebook's MBPO passes its own, built
from Exercise 3.4's ``mve_target`` (with H = 1 it is the soft target above). Shapes: a batch of B
transitions, observations (B, o), actions (B, a), rewards and dones (B,).

Two speed choices, named, neither changing the algorithm: the two critics run as one batched
network (:class:`CriticPair`, built from two :class:`QNetwork`), and Adam uses its fused kernel
(``torch.optim.Adam(..., fused=True)``: one kernel for all of a network's parameters).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.buffers import Batch

__all__ = ["SACConfig", "QNetwork", "CriticPair", "Actor", "SAC", "ValueTarget", "soft_target", "FUSED_ADAM"]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
FUSED_ADAM = True
"""The speed choice: Adam's fused kernel (``fused=True``). False gives the textbook for-loop Adam."""

Policy = Callable[[torch.Tensor], torch.Tensor]
SoftQ = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ValueTarget = Callable[[Batch, Policy, SoftQ, float], torch.Tensor]
"""value_target(batch, policy, soft_q, gamma) -> y (B,), the critics' regression target.

``policy(s (B, o)) -> a (B, a)`` samples the current policy; ``soft_q(s, a) -> (B,)`` is
min_j Qbar_j(s, a) - alpha log pi(a|s), the soft value of an action ``policy`` just sampled at s."""


@dataclass(frozen=True)
class SACConfig:
    """Hyperparameters of SAC (defaults: Stable-Baselines3's SAC defaults)."""

    hidden: int = 256
    """Width of the hidden layers of actor and critics."""
    n_layers: int = 2
    """Number of hidden layers."""
    lr: float = 3e-4
    """Adam learning rate of actor, critics and temperature."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Target critics track the critics: Qbar <- (1 - tau) Qbar + tau Q after every update."""
    batch_size: int = 256
    """Transitions per gradient step."""
    init_alpha: float = 1.0
    """Initial temperature alpha (tuned automatically towards the target entropy)."""
    action_scale: float = 2.0
    """Actions are tanh(u) * action_scale (Pendulum's torque limit is 2)."""


def mlp(d_in: int, d_out: int, cfg: SACConfig) -> nn.Sequential:
    """``cfg.n_layers`` hidden ReLU layers of width ``cfg.hidden``, then a linear output layer."""
    layers: list[nn.Module] = []
    for _ in range(cfg.n_layers):
        layers += [nn.Linear(d_in, cfg.hidden), nn.ReLU()]
        d_in = cfg.hidden
    return nn.Sequential(*layers, nn.Linear(d_in, d_out))


class QNetwork(nn.Module):
    """A critic Q(s, a): obs (B, o), act (B, a) -> (B,)."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: SACConfig):
        super().__init__()
        self.net = mlp(obs_dim + act_dim, 1, cfg)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], dim=-1)).squeeze(-1)


class CriticPair(nn.Module):
    """The two critics Q_1, Q_2 as one batched network: obs (B, o), act (B, a) -> (2, B).

    The speed choice of this module: the same two networks as ``q1`` and ``q2`` (it copies their
    weights), but each layer of both is one batched matrix product (``torch.baddbmm``) with weights
    of shape (2, in, out), which halves the number of operations per update.
    """

    def __init__(self, q1: QNetwork, q2: QNetwork):
        super().__init__()
        pairs = [(a, b) for a, b in zip(q1.net, q2.net, strict=True) if isinstance(a, nn.Linear)]
        self.weights = nn.ParameterList(nn.Parameter(torch.stack([a.weight.T, b.weight.T]).detach().clone())
                                        for a, b in pairs)
        self.biases = nn.ParameterList(nn.Parameter(torch.stack([a.bias, b.bias])[:, None].detach().clone())
                                       for a, b in pairs)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        h = torch.cat([obs, act], dim=-1).expand(2, -1, -1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)  # (2, B, in) x (2, in, out) + (2, 1, out)
            if i < len(self.weights) - 1:
                h = torch.relu(h)
        return h.squeeze(-1)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy: obs -> (mean, log_std) of u, action a = action_scale * tanh(u)."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: SACConfig):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, cfg)
        self.scale = cfg.action_scale

    def forward(self, obs: torch.Tensor, generator: torch.Generator | None = None,
                deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (B, o) -> action (B, a) and its log-probability (B,) (a reparameterised sample)."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.zeros_like(mean) if deterministic else torch.randn(
            mean.shape, generator=generator, dtype=mean.dtype)
        u = mean + log_std.exp() * noise
        return self.scale * torch.tanh(u), self._log_prob(u, noise, log_std)

    def _log_prob(self, u: torch.Tensor, noise: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
        """log N(u; mean, std) minus the log-determinant of a = scale tanh(u), summed over actions."""
        gauss = (-0.5 * noise**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log |da/du| = log scale + log(1 - tanh(u)^2), written stably as below (as in CleanRL/SB3)
        return gauss - (2 * (math.log(2.0) - u - F.softplus(-2 * u)) + math.log(self.scale)).sum(-1)

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """log pi(act | obs) (B,) of a given action, by inverting the tanh (inexact at |a| = scale)."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        u = torch.atanh((act / self.scale).clamp(-1 + 1e-6, 1 - 1e-6))
        return self._log_prob(u, (u - mean) / log_std.exp(), log_std)


def soft_target(batch: Batch, policy: Policy, soft_q: SoftQ, gamma: float) -> torch.Tensor:
    """SAC's target y = r + gamma (1 - d) [min_j Qbar_j(s', a') - alpha log pi(a'|s')], a' ~ pi(.|s')."""
    next_act = policy(batch.next_obs)
    return batch.rew + gamma * (1.0 - batch.done) * soft_q(batch.next_obs, next_act)


class SAC:
    """Actor, the two critics, their target copies and the temperature, trained by :meth:`update`.

    ``value_target`` (a :data:`ValueTarget`) computes the critics' regression target; by default
    :func:`soft_target`.
    """

    def __init__(self, obs_dim: int, act_dim: int, config: SACConfig, generator: torch.Generator, *,
                 value_target: ValueTarget = soft_target):
        self.config, self.generator, self.value_target = config, generator, value_target
        with torch.random.fork_rng():  # nn.Linear draws from the global generator: seed it from ours
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
            self.actor = Actor(obs_dim, act_dim, config)
            self.critics = CriticPair(QNetwork(obs_dim, act_dim, config), QNetwork(obs_dim, act_dim, config))
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.init_alpha), requires_grad=True)
        self.target_entropy = -float(act_dim)
        adam = dict(lr=config.lr, fused=FUSED_ADAM or None)
        self.q_optimizer = torch.optim.Adam(self.critics.parameters(), **adam)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), **adam)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], **adam)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None,
            deterministic: bool = False) -> torch.Tensor:
        """Actions (B, a) for observations (B, o): sampled, or the mean's action if deterministic."""
        return self.actor(obs, generator if generator is not None else self.generator, deterministic)[0]

    def bootstrap(self, alpha: float) -> tuple[Policy, SoftQ]:
        """``policy`` and ``soft_q`` for a value target (see :data:`ValueTarget`), without gradients.

        ``policy`` samples a' ~ pi(.|s) and remembers log pi(a'|s), which ``soft_q(s, a')`` uses
        (for another action it computes log pi(a|s) by inverting the tanh).
        """
        last = {}

        def policy(obs: torch.Tensor) -> torch.Tensor:
            act, last["log_prob"] = self.actor(obs, self.generator)
            last["act"] = act
            return act

        def soft_q(obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
            log_prob = last["log_prob"] if act is last.get("act") else self.actor.log_prob(obs, act)
            return self.critics_target(obs, act).min(dim=0).values - alpha * log_prob

        return policy, soft_q

    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient step of critics, actor and temperature on ``batch``; returns the losses."""
        alpha = self.log_alpha.exp().item()
        # 1. critics: regress both on the target y
        with torch.no_grad():
            y = self.value_target(batch, *self.bootstrap(alpha), self.config.gamma)
        q1, q2 = self.critics(batch.obs, batch.act)
        q_loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        self.q_optimizer.zero_grad()
        q_loss.backward()
        self.q_optimizer.step()
        # 2. actor: the smaller critic of a reparameterised action, plus the entropy bonus
        self.critics.requires_grad_(False)  # as Spinning Up: no gradients for the critics' weights here
        act, log_prob = self.actor(batch.obs, self.generator)
        min_q = self.critics(batch.obs, act).min(dim=0).values
        actor_loss = (alpha * log_prob - min_q).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        self.critics.requires_grad_(True)
        # 3. temperature: towards the target entropy
        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        self.alpha_optimizer.zero_grad()
        alpha_loss.backward()
        self.alpha_optimizer.step()
        # 4. target critics: Polyak averaging
        with torch.no_grad():
            for p, p_target in zip(self.critics.parameters(), self.critics_target.parameters(), strict=True):
                p_target.lerp_(p, self.config.tau)
        return {"critic": q_loss.item(), "actor": actor_loss.item(), "alpha": alpha}
