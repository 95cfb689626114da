# %% [markdown]
# # 3 · Dyna, MVE and MBPO: a model as a data generator for off-policy RL
#
# Part 2 ended with a warning: long rollouts of a learned model drift away from reality
# (the error grows like $\epsilon T^2$), so we should not backpropagate through them, and we
# should not trust them for many steps. This part keeps the model but changes its job: it
# **generates extra training data** for an off-policy learner, a few steps at a time, starting
# from states the agent has really visited.
#
# **In this notebook you will**
# 1. write Dyna-Q's planning loop, reproduce Sutton & Barto's maze results with it, and watch a
#    wrong model mislead planning;
# 2. write two boxes of the general *model-accelerated off-policy RL* loop (real buffer, model,
#    model buffer, learner): the branched rollouts and the learner's mixed batches;
# 3. write the MVE target, which expands the value $H$ steps through the model, and see what
#    model error does to it compared with the one-step target;
# 4. assemble MBPO from your pieces, train it on `Pendulum-v1`, and compare it fairly with SAC:
#    at the same number of gradient updates per real step, not only at the usual one.
#
# Each exercise sits where its idea is taught, and the cells after it run your function. While
# it is unfinished, they show the results of the course's solution and say so in one line.

# %% [markdown] tags=["exercise-overview"]
# **Exercises in this notebook** (5, 14 points)
#
# | Exercise | What you write | Points | Where |
# |---|---|---|---|
# | 3.1 | `dyna_q_planning_update`: The Dyna-Q planning loop | 2 | 1. Classic Dyna: planning with one-step updates from a model of what we saw |
# | 3.2 | `mbpo_branched_rollout`: MBPO's branched rollouts | 3 | 2. Dyna-style: short model rollouts branched from real states |
# | 3.3 | `mbpo_mixed_batch`: The mixed real/model batch | 2 | 2. Dyna-style: short model rollouts branched from real states |
# | 3.4 | `mve_target`: The MVE target | 3 | 3. MBA and MVE: a model for the critic's data, or inside its target |
# | 3.5 | `mbpo_learn`: Assemble MBPO | 4 | 4. MBPO: short branched rollouts for SAC |
#
# The cell `checks.status()` near the end of the notebook says which of them pass now: run it whenever you like.

# %% [markdown]
# ## Setup

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import course_lib as cl
from course_lib import buffers, dyna, dynamics, envs, mbpo, mbpo_tools, mve, precomputed, sac
from course_lib import gridworld as gw
from course_lib.demos import part3

cl.live_figures()  # interactive figures (ipympl), or images redrawn in place without it (Colab)
rng = cl.seed_everything(0)

# %% [markdown]
# ## 1. Classic Dyna: planning with one-step updates from a model of what we saw
#
# Dyna-Q learns from every real step twice. It makes the usual Q-learning update, and it
# stores the step in a *model*, a table that remembers where each visited $(s, a)$ led. Then
# it makes $n$ **planning** updates: it picks a visited $(s, a)$ at random, asks the model for
# $(s', r)$ and applies the same update to that simulated step,
#
# $$Q(s, a) \leftarrow Q(s, a) + \alpha \big[ r + \gamma \max_{a'} Q(s', a') - Q(s, a) \big],
# \qquad (s', r) = \mathrm{Model}(s, a).$$
#
# Every planning update is a one-step rollout from a state the agent really visited: the
# model is never asked about a place it has not seen, and errors never compound.
#
# ![Classic Dyna: real steps feed Q-learning and a table model; the model feeds n one-step planning updates](../assets/part3_classic_dyna.svg)
#
# The maze is the book's Example 8.1: 6 × 9 cells, start S, goal G (reward 1), walls #.

# %% tags=["demo"]
maze = gw.DYNA_MAZE
print(maze.render())
print(f"shortest path: {maze.shortest_path()} steps")


# %% [markdown]
# ### Exercise 3.1 · The Dyna-Q planning loop (2 points)
# Planning is the part of Dyna-Q that uses the model. Complete `dyna_q_planning_update`: make `n`
# planning updates of one learner's table `Q`, each the update above on a pair replayed from
# the model.
#
# * `Q`: float array `(S, A)`; update it **in place**, one update after the other (each sees the
#   last), and return it;
# * `model_next` (ints), `model_reward`: arrays `(S, A)`, the model: where $(s, a)$ led and the
#   reward it gave;
# * `pairs`: int array `(M, 2)`, the $(s, a)$ pairs visited so far: plan only from these,
#   drawing one uniformly for each update with `rng` (a `np.random.Generator`);
# * `n`, `alpha`, `gamma`: the number of updates, the step size $\alpha$ and the discount $\gamma$.
#
# Success: the check passes for one pair updated once and several times in a row (a self-loop
# included), for $n = 0$, and on a two-step chain where 3000 updates must converge to $Q = 1$
# next to the goal and $Q = \gamma$ one step before it. Then your loop plans for the Dyna-Q
# learners below.
#
# <details><summary>Hint</summary>
#
# The updates are sequential, so write one Python loop over them. `pairs[rng.integers(len(pairs))]`
# draws a visited pair; the max in the target is over the model's next state's row of `Q`.
# </details>

# %% tags=["solution:3.1"]
def dyna_q_planning_update(Q, model_next, model_reward, pairs, n, alpha, gamma, rng):
    """n Dyna-Q planning updates. Q (S, A) float, model_next (S, A) int, model_reward (S, A),
    pairs (M, 2) int of visited (s, a). Returns Q (S, A), updated in place."""
    # BEGIN SOLUTION
    for _ in range(n):
        s, a = pairs[rng.integers(len(pairs))]
        s_next, r = model_next[s, a], model_reward[s, a]
        Q[s, a] += alpha * (r + gamma * Q[s_next].max() - Q[s, a])
    return Q
    # END SOLUTION


# %% tags=["exercise:3.1", "points:2"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.dyna_q_planning_update()


# %% [markdown]
# ### Your planning loop inside Dyna-Q
# `dyna.dyna_q` is one Dyna-Q learner, written like the book's pseudocode: at every real step it
# acts $\varepsilon$-greedily, makes the Q-learning update from the real step, stores the step in
# the model tables, then calls **your** `dyna_q_planning_update` for its $n$ planning updates.
# Three learners for each $n \in \{0, 5, 50\}$, with the book's $\alpha = 0.1$,
# $\varepsilon = 0.1$, $\gamma = 0.95$, for 50 episodes each:

