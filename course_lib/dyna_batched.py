"""Many tabular Dyna-Q(+) learners at once, for the averaged figures and the committed sweep.

:func:`run_dyna` runs the algorithm of :func:`course_lib.dyna.dyna_q` (plus Dyna-Q+ and a
corrupted model) for R independent learners with NumPy arrays over the learners: they advance in
lockstep, one real step (and its ``n`` planning updates, all runs' j-th update together) at a
time. Each method of ``_Lockstep`` is one step of Sutton & Barto's box for all runs.
``tests/test_part3_dyna.py`` ties it to the readable learner: the batched planning updates equal
Exercise 3.1's loop on the same draws, and both runners learn alike on the same seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.dyna import DynaConfig, DynaResult, q_learning_target
from course_lib.gridworld import ACTIONS, Maze

__all__ = ["run_dyna"]


def _neighbours(maze: Maze) -> np.ndarray:
    """(S, A) table: for each cell, free cells one move away (repeated to fill A columns).

    A corrupted model entry stores one of these in place of the true next state: a wrong
    cell, but next to the right one.
    """
    table = np.tile(np.arange(maze.n_states).reshape(-1, 1), (1, maze.n_actions))
    for s in maze.free_states():
        r, c = maze.cell(s)
        near = [maze.index((r + dr, c + dc)) for dr, dc in ACTIONS
                if 0 <= r + dr < maze.rows and 0 <= c + dc < maze.cols and (r + dr, c + dc) not in maze.walls]
        table[s] = [near[i % len(near)] for i in range(maze.n_actions)]
    return table


def _random_walk(maze: Maze, next_tab: np.ndarray, R: int, rng: np.random.Generator):
    """R uniform random walks from start to goal. Returns the entries k = a*R*S + r*S + s of
    every step taken, the next state of each, and the length (R,) of each walk."""
    S, A = maze.n_states, maze.n_actions
    state = np.full(R, maze.start_state)
    alive, lengths = np.arange(R), np.zeros(R)
    ks, nexts = [], []
    while len(alive):
        a = rng.integers(A, size=len(alive))
        s_next = next_tab[state[alive] * A + a]
        ks.append(a * R * S + alive * S + state[alive])
        nexts.append(s_next)
        lengths[alive] += 1
        state[alive] = s_next
        alive = alive[s_next != maze.goal_state]
    return np.concatenate(ks), np.concatenate(nexts), lengths


def _batched_planning(Q: np.ndarray, entries: np.ndarray, next_cols: np.ndarray, rewards: np.ndarray,
                      alpha: np.ndarray | float, gamma: float) -> None:
    """The planning updates of every run at once, in place: the j-th update of all runs together.

    Q (A, R*S) in :func:`run_dyna`'s layout; entries (n, R) the flat entries a*R*S + r*S + s of
    the replayed pairs, next_cols (n, R) the Q columns of their model next states, rewards (n, R)
    the replayed rewards (bonus included); alpha a float or (R,). The runs' updates are
    independent, so each of the n sequential steps is one vectorised Q-learning update.
    """
    Qf = Q.reshape(-1)  # a view: puts land in Q
    for j in range(len(entries)):  # sequential: update j sees the Q that update j-1 left
        m = np.maximum.reduce(Q.take(next_cols[j], axis=1), axis=0)
        q_sa = Qf.take(entries[j])
        m *= gamma
        m += rewards[j]
        m -= q_sa
        m *= alpha
        m += q_sa
        Qf.put(entries[j], m)  # Q(s,a) += alpha (r + gamma max Q(s') - Q(s,a))


def _check_configs(configs: list[DynaConfig]) -> None:
    first = configs[0]
    for c in configs:
        if not 0.0 <= c.corruption <= 1.0:
            raise ValueError(f"corruption: expected a fraction in [0, 1], got {c.corruption!r}")
        if c.n_planning < 0:
            raise ValueError(f"n_planning: expected >= 0, got {c.n_planning!r}")
        shared, want = ((x.n_planning, x.epsilon, x.gamma, x.max_episode_steps) for x in (c, first))
        if shared != want:
            raise ValueError("configs: expected the same (n_planning, epsilon, gamma, max_episode_steps) "
                             f"in every config, got {shared} and {want}")


class _Lockstep:
    """R Dyna-Q(+) learners that take their real steps together; each method is one step of the book's
    box for all of them at once.

    Layout (for speed): Q of all runs is one array (A, R*S), column r*S + s for state s of run r;
    the model tables are indexed by the flat entry k = a*R*S + r*S + s of that array, and run r's
    observed entries are listed at ``pairs[r*S*A : r*S*A + count[r]]``.
    """

    def __init__(self, maze: Maze, configs: list[DynaConfig], n_runs: int, rng: np.random.Generator):
        per_run = lambda name: np.repeat([getattr(c, name) for c in configs], n_runs)  # noqa: E731
        self.alpha, self.kappa = per_run("alpha"), per_run("kappa")
        self.R, self.S, self.A = len(self.alpha), maze.n_states, maze.n_actions
        self.RS, self.n, self.gamma, self.rng = self.R * self.S, configs[0].n_planning, configs[0].gamma, rng
        self.plus = self.kappa > 0  # Dyna-Q+ runs also plan untried actions
        self.any_plus = bool(self.plus.any())
        self.runs = np.arange(self.R)
        self.offset = self.runs * self.S  # column of state 0 of each run
        self.Q = np.zeros((self.A, self.RS))
        self.model_col = np.zeros(self.A * self.RS, dtype=np.int64)  # Q column of the stored next state
        self.model_rew = np.zeros(self.A * self.RS)
        self.last_tried = np.zeros(self.A * self.RS)
        self.seen = np.zeros(self.A * self.RS, dtype=bool)
        self.visited = np.zeros(self.RS, dtype=bool)
        self.pairs = np.zeros(self.A * self.RS, dtype=np.int64)
        self.slot0, self.count = self.runs * self.S * self.A, np.zeros(self.R, dtype=np.int64)
        corruption = np.tile(per_run("corruption").reshape(self.R, 1), (self.A, self.S)).reshape(-1)
        self.corrupt = rng.random(self.A * self.RS) < corruption  # entries that store a wrong next state
        self.wrong_pick = rng.integers(self.A, size=self.A * self.RS)  # which neighbour they store
        self.neighbours = _neighbours(maze)
        self.any_reward = self.any_plus  # until the first reward, Dyna-Q's planning cannot change Q

    def add_untried_actions(self, state: np.ndarray) -> None:
        """Dyna-Q+ at a state's first visit: its untried actions enter the model, staying put, reward 0."""
        col = self.offset + state
        new = self.runs[~self.visited[col] & self.plus]
        self.visited[col[new]] = True
        for a in range(self.A):
            k = a * self.RS + col[new]
            self.pairs[self.slot0[new] + self.count[new]] = k
            self.count[new] += 1
            self.seen[k], self.model_col[k] = True, col[new]

    def act(self, state: np.ndarray, explore: np.ndarray, random_action: np.ndarray,
            tie_noise: np.ndarray) -> np.ndarray:
        """(b) epsilon-greedy actions (R,): ``random_action`` where ``explore``, else greedy (random ties)."""
        q = self.Q.take(self.offset + state, axis=1)  # (A, R)
        greedy = np.argmax(tie_noise * (q == np.maximum.reduce(q, axis=0)), axis=0)
        return np.where(explore, random_action, greedy)

    def learn(self, state: np.ndarray, action: np.ndarray, s_next: np.ndarray, r: np.ndarray) -> np.ndarray:
        """(d) the Q-learning update of every run's real transition; returns their entries k (R,)."""
        k = action * self.RS + self.offset + state
        q_sa = self.Q.reshape(-1).take(k)
        target = q_learning_target(r, self.Q.take(self.offset + s_next, axis=1).T, self.gamma)
        self.Q.reshape(-1)[k] = q_sa + self.alpha * (target - q_sa)
        return k

    def remember(self, k: np.ndarray, s_next: np.ndarray, r: np.ndarray, t: int) -> None:
        """(e) the model stores (s, a) -> (s', r), a wrong neighbour of s' for corrupted entries."""
        new = ~self.seen.take(k)
        self.pairs[(self.slot0 + self.count)[new]] = k[new]
        self.count += new
        self.seen[k] = True
        wrong = self.neighbours[s_next, self.wrong_pick.take(k)]
        self.model_col[k] = self.offset + np.where(self.corrupt.take(k), wrong, s_next)
        self.model_rew[k], self.last_tried[k] = r, t
        self.any_reward = self.any_reward or bool(r.any())

    def plan(self, t: int) -> None:
        """(f) n planning updates of every run, at pairs drawn uniformly from what each has observed."""
        kp = self.pairs.take(self.slot0 + (self.rng.random((self.n, self.R)) * self.count).astype(np.int64))
        rp = self.model_rew.take(kp)
        if self.any_plus:
            rp += self.kappa * np.sqrt(t - self.last_tried.take(kp))
        _batched_planning(self.Q, kp, self.model_col.take(kp), rp, self.alpha, self.gamma)

    def walk_first_episodes(self, maze: Maze, next_tab: np.ndarray) -> np.ndarray:
        """Every run's first episode at once: with Q all zero until the goal, Dyna-Q's actions all tie
        and planning changes nothing, so it is a uniform random walk. Returns its lengths (R,)."""
        S, RS = self.S, self.RS
        k_walk, s_walk, lengths = _random_walk(maze, next_tab, self.R, self.rng)
        uk, first = np.unique(k_walk, return_index=True)
        run_u, s_u = (uk % RS) // S, s_walk[first]
        self.seen[uk], self.model_rew[uk] = True, (s_u == maze.goal_state)
        wrong = self.neighbours[s_u, self.wrong_pick[uk]]
        self.model_col[uk] = run_u * S + np.where(self.corrupt[uk], wrong, s_u)
        order = np.argsort(run_u, kind="stable")
        self.count[:] = np.bincount(run_u, minlength=self.R)
        rank = np.arange(len(uk)) - (np.cumsum(self.count) - self.count)[run_u[order]]
        self.pairs[self.slot0[run_u[order]] + rank] = uk[order]
        k_goal = k_walk[s_walk == maze.goal_state]  # one per run, in run order
        self.Q.reshape(-1)[k_goal] = self.alpha[(k_goal % RS) // S]  # the real update of the goal step
        self.any_reward = True
        return lengths


def run_dyna(maze: Maze, configs: DynaConfig | Sequence[DynaConfig], n_runs: int,
             rng: np.random.Generator, *, n_episodes: int | None = None, n_steps: int | None = None,
             maze_after: Maze | None = None, change_at: int = 0) -> list[DynaResult]:
    """Run ``n_runs`` independent Dyna-Q (+) learners per config on ``maze``, all in lockstep.

    Several configs run as one batch (they must share n_planning, epsilon, gamma and
    max_episode_steps; alpha, kappa and corruption may differ). Stops after ``n_episodes``
    episodes of every run, or after ``n_steps`` real steps (give one). With ``maze_after``
    the maze changes to it after ``change_at`` real steps (the blocking and shortcut mazes).
    Returns one :class:`DynaResult` per config. The loop below is :func:`dyna_q`'s, one real
    step of every run at a time (the methods of ``_Lockstep`` are the book's steps (b)-(f)).
    """
    configs = [configs] if isinstance(configs, DynaConfig) else list(configs)
    if (n_episodes is None) == (n_steps is None):
        raise ValueError(f"give exactly one of n_episodes and n_steps, got {n_episodes!r}, {n_steps!r}")
    _check_configs(configs)
    cfg = configs[0]
    runs = _Lockstep(maze, configs, n_runs, rng)
    R, A = runs.R, runs.A
    tables = [(nxt.reshape(-1), rew.reshape(-1)) for nxt, rew, _ in
              (m.transition_table() for m in [maze] + ([maze_after] if maze_after is not None else []))]
    next_tab, rew_tab = tables[0]  # flat over s*A + a
    cap = cfg.max_episode_steps or np.iinfo(np.int64).max
    total = n_steps if n_steps is not None else np.iinfo(np.int64).max
    E = n_episodes if n_episodes is not None else 0
    steps_per_episode = np.full((R, E), np.nan)
    episodes, ep_steps = np.zeros(R, dtype=np.int64), np.zeros(R, dtype=np.int64)
    rewards = []
    state = np.full(R, maze.start_state)
    if n_episodes is not None and not runs.any_plus and cfg.max_episode_steps is None:
        steps_per_episode[:, 0] = runs.walk_first_episodes(maze, next_tab)  # then all second episodes start
        episodes[:] = 1
        if runs.n:
            runs.plan(0)
    t, block = 0, 256
    while t < total and (n_episodes is None or episodes.min() < n_episodes):
        if t % block == 0:  # random numbers for the next block of steps
            explore = rng.random((block, R)) < cfg.epsilon
            random_action = rng.integers(A, size=(block, R))
            tie_noise = rng.random((block, A, R))
        if maze_after is not None and t == change_at:
            next_tab, rew_tab = tables[1]
        if runs.any_plus:
            runs.add_untried_actions(state)
        action = runs.act(state, explore[t % block], random_action[t % block], tie_noise[t % block])  # (b)
        s_next, r = next_tab.take(state * A + action), rew_tab.take(state * A + action)  # (c)
        k = runs.learn(state, action, s_next, r)  # (d)
        runs.remember(k, s_next, r, t)  # (e)
        if runs.n and runs.any_reward:
            runs.plan(t)  # (f)
        # episodes end at the goal (or at the step cap) and restart
        rewards.append(r)
        ep_steps += 1
        done = (r > 0) | (ep_steps >= cap)
        if done.any():
            record = done & (episodes < E)
            steps_per_episode[runs.runs[record], episodes[record]] = ep_steps[record]
            episodes += done
            ep_steps[done] = 0
        state = np.where(done, maze.start_state, s_next)
        t += 1
    cumulative = np.cumsum(np.stack(rewards, axis=1), axis=1) if n_steps is not None else np.zeros((R, 0))
    Q_runs = runs.Q.reshape(A, R, runs.S).transpose(1, 2, 0)
    return [DynaResult(steps_per_episode[sl].copy(), cumulative[sl].copy(), Q_runs[sl].copy())
            for sl in (slice(i * n_runs, (i + 1) * n_runs) for i in range(len(configs)))]
