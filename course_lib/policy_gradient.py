"""MBRL v2.5: learn a Pendulum model from random data, then train a policy by REINFORCE inside it.

The loop of the lecture: collect real data -> fit a dynamics model -> sample many long
trajectories *in the model* with the current policy -> improve the policy with the
likelihood-ratio gradient (no Jacobian of the model is ever needed) -> repeat. We then run the
policy in the real environment and compare the return the model promised with the return it gets.

REINFORCE with reward-to-go and a per-step batch-mean baseline:
    grad J ~ (1/N) sum_i sum_t grad log pi(a_it | s_it) (G_it - b_t),  G_it = sum_{t'>=t} gamma^(t'-t) r_it'.
Its surrogate loss is Exercise 2.3: :func:`train_in_model` takes it as an argument
(:data:`LossFn`), and :func:`v25_over_seeds` repeats the whole loop for several data seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from course_lib import buffers, dynamics, envs
from course_lib.utils import one_thread

__all__ = [
    "ModelDataConfig",
    "fit_pendulum_model",
    "pendulum_starts",
    "GaussianPolicy",
    "simulate",
    "LossFn",
    "PGConfig",
    "PGLog",
    "train_in_model",
    "model_vs_real_returns",
    "real_step",
    "SeedsConfig",
    "SeedRuns",
    "v25_over_seeds",
]

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
"""REINFORCE's surrogate loss ``(log_prob (B, H), rew (B, H), gamma) -> scalar`` (Exercise 2.3):
its gradient is minus the REINFORCE estimate (up to the factor 1/(B H))."""


@dataclass(frozen=True)
class ModelDataConfig:
    """How the learned Pendulum model is made: random-torque data, then a small ensemble."""

    n_transitions: int = 3000
    """Real transitions collected with uniformly random torques (15 episodes of 200 steps)."""
    seed: int = 0
    """Seed of the environment resets, the torques and the network initialisation."""
    ensemble: dynamics.EnsembleConfig = field(default_factory=lambda: dynamics.EnsembleConfig(
        n_members=3, n_elites=3, hidden=64, n_layers=2, probabilistic=False, lr=3e-3,
        max_epochs=200, patience=15))
    """Architecture and training of the ensemble (deterministic members, mean of elites)."""


def fit_pendulum_model(config: ModelDataConfig = ModelDataConfig(), *, progress: bool = False
                       ) -> tuple[dynamics.DynamicsEnsemble, buffers.ReplayBuffer, dynamics.TrainLog]:
    """Collect ``n_transitions`` with random torques in gymnasium's Pendulum-v1 and fit an ensemble.

    Returns (model, buffer, log); ``model.mean_step(obs (B, 3), act (B, 1))`` is the learned step.
    """
    if config.n_transitions < 2:
        raise ValueError(f"n_transitions: expected at least 2, got {config.n_transitions}")
    env, _ = envs.make_pendulum(seed=config.seed)
    rng = np.random.default_rng(config.seed)
    buf = buffers.ReplayBuffer(config.n_transitions, obs_dim=3, act_dim=1)
    buffers.collect(env, lambda obs: rng.uniform(-2.0, 2.0, size=1), config.n_transitions, buf,
                    seed=config.seed, progress=progress, desc="random-torque data")
    gen = torch.Generator().manual_seed(config.seed)
    with one_thread():
        model = dynamics.DynamicsEnsemble(3, 1, config.ensemble, gen)
        data = buf.all()
        log = dynamics.train_ensemble(model, data.obs, data.act, data.next_obs, data.rew, gen,
                                      progress=progress)
    model.requires_grad_(False)
    return model, buf, log


def real_step(obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The true Pendulum-v1 step in observation space, float32 in and out (the 'real world')."""
    next_obs, rew = envs.pendulum_step_obs(obs.double(), act.double())
    return next_obs.float(), rew.float()


def pendulum_starts(n: int, generator: torch.Generator) -> torch.Tensor:
    """n start observations from Pendulum-v1's reset distribution (theta ~ U[-pi, pi], theta_dot ~ U[-1, 1]).

    Returns (n, 3) float32.
    """
    theta = (torch.rand(n, generator=generator) * 2 - 1) * math.pi
    theta_dot = torch.rand(n, generator=generator) * 2 - 1
    return envs.pendulum_obs(torch.stack([theta, theta_dot], dim=-1))


