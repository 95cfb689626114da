# %% [markdown]
# # 4 · Multi-step models: successor representations, successor features and C-learning
#
# Parts 2 and 3 used a **one-step model** $\hat p(s_{t+1} \mid s_t, a_t)$ and rolled it out:
# every step feeds a slightly wrong prediction into the next, and the error grows with the
# horizon ($O(\epsilon T^2)$ in Part 2). Dyna and MBPO cope by keeping rollouts short. This part
# asks a different question: **what if the model predicted the future directly**, with no
# rollout at all? A value function only needs to know *which states the policy will visit, and
# how soon*. That is a distribution over future states, and it can be learned.
#
# **In this notebook you will**
# 1. define the *successor representation* (SR) of a policy with this course's normalisation,
#    relate it to Dayan's and Barreto et al.'s, and compute it exactly on the Dyna maze;
# 2. learn *successor features* $\psi$ by TD from sampled transitions (your update), regress a new
#    task's reward weights $w$ from observed rewards (your regression), and combine old policies
#    on the new task with *generalised policy improvement* (GPI, your action choice);
# 3. train a *classifier* whose odds are the future-state density of a continuous point mass
#    (C-learning), first by Monte Carlo, then by TD (your loss), which also works off-policy, and
#    use it to reach a goal behind a wall;
# 4. measure how the error of a rolled-out one-step model grows with the horizon, and what the
#    directly learned models pay instead.

# %% [markdown] tags=["exercise-overview"]
# **Exercises in this notebook** (5, 12 points)
#
# | Exercise | What you write | Points | Where |
# |---|---|---|---|
# | 4.1 | `psi_td_update`: One batched TD update of the successor features | 3 | 2. Successor features: TD learning, reward regression and GPI |
# | 4.2 | `reward_weights`: The reward weights by ridge regression | 2 | 2. Successor features: TD learning, reward regression and GPI |
# | 4.3 | `gpi_action`: GPI action selection | 2 | 2. Successor features: TD learning, reward regression and GPI |
# | 4.4 | `classifier_density_ratio`: From classifier logits to a density ratio | 2 | 3. C-learning: a classifier as a multi-step model for continuous states |
# | 4.5 | `td_classifier_loss`: TD C-learning: the pairs and the loss | 3 | 4. TD C-learning: the recursive classifier |
#
# The cell `checks.status()` near the end of the notebook says which of them pass now: run it whenever you like.

# %% [markdown]
# ## Setup

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as F

import course_lib as cl
from course_lib import clearning, clearning_td, dynamics, gridworld, pointmass, precomputed, successor
from course_lib.demos import part4

cl.live_figures()  # interactive figures (ipympl), or images redrawn in place without it (Colab)
rng = cl.seed_everything(0)
gen = cl.utils.torch_generator(0)

# %% [markdown]
# ## 1. The successor representation, and its conventions
# Fix a policy $\pi$ and a discount $\gamma$. The **successor representation** of a state-action
# pair is the discounted distribution of the states that follow it, the present one included:
#
# $$\mu^\pi(s, a)_i = (1-\gamma) \sum_{k \ge 0} \gamma^{k}\, p(s_{t+k} = i \mid s_t = s, a_t = a),
# \qquad \mu^\pi(s) = \sum_a \pi(a \mid s)\, \mu^\pi(s, a).$$
#
# **Our normalisation.** The factor $(1-\gamma)$ makes $\mu^\pi(s, a)$ a probability
# distribution over states $i$: draw a delay $k \ge 0$ with $P(k) = (1-\gamma)\gamma^k$ and look
# where the policy is $k$ steps later. A value is a discounted *sum* of rewards, so with a state
# reward $r(s)$ it is that average rescaled: $V^\pi(s) = \mu^\pi(s)^\top r / (1-\gamma)$.
#
# **Other conventions.** Dayan (1993), who introduced the SR, counts discounted *visits*:
# $M_D = \sum_k \gamma^k (P^\pi)^k = (I - \gamma P^\pi)^{-1}$, so $M_D = M / (1-\gamma)$ (rows sum to
# $1/(1-\gamma)$) and $V^\pi = M_D\, r$. Barreto et al. (2017) write the reward of a *transition*
# as $r(s, a, s') = \phi(s, a, s')^\top w$ and define $\psi^\pi(s, a) = \mathbb{E}\big[\sum_{i \ge 0}
# \gamma^i \phi(s_{t+i}, a_{t+i}, s_{t+i+1})\big]$, so $Q^\pi = \psi^{\pi\top} w$ with no factor. We
# check both relations numerically below.
#
# **The maze as a Markov chain.** We use Part 3's Dyna maze. Wall cells are not states; the 47
# free cells are. The goal needs a decision: here, *reaching the goal restarts the episode* —
# from the goal, every action leads back to the start. The chain then never ends, each row of
# $P^\pi$ is a distribution, and the reward $r(s) = 1$ at the goal counts every visit. Our policy
# takes a shortest-path action towards the goal, except that with probability 0.3 it picks an
# action uniformly at random.

# %% tags=["demo"]
chain = successor.maze_chain(gridworld.DYNA_MAZE)
pi = successor.shortest_path_policy(chain, epsilon=0.3)  # (n, A)
P_pi = successor.policy_transition(chain.P, pi)           # (n, n): P^pi[s, s']
print(f"{chain.n} states, {chain.P.shape[1]} actions; the policy's most likely action in each cell:")
print(chain.render(pi))

# %% [markdown]
# Writing the sum as "this step, then everything after the next state" gives the SR's Bellman
# equation, $\mu^\pi(s) = (1-\gamma)\, e_{s} + \gamma\, \mathbb{E}_{s'}[\mu^\pi(s')]$. Stack the rows
# into a matrix $M$ (row $s$ is $\mu^\pi(s)$): the Bellman equation is *linear*,
# $M = (1-\gamma) I + \gamma P^\pi M$, so $M = (1-\gamma)(I - \gamma P^\pi)^{-1}$
# (`successor.sr_matrix`). The cell checks the claims above: rows are distributions, Dayan's
# matrix is ours over $1-\gamma$, and the value read off the SR equals plain policy evaluation
# (iterating $V \leftarrow r + \gamma P^\pi V$, which knows nothing about the SR).