# %% tags=["training"]
def your_learners(n, count=3):
    cfg = dyna.DynaConfig(n_planning=n)
    return [dyna.dyna_q(maze, cfg, dyna_q_planning_update, np.random.default_rng(100 + i), n_episodes=50)
            for i in range(count)]


your_runs = precomputed.run_or_load("part3_dyna_your_learners",
                                    lambda: {n: your_learners(n) for n in (0, 5, 50)})

# %% [markdown]
# Three learners are noisy. For the book's averaged figure, `dyna.run_dyna` runs 30 learners per
# $n$ at once: the same algorithm with NumPy arrays over the learners (the course's tests check
# that its planning step gives exactly what the readable loop gives on the same draws). Thin
# lines: your three learners; thick: the mean of 30.

# %% tags=["training"]
dyna_runs = {n: dyna.run_dyna(maze, dyna.DynaConfig(n_planning=n), 30, rng, n_episodes=50)[0]
             for n in (0, 5, 50)}
fig, ax = plt.subplots(figsize=(6.5, 3.5), layout="constrained")
for (n, res), color in zip(dyna_runs.items(), ["C0", "C1", "C2"], strict=True):
    ax.plot(np.arange(2, 51), res.steps_per_episode.mean(0)[1:], color=color, label=f"n = {n} planning steps, mean of 30")
    for learner in your_runs[n]:
        ax.plot(np.arange(2, 51), learner.steps_per_episode[0, 1:], color=color, lw=0.6, alpha=0.5)
ax.plot([], color="gray", lw=0.6, label="your learners, one line each")
ax.axhline(maze.shortest_path(), color="gray", ls=":", label="shortest path")
ax.set(xlabel="episode", ylabel="steps per episode", ylim=(0, 800),
       title="Dyna-Q on the Dyna maze (Sutton & Barto, Figure 8.2)")
ax.legend();

# %% [markdown]
# The first episode is a random walk for everyone (all $Q$ values are 0 until the goal is
# found), so the plot starts at episode 2. How many episodes until the runs stay near the
# shortest path (at most 20 steps on average, with $\varepsilon$-greedy detours)?

# %% tags=["demo"]
for n, res in dyna_runs.items():
    reached = dyna.episodes_to_reach(res.steps_per_episode, 20)
    yours = np.mean([learner.steps_per_episode[0, 9] for learner in your_runs[n]])
    print(f"n = {n:2d}: at most 20 steps per episode from episode {reached} on; episode 10 takes "
          f"{res.steps_per_episode[:, 9].mean():.0f} steps (your 3 learners: {yours:.0f})")

# %% [markdown]
# The greedy policy of your first $n = 50$ learner after 50 episodes (arrows = $\arg\max_a Q(s, a)$):

# %% tags=["demo"]
print(maze.render(dyna.greedy_policy(your_runs[50][0].Q[0])))

# %% [markdown]
# ### When the world changes: Dyna-Q+
#
# A model is only as good as the last time we checked it. In the *blocking maze* (Example 8.2)
# the short way round the wall closes after 1000 steps and a longer one opens; in the
# *shortcut maze* (Example 8.3) a shorter way opens after 3000 steps. Dyna-Q+ adds a bonus to
# the reward it plans with, growing with the time $\tau$ since $(s, a)$ was last tried for real:
#
# $$r_{\text{plan}} = r + \kappa \sqrt{\tau}.$$
#
# Below: 20 runs each, $n = 10$, $\alpha = 1$ (the mazes are deterministic), $\kappa = 10^{-3}$.

# %% tags=["training"]
changing = {"blocking maze": (gw.BLOCKING_MAZE, gw.BLOCKING_MAZE_AFTER, 3000, 1000),
            "shortcut maze": (gw.SHORTCUT_MAZE, gw.SHORTCUT_MAZE_AFTER, 6000, 3000)}
cfg = dyna.DynaConfig(n_planning=10, alpha=1.0)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
for ax, (name, (before, after, steps, change)) in zip(axes, changing.items(), strict=True):
    runs = dyna.run_dyna(before, [cfg, dataclasses.replace(cfg, kappa=1e-3)], 20, rng,
                         n_steps=steps, maze_after=after, change_at=change)
    for label, res in zip(["Dyna-Q", "Dyna-Q+"], runs, strict=True):
        ax.plot(res.cumulative_reward.mean(0), label=label)
        print(f"{name}, {label}: {res.cumulative_reward[:, -1].mean():.0f} goals in {steps} steps")
    ax.axvline(change, color="gray", ls=":")
    ax.set(title=name, xlabel="time steps", ylabel="cumulative reward")
axes[0].legend();

# %% [markdown]
# ### Model bias: planning with a wrong model
#
# Dyna trusts its model completely. What if some model entries are wrong? Below, a fraction
# of the entries store a wrong next state (a cell next to the right one) for good. The curves
# come from a sweep over $n$ and the corrupted fraction, 30 runs each (the command that made
# them is printed under the widget); drag the sliders.
#
# ![Dyna-Q's episodes per real step for n = 20 and 20 % of model entries wrong](../assets/part3_dyna_corruption.png)
#
# *The image is the demo at its default setting, for readers without a running kernel.*

# %% tags=["training"]
dyna_demo = part3.DynaCorruptionDemo()
print("sweep made with:", dyna_demo.sweep["command"])
dyna_demo.show()

# %% [markdown]
# **Question.** With an exact model, more planning is always better here. At what fraction
# of wrong entries does planning with $n = 50$ stop beating no planning at all? What does
# that tell you about a learned model that is wrong in places?

# %% tags=["training"]
for n in (20, 50):
    print(f"n = {n}: no better than no planning once {dyna.break_even_corruption(dyna_demo.sweep, n):.0%} "
          "of the model's entries are wrong")

