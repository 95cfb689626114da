"""Successor representations, successor features and generalised policy improvement on a maze.

A maze becomes a Markov chain over its free cells (walls are not states). Reaching the goal
restarts the episode: from the goal, the next state is the start whatever the action. So
the chain never ends, every row of P^pi sums to 1, and the state reward r(s) = 1 at the
goal counts one arrival per visit. With that convention the three routes to V^pi below
(exact SR, TD-learned SR, and plain policy evaluation) describe the same quantity.

Conventions (the course's; Dayan 1993 and Barreto et al. 2017 scale differently, see below).
The successor representation of a state-action pair under pi is the discounted distribution
of the states that follow it, the present one included:

    mu(s, a)_i = (1 - gamma) sum_{k >= 0} gamma^k p(s_{t+k} = i | s_t = s, a_t = a),

and mu(s) = sum_a pi(a | s) mu(s, a). Stacked into M (n, n) with rows mu(s), it obeys
M = (1 - gamma) I + gamma P^pi M, so M = (1 - gamma)(I - gamma P^pi)^-1 (``sr_matrix``): every row
sums to 1. Dayan's (1993) M_D = (I - gamma P^pi)^-1 = M / (1 - gamma) counts discounted visits.
With state features phi (n, d) the successor features are psi(s, a) = mu(s, a)^T phi (d,); they
obey psi(s, a) = (1 - gamma) phi(s) + gamma E[psi(s', a')], and a reward r = phi w has
Q(s, a) = psi(s, a)^T w / (1 - gamma). Barreto et al.'s psi_B, built from features
phi(s, a, s') of transitions, is ours divided by (1 - gamma) when phi(s, a, s') = phi(s).

The notebook's exercises are pieces of this module's algorithms: the TD update of psi
(Exercise 4.1), the regression for w (4.2) and GPI's action choice (4.3). An algorithm that
needs one takes it as an argument (``learn_psi_td(td_update, ...)``); the notebook passes yours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from course_lib.gridworld import Maze

__all__ = [
    "MazeChain",
    "maze_chain",
    "maze_distances",
    "shortest_path_policy",
    "LANDMARKS",
    "landmark_features",
    "policy_transition",
    "sr_matrix",
    "learn_psi_td",
    "TDLog",
    "policy_evaluation",
    "sr_state_action",
    "successor_features",
    "observe_rewards",
    "policy_table",
    "greedy_policy",
    "optimal_policy",
]


@dataclass(frozen=True)
class MazeChain:
    """A maze as a chain over its free cells; from the goal, every action leads to the start."""

    maze: Maze
    """The grid maze (``course_lib.gridworld``)."""
    cells: np.ndarray
    """(n,) maze state numbers of the free cells; chain state i is maze state cells[i]."""
    P: np.ndarray
    """(n, A, n) transition probabilities P[s, a, s']."""
    reward: np.ndarray
    """(n,) state reward r(s): 1 at the goal, 0 elsewhere."""
    start: int
    """Chain index of the start cell."""
    goal: int
    """Chain index of the goal cell."""

    @property
    def n(self) -> int:
        """Number of states (free cells)."""
        return len(self.cells)

    def index(self, cell: tuple[int, int]) -> int:
        """Chain index of a (row, col) cell; raises if it is a wall or off the grid."""
        hits = np.flatnonzero(self.cells == self.maze.index(cell))
        if len(hits) != 1:
            raise ValueError(f"cell: expected a free cell of the maze, got {cell!r}")
        return int(hits[0])

    def to_grid(self, values: np.ndarray) -> np.ndarray:
        """Values (n,) on the chain's states -> (rows, cols) image with NaN on the walls."""
        values = np.asarray(values, dtype=float)
        if values.shape != (self.n,):
            raise ValueError(f"values: expected shape ({self.n},), got {values.shape}")
        grid = np.full(self.maze.rows * self.maze.cols, np.nan)
        grid[self.cells] = values
        return grid.reshape(self.maze.rows, self.maze.cols)

    def render(self, pi: np.ndarray) -> str:
        """ASCII picture of the maze with the most likely action of pi (n, A) in every free cell."""
        actions = np.zeros(self.maze.n_states, dtype=int)
        actions[self.cells] = np.asarray(pi).argmax(axis=1)
        return self.maze.render(actions)


def maze_chain(maze: Maze) -> MazeChain:
    """Build the chain of ``maze``: P (n, A, n) from ``maze.transition_table``, goal -> start."""
    nxt, _, _ = maze.transition_table()
    cells = maze.free_states()
    pos = {int(c): i for i, c in enumerate(cells)}
    n, n_act = len(cells), maze.n_actions
    P = np.zeros((n, n_act, n))
    for i, c in enumerate(cells):
        for a in range(n_act):
            target = maze.start_state if c == maze.goal_state else int(nxt[c, a])
            P[i, a, pos[target]] = 1.0
    reward = (cells == maze.goal_state).astype(float)
    return MazeChain(maze, cells, P, reward, pos[maze.start_state], pos[maze.goal_state])


def maze_distances(chain: MazeChain) -> np.ndarray:
    """D[i, j] = fewest moves from cell i to cell j through the maze (the goal's restart ignored). (n, n)."""
    succ = chain.P.argmax(axis=2)  # (n, A) deterministic successors
    pos = {int(c): i for i, c in enumerate(chain.cells)}
    maze = chain.maze
    succ[chain.goal] = [pos[maze.step(maze.goal_state, a)[0]] for a in range(maze.n_actions)]
    D = np.full((chain.n, chain.n), np.inf)
    np.fill_diagonal(D, 0.0)
    for _ in range(chain.n):  # Bellman-Ford on unit costs, all sources at once
        D = np.minimum(D, 1 + D[succ].min(axis=1))
        np.fill_diagonal(D, 0.0)
    return D


def shortest_path_policy(chain: MazeChain, epsilon: float) -> np.ndarray:
    """pi (n, A): the shortest-path action with prob. 1 - epsilon, plus epsilon spread uniformly.

    Ties between shortest-path actions go to the lowest action number.
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon: expected a number in [0, 1], got {epsilon!r}")
    dist = maze_distances(chain)[:, chain.goal]
    greedy = dist[chain.P.argmax(axis=2)].argmin(axis=1)
    n_act = chain.P.shape[1]
    pi = np.full((chain.n, n_act), epsilon / n_act)
    pi[np.arange(chain.n), greedy] += 1.0 - epsilon
    return pi


LANDMARKS: tuple[tuple[int, int], ...] = ((0, 8), (5, 0), (0, 0), (5, 8))
"""Cells of the landmark features: the goal, then the bottom-left, top-left, bottom-right corners."""


def landmark_features(chain: MazeChain, cells: tuple[tuple[int, int], ...] = LANDMARKS) -> np.ndarray:
    """phi (n, d): phi_k(s) = 1 if s is landmark cell k, else 0. A reward r = phi w pays w_k there."""
    phi = np.zeros((chain.n, len(cells)))
    for k, cell in enumerate(cells):
        phi[chain.index(cell), k] = 1.0
    return phi


def policy_transition(P: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """P^pi[s, s'] = sum_a pi(a | s) P[s, a, s']. P (n, A, n), pi (n, A) -> (n, n)."""
    if P.ndim != 3 or pi.shape != P.shape[:2]:
        raise ValueError(f"P, pi: expected shapes (n, A, n) and (n, A), got {P.shape}, {pi.shape}")
    return np.einsum("sa,sat->st", pi, P)


def _check_gamma(gamma: float) -> None:
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma: expected a number in [0, 1), got {gamma!r}")


def sr_matrix(P_pi: np.ndarray, gamma: float) -> np.ndarray:
    """The exact SR M = (1 - gamma)(I - gamma P^pi)^-1. P_pi (n, n) -> M (n, n); rows sum to 1."""
    _check_gamma(gamma)
    n = P_pi.shape[0]
    return (1.0 - gamma) * np.linalg.solve(np.eye(n) - gamma * P_pi, np.eye(n))


@dataclass
class TDLog:
    """Max-abs error of TD-learned successor features against the exact ones during learning."""

    sweeps: list[int]
    """Sweep numbers at which the error was recorded."""
    max_abs_error: list[float]
    """max |psi_td - psi_exact| at those sweeps."""


PsiTDUpdate = Callable[..., np.ndarray]
"""``td_update(psi (n, A, d), phi (n, d), s, a, s_next, a_next (B,), gamma, alpha) -> new psi``:
one batched TD(0) step of the successor features on the pairs (s, a) (Exercise 4.1)."""


def _sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``probs`` (B, m), by inverse-CDF sampling. -> (B,) int."""
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    return (rng.random((len(probs), 1)) > cdf).sum(axis=1)


def learn_psi_td(td_update: PsiTDUpdate, P: np.ndarray, pi: np.ndarray, phi: np.ndarray, gamma: float,
                 n_sweeps: int, rng: np.random.Generator, *, alpha0: float = 1.0, decay: float = 1.0,
                 psi_exact: np.ndarray | None = None, log_every: int = 50) -> tuple[np.ndarray, TDLog]:
    """TD-learn psi^pi (n, A, d) from sampled transitions, starting from psi = 0.

    Each sweep takes every pair (s, a) once, samples s' ~ P[s, a] and a' ~ pi(s') and applies
    ``td_update`` to the whole batch (n A transitions). The step size alpha_k = alpha0 /
    (1 + k (1 - gamma))^decay decays with the sweep number k (Robbins-Monro for 0.5 < decay <= 1).
    P (n, A, n), pi (n, A), phi (n, d). With phi = I (one-hot features) psi is the SR mu(s, a).
    Returns psi and a :class:`TDLog` (filled only when ``psi_exact`` is given).
    """
    _check_gamma(gamma)
    n, n_act = pi.shape
    s = np.repeat(np.arange(n), n_act)
    a = np.tile(np.arange(n_act), n)
    psi = np.zeros((n, n_act, phi.shape[1]))
    log = TDLog([], [])
    for k in range(n_sweeps):
        s_next = _sample_rows(P[s, a], rng)
        a_next = _sample_rows(pi[s_next], rng)
        alpha = alpha0 / (1.0 + k * (1.0 - gamma)) ** decay
        psi = np.asarray(td_update(psi, phi, s, a, s_next, a_next, gamma, alpha), dtype=float)
        if psi_exact is not None and (k % log_every == 0 or k == n_sweeps - 1):
            log.sweeps.append(k + 1)
            log.max_abs_error.append(float(np.abs(psi - psi_exact).max()))
    return psi, log


def policy_evaluation(P_pi: np.ndarray, r: np.ndarray, gamma: float, tol: float = 1e-12,
                      max_iter: int = 100_000) -> np.ndarray:
    """Iterate V <- r + gamma P^pi V until the change is below ``tol`` (no SR involved). -> (n,)."""
    _check_gamma(gamma)
    V = np.zeros_like(r, dtype=float)
    for _ in range(max_iter):
        V_new = r + gamma * P_pi @ V
        if np.abs(V_new - V).max() < tol:
            return V_new
        V = V_new
    raise RuntimeError(f"policy evaluation did not converge in {max_iter} iterations")


def sr_state_action(P: np.ndarray, M: np.ndarray, gamma: float) -> np.ndarray:
    """mu(s, a) = (1 - gamma) e_s + gamma sum_s' P[s, a, s'] mu(s'). P (n, A, n), M (n, n) -> (n, A, n)."""
    n = M.shape[0]
    return (1.0 - gamma) * np.eye(n)[:, None, :] + gamma * np.einsum("sat,tj->saj", P, M)


def successor_features(P: np.ndarray, pi: np.ndarray, phi: np.ndarray, gamma: float) -> np.ndarray:
    """The exact psi^pi(s, a) = mu^pi(s, a)^T phi, from the state SR ``sr_matrix(P^pi, gamma)``.

    P (n, A, n), pi (n, A), phi (n, d) -> psi (n, A, d). The action-value of a reward
    r = phi w is Q^pi(s, a) = psi^pi(s, a) . w / (1 - gamma).
    """
    M = sr_matrix(policy_transition(P, pi), gamma)
    return sr_state_action(P, M, gamma) @ phi


def observe_rewards(chain: MazeChain, phi: np.ndarray, w: np.ndarray, n_steps: int, noise: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Wander the maze with the uniformly random policy and log (phi(s_t), r_t) on a new task.

    Starts at the start cell; r_t = phi(s_t) . w + noise * N(0, 1) (what an agent sees, not w).
    Returns features (n_steps, d) and rewards (n_steps,).
    """
    n_act = chain.P.shape[1]
    states = np.empty(n_steps, dtype=int)
    s = chain.start
    for t in range(n_steps):
        states[t] = s
        s = int(_sample_rows(chain.P[s, rng.integers(n_act)][None], rng)[0])
    feats = phi[states]
    return feats, feats @ w + noise * rng.standard_normal(n_steps)


def policy_table(actions: np.ndarray, n_actions: int) -> np.ndarray:
    """The deterministic policy that takes ``actions[s]`` in state s, as a table pi (n, A) of 0s and 1s."""
    actions = np.asarray(actions)
    if actions.ndim != 1 or not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"actions: expected a 1-d array of ints, got {actions.dtype} of shape "
                         f"{actions.shape}")
    pi = np.zeros((len(actions), n_actions))
    pi[np.arange(len(actions)), actions] = 1.0
    return pi


def greedy_policy(Q: np.ndarray) -> np.ndarray:
    """Deterministic pi (n, A) that takes argmax_a Q[s, a] (lowest action on ties). Q (n, A)."""
    return policy_table(Q.argmax(axis=1), Q.shape[1])


def optimal_policy(P: np.ndarray, r: np.ndarray, gamma: float, tol: float = 1e-12) -> np.ndarray:
    """Value iteration for the state reward r (n,): returns the greedy optimal pi (n, A)."""
    _check_gamma(gamma)
    V = np.zeros(P.shape[0])
    while True:
        Q = r[:, None] + gamma * P @ V
        V_new = Q.max(axis=1)
        if np.abs(V_new - V).max() < tol:
            return greedy_policy(Q)
        V = V_new
