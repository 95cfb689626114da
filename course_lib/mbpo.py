"""Model-accelerated off-policy RL, and MBPO (Janner et al., 2019) as its standard instance.

The system view of the lecture has four boxes and one loop:

    real environment --(act)--> real buffer --(fit)--> model --(short branched rollouts)--> model buffer
           ^                         \\                                                       /
           |                          `----------> off-policy learner (SAC) <---------------'
           `----------------------------- policy -----------'     mixed batches, real ratio

:func:`model_accelerated_rl` is that loop. At every real step it acts and stores the step, then
hands everything else to ``learn`` (Exercise 3.5 of the notebook, which assembles MBPO):

    learn(t, real_buffer, model_buffer, model, policy, update, config, generator) -> list
        every ``config.model_every`` steps ``model.fit()``; every ``config.rollout_every`` steps
        ``branched_rollout`` (Exercise 3.2) of k = rollout_length(t, config.k_schedule) steps from
        ``config.rollout_starts`` real states, through ``model.predict``; then
        ``config.updates_per_step`` times ``update(mixed_batch(...))`` (Exercise 3.3); returns
        what the updates returned.

The learner's critic target can be the notebook's too: :func:`mve_value_target` turns Exercise
3.4's ``mve_target`` into SAC's ``value_target`` (with H = 1 it is SAC's soft target).
``model.predict(obs (B, o), act (B, a))`` returns every elite's prediction, next_obs (E, B, o) and
rew (E, B). Faults injected into the model for experiments are a separate argument
(:class:`ModelFaults`), never part of the algorithm's :class:`MBPOConfig`.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from course_lib import envs
from course_lib.buffers import Batch, ReplayBuffer
from course_lib.dynamics import DynamicsEnsemble, EnsembleConfig, train_ensemble
from course_lib.mbpo_tools import RunLog, evaluate, rollout_error
from course_lib.sac import SAC, SACConfig, ValueTarget, soft_target
from course_lib.utils import one_thread

__all__ = ["MBPOConfig", "ModelFaults", "LearnedModel", "ModelDiverged", "elite_predictor",
           "FiniteReplayBuffer", "rollout_length", "mve_value_target", "model_accelerated_rl", "run"]


@dataclass(frozen=True)
class MBPOConfig:
    """The loop's schedule and MBPO's choices, with the learner's and the model's settings.

    The defaults are a class-sized MBPO for Pendulum-v1; ``scripts/part3_sweep.py`` prints the
    paper's settings beside them.
    """

    total_steps: int = 2000
    """Real environment steps."""
    init_steps: int = 250
    """Uniformly random actions before any learning (the first model fit uses them)."""
    use_model: bool = True
    """False: no model, the learner trains on real data only (plain SAC)."""
    updates_per_step: int = 10
    """Gradient steps G of the learner per real step (the update-to-data ratio)."""
    model_every: int = 250
    """Refit the model every F real steps."""
    rollout_every: int = 250
    """Make branched rollouts every this many real steps (MBPO: every step)."""
    rollout_starts: int = 10_000
    """Branched rollouts started from real states each time (MBPO: 400, every step)."""
    k_schedule: tuple[int, int, int, int] = (1, 4, 500, 1500)
    """(k_min, k_max, start, end): rollout length k grows linearly from k_min at real step
    ``start`` to k_max at ``end``."""
    retain: int = 4
    """The model buffer keeps the rollouts made during the last ``retain`` model refits."""
    real_ratio: float = 0.3
    """Share rho of real transitions in each batch (the rest comes from the model buffer)."""
    sample_model: bool = False
    """True: each model step samples the chosen elite's Gaussian (MBPO). False: its mean."""
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


@dataclass(frozen=True)
class ModelFaults:
    """Errors injected into the learned model, for experiments on model bias (all off: MBPO itself)."""

    model_error: float = 0.0
    """A model that is too fast: the predicted change of state is scaled by (1 + model_error)."""
    torque_error: float = 0.0
    """A model wrong about the motor: it is asked about torque (1 - 2 torque_error) a instead of a."""
    known_reward: bool = False
    """True: rollouts score steps with Pendulum's true reward r(s, a) instead of the model's."""
    fit_once: bool = False
    """True: a model of little data. Only the first ``fit()`` trains (on the first random steps);
    later refits leave the model as it is."""