# %% [markdown]
# <details><summary>Answer</summary>
#
# Planning amplifies whatever the model says: with $n = 50$ each real step is followed by 50
# updates from the model and only one from reality. Every wrong entry costs (the more wrong
# entries, the fewer episodes), but here planning keeps beating no planning until nearly all of
# the model is wrong (the fraction printed above). A wrong entry of this model points to a cell
# *next to* the right one, so the values it propagates still point roughly the right way, and
# the real steps keep correcting them. This is **model bias**: the learner optimises the model's
# world, not the real one, and how much that costs depends on how the model is wrong, not only on
# how often. Section 4 meets a model whose error points the wrong way, and there a model that is
# trusted a lot does become worse than none.
# </details>

# %% [markdown]
# ## 2. Dyna-style: short model rollouts branched from real states
#
# Classic Dyna replays the model only at state-action pairs it has seen. With continuous
# states a learned model generalises, so modern *Dyna-style* methods ask it about new
# actions too: they start at states sampled from the real buffer, act with the **current**
# policy and roll the model forward a few steps,
#
# $$\hat s_0 \sim \mathcal D_{\text{env}}, \quad a_t \sim \pi(\cdot \mid \hat s_t), \quad
# (\hat s_{t+1}, \hat r_t) \sim \hat p(\cdot \mid \hat s_t, a_t), \quad t = 0, \dots, k-1,$$
#
# and store every simulated step in a *model buffer* $\mathcal D_{\text{model}}$. Short
# branches keep the compounding error of Part 2 small; starting them anywhere along real
# trajectories (late states too) still covers the states the policy visits.
#
# ![Short model rollouts branched from the states of a real trajectory](../assets/part3_dyna_style.svg)
#
# Put together with an off-policy learner, this is the lecture's **model-accelerated
# off-policy RL** loop: act, store, fit the model, roll it out, learn from both buffers.
#
# ![The system view: real environment, real buffer, model, branched rollouts, model buffer, off-policy learner](../assets/part3_system_view.svg)
#
# `mbpo.model_accelerated_rl` is this loop (read it in `course_lib/mbpo.py`). Two of its boxes
# are yours to write now: the branched rollouts (Exercise 3.2) and the learner's batches, which
# mix the two buffers, a share $\rho$ (the *real ratio*) of real transitions and the rest
# simulated (Exercise 3.3). In section 4 you assemble them into MBPO (Exercise 3.5).

# %% [markdown]
# One pass through every box, by hand. First 400 real steps with random torques into the real
# buffer, then a probabilistic ensemble fitted to them (7 members, the 5 with the lowest
# held-out error are the *elites*):

# %% tags=["training"]
env, _ = envs.make_pendulum(seed=0)
env.action_space.seed(0)
real_buffer = buffers.ReplayBuffer(10_000, 3, 1)
buffers.collect(env, lambda obs: env.action_space.sample(), 400, real_buffer, seed=0, progress=False)
gen = torch.Generator().manual_seed(0)
model = dynamics.DynamicsEnsemble(3, 1, mbpo.MBPOConfig().ensemble, gen)
data = real_buffer.all()
fit = dynamics.train_ensemble(model, data.obs, data.act, data.next_obs, data.rew, gen, max_epochs=100)
print(f"{len(real_buffer)} real steps; model trained {fit.epochs} epochs, elites {fit.elites}")


# %% [markdown]
# ### Exercise 3.2 · MBPO's branched rollouts (3 points)
# Complete `mbpo_branched_rollout`, the box between the model and the model buffer:
#
# * draw `n_starts` start states with `real_buffer.sample(n_starts, generator).obs` (shape `(B, o)`);
# * for `k` steps: `act = policy(obs)` `(B, a)`; `model_predict(obs, act)` returns the prediction
#   of every member of the ensemble, `next_obs` `(E, B, o)` and `rew` `(E, B)`; keep, for each
#   row, the prediction of one member chosen uniformly at random with `generator`; add the step
#   to `model_buffer` with `model_buffer.add(obs, act, rew, next_obs, done)`, `done` being zeros
#   `(B,)` (the pendulum has no terminal states); continue from the kept `next_obs`;
# * return the number of transitions added.
#
# Success: the check passes for 64 rollouts of 3 steps, $k = 1$, and one rollout of 6 steps; it
# checks the starts, the chaining, the actions and that the members are used evenly. Then your
# function fills the model buffer below, and MBPO's in section 4.
#
# <details><summary>Hint</summary>
#
# `torch.randint(E, (B,), generator=generator)` picks a member for every row, and indexing
# `next_all[member, torch.arange(B)]` takes each row's prediction from its own member (the same
# for the rewards).
# </details>

# %% tags=["solution:3.2"]
def mbpo_branched_rollout(real_buffer, model_predict, policy, model_buffer, n_starts, k, generator):
    """k model steps from n_starts real states, a random member per row, into model_buffer."""
    # BEGIN SOLUTION
    obs = real_buffer.sample(n_starts, generator).obs
    rows = torch.arange(n_starts)
    for _ in range(k):
        act = policy(obs)
        next_all, rew_all = model_predict(obs, act)
        member = torch.randint(next_all.shape[0], (n_starts,), generator=generator)
        next_obs, rew = next_all[member, rows], rew_all[member, rows]
        model_buffer.add(obs, act, rew, next_obs, torch.zeros(n_starts))
        obs = next_obs
    return n_starts * k
    # END SOLUTION


# %% tags=["exercise:3.2", "points:3"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.mbpo_branched_rollout()

# %% [markdown]
# Your rollouts, by hand: 1000 branched rollouts of $k = 1$ step (Dyna-style) with a fresh,
# untrained SAC policy network, each row through a random elite (`mbpo.elite_predictor(model)`
# gives the elites' predictions, `(5, B, 3)` and `(5, B)`). How far is each simulated step
# from the true pendulum?

# %% tags=["training"]
actor = sac.Actor(3, 1, mbpo.MBPOConfig().sac)  # a fresh policy network
policy = lambda obs: actor(obs, gen)[0].detach()  # noqa: E731


def simulate():
    out = buffers.ReplayBuffer(10_000, 3, 1)
    mbpo_branched_rollout(real_buffer, mbpo.elite_predictor(model), policy, out, 1000, 1, gen)
    return out.all()


sim = precomputed.run_or_load("part3_rollouts_by_hand", simulate)
model_buffer = buffers.ReplayBuffer(10_000, 3, 1)
model_buffer.add(sim.obs, sim.act, sim.rew, sim.next_obs, sim.done)
true_next, true_rew = envs.pendulum_step_obs(sim.obs, sim.act)
print(f"{len(model_buffer)} simulated steps; mean |error|: next state "
      f"{(sim.next_obs - true_next).abs().mean():.3f}, reward {(sim.rew - true_rew).abs().mean():.3f} "
      "(rewards range from -16 to 0)")


