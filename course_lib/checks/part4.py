"""Checks for 04_successor_representations: SR, its TD update, V from the SR, GPI, C-learning odds."""

from __future__ import annotations

import functools

import numpy as np
import torch

from course_lib import gridworld, successor
from course_lib.checks._core import Checker, exercise


def _random_chain(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random row-stochastic matrix (n, n)."""
    P = rng.random((n, n)) ** 3
    return P / P.sum(axis=1, keepdims=True)


def _maze_P_pi() -> np.ndarray:
    chain = successor.maze_chain(gridworld.DYNA_MAZE)
    return successor.policy_transition(chain.P, successor.shortest_path_policy(chain, 0.3))


@functools.cache
def _maze_inputs() -> dict[str, np.ndarray]:
    """The notebook's maze at gamma = 0.9, as inputs of the checks.

    The reward, the SR of the epsilon-greedy shortest-path policy and the successor features psi
    (K, n, A, d) of the four landmark policies. The SR matrices come from 800 sweeps of its
    Bellman equation M <- (1 - g) I + g P^pi M (0.9^800 < 1e-36: converged).
    """
    chain = successor.maze_chain(gridworld.DYNA_MAZE)
    phi = successor.landmark_features(chain)
    base = [successor.optimal_policy(chain.P, phi[:, k], 0.9) for k in range(phi.shape[1])]
    P_pis = np.stack([_maze_P_pi()] + [successor.policy_transition(chain.P, pi) for pi in base])
    eye, g = np.eye(chain.n), 0.9
    Ms = np.broadcast_to(eye, P_pis.shape)
    for _ in range(800):
        Ms = (1 - g) * eye + g * P_pis @ Ms
    psi = np.stack([successor.sr_state_action(chain.P, M, g) @ phi for M in Ms[1:]])
    return {"reward": chain.reward, "M": Ms[0], "psi": psi}


@exercise("4.1", "sr_exact")
def sr_exact(ck: Checker) -> None:
    """``sr_exact(P_pi (n, n), gamma) -> M (n, n)`` equals (1 - gamma)(I - gamma P_pi)^-1."""
    rng = np.random.default_rng(41)
    cycle = np.roll(np.eye(3), 1, axis=1)  # 0 -> 1 -> 2 -> 0
    cases = {
        "the Dyna maze, epsilon-greedy shortest-path policy, gamma = 0.9": (_maze_P_pi(), 0.9),
        "a deterministic 3-cycle 0 -> 1 -> 2 -> 0, gamma = 0.5": (cycle, 0.5),
        "a random 6-state chain, gamma = 0.99": (_random_chain(6, rng), 0.99),
        "gamma = 0: the SR is the identity (only the present state counts)": (_random_chain(4, rng), 0.0),
        "a single state that stays put, gamma = 0.7": (np.ones((1, 1)), 0.7),
    }
    for case, (P_pi, gamma) in cases.items():
        got = ck.call(P_pi, gamma, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-8, tensor=False,
                 hint="M = (1 - gamma) * inv(I - gamma * P_pi); every row of M is a distribution "
                      "over states and sums to 1. Rows index the current state s_t.")


@exercise("4.2", "sr_td_update")
def sr_td_update(ck: Checker) -> None:
    """``sr_td_update(M (n, n), s (B,), s_next (B,), gamma, alpha) -> new M (n, n)``."""
    rng = np.random.default_rng(42)
    n = 5
    M = rng.dirichlet(np.ones(n), size=n)
    cases = {
        "one sweep over all 5 states, gamma = 0.9, alpha = 0.5":
            (M, np.arange(n), rng.integers(0, n, n), 0.9, 0.5),
        "only states 1 and 3 are updated; the other rows stay unchanged":
            (M, np.array([3, 1]), np.array([0, 3]), 0.8, 0.3),
        "alpha = 1: the row becomes the TD target":
            (M, np.array([0, 2, 4]), np.array([2, 2, 0]), 0.95, 1.0),
        "gamma = 0: the target is the one-hot e_s":
            (M, np.array([1, 4]), np.array([4, 1]), 0.0, 0.25),
        "starting from M = 0 (as TD learning does)":
            (np.zeros((n, n)), np.arange(n), np.roll(np.arange(n), 1), 0.9, 1.0),
    }
    for case, (M0, s, s_next, gamma, alpha) in cases.items():
        got = ck.call(M0, s, s_next, gamma, alpha, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-10,
                 tensor=False,
                 hint="row s moves towards (1 - gamma) * e_s + gamma * M[s_next] by a fraction alpha; "
                      "use the old M on the right-hand side and leave the other rows alone.")


@exercise("4.3", "value_from_sr")
def value_from_sr(ck: Checker) -> None:
    """``value_from_sr(M (n, n), r (n,), gamma) -> V (n,)`` equals M r / (1 - gamma)."""
    rng = np.random.default_rng(43)
    maze = _maze_inputs()
    M6 = rng.dirichlet(np.ones(6) * 0.5, size=6)  # rows are distributions, as in an SR
    cases = {
        "the Dyna maze, reward 1 at the goal, gamma = 0.9": (maze["M"], maze["reward"], 0.9),
        "a random 6-state SR-like matrix with random rewards, gamma = 0.95":
            (M6, rng.normal(size=6), 0.95),
        "gamma = 0: V is the immediate reward": (np.eye(4), rng.normal(size=4), 0.0),
        "a constant reward of 1 everywhere: V = 1 / (1 - gamma)": (M6, np.ones(6), 0.8),
    }
    for case, (M, r, gamma) in cases.items():
        got = ck.call(M, r, gamma, case=case)
        ck.close(got, ck.answer(case), case=case, atol=1e-8, tensor=False,
                 hint="V(s) = mu(s)^T r / (1 - gamma): the SR row of s is a distribution, so "
                      "mu(s)^T r is an average reward; dividing by (1 - gamma) turns it into a sum.")


@exercise("4.4", "gpi_action")
def gpi_action(ck: Checker) -> None:
    """``gpi_action(psi (K, n, A, d), w (d,)) -> actions (n,)``: argmax_a max_k psi^k(s, a) . w."""
    rng = np.random.default_rng(44)
    cases = {
        "the maze: 4 base policies, new task w = (-1, 1, 0, 1)":
            (_maze_inputs()["psi"], np.array([-1.0, 1, 0, 1])),
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


@exercise("4.5", "classifier_density_ratio")
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
