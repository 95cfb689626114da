"""Checks for 04_successor_representations: psi TD update, w regression, GPI, odds, TD C-learning."""

from __future__ import annotations

import functools

import numpy as np
import torch

from course_lib import gridworld, successor
from course_lib.checks._core import Checker, exercise


@functools.cache
def _maze_psi() -> np.ndarray:
    """psi (K, n, A, d) of the notebook's four landmark policies on the maze at gamma = 0.9."""
    chain = successor.maze_chain(gridworld.DYNA_MAZE)
    phi = successor.landmark_features(chain)
    base = [successor.optimal_policy(chain.P, phi[:, k], 0.9) for k in range(phi.shape[1])]
    return np.stack([successor.successor_features(chain.P, pi, phi, 0.9) for pi in base])


@exercise("4.1", "psi_td_update")
def psi_td_update(ck: Checker) -> None:
    """``psi_td_update(psi (n, A, d), phi (n, d), s, a, s_next, a_next (B,), gamma, alpha) -> psi``."""
    rng = np.random.default_rng(41)
    n, A, d = 5, 3, 4
    psi, phi = rng.normal(size=(n, A, d)), rng.normal(size=(n, d))
    s_all, a_all = np.repeat(np.arange(n), A), np.tile(np.arange(A), n)
    cases = {
        "a full sweep over all 5 x 3 pairs (s, a), gamma = 0.9, alpha = 0.5":
            (psi, phi, s_all, a_all, rng.integers(0, n, n * A), rng.integers(0, A, n * A), 0.9, 0.5),
        "only the pairs (3, 2) and (1, 0) are updated; every other entry stays unchanged":
            (psi, phi, np.array([3, 1]), np.array([2, 0]), np.array([1, 4]), np.array([0, 1]), 0.8, 0.3),
        "alpha = 1: psi(s, a) becomes the TD target; (1, 0)'s target reads (2, 1), updated too":
            (psi, phi, np.array([1, 2]), np.array([0, 1]), np.array([2, 0]), np.array([1, 2]), 0.95, 1.0),
        "gamma = 0: the target is phi(s)":
            (psi, phi, np.array([0, 4]), np.array([1, 1]), np.array([4, 0]), np.array([2, 0]), 0.0, 0.25),
        "one-hot features phi = I: this is the TD update of the SR mu(s, a), from psi = 0":
            (np.zeros((n, A, n)), np.eye(n), s_all, a_all, np.roll(s_all, 3), a_all[::-1].copy(), 0.9, 1.0),
    }
    for case, args in cases.items():
        got = ck.call(*args, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-10, tensor=False,
                 hint="psi(s, a) moves a fraction alpha towards (1 - gamma) * phi(s) + gamma * psi(s', a'); "
                      "index with both s and a (psi[s, a]), read every target from the old psi, and "
                      "leave the other pairs alone.")


@exercise("4.2", "reward_weights")
def reward_weights(ck: Checker) -> None:
    """``reward_weights(features (N, d), rewards (N,), ridge) -> w (d,)``: ridge regression."""
    rng = np.random.default_rng(42)
    F = rng.normal(size=(40, 3))
    w = np.array([1.0, -2.0, 0.5])
    onehot = np.eye(4)[rng.integers(0, 4, 60)] * (rng.random((60, 1)) < 0.3)  # mostly no landmark
    unseen = onehot.copy()
    unseen[:, 2] = 0.0  # landmark 3 never visited
    cases = {
        "noise-free rewards of 3 dense features, ridge = 0: w is recovered exactly": (F, F @ w, 0.0),
        "noisy rewards, ridge = 0.1": (F, F @ w + rng.normal(size=40), 0.1),
        "one-hot landmark features, noisy rewards, ridge = 1": (onehot, onehot @ [1, -1, 0.5, 2]
                                                                + 0.3 * rng.normal(size=60), 1.0),
        "a landmark that was never visited (a zero column), ridge = 1":
            (unseen, unseen @ [1, -1, 0.5, 2], 1.0),
        "fewer observations than features (N = 2, d = 3), ridge = 0.5": (F[:2], F[:2] @ w, 0.5),
    }
    for case, (feats, r, ridge) in cases.items():
        got = ck.call(feats, r, ridge, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-8, tensor=False,
                 hint="minimise |F w - r|^2 + ridge |w|^2: the normal equations are "
                      "(F^T F + ridge I) w = F^T r (ridge on the diagonal only).")


@exercise("4.3", "gpi_action")
def gpi_action(ck: Checker) -> None:
    """``gpi_action(psi (K, n, A, d), w (d,)) -> actions (n,)``: argmax_a max_k psi^k(s, a) . w."""
    rng = np.random.default_rng(44)
    cases = {
        "the maze: 4 base policies, new task w = (-1, 1, 0, 1)":
            (_maze_psi(), np.array([-1.0, 1, 0, 1])),
        "random psi: K = 3 policies, n = 7 states, A = 4 actions, d = 5":
            (rng.normal(size=(3, 7, 4, 5)), rng.normal(size=5)),
        "a single policy (K = 1): GPI is the greedy policy of its Q":
            (rng.normal(size=(1, 6, 3, 2)), rng.normal(size=2)),
        "negative weights: the best action avoids reward": (rng.random((2, 5, 4, 3)), -np.ones(3)),
    }
    for case, (psi, w) in cases.items():
        got = ck.call(psi, w, case=case)
        q_gpi = ck.answer(case)  # (n, A): max over policies of Q^k(s, a), up to 1/(1-gamma)
        arr = np.asarray(got)
        n, n_act = q_gpi.shape
        ck.true(arr.shape == (n,), case=case,
                problem=f"expected one action per state, shape ({n},), got {_shape(got)}.",
                hint="reduce over the policies (axis 0) with max, then over actions with argmax.")
        ck.true(np.issubdtype(arr.dtype, np.integer) and ((arr >= 0) & (arr < n_act)).all(), case=case,
                problem=f"expected integer actions in 0..{n_act - 1}, got {arr.dtype} values "
                        f"{np.array2string(arr, threshold=8)}.",
                hint="argmax returns indices; do not return Q-values or policy numbers.")
        # ties are allowed: any action whose GPI value is the best one is right
        ck.close(q_gpi[np.arange(n), arr], q_gpi.max(axis=1), case=case + " (GPI value of your actions)",
                 atol=1e-9, rtol=0,
                 hint="Q^k(s, a) is psi^k(s, a) . w (the factor 1/(1-gamma) does not change the "
                      "argmax); take the max over policies k first, then the argmax over actions a.")