# %% [markdown]
# The learner's batches take a share $\rho$ from the real buffer and the rest from the model
# buffer. The MBPO paper uses $\rho = 5\,\%$: most of what the learner sees is simulated
# (this course's MBPO uses more real data; section 4 shows why).

# %% [markdown]
# ### Exercise 3.3 · The mixed real/model batch (2 points)
# Complete `mbpo_mixed_batch`, the learner's batch:
#
# * `real_buffer`, `model_buffer`: `buffers.ReplayBuffer`s; `buffer.sample(n, generator)` draws
#   `n` transitions uniformly and returns a `buffers.Batch`;
# * take `int(batch_size * real_ratio)` real transitions (rounded down) and the rest from the
#   model buffer; if the model buffer is empty, the whole batch is real;
# * return one `buffers.Batch` whose fields (`obs`, `act`, `rew`, `next_obs`, `done`) hold the
#   real part first, then the model part.
#
# Success: the check passes for real ratios 0.05, 0.5, 0 and 1, an empty model buffer, and
# gives the same batch for the same generator seed. Then your function draws the batch below,
# and every batch of your MBPO in section 4.
#
# <details><summary>Hint</summary>
#
# Concatenate field by field along dimension 0 (`torch.cat([real.obs, fake.obs])`, ...) and build
# `buffers.Batch(obs, act, rew, next_obs, done)`. An empty buffer cannot be sampled.
# </details>

# %% tags=["solution:3.3"]
def mbpo_mixed_batch(real_buffer, model_buffer, batch_size, real_ratio, generator):
    """A Batch of batch_size transitions: int(batch_size * real_ratio) real ones, the rest simulated."""
    # BEGIN SOLUTION
    n_real = int(batch_size * real_ratio) if len(model_buffer) > 0 else batch_size
    real = real_buffer.sample(n_real, generator)
    if n_real == batch_size:
        return real
    fake = model_buffer.sample(batch_size - n_real, generator)
    return buffers.Batch(*(torch.cat([getattr(real, name), getattr(fake, name)])
                           for name in ("obs", "act", "rew", "next_obs", "done")))
    # END SOLUTION


# %% tags=["exercise:3.3", "points:2"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.mbpo_mixed_batch()

# %% tags=["training"]
batch = precomputed.run_or_load("part3_batch_by_hand",
                                lambda: mbpo_mixed_batch(real_buffer, model_buffer, 256, 0.05, gen))
rows = lambda b: torch.cat([b.obs, b.act, b.next_obs], dim=1)  # noqa: E731
is_real = (rows(batch)[:, None] == rows(data)[None]).all(-1).any(-1)
print(f"a batch of {len(batch)} at real ratio 0.05: {int(is_real.sum())} real transitions, "
      f"{int((~is_real).sum())} simulated")


# %% [markdown]
# The off-policy learner then makes gradient steps on such batches; section 4 puts every box
# together.

# %% [markdown]
# ## 3. MBA and MVE: a model for the critic's data, or inside its target
#
# **MBA**, model-based acceleration (Gu et al., 2016), is section 2's loop with a Q-learning
# learner for continuous actions (NAF: a Q function quadratic in the action, so that its
# maximum is known in closed form). Its *imagination rollouts* start at real states, act with the
# current policy plus exploration noise, and go into a second replay buffer that the learner
# samples beside the real one. The authors found that iteratively refitted local linear models
# (fitted to recent real trajectories) sped learning up substantially, while the neural-network
# models they tried gave little benefit: the data a model generates helps only as far as the
# model is right where the learner uses it. MBPO (section 4) is the same loop with a better
# model, an ensemble of neural networks, and a better learner, SAC.
#
# **MVE**, model-based value expansion (Feinberg et al., 2018), uses the model differently:
# inside the critic's **target**. The one-step target trusts the critic right away; the $H$-step
# target first rolls the model $H - 1$ steps from the real next state $\hat s_1 = s_1$, with
# actions from the policy:
#
# $$y_1 = r_0 + \gamma\, Q(s_1, \pi(s_1)), \qquad
# y_H = r_0 + \sum_{k=1}^{H-1} \gamma^k \hat r_k + \gamma^H Q(\hat s_H, \pi(\hat s_H)).$$
#
# *How $H$ is counted.* Here $H$ is the number of rewards before the bootstrap, so $H = 1$ is the
# ordinary target and takes no model step. Feinberg et al. count the model steps instead: their
# $H = 0$ is our $H = 1$, and their $H$ is our $H + 1$.
#
# The critic's error is now multiplied by $\gamma^H$, but every model step adds error, and
# these compound. We measure both on the pendulum, where the true $Q^\pi$ of a fixed policy is
# known exactly: the model has the wrong gravity ($g(1 + \varepsilon)$), and the critic is
# $Q^\pi$ plus noise of spread $\delta$ times the spread of $Q^\pi$.

# %% [markdown]
# ### Exercise 3.4 · The MVE target (3 points)
# Complete `mve_target`: the $H$-step target $y_H$ above, for a batch of real transitions.
#
# * `r0`: tensor `(B,)`, the real reward; `s1`: tensor `(B, d)`, the real next state, where the
#   model rollout starts ($\hat s_1 = s_1$);
# * `model_step(s, a) -> (s_next, r)` with shapes `(B, d)` and `(B,)`; `policy(s) -> a` of shape
#   `(B, m)`; `q_value(s, a) -> (B,)`;
# * `gamma`: the discount; `horizon`: $H \ge 1$;
# * returns a tensor `(B,)`. With `horizon = 1` it is the one-step target $y_1$.
#
# Success: the check passes for $H = 1, 2, 5, 10$ on a toy model, policy and critic. Then your
# function computes the target errors of the demo below.
#
# <details><summary>Hint</summary>
#
# $H - 1$ model steps, each with the policy's action at the current imagined state; the reward of
# the $k$-th of them ($k = 1, \dots, H-1$) is weighted $\gamma^k$. After the loop, add $\gamma^H$
# times the critic at the last imagined state and the policy's action there.
# </details>

