"""Open loop vs closed loop when information arrives later: the lecture's "math test".

A small finite-horizon MDP with chance, solved exactly three ways (lecture part 1):

* **open loop**: the best fixed action sequence, chosen before seeing anything,
  max_{a_0..a_{H-1}} E[sum_t r_t];
* **closed loop**: the best policy pi(a | s, t), by backward induction
  V_t(s) = max_a [R(s, a) + sum_s' P(s' | s, a) V_{t+1}(s')];
* **MPC**: at every step, plan the best open-loop sequence from the *current* state, execute
  its first action, replan. Its value is that policy's exact expected return.

In general open loop <= MPC <= closed loop: replanning uses information once it has arrived,
but each plan still assumes it will act blind, so MPC never *goes and gets* information.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["FiniteMDP", "math_test", "closed_loop_value", "open_loop_value", "mpc_value", "compare"]


@dataclass(frozen=True)
class FiniteMDP:
    """A finite-horizon MDP with tabular transitions and rewards."""

    P: np.ndarray
    """(S, A, S) transition probabilities P(s' | s, a)."""
    R: np.ndarray
    """(S, A) expected reward of taking a in s."""
    horizon: int
    """Number of decisions H."""
    start: int
    """Start state s_0."""
    state_names: tuple[str, ...]
    """A name per state (for printing)."""
    action_names: tuple[str, ...]
    """A name per action."""


def math_test(n_questions: int = 4, reward_right: float = 2.0, penalty_wrong: float = 1.0,
              pop_quiz: float = 0.3) -> FiniteMDP:
    """The math test. Step 0: take the test or skip it. Step 1: answer the question.

    Taking the test shows one of ``n_questions`` questions, uniformly at random, *after* you
    have decided. A right answer earns ``reward_right``, a wrong one (or none) costs
    ``penalty_wrong``. If you skip, a pop quiz still comes with probability ``pop_quiz``.
    States: start, "question k" (k = 1..K), "no test", "done". Actions: 0 = skip / leave
    blank, k = take the test / answer k.
    """
    if not isinstance(n_questions, (int, np.integer)) or n_questions < 1:
        raise ValueError(f"n_questions: expected an int >= 1, got {n_questions!r}")
    if not 0.0 <= pop_quiz <= 1.0:
        raise ValueError(f"pop_quiz: expected a probability in [0, 1], got {pop_quiz!r}")
    k = int(n_questions)
    n_s, n_a = k + 3, k + 1
    start, free, done = 0, k + 1, k + 2
    P, R = np.zeros((n_s, n_a, n_s)), np.zeros((n_s, n_a))
    P[start, 1:, 1:k + 1] = 1.0 / k                          # take the test: a random question
    P[start, 0, 1:k + 1] = pop_quiz / k                      # skip: maybe a pop quiz anyway
    P[start, 0, free] = 1.0 - pop_quiz
    for q in range(1, k + 1):                                # answer question q
        P[q, :, done] = 1.0
        R[q, :] = -penalty_wrong
        R[q, q] = reward_right
    P[free, :, done] = 1.0
    P[done, :, done] = 1.0
    names = ("start", *(f"question {q}" for q in range(1, k + 1)), "no test", "done")
    actions = ("skip / blank", *(f"take / answer {q}" for q in range(1, k + 1)))
    return FiniteMDP(P, R, 2, start, names, actions)


def closed_loop_value(mdp: FiniteMDP) -> tuple[np.ndarray, np.ndarray]:
    """Backward induction. Returns V (H + 1, S) and the greedy policy (H, S) of action ids."""
    n_s = mdp.P.shape[0]
    V = np.zeros((mdp.horizon + 1, n_s))
    policy = np.zeros((mdp.horizon, n_s), dtype=int)
    for t in range(mdp.horizon - 1, -1, -1):
        Q = mdp.R + mdp.P @ V[t + 1]  # (S, A)
        policy[t], V[t] = Q.argmax(1), Q.max(1)
    return V, policy


def open_loop_value(mdp: FiniteMDP, state: int | None = None, t: int = 0
                    ) -> tuple[float, tuple[int, ...]]:
    """Best fixed action sequence for steps t..H-1 from ``state``: (expected return, actions).

    Enumerates all A^(H - t) sequences at once, propagating the state distribution
    d' = d P[:, a].
    Ties go to the first sequence in lexicographic order.
    """
    n_s, n_a = mdp.R.shape
    seqs = np.array(list(itertools.product(range(n_a), repeat=mdp.horizon - t)), dtype=int)
    seqs = seqs.reshape(len(seqs), mdp.horizon - t)
    d = np.zeros((len(seqs), n_s))  # state distribution under each sequence
    d[:, mdp.start if state is None else state] = 1.0
    total = np.zeros(len(seqs))
    for k in range(seqs.shape[1]):
        a = seqs[:, k]
        total += (d * mdp.R[:, a].T).sum(1)
        d = np.einsum("ns,snk->nk", d, mdp.P[:, a])
    i = int(np.argmax(total > total.max() - 1e-12))  # first sequence within rounding of the best
    return float(total[i]), tuple(int(x) for x in seqs[i])


def mpc_value(mdp: FiniteMDP) -> tuple[float, np.ndarray]:
    """Exact expected return of MPC: in state s at step t, act as the best open-loop plan from s.

    Returns (value from the start state, MPC's policy (H, S)).
    """
    n_s = mdp.P.shape[0]
    policy = np.array([[open_loop_value(mdp, s, t)[1][0] for s in range(n_s)]
                       for t in range(mdp.horizon)])
    V = np.zeros(n_s)
    for t in range(mdp.horizon - 1, -1, -1):  # evaluate that policy exactly
        a = policy[t]
        rows = np.arange(n_s)
        V = mdp.R[rows, a] + mdp.P[rows, a] @ V
    return float(V[mdp.start]), policy


def compare(mdp: FiniteMDP) -> dict[str, float]:
    """Expected returns from the start state: {"open loop", "MPC (replanning)", "closed loop"}."""
    V, _ = closed_loop_value(mdp)
    return {"open loop": open_loop_value(mdp)[0], "MPC (replanning)": mpc_value(mdp)[0],
            "closed loop": float(V[0, mdp.start])}