def rollout_length(step: int, schedule: tuple[int, int, int, int]) -> int:
    """MBPO's linear schedule: k_min before ``start``, k_max after ``end``, linear in between."""
    k_min, k_max, start, end = schedule
    frac = min(max((step - start) / max(end - start, 1), 0.0), 1.0)
    return int(round(k_min + frac * (k_max - k_min)))


class ModelDiverged(RuntimeError):
    """The model's training loss became NaN or inf."""


class LearnedModel:
    """The model box: ``fit()`` refits the ensemble on the real buffer; ``predict(obs, act)`` returns
    every elite's prediction, next_obs (E, B, o) and rew (E, B) (its Gaussian's mean, or a sample)."""

    def __init__(self, ensemble: DynamicsEnsemble, real_buffer: ReplayBuffer | None, config: MBPOConfig,
                 generator: torch.Generator | None = None, faults: ModelFaults = ModelFaults()):
        self.ensemble, self.real, self.config, self.generator = ensemble, real_buffer, config, generator
        self.faults, self.fits = faults, []
        """The ensemble's training logs, one per ``fit()``."""

    def fit(self) -> None:
        """Refit on every transition of the real buffer (early stopping); raise ModelDiverged if NaN."""
        if self.faults.fit_once and self.fits:
            self.fits.append(self.fits[-1])
            return
        data = self.real.all()
        fit = train_ensemble(self.ensemble, data.obs, data.act, data.next_obs, data.rew, self.generator,
                             max_epochs=self.config.model_epochs)
        if fit.diverged:
            raise ModelDiverged("the model's training loss became NaN/inf")
        self.fits.append(fit)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, act: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (B, o), act (B, a) -> next_obs (E, B, o), rew (E, B), one row per elite.

        ``generator``: for the Gaussian's samples if ``config.sample_model`` (default: the model's).
        """
        m, f = self.ensemble, self.faults
        asked = act if f.torque_error == 0 else (1.0 - 2.0 * f.torque_error) * act
        x = m.in_norm(torch.cat([obs, asked], dim=-1))
        mean, logvar = m(x.expand(m.config.n_members, *x.shape))
        y = mean[m.elites]
        if self.config.sample_model and logvar is not None:
            noise = torch.randn(y.shape, generator=generator or self.generator)
            y = y + noise * (0.5 * logvar[m.elites]).exp()
        y = m.out_norm.inverse(y)
        next_obs, rew = obs + (1.0 + f.model_error) * y[..., :-1], y[..., -1]
        if f.known_reward:
            rew = envs.pendulum_step_obs(obs, act)[1].expand_as(rew)
        return next_obs, rew


def elite_predictor(ensemble: DynamicsEnsemble, config: MBPOConfig = MBPOConfig(),
                    generator: torch.Generator | None = None) -> Callable:
    """``predict(obs (B, o), act (B, a)) -> (next_obs (E, B, o), rew (E, B))`` of an ensemble fitted
    elsewhere: the elites' predictions, as :class:`LearnedModel` makes them."""
    return LearnedModel(ensemble, None, config, generator).predict


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


def mve_value_target(mve_target: Callable) -> ValueTarget:
    """SAC's ``value_target`` from an MVE target (Exercise 3.4) with H = 1, the one-step target.

    y = mve_target(r, s', model_step, policy, soft_q, gamma, 1) = r + gamma soft_q(s', pi(s')), and
    y = r at terminal transitions. H = 1 never calls the model (``model_step`` is None).
    """
    def value_target(batch: Batch, policy, soft_q, gamma: float) -> torch.Tensor:
        y = mve_target(batch.rew, batch.next_obs, None, policy, soft_q, gamma, 1)
        return torch.where(batch.done > 0, batch.rew, y)

    return value_target