# %% tags=["solution:3.4"]
def mve_target(r0, s1, model_step, policy, q_value, gamma, horizon):
    """H-step model-based value expansion target. r0 (B,), s1 (B, d) -> (B,)."""
    # BEGIN SOLUTION
    y, s = r0, s1
    for k in range(1, horizon):
        s, r = model_step(s, policy(s))
        y = y + gamma**k * r
    return y + gamma**horizon * q_value(s, policy(s))
    # END SOLUTION


# %% tags=["exercise:3.4", "points:3"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.mve_target()

# %% [markdown]
# Your target, measured: `mve.target_error_stats` calls your `mve_target` once for every
# $H = 1, \dots, 30$, on 512 random states for each of 11 model errors $\varepsilon = 0, 0.05,
# \dots, 0.5$ at once, with an exact critic, and compares $y_H$ with the true $Q^\pi$. The
# critic's error is added analytically (it is independent noise), so the sliders below never
# call your function again.

# %% tags=["training"]
mve_errors = precomputed.run_or_load(
    "part3_mve_errors", lambda: mve.target_error_stats(mve_target, [round(0.05 * i, 2) for i in range(11)]))
mve_demo = part3.MVEHorizonDemo(mve_errors)
rmse = mve_errors.rmse(0.3)
for i in (0, 2, 6):
    eps = mve_errors.model_errors[i]
    print(f"ε = {eps:.2f}, δ = 0.3: target error " + ", ".join(
        f"H={h}: {rmse[i, h - 1]:.3f}" for h in (1, 3, 10, 30)))

# %% [markdown]
# With an exact model ($\varepsilon = 0$) longer expansions only help: the critic's error
# shrinks like $\gamma^H$. With a wrong model, the error of the model's rewards and states
# grows with $H$. Drag both sliders: where is the best $H$?
#
# ![Error of the H-step target against H, at model error 0.2 and critic error 0.3](../assets/part3_mve_horizon.png)
#
# *The image is the demo at its default setting, for readers without a running kernel.*

# %% tags=["demo"]
mve_demo.show()


# %% [markdown]
# **Question.** Your critic is poor early in training and gets better; your model is fitted
# to little data early and also gets better. How should $H$ change over training?
#
# <details><summary>Answer</summary>
#
# The best $H$ balances the two errors (the right panel): a large critic error pushes it up,
# a large model error pushes it down to 1. Early on both are poor; as the critic improves, the
# gain from expanding shrinks and even a small model error makes long expansions a bad deal.
# In practice MVE uses small fixed $H$ (a few steps), and STEVE (Buckman et al., 2018) weighs
# the targets of every $H$ by how much an ensemble of models and critics agrees on them.
# </details>

# %% [markdown]
# **Where the critic is asked.** $y_H$ bootstraps with $Q$ at the imagined state $\hat s_H$,
# and a critic trained only on real $(s, a)$ may be poor there: above, the critic's error was the
# same everywhere, but in training it is not. Feinberg et al. close this gap with the **TD-$k$
# trick**: from each imagined rollout they also train $Q$ at every imagined state $\hat s_k$ on
# the rest of the same expansion, $\sum_{j=k}^{H-1} \gamma^{j-k} \hat r_j +
# \gamma^{H-k} Q(\hat s_H, \pi(\hat s_H))$, so that the critic is fitted where the target uses it.

# %% [markdown]
# ## 4. MBPO: short branched rollouts for SAC
#
# MBPO (Janner et al., 2019) is the system view with specific choices. The learner is **soft
# actor-critic** (SAC): two critics, a squashed-Gaussian policy and an entropy bonus weighted by
# a temperature $\alpha$ tuned to a target entropy. Its critics regress on the soft target
#
# $$y = r + \gamma (1 - d)\Big[\min_{j=1,2} \bar Q_j(s', a') - \alpha \log \pi(a' \mid s')\Big],
# \qquad a' \sim \pi(\cdot \mid s'),$$
#
# where $\bar Q_1, \bar Q_2$ are slowly tracking copies of the critics. This is your one-step MVE
# target $y_1$ with the *soft* critic $\min_j \bar Q_j - \alpha \log \pi$ as $Q$:
# `mbpo.mve_value_target(mve_target)` hands your Exercise 3.4 to SAC as its target. Read
# `course_lib/sac.py`: it is written like CleanRL's SAC, one `update` in four numbered steps.
#
# MBPO adds to SAC:
# * a **probabilistic ensemble** (7 Gaussian networks on bootstrapped data; the 5 with the lowest
#   held-out error are the *elites*), refitted every $F$ real steps with early stopping;
# * **branched rollouts** (your `mbpo_branched_rollout`) of $k$ steps of the current policy from
#   states of the real buffer, each step through a random elite, and a **rollout-length
#   schedule**: $k$ grows as the model gets more data;
# * a **model buffer** holding the rollouts of the last few refits, and batches with a real
#   ratio $\rho$ (your `mbpo_mixed_batch`), with $G$ SAC updates per real step.
#
# The paper's settings are sized for MuJoCo and a GPU; the course's for a pendulum and a class.
# The table prints the course's from `mbpo.MBPOConfig()`:

# %% tags=["demo"]
display(Markdown(mbpo_tools.settings_table(mbpo.MBPOConfig())))

# %% [markdown]
# ### Exercise 3.5 · Assemble MBPO (4 points)
# `mbpo.run` acts in the real pendulum and stores every step in the real buffer. Everything MBPO
# does next at real step `t` is yours: complete `mbpo_learn`, from your own pieces.
#
# * every `config.model_every` steps (when `t % config.model_every == 0`): `model.fit()` refits the
#   ensemble on the real buffer;
# * every `config.rollout_every` steps: your `mbpo_branched_rollout` with `model.predict`,
#   `config.rollout_starts` start states and $k$ = `mbpo.rollout_length(t, config.k_schedule)`;
# * then `config.updates_per_step` times: `update(batch)`, one gradient step of the learner, on a
#   batch from your `mbpo_mixed_batch` (`config.sac.batch_size` transitions, real ratio
#   `config.real_ratio`);
# * return the list of what the updates returned.
#
# `real_buffer`, `model_buffer`: `buffers.ReplayBuffer`s; `model`: has `fit()` and
# `predict(obs, act)`; `policy(obs)`: actions `(B, 1)`; `config`: an `mbpo.MBPOConfig`;
# `generator`: for every random draw.
#
# Success: the check passes at a refit step, a rollout step, a step with neither, and with
# other $G$ and $\rho$; it reads which model made each simulated row, how many there are, and
# each batch's real share. Then your MBPO trains below, with your `mve_target` as SAC's target.
#
# <details><summary>Hint</summary>
#
# Two `if`s on `t`, then a list of `update(...)` calls. Refit before you roll out, and roll out
# before you update: at a rollout step, the updates should already see the new rollouts.
# </details>