class GaussianPolicy(nn.Module):
    """pi(a | s) = N(2 tanh(MLP(s)), sigma^2) with a learned, state-independent log sigma."""

    def __init__(self, hidden: int = 32, init_std: float = 1.0, *, generator: torch.Generator):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
            self.net = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                     nn.Tanh(), nn.Linear(hidden, 1))
        self.log_std = nn.Parameter(torch.full((1,), math.log(init_std)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Mean action (B, 1) of observations (B, 3)."""
        return 2.0 * torch.tanh(self.net(obs))

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """log pi(a | s) for obs (B, 3), act (B, 1). Returns (B,)."""
        z = (act - self(obs)) / self.log_std.exp()
        return (-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def sample(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One action per observation: mean + sigma * noise. Returns (B, 1)."""
        mean = self(obs)
        return mean + self.log_std.exp() * torch.randn(mean.shape, generator=generator)


@torch.no_grad()
def simulate(step: StepFn, policy: GaussianPolicy, obs0: torch.Tensor, horizon: int,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Roll ``policy`` for ``horizon`` steps through ``step`` (the model or the real dynamics).

    obs0: (B, 3). Without a generator the policy acts with its mean. Returns obs (B, H, 3),
    act (B, H, 1), rew (B, H), where obs[:, t] is the state in which act[:, t] was taken.
    """
    obs, acts, rews = [], [], []
    o = obs0
    for _ in range(horizon):
        a = policy(o) if generator is None else policy.sample(o, generator)
        o_next, r = step(o, a)
        obs.append(o)
        acts.append(a)
        rews.append(r)
        o = o_next
    return torch.stack(obs, 1), torch.stack(acts, 1), torch.stack(rews, 1)


@dataclass(frozen=True)
class PGConfig:
    """REINFORCE inside the learned model."""

    horizon: int = 100
    """Length H of every model rollout (long: half a Pendulum episode)."""
    n_rollouts: int = 64
    """Model rollouts per policy update."""
    n_iters: int = 60
    """Policy updates."""
    lr: float = 1e-2
    """Adam learning rate."""
    gamma: float = 0.99
    """Discount of the reward-to-go."""
    eval_every: int = 10
    """Iterations between evaluations of the mean policy in the model and in reality."""
    eval_starts: int = 64
    """Start states of each evaluation (the same ones every time)."""
    eval_horizon: int = 200
    """Length of the evaluation rollouts (a full Pendulum episode)."""


@dataclass
class PGLog:
    """What happened while training in the model."""

    iteration: list[int] = field(default_factory=list)
    """Iterations at which the policy was evaluated."""
    model_return: list[float] = field(default_factory=list)
    """Mean return over eval_horizon steps that the model predicts for the mean policy."""
    real_return: list[float] = field(default_factory=list)
    """Mean return over eval_horizon steps the mean policy gets in the real Pendulum."""


def train_in_model(model_step: StepFn, policy: GaussianPolicy, reinforce_loss: LossFn, config: PGConfig,
                   generator: torch.Generator, *, progress: bool = False) -> PGLog:
    """MBRL v2.5: REINFORCE on rollouts of length H sampled only from ``model_step``.

    Every update: n_rollouts start states, H steps of the policy in the model, the log-probability
    of every action taken, ``reinforce_loss(log_prob (B, H), rew (B, H), gamma)`` (Exercise 2.3),
    one Adam step. The real dynamics are used only to *evaluate* the policy (logged), never to train it.
    """
    from tqdm.auto import tqdm

    eval_obs = pendulum_starts(config.eval_starts, torch.Generator().manual_seed(12345))
    opt = torch.optim.Adam(policy.parameters(), lr=config.lr)
    log = PGLog()
    # the bar counts updates, so it ends (green) at n_iters of n_iters
    bar = tqdm(total=config.n_iters, desc="REINFORCE in the model", disable=not progress)
    with one_thread(), bar:
        for it in range(config.n_iters + 1):
            if it % config.eval_every == 0 or it == config.n_iters:
                for step, out in ((model_step, log.model_return), (real_step, log.real_return)):
                    out.append(float(simulate(step, policy, eval_obs, config.eval_horizon)[2].sum(1).mean()))
                log.iteration.append(it)
            if it == config.n_iters:
                break
            obs, act, rew = simulate(model_step, policy, pendulum_starts(config.n_rollouts, generator),
                                    config.horizon, generator)
            log_prob = policy.log_prob(obs.reshape(-1, obs.shape[-1]), act.reshape(-1, act.shape[-1]))
            loss = reinforce_loss(log_prob.reshape(rew.shape), rew, config.gamma)
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update()
    return log


def model_vs_real_returns(model_step: StepFn, policy: GaussianPolicy, obs0: torch.Tensor,
                          horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative return sum_{t<h} r_t of the mean policy for h = 1..horizon, in the model and for real.

    Both start from the same obs0 (B, 3). Returns (model, real), each (B, horizon).
    """
    with one_thread():
        model_rew = simulate(model_step, policy, obs0, horizon)[2]
        real_rew = simulate(real_step, policy, obs0, horizon)[2]
    return model_rew.cumsum(1).numpy(), real_rew.cumsum(1).numpy()


@dataclass(frozen=True)
class SeedsConfig:
    """MBRL v2.5 repeated on several data sets: only the random transitions change."""

    data_seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
    """Seeds of the random-torque data (and of the model's initialisation)."""
    n_transitions: int = 300
    """Real transitions per data set."""
    policy_seed: int = 1
    """Seed of the policy's initialisation and of REINFORCE's sampling: the same for every data set."""
    pg: PGConfig = PGConfig()
    """REINFORCE inside each model."""
    n_starts: int = 128
    """Start states of the step-by-step comparison of promise and reality."""
    horizon: int = 200
    """Steps of that comparison (a full Pendulum episode)."""


@dataclass
class SeedRuns:
    """Promise and reality of MBRL v2.5, one row per data seed."""

    data_seeds: np.ndarray
    """(S,) the data seeds."""
    iteration: np.ndarray
    """(K,) policy updates at which the mean policy was evaluated."""
    model_return: np.ndarray
    """(S, K) return over eval_horizon steps the model promises, at each evaluation."""
    real_return: np.ndarray
    """(S, K) return the real pendulum gives, at each evaluation."""
    promised: np.ndarray
    """(2, S, horizon) mean cumulative return of the first h steps in the model; [0] before, [1] after."""
    real: np.ndarray
    """(2, S, horizon) the same in the real pendulum."""
    gap: np.ndarray
    """(2, S, horizon) mean over start states of |model - real| cumulative return."""


def v25_over_seeds(reinforce_loss: LossFn, config: SeedsConfig = SeedsConfig(), *,
                   progress: bool = False) -> SeedRuns:
    """For each data seed: fit a model to ``n_transitions`` random transitions, train the same
    initial policy in it with ``reinforce_loss`` (Exercise 2.3), and compare, from the same start
    states, the return the model promises with the real one, before and after training."""
    import copy

    obs0 = pendulum_starts(config.n_starts, torch.Generator().manual_seed(2024))
    runs = []
    for seed in config.data_seeds:
        model, _, _ = fit_pendulum_model(ModelDataConfig(n_transitions=config.n_transitions, seed=seed))
        gen = torch.Generator().manual_seed(config.policy_seed)
        policy = GaussianPolicy(generator=gen)
        initial = copy.deepcopy(policy)
        log = train_in_model(model.mean_step, policy, reinforce_loss, config.pg, gen, progress=progress)
        runs.append((log, [model_vs_real_returns(model.mean_step, pi, obs0, config.horizon)
                           for pi in (initial, policy)]))
    curves = np.array([cs for _, cs in runs])  # (S, 2 policies, 2 worlds, B, horizon)
    return SeedRuns(
        data_seeds=np.array(config.data_seeds), iteration=np.array(runs[0][0].iteration),
        model_return=np.array([log.model_return for log, _ in runs]),
        real_return=np.array([log.real_return for log, _ in runs]),
        promised=curves[:, :, 0].mean(-2).transpose(1, 0, 2),
        real=curves[:, :, 1].mean(-2).transpose(1, 0, 2),
        gap=np.abs(curves[:, :, 0] - curves[:, :, 1]).mean(-2).transpose(1, 0, 2))