def _shape(x) -> str:
    return f"shape {tuple(np.shape(x))}" if hasattr(x, "shape") else type(x).__name__


@exercise("4.4", "classifier_density_ratio")
def classifier_density_ratio(ck: Checker) -> None:
    """``classifier_density_ratio(logits (B,), neg_per_pos) -> (B,)`` = neg_per_pos * C / (1 - C)."""
    gen = torch.Generator().manual_seed(45)
    cases = {
        "balanced classes (one negative per positive), 8 random logits":
            (torch.randn(8, generator=gen) * 2, 1.0),
        "four negatives per positive": (torch.randn(6, generator=gen), 4.0),
        "half a negative per positive": (torch.randn(5, generator=gen), 0.5),
        "confident logits up to 20 in float32 (C rounds to 1.0)":
            (torch.tensor([-20.0, -5.0, 0.0, 5.0, 17.0, 20.0]), 1.0),
    }
    for case, (logits, k) in cases.items():
        got = ck.call(logits, k, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-12, rtol=1e-4,
                 tensor=True,
                 hint="with C = sigmoid(logit), C / (1 - C) = exp(logit): use the logit directly "
                      "(1 - C is 0 in float32 for confident logits). With k negatives per positive "
                      "the prior odds are 1/k, so multiply the odds by k.")


class ToyClassifier:
    """A fixed small network logit(s, a, s_f, gamma) for the checks of Exercise 4.5.

    logit = tanh(x W1) w2 with x = (s, a, s_f - s, gamma); W1 (7, 8), w2 (8,) are float64 tensors.
    """

    def __init__(self, W1: torch.Tensor, w2: torch.Tensor):
        self.W1, self.w2 = W1, w2

    def __call__(self, s: torch.Tensor, a: torch.Tensor, s_f: torch.Tensor, gamma) -> torch.Tensor:
        gamma = torch.as_tensor(gamma, dtype=torch.float64).expand(s.shape[0])
        x = torch.cat([s, a, s_f - s, gamma[:, None]], dim=-1).double()
        return torch.tanh(x @ self.W1) @ self.w2


def toy_classifier(generator: torch.Generator, scale: float = 1.0) -> ToyClassifier:
    """A :class:`ToyClassifier` with random weights (logits of size ~ ``scale``)."""
    W1 = torch.randn(7, 8, generator=generator, dtype=torch.float64)
    return ToyClassifier(W1, scale * torch.randn(8, generator=generator, dtype=torch.float64) / 2)


def td_batch(B: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Random transitions s, a, s_next, a_next, s_rand, each (B, 2), in [-1, 1]^2 (float64)."""
    return [torch.rand(B, 2, generator=generator, dtype=torch.float64) * 2 - 1 for _ in range(5)]


@exercise("4.5", "td_classifier_loss")
def td_classifier_loss(ck: Checker) -> None:
    """``td_classifier_loss(clf, target_clf, s, a, s_next, a_next, s_rand, gamma (B,)) -> scalar``."""
    gen = torch.Generator().manual_seed(45)
    clf, target = toy_classifier(gen), toy_classifier(gen, scale=2.0)
    batch = td_batch(6, gen)
    cases = {
        "6 transitions, gamma = 0.9 in every row": (clf, target, *batch, torch.full((6,), 0.9)),
        "a different gamma in every row": (clf, target, *batch,
                                           torch.tensor([0.5, 0.8, 0.9, 0.95, 0.98, 0.6]).double()),
        "gamma = 0: only the next state is a positive":
            (clf, target, *batch, torch.zeros(6, dtype=torch.float64)),
        "a confident target classifier (large odds w)":
            (clf, toy_classifier(gen, scale=6.0), *td_batch(9, gen),
                                                         torch.full((9,), 0.95)),
    }
    for case, args in cases.items():
        got = ck.call(*args, case=case)
        ck.true(isinstance(got, torch.Tensor), case=case,
                problem=f"expected a torch tensor (the loss to minimise), got {type(got).__name__}.",
                hint="build the loss from torch operations so that gradients flow into clf.")
        ck.close(ck.scalar(got, case=case), ck.answer(case), case=case, atol=1e-8, rtol=1e-6,
                 hint="three pairs: (s, a, s_next) is a positive with weight 1 - gamma; (s, a, s_rand) is a "
                      "negative with weight 1 and a positive with weight gamma * w, where w = "
                      "exp(target_clf(s_next, a_next, s_rand, gamma)) (the odds, from the target). "
                      "-log C = softplus(-logit), -log(1 - C) = softplus(logit); average over the batch.")