# %% tags=["solution:3.5"]
def mbpo_learn(t, real_buffer, model_buffer, model, policy, update, config, generator):
    """MBPO at real step t: refit and roll out when due, then G updates on mixed batches."""
    # BEGIN SOLUTION
    if t % config.model_every == 0:
        model.fit()
    if t % config.rollout_every == 0:
        k = mbpo.rollout_length(t, config.k_schedule)
        mbpo_branched_rollout(real_buffer, model.predict, policy, model_buffer, config.rollout_starts, k,
                              generator)
    return [update(mbpo_mixed_batch(real_buffer, model_buffer, config.sac.batch_size, config.real_ratio,
                                    generator))
            for _ in range(config.updates_per_step)]
    # END SOLUTION


# %% tags=["exercise:3.5", "points:4"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.mbpo_learn()

# %% [markdown]
# Your MBPO and SAC without a model (one update per real step, as SAC is usually run) train
# live from the same seed, for a class-sized 1250 real steps. MBPO takes a while: it makes
# $G = 10$ times more updates.

# %% tags=["training"]
budget = dataclasses.replace(mbpo.MBPOConfig(), total_steps=1250)
yours = dict(learn=mbpo_learn, value_target=mbpo.mve_value_target(mve_target))
mbpo_log = precomputed.run_or_load("part3_mbpo_live", lambda: mbpo.run(budget, seed=0, **yours))
sac_log = mbpo.run(dataclasses.replace(budget, use_model=False, updates_per_step=1), seed=0, learn=None)

# %% tags=["training"]
fig, ax = plt.subplots(figsize=(6.5, 3.3), layout="constrained")
ax.plot(mbpo_log.steps, mbpo_log.returns, "o-", label=f"your MBPO, G = 10 ({mbpo_log.seconds:.0f} s)")
ax.plot(sac_log.steps, sac_log.returns, "o-", label=f"SAC, G = 1 ({sac_log.seconds:.0f} s)")
ax.axhline(-200, color="k", ls=":", lw=1)
ax.set(xlabel="real environment steps", ylabel="evaluation return", title="seed 0, trained live")
ax.legend()
print(f"after {budget.total_steps} real steps: your MBPO {mbpo_log.returns[-1]:.0f}, "
      f"SAC with 1 update per step {sac_log.returns[-1]:.0f}; rollout lengths k at each refit: {mbpo_log.k}")

# %% [markdown]
# ### A fair comparison
#
# MBPO made ten gradient updates per real step, SAC one. Is the model what helped, or the
# updates? REDQ (Chen et al., 2021) showed that a model-free learner with many updates per real
# step (a high *update-to-data ratio*), kept stable by an ensemble of critics, matches MBPO's
# sample efficiency on MuJoCo. So the committed sweep trains three learners on the same seeds
# with the same evaluation: SAC at $G = 1$, SAC at MBPO's $G = 10$, and MBPO. We count the real
# steps until the evaluation return **stays** at $-200$ or better (`None`: not within the run).

# %% tags=["training"]
sweep = mbpo_tools.load_sweep()
print("sweep made with:", sweep["command"])
runs = {"SAC, G = 1": "sac_g1", "SAC, G = 10": "sac_g10", "MBPO, G = 10": "mbpo_g10"}
fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
for (label, name), color in zip(runs.items(), ["C1", "C2", "C0"], strict=True):
    steps, returns = mbpo_tools.curves(sweep, name)
    ax.plot(steps, returns.T, color=color, alpha=0.6, lw=1)
    ax.plot(steps, returns.mean(0), color=color, lw=2.5, label=f"{label} (mean of {len(returns)})")
    print(f"{label:>13}: stays >= -200 from real step", list(sweep["steps_to_threshold"][name].values()))
ax.axhline(sweep["threshold"], color="k", ls=":", lw=1)
ax.set(xlabel="real environment steps", ylabel="evaluation return", ylim=(-1800, 0))
ax.legend();

# %% [markdown]
# **What we measured.** SAC at one update per real step is far behind: on most seeds its return
# does not stay above $-200$ within the 6,000 steps it ran. At the same ten updates per real
# step, SAC *without* a model and MBPO need about the same number of real steps: seed by seed,
# they differ by no more than the seeds differ among themselves. Both are unsteady before they
# settle: some seeds pass $-200$ and fall back (the thin lines). So most of what MBPO gained over
# the usual SAC came from the update ratio, which SAC can have without a model; on the pendulum,
# at class scale, the model itself buys little or nothing.

# %% [markdown]
# **Where could the model earn its keep?** More updates per real step help SAC only as long as
# it stays stable; REDQ found plain SAC degrading at high ratios, where a model's extra data could
# keep the critic from overfitting the few real transitions. The sweep doubled $G$ for both:

# %% tags=["training"]
for name in ("sac_g20", "mbpo_g20"):
    steps, returns = mbpo_tools.curves(sweep, name)
    print(f"{name}: stays >= -200 from", list(sweep["steps_to_threshold"][name].values()),
          f"; final return {returns[:, -1].mean():.0f} (seeds: {np.round(returns[:, -1]).tolist()})")

# %% [markdown]
# Twice the updates sped both up again, by about the same amount, and SAC did not turn unstable
# within 2,000 steps: the model had nothing to rescue. We found no class-sized regime on the
# pendulum where MBPO needs clearly fewer real steps than SAC at the same update ratio, and we
# say so rather than tune one into existence. Why not? A model helps when its data teach the
# learner something the real buffer does not: states the policy is about to reach, or fresh
# variety where replaying a few real transitions many times overfits the critic. On this small,
# smooth, 3-dimensional system, replaying the real transitions ten or twenty times did as well
# as adding simulated ones, although the simulated ones were accurate (the $k$ experiments below
# print their measured error; the pendulum's speed ranges over $\pm 8$). REDQ found plain
# SAC's value estimates biased at high update ratios on MuJoCo tasks, with far larger state
# spaces and far longer training: beyond class time.

