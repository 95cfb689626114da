"""Learned dynamics: an ensemble of MLPs predicting normalised state deltas and rewards.

Each member maps (s, a) to the change of state and the reward, y = (s' - s, r). Inputs and
targets are normalised with statistics of the training data. Two variants:

* deterministic members trained with mean squared error;
* probabilistic members (PETS / MBPO) that output a Gaussian N(mu, diag sigma^2) and are trained
  with its negative log-likelihood, with soft bounds on log sigma^2.

Members see different bootstrap resamples of the data; training holds out a split of it for
early stopping, and the ``n_elites`` members with the lowest held-out error are the *elites*
used for rollouts. All members run as one batched network (weights of shape (E, in, out)).
Models never import planners or agents: algorithms take a model as an argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "EnsembleConfig",
    "Normalizer",
    "EnsembleLinear",
    "DynamicsEnsemble",
    "TrainLog",
    "gaussian_nll",
    "train_ensemble",
]


@dataclass(frozen=True)
class EnsembleConfig:
    """Architecture and training of a dynamics ensemble."""

    n_members: int = 5
    """Number of networks E in the ensemble."""
    n_elites: int = 5
    """Members with the lowest held-out error used for rollouts (<= n_members)."""
    hidden: int = 200
    """Width of each hidden layer."""
    n_layers: int = 3
    """Number of hidden layers."""
    probabilistic: bool = True
    """Gaussian outputs trained by NLL (True) or point predictions trained by MSE (False)."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 1e-5
    """L2 penalty on the weights."""
    batch_size: int = 256
    """Minibatch size per member."""
    holdout_ratio: float = 0.2
    """Share of the data held out for early stopping and elite selection."""
    max_epochs: int = 200
    """Upper bound on passes over the training data."""
    patience: int = 8
    """Stop after this many epochs without a 1% improvement of the held-out error."""


