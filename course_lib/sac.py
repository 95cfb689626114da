"""Soft actor-critic (Haarnoja et al., 2018), compact: the off-policy learner of Dyna-style methods.

SAC learns twin critics Q_1, Q_2 and a tanh-squashed Gaussian policy pi by minimising

    critic:  sum_j (Q_j(s, a) - y)^2,   y = r + gamma (1 - d) [min_j Qbar_j(s', a') - alpha log pi(a'|s')],
             a' ~ pi(.|s')  (the *soft* target; Qbar are slowly tracking target critics)
    actor:   alpha log pi(a~|s) - min_j Q_j(s, a~),   a~ ~ pi(.|s) by reparameterisation
    alpha:   -log alpha (log pi(a~|s) + H_target),    H_target = -act_dim

The soft target y is not in this module: ``SAC`` takes it as an argument (``soft_target``,
Exercise 3.4 of the notebook),

    soft_target(rew (B,), done (B,), next_q (2, B), next_log_prob (B,), alpha, gamma) -> y (B,),

with next_q the two target critics at (s', a'). The losses are module-level functions.
``SAC.update`` takes one batch and makes one gradient step of all three. For speed it (1) runs
both critics as one batched network, (2) adds the three losses and makes a single backward pass
and a single Adam step (the actor's loss sees the critics through detached weights, so each
loss only moves its own parameters; the actor step uses the critics of before this step's
critic update), (3) keeps all parameters in one flat tensor, so that Adam and the target
critics' Polyak averaging are a few whole-tensor operations (:class:`FlatAdam`), (4) computes
the target under ``torch.no_grad`` and never calls ``.item()`` inside the update.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from course_lib.buffers import Batch

__all__ = ["SACConfig", "TwinQ", "Actor", "FlatAdam", "SAC", "SoftTarget", "critic_loss", "actor_loss",
           "alpha_loss"]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0

SoftTarget = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | float", float],
                      torch.Tensor]
"""soft_target(rew, done, next_q (2, B), next_log_prob, alpha, gamma) -> y (B,) (Exercise 3.4)."""


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


def _mlp_dims(d_in: int, d_out: int, cfg: SACConfig) -> list[tuple[int, int]]:
    dims = [d_in] + [cfg.hidden] * cfg.n_layers + [d_out]
    return list(zip(dims[:-1], dims[1:], strict=True))


class TwinQ(nn.Module):
    """Two critics Q_1, Q_2 as one batched network: weights (2, in, out), one baddbmm per layer."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: SACConfig, generator: torch.Generator):
        super().__init__()
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for d_in, d_out in _mlp_dims(obs_dim + act_dim, 1, cfg):
            bound = 1.0 / math.sqrt(d_in)  # PyTorch's default nn.Linear initialisation range
            w = (torch.rand(2, d_in, d_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(2, 1, d_out, generator=generator) * 2 - 1) * bound
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, obs: torch.Tensor, act: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """obs (B, o), act (B, a) -> Q values (2, B). ``detach``: no gradient to the weights."""
        h = torch.cat([obs, act], dim=-1).expand(2, -1, -1)
        n = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if detach:
                w, b = w.detach(), b.detach()
            h = torch.baddbmm(b, h, w)
            if i < n - 1:
                h = h.relu_()  # in place: saves one allocation per layer
        return h.squeeze(-1)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy: obs -> (mean, log_std) -> a = action_scale * tanh(u)."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: SACConfig):
        super().__init__()
        dims = _mlp_dims(obs_dim, 2 * act_dim, cfg)
        layers: list[nn.Module] = []
        for d_in, d_out in dims[:-1]:
            layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Linear(*dims[-1]))
        self.scale = cfg.action_scale

    def forward(self, obs: torch.Tensor, generator: torch.Generator | None = None,
                deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (B, o) -> action (B, a) and its log-probability (B,) (reparameterised sample)."""
        mean, log_std = self.body(obs).chunk(2, dim=-1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.zeros_like(mean) if deterministic else torch.randn(
            mean.shape, generator=generator, dtype=mean.dtype)
        u = mean + log_std.exp() * noise
        # log N(u; mean, std) minus the log-determinant of a = scale * tanh(u)
        log_prob = (-0.5 * noise**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2 * (math.log(2.0) - u - F.softplus(-2 * u)) + math.log(self.scale)).sum(-1)
        return self.scale * torch.tanh(u), log_prob


def critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the two critics of the mean squared error to the target: q (2, B), target (B,)."""
    return 0.5 * ((q - target) ** 2).mean(dim=1).sum()


def actor_loss(q_pi: torch.Tensor, log_prob: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """E[alpha log pi(a~|s) - min_j Q_j(s, a~)]: q_pi (2, B), log_prob (B,)."""
    return (alpha * log_prob - q_pi.min(dim=0).values).mean()


def alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Temperature loss -log alpha * (log pi + H_target), log_prob (B,) detached."""
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


def flatten_into(params: list[torch.Tensor], flat: torch.Tensor) -> None:
    """Make every tensor in ``params`` a view into ``flat`` (same values): one tensor to update."""
    offset = 0
    for p in params:
        n = p.numel()
        flat[offset:offset + n].copy_(p.detach().reshape(-1))
        p.data = flat[offset:offset + n].view_as(p)
        offset += n


class FlatAdam:
    """Adam (Kingma & Ba, 2015) on parameters stored in one flat tensor: a handful of ops per step.

    ``torch.optim.Adam`` loops over parameter tensors in Python; here parameters and gradients are
    views into one flat tensor each, so the whole update is five tensor operations.
    """

    def __init__(self, params: list[nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        n = sum(p.numel() for p in params)
        self.param, self.grad = torch.zeros(n), torch.zeros(n)
        flatten_into(params, self.param)
        offset = 0
        for p in params:  # gradients accumulate in place into views of self.grad
            p.grad = self.grad[offset:offset + p.numel()].view_as(p)
            offset += p.numel()
        self.m, self.v = torch.zeros(n), torch.zeros(n)
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0

    def zero_grad(self) -> None:
        self.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(self.grad, 1 - b1)  # m <- b1 m + (1 - b1) g
        self.v.mul_(b2).addcmul_(self.grad, self.grad, value=1 - b2)  # v <- b2 v + (1 - b2) g^2
        denom = (self.v / (1 - b2**self.t)).sqrt_().add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1**self.t))


class SAC:
    """Actor, twin critics, target critics and temperature, trained by :meth:`update`.

    ``soft_target`` computes the critics' regression target from the target critics (see the
    module docstring); the course passes the one written in the notebook.
    """

    def __init__(self, obs_dim: int, act_dim: int, config: SACConfig, generator: torch.Generator, *,
                 soft_target: SoftTarget):
        self.config, self.generator, self.soft_target = config, generator, soft_target
        with torch.random.fork_rng():  # nn.Linear draws from the global generator: seed it from ours
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
            self.actor = Actor(obs_dim, act_dim, config)
        self.critic = TwinQ(obs_dim, act_dim, config, generator)
        self.target = TwinQ(obs_dim, act_dim, config, generator).requires_grad_(False)
        self.target.load_state_dict(self.critic.state_dict())
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.init_alpha)))
        self.target_entropy = -float(act_dim)
        self.params = [*self.critic.parameters(), *self.actor.parameters(), self.log_alpha]
        self.opt = FlatAdam(self.params, lr=config.lr)  # the critics are its first n_critic entries
        self.n_critic = sum(p.numel() for p in self.critic.parameters())
        self.target_flat = torch.zeros(self.n_critic)
        flatten_into(list(self.target.parameters()), self.target_flat)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None,
            deterministic: bool = False) -> torch.Tensor:
        """Actions (B, a) for observations (B, o): sampled, or the mean's action if deterministic."""
        return self.actor(obs, generator if generator is not None else self.generator, deterministic)[0]

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient step of critics, actor and temperature on ``batch``; returns detached losses."""
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_act, next_logp = self.actor(batch.next_obs, self.generator)
            y = self.soft_target(batch.rew, batch.done, self.target(batch.next_obs, next_act), next_logp,
                                 alpha, self.config.gamma)
        l_critic = critic_loss(self.critic(batch.obs, batch.act), y)
        act_pi, logp = self.actor(batch.obs, self.generator)
        l_actor = actor_loss(self.critic(batch.obs, act_pi, detach=True), logp, alpha)
        l_alpha = alpha_loss(self.log_alpha, logp, self.target_entropy)
        self.opt.zero_grad()
        (l_critic + l_actor + l_alpha).backward()
        self.opt.step()
        with torch.no_grad():  # Polyak averaging of the target critics: Qbar <- Qbar + tau (Q - Qbar)
            self.target_flat.lerp_(self.opt.param[:self.n_critic], self.config.tau)
        return {"critic": l_critic.detach(), "actor": l_actor.detach(), "alpha": alpha}