# %% [markdown]
# ### The real ratio
#
# The learner's batches are a share $\rho$ real, the rest simulated: $\rho = 1$ is SAC at the
# same $G$ (no simulated data at all), and the paper's $\rho = 0.05$ trains mostly on the model.
# The sweep compares them over three seeds, and runs $\rho = 0.05$ two more ways: with rollouts
# refreshed every real step (40 start states per step, the same number in total), and with the
# paper's 100,000 start states per refit, ten times the course's.

# %% tags=["training"]
ratios = {"ρ = 1 (SAC, G = 10)": ("sac_g10", "C2"), "ρ = 0.3 (course)": ("mbpo_g10", "C0"),
          "ρ = 0.05": ("rho0.05", "C3"), "ρ = 0.05, rollouts every step": ("rho0.05_every_step", "C4"),
          "ρ = 0.05, 100,000 rollouts per refit": ("rho0.05_100k", "C5")}
fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
for label, (name, color) in ratios.items():
    steps, returns = mbpo_tools.curves(sweep, name, until=2000)
    ax.plot(steps, returns.mean(0), color=color, lw=2, label=label)
    ax.fill_between(steps, returns.min(0), returns.max(0), color=color, alpha=0.08)
    print(f"{label:>38}: final {returns[:, -1].mean():6.0f}; stays >= -200 from",
          [mbpo_tools.steps_to_threshold(steps, r) for r in returns])
ax.axhline(sweep["threshold"], color="k", ls=":", lw=1)
ax.set(xlabel="real environment steps", ylabel="evaluation return (mean, range of 3 seeds)", ylim=(-1800, 0))
ax.legend(fontsize=8);

# %% [markdown]
# **What we measured.** $\rho = 0.3$ and $\rho = 1$ learned on every seed. With $\rho = 0.05$
# and the course's rollouts, one seed of three did not (the printed lists): 95 % of each batch
# is simulated, so the learner sees the pendulum almost only through the model, and a poor refit
# (that seed's held-out model error, printed below, jumped at step 750) teaches wrong values
# that the few real transitions cannot correct ($\rho = 0.3$ had the same poor refit, and
# recovered). Making the same number of rollouts fresh at every step did not help; the paper's
# count, ten times more per refit, came close to $\rho = 0.3$.
#
# So the paper's $\rho = 0.05$ comes with $M = 400$ branched rollouts for every real step: its
# Algorithm 1 makes them at every step (the authors' code makes the same number, 100,000, every
# 250 steps). A learner that trains almost only on simulated data needs a lot of it, from many
# start states. At class scale, ten times the model rollouts cost more than they save; more
# real data in each batch is the cheaper safeguard, hence the course's $\rho = 0.3$.

# %% tags=["training"]
for name in ("rho0.05", "mbpo_g10"):
    print(f"{name}: the elites' held-out error after each refit, seed 0:",
          [f"{e:.3f}" for e in sweep["runs"][name]["0"]["model_mse"][:8]])

# %% [markdown]
# ### The rollout length $k$, in both directions
#
# Part 2 showed that a model's error compounds over the steps of a rollout. Two errors matter
# here, and `mbpo_tools.rollout_error` measures both along branched rollouts: how far the
# simulated state is from where the true pendulum would be after $k$ steps (the *trajectory*
# error, which compounds), and how wrong the $k$-th simulated *transition* is, the true dynamics
# applied at the model's own state: what the learner actually trains on. First the model you
# fitted by hand in section 2, on 400 steps of random torques, rolled out by two policies:
# random torques like its data, and a swing that pushes with the motion and reaches speeds
# random torques never reached.

# %% tags=["training"]
gen = torch.Generator().manual_seed(1)
policies = {"random torques": lambda obs: 4 * torch.rand(len(obs), 1, generator=gen) - 2,
            "swing": lambda obs: 2.0 * torch.sign(obs[:, 2:])}  # push with the motion, full torque
errors = {name: mbpo_tools.rollout_error(mbpo.elite_predictor(model), policy, real_buffer, 25, gen)
          for name, policy in policies.items()}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained", sharex=True)
for (name, err), color in zip(errors.items(), ["C0", "C3"], strict=True):
    for ax, key in zip(axes, ("trajectory", "step"), strict=True):
        ax.plot(range(1, 26), err[key], color=color, label=name)
    print(f"{name:>14}: trajectory error k=1 {err['trajectory'][0]:.3f}, k=25 {err['trajectory'][-1]:.2f}; "
          f"transition error k=1 {err['step'][0]:.3f}, k=25 {err['step'][-1]:.3f}")
axes[0].set(xlabel="rollout step k", ylabel="|s^_k - s_k|", title="trajectory error (compounds)")
axes[1].set(xlabel="rollout step k", ylabel="|s^_k - f(s^_k-1, a)|", title="error of the k-th transition")
axes[0].legend();

# %% [markdown]
# With random torques the rollouts stay where the model's data are: the trajectory error
# compounds, as in Part 2, yet the 25th transition is about as accurate as the first (the
# printed errors). The swing takes the pendulum where random torques never took it, and its
# transitions get far worse with $k$. Long rollouts hurt through this second error: they carry
# the policy to states the model has not seen, and the learner then trains on wrong transitions.
#
# In MBPO the model is refitted every 250 steps on what the policy did, so its data follow the
# policy. The sweep ran MBPO with $k$ fixed at 1 and at 25 from the start (the default schedule
# grows from 1 to 4), once with the learned model as MBPO refits it and once with a model of
# little data: fitted once, on the 250 random steps, and never again. Left: each run's measured
# transition error at rollout step $k$, over its refits; right: the return.

# %% tags=["training"]
k_runs = {"k = 1": "k1", "k: 1 -> 4 (default)": "mbpo_g10", "k = 25": "k25",
          "k = 1, model fitted once": "fit_once_k1", "k = 25, model fitted once": "fit_once_k25"}
