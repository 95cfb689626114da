"""C-learning: a classifier as a multi-step model of the future state distribution.

For continuous states we cannot tabulate mu(s_t), but we can learn a *density ratio*. Label
pairs (s_t, a_t, s_f) with y = 1 when s_f is a future state of (s_t, a_t), drawn from

    p^pi(s_f | s_t, a_t) = sum_{k >= 1} (1 - gamma) gamma^(k-1) p(s_{t+k} = s_f | s_t, a_t),

and y = 0 when s_f is a random state of the data (the marginal p(s_f)). With one negative per
positive, the Bayes-optimal classifier is C = p^pi / (p^pi + p), so its odds
C / (1 - C) = exp(logit) equal p^pi(s_f | s_t, a_t) / p(s_f). This is the Monte-Carlo version
of C-learning (Eysenbach, Salakhutdinov and Levine, 2021): positives come from the offset
Delta ~ Geometric(1 - gamma) along the logged trajectories. The classifier takes gamma as an
input, so one network serves every horizon. Its positives are futures that the logging policy
really reached, so it models that policy only (on-policy); ``clearning_td`` has the TD version,
which learns from transitions and can model another policy.

Turning the logits into that ratio is Exercise 4.4: the functions below that need it take it as
an argument, ``density_ratio(logits (B,), neg_per_pos) -> (B,)``, and the notebook passes yours.

Also here: the grid histograms and total-variation distance used to compare a predicted
future-state distribution with a Monte-Carlo estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from course_lib import dynamics
from course_lib.pointmass import PointMass, future_states, random_policy
from course_lib.utils import one_thread

__all__ = [
    "CLearningConfig",
    "one_thread",
    "FutureClassifier",
    "sample_pairs",
    "classifier_loss",
    "classifier_from_state",
    "train_classifier",
    "classifier_grid_density",
    "future_histogram",
    "histogram",
    "total_variation",
    "fit_one_step_model",
    "model_step_fn",
    "future_prediction_errors",
]


@dataclass(frozen=True)
class CLearningConfig:
    """Architecture and training of the future-state classifier."""

    hidden: int = 64
    """Width of each hidden layer."""
    n_layers: int = 2
    """Number of hidden layers."""
    gammas: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.98)
    """Discounts to train for; each positive draws one of them (the classifier sees gamma)."""
    batch_size: int = 256
    """Positives per step (plus as many negatives)."""
    n_steps: int = 2000
    """Adam steps."""
    lr: float = 2e-2
    """Initial learning rate (cosine-annealed to 0)."""
    offset_scale: float = 5.0
    """The input s_f - s_t is multiplied by this (near futures are small offsets)."""
    state_scale: float = 3.0
    """States and s_f are multiplied by this (the wall is a sharp feature of the state)."""


class FutureClassifier(nn.Module):
    """An MLP logit(s_t, a_t, s_f, gamma); exp(logit) estimates p^pi(s_f | s_t, a_t) / p(s_f)."""

    def __init__(self, config: CLearningConfig, obs_dim: int = 2, act_dim: int = 2):
        super().__init__()
        self.config = config
        dims = [2 * obs_dim + act_dim + 1] + [config.hidden] * config.n_layers
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(d_in, d_out), nn.SiLU()]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], 1))

    def forward(self, s: torch.Tensor, a: torch.Tensor, s_f: torch.Tensor,
                gamma: torch.Tensor | float) -> torch.Tensor:
        """Logits (B,) for s (B, 2), a (B, 2), s_f (B, 2) and gamma (B,) or a float."""
        s, a, s_f = s.float(), a.float(), s_f.float()
        gamma = torch.as_tensor(gamma, dtype=torch.float32).expand(s.shape[0])
        horizon = torch.log(1.0 / (1.0 - gamma))[:, None] - 2.0  # log effective horizon, centred
        cfg = self.config
        x = torch.cat([s * cfg.state_scale, a, (s_f - s) * cfg.offset_scale, horizon], dim=-1)
        return self.net(x).squeeze(-1)


def sample_pairs(states: torch.Tensor, actions: torch.Tensor, gammas: tuple[float, ...], batch: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """A training batch: positives (s_t, a_t, s_{t+Delta}) and marginal negatives.

    states (N, T + 1, 2), actions (N, T, 2) are logged trajectories. Each row draws gamma from
    ``gammas``, Delta ~ Geometric(1 - gamma) (Delta >= 1, capped at T), then a time t uniform
    in [0, T - Delta]. Negatives are states drawn uniformly from all the logged states.
    Returns s (B, 2), a (B, 2), s_future (B, 2), s_negative (B, 2), gamma (B,).
    """
    n, t1, _ = states.shape
    horizon = t1 - 1
    g = torch.tensor(gammas, dtype=torch.float64)[
        torch.randint(len(gammas), (batch,), generator=generator)]
    u = torch.rand(batch, generator=generator, dtype=torch.float64).clamp_min(1e-300)
    delta = (1 + torch.floor(torch.log(u) / torch.log(g))).long().clamp(1, horizon)
    i = torch.randint(n, (batch,), generator=generator)
    t = (torch.rand(batch, generator=generator, dtype=torch.float64) * (horizon - delta + 1)).long()
    flat = states.reshape(-1, states.shape[-1])
    neg = flat[torch.randint(flat.shape[0], (batch,), generator=generator)]
    return states[i, t], actions[i, t], states[i, t + delta], neg, g


def classifier_loss(logit_pos: torch.Tensor, logit_neg: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: -log C(positives) - log(1 - C(negatives)), averaged. Inputs (B,)."""
    return nn.functional.softplus(-logit_pos).mean() + nn.functional.softplus(logit_neg).mean()


