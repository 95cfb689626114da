"""Reference answers of 04_successor_representations: psi TD, w regression, GPI, odds, TD C-learning."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from course_tools.references import reference


@reference("4.1")
def psi_td_update(psi: np.ndarray, phi: np.ndarray, s: np.ndarray, a: np.ndarray, s_next: np.ndarray,
                  a_next: np.ndarray, gamma: float, alpha: float) -> np.ndarray:
    """One batched TD(0) step for the successor features.

    psi(s, a) <- psi(s, a) + alpha [(1 - gamma) phi(s) + gamma psi(s', a') - psi(s, a)].
    psi (n, A, d), phi (n, d); s, a, s_next, a_next (B,) int with distinct pairs (s, a).
    Returns the updated copy of psi (n, A, d); every target reads the old psi.
    """
    target = (1.0 - gamma) * phi[s] + gamma * psi[s_next, a_next]
    out = psi.copy()
    out[s, a] += alpha * (target - psi[s, a])
    return out


@reference("4.2")
def reward_weights(features: np.ndarray, rewards: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge regression of observed rewards on features: w = (F^T F + ridge I)^-1 F^T r.

    features (N, d), rewards (N,), ridge >= 0 -> w (d,).
    """
    d = features.shape[1]
    return np.linalg.solve(features.T @ features + ridge * np.eye(d), features.T @ rewards)


def gpi_values(psi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """What the 4.3 checks compare with: max_k psi^k(s, a) . w, (n, A) (ties between actions allowed)."""
    return (psi @ w).max(axis=0)


@reference("4.3", expected=gpi_values)
def gpi_action(psi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Generalised policy improvement: a(s) = argmax_a max_k psi^k(s, a) . w.

    psi (K, n, A, d) successor features of K policies, w (d,) -> actions (n,) int.
    """
    return gpi_values(psi, w).argmax(axis=1)


def density_ratio_float64(logits: torch.Tensor, neg_per_pos: float) -> torch.Tensor:
    """What the 4.4 checks compare with: the ratio computed in float64, whatever the logits' dtype."""
    return classifier_density_ratio(logits.double(), neg_per_pos)


@reference("4.4", expected=density_ratio_float64)
def classifier_density_ratio(logits: torch.Tensor, neg_per_pos: float) -> torch.Tensor:
    """p^pi(s_f | s, a) / p(s_f) = neg_per_pos * C / (1 - C) = neg_per_pos * exp(logit). (B,) -> (B,)."""
    return neg_per_pos * torch.exp(logits)


def td_loss_value(*args) -> float:
    """What the 4.5 checks compare with: the loss as a Python float."""
    return float(td_classifier_loss(*args))


@reference("4.5", expected=td_loss_value)
def td_classifier_loss(clf, target_clf, s: torch.Tensor, a: torch.Tensor, s_next: torch.Tensor,
                       a_next: torch.Tensor, s_rand: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """TD C-learning's loss on a batch of transitions (Eysenbach et al., 2021).

    Pairs: (s, a, s_next) is a positive of weight 1 - gamma; (s, a, s_rand) is a negative of
    weight 1 and a positive of weight gamma w, with w = exp(target_clf(s_next, a_next, s_rand))
    the target classifier's odds (no gradient). All inputs (B, 2) except gamma (B,); clf and
    target_clf map (s, a, s_f, gamma) to logits (B,). Returns the mean loss, a scalar tensor.
    """
    with torch.no_grad():
        w = torch.exp(target_clf(s_next, a_next, s_rand, gamma))
    logit_next = clf(s, a, s_next, gamma)
    logit_rand = clf(s, a, s_rand, gamma)
    loss = ((1 - gamma) * F.softplus(-logit_next) + gamma * w * F.softplus(-logit_rand)
            + F.softplus(logit_rand))
    return loss.mean()