# %% tags=["demo"]
gamma = 0.9
M = successor.sr_matrix(P_pi, gamma)                       # (n, n), ours
M_dayan = np.linalg.inv(np.eye(chain.n) - gamma * P_pi)    # Dayan (1993)
V_sr = M @ chain.reward / (1 - gamma)
V_pe = successor.policy_evaluation(P_pi, chain.reward, gamma)
print(f"rows of M sum to 1: {np.allclose(M.sum(axis=1), 1)}; rows of M_D sum to "
      f"{M_dayan.sum(axis=1).mean():.3f} = 1/(1-gamma); max |M_D - M/(1-gamma)| = "
      f"{np.abs(M_dayan - M / (1 - gamma)).max():.1e}")
print(f"from the start: mu(start, start) = {M[chain.start, chain.start]:.3f}, "
      f"mu(start, goal) = {M[chain.start, chain.goal]:.4f}; V(start) = {V_sr[chain.start]:.4f}, "
      f"max |V_SR - V_PE| = {np.abs(V_sr - V_pe).max():.1e}")

# %% [markdown]
# ### Live: the SR on the maze
# Pick a state and a discount. The left panel is $\mu^\pi(s, \cdot)$ (log colour scale; the red
# ring is $s$). The right panel sums it by maze distance from $s$; the dotted curve is what a
# walker that moved one cell further away at every step would give. The readout's $V^\pi(s)$ is
# $\mu^\pi(s)^\top r / (1-\gamma)$.
#
# ![The SR demo at its default setting: the start state, γ = 0.9](../assets/part4_sr.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %% tags=["demo"]
sr_demo = part4.SRDemo(part4.sr_demo_data())
sr_demo.show()

# %% [markdown]
# **Question.** Put $s$ at the start (index 15) and drag $\gamma$ from 0.5 to 0.99. Why does
# $\mu(s, \text{goal})$ grow, and why does the SR of the start never become concentrated on the
# goal even though the policy heads there?
#
# <details><summary>Answer</summary>
#
# A larger $\gamma$ spreads the weights $(1-\gamma)\gamma^k$ over more future steps, so states many
# steps away, like the goal, get a share. But the goal is visited for a
# single step and then the episode restarts, so in the long run the chain spends most of its
# time on the way to the goal, and the SR with $\gamma \to 1$ tends to that long-run visiting
# frequency, not to a point mass on the goal.
# </details>

# %% [markdown]
# ## 2. Successor features: TD learning, reward regression and GPI
# The SR separates *where the policy goes* ($\mu^\pi$) from *what it is paid there* ($r$). With
# state features $\phi(s) \in \mathbb{R}^d$ and rewards linear in them, $r(s) = \phi(s)^\top w$, we
# only need the discounted future *features*, the **successor features**
#
# $$\psi^\pi(s, a) = \mu^\pi(s, a)^\top \phi \in \mathbb{R}^d, \qquad
# Q^\pi(s, a) = \frac{\psi^\pi(s, a)^\top w}{1-\gamma}.$$
#
# They obey their own **Bellman equation** (the SR's, multiplied by $\phi$):
#
# $$\psi^\pi(s, a) = (1-\gamma)\, \phi(s) + \gamma\, \mathbb{E}_{s' \sim p(\cdot \mid s, a),\; a' \sim \pi(s')}
# \big[\psi^\pi(s', a')\big].$$
#
# With one-hot features, $\phi = I$, $\psi^\pi$ *is* the SR $\mu^\pi(s, a)$. Barreto et al.'s $\psi$
# is ours divided by $1-\gamma$ when their transition features are $\phi(s, a, s') = \phi(s)$ (the
# reward is paid in the state the transition leaves). The cell below computes theirs from its
# own definition, by summing the series, and compares.
#
# Here $\phi$ marks four landmark cells (1: the goal, 2: bottom-left, 3: top-left and
# 4: bottom-right corner). We keep one policy per landmark, $\pi_k$ = the optimal policy for the
# reward $w = e_k$ (reach landmark $k$ and stay there; for the goal, which restarts the episode,
# come back to it again and again).

# %% tags=["demo"]
phi = successor.landmark_features(chain)  # (n, d)
base = [successor.optimal_policy(chain.P, phi[:, k], gamma) for k in range(phi.shape[1])]
psi_exact = np.stack([successor.successor_features(chain.P, p, phi, gamma) for p in base])  # (K, n, A, d)
psi_barreto = np.zeros_like(psi_exact[0])   # sum_i gamma^i phi(s_{t+i}), term by term, for pi_1
for _ in range(400):                        # 0.9^400 < 1e-18: the series has converged
    psi_barreto = phi[:, None, :] + gamma * chain.P @ np.einsum("sa,sad->sd", base[0], psi_barreto)
print(f"psi: {psi_exact.shape} = (policies K, states n, actions A, features d); "
      f"max |psi_Barreto - psi / (1 - gamma)| = {np.abs(psi_barreto - psi_exact[0] / (1 - gamma)).max():.1e}")

# %% [markdown]
# ### Learning $\psi$ from samples
# Without the model we learn $\psi$ by temporal differences, exactly as for a value function but
# with a *vector* target. After a transition $(s, a, s')$ and a next action $a' \sim \pi(s')$, the
# Bellman equation with the expectation replaced by the one sample is a target for $\psi(s, a)$,
# and TD moves $\psi(s, a)$ a step $\alpha$ towards it.
#
# `successor.learn_psi_td` runs *sweeps*: each takes every pair $(s, a)$ once, samples its
# $s'$ from the maze and $a'$ from $\pi$, and applies one batched update to all of them. The step
# size decays as $\alpha_k = 1/(1 + k(1-\gamma))$, so the noise of single samples averages out.

# %% [markdown]
# ### Exercise 4.1 · One batched TD update of the successor features (3 points)
# Complete `psi_td_update(psi, phi, s, a, s_next, a_next, gamma, alpha)`: one TD(0) step for
# every transition $(s_b, a_b, s'_b, a'_b)$ of a batch, using the *old* `psi` in every target.
#
# * `psi`: array `(n, A, d)`; `phi`: array `(n, d)`, the state features;
# * `s`, `a`, `s_next`, `a_next`: int arrays `(B,)`; the pairs $(s_b, a_b)$ are distinct;
# * `gamma` in $[0, 1)$, `alpha` in $(0, 1]$;
# * returns the updated array `(n, A, d)` (a new array); pairs not in the batch are unchanged.
#
# Success: the check passes for a full sweep, a partial batch, $\alpha = 1$, $\gamma = 0$ and
# one-hot features (the SR). No Python loop is needed. The cells after the check learn the maze's
# SR and the four landmark policies' $\psi$ with your update; GPI then runs on what you learned.
#
# <details><summary>Hint</summary>
#
# $$\psi(s_b, a_b) \leftarrow \psi(s_b, a_b) + \alpha\big[(1-\gamma)\, \phi(s_b) + \gamma\, \psi(s'_b, a'_b)
# - \psi(s_b, a_b)\big].$$
#
# `psi[s, a]` (two index arrays) gives the `(B, d)` rows $\psi(s_b, a_b)$, `phi[s]` the `(B, d)`
# features. Compute every target from the old `psi` first, then write the new rows into a copy.
# </details>

