"""Classic Dyna: tabular Dyna-Q and Dyna-Q+ on Sutton & Barto's mazes (2nd ed., section 8.2-8.3).

After every real step, Dyna-Q learns from it twice: a Q-learning update from the real
transition, and a *model* update that remembers where (s, a) led. It then makes ``n``
*planning* updates, each a Q-learning update on a transition replayed from the model at a
previously visited (s, a):

    Q(s, a) <- Q(s, a) + alpha [ r + gamma max_a' Q(s', a') - Q(s, a) ]     (s', r) = Model(s, a)

Dyna-Q+ adds an exploration bonus kappa sqrt(tau) to the replayed reward, tau being the
number of real steps since (s, a) was last tried, so that it re-checks parts of the maze that
may have changed. A *corrupted* model stores a wrong next state for a fraction of its entries:
the learner then plans with a biased model (model bias).

:func:`dyna_q` is one learner, step by step as in the book's pseudocode; it takes the planning
loop as an argument (``planning_update``, Exercise 3.1 of the notebook). :func:`run_dyna` runs
many independent learners at once (NumPy-batched over runs, for the averaged figures and the
committed sweep): the runs advance in lockstep, one real step (and its ``n`` planning updates,
all runs' j-th update together) at a time. ``tests/test_part3_dyna.py`` ties the two: the
batched planning updates equal the readable ones on the same draws, and both runners learn
alike on the same seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from course_lib.gridworld import ACTIONS, Maze

__all__ = ["DynaConfig", "DynaResult", "q_learning_target", "epsilon_greedy", "dyna_q", "greedy_policy",
           "run_dyna", "episodes_to_reach", "load_corruption_sweep"]


@dataclass(frozen=True)
class DynaConfig:
    """Hyperparameters of tabular Dyna-Q / Dyna-Q+ (defaults: the book's Example 8.1)."""

    n_planning: int = 5
    """Planning updates n after every real step (0 = plain one-step Q-learning)."""
    alpha: float = 0.1
    """Step size of every Q update, real or planned."""
    epsilon: float = 0.1
    """Probability of a uniformly random action (epsilon-greedy, ties broken at random)."""
    gamma: float = 0.95
    """Discount factor."""
    kappa: float = 0.0
    """Dyna-Q+ bonus weight: planned reward r + kappa sqrt(tau). 0 gives plain Dyna-Q."""
    corruption: float = 0.0
    """Fraction of model entries that store a wrong next state (a free cell next to the right one)."""
    max_episode_steps: int | None = None
    """Restart at the start after this many steps without reaching the goal (None: never)."""


@dataclass
class DynaResult:
    """What a batch of runs produced."""

    steps_per_episode: np.ndarray
    """(runs, episodes) steps each episode took (NaN for episodes not finished)."""
    cumulative_reward: np.ndarray
    """(runs, steps) total reward collected up to each real step (n_steps mode; else empty)."""
    Q: np.ndarray
    """(runs, S, A) final action values."""


def q_learning_target(reward, q_next: np.ndarray, gamma: float):
    """One-step target r + gamma max_a' Q(s', a'). reward (...,), q_next (..., A) -> (...,)."""
    return reward + gamma * q_next.max(axis=-1)


PlanningUpdate = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, float, float,
                           np.random.Generator], np.ndarray]
"""planning_update(Q (S, A), model_next (S, A), model_reward (S, A), pairs (M, 2), n, alpha, gamma,
rng) -> Q: n planning updates of one learner's Q, in place (Exercise 3.1)."""