early, late = slice(0, 3), slice(4, 8)  # refits at real steps 250-750 and 1,250-2,000 (one every 250)
fig, (ax_e, ax_r) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
for (label, name), color in zip(k_runs.items(), ["C0", "C9", "C3", "C2", "C1"], strict=True):
    step_err = np.array([run["step_error"] for run in sweep["runs"][name].values()])  # (seeds, refits, 25)
    ax_e.plot(range(1, 26), step_err[:, late].mean((0, 1)), color=color, label=label)
    steps, returns = mbpo_tools.curves(sweep, name, until=2000)
    ax_r.plot(steps, returns.mean(0), color=color, label=label)
    print(f"{label}: error of the 1st / 25th transition, early refits "
          f"{step_err[:, early].mean((0, 1))[[0, -1]].round(3).tolist()}, late refits "
          f"{step_err[:, late].mean((0, 1))[[0, -1]].round(3).tolist()}\n    final returns "
          f"{np.round(returns[:, -1]).tolist()}; stays >= -200 from "
          f"{[mbpo_tools.steps_to_threshold(steps, r) for r in returns]}")
ax_e.set(xlabel="rollout step k", ylabel="error of the k-th transition", ylim=(0, None),
         title="measured model error, refits at steps 1,250-2,000")
ax_r.axhline(sweep["threshold"], color="k", ls=":", lw=1)
ax_r.set(xlabel="real environment steps", ylabel="evaluation return (3 seeds)", ylim=(-1800, 0),
         title="return")
ax_r.legend(fontsize=8);

# %% [markdown]
# **Both directions.** Early on, while the policy changes fast, every model's $k$-th transition
# gets worse along the rollout (the printed early errors). Once the model's data follow the
# policy, the refitted model's 25th transition is about as accurate as its first (left), and
# $k = 25$ did as well as $k = 1$: long rollouts only added useful data. The model fitted once
# on little data stays several times worse at $k = 25$ than at $k = 1$, and there $k = 25$ ended
# far behind $k = 1$ on one seed of three; on the other two it made no difference. Long rollouts
# hurt where the measured transition error grows with $k$, that is, where rollouts leave the
# model's data. The MBPO paper's locomotion tasks are like that (it kept $k = 1$ on two of
# them); a pendulum refitted every 250 steps mostly is not. Hence a short $k$ that grows only as
# the model gets more data, and hence measuring the model's error along rollouts rather than
# trusting a default.

# %% [markdown]
# ### Model bias
#
# Which wrong models mislead the learner? The sweep injected an error about **what the action
# does**: the model is asked what torque $(1 - 2\,\text{error})\,a$ would do when the agent
# applies $a$; at 0.5 it believes the motor does nothing, at 1 that it pushes backwards. Most of
# each batch now teaches the critic wrong values of actions, and the policy is optimised for the
# model's world instead of the pendulum's.
#
# ![MBPO's evaluation return when the model believes the motor does nothing](../assets/part3_mbpo_model_error.png)
#
# *The image is the demo at its default setting, for readers without a running kernel.*

# %% tags=["training"]
error_demo = part3.MBPOModelErrorDemo(sweep)
error_demo.show()

# %% [markdown]
# **Question.** MBPO takes most of each batch from the model. Which knob of the system view
# would you turn if you suspected your model was biased, and what would it cost?
#
# <details><summary>Answer</summary>
#
# Raise the real ratio $\rho$ (more real data per batch) or shorten the rollouts $k$, or both.
# Both trade model bias for fewer useful samples: with $\rho = 1$ you are back to model-free SAC
# at the same $G$. MBPO's theory ties the rollout length to the model's error: the more wrong the
# model, the shorter the rollouts that still improve the policy. A biased model is worse than no
# model at all: compare the demo's curves with SAC at the same $G$, which never sees the model.
# </details>

# %% [markdown]
# Which of this notebook's exercises pass now? `checks.status()` runs their visible checks again (quietly) and counts the points; run it whenever you like.

# %% tags=["demo"]
from course_lib import checks

checks.status()

# %% [markdown]
# ## Summary
# * **Classic Dyna** makes extra one-step updates from a model of what it has seen. With a good
#   model, 50 planning steps per real step reach the shortest path in a few episodes; Q-learning
#   alone needs dozens.
# * **Model bias**: the learner optimises the model's world. What a wrong model costs depends on
#   how it is wrong: the maze's errors (a neighbouring cell) were tolerated until nearly every
#   entry was wrong; a pendulum model wrong about what the motor does made MBPO far worse than
#   SAC without a model.
# * **Model-accelerated off-policy RL**: a real buffer, a model, short rollouts branched from
#   real states into a model buffer, and an off-policy learner that samples both (MBA, MBPO).
# * **MVE** spends the model inside the critic's target: it shrinks the critic's error by
#   $\gamma^H$ and adds the model's error, which grows with $H$; the TD-$k$ trick fits the
#   critic where the target asks it.
# * **MBPO** = SAC + a probabilistic ensemble + short branched rollouts + a real ratio + many
#   updates per real step. Your MBPO beat SAC at one update per step; compared fairly, at the
#   same updates per step, SAC without a model learned the pendulum about as fast. At class
#   scale the update ratio did the work, not the model.
# * **Rollout length and real ratio** trade the model's data against its errors: long rollouts
#   hurt where the model's transitions get worse along them (a model far from its data), and a
#   small real ratio needs many rollouts (the paper's 400 per real step).
#
# ## Going further
# * Sutton & Barto, *Reinforcement Learning: An Introduction* (2nd ed.), chapter 8.
# * Gu et al. (2016), *Continuous Deep Q-Learning with Model-based Acceleration* (MBA);
#   Feinberg et al. (2018), *Model-Based Value Estimation* (MVE); Buckman et al. (2018), STEVE;
#   Janner et al. (2019), *When to Trust Your Model: Model-Based Policy Optimization*;
#   Chen et al. (2021), *Randomized Ensembled Double Q-Learning* (REDQ).
# * Read `course_lib/mbpo.py` (the loop) and `course_lib/sac.py` (the learner). Try your
#   `mbpo_learn` with `real_ratio=0.05` or a longer `k_schedule`:
#   `mbpo.run(dataclasses.replace(budget, real_ratio=0.05), seed=0, **yours)`.
# * Reproduce the sweep: the command printed above (about an hour on a 2-core laptop; finished
#   runs are cached, so it resumes where it stopped).