def _sac_learn(t, real_buffer, model_buffer, model, policy, update, config, generator) -> list:
    """Plain SAC's learning step (no model): G updates on batches of real transitions."""
    batch_size = config.sac.batch_size
    return [update(real_buffer.sample(batch_size, generator)) for _ in range(config.updates_per_step)]


def model_accelerated_rl(env, agent: SAC, ensemble: DynamicsEnsemble | None, config: MBPOConfig,
                         generator: torch.Generator, *, learn: Callable | None,
                         faults: ModelFaults = ModelFaults(), seed: int = 0, progress: bool = True) -> RunLog:
    """The loop: act for real and store the step, then ``learn`` (fit, roll out, update), evaluate.

    With ``ensemble=None`` it is plain SAC (``learn`` is unused and may be None). A model whose
    training diverges stops the run cleanly, and ``RunLog.stopped`` says when. After each refit
    the log records the elites' held-out error, k, and the model's error over 25 rollout steps
    (measured with generators of its own: the measurement does not change the run).
    """
    from tqdm.auto import tqdm

    cfg, log, t0 = config, RunLog(), time.perf_counter()
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    real = ReplayBuffer(cfg.total_steps, obs_dim, act_dim)
    per_refit = max(cfg.model_every // cfg.rollout_every, 1) * cfg.rollout_starts * max(cfg.k_schedule[:2])
    model_buf = FiniteReplayBuffer(max(per_refit * cfg.retain, 1), obs_dim, act_dim)
    policy = lambda o: agent.act(o, generator)  # noqa: E731
    model = None if ensemble is None else LearnedModel(ensemble, real, cfg, generator, faults)
    if model is None:
        learn = _sac_learn
    elif learn is None:
        raise ValueError("learn: expected a function (Exercise 3.5) for MBPO's learning step, got None")
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
        # 2-3. refit the model and roll it out when due, then G updates on mixed batches
        fits = len(model.fits) if model is not None else 0
        try:
            learn(t, real, model_buf, model, policy, agent.update, cfg, generator)
        except ModelDiverged as err:
            log.stopped = f"step {t}: {err}; training stopped. The buffers hold only earlier data."
            warnings.warn(log.stopped, RuntimeWarning, stacklevel=2)
            break
        if model is not None and len(model.fits) > fits:
            fit = model.fits[-1]
            log.model_mse.append(float(np.mean([fit.holdout_mse[-1][i] for i in fit.elites])))
            log.k.append(rollout_length(t, cfg.k_schedule))
            gen = torch.Generator().manual_seed(seed + t)
            errors = rollout_error(functools.partial(model.predict, generator=gen),
                                   functools.partial(agent.act, generator=gen), real, 25, gen)
            log.trajectory_error.append(errors["trajectory"])
            log.step_error.append(errors["step"])
        # 4. evaluate now and then
        if t % cfg.eval_every == 0:
            log.steps.append(t)
            log.returns.append(evaluate(agent, cfg.eval_episodes))
            log.buffer_sizes.append((len(real), len(model_buf)))
    log.seconds = time.perf_counter() - t0
    return log


def run(config: MBPOConfig, seed: int, *, learn: Callable | None, value_target: ValueTarget = soft_target,
        faults: ModelFaults = ModelFaults(), progress: bool = True) -> RunLog:
    """Train MBPO (or plain SAC if ``config.use_model`` is False) on Pendulum-v1 from ``seed``.

    ``learn`` is MBPO's learning step (Exercise 3.5; unused without a model), ``value_target`` the
    critics' target (:func:`mve_value_target` of Exercise 3.4's, or SAC's own). Runs on one CPU
    thread (restored afterwards): for networks this small, more threads only add synchronisation,
    and one thread makes a seed's run reproducible.
    """
    generator = torch.Generator().manual_seed(seed)
    env, _ = envs.make_pendulum(seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    with one_thread():
        agent = SAC(obs_dim, act_dim, config.sac, generator, value_target=value_target)
        ensemble = None
        if config.use_model:
            ensemble = DynamicsEnsemble(obs_dim, act_dim, config.ensemble, generator)
        return model_accelerated_rl(env, agent, ensemble, config, generator, learn=learn, faults=faults,
                                    seed=seed, progress=progress)