class Normalizer(nn.Module):
    """Per-dimension standardisation x -> (x - mean) / std, fitted to data."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> None:
        """Set mean and std from ``x`` (N, dim); near-constant dimensions keep std >= 1e-6."""
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6) if x.shape[0] > 1 else torch.ones_like(self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


class EnsembleLinear(nn.Module):
    """E independent linear layers applied at once: (E, B, in) -> (E, B, out)."""

    def __init__(self, n_members: int, d_in: int, d_out: int, generator: torch.Generator):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = nn.Parameter(
            (torch.rand(n_members, d_in, d_out, generator=generator) * 2 - 1) * bound)
        self.bias = nn.Parameter(torch.zeros(n_members, 1, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class DynamicsEnsemble(nn.Module):
    """Ensemble model of (s, a) -> (s' - s, r). Differentiable end to end (for BPTT demos)."""

    def __init__(self, obs_dim: int, act_dim: int, config: EnsembleConfig, generator: torch.Generator):
        super().__init__()
        if not 1 <= config.n_elites <= config.n_members:
            raise ValueError(f"n_elites: expected 1..{config.n_members}, got {config.n_elites}")
        self.obs_dim, self.act_dim, self.config = obs_dim, act_dim, config
        d_in, d_out, e = obs_dim + act_dim, obs_dim + 1, config.n_members
        dims = [d_in] + [config.hidden] * config.n_layers
        self.layers = nn.ModuleList(
            EnsembleLinear(e, a, b, generator) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.head = EnsembleLinear(e, dims[-1], 2 * d_out if config.probabilistic else d_out, generator)
        self.in_norm, self.out_norm = Normalizer(d_in), Normalizer(d_out)
        # soft bounds on the predicted log-variance (learned, as in PETS)
        self.max_logvar = nn.Parameter(torch.full((d_out,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((d_out,), -10.0))
        self.register_buffer("elites", torch.arange(config.n_elites))

    def forward(self, x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Normalised inputs (E, B, d_in) -> normalised mean (E, B, d_out) and log-variance."""
        h = x_norm
        for layer in self.layers:
            h = nn.functional.silu(layer(h))
        out = self.head(h)
        if not self.config.probabilistic:
            return out, None
        mean, logvar = out.chunk(2, dim=-1)
        logvar = self.max_logvar - nn.functional.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + nn.functional.softplus(logvar - self.min_logvar)
        return mean, logvar

    def _inputs(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = self.in_norm(torch.cat([obs, act], dim=-1))
        return x.expand(self.config.n_members, *x.shape) if x.dim() == 2 else x

    def predict(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean prediction of every member.

        obs (B, obs_dim) and act (B, act_dim), or (E, B, .) to give each member its own batch.
        Returns next_obs (E, B, obs_dim) and reward (E, B).
        """
        mean, _ = self(self._inputs(obs, act))
        y = self.out_norm.inverse(mean)
        return obs + y[..., :-1], y[..., -1]

    def mean_step(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The elites' average mean prediction: obs (B, o), act (B, a) -> next_obs (B, o), reward (B,).

        A deterministic, differentiable model step, used by planners and by backprop through time.
        """
        next_obs, rew = self.predict(obs, act)
        return next_obs[self.elites].mean(0), rew[self.elites].mean(0)

    def sample_step(self, obs: torch.Tensor, act: torch.Tensor, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One stochastic model step (MBPO): each row uses a random elite and samples its Gaussian.

        obs (B, o), act (B, a) -> next_obs (B, o), reward (B,).
        """
        mean, logvar = self(self._inputs(obs, act))
        b = obs.shape[0]
        member = self.elites[torch.randint(len(self.elites), (b,), generator=generator)]
        rows = torch.arange(b)
        y = mean[member, rows]
        if logvar is not None:
            noise = torch.randn(y.shape, generator=generator)
            y = y + noise * (0.5 * logvar[member, rows]).exp()
        y = self.out_norm.inverse(y)
        return obs + y[:, :-1], y[:, -1]


def gaussian_nll(mean: torch.Tensor, logvar: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood per member, up to a constant.

    0.5 * mean over batch and dims of [(y - mu)^2 / sigma^2 + log sigma^2]. Inputs (E, B, d).
    Returns (E,).
    """
    return 0.5 * (((target - mean) ** 2) * torch.exp(-logvar) + logvar).mean(dim=(1, 2))


@dataclass
class TrainLog:
    """What happened while fitting an ensemble."""

    epochs: int = 0
    """Epochs actually run (early stopping may end before max_epochs)."""
    train_loss: list[float] = field(default_factory=list)
    """Mean training loss (NLL or MSE, normalised targets) per epoch."""
    holdout_mse: list[list[float]] = field(default_factory=list)
    """Held-out MSE of each member (normalised targets) per epoch."""
    elites: list[int] = field(default_factory=list)
    """Indices of the elite members after training."""
    diverged: bool = False
    """True if a loss became NaN or inf; training stopped and kept the last good weights."""


def train_ensemble(
    model: DynamicsEnsemble,
    obs: torch.Tensor,
    act: torch.Tensor,
    next_obs: torch.Tensor,
    rew: torch.Tensor,
    generator: torch.Generator,
    *,
    max_epochs: int | None = None,
    progress: bool = False,
) -> TrainLog:
    """Fit the ensemble to transitions (N, .) with bootstrapping, a held-out split and early stopping.

    Keeps the weights of the epoch with the lowest mean held-out MSE and selects the elites by
    their held-out MSE. A NaN/inf loss stops training cleanly (``TrainLog.diverged``).
    """
    cfg = model.config
    n = obs.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 transitions to train a model, got {n}")
    x = torch.cat([obs, act], dim=-1)
    y = torch.cat([next_obs - obs, rew.reshape(-1, 1)], dim=-1)
    perm = torch.randperm(n, generator=generator)
    n_hold = min(max(int(n * cfg.holdout_ratio), 1), n - 1)
    hold, train = perm[:n_hold], perm[n_hold:]
    model.in_norm.fit(x[train])
    model.out_norm.fit(y[train])
    xt, yt = model.in_norm(x[train]), model.out_norm(y[train])
    xh, yh = model.in_norm(x[hold]), model.out_norm(y[hold])
    e, m = cfg.n_members, train.shape[0]
    boot = torch.randint(m, (e, m), generator=generator)  # one bootstrap resample per member
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    log = TrainLog()
    best, stale = math.inf, 0
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    epochs = cfg.max_epochs if max_epochs is None else max_epochs
    from tqdm.auto import tqdm

    for _ in tqdm(range(epochs), desc="training model", disable=not progress, leave=False):
        order = boot[:, torch.randperm(m, generator=generator)]
        losses = []
        for start in range(0, m, cfg.batch_size):
            idx = order[:, start:start + cfg.batch_size]
            mean, logvar = model(xt[idx])
            target = yt[idx]
            if cfg.probabilistic:
                loss = gaussian_nll(mean, logvar, target).sum()
                loss = loss + 0.01 * (model.max_logvar.sum() - model.min_logvar.sum())
            else:
                loss = ((mean - target) ** 2).mean(dim=(1, 2)).sum()
            if not torch.isfinite(loss):
                log.diverged = True
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item() / e)
        if log.diverged:
            break
        with torch.no_grad():
            mean, _ = model(xh.expand(e, *xh.shape))
            hold_mse = ((mean - yh) ** 2).mean(dim=(1, 2))
        log.epochs += 1
        log.train_loss.append(sum(losses) / max(len(losses), 1))
        log.holdout_mse.append(hold_mse.tolist())
        score = hold_mse.mean().item()
        if score < best * 0.99:
            best, stale = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    model.load_state_dict(best_state)
    with torch.no_grad():
        mean, _ = model(xh.expand(e, *xh.shape))
        hold_mse = ((mean - yh) ** 2).mean(dim=(1, 2))
    elites = torch.argsort(hold_mse)[: cfg.n_elites]
    model.elites.copy_(elites)
    log.elites = elites.tolist()
    return log
