"""Model-accelerated off-policy RL, and MBPO (Janner et al., 2019) as its standard instance.

The system view of the lecture has four boxes and one loop:

    real environment --(act)--> real buffer --(fit)--> model --(short branched rollouts)--> model buffer
           ^                         \\                                                       /
           |                          `----------> off-policy learner (SAC) <---------------'
           `----------------------------- policy -----------'     mixed batches, real ratio

:func:`model_accelerated_rl` is that loop, with the model optional (no model = plain SAC).
MBPO's choices: a probabilistic ensemble with elites, rollouts of k steps branched from
states of the real buffer (k small and growing on a schedule), a model buffer that keeps
only recent rollouts, and batches with a small share of real data.

Three pieces of the loop are the notebook's exercises, and the loop takes them as arguments:

    branched_rollout(real_buffer, model_predict, policy, model_buffer, n_starts, k, generator) -> int
        (Exercise 3.5) k model steps from n_starts real states into the model buffer, each row
        through a random member of model_predict(obs (B, o), act (B, a)) -> (next_obs (E, B, o),
        rew (E, B));
    mixed_batch(real_buffer, model_buffer, batch_size, real_ratio, generator) -> Batch
        (Exercise 3.2) the learner's batch, a share real_ratio of it real;
    soft_target(...)  (Exercise 3.4) SAC's target, see :mod:`course_lib.sac`.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from course_lib import envs
from course_lib.buffers import ReplayBuffer
from course_lib.dynamics import DynamicsEnsemble, EnsembleConfig, train_ensemble
from course_lib.sac import SAC, SACConfig
from course_lib.utils import one_thread

__all__ = ["MBPOConfig", "RunLog", "rollout_length", "elite_predictor", "FiniteReplayBuffer", "evaluate",
           "model_accelerated_rl", "run", "steps_to_threshold", "load_sweep"]


@dataclass(frozen=True)
class MBPOConfig:
    """The loop's schedule, MBPO's model-usage choices, and the learner's and model's settings.

    The defaults are a class-sized MBPO for Pendulum-v1 (small networks, G = 10); the
    committed sweep (``scripts/part3_sweep.py``) uses them too.
    """

    total_steps: int = 2000
    """Real environment steps."""
    init_steps: int = 250
    """Uniformly random actions before any learning (the first model fit uses them)."""
    use_model: bool = True
    """False: no model, the learner trains on real data only (plain SAC)."""
    updates_per_step: int = 10
    """Gradient steps G of the learner per real step (MBPO: 20; plain SAC: 1)."""
    model_every: int = 250
    """Refit the model and make new branched rollouts every F real steps."""
    rollout_starts: int = 10_000
    """Branched rollouts started (from real states) at every refit (MBPO: 400 per real step)."""
    k_schedule: tuple[int, int, int, int] = (1, 4, 500, 1500)
    """(k_min, k_max, start, end): rollout length k grows linearly from k_min at real step
    ``start`` to k_max at ``end``."""
    retain: int = 4
    """The model buffer keeps the rollouts of the last ``retain`` refits."""
    real_ratio: float = 0.3
    """Share of real transitions in each batch (the rest comes from the model buffer). MBPO uses
    0.05 with rollouts every real step; with rollouts refreshed every F steps, 0.05 left our
    runs oscillating (real steps to stay >= -200 for seeds 0/1/2: never/3000/1500 at 0.05,
    1500/1250/1250 at 0.3; ``run(replace(MBPOConfig(), total_steps=3000, real_ratio=r), seed)``)."""
    model_error: float = 0.0
    """Injected model bias (a model that is too fast): the predicted change of state is scaled
    by (1 + model_error). Such errors compound over a rollout's steps."""
    torque_error: float = 0.0
    """Injected model bias (a model wrong about the motor): rollouts ask the model about torque
    (1 - 2 torque_error) a instead of a. 0.5: torque has no effect; 1: it acts backwards."""
    known_reward: bool = False
    """True: rollouts score each simulated step with Pendulum's known reward r(s, a) instead of the
    model's predicted reward (the model then only has to get the dynamics right)."""
    model_noise: bool = False
    """True: rollouts sample the chosen elite's Gaussian, as MBPO does. False: they use its mean.
    Pendulum is deterministic, and the variance learned from little data is too large early on:
    sampling it slowed learning down in our runs (seed 0: -1076 vs -183 after 2000 real steps)."""
    model_epochs: int = 100
    """Most epochs per model refit (early stopping usually ends sooner)."""
    eval_every: int = 250
    """Evaluate the deterministic policy every this many real steps."""
    eval_episodes: int = 10
    """Episodes per evaluation (batched, on Pendulum-v1's exact dynamics, same start states)."""
    sac: SACConfig = field(default_factory=lambda: SACConfig(hidden=64, batch_size=128))
    """The off-policy learner (class-sized: SB3's defaults are 256 units and batch 256)."""
    ensemble: EnsembleConfig = field(default_factory=lambda: EnsembleConfig(
        n_members=7, n_elites=5, hidden=128, n_layers=3, probabilistic=True))
    """The probabilistic dynamics ensemble (7 members, 5 elites, as in MBPO)."""


