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
# 4. write SAC's soft target, then train MBPO on `Pendulum-v1` with your pieces and compare it
#    with the same SAC without a model.
#
# Each exercise sits where its idea is taught, and the cells after it run your function. While
# it is unfinished, they show the results of the course's solution and say so in one line.

# %% [markdown]
# ## Setup

# %%
# %matplotlib widget
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib as cl
from course_lib import buffers, checks, dyna, dynamics, envs, mbpo, mve, precomputed, sac
from course_lib import gridworld as gw
from course_lib.demos import part3

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

# %%
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
checks.dyna_q_planning_update()


# %% [markdown]
# ### Your planning loop inside Dyna-Q
# `dyna.dyna_q` is one Dyna-Q learner, written like the book's pseudocode: at every real step it
# acts $\varepsilon$-greedily, makes the Q-learning update from the real step, stores the step in
# the model tables, then calls **your** `dyna_q_planning_update` for its $n$ planning updates.
# Three learners for each $n \in \{0, 5, 50\}$, with the book's $\alpha = 0.1$,
# $\varepsilon = 0.1$, $\gamma = 0.95$, for 50 episodes each:

# %%
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

# %%
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

# %%
for n, res in dyna_runs.items():
    reached = dyna.episodes_to_reach(res.steps_per_episode, 20)
    yours = np.mean([learner.steps_per_episode[0, 9] for learner in your_runs[n]])
    print(f"n = {n:2d}: at most 20 steps per episode from episode {reached} on; episode 10 takes "
          f"{res.steps_per_episode[:, 9].mean():.0f} steps (your 3 learners: {yours:.0f})")

# %% [markdown]
# The greedy policy of your first $n = 50$ learner after 50 episodes (arrows = $\arg\max_a Q(s, a)$):

# %%
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

# %%
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

# %%
dyna_demo = part3.DynaCorruptionDemo()
print("sweep made with:", dyna_demo.sweep["command"])
dyna_demo.show()

# %% [markdown]
# **Question.** With an exact model, more planning is always better here. At what fraction
# of wrong entries does planning with $n = 50$ stop beating no planning at all? What does
# that tell you about a learned model that is wrong in places?
#
# <details><summary>Answer</summary>
#
# Planning amplifies whatever the model says: with $n = 50$ each real step is followed by 50
# updates from the model and only one from reality. With a few percent of wrong entries
# planning still helps a lot; when most entries are wrong, the planning updates pull $Q$ away
# from what the real steps teach, and $n = 50$ does no better than $n = 0$ (the right panel).
# This is **model bias**: the learner optimises the model's world, not the real one. Every
# method in this notebook limits how far it trusts the model for this reason.
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
# `mbpo.model_accelerated_rl` is exactly this loop (read it in `course_lib/mbpo.py`: one
# function, four numbered steps). Two of its boxes are yours to write, and it takes them as
# arguments: the branched rollouts (Exercise 3.5) and the learner's batches, which mix the two
# buffers, a share $\rho$ (the *real ratio*) of real transitions and the rest simulated
# (Exercise 3.2).

# %% [markdown]
# One pass through every box, by hand. First 400 real steps with random torques into the real
# buffer, then a probabilistic ensemble fitted to them (7 members, the 5 with the lowest
# held-out error are the *elites*):

# %%
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
# ### Exercise 3.5 · MBPO's branched rollouts (3 points)
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

# %% tags=["solution:3.5"]
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


# %% tags=["exercise:3.5", "points:3"]
checks.mbpo_branched_rollout()

# %% [markdown]
# Your rollouts, by hand: 1000 branched rollouts of $k = 1$ step (Dyna-style) with a fresh,
# untrained SAC policy network, each row through a random elite (`mbpo.elite_predictor(model)`
# gives the elites' predictions, `(5, B, 3)` and `(5, B)`). How far is each simulated step
# from the true pendulum?

# %%
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
# buffer. The MBPO paper uses $\rho = 5\,\%$: most of what the learner sees is simulated.

# %% [markdown]
# ### Exercise 3.2 · The mixed real/model batch (2 points)
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
# and every batch of the learners in section 4.
#
# <details><summary>Hint</summary>
#
# Concatenate field by field along dimension 0 (`torch.cat([real.obs, fake.obs])`, ...) and build
# `buffers.Batch(obs, act, rew, next_obs, done)`. An empty buffer cannot be sampled.
# </details>

# %% tags=["solution:3.2"]
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


# %% tags=["exercise:3.2", "points:2"]
checks.mbpo_mixed_batch()