def classifier_from_state(state: dict, config: CLearningConfig) -> FutureClassifier:
    """A :class:`FutureClassifier` with the weights ``state`` (a ``state_dict``, e.g. precomputed)."""
    clf = FutureClassifier(config)
    clf.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return clf


def train_classifier(states: torch.Tensor, actions: torch.Tensor, config: CLearningConfig,
                     generator: torch.Generator) -> tuple[FutureClassifier, list[float]]:
    """Fit a :class:`FutureClassifier` to logged trajectories (N, T + 1, 2) and (N, T, 2).

    Adam with a cosine learning-rate schedule, on one thread. Returns the classifier and the
    loss per step.
    """
    if states.ndim != 3 or actions.shape[:2] != (states.shape[0], states.shape[1] - 1):
        raise ValueError(f"states, actions: expected (N, T+1, 2) and (N, T, 2), got "
                         f"{tuple(states.shape)}, {tuple(actions.shape)}")
    with torch.random.fork_rng():  # initial weights from ``generator``, global RNG untouched
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        clf = FutureClassifier(config, states.shape[-1], actions.shape[-1])
    opt = torch.optim.Adam(clf.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.n_steps)
    states, actions = states.float(), actions.float()
    losses = []
    with one_thread():
        for _ in range(config.n_steps):
            s, a, s_pos, s_neg, g = sample_pairs(states, actions, config.gammas, config.batch_size,
                                                 generator)
            logits = clf(torch.cat([s, s]), torch.cat([a, a]), torch.cat([s_pos, s_neg]),
                         torch.cat([g, g]))
            loss = classifier_loss(*logits.chunk(2))
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            losses.append(loss.item())
    return clf, losses


DensityRatio = Callable[[torch.Tensor, float], torch.Tensor]
"""``density_ratio(logits (B,), neg_per_pos) -> (B,)``: p^pi(s_f | s, a) / p(s_f) from the
classifier's logits, trained with ``neg_per_pos`` negatives per positive (Exercise 4.4)."""


def _cell_points(n_bins: int, sub: int) -> torch.Tensor:
    """Centres of a (n_bins * sub)^2 grid on [-1, 1]^2, ordered so a reshape gives (n_bins, sub, ...)."""
    fine = (torch.arange(n_bins * sub, dtype=torch.float64) + 0.5) / (n_bins * sub) * 2 - 1
    gx, gy = torch.meshgrid(fine, fine, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)


@torch.no_grad()
def classifier_grid_density(clf: FutureClassifier, density_ratio: DensityRatio, s: torch.Tensor,
                            a: torch.Tensor, gamma: float, env: PointMass, n_bins: int = 20,
                            sub: int = 4) -> tuple[np.ndarray, float]:
    """The classifier's future-state distribution over an (n_bins, n_bins) grid of cells.

    p(cell) = cell area * mean over sub x sub points of ratio(s_f) * p(s_f), with
    ratio = ``density_ratio(logits, 1.0)`` (one negative per positive in training) and the
    uniform marginal p(s_f) = 1 / area. s, a: (2,). Returns the renormalised cell probabilities
    (n_bins, n_bins) (x along axis 0) and the total mass before renormalising.
    """
    pts = _cell_points(n_bins, sub)
    m = pts.shape[0]
    ratio = torch.as_tensor(density_ratio(clf(s.expand(m, 2), a.expand(m, 2), pts, gamma), 1.0)).double()
    dens = (ratio / env.area).reshape(n_bins, sub, n_bins, sub).mean(dim=(1, 3))
    mass = dens * (2.0 / n_bins) ** 2
    total = float(mass.sum())
    return (mass / total).numpy(), total


