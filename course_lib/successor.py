"""Successor representations, successor features and generalised policy improvement on a maze.

A maze becomes a Markov chain over its free cells (walls are not states). Reaching the goal
restarts the episode: from the goal, the next state is the start whatever the action. So
the chain never ends, every row of P^pi sums to 1, and the state reward r(s) = 1 at the
goal counts one arrival per visit. With that convention the three routes to V^pi below
(exact SR, TD-learned SR, and plain policy evaluation) describe the same quantity.

Notation (lecture): the successor representation of state s_t under pi is the discounted
distribution of the states that follow it,

    mu_i(s_t) = (1 - gamma) sum_{t' >= t} gamma^(t' - t) p(s_t' = i | s_t),

stacked into a matrix M (n, n) with rows mu(s). It obeys mu(s_t) = (1 - gamma) e_{s_t}
+ gamma E[mu(s_t+1)], i.e. M = (1 - gamma) I + gamma P^pi M, and V^pi is an average of r under
mu, rescaled. With features phi (n, d), the successor features are psi = M phi: a reward
r = phi w is then evaluated by psi w, without relearning.

The notebook's exercises are the pieces of this module: the exact SR (Exercise 4.1), its TD
update (4.2), the value read off the SR (4.3) and GPI's action choice (4.4). Each algorithm
below that needs one of them takes it as an argument (``learn_sr_td(td_update, ...)``,
``successor_features(sr, ...)``); the notebook passes the function you wrote.
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
    "learn_sr_td",
    "TDLog",
    "policy_evaluation",
    "sr_state_action",
    "successor_features",
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


@dataclass
class TDLog:
    """Max-abs error of the TD-learned SR against the exact matrix during learning."""

    sweeps: list[int]
    """Sweep numbers at which the error was recorded."""
    max_abs_error: list[float]
    """max_ij |M_td - M_exact| at those sweeps."""


TDUpdate = Callable[[np.ndarray, np.ndarray, np.ndarray, float, float], np.ndarray]
"""``td_update(M (n, n), s (B,), s_next (B,), gamma, alpha) -> new M (n, n)``: one batched TD(0)
step of the SR on the rows ``s`` (Exercise 4.2)."""


def learn_sr_td(td_update: TDUpdate, P_pi: np.ndarray, gamma: float, n_sweeps: int,
                rng: np.random.Generator, *, alpha0: float = 1.0, decay: float = 1.0,
                M_exact: np.ndarray | None = None, log_every: int = 50) -> tuple[np.ndarray, TDLog]:
    """TD-learn the SR from sampled transitions: each sweep samples s' ~ P^pi(s, .) for every s.

    Every sweep applies ``td_update`` once to all n rows (the sampled pairs (s, s')). The step
    size alpha_k = alpha0 / (1 + k (1 - gamma))^decay decays with the sweep number k
    (Robbins-Monro for 0.5 < decay <= 1). Starts from M = 0. Returns M (n, n) and a
    :class:`TDLog` (filled only when ``M_exact`` is given).
    """
    _check_gamma(gamma)
    n = P_pi.shape[0]
    states = np.arange(n)
    cdf = np.cumsum(P_pi, axis=1)
    cdf[:, -1] = 1.0
    M = np.zeros((n, n))
    log = TDLog([], [])
    for k in range(n_sweeps):
        s_next = (rng.random((n, 1)) > cdf).sum(axis=1)  # inverse-CDF sampling, one per state
        alpha = alpha0 / (1.0 + k * (1.0 - gamma)) ** decay
        M = np.asarray(td_update(M, states, s_next, gamma, alpha), dtype=float)
        if M_exact is not None and (k % log_every == 0 or k == n_sweeps - 1):
            log.sweeps.append(k + 1)
            log.max_abs_error.append(float(np.abs(M - M_exact).max()))
    return M, log


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


SR = Callable[[np.ndarray, float], np.ndarray]
"""``sr(P_pi (n, n), gamma) -> M (n, n)``: the SR matrix of a policy's chain (Exercise 4.1)."""


def successor_features(sr: SR, P: np.ndarray, pi: np.ndarray, phi: np.ndarray, gamma: float) -> np.ndarray:
    """psi^pi(s, a) = mu^pi(s, a)^T phi, with the state SR M = ``sr(P^pi, gamma)``.

    P (n, A, n), pi (n, A), phi (n, d) -> psi (n, A, d). The action-value of a reward
    r = phi w is Q^pi(s, a) = psi^pi(s, a) . w / (1 - gamma).
    """
    M = np.asarray(sr(policy_transition(P, pi), gamma), dtype=float)
    return sr_state_action(P, M, gamma) @ phi


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