# %%
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
# ## 3. MVE: expanding the target through the model
#
# Model-based *acceleration* (MBA; Gu et al., 2016) feeds imagined rollouts to the learner as
# extra data, like Dyna-style. *Model-based value expansion* (MVE; Feinberg et al., 2018) uses
# the model differently: inside the critic's **target**. The one-step target trusts the critic
# right away; the $H$-step target first rolls the model $H - 1$ steps from the real next state
# $\hat s_1 = s_1$, with actions from the policy:
#
# $$y_1 = r_0 + \gamma\, Q(s_1, \pi(s_1)), \qquad
# y_H = r_0 + \sum_{k=1}^{H-1} \gamma^k \hat r_k + \gamma^H Q(\hat s_H, \pi(\hat s_H)).$$
#
# The critic's error is now multiplied by $\gamma^H$, but every model step adds error, and
# these compound. We measure both on the pendulum, where the true $Q^\pi$ of a fixed policy is
# known exactly: the model has the wrong gravity ($g(1 + \varepsilon)$), and the critic is
# $Q^\pi$ plus noise of spread $\delta$ times the spread of $Q^\pi$.

# %% [markdown]
# ### Exercise 3.3 · The MVE target (3 points)
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

# %% tags=["solution:3.3"]
def mve_target(r0, s1, model_step, policy, q_value, gamma, horizon):
    """H-step model-based value expansion target. r0 (B,), s1 (B, d) -> (B,)."""
    # BEGIN SOLUTION
    y, s = r0, s1
    for k in range(1, horizon):
        s, r = model_step(s, policy(s))
        y = y + gamma**k * r
    return y + gamma**horizon * q_value(s, policy(s))
    # END SOLUTION


# %% tags=["exercise:3.3", "points:3"]
checks.mve_target()

# %% [markdown]
# Your target, measured: `mve.target_error_stats` calls your `mve_target` once for every
# $H = 1, \dots, 30$, on 512 random states for each of 11 model errors $\varepsilon = 0, 0.05,
# \dots, 0.5$ at once, with an exact critic, and compares $y_H$ with the true $Q^\pi$. The
# critic's error is added analytically (it is independent noise), so the sliders below never
# call your function again.

# %%
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

# %%
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
# ## 4. MBPO: short branched rollouts for SAC
#
# MBPO (Janner et al., 2019) is the system view with specific choices. The learner is **soft
# actor-critic** (SAC): twin critics, a squashed-Gaussian policy and an entropy bonus weighted
# by a temperature $\alpha$ tuned to a target entropy. Its critics regress on the soft target
#
# $$y = r + \gamma (1 - d)\Big[\min_{j=1,2} \bar Q_j(s', a') - \alpha \log \pi(a' \mid s')\Big],
# \qquad a' \sim \pi(\cdot \mid s'),$$
#
# where $\bar Q_1, \bar Q_2$ are slowly tracking copies of the critics. `course_lib/sac.py` is a
# compact SAC that reads top to bottom; it takes this target as an argument, which you write now.

# %% [markdown]
# ### Exercise 3.4 · SAC's soft target (2 points)
# Complete `sac_soft_target`: the target $y$ above, for a batch of transitions.
#
# * `rew`, `done`, `next_log_prob`: tensors `(B,)` (`done` is 1.0 where $s'$ is terminal);
#   `next_q`: tensor `(2, B)`, both target critics at $(s', a')$; `alpha`: a float or a 0-d
#   tensor; `gamma`: a float;
# * returns a tensor `(B,)`.
#
# Success: the check passes with terminal transitions, $\alpha = 0$, a tensor $\alpha$, and
# all-terminal batches (where $y = r$). Then your target trains the critics of both learners below.
#
# <details><summary>Hint</summary>
#
# `next_q.min(dim=0).values` is the smaller critic of each transition; the factor $1 - d$
# switches the bootstrap off at terminal states, not the reward.
# </details>

# %% tags=["solution:3.4"]
def sac_soft_target(rew, done, next_q, next_log_prob, alpha, gamma):
    """Soft Bellman target of SAC. rew, done, next_log_prob (B,), next_q (2, B) -> (B,)."""
    # BEGIN SOLUTION
    soft_value = next_q.min(dim=0).values - alpha * next_log_prob
    return rew + gamma * (1.0 - done) * soft_value
    # END SOLUTION


# %% tags=["exercise:3.4", "points:2"]
checks.sac_soft_target()

