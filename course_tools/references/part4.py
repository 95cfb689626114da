"""Reference answers of 04_successor_representations: SR, TD update of the SR, V from the SR, GPI, odds."""

from __future__ import annotations

import numpy as np
import torch

from course_tools.references import reference


@reference("4.1")
def sr_exact(P_pi: np.ndarray, gamma: float) -> np.ndarray:
    """The exact SR matrix M = (1 - gamma)(I - gamma P^pi)^-1. P_pi (n, n) -> M (n, n), rows sum to 1."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma: expected a number in [0, 1), got {gamma!r}")
    n = P_pi.shape[0]
    return (1.0 - gamma) * np.linalg.solve(np.eye(n) - gamma * P_pi, np.eye(n))


@reference("4.2")
def sr_td_update(M: np.ndarray, s: np.ndarray, s_next: np.ndarray, gamma: float,
                 alpha: float) -> np.ndarray:
    """One batched TD(0) step for the SR: mu(s) <- mu(s) + alpha [(1-gamma) e_s + gamma mu(s') - mu(s)].

    M (n, n); s, s_next (B,) int with distinct s. Returns the updated copy of M (n, n).
    """
    target = (1.0 - gamma) * np.eye(M.shape[0])[s] + gamma * M[s_next]
    out = M.copy()
    out[s] += alpha * (target - M[s])
    return out


@reference("4.3")
def value_from_sr(M: np.ndarray, r: np.ndarray, gamma: float) -> np.ndarray:
    """V^pi = M r / (1 - gamma). M (n, n), r (n,) -> V (n,)."""
    return M @ r / (1.0 - gamma)


def gpi_values(psi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """What the 4.4 checks compare with: max_k psi^k(s, a) . w, (n, A) (ties between actions allowed)."""
    return (psi @ w).max(axis=0)


@reference("4.4", expected=gpi_values)
def gpi_action(psi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Generalised policy improvement: a(s) = argmax_a max_k psi^k(s, a) . w.

    psi (K, n, A, d) successor features of K policies, w (d,) -> actions (n,) int.
    """
    return gpi_values(psi, w).argmax(axis=1)


def density_ratio_float64(logits: torch.Tensor, neg_per_pos: float) -> torch.Tensor:
    """What the 4.5 checks compare with: the ratio computed in float64, whatever the logits' dtype."""
    return classifier_density_ratio(logits.double(), neg_per_pos)


@reference("4.5", expected=density_ratio_float64)
def classifier_density_ratio(logits: torch.Tensor, neg_per_pos: float) -> torch.Tensor:
    """p^pi(s_f | s, a) / p(s_f) = neg_per_pos * C / (1 - C) = neg_per_pos * exp(logit). (B,) -> (B,)."""
    return neg_per_pos * torch.exp(logits)
