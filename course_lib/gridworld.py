"""Grid mazes from Sutton & Barto (2nd ed.), chapter 8: the Dyna maze and the changing mazes.

States are cells (row, col), numbered ``row * cols + col``; actions are up, down, right, left.
Moving into a wall or off the grid leaves the agent where it is. Reaching the goal gives
reward 1 and ends the episode (the agent restarts at the start); every other step gives 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ACTIONS",
    "Maze",
    "DYNA_MAZE",
    "BLOCKING_MAZE",
    "BLOCKING_MAZE_AFTER",
    "SHORTCUT_MAZE",
    "SHORTCUT_MAZE_AFTER",
]

ACTIONS = ((-1, 0), (1, 0), (0, 1), (0, -1))
"""Row/column moves of actions 0..3: up, down, right, left."""
ARROWS = "↑↓→←"


@dataclass(frozen=True)
class Maze:
    """A deterministic grid maze."""

    rows: int
    """Number of rows."""
    cols: int
    """Number of columns."""
    start: tuple[int, int]
    """Start cell (row, col)."""
    goal: tuple[int, int]
    """Goal cell (row, col); terminal, reward 1 on arrival."""
    walls: frozenset[tuple[int, int]]
    """Blocked cells."""

    @property
    def n_states(self) -> int:
        return self.rows * self.cols

    n_actions: int = 4

    def index(self, cell: tuple[int, int]) -> int:
        """State number of a cell."""
        return cell[0] * self.cols + cell[1]

    def cell(self, state: int) -> tuple[int, int]:
        """Cell of a state number."""
        return divmod(int(state), self.cols)

    @property
    def start_state(self) -> int:
        return self.index(self.start)

    @property
    def goal_state(self) -> int:
        return self.index(self.goal)

    def step(self, state: int, action: int) -> tuple[int, float, bool]:
        """(next state, reward, episode over) for one move from ``state``."""
        r, c = self.cell(state)
        dr, dc = ACTIONS[action]
        nr, nc = r + dr, c + dc
        if not (0 <= nr < self.rows and 0 <= nc < self.cols) or (nr, nc) in self.walls:
            nr, nc = r, c
        nxt = self.index((nr, nc))
        done = (nr, nc) == self.goal
        return nxt, float(done), done

    def free_states(self) -> np.ndarray:
        """State numbers of the cells that are not walls."""
        return np.array([s for s in range(self.n_states) if self.cell(s) not in self.walls])

    def transition_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Deterministic tables over all states: next (S, A) int, reward (S, A), done (S, A) bool.

        Wall cells and the goal map to themselves with reward 0 (they are never visited
        mid-episode); use ``free_states`` to restrict to reachable cells.
        """
        nxt = np.zeros((self.n_states, self.n_actions), dtype=np.int64)
        rew = np.zeros((self.n_states, self.n_actions))
        done = np.zeros((self.n_states, self.n_actions), dtype=bool)
        for s in range(self.n_states):
            for a in range(self.n_actions):
                if self.cell(s) in self.walls or s == self.goal_state:
                    nxt[s, a] = s
                else:
                    nxt[s, a], rew[s, a], done[s, a] = self.step(s, a)
        return nxt, rew, done

    def shortest_path(self) -> int:
        """Number of steps of the shortest path from start to goal (breadth-first search)."""
        dist = {self.start_state: 0}
        frontier = [self.start_state]
        while frontier:
            nxt_frontier = []
            for s in frontier:
                for a in range(self.n_actions):
                    n, _, _ = self.step(s, a)
                    if n not in dist:
                        dist[n] = dist[s] + 1
                        nxt_frontier.append(n)
            frontier = nxt_frontier
        if self.goal_state not in dist:
            raise ValueError("the goal is unreachable from the start")
        return dist[self.goal_state]

    def render(self, policy: np.ndarray | None = None) -> str:
        """ASCII picture: S start, G goal, # wall, and arrows of a greedy ``policy`` (S,)."""
        lines = []
        for r in range(self.rows):
            row = []
            for c in range(self.cols):
                if (r, c) in self.walls:
                    row.append("#")
                elif (r, c) == self.start:
                    row.append("S")
                elif (r, c) == self.goal:
                    row.append("G")
                elif policy is not None:
                    row.append(ARROWS[int(policy[self.index((r, c))])])
                else:
                    row.append(".")
            lines.append(" ".join(row))
        return "\n".join(lines)


DYNA_MAZE = Maze(
    rows=6, cols=9, start=(2, 0), goal=(0, 8),
    walls=frozenset({(1, 2), (2, 2), (3, 2), (4, 5), (0, 7), (1, 7), (2, 7)}),
)
"""Example 8.1 (Figure 8.2): the shortest path from S to G takes 14 steps."""

BLOCKING_MAZE = Maze(
    rows=6, cols=9, start=(5, 3), goal=(0, 8),
    walls=frozenset((3, c) for c in range(0, 8)),
)
"""Example 8.2 before the change: the way round the wall is on the right."""

BLOCKING_MAZE_AFTER = Maze(
    rows=6, cols=9, start=(5, 3), goal=(0, 8),
    walls=frozenset((3, c) for c in range(1, 9)),
)
"""Example 8.2 after 1000 steps: the right gap closes, a longer way opens on the left."""

SHORTCUT_MAZE = Maze(
    rows=6, cols=9, start=(5, 3), goal=(0, 8),
    walls=frozenset((3, c) for c in range(1, 9)),
)
"""Example 8.3 before the change: the only way round is on the left."""

SHORTCUT_MAZE_AFTER = Maze(
    rows=6, cols=9, start=(5, 3), goal=(0, 8),
    walls=frozenset((3, c) for c in range(1, 8)),
)
"""Example 8.3 after 3000 steps: a shortcut opens on the right; the left way stays open."""