# %% tags=["solution:4.1"]
def psi_td_update(psi: np.ndarray, phi: np.ndarray, s: np.ndarray, a: np.ndarray, s_next: np.ndarray,
                  a_next: np.ndarray, gamma: float, alpha: float) -> np.ndarray:
    """TD(0) for successor features on the pairs (s, a). psi: (n, A, d), phi: (n, d), s..a_next: (B,)."""
    # BEGIN SOLUTION
    target = (1 - gamma) * phi[s] + gamma * psi[s_next, a_next]
    new = psi.copy()
    new[s, a] = psi[s, a] + alpha * (target - psi[s, a])
    return new
    # END SOLUTION


# %% tags=["exercise:4.1", "points:3"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.psi_td_update()

# %% [markdown]
# First the SR itself: one-hot features and the 0.3-greedy policy of section 1. TD learns
# $\mu^\pi(s, a)$; averaging over $\pi$ gives $M$, which we compare with the exact matrix.

# %% tags=["training"]
mu_exact = successor.sr_state_action(chain.P, M, gamma)  # (n, A, n)
mu_td, td_log = precomputed.run_or_load("part4_sr_td", lambda: successor.learn_psi_td(
    psi_td_update, chain.P, pi, np.eye(chain.n), gamma, n_sweeps=3000, rng=np.random.default_rng(1),
    psi_exact=mu_exact))
M_td = np.einsum("sa,saj->sj", pi, mu_td)
n_samples = td_log.sweeps[-1] * chain.n * chain.P.shape[1]
print(f"after {td_log.sweeps[-1]} sweeps ({n_samples} sampled transitions): max |mu_TD - mu| = "
      f"{td_log.max_abs_error[-1]:.4f}, max |M_TD - M| = {np.abs(M_td - M).max():.4f}, "
      f"max |V_TD - V| = {np.abs(M_td @ chain.reward - M @ chain.reward).max() / (1 - gamma):.4f}")
fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.loglog(td_log.sweeps, td_log.max_abs_error, label="TD-learned SR")
ax.set(xlabel="sweeps", ylabel="max |μ_TD − μ_exact|", title="TD learning of the SR (your update)")
ax.legend();

# %% [markdown]
# Then the successor features of the four landmark policies, from the same kind of samples:

# %% tags=["training"]
psi = precomputed.run_or_load("part4_psi", lambda: np.stack([successor.learn_psi_td(
    psi_td_update, chain.P, p, phi, gamma, n_sweeps=1000, rng=np.random.default_rng(2))[0] for p in base]))
print(f"TD-learned psi {psi.shape}: max |psi_TD - psi_exact| = {np.abs(psi - psi_exact).max():.4f}")

# %% [markdown]
# ### A new task: its reward weights from observed rewards
# A new task is a new $w$, and in practice nobody hands it to us: the agent sees rewards. If
# rewards are linear in the features, $w$ is a **regression** of the observed rewards on the
# features of the states where they were paid. Our new task is
# $w' = (-1, 1, 0, 1)$ (avoid the goal; the two bottom corners pay), which the agent does not
# know. It wanders the maze at random for 2000 steps and sees each reward with Gaussian noise
# (standard deviation 0.5).

# %% tags=["demo"]
w_new = np.array([-1.0, 1.0, 0.0, 1.0])     # hidden from the agent
feats, rewards = successor.observe_rewards(chain, phi, w_new, n_steps=2000, noise=0.5, rng=rng)
visits = feats.sum(axis=0)
print(f"observations: features {feats.shape}, rewards {rewards.shape}; visits to each landmark: {visits}")

# %% [markdown]
# ### Exercise 4.2 · The reward weights by ridge regression (2 points)
# Complete `reward_weights(features, rewards, ridge)`: the weights $w$ that minimise
# $\lVert F w - r \rVert^2 + \lambda \lVert w \rVert^2$.
#
# * `features`: array `(N, d)`, row $t$ is $\phi(s_t)$; `rewards`: array `(N,)`; `ridge` $\lambda \ge 0$;
# * returns `w`: array `(d,)`.
#
# Success: the check passes for noise-free and noisy rewards, one-hot features, a feature never
# observed (its weight must come out 0) and fewer observations than features. The cells after
# the check estimate $w'$ from the agent's observations with your function, and GPI uses it.
#
# <details><summary>Hint</summary>
#
# Setting the gradient to zero gives the normal equations $(F^\top F + \lambda I)\, w = F^\top r$;
# solve them with `np.linalg.solve`. The ridge term keeps the system solvable when a feature was
# never seen (a zero column of $F$).
# </details>