def future_histogram(step_fn: Callable, s: torch.Tensor, a: torch.Tensor, gamma: float, n_samples: int,
                     generator: torch.Generator, n_bins: int = 20, policy=random_policy) -> np.ndarray:
    """Monte-Carlo estimate of p^pi(s_f | s, a) on the grid: ``histogram`` of ``n_samples`` futures.

    ``step_fn(s, a, generator) -> s'`` is the environment's step or a learned model's; after a,
    the point follows ``policy`` (the random one by default). s, a: (2,).
    Returns (n_bins, n_bins) cell probabilities (x along axis 0).
    """
    with one_thread():
        futures = future_states(step_fn, s.expand(n_samples, 2), a.expand(n_samples, 2), gamma, generator,
                                policy=policy)
    return histogram(futures, n_bins)


def histogram(points: torch.Tensor, n_bins: int = 20) -> np.ndarray:
    """Share of the points (N, 2) in each cell of an (n_bins, n_bins) grid on [-1, 1]^2.

    Points outside the square count towards N but not towards any cell.
    """
    edges = np.linspace(-1.0, 1.0, n_bins + 1)
    p = points.detach().double().numpy()
    h, _, _ = np.histogram2d(p[:, 0], p[:, 1], bins=[edges, edges])
    return h / len(p)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """TV(p, q) = 0.5 sum |p - q| over cells: 0 for identical, 1 for disjoint distributions."""
    return 0.5 * float(np.abs(np.asarray(p) - np.asarray(q)).sum())


def fit_one_step_model(states: torch.Tensor, actions: torch.Tensor, config: dynamics.EnsembleConfig,
                       generator: torch.Generator) -> tuple[dynamics.DynamicsEnsemble, dynamics.TrainLog]:
    """Fit a ``dynamics.DynamicsEnsemble`` to every logged step (s_t, a_t) -> s_t+1 (reward 0).

    states (N, T + 1, 2), actions (N, T, 2). Trains on one thread (see :func:`one_thread`).
    """
    obs, act = states[:, :-1].reshape(-1, states.shape[-1]), actions.reshape(-1, actions.shape[-1])
    nxt = states[:, 1:].reshape(-1, states.shape[-1])
    model = dynamics.DynamicsEnsemble(obs.shape[1], act.shape[1], config, generator)
    with one_thread():
        log = dynamics.train_ensemble(model, obs.float(), act.float(), nxt.float(),
                                      torch.zeros(obs.shape[0]), generator)
    return model, log


def model_step_fn(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]:
    """Wrap a ``dynamics.DynamicsEnsemble`` as ``step(s, a, generator) -> s'`` (a sampled model step)."""

    @torch.no_grad()
    def step(s: torch.Tensor, a: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return model.sample_step(s.float(), a.float(), generator)[0].to(s.dtype)

    return step


def future_prediction_errors(env: PointMass, classifiers: dict[str, FutureClassifier],
                             density_ratio: DensityRatio, model_step: Callable | None,
                             queries: torch.Tensor, actions: torch.Tensor,
                             gammas: tuple[float, ...], n_samples: int, generator: torch.Generator,
                             n_bins: int = 20, policy=random_policy) -> dict[str, np.ndarray]:
    """TV distance to a Monte-Carlo estimate of p^pi(s_f | s, a), per gamma (rows) and query (cols).

    Compares each classifier (its logits turned into densities by ``density_ratio``, see
    :func:`classifier_grid_density`), rollouts of a one-step model (unless ``model_step`` is
    None), and a second independent Monte-Carlo estimate of the same size (the noise floor).
    After a, the point follows ``policy``. queries, actions: (Q, 2). Returns {name of each
    classifier, "one-step model", "MC noise floor"} -> (len(gammas), Q) arrays.
    """
    names = [*classifiers, "MC noise floor"] + (["one-step model"] if model_step is not None else [])
    out = {k: np.zeros((len(gammas), len(queries))) for k in names}
    for i, gamma in enumerate(gammas):
        for j, (s, a) in enumerate(zip(queries, actions, strict=True)):
            truth, again = (future_histogram(env.step, s, a, gamma, n_samples, generator, n_bins, policy)
                            for _ in range(2))
            out["MC noise floor"][i, j] = total_variation(again, truth)
            if model_step is not None:
                model = future_histogram(model_step, s, a, gamma, n_samples, generator, n_bins, policy)
                out["one-step model"][i, j] = total_variation(model, truth)
            for name, clf in classifiers.items():
                clf_p, _ = classifier_grid_density(clf, density_ratio, s, a, gamma, env, n_bins)
                out[name][i, j] = total_variation(clf_p, truth)
    return out