@dataclass
class RunLog:
    """What one training run did."""

    steps: list[int] = field(default_factory=list)
    """Real steps at each evaluation."""
    returns: list[float] = field(default_factory=list)
    """Mean evaluation return at each evaluation."""
    model_mse: list[float] = field(default_factory=list)
    """Elites' held-out MSE (normalised) after each model refit."""
    k: list[int] = field(default_factory=list)
    """Rollout length used at each refit."""
    buffer_sizes: list[tuple[int, int]] = field(default_factory=list)
    """(real buffer, model buffer) sizes at each evaluation."""
    stopped: str | None = None
    """Why training stopped early (a diverged model), or None."""
    seconds: float = 0.0
    """Wall time of the run."""


def rollout_length(step: int, schedule: tuple[int, int, int, int]) -> int:
    """MBPO's linear schedule: k_min before ``start``, k_max after ``end``, linear in between."""
    k_min, k_max, start, end = schedule
    frac = min(max((step - start) / max(end - start, 1), 0.0), 1.0)
    return int(round(k_min + frac * (k_max - k_min)))


def elite_predictor(model: DynamicsEnsemble, *, model_error: float = 0.0, torque_error: float = 0.0,
                    noise: bool = False, reward_fn: Callable | None = None,
                    generator: torch.Generator | None = None) -> Callable:
    """The elites' predictions, as branched rollouts use them: model_predict(obs (B, o), act (B, a))
    -> (next_obs (E, B, o), rew (E, B)), one row per elite (E = n_elites).

    Each elite gives its Gaussian's mean, or a sample of it if ``noise`` (MBPO's way; drawn from
    ``generator``). Injected model bias, for the sweep: the predicted change of state is scaled
    by 1 + model_error; the model is asked about the action (1 - 2 torque_error) act;
    ``reward_fn(obs, act)``, if given, replaces the predicted reward.
    """
    if noise and generator is None:
        raise ValueError("generator: expected a torch.Generator to sample the elites' Gaussians, got None")

    @torch.no_grad()
    def model_predict(obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        asked = act if torque_error == 0 else (1.0 - 2.0 * torque_error) * act
        x = model.in_norm(torch.cat([obs, asked], dim=-1))
        mean, logvar = model(x.expand(model.config.n_members, *x.shape))
        mean = mean[model.elites]
        if noise and logvar is not None:
            mean = mean + torch.randn(mean.shape, generator=generator) * (0.5 * logvar[model.elites]).exp()
        y = model.out_norm.inverse(mean)
        next_all, rew_all = obs + y[..., :-1], y[..., -1]
        next_all = obs + (1.0 + model_error) * (next_all - obs)
        if reward_fn is not None:
            rew_all = reward_fn(obs, act).expand_as(rew_all)
        return next_all, rew_all

    return model_predict


class FiniteReplayBuffer(ReplayBuffer):
    """The model buffer of the loop: it drops transitions whose prediction is not finite.

    A learned model can predict NaN or inf for a few rows (far outside its data); those rows
    never reach the learner, whatever code rolls the model out.
    """

    def add(self, obs, act, rew, next_obs, done) -> None:
        """Add the transitions whose ``next_obs`` and ``rew`` are finite (see ``ReplayBuffer.add``)."""
        rew_t = torch.as_tensor(np.asarray(rew), dtype=torch.float32).reshape(-1)
        next_t = torch.as_tensor(np.asarray(next_obs), dtype=torch.float32).reshape(len(rew_t), self.obs_dim)
        ok = torch.isfinite(next_t).all(dim=1) & torch.isfinite(rew_t)
        if bool(ok.all()):
            super().add(obs, act, rew, next_obs, done)
        elif bool(ok.any()):
            fields = [torch.as_tensor(np.asarray(x), dtype=torch.float32).reshape(len(ok), -1)
                      for x in (obs, act, rew, next_obs, done)]
            super().add(*(f[ok] for f in fields))


@torch.no_grad()
def evaluate(agent: SAC, n_episodes: int, seed: int = 12345, horizon: int = 200) -> float:
    """Mean return of the deterministic policy over ``n_episodes`` Pendulum-v1 episodes, batched.

    Start states are drawn like gymnasium's reset (theta ~ U(-pi, pi), theta_dot ~ U(-1, 1)) from
    a fixed seed, and stepped with ``envs.pendulum_step`` (Pendulum-v1's exact dynamics).
    """
    gen = torch.Generator().manual_seed(seed)
    high = torch.tensor([np.pi, 1.0])
    state = (torch.rand(n_episodes, 2, generator=gen) * 2 - 1) * high
    total = torch.zeros(n_episodes)
    for _ in range(horizon):
        act = agent.act(envs.pendulum_obs(state), deterministic=True)
        state, rew = envs.pendulum_step(state, act)
        total += rew
    return float(total.mean())


def model_accelerated_rl(env, agent: SAC, model: DynamicsEnsemble | None, config: MBPOConfig,
                         generator: torch.Generator, *, branched_rollout: Callable | None,
                         mixed_batch: Callable, seed: int = 0, progress: bool = True) -> RunLog:
    """The general loop: act for real, fit the model, roll it out into the model buffer, learn.

    ``branched_rollout`` and ``mixed_batch`` are the pieces of Exercises 3.5 and 3.2 (see the
    module docstring). With ``model=None`` it is plain off-policy RL on the real buffer
    (``branched_rollout`` is then unused, and may be None). A model whose training diverges (NaN
    or inf loss) stops the run cleanly: nothing it predicts reaches a buffer, and
    ``RunLog.stopped`` says what happened.
    """
    from tqdm.auto import tqdm

    cfg, log, t0 = config, RunLog(), time.perf_counter()
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    real = ReplayBuffer(cfg.total_steps, obs_dim, act_dim)
    k_max = max(cfg.k_schedule[:2])
    model_buf = FiniteReplayBuffer(max(cfg.rollout_starts * k_max * cfg.retain, 1), obs_dim, act_dim)
    policy = lambda o: agent.act(o, generator)  # noqa: E731
    reward_fn = (lambda o, a: envs.pendulum_step_obs(o, a)[1]) if cfg.known_reward else None  # noqa: E731
    if model is not None:
        if branched_rollout is None:
            raise ValueError("branched_rollout: expected a function (Exercise 3.5) to roll the model out, "
                             "got None")
        model_predict = elite_predictor(model, model_error=cfg.model_error, torque_error=cfg.torque_error,
                                        noise=cfg.model_noise, reward_fn=reward_fn, generator=generator)

    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    for t in tqdm(range(1, cfg.total_steps + 1), desc="MBPO" if model else "SAC", disable=not progress):
        # 1. act in the real environment; store the step in the real buffer
        if t <= cfg.init_steps:
            act = env.action_space.sample()
        else:
            act = agent.act(torch.as_tensor(obs).reshape(1, -1), generator)[0].numpy()
        next_obs, rew, terminated, truncated, _ = env.step(act)
        real.add(obs, act, rew, next_obs, float(terminated))
        obs = env.reset()[0] if terminated or truncated else next_obs
        if t < cfg.init_steps:
            continue
        # 2. every F steps: refit the model, then branched rollouts from real states
        if model is not None and (t - cfg.init_steps) % cfg.model_every == 0:
            data = real.all()
            fit = train_ensemble(model, data.obs, data.act, data.next_obs, data.rew, generator,
                                 max_epochs=cfg.model_epochs)
            if fit.diverged:
                log.stopped = (f"step {t}: the model's training loss became NaN/inf; training stopped. "
                               "The buffers hold only data from before; try a lower model lr.")
                warnings.warn(log.stopped, RuntimeWarning, stacklevel=2)
                break
            log.model_mse.append(float(np.mean([fit.holdout_mse[-1][i] for i in fit.elites])))
            k = rollout_length(t, cfg.k_schedule)
            log.k.append(k)
            with torch.no_grad():
                branched_rollout(real, model_predict, policy, model_buf, cfg.rollout_starts, k, generator)
        # 3. G updates of the off-policy learner on mixed real/model batches
        for _ in range(cfg.updates_per_step):
            agent.update(mixed_batch(real, model_buf, cfg.sac.batch_size,
                                     cfg.real_ratio if model is not None else 1.0, generator))
        # 4. evaluate now and then
        if t % cfg.eval_every == 0:
            log.steps.append(t)
            log.returns.append(evaluate(agent, cfg.eval_episodes))
            log.buffer_sizes.append((len(real), len(model_buf)))
    log.seconds = time.perf_counter() - t0
    return log


def run(config: MBPOConfig, seed: int, *, soft_target: Callable, mixed_batch: Callable,
        branched_rollout: Callable | None, progress: bool = True) -> RunLog:
    """Train MBPO (or plain SAC if ``config.use_model`` is False) on Pendulum-v1 from ``seed``.

    The pieces: ``soft_target`` for SAC (Exercise 3.4), ``mixed_batch`` (3.2) and
    ``branched_rollout`` (3.5, unused without a model). Runs on one CPU thread (restored
    afterwards): for networks this small, more threads only add synchronisation, and one
    thread makes a seed's run reproducible.
    """
    generator = torch.Generator().manual_seed(seed)
    env, _ = envs.make_pendulum(seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    with one_thread():
        agent = SAC(obs_dim, act_dim, config.sac, generator, soft_target=soft_target)
        model = DynamicsEnsemble(obs_dim, act_dim, config.ensemble, generator) if config.use_model else None
        return model_accelerated_rl(env, agent, model, config, generator, branched_rollout=branched_rollout,
                                    mixed_batch=mixed_batch, seed=seed, progress=progress)


def steps_to_threshold(steps: list[int], returns: list[float], threshold: float = -200.0) -> int | None:
    """First evaluation step from which every later evaluation is >= threshold (None: never)."""
    below = [i for i, r in enumerate(returns) if not r >= threshold]
    if not below:
        return steps[0] if steps else None
    first = below[-1] + 1
    return steps[first] if first < len(steps) else None


def load_sweep() -> dict:
    """The committed MBPO/SAC sweep (seeds, k ablation, model error); see its "command" key."""
    path = Path(__file__).resolve().parent / "data" / "part3_mbpo_sweep.json"
    return json.loads(path.read_text())