# %% tags=["solution:4.2"]
def reward_weights(features: np.ndarray, rewards: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge regression w = (F^T F + ridge I)^-1 F^T r. features: (N, d), rewards: (N,) -> w: (d,)."""
    # BEGIN SOLUTION
    d = features.shape[1]
    return np.linalg.solve(features.T @ features + ridge * np.eye(d), features.T @ rewards)
    # END SOLUTION


# %% tags=["exercise:4.2", "points:2"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.reward_weights()

# %% tags=["training"]
w_hat = precomputed.run_or_load("part4_w_hat", lambda: reward_weights(feats, rewards, ridge=1.0))
print(f"w estimated from {len(rewards)} noisy rewards: {np.round(w_hat, 2)} (the hidden w' = {w_new})")
r_new = phi @ w_new  # the true reward, used only to *evaluate* policies below
V_base = []
for k, p in enumerate(base):  # each old policy on the new task, read off psi: no learning at all
    V_sf = np.einsum("sa,sad->sd", p, psi[k]) @ w_hat / (1 - gamma)
    V_true = successor.policy_evaluation(successor.policy_transition(chain.P, p), r_new, gamma)
    V_base.append(V_true)
    print(f"pi{k + 1}: V(start) from psi_TD and w_hat {V_sf[chain.start]:6.3f}; true {V_true[chain.start]:6.3f}")

# %% [markdown]
# The regression is only as good as the observations: a landmark the walk rarely visited gets a
# noisy weight, shrunk towards 0 by the ridge term (one never visited gets exactly 0), and the
# base policies' values read off $\psi$ inherit that error (compare the two columns). GPI only
# needs $w$ to rank actions, as the next exercise shows.
#
# **GPI.** None of the old policies was trained for $w'$, but we can act greedily with respect to
# *all* of them at once: in each state, evaluate every action under every old policy on the new
# task, and take the action whose best value is highest. The GPI theorem (Barreto et al., 2017)
# guarantees that the resulting policy $\pi'$ satisfies $V^{\pi'} \ge \max_k V^{\pi_k}$ at every
# state, when the $\psi$'s and $w$ are exact (with errors, it can lose at most about
# $2\epsilon/(1-\gamma)$ where $\epsilon$ bounds the error of the $Q$'s).

# %% [markdown]
# ### Exercise 4.3 · GPI action selection (2 points)
# Complete `gpi_action(psi, w)`: the GPI policy's action in every state, from the successor
# features of $K$ policies and the new task's weights.
#
# * `psi`: array `(K, n, A, d)`, successor features of $K$ policies; `w`: array `(d,)`;
# * returns integer actions, array `(n,)`.
#
# Success: the check passes on the maze's four base policies, random features, a single policy
# and negative weights. Where several actions tie for the best value, any of them is accepted.
# The cells after the check run your GPI on your learned $\psi$ and your $\hat w$, and the live
# demo runs it on every task its sliders can set.
#
# <details><summary>Hint</summary>
#
# $$\pi'(s) = \arg\max_a \max_k \psi^{\pi_k}(s, a)^\top w.$$
#
# `psi @ w` is `(K, n, A)`, the values $Q^{\pi_k}(s, a)$ up to the factor $1/(1-\gamma)$, which does
# not change the argmax. Take the max over policies (axis 0) first, then the argmax over actions.
# </details>

# %% tags=["solution:4.3"]
def gpi_action(psi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """GPI. psi: (K, n, A, d), w: (d,) -> actions: (n,) int."""
    # BEGIN SOLUTION
    q = psi @ w                         # (K, n, A)
    return q.max(axis=0).argmax(axis=1)
    # END SOLUTION


# %% tags=["exercise:4.3", "points:2"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.gpi_action()

# %% [markdown]
# Your whole pipeline on the new task — $\psi$ learned by your TD update, $w$ by your regression,
# actions by your GPI — evaluated on the *true* reward, next to the base policies and the
# optimal policy (value iteration with the true $w'$):

# %% tags=["training"]
a_gpi = precomputed.run_or_load("part4_gpi_actions", lambda: gpi_action(psi, w_hat))  # your pipeline
def value_of(actions):
    pi_a = successor.policy_table(actions, chain.P.shape[1])
    return successor.policy_evaluation(successor.policy_transition(chain.P, pi_a), r_new, gamma)
V_gpi = value_of(a_gpi)
pi_opt = successor.optimal_policy(chain.P, r_new, gamma)
V_opt = value_of(pi_opt.argmax(axis=1))
print(f"{'policy':>22}  {'V(start)':>9}  {'mean V over cells':>17}")
rows = [*((f"pi{k + 1}", V) for k, V in enumerate(V_base)), ("GPI (psi_TD, w_hat)", V_gpi), ("optimal", V_opt)]
for name, V in rows:
    print(f"{name:>22}  {V[chain.start]:9.3f}  {V.mean():17.3f}")
print(f"GPI minus the best base policy, worst cell: {(V_gpi - np.max(V_base, axis=0)).min():.2e}; "
      f"cells where GPI's action is optimal: {(a_gpi == pi_opt.argmax(axis=1)).mean():.0%}")

# %% [markdown]
# GPI is at least as good as every old policy everywhere, and on average over start cells it is
# clearly better: from each cell it picks the landmark worth heading for. (On this task it also
# matches the optimal policy's values; that is not guaranteed in general.)
#
# ### Live: GPI on any new task
# Drag the weights of the four landmarks. The map shows GPI's value and its action in each cell;
# the bars compare the average value of each base policy with GPI's. Nothing is retrained: your
# `gpi_action` only recombines the successor features your TD update learned, for every setting
# of the sliders when the demo is built.
#
# ![The GPI demo at its default setting, w = (−1, 1, 0, 1)](../assets/part4_gpi.png)

# %% tags=["training"]
gpi_data = precomputed.run_or_load("part4_gpi_demo", lambda: part4.gpi_demo_data(gpi_action, psi, base))
gpi_demo = part4.GPIDemo(gpi_data)
gpi_demo.show()


# %% [markdown]
# **Question.** Set every weight to 0 except the top-left one (landmark 3). Then give the
# bottom-left corner (landmark 2) a positive weight too. When does the GPI bar stand clearly
# above every base policy, and when does it merely equal one of them?
#
# <details><summary>Answer</summary>
#
# With a single non-zero weight the task *is* one of the base tasks, so GPI reproduces that
# base policy (the bars tie). With two rewarding corners far apart, no base policy is right
# everywhere: from cells near one corner it pays to go there, from cells near the other to go
# there instead, and GPI switches between base policies from cell to cell — that is where it
# beats them all. The readout's "smallest gain" compares with the base policies' values read
# off the learned $\psi$, so tiny negative numbers are the TD error, not a failure of the theorem.
# </details>

# %% [markdown]
# ## 3. C-learning: a classifier as a multi-step model for continuous states
# With continuous states we cannot store a row $\mu(s, \cdot)$ per state. But we can learn a
# *ratio of densities*. Collect triples $(s_t, a_t, s_f)$ of two kinds:
# **positives**, where $s_f$ is a future state of $(s_t, a_t)$,
# $s_f \sim p^\pi(s_f \mid s_t, a_t) = (1-\gamma)\sum_{k \ge 1} \gamma^{k-1} p(s_{t+k} = s_f \mid s_t, a_t)$,
# and **negatives**, where $s_f$ is a random state of the data, $s_f \sim p(s_f)$. A classifier
# $C(s_t, a_t, s_f)$ trained to tell them apart (one negative per positive) is at best
#
# $$C^* = \frac{p^\pi(s_f \mid s_t, a_t)}{p^\pi(s_f \mid s_t, a_t) + p(s_f)}
# \quad\Longrightarrow\quad \frac{C^*}{1 - C^*} = \frac{p^\pi(s_f \mid s_t, a_t)}{p(s_f)}.$$
#
# The odds of the classifier *are* the multi-step model, up to the known marginal. Here the
# future starts at $k \ge 1$ (Eysenbach et al.'s convention): for a continuous state, the present
# would be a point mass, not a density.

# %% [markdown]
# ### Exercise 4.4 · From classifier logits to a density ratio (2 points)
# The classifier outputs logits $\ell$, with $C = \sigma(\ell)$. Training may draw $k$ negatives
# for every positive, which changes the Bayes-optimal classifier to
# $C^* = p^\pi / (p^\pi + k\, p)$. Complete `classifier_density_ratio(logits, neg_per_pos)`,
# which returns the density ratio $p^\pi(s_f \mid s, a) / p(s_f)$ from the logits.
#
# * `logits`: torch tensor `(B,)`; `neg_per_pos`: a positive float $k$;
# * returns a torch tensor `(B,)`.
#
# Success: the check passes for $k = 1$, $k = 4$, $k = 0.5$ and for confident float32 logits up
# to 20, where $1 - \sigma(\ell)$ rounds to 0. The classifier's future-state densities below
# (the plots and the comparison with a rolled-out model) all come from your function.
#
# <details><summary>Hint</summary>
#
# From $C^*$: $\frac{C^*}{1-C^*} = \frac{p^\pi}{k\, p}$, so the ratio is $k\, \frac{C}{1-C}$. With
# $C = \sigma(\ell) = 1/(1 + e^{-\ell})$, the odds $\frac{C}{1-C}$ are exactly $e^{\ell}$: use the
# logit itself rather than $1 - C$, which is 0 in float32 for confident logits.
# </details>

# %% tags=["solution:4.4"]
def classifier_density_ratio(logits: torch.Tensor, neg_per_pos: float) -> torch.Tensor:
    """p(s_f | s, a) / p(s_f) from classifier logits. logits: (B,) -> (B,)."""
    # BEGIN SOLUTION
    return neg_per_pos * torch.exp(logits)
    # END SOLUTION


# %% tags=["exercise:4.4", "points:2"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.classifier_density_ratio()

# %% [markdown]
# **The task.** A point in the square $[-1, 1]^2$, split into two rooms by a wall with a door.
# The policy is uniformly random: each step moves by $0.1\,a$, $a \in [-1, 1]^2$, plus noise; a
# move into the wall or out of the square is cancelled. For this policy the uniform distribution
# is stationary, so data started uniformly has the uniform marginal $p(s_f) = 1/4$ at every step
# (up to sampling noise in our finite logs).

# %% tags=["demo"]
env = pointmass.PointMass()
states, actions = pointmass.random_trajectories(env, env.sample_states(100, gen), 250, gen)  # 100 trajectories
print(f"states {tuple(states.shape)}, actions {tuple(actions.shape)}")
quarters = clearning.histogram(states.reshape(-1, 2), n_bins=2).ravel()
print("share of the logged states in each quarter of the square:", quarters.round(3))

# %% [markdown]
# **Monte-Carlo C-learning.** Positives pick a delay $\Delta \sim \text{Geometric}(1-\gamma)$ and a
# time $t$, and pair $(s_t, a_t)$ with $s_{t+\Delta}$ from the same logged trajectory; negatives are
# logged states drawn at random. The classifier also receives $\gamma$, so one network covers the
# horizons we use below (`config.gammas`). The training loop is `clearning.train_classifier`.
# Its positives are futures the *logging* policy really reached: this version can only model
# the policy that collected the data (it is on-policy).

# %% tags=["training"]
config = clearning.CLearningConfig()
clf, losses = clearning.train_classifier(states, actions, config, gen)
print(f"{config.n_steps} steps; loss {np.mean(losses[:50]):.3f} (first 50) -> "
      f"{np.mean(losses[-50:]):.3f} (last 50); a coin flip scores 2 log 2 = {2 * np.log(2):.3f}")

# %% [markdown]
# **Does the classifier know the future?** For three queries $(s, a)$ — a white dot and arrow —
# we compare its density $\frac{C}{1-C}(s_f)\, p(s_f)$ on a 20 × 20 grid, with the odds from your
# `classifier_density_ratio`, with a histogram of 10 000 Monte-Carlo futures from the true
# environment. The agreement number is the total variation distance
# $\mathrm{TV} = \frac12 \sum_{\text{cells}} |p - q|$ (0: identical, 1: disjoint).

# %% tags=["training"]
queries = torch.tensor([[-0.5, -0.3], [-0.15, 0.4], [0.5, 0.5]], dtype=torch.float64)
query_actions = torch.tensor([[1.0, 0.0]] * 3, dtype=torch.float64)  # push right
gamma_c, n_mc = 0.9, 10_000
mc_grids = [clearning.future_histogram(env.step, s, a, gamma_c, n_mc, gen)  # (20, 20) grids
            for s, a in zip(queries, query_actions, strict=True)]
clf_out = precomputed.run_or_load("part4_classifier_grids", lambda: [
    clearning.classifier_grid_density(clf, classifier_density_ratio, s, a, gamma_c, env)
    for s, a in zip(queries, query_actions, strict=True)])
clf_grids = [p_clf for p_clf, _ in clf_out]
tv_marginal = [clearning.total_variation(np.full((20, 20), 1 / 400), mc) for mc in mc_grids]
for s, mc, (p_clf, mass), tv_m in zip(queries, mc_grids, clf_out, tv_marginal, strict=True):
    print(f"s = {s.tolist()}: TV(classifier, MC) = {clearning.total_variation(p_clf, mc):.3f} "
          f"(mass before renormalising {mass:.2f}); TV(marginal, MC) = {tv_m:.3f}")

# %% tags=["demo"]
cols = [f"s = ({s[0]:.2f}, {s[1]:.2f}), a = →" for s in queries.tolist()]
part4.plot_future_densities([mc_grids, clf_grids], ["Monte Carlo", "classifier odds × p(s_f)"],
                            cols, env, queries, query_actions);

# %% [markdown]
# The classifier has never rolled anything out: it saw pairs of states from the logs. Yet its
# odds reproduce where the point will be: the mass stops at the wall and reaches the other room
# only through the door. The second number on each line is the marginal's own distance from the truth:
# what a "model" that ignores $(s, a)$ would score.

# %% [markdown]
# ## 4. TD C-learning: the recursive classifier
# The future-state density obeys a Bellman equation, like the SR:
#
# $$p^\pi(s_f \mid s, a) = (1-\gamma)\, p(s' = s_f \mid s, a)
# + \gamma\, \mathbb{E}_{s' \sim p(\cdot \mid s, a),\ a' \sim \pi(s')}\big[p^\pi(s_f \mid s', a')\big].$$
#
# Eysenbach, Salakhutdinov & Levine (2021) turn it into a classification target that needs only
# transitions $(s, a, s')$. A positive is, with weight $1-\gamma$, the **next state** $s'$; with
# weight $\gamma$, it is a state of $p^\pi(\cdot \mid s', a')$ — which we cannot sample, but we can
# take a **random state** $s_r \sim p$ and weight it by the importance ratio
# $p^\pi(s_r \mid s', a') / p(s_r)$: exactly the classifier's own odds at $(s', a', s_r)$,
# $w = e^{\ell(s', a', s_r)}$. The negatives are random states, as before. Per transition:
#
# $$\mathcal{L} = (1-\gamma)\,\big[-\log C(s, a, s')\big] + \gamma\, w\, \big[-\log C(s, a, s_r)\big]
# + \big[-\log\big(1 - C(s, a, s_r)\big)\big].$$
#
# Two consequences. The next action $a'$ is drawn from the policy we want to model, not from the
# data, so the transitions can come from *another* policy (off-policy). And $w$ comes from the
# classifier itself (a slowly updated *target* copy, as in DQN): like TD for the SR, the
# targets bootstrap, and the classifier's errors feed back into its own targets.

# %% [markdown]
# ### Exercise 4.5 · TD C-learning: the pairs and the loss (3 points)
# Complete `td_classifier_loss(clf, target_clf, s, a, s_next, a_next, s_rand, gamma)`: form
# the three kinds of pairs from a batch of transitions and return the weighted classification
# loss above, averaged over the batch.
#
# * `clf`, `target_clf`: callables `(s, a, s_f, gamma) -> logits (B,)`; gradients flow only
#   through `clf`;
# * `s`, `a`, `s_next`, `a_next`, `s_rand`: torch tensors `(B, 2)`; `gamma`: tensor `(B,)`
#   (each row has its own discount; pass it to the classifiers too);
# * returns a scalar torch tensor.
#
# Success: the check passes for a constant and a per-row $\gamma$, $\gamma = 0$ (only the next
# state is a positive) and a confident target classifier. The cells after the check train TD
# classifiers with your loss and use them.
#
# <details><summary>Hint</summary>
#
# * weight $w$: `torch.exp(target_clf(s_next, a_next, s_rand, gamma))`, under `torch.no_grad()`;
# * logits `l_next = clf(s, a, s_next, gamma)` and `l_rand = clf(s, a, s_rand, gamma)`;
# * $-\log C = $ `F.softplus(-l)` and $-\log(1 - C) = $ `F.softplus(l)` (`F` is
#   `torch.nn.functional`, imported at the top), stable for any logit;
# * per row: `(1 - gamma) * softplus(-l_next) + gamma * w * softplus(-l_rand) + softplus(l_rand)`; then `.mean()`.
# </details>

# %% tags=["solution:4.5"]
def td_classifier_loss(clf, target_clf, s: torch.Tensor, a: torch.Tensor, s_next: torch.Tensor,
                       a_next: torch.Tensor, s_rand: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """TD C-learning loss. States and actions (B, 2), gamma (B,) -> scalar."""
    # BEGIN SOLUTION
    with torch.no_grad():
        w = torch.exp(target_clf(s_next, a_next, s_rand, gamma))
    l_next, l_rand = clf(s, a, s_next, gamma), clf(s, a, s_rand, gamma)
    return ((1 - gamma) * F.softplus(-l_next) + gamma * w * F.softplus(-l_rand) + F.softplus(l_rand)).mean()
    # END SOLUTION


# %% tags=["exercise:4.5", "points:3"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.td_classifier_loss()

# %% [markdown]
# **The same policy, learned by TD.** `clearning_td.train_td_classifier` samples transitions from
# the logs, $a' \sim \pi(s')$ and random states, and minimises your loss (same network, same
# number of steps and batch size as the Monte-Carlo classifier). First for the random policy,
# the one that collected the data, so both classifiers model the same thing:

# %% tags=["training"]
td_config = clearning_td.TDConfig()
def fit_td(policy, seed):
    td_clf, td_losses = clearning_td.train_td_classifier(td_classifier_loss, states, actions, policy, config,
                                                         td_config, cl.utils.torch_generator(seed))
    return {"state": td_clf.state_dict(), "losses": td_losses}
td_fit = precomputed.run_or_load("part4_td_classifier", lambda: fit_td(pointmass.random_policy, seed=1))
td_clf = clearning.classifier_from_state(td_fit["state"], config)
print(f"TD classifier: {td_config.n_steps} steps, loss {np.mean(td_fit['losses'][-50:]):.3f} (last 50)")

# %% [markdown]
# **Off-policy.** Now a policy that never collected any data: it *drifts right*
# ($a_x \in [0.2, 1]$). The Monte-Carlo classifier cannot model it from these logs (its positives
# are the random policy's futures); the TD classifier only needs $a' \sim \pi(s')$ at the next
# state. We compare both with Monte-Carlo futures of the drifting policy in the true environment.

# %% tags=["training"]
drift_fit = precomputed.run_or_load("part4_td_drift_classifier", lambda: fit_td(pointmass.drift_policy, seed=2))
drift_clf = clearning.classifier_from_state(drift_fit["state"], config)
drift_errors = precomputed.run_or_load("part4_drift_errors", lambda: clearning.future_prediction_errors(
    env, {"MC classifier (random policy's data)": clf, "TD classifier (drift policy)": drift_clf},
    classifier_density_ratio, None, queries, query_actions, config.gammas, 5000, cl.utils.torch_generator(3),
    policy=pointmass.drift_policy))
print("TV to the drifting policy's Monte-Carlo futures (mean of 3 queries, 5000 samples):")
print(f"{'gamma':>6} " + " ".join(f"{k:>37}" for k in drift_errors))
for i, g in enumerate(config.gammas):
    print(f"{g:6.2f} " + " ".join(f"{v[i].mean():37.3f}" for v in drift_errors.values()))

# %% tags=["training"]
drift_mc = [clearning.future_histogram(env.step, s, a, gamma_c, n_mc, gen, policy=pointmass.drift_policy)
            for s, a in zip(queries, query_actions, strict=True)]
drift_td = precomputed.run_or_load("part4_drift_grids", lambda: [
    clearning.classifier_grid_density(drift_clf, classifier_density_ratio, s, a, gamma_c, env)[0]
    for s, a in zip(queries, query_actions, strict=True)])
part4.plot_future_densities([drift_mc, drift_td], ["drift policy, Monte Carlo", "TD classifier (drift)"],
                            cols, env, queries, query_actions);

# %% [markdown]
# The TD classifier learned a policy it never saw act, from the random policy's transitions.
# Read the table honestly, though: its error grows with the horizon. Far futures of the drift
# policy pile up against walls, a sharp density that the network fits only roughly, and each
# bootstrapped target inherits the error of the one after it.

# %% [markdown]
# ### Reaching a goal with the classifier
# For the reward "be at the goal $g$", the random policy's $Q^\pi(s, a)$ is proportional to
# $p^\pi(g \mid s, a)$, so the classifier's odds rank actions: acting greedily,
# $a = \arg\max_a \ell(s, a, g)$ over 16 random candidate actions, is one step of policy
# improvement on the random policy (`clearning_td.greedy_goal_policy`; the classifier's logit
# and its odds give the same argmax). The start $(-0.4, 0)$ and the goal $(0.4, 0)$ face each other
# across the wall, below the door. We count the episodes (200, of 100 steps) that come within
# 0.15 of the goal, against the random policy and a "straight at the goal" controller.

# %% tags=["demo"]
goal, start = torch.tensor([0.4, 0.0], dtype=torch.float64), torch.tensor([[-0.4, 0.0]], dtype=torch.float64)
straight = lambda s, generator: ((goal - s) * 10).clamp(-1, 1)  # noqa: E731
controllers = {"random policy": pointmass.random_policy, "straight at the goal": straight,
               "greedy on the MC classifier": clearning_td.greedy_goal_policy(clf, goal, gamma_c),
               "greedy on the TD classifier": clearning_td.greedy_goal_policy(td_clf, goal, gamma_c)}
paths = {}
for name, policy in controllers.items():
    paths[name], first = clearning_td.reach_goal(env, policy, start.expand(200, 2), goal, 100, gen)
    reached = first >= 0
    print(f"{name:>28}: {reached.float().mean():5.0%} reach the goal"
          + (f", median {first[reached].float().median():.0f} steps" if reached.any() else ""))
far_goal, far_start = torch.tensor([0.6, -0.6], dtype=torch.float64), torch.tensor([[-0.6, -0.6]], dtype=torch.float64)
_, first = clearning_td.reach_goal(env, clearning_td.greedy_goal_policy(td_clf, far_goal, config.gammas[-1]),
                                   far_start.expand(200, 2), far_goal, 100, gen)
print(f"a far goal, (-0.6, -0.6) -> (0.6, -0.6), greedy on the TD classifier at gamma = {config.gammas[-1]}: "
      f"{(first >= 0).float().mean():.0%} reach it")

# %% tags=["training"]
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), layout="constrained")
for ax, name in zip(axes, list(controllers)[1:], strict=True):
    for path in paths[name][:25]:
        ax.plot(*path.T, lw=0.6, alpha=0.6)
    for (x0, y0), (x1, y1) in env.wall_segments():
        ax.plot([x0, x1], [y0, y1], color="k", lw=2.5)
    ax.plot(*start[0], "o", color="k")
    ax.plot(*goal, "*", color="red", ms=14)
    ax.set(xlim=(-1, 1), ylim=(-1, 1), aspect="equal", title=name, xticks=[], yticks=[])

# %% [markdown]
# The straight controller pushes into the wall for ever. The greedy controllers have learned
# from the classifiers that the future of a step *up*, towards the door, contains the goal more
# often than the random walk's. The Monte-Carlo classifier ranks the actions better than the TD
# one here: the greedy choice depends on small differences between the odds of neighbouring
# actions, and the TD classifier's bootstrapped odds are noisier at this horizon.
# It is only one step of improvement over a random walk, though, and the numbers say so: many
# episodes still fail, and the far goal, beyond where the random walk gets within about
# $1/(1-\gamma)$ steps, gives the classifier no usable signal. C-learning proper repeats the
# step: it trains a goal-conditioned classifier of the greedy policy itself, with
# $a' = \arg\max_{a'} C(s', a', s_r)$ in the TD target (Eysenbach et al., 2021). We did not fit that
# into this notebook's time budget.

# %% [markdown]
# ## 5. What "no compounding" buys, and what it costs
# The alternative is Part 2's recipe: learn a one-step model $\hat p(s_{t+1} \mid s_t, a_t)$ from
# the same transitions and roll it out, drawing the delay $\Delta$ and then stepping the model
# $\Delta$ times. The effective horizon is $1/(1-\gamma)$ steps, and every step's error is fed
# into the next. We train the course's dynamics model (one Gaussian network of the same size as
# the classifiers) on every logged step, then compare it and both classifiers of the random
# policy with Monte Carlo at each $\gamma$ the classifiers know.

# %% tags=["training"]
model_config = dynamics.EnsembleConfig(n_members=1, n_elites=1, hidden=config.hidden,
                                       n_layers=config.n_layers, max_epochs=30)
model, model_log = clearning.fit_one_step_model(states, actions, model_config, gen)
best_mse = min(mse[0] for mse in model_log.holdout_mse)
print(f"one-step model: {model_log.epochs} epochs, best held-out MSE (normalised targets) {best_mse:.3f}")

# %% tags=["training"]
errors = precomputed.run_or_load("part4_prediction_errors", lambda: clearning.future_prediction_errors(
    env, {"MC classifier": clf, "TD classifier": td_clf}, classifier_density_ratio,
    clearning.model_step_fn(model), queries, query_actions, config.gammas, n_mc, cl.utils.torch_generator(4)))
names = ("one-step model", "MC classifier", "TD classifier", "MC noise floor")
print(f"{'gamma':>6} {'horizon':>8} " + " ".join(f"{k:>15}" for k in names))
for i, g in enumerate(config.gammas):
    print(f"{g:6.2f} {1 / (1 - g):8.0f} " + " ".join(f"{errors[k][i].mean():15.3f}" for k in names))

# %% tags=["training"]
horizons = 1 / (1 - np.array(config.gammas))
fig, ax = plt.subplots(figsize=(5.5, 3.2), layout="constrained")
for name, style in zip(names, ("o-", "s-", "^-", ":"), strict=True):
    ax.semilogx(horizons, errors[name].mean(axis=1), style, label=name)
ax.set_xticks(horizons, [f"{h:.0f}" for h in horizons], minor=False)
ax.set_xticks([], minor=True)
ax.set(xlabel="effective horizon 1/(1−γ) (steps)", ylabel="TV to Monte Carlo (mean of 3 queries)",
       title="future-state prediction error", ylim=(0, None))
ax.legend(fontsize=8);

# %% [markdown]
# The dotted line is how far two independent Monte-Carlo estimates of the same size disagree:
# below it, differences are noise. Read each curve from short to long horizons:
#
# * the **one-step model** is good at short horizons — one or two steps of a good model are hard
#   to beat — and its error grows with the horizon: that is compounding;
# * the **Monte-Carlo classifier** stays roughly flat: it fits $(s_t, s_{t+\Delta})$ pairs
#   directly, so nothing is composed, but its positives had to come from the policy itself;
# * the **TD classifier** is close to it at middle horizons, a little worse at the shortest, and
#   drifts up at the longest ones: it does not roll out a model, yet its targets are its own
#   predictions, and their errors feed back through the bootstrap (the TD-learned SR of section 2 bootstraps too:
#   its error fell only slowly with the sweeps). "Does not compound" is true of rollouts, not of
#   bootstrapping.
#
# Where does the rolled-out model go wrong? Look at the longest horizon for the first query:

# %% tags=["training"]
s, a, g_long = queries[0], query_actions[0], config.gammas[-1]
truth = clearning.future_histogram(env.step, s, a, g_long, n_mc, gen)
rolled = clearning.future_histogram(clearning.model_step_fn(model), s, a, g_long, n_mc, gen)
direct, _ = precomputed.run_or_load(
    "part4_long_horizon_classifier",
    lambda: clearning.classifier_grid_density(clf, classifier_density_ratio, s, a, g_long, env))
right_room = {name: grid[10:].sum() for name, grid in
              [("Monte Carlo", truth), ("one-step model", rolled), ("MC classifier", direct)]}
print(f"gamma = {g_long}, probability that s_f is in the right-hand room:",
      ", ".join(f"{k} {v:.3f}" for k, v in right_room.items()))
part4.plot_future_densities([[truth, rolled, direct]], [f"γ = {g_long}"], list(right_room),
                            env, queries[:1].expand(3, 2), query_actions[:1].expand(3, 2));

# %% [markdown]
# Next to a wall, a real step either happens or is cancelled: the next state has two peaks. A
# Gaussian one-step model can only blur them, so each step near a wall is a little wrong — some
# probability slips through the wall or piles up in the wrong place — and a rollout of
# $1/(1-\gamma)$ steps adds those mistakes up. The classifier is trained on $(s_t, s_{t+\Delta})$
# pairs directly: its error comes from fitting one function, not from composing many.
# The price: it is a model *for one policy* (and a given set of $\gamma$), whereas a one-step
# model can roll out any policy.

# %% [markdown]
# Which of this notebook's exercises pass now? `checks.status()` runs their visible checks again (quietly) and counts the points; run it whenever you like.

# %% tags=["demo"]
from course_lib import checks

checks.status()

# %% [markdown]
# ## Summary
# * The successor representation $\mu^\pi(s, a)$ is the discounted distribution of future states,
#   normalised here by $(1-\gamma)$ to sum to 1; Dayan's $M_D = (I-\gamma P^\pi)^{-1}$ is ours over
#   $1-\gamma$, and so is Barreto et al.'s $\psi$ with $\phi(s, a, s') = \phi(s)$. It obeys a Bellman
#   equation, so it can be solved for exactly or learned by TD, and $V^\pi = M r / (1-\gamma)$.
# * Successor features $\psi^\pi = \mu^{\pi\top}\phi$ obey $\psi(s, a) = (1-\gamma)\phi(s) +
#   \gamma\,\mathbb{E}[\psi(s', a')]$ and are learned by TD; a new task's $w$ is a regression of
#   observed rewards on features; GPI then acts well on the new task without relearning, never
#   worse than any old policy (up to the errors of $\psi$ and $w$).
# * For continuous states, a classifier between future and marginal states is a multi-step
#   model: its odds are $p^\pi(s_f \mid s, a)/p(s_f)$. Monte-Carlo C-learning needs the policy's own
#   trajectories; TD C-learning needs only transitions, so it works off-policy, and its odds
#   rank actions for reaching a goal.
# * A rolled-out one-step model compounds its per-step errors over the horizon $1/(1-\gamma)$.
#   The direct models do not roll out, but the TD-learned ones bootstrap their own errors, and
#   every one of them is tied to one policy.
#
# ## Going further
# * **References.** P. Dayan, *Improving Generalization for Temporal Difference Learning: The
#   Successor Representation*, Neural Computation 5(4), 1993. A. Barreto et al., *Successor
#   Features for Transfer in Reinforcement Learning*, NeurIPS 2017. B. Eysenbach, R. Salakhutdinov
#   & S. Levine, *C-Learning: Learning to Achieve Goals via Recursive Classification*, ICLR 2021.
# * **Goal-conditioned C-learning.** Replace $a' \sim \pi(s')$ in the TD target by the greedy
#   action towards $s_r$ and act greedily: policy iteration for every goal at once.
# * **γ-models** learn $p^\pi(s_f \mid s, a)$ as a generative model, trained with the same
#   bootstrapped target (Janner, Mordatch & Levine, *γ-Models*, NeurIPS 2020).
# * Try it: in the GPI demo, which new tasks make GPI fall short of the optimal policy?
# * Open `course_lib/successor.py`, `course_lib/clearning.py` and `course_lib/clearning_td.py`:
#   each fits on a screen or two.
