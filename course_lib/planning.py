"""Planning with a model: random shooting, the cross-entropy method (CEM) and the MPC loop.

MBRL v1.5 (lecture part 1): collect data, fit a dynamics model, then at every real step
*plan* an action sequence a_{t:t+H} that maximises the model's predicted return

    J(a_{t:t+H}) = sum_{k=t}^{t+H-1} r_hat(s_k, a_k),   s_{k+1} = f_hat(s_k, a_k),

execute only its first action, observe the real next state and plan again (replanning).
Every so often the model is refitted on all the data collected so far.

A *step function* is anything with the signature ``step(obs (N, O), act (N, A)) ->
(next_obs (N, O), reward (N,))``: a learned model's ``mean_step`` or the true
``envs.pendulum_step_obs``. Planners take it as an argument; models never import planners.

The planners are what you write in the notebook: ``score`` (Exercise 1.1, the predicted
return J of every candidate sequence), ``refit`` (Exercise 1.2, the CEM update) and the CEM
loop itself, ``plan(step, obs, init_mean, cfg, generator)`` (Exercise 1.3), which calls the
other two. ``as_planner(plan, cfg, generator)`` fixes its settings and makes the
:data:`Planner` that the MPC loop (``run_mpc_episode``, ``evaluate_mpc``, ``mbrl_v15``) calls
at every real step; any function with that signature plugs in. ``random_shooting`` (one round
of uniform samples, scored by your ``score``) is the baseline CEM is compared with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from course_lib.buffers import Batch, ReplayBuffer, collect
from course_lib.dynamics import DynamicsEnsemble, EnsembleConfig, train_ensemble

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``step(obs (N, O), act (N, A)) -> (next_obs (N, O), reward (N,))``: a model or the true dynamics."""
ScoreFn = Callable[[StepFn, torch.Tensor, torch.Tensor], torch.Tensor]
"""``score(step, obs (O,), candidates (N, H, A)) -> (N,)``: predicted returns (Exercise 1.1)."""
RefitFn = Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
"""``refit(samples (N, H, A), scores (N,), n_elite) -> (mean (H, A), std (H, A))`` (Exercise 1.2)."""
Planner = Callable[[StepFn, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
"""``planner(step, obs (O,), init_mean (H, A) or None) -> plan (H, A)``: what MPC calls every step."""
PlanFn = Callable[[StepFn, torch.Tensor, "torch.Tensor | None", "CEMConfig", torch.Generator], torch.Tensor]
"""``plan(step, obs (O,), init_mean (H, A) or None, cfg, generator) -> (H, A)``: CEM (Exercise 1.3)."""

__all__ = [
    "CEMConfig",
    "MBRLConfig",
    "EpisodeLog",
    "StepFn",
    "ScoreFn",
    "RefitFn",
    "Planner",
    "PlanFn",
    "frozen_mean_step",
    "predicted_trajectory",
    "random_shooting",
    "as_planner",
    "run_mpc_episode",
    "EVAL_SEEDS",
    "evaluate_mpc",
    "MBRLResult",
    "fit_model",
    "mbrl_v15",
]


@dataclass(frozen=True)
class CEMConfig:
    """Settings of the sampling planners (random shooting uses horizon, candidates, bounds)."""

    horizon: int = 15
    """Planning horizon H (model steps per candidate sequence)."""
    n_candidates: int = 100
    """Action sequences N sampled per iteration."""
    n_elite: int = 10
    """Best sequences the sampling distribution is refitted to."""
    n_iters: int = 3
    """CEM iterations per planning call."""
    alpha: float = 0.1
    """Smoothing: new = alpha * old + (1 - alpha) * refit (0 = plain refit)."""
    init_std: float = 1.0
    """Standard deviation of the sampling distribution at the start of every call."""
    min_std: float = 0.05
    """Floor on the standard deviation (keeps exploring)."""
    low: float = -2.0
    """Smallest action (Pendulum: -2 N m)."""
    high: float = 2.0
    """Largest action."""
    act_dim: int = 1
    """Action dimension A (Pendulum: 1)."""


def _scores(score: ScoreFn, step: StepFn, obs: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """``score(step, obs, candidates)`` as a float tensor (N,), NaN counted as the worst score."""
    n = candidates.shape[0]
    out = torch.as_tensor(score(step, obs, candidates)).detach().float()
    if out.shape != (n,):
        raise ValueError(f"score: expected scores of shape ({n},) for candidates of shape "
                         f"{tuple(candidates.shape)}, got {tuple(out.shape)}")
    return torch.nan_to_num(out, nan=-float("inf"))


def predicted_trajectory(step: StepFn, obs: torch.Tensor, plan: torch.Tensor) -> torch.Tensor:
    """States the model predicts along one plan: obs (O,), plan (H, A) -> (H + 1, O), obs first."""
    s = obs.reshape(1, -1)
    states = [s]
    with torch.no_grad():
        for k in range(plan.shape[0]):
            s, _ = step(s, plan[k : k + 1])
            states.append(s)
    return torch.cat(states, dim=0)


def random_shooting(score: ScoreFn, step: StepFn, obs: torch.Tensor, cfg: CEMConfig,
                    generator: torch.Generator) -> torch.Tensor:
    """Random shooting: N uniformly random sequences, scored by ``score``; returns the best (H, A).

    ``score(step, obs (O,), candidates (N, H, A)) -> (N,)`` is the predicted return of each
    candidate (Exercise 1.1).
    """
    u = torch.rand(cfg.n_candidates, cfg.horizon, cfg.act_dim, generator=generator)
    candidates = cfg.low + (cfg.high - cfg.low) * u
    with torch.no_grad():
        scores = _scores(score, step, obs.detach().float(), candidates)
    return candidates[scores.argmax()]


def as_planner(plan: PlanFn, cfg: CEMConfig, generator: torch.Generator) -> Planner:
    """The :data:`Planner` MPC calls at every step: your ``plan`` (Exercise 1.3), settings fixed.

    ``plan(step, obs (O,), init_mean (H, A) or None, cfg, generator) -> (H, A)``. The adapter
    only fixes the last two arguments and checks what comes back (a float tensor (H, A)).
    """
    shape = (cfg.horizon, cfg.act_dim)

    def planner(step: StepFn, obs: torch.Tensor, init_mean: torch.Tensor | None = None) -> torch.Tensor:
        out = torch.as_tensor(plan(step, obs.detach().float().reshape(-1), init_mean, cfg, generator))
        if out.shape != shape:
            raise ValueError(f"plan: expected a plan of shape {shape} (horizon, action dim), "
                             f"got {tuple(out.shape)}")
        return out.detach().float()

    return planner


@dataclass
class EpisodeLog:
    """One real episode run by MPC."""

    obs: list[np.ndarray] = field(default_factory=list)
    """T + 1 real observations (O,), the first one included."""
    actions: list[np.ndarray] = field(default_factory=list)
    """T executed actions (A,)."""
    rewards: list[float] = field(default_factory=list)
    """T real rewards."""
    plans: list[np.ndarray] = field(default_factory=list)
    """The plan made at each step, as the observations the model predicts along it (H + 1, O)."""

    @property
    def ret(self) -> float:
        """The episode's return (sum of real rewards)."""
        return float(np.sum(self.rewards))


def _shift(plan: torch.Tensor) -> torch.Tensor:
    """Warm start for the next step: drop the executed action, append a zero one."""
    return torch.cat([plan[1:], torch.zeros_like(plan[:1])])


def run_mpc_episode(
    env,
    planner: Planner,
    step: StepFn,
    *,
    seed: int,
    buffer: ReplayBuffer | None = None,
    after_step: Callable[[int, EpisodeLog], StepFn | None] | None = None,
    keep_plans: bool = True,
) -> EpisodeLog:
    """One real episode of MPC (MBRL v1.5's inner loop).

    At every real step: ``planner(step, obs, init_mean)`` plans H steps on the model,
    warm-started from the previous plan shifted by one; execute only the first action; store
    the transition in ``buffer``; then call ``after_step(t, log)``, which may return a new step
    function (a refitted model).
    """
    obs, _ = env.reset(seed=seed)
    log = EpisodeLog(obs=[obs])
    plan, done = None, False
    while not done:
        o = torch.as_tensor(obs, dtype=torch.float32)
        plan = torch.as_tensor(planner(step, o, plan), dtype=torch.float32)     # open-loop plan
        if keep_plans:
            log.plans.append(predicted_trajectory(step, o, plan).numpy())
        action = plan[0].numpy()                                                 # execute one action
        next_obs, rew, terminated, truncated, _ = env.step(action)
        if buffer is not None:
            buffer.add(obs, action, rew, next_obs, float(terminated))
        log.obs.append(next_obs), log.actions.append(action), log.rewards.append(float(rew))
        obs, done = next_obs, terminated or truncated
        plan = _shift(plan)                                                      # warm start
        if after_step is not None:
            step = after_step(len(log.rewards) - 1, log) or step                  # replan on a new model
    return log


EVAL_SEEDS = tuple(range(10_000, 10_005))
"""Reset seeds of the evaluation episodes (shared by the notebook, the tests and the benchmarks)."""


def evaluate_mpc(planner: Planner, step: StepFn, seeds: tuple[int, ...] = EVAL_SEEDS) -> np.ndarray:
    """Returns of MPC in ``len(seeds)`` real Pendulum-v1 episodes run side by side.

    Each episode is its own gymnasium env reset with one seed; at every step ``planner``
    plans for each of them on the model ``step`` (no learning happens here).
    Returns (len(seeds),).
    """
    from course_lib.envs import make_pendulum

    if not seeds:
        raise ValueError("seeds: expected at least one evaluation seed, got []")
    pairs = [make_pendulum(seed=s) for s in seeds]
    envs_, obs = [p[0] for p in pairs], [p[1] for p in pairs]
    plans: list[torch.Tensor | None] = [None] * len(seeds)
    total = np.zeros(len(seeds))
    done = False
    while not done:
        plans = [torch.as_tensor(planner(step, torch.as_tensor(o, dtype=torch.float32), p),
                                 dtype=torch.float32) for o, p in zip(obs, plans, strict=True)]
        results = [env.step(p[0].numpy()) for env, p in zip(envs_, plans, strict=True)]
        obs = [r[0] for r in results]
        total += np.array([r[1] for r in results])
        done = any(r[2] or r[3] for r in results)
        plans = [_shift(p) for p in plans]
    for env in envs_:
        env.close()
    return total


def frozen_mean_step(model: DynamicsEnsemble, differentiable: bool = False) -> StepFn:
    """A fast, frozen copy of ``model.mean_step`` for planning (~2x fewer ops).

    The input normalisation is folded into the first layer, and the output de-normalisation
    and the average over the elites into the head, so one model step is a few batched matrix
    products. Same outputs as ``model.mean_step`` (to float rounding), deterministic or
    probabilistic ensemble. It snapshots the weights: make a new one after every refit.
    With ``differentiable=True`` gradients flow to obs and act (not to the weights), for BPTT.
    obs (N, O), act (N, A) -> next_obs (N, O), reward (N,).
    """
    el = model.elites
    with torch.no_grad():
        weights = [layer.weight.detach()[el].clone() for layer in model.layers]
        biases = [layer.bias.detach()[el].clone() for layer in model.layers]
        mu, sd = model.in_norm.mean, model.in_norm.std
        biases[0] = biases[0] - ((mu / sd) @ weights[0])[:, None, :]
        weights[0] = weights[0] / sd[None, :, None]
        d_out = model.obs_dim + 1
        w_head = model.head.weight.detach()[el][..., :d_out] * model.out_norm.std / len(el)
        b_head = (model.head.bias.detach()[el][..., :d_out] * model.out_norm.std
                  + model.out_norm.mean) / len(el)  # (E, 1, d_out): the sum over members adds up
    e, silu = len(el), torch.nn.functional.silu

    def step(obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grad = differentiable and torch.is_grad_enabled()
        with torch.set_grad_enabled(grad):
            h = torch.cat([obs, act], dim=-1).expand(e, -1, -1)
            for w, b in zip(weights, biases, strict=True):
                h = silu(torch.baddbmm(b, h, w), inplace=not grad)
            y = torch.baddbmm(b_head, h, w_head).sum(0)
            return obs + y[:, :-1], y[:, -1]

    return step


@dataclass(frozen=True)
class MBRLConfig:
    """The MBRL v1.5 loop: random data, fit, then MPC episodes with periodic refits."""

    random_steps: int = 200
    """Real steps with uniformly random torques before the first fit."""
    mpc_episodes: int = 2
    """MPC episodes that collect data (200 real steps each)."""
    refit_every: int = 100
    """Refit the model on all data after this many MPC steps."""
    model: EnsembleConfig = EnsembleConfig(n_members=3, n_elites=3, hidden=64, n_layers=2,
                                           probabilistic=False, batch_size=64, max_epochs=100,
                                           patience=10, lr=3e-3)
    """The dynamics ensemble and how it is trained."""
    planner: CEMConfig = CEMConfig()
    """The CEM planner."""


@dataclass
class MBRLResult:
    """What ``mbrl_v15`` returns: plain data (it can be saved, and the model rebuilt from it)."""

    episodes: list[EpisodeLog]
    """The MPC episodes (real returns, executed and planned trajectories)."""
    n_fits: int
    """How many times the model was fitted."""
    transitions: Batch
    """Every real transition (random data first, then the MPC episodes)."""
    model_config: EnsembleConfig
    """The ensemble's settings."""
    model_state: dict[str, torch.Tensor]
    """The weights of the model after the last refit (its ``state_dict``)."""

    def final_model(self) -> DynamicsEnsemble:
        """The model after the last refit, rebuilt from ``model_state`` (in eval mode)."""
        obs_dim, act_dim = self.transitions.obs.shape[1], self.transitions.act.shape[1]
        model = DynamicsEnsemble(obs_dim, act_dim, self.model_config, torch.Generator())
        model.load_state_dict(self.model_state)
        return model.eval()


def fit_model(buffer: ReplayBuffer, cfg: EnsembleConfig, generator: torch.Generator,
              obs_dim: int = 3, act_dim: int = 1) -> DynamicsEnsemble:
    """A fresh ensemble trained on everything in ``buffer``."""
    model = DynamicsEnsemble(obs_dim, act_dim, cfg, generator)
    data = buffer.all()
    train_ensemble(model, data.obs, data.act, data.next_obs, data.rew, generator)
    model.eval()
    return model


def mbrl_v15(
    env,
    cfg: MBRLConfig,
    planner: Planner,
    seed: int,
    *,
    progress: bool = True,
    callback: Callable[[int, EpisodeLog], None] | None = None,
) -> MBRLResult:
    """MBRL v1.5 (lecture part 1): random data -> fit -> MPC with replanning and periodic refits.

    1. collect ``random_steps`` transitions with random torques and fit the ensemble;
    2. run ``mpc_episodes`` real MPC episodes (``run_mpc_episode`` with ``planner``, e.g.
       ``as_planner(cem_plan, cfg.planner, generator)``); every ``refit_every`` MPC steps,
       refit the model on all the data and plan with the new one from then on.
    Uses ``random_steps + 200 * mpc_episodes`` real steps. ``callback(t, log)`` runs after
    every MPC step (live plots).
    """
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(seed)
    act_rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(cfg.random_steps + 200 * cfg.mpc_episodes, 3, 1)
    collect(env, lambda _o: act_rng.uniform(-2, 2, size=1), cfg.random_steps, buffer,
            seed=seed, progress=progress, desc="random data")
    model, n_fits, episodes = fit_model(buffer, cfg.model, gen), 1, []
    bar = tqdm(total=200 * cfg.mpc_episodes, desc="MPC steps", disable=not progress, leave=False)
    mpc_steps = 0

    def after_step(t: int, log: EpisodeLog) -> StepFn | None:
        nonlocal mpc_steps, model, n_fits
        mpc_steps += 1
        bar.update()
        if callback is not None:
            callback(t, log)
        if mpc_steps % cfg.refit_every == 0:  # periodic refit on everything collected so far
            model, n_fits = fit_model(buffer, cfg.model, gen), n_fits + 1
            return frozen_mean_step(model)
        return None

    try:
        for episode in range(cfg.mpc_episodes):
            episodes.append(run_mpc_episode(
                env, planner, frozen_mean_step(model), seed=seed + 1000 + episode,
                buffer=buffer, after_step=after_step))
    finally:
        bar.close()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return MBRLResult(episodes, n_fits, buffer.all(), cfg.model, state)