def epsilon_greedy(q: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """An action for one state's values q (A,): uniform with probability epsilon, else greedy
    (ties broken uniformly at random)."""
    if rng.random() < epsilon:
        return int(rng.integers(len(q)))
    best = np.flatnonzero(q == q.max())
    return int(best[rng.integers(len(best))])


def dyna_q(maze: Maze, config: DynaConfig, planning_update: PlanningUpdate, rng: np.random.Generator,
           *, n_episodes: int) -> DynaResult:
    """Tabular Dyna-Q, one learner, as in Sutton & Barto's box (section 8.2), for ``n_episodes``.

    Every real step: (b) act epsilon-greedily, (c) step the maze, (d) Q-learning update on the
    real transition, (e) remember (s, a) -> (s', r) in the model tables, (f) ``planning_update``
    makes ``config.n_planning`` updates from the model at the pairs seen so far. Plain Dyna-Q
    (``config.kappa`` and ``config.corruption`` must be 0: :func:`run_dyna` has those).
    Returns a :class:`DynaResult` with one run.
    """
    if config.kappa != 0 or config.corruption != 0:
        raise ValueError(f"config: dyna_q is plain Dyna-Q, expected kappa = corruption = 0, got "
                         f"{config.kappa!r} and {config.corruption!r} (run_dyna has both)")
    S, A = maze.n_states, maze.n_actions
    next_state, reward, _ = maze.transition_table()
    Q = np.zeros((S, A))
    model_next, model_reward = np.zeros((S, A), dtype=np.int64), np.zeros((S, A))
    seen, pairs, n_seen = np.zeros((S, A), dtype=bool), np.zeros((S * A, 2), dtype=np.int64), 0
    cap = config.max_episode_steps or np.iinfo(np.int64).max
    steps = np.zeros(n_episodes)
    for episode in range(n_episodes):
        s, t, done = maze.start_state, 0, False
        while not done and t < cap:
            a = epsilon_greedy(Q[s], config.epsilon, rng)  # (b)
            s_next, r = next_state[s, a], reward[s, a]  # (c)
            Q[s, a] += config.alpha * (q_learning_target(r, Q[s_next], config.gamma) - Q[s, a])  # (d)
            model_next[s, a], model_reward[s, a] = s_next, r  # (e)
            if not seen[s, a]:
                seen[s, a], pairs[n_seen], n_seen = True, (s, a), n_seen + 1
            Q = planning_update(Q, model_next, model_reward, pairs[:n_seen], config.n_planning,  # (f)
                                config.alpha, config.gamma, rng)
            s, t, done = s_next, t + 1, s_next == maze.goal_state
        steps[episode] = t
    return DynaResult(steps[None], np.zeros((1, 0)), np.asarray(Q, dtype=float)[None].copy())


def greedy_policy(Q: np.ndarray) -> np.ndarray:
    """The greedy action of every state: Q (..., S, A) -> (..., S) ints (first maximum)."""
    return Q.argmax(axis=-1)


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


def run_dyna(maze: Maze, configs: DynaConfig | Sequence[DynaConfig], n_runs: int,
             rng: np.random.Generator, *, n_episodes: int | None = None, n_steps: int | None = None,
             maze_after: Maze | None = None, change_at: int = 0) -> list[DynaResult]:
    """Run ``n_runs`` independent Dyna-Q (+) learners per config on ``maze``, all in lockstep.

    Several configs run as one batch (they must share n_planning, epsilon, gamma and
    max_episode_steps; alpha, kappa and corruption may differ). Stops after ``n_episodes``
    episodes of every run, or after ``n_steps`` real steps (give one). With ``maze_after``
    the maze changes to it after ``change_at`` real steps (the blocking and shortcut mazes).
    Returns one :class:`DynaResult` per config.

    Layout (for speed): Q of all runs is one array (A, R*S), column r*S + s for state s of run
    r; model tables are indexed by the flat entry k = a*R*S + r*S + s of that array.
    """
    configs = [configs] if isinstance(configs, DynaConfig) else list(configs)
    cfg = configs[0]
    if (n_episodes is None) == (n_steps is None):
        raise ValueError(f"give exactly one of n_episodes and n_steps, got {n_episodes!r}, {n_steps!r}")
    for c in configs:
        if not 0.0 <= c.corruption <= 1.0:
            raise ValueError(f"corruption: expected a fraction in [0, 1], got {c.corruption!r}")
        if c.n_planning < 0:
            raise ValueError(f"n_planning: expected >= 0, got {c.n_planning!r}")
        shared, first = ((x.n_planning, x.epsilon, x.gamma, x.max_episode_steps) for x in (c, cfg))
        if shared != first:
            raise ValueError("configs: expected the same (n_planning, epsilon, gamma, max_episode_steps) "
                             f"in every config, got {shared} and {first}")
    per_run = lambda field: np.repeat([getattr(c, field) for c in configs], n_runs)  # noqa: E731
    alpha, kappa, corruption = per_run("alpha"), per_run("kappa"), per_run("corruption")
    R, S, A = len(alpha), maze.n_states, maze.n_actions
    RS, n, gamma = R * S, cfg.n_planning, cfg.gamma
    tables = [maze] + ([maze_after] if maze_after is not None else [])
    tables = [(nxt.reshape(-1), rew.reshape(-1)) for nxt, rew, _ in (m.transition_table() for m in tables)]
    next_tab, rew_tab = tables[0]  # flat over s*A + a
    plus, any_plus = kappa > 0, bool((kappa > 0).any())  # Dyna-Q+ also plans untried actions
    runs = np.arange(R)
    offset = runs * S  # column of state 0 of each run
    Q = np.zeros((A, RS))
    Qf = Q.reshape(-1)
    model_col = np.zeros(A * RS, dtype=np.int64)  # Q column of the stored next state
    model_rew = np.zeros(A * RS)
    last_tried = np.zeros(A * RS)
    seen = np.zeros(A * RS, dtype=bool)
    visited = np.zeros(RS, dtype=bool)
    pairs = np.zeros(A * RS, dtype=np.int64)  # run r's observed entries at r*S*A + 0..count-1
    slot0, count = runs * S * A, np.zeros(R, dtype=np.int64)
    corrupt = rng.random(A * RS) < np.tile(corruption.reshape(R, 1), (A, S)).reshape(-1)
    wrong_pick = rng.integers(A, size=A * RS)  # which neighbour a corrupted entry points to
    neighbours = _neighbours(maze)
    cap = cfg.max_episode_steps or np.iinfo(np.int64).max
    total = n_steps if n_steps is not None else np.iinfo(np.int64).max
    E = n_episodes if n_episodes is not None else 0
    steps_per_episode = np.full((R, E), np.nan)
    episodes, ep_steps = np.zeros(R, dtype=np.int64), np.zeros(R, dtype=np.int64)
    rewards = []
    state = np.full(R, maze.start_state)
    any_reward = any_plus  # before the first reward, Dyna-Q's planning cannot change Q (all zeros)

    def plan(t: int) -> None:
        """n planning updates of every run (the runs' updates are independent, so batched)."""
        kp = pairs.take(slot0 + (rng.random((n, R)) * count).astype(np.int64))  # (n, R) entries
        rp = model_rew.take(kp)
        if any_plus:
            rp += kappa * np.sqrt(t - last_tried.take(kp))
        _batched_planning(Q, kp, model_col.take(kp), rp, alpha, gamma)

    if n_episodes is not None and not any_plus and cfg.max_episode_steps is None:
        # Dyna-Q's first episode is a uniform random walk (Q is all zero until the goal, so all
        # actions tie and planning changes nothing): simulate it for every run at once, then
        # start all the second episodes together (the same algorithm, runs aligned by episode).
        k_walk, s_walk, steps_per_episode[:, 0] = _random_walk(maze, next_tab, R, rng)
        uk, first = np.unique(k_walk, return_index=True)
        run_u, s_u = (uk % RS) // S, s_walk[first]
        seen[uk], model_rew[uk] = True, (s_u == maze.goal_state)
        model_col[uk] = run_u * S + np.where(corrupt[uk], neighbours[s_u, wrong_pick[uk]], s_u)
        order = np.argsort(run_u, kind="stable")
        count[:] = np.bincount(run_u, minlength=R)
        rank = np.arange(len(uk)) - (np.cumsum(count) - count)[run_u[order]]
        pairs[slot0[run_u[order]] + rank] = uk[order]
        k_goal = k_walk[s_walk == maze.goal_state]  # one per run, in run order
        Qf[k_goal] = alpha[(k_goal % RS) // S]  # the real update of the step into the goal
        episodes[:], any_reward = 1, True
        if n:
            plan(0)
    t, block = 0, 256
    while t < total and (n_episodes is None or episodes.min() < n_episodes):
        if t % block == 0:  # random numbers for the next block of steps
            explore = rng.random((block, R)) < cfg.epsilon
            random_action = rng.integers(A, size=(block, R))
            tie_noise = rng.random((block, A, R))
        if maze_after is not None and t == change_at:
            next_tab, rew_tab = tables[1]
        col = offset + state
        if any_plus:  # Dyna-Q+ at a state's first visit: its untried actions stay put, reward 0
            new = runs[~visited[col] & plus]
            visited[col[new]] = True
            for a in range(A):
                k = a * RS + col[new]
                pairs[slot0[new] + count[new]] = k
                count[new] += 1
                seen[k], model_col[k] = True, col[new]
        # act epsilon-greedily (ties at random) in the real maze; Q-learning update
        q = Q.take(col, axis=1)  # (A, R)
        greedy = np.argmax(tie_noise[t % block] * (q == np.maximum.reduce(q, axis=0)), axis=0)
        action = np.where(explore[t % block], random_action[t % block], greedy)
        s_next, r = next_tab.take(state * A + action), rew_tab.take(state * A + action)
        k = action * RS + col
        q_sa = Qf.take(k)
        target = q_learning_target(r, Q.take(offset + s_next, axis=1).T, gamma)
        Qf[k] = q_sa + alpha * (target - q_sa)
        # model learning: remember (s, a) -> (s', r), wrong for corrupted entries
        new = ~seen.take(k)
        pairs[(slot0 + count)[new]] = k[new]
        count += new
        seen[k] = True
        model_col[k] = offset + np.where(corrupt.take(k), neighbours[s_next, wrong_pick.take(k)], s_next)
        model_rew[k], last_tried[k] = r, t
        any_reward = any_reward or bool(r.any())
        # planning: n Q-learning updates on transitions replayed from the model
        if n and any_reward:
            plan(t)
        # bookkeeping: episodes end at the goal (or at the step cap) and restart
        rewards.append(r)
        ep_steps += 1
        done = (r > 0) | (ep_steps >= cap)
        if done.any():
            record = done & (episodes < E)
            steps_per_episode[runs[record], episodes[record]] = ep_steps[record]
            episodes += done
            ep_steps[done] = 0
            state = np.where(done, maze.start_state, s_next)
        else:
            state = s_next
        t += 1
    cumulative = np.cumsum(np.stack(rewards, axis=1), axis=1) if n_steps is not None else np.zeros((R, 0))
    Q_runs = Q.reshape(A, R, S).transpose(1, 2, 0)
    return [DynaResult(steps_per_episode[sl].copy(), cumulative[sl].copy(), Q_runs[sl].copy())
            for sl in (slice(i * n_runs, (i + 1) * n_runs) for i in range(len(configs)))]


def episodes_to_reach(steps_per_episode: np.ndarray, threshold: float) -> int | None:
    """First episode (1-based) from which the run-average steps stay <= threshold; None if never.

    steps_per_episode: (runs, episodes).
    """
    mean = np.nanmean(steps_per_episode, axis=0)
    above = np.nonzero(~(mean <= threshold))[0]
    if len(above) == 0:
        return 1
    first = above[-1] + 1
    return int(first + 1) if first < len(mean) else None


def load_corruption_sweep() -> dict:
    """The committed Dyna-Q sweep over planning steps n x model corruption (see its "command").

    Keys: "command", "n_planning" (list), "corruption" (list), "steps" (list of real steps),
    "cumulative_reward" (n, corruption, steps) averaged over "n_runs" runs.
    """
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent / "data" / "part3_dyna_corruption.json"
    return json.loads(path.read_text())
