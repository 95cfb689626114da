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
loop as an argument (``planning_update``, Exercise 3.1 of the notebook). :func:`run_dyna` (in
:mod:`course_lib.dyna_batched`) runs many independent learners at once, NumPy-batched over runs,
for the averaged figures and the committed sweep. ``tests/test_part3_dyna.py`` ties the two: the
batched planning updates equal the readable ones on the same draws, and both runners learn
alike on the same seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from course_lib.gridworld import Maze

__all__ = ["DynaConfig", "DynaResult", "q_learning_target", "epsilon_greedy", "dyna_q", "greedy_policy",
           "run_dyna", "episodes_to_reach", "break_even_corruption", "load_corruption_sweep"]


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


def break_even_corruption(sweep: dict, n: int) -> float | None:
    """The smallest corrupted fraction at which planning with ``n`` steps completes no more episodes
    than no planning at all (n = 0, averaged over the sweep's corruption levels, which it ignores).

    ``sweep``: :func:`load_corruption_sweep`'s dict. None if planning is better at every level.
    """
    final = np.asarray(sweep["cumulative_reward"])[:, :, -1]  # (n values, corruption levels)
    no_planning = final[0].mean()
    worse = np.flatnonzero(final[sweep["n_planning"].index(n)] <= no_planning)
    return float(sweep["corruption"][worse[0]]) if len(worse) else None


def load_corruption_sweep() -> dict:
    """The committed Dyna-Q sweep over planning steps n x model corruption (see its "command").

    Keys: "command", "n_planning" (list), "corruption" (list), "steps" (list of real steps),
    "cumulative_reward" (n, corruption, steps) averaged over "n_runs" runs.
    """
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent / "data" / "part3_dyna_corruption.json"
    return json.loads(path.read_text())


from course_lib.dyna_batched import run_dyna  # noqa: E402  (many learners at once; it uses the above)