# %% [markdown]
# MBPO adds to SAC:
# * a **probabilistic ensemble** (7 Gaussian networks on bootstrapped data; the 5 with the lowest
#   held-out error are the *elites*), refitted every $F = 250$ real steps with early stopping;
# * **branched rollouts** (your `mbpo_branched_rollout`): 10,000 start states from the real
#   buffer, $k$ steps of the current policy, each step through a random elite (the paper also
#   samples the elite's Gaussian; on the deterministic pendulum its mean worked better, see
#   `model_noise` in the config);
# * a **rollout-length schedule**: $k$ grows from 1 to 4 as the model gets more data;
# * a **model buffer** holding the rollouts of the last 4 refits, and batches with a real ratio
#   $\rho$ (your `mbpo_mixed_batch`), with $G = 10$ SAC updates per real step. The paper's
#   $\rho = 5\,\%$ made our class-sized runs unstable (rollouts are refreshed only every 250
#   steps here, not every step), so the defaults keep more real data in each batch; the config
#   below prints it.
#
# Below, MBPO and the same SAC without a model (one update per real step, as usual for SAC)
# train live from the same seed, for a class-sized budget of 1250 real steps, with your three
# pieces. (MBPO takes a while: it makes ten times more updates.)

# %%
budget = dataclasses.replace(mbpo.MBPOConfig(), total_steps=1250)
print(budget)
yours = dict(soft_target=sac_soft_target, mixed_batch=mbpo_mixed_batch, branched_rollout=mbpo_branched_rollout)
mbpo_log = precomputed.run_or_load("part3_mbpo_live", lambda: mbpo.run(budget, seed=0, **yours))
no_model = dataclasses.replace(budget, use_model=False, updates_per_step=1)
sac_log = precomputed.run_or_load("part3_sac_live", lambda: mbpo.run(no_model, seed=0, **yours))

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.3), layout="constrained")
ax.plot(mbpo_log.steps, mbpo_log.returns, "o-", label=f"MBPO ({mbpo_log.seconds:.0f} s)")
ax.plot(sac_log.steps, sac_log.returns, "o-", label=f"SAC, no model ({sac_log.seconds:.0f} s)")
ax.axhline(-200, color="k", ls=":", lw=1)
ax.set(xlabel="real environment steps", ylabel="evaluation return", title="seed 0, trained live")
ax.legend()
print(f"after {budget.total_steps} real steps: MBPO {mbpo_log.returns[-1]:.0f}, SAC {sac_log.returns[-1]:.0f}; "
      f"rollout lengths k at each refit: {mbpo_log.k}")

# %% [markdown]
# One seed and 1250 steps say little. The committed sweep ran both for longer, with three
# seeds (their budgets are printed below). We count the real steps each needs until its
# evaluation return **stays** at $-200$ or better.

# %%
sweep = mbpo.load_sweep()
print("sweep made with:", sweep["command"])
print("real steps: MBPO", sweep["config"]["mbpo_steps"], "SAC", sweep["config"]["sac_steps"])
fig, ax = plt.subplots(figsize=(6.5, 3.3), layout="constrained")
for name, color in (("mbpo", "C0"), ("sac", "C1")):
    for seed, run in sweep["main"][name].items():
        ax.plot(run["steps"], run["returns"], color=color, alpha=0.7,
                label=f"{name.upper()}" if seed == "0" else None)
ax.axhline(sweep["threshold"], color="k", ls=":", lw=1)
ax.set(xlabel="real environment steps", ylabel="evaluation return", xscale="log", title="3 seeds each")
ax.legend()
for seed, (m, s) in sweep["steps_to_threshold"].items():
    print(f"seed {seed}: MBPO stays above -200 from {m} real steps, SAC from {s}"
          + (f": {m / s:.0%} of SAC's steps" if m and s else ""))

# %% [markdown]
# **Rollout length.** Part 2 showed that a model's error compounds over the steps of a rollout.
# The sweep ran MBPO with a fixed $k$ three ways: with the learned model as it is (each step the
# mean of a random elite), with a model that is too fast (predicted changes $\times 1.5$), and
# sampling each elite's Gaussian as the MBPO paper does (the variance learned from little data
# is large: each step adds noise).

# %%
panels = {"k_ablation": "elites' means", "k_ablation_with_error": "too fast (x 1.5)",
          "k_ablation_sampled": "sampling the Gaussians"}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), layout="constrained", sharey=True)
for ax, (key, title) in zip(axes, panels.items(), strict=True):
    for k, runs in sweep[key].items():
        curves = np.array([run["returns"] for run in runs.values()])
        steps = next(iter(runs.values()))["steps"]
        ax.plot(steps, curves.mean(0), color={"1": "C0", "5": "C1", "25": "C3"}[k], label=f"k = {k}")
        reach = [mbpo.steps_to_threshold(steps, list(c)) for c in curves]
        print(f"{title:>22}, k = {k:>2}: final {curves[:, -1].mean():5.0f}; stays >= -200 from {reach}")
    ax.axhline(sweep["threshold"], color="k", ls=":", lw=1)
    ax.set(xlabel="real environment steps", title=title, ylim=(-1800, 0))
axes[0].set_ylabel("evaluation return (3 seeds)")
axes[0].legend();

# %% [markdown]
# **What we measured.** Unlike in the MBPO paper's locomotion tasks, long rollouts did not hurt
# here: $k = 25$ reached the threshold about as early as $k = 1$ in all three settings (the
# lists give the real step at which each seed's return stays at $-200$ or better). Part 2's
# argument is about how much the error compounds compared with what the learner can tolerate;
# on a smooth, deterministic, 3-dimensional system, with a sizeable share of real data in every
# batch, it stays tolerable for 25 steps. Short rollouts are a safeguard whose value depends on
# the task and the model: a sweep like this one is how you find out. The next experiment shows
# a kind of model error that does hurt, whatever $k$.

# %% [markdown]
# **Model bias.** Which wrong models mislead the learner? The sweep injected two kinds of error.
# A model that is **too fast** (every predicted change of state doubled, or times 1.5):

# %%
for err, runs in sweep["model_error"].items():
    final = np.array([run["returns"][-1] for run in runs.values()])
    print(f"predicted changes x {1 + float(err):.1f}: final return {final.mean():.0f} ± {final.std():.0f}")

# %% [markdown]
# Its errors are large, yet they hardly hurt: a pendulum that swings faster is still swung up by
# pushing with the swing, so what the learner gets from the model still points the right way.
# An error about **what the action does** is different. Below, the model is asked what torque
# $(1 - 2\,\text{error})\,a$ would do when the agent applies $a$: at 0.5 it believes the motor does
# nothing, at 1 that it pushes backwards. Most of each batch now teaches the critic wrong values
# of actions, and the policy is optimised for the model's world instead of the pendulum.
#
# ![MBPO's evaluation return when the model believes the motor does nothing](../assets/part3_mbpo_model_error.png)
#
# *The image is the demo at its default setting, for readers without a running kernel.*

# %%
error_demo = part3.MBPOModelErrorDemo(sweep)
error_demo.show()

# %% [markdown]
# **Question.** MBPO takes most of each batch from the model. Which knob of the system view
# would you turn if you suspected your model was biased, and what would it cost?
#
# <details><summary>Answer</summary>
#
# Raise the real ratio (more real data per batch) or shorten the rollouts $k$ (less
# compounding), or both. Both trade model bias for fewer useful samples: with a real ratio of
# 100 % you are back to model-free SAC and its sample cost. MBPO's theory ties the
# rollout length to the model's error: the more wrong the model, the shorter the rollouts
# that still improve the policy.
# </details>

# %% [markdown]
# ## Summary
# * **Classic Dyna** makes extra one-step updates from a model of what it has seen. With a
#   good model, 50 planning steps per real step reach the shortest path in a few episodes;
#   Q-learning alone needs dozens.
# * A wrong model is worse than none when it is trusted a lot: **model bias**.
# * **Model-accelerated off-policy RL**: a real buffer, a model, short rollouts branched from
#   real states into a model buffer, and an off-policy learner that samples both.
# * **MVE** spends the model inside the critic's target: it shrinks the critic's error by
#   $\gamma^H$ and adds the model's error, which grows with $H$.
# * **MBPO** = SAC + a probabilistic ensemble + short branched rollouts + a small real ratio;
#   it needs far fewer real steps than SAC (the sweep's numbers above). On the pendulum the
#   rollout length hardly mattered, but a model wrong about what the action does ruined it:
#   **model bias** again.
#
# ## Going further
# * Sutton & Barto, *Reinforcement Learning: An Introduction* (2nd ed.), chapter 8.
# * Gu et al. (2016), *Continuous Deep Q-Learning with Model-based Acceleration* (MBA);
#   Feinberg et al. (2018), *Model-Based Value Estimation* (MVE); Buckman et al. (2018), STEVE;
#   Janner et al. (2019), *When to Trust Your Model: Model-Based Policy Optimization*.
# * Read `course_lib/mbpo.py`: `model_accelerated_rl` is the system view in one function.
#   Try `real_ratio=0.5` or a longer `k_schedule` with `mbpo.run(config, seed, **yours)`.
# * Reproduce the sweep: `python scripts/part3_sweep.py mbpo` (a few hours on a laptop).
