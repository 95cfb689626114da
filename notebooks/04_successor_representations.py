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
# 1. compute the *successor representation* (SR) of a policy on the Dyna maze exactly, learn it by
#    TD from samples, and read the value function off it;
# 2. use *successor features* to evaluate a policy on a new reward without relearning, and combine
#    several policies with *generalised policy improvement* (GPI);
# 3. train a *classifier* whose odds are the future-state density of a continuous point mass
#    (C-learning), and check it against Monte Carlo;
# 4. measure how the error of a rolled-out one-step model grows with the horizon, while the
#    directly learned future-state model does not.

# %% [markdown]
# ## Setup

# %%
# %matplotlib widget
import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib as cl
from course_lib import checks, clearning, dynamics, gridworld, pointmass, precomputed, successor
from course_lib.demos import part4

rng = cl.seed_everything(0)
gen = cl.utils.torch_generator(0)

# %% [markdown]
# ## 1. The successor representation
# Fix a policy $\pi$ and a discount $\gamma$. The successor representation of a state $s_t$ is
# the discounted distribution of the states that follow it:
#
# $$\mu^\pi_i(s_t) = (1-\gamma) \sum_{t' \ge t} \gamma^{t'-t}\, p(s_{t'} = i \mid s_t).$$
#
# The factor $(1-\gamma)$ makes $\mu^\pi(s_t)$ a probability distribution over states $i$: draw a
# random delay $k \ge 0$ with $P(k) = (1-\gamma)\gamma^k$ and look where the policy is $k$ steps
# later. The present state counts too ($k = 0$). A value function is a discounted sum of rewards
# over exactly those future states, so with a state reward $r(s)$ the value $V^\pi(s_t)$ is an
# average of $r$ under $\mu^\pi(s_t)$, rescaled (Exercise 4.3 below).
#
# **The maze as a Markov chain.** We use Part 3's Dyna maze. Wall cells are not states; the 47
# free cells are. The goal needs a decision: here, *reaching the goal restarts the episode* —
# from the goal, every action leads back to the start. The chain then never ends, each row of
# $P^\pi$ is a distribution, and the reward $r(s) = 1$ at the goal counts every visit. Our policy
# takes a shortest-path action towards the goal, except that with probability 0.3 it picks an
# action uniformly at random.

# %%
chain = successor.maze_chain(gridworld.DYNA_MAZE)
pi = successor.shortest_path_policy(chain, epsilon=0.3)  # (n, A)
P_pi = successor.policy_transition(chain.P, pi)           # (n, n): P^pi[s, s']
print(f"{chain.n} states, {chain.P.shape[1]} actions; the policy's most likely action in each cell:")
print(chain.render(pi))


# %% [markdown]
# Writing the sum as "this step, then everything after the next state" gives the SR's Bellman
# equation, $\mu^\pi(s_t) = (1-\gamma)\, e_{s_t} + \gamma\, \mathbb{E}_{s_{t+1}}[\mu^\pi(s_{t+1})]$.
# Stack the rows into a matrix $M$ (row $s$ is $\mu^\pi(s)$). The expectation over the next state
# is then a product with $P^\pi$, and the Bellman equation becomes a *linear* equation for $M$:
#
# $$M = (1-\gamma)\, I + \gamma\, P^\pi M.$$

# %% [markdown]
# ### Exercise 4.1 · The exact SR matrix (2 points)
# Solve that linear equation: complete `sr_exact(P_pi, gamma)`, which returns the SR matrix of a
# policy from its transition matrix.
#
# * `P_pi`: NumPy array `(n, n)`, row-stochastic: `P_pi[s, s2]` $= P^\pi(s_{t+1} = s_2 \mid s_t = s)$;
# * `gamma`: a float in $[0, 1)$;
# * returns `M`: NumPy array `(n, n)`; row $s$ is $\mu^\pi(s)$.
#
# Success: the check passes on the maze, a 3-cycle, a random chain with $\gamma = 0.99$,
# $\gamma = 0$ and a single state. Every row of your `M` sums to 1. The cell after the check
# uses your `sr_exact` on the maze, and so do the live demo and the successor features below.
#
# <details><summary>Hint</summary>
#
# Collect the $M$ terms on one side: $(I - \gamma P^\pi) M = (1-\gamma) I$, so
# $M = (1-\gamma)(I - \gamma P^\pi)^{-1}$. `np.linalg.solve(A, B)` solves $AX = B$ (more accurate
# than `np.linalg.inv`); `np.eye(n)` is $I$.
# </details>

# %% tags=["solution:4.1"]
def sr_exact(P_pi: np.ndarray, gamma: float) -> np.ndarray:
    """M = (1 - gamma) (I - gamma P_pi)^-1. P_pi: (n, n) -> M: (n, n)."""
    # BEGIN SOLUTION
    n = P_pi.shape[0]
    return (1 - gamma) * np.linalg.inv(np.eye(n) - gamma * P_pi)
    # END SOLUTION


# %% tags=["exercise:4.1", "points:2"]
checks.sr_exact()

# %%
gamma = 0.9
M = precomputed.run_or_load("part4_sr", lambda: sr_exact(P_pi, gamma))  # (n, n): your SR
bellman_residual = np.abs(M - ((1 - gamma) * np.eye(chain.n) + gamma * P_pi @ M)).max()
print(f"rows sum to 1: {np.allclose(M.sum(axis=1), 1)}; Bellman residual {bellman_residual:.1e}")
print(f"from the start: mu(start, start) = {M[chain.start, chain.start]:.3f}, "
      f"mu(start, goal) = {M[chain.start, chain.goal]:.4f}")


# %% [markdown]
# ### Learning the SR from samples
# Without $P^\pi$ we can still learn $M$ by temporal differences, exactly as for a value
# function, with a *vector* target. After a transition $s \to s'$, the SR's Bellman equation with
# the expectation replaced by the one sampled $s'$ gives a target for the row $\mu(s)$, and TD
# moves the row a step $\alpha$ towards it.
#
# Each *sweep* samples one next state for every state at once and updates all the rows together
# (a batched update). The step size decays as $\alpha_k = 1/(1 + k(1-\gamma))$ so the noise of
# single samples averages out.

# %% [markdown]
# ### Exercise 4.2 · One batched TD update of the SR (2 points)
# Complete `sr_td_update(M, s, s_next, gamma, alpha)`: one TD(0) step for every pair
# $(s_b, s'_b)$ of a batch, using the *old* `M` in every target.
#
# * `M`: array `(n, n)`; `s`, `s_next`: int arrays `(B,)`, the entries of `s` are distinct;
# * `gamma` in $[0, 1)$, `alpha` in $(0, 1]$;
# * returns the updated matrix `(n, n)` (a new array); rows not in `s` are unchanged.
#
# Success: the check passes for a full sweep, a partial batch, $\alpha = 1$, $\gamma = 0$ and
# $M = 0$. No Python loop over the batch is needed. The cell after the check TD-learns the
# maze's SR with your update.
#
# <details><summary>Hint</summary>
#
# $$M[s_b] \leftarrow M[s_b] + \alpha\big[(1-\gamma)\, e_{s_b} + \gamma\, M[s'_b] - M[s_b]\big].$$
#
# `np.eye(n)[s]` stacks the one-hot rows $e_{s_b}$ and `M[s_next]` the rows $\mu(s'_b)$, both `(B, n)`.
# Compute every target from the old `M` first, then write the new rows into a copy.
# </details>

# %% tags=["solution:4.2"]
def sr_td_update(M: np.ndarray, s: np.ndarray, s_next: np.ndarray, gamma: float, alpha: float) -> np.ndarray:
    """TD(0) for the SR on rows s. M: (n, n); s, s_next: (B,) -> new M: (n, n)."""
    # BEGIN SOLUTION
    target = (1 - gamma) * np.eye(M.shape[0])[s] + gamma * M[s_next]
    new = M.copy()
    new[s] = M[s] + alpha * (target - M[s])
    return new
    # END SOLUTION


# %% tags=["exercise:4.2", "points:2"]
checks.sr_td_update()

# %%
M_td, td_log = precomputed.run_or_load(
    "part4_sr_td", lambda: successor.learn_sr_td(sr_td_update, P_pi, gamma, n_sweeps=5000, rng=rng, M_exact=M))
n_samples = td_log.sweeps[-1] * chain.n
print(f"after {td_log.sweeps[-1]} sweeps ({n_samples} sampled transitions): "
      f"max |M_TD - M| = {td_log.max_abs_error[-1]:.4f}")
fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.loglog(td_log.sweeps, td_log.max_abs_error, label="TD-learned SR")
ax.axhline(1e-2, color="gray", ls=":", label="0.01")
ax.set(xlabel="sweeps", ylabel="max |M_TD − M_exact|", title="TD learning of the SR")
ax.legend();


# %% [markdown]
# ### The value function from the SR
# Once $M$ is known, the value of *any* state reward is one matrix–vector product: no more
# Bellman iterations. We will check it against plain policy evaluation, which knows nothing
# about the SR: it iterates $V \leftarrow r + \gamma P^\pi V$ until nothing changes.

# %% [markdown]
# ### Exercise 4.3 · The value function from the SR (1 point)
# Complete `value_from_sr(M, r, gamma)`: $V^\pi(s)$ for every state, from the SR rows $\mu^\pi(s)$
# and the state reward.
#
# * `M`: array `(n, n)`, rows are $\mu^\pi(s)$; `r`: array `(n,)`, the state reward; `gamma` in $[0, 1)$;
# * returns `V`: array `(n,)`.
#
# Success: the check passes on the maze, a random SR-like matrix, $\gamma = 0$ and a constant
# reward (where $V = 1/(1-\gamma)$ everywhere). The cell after the check reads the maze's value
# off your exact SR *and* off the TD-learned one.
#
# <details><summary>Hint</summary>
#
# $V^\pi(s_t) = \sum_{t'} \gamma^{t'-t}\, \mathbb{E}[r(s_{t'})] = \frac{1}{1-\gamma} \sum_i \mu^\pi_i(s_t)\, r(i)
# = \frac{\mu^\pi(s_t)^\top r}{1-\gamma}$: the SR row is a distribution, so $\mu^\pi(s)^\top r$ is an
# average reward, and dividing by $1-\gamma$ (the sum of the weights $\gamma^k$) turns it into a sum.
# For all states at once: $V = M r / (1-\gamma)$.
# </details>

# %% tags=["solution:4.3"]
def value_from_sr(M: np.ndarray, r: np.ndarray, gamma: float) -> np.ndarray:
    """V = M r / (1 - gamma). M: (n, n), r: (n,) -> V: (n,)."""
    # BEGIN SOLUTION
    return M @ r / (1 - gamma)
    # END SOLUTION


# %% tags=["exercise:4.3", "points:1"]
checks.value_from_sr()

# %%
V_sr, V_td = precomputed.run_or_load(
    "part4_values", lambda: (value_from_sr(M, chain.reward, gamma), value_from_sr(M_td, chain.reward, gamma)))
V_pe = successor.policy_evaluation(P_pi, chain.reward, gamma)  # iterate the Bellman equation
print(f"V(start) = {V_sr[chain.start]:.4f}; largest |V - V_PE| over states: "
      f"{np.abs(V_sr - V_pe).max():.1e} from the exact SR, {np.abs(V_td - V_pe).max():.1e} from the TD-learned SR")

# %% [markdown]
# ### Live: the SR on the maze
# Pick a state and a discount. The left panel is $\mu^\pi(s, \cdot)$ (log colour scale; the red
# ring is $s$). The right panel sums it by maze distance from $s$; the dotted curve is what a
# walker that moved one cell further away at every step would give. Your `sr_exact` computes the
# SR for every $\gamma$ of the slider when the demo is built, and your `value_from_sr` the
# readout's $V^\pi(s)$.
#
# ![The SR demo at its default setting: the start state, γ = 0.9](../assets/part4_sr.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %%
sr_data = precomputed.run_or_load("part4_sr_demo", lambda: part4.sr_demo_data(sr_exact, value_from_sr))
sr_demo = part4.SRDemo(sr_data)
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
# ## 2. Successor features and generalised policy improvement
# The SR separates *where the policy goes* ($\mu^\pi$) from *what it is paid there* ($r$). With
# features $\phi(s) \in \mathbb{R}^d$ and rewards that are linear in them, $r(s) = \phi(s)^\top w$,
# we only need the discounted future *features*, the **successor features**
#
# $$\psi^\pi(s, a) = \mu^\pi(s, a)^\top \phi, \qquad Q^\pi(s, a) = \frac{\psi^\pi(s, a)^\top w}{1-\gamma}.$$
#
# Here $\phi$ marks four landmark cells (1: the goal, 2: bottom-left, 3: top-left and
# 4: bottom-right corner). We train one policy per landmark, $\pi_k$ = the optimal policy for
# the reward $w = e_k$ (reach landmark $k$ and stay there; for the goal, which restarts the
# episode, come back to it again and again), and store its successor features, computed from the
# state SR that your `sr_exact` returns.

# %%
phi = successor.landmark_features(chain)  # (n, d)
base = [successor.optimal_policy(chain.P, phi[:, k], gamma) for k in range(phi.shape[1])]
psi = precomputed.run_or_load(
    "part4_psi", lambda: np.stack([successor.successor_features(sr_exact, chain.P, p, phi, gamma) for p in base]))
print(f"psi: {psi.shape} = (policies K, states n, actions A, features d)")

# %% [markdown]
# **A new task, evaluated without relearning.** A new reward is a new $w$. Take
# $w' = (-1, 1, 0, 1)$: avoid the goal, like the two bottom corners. Each old policy's value on
# it is a dot product with its stored $\psi$, and it matches policy evaluation on the new reward:

# %%
w_new = np.array([-1.0, 1.0, 0.0, 1.0])
r_new = phi @ w_new
V_base = []
for k, p in enumerate(base):
    V_sf = np.einsum("sa,sad->sd", p, psi[k]) @ w_new / (1 - gamma)  # no learning at all
    V_check = successor.policy_evaluation(successor.policy_transition(chain.P, p), r_new, gamma)
    V_base.append(V_check)
    print(f"pi{k + 1}: V(start) = {V_sf[chain.start]:6.3f}, |V_SF - V_PE| = {np.abs(V_sf - V_check).max():.1e}")


# %% [markdown]
# **GPI.** None of the old policies was trained for $w'$, but we can act greedily with respect to
# *all* of them at once: in each state, evaluate every action under every old policy on the new
# task, and take the action whose best value is highest. The GPI theorem guarantees that the
# resulting policy $\pi'$ satisfies $V^{\pi'} \ge \max_k V^{\pi_k}$ at every state.

# %% [markdown]
# ### Exercise 4.4 · GPI action selection (2 points)
# Complete `gpi_action(psi, w)`: the GPI policy's action in every state, from the successor
# features of $K$ policies and the new task's weights.
#
# * `psi`: array `(K, n, A, d)`, successor features of $K$ policies; `w`: array `(d,)`;
# * returns integer actions, array `(n,)`.
#
# Success: the check passes on the maze's four base policies, random features, a single policy
# and negative weights. Where several actions tie for the best value, any of them is accepted.
# The cells after the check evaluate your GPI policy on the new task, and the live demo runs it
# on every task its sliders can set.
#
# <details><summary>Hint</summary>
#
# $$\pi'(s) = \arg\max_a \max_k \psi^{\pi_k}(s, a)^\top w.$$
#
# `psi @ w` is `(K, n, A)`, the values $Q^{\pi_k}(s, a)$ up to the factor $1/(1-\gamma)$, which does
# not change the argmax. Take the max over policies (axis 0) first, then the argmax over actions.
# </details>

# %% tags=["solution:4.4"]
def gpi_action(psi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """GPI. psi: (K, n, A, d), w: (d,) -> actions: (n,) int."""
    # BEGIN SOLUTION
    q = psi @ w                         # (K, n, A)
    return q.max(axis=0).argmax(axis=1)
    # END SOLUTION


# %% tags=["exercise:4.4", "points:2"]
checks.gpi_action()

# %%
a_gpi = precomputed.run_or_load("part4_gpi_actions", lambda: gpi_action(psi, w_new))  # your GPI
pi_gpi = successor.policy_table(a_gpi, chain.P.shape[1])
V_gpi = successor.policy_evaluation(successor.policy_transition(chain.P, pi_gpi), r_new, gamma)
pi_opt = successor.optimal_policy(chain.P, r_new, gamma)  # value iteration on the new task
V_opt = successor.policy_evaluation(successor.policy_transition(chain.P, pi_opt), r_new, gamma)
print(f"{'policy':>8}  {'V(start)':>9}  {'mean V over cells':>17}")
for name, V in [*((f"pi{k + 1}", V) for k, V in enumerate(V_base)), ("GPI", V_gpi), ("optimal", V_opt)]:
    print(f"{name:>8}  {V[chain.start]:9.3f}  {V.mean():17.3f}")
print(f"GPI minus the best base policy, worst cell: {(V_gpi - np.max(V_base, axis=0)).min():.2e}")

# %% [markdown]
# GPI is at least as good as every old policy everywhere, and on average over start cells it is
# clearly better: from each cell it picks the landmark worth heading for. (On this task it even
# matches the optimal policy; that is not guaranteed in general.)
#
# ### Live: GPI on any new task
# Drag the weights of the four landmarks. The map shows GPI's value and its action in each cell;
# the bars compare the average value of each base policy with GPI's. Nothing is retrained: your
# `gpi_action` only recombines the stored successor features, for every setting of the sliders
# when the demo is built.
#
# ![The GPI demo at its default setting, w = (−1, 1, 0, 1)](../assets/part4_gpi.png)

# %%
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
# beats them all. The readout's "smallest gain" never goes below zero: the GPI theorem at work.
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
# future starts at $k \ge 1$: for a continuous state, the present would be a point mass, not a
# density.

# %% [markdown]
# ### Exercise 4.5 · From classifier logits to a density ratio (2 points)
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

# %% tags=["solution:4.5"]
def classifier_density_ratio(logits: torch.Tensor, neg_per_pos: float) -> torch.Tensor:
    """p(s_f | s, a) / p(s_f) from classifier logits. logits: (B,) -> (B,)."""
    # BEGIN SOLUTION
    return neg_per_pos * torch.exp(logits)
    # END SOLUTION


# %% tags=["exercise:4.5", "points:2"]
checks.classifier_density_ratio()

# %% [markdown]
# **The task.** A point in the square $[-1, 1]^2$, split into two rooms by a wall with a door.
# The policy is uniformly random: each step moves by $0.1\,a$, $a \in [-1, 1]^2$, plus noise; a
# move into the wall or out of the square is cancelled. For this policy the uniform distribution
# is stationary, so data started uniformly has the uniform marginal $p(s_f) = 1/4$ at every step
# (up to sampling noise in our finite logs).

# %%
env = pointmass.PointMass()
states, actions = pointmass.random_trajectories(env, env.sample_states(100, gen), 250, gen)  # 100 trajectories
print(f"states {tuple(states.shape)}, actions {tuple(actions.shape)}")
quarters = clearning.histogram(states.reshape(-1, 2), n_bins=2).ravel()
print("share of the logged states in each quarter of the square:", quarters.round(3))

# %% [markdown]
# Positives pick a delay $\Delta \sim \text{Geometric}(1-\gamma)$ and a time $t$, and pair
# $(s_t, a_t)$ with $s_{t+\Delta}$ from the same trajectory; negatives are logged states drawn at
# random. The classifier also receives $\gamma$, so one network covers the horizons we use below
# (`config.gammas`). The training loop is `clearning.train_classifier`.

# %%
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

# %%
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

# %%
cols = [f"s = ({s[0]:.2f}, {s[1]:.2f}), a = →" for s in queries.tolist()]
part4.plot_future_densities([mc_grids, clf_grids], ["Monte Carlo", "classifier odds × p(s_f)"],
                            cols, env, queries, query_actions);

# %% [markdown]
# The classifier has never rolled anything out: it saw pairs of states from the logs. Yet its
# odds reproduce where the point will be: the mass stops at the wall and reaches the other room
# only through the door. The second number on each line is the marginal's own distance from the truth:
# what a "model" that ignores $(s, a)$ would score.

# %% [markdown]
# ## 4. Why this avoids compounding one-step error
# The alternative is Part 2's recipe: learn a one-step model $\hat p(s_{t+1} \mid s_t, a_t)$ from
# the same transitions and roll it out, drawing the delay $\Delta$ and then stepping the model
# $\Delta$ times. The effective horizon is $1/(1-\gamma)$ steps, and every step's error is fed
# into the next. We train the course's dynamics model (one Gaussian network of the same size as
# the classifier) on every logged step, then compare both estimates with Monte Carlo at each
# $\gamma$ the classifier knows.

# %%
model_config = dynamics.EnsembleConfig(n_members=1, n_elites=1, hidden=config.hidden,
                                       n_layers=config.n_layers, max_epochs=30)
model, model_log = clearning.fit_one_step_model(states, actions, model_config, gen)
best_mse = min(mse[0] for mse in model_log.holdout_mse)
print(f"one-step model: {model_log.epochs} epochs, best held-out MSE (normalised targets) {best_mse:.3f}")

# %%
errors = precomputed.run_or_load("part4_prediction_errors", lambda: clearning.future_prediction_errors(
    env, clf, classifier_density_ratio, clearning.model_step_fn(model), queries, query_actions,
    config.gammas, n_mc, gen))
print(f"{'gamma':>6} {'horizon':>8} {'one-step model':>15} {'classifier':>11} {'MC noise floor':>15}")
for i, g in enumerate(config.gammas):
    row = [errors[k][i].mean() for k in ("one-step model", "classifier", "MC noise floor")]
    print(f"{g:6.2f} {1 / (1 - g):8.0f} {row[0]:15.3f} {row[1]:11.3f} {row[2]:15.3f}")

# %%
horizons = 1 / (1 - np.array(config.gammas))
fig, ax = plt.subplots(figsize=(5.5, 3.2), layout="constrained")
for name, style in (("one-step model", "o-"), ("classifier", "s-"), ("MC noise floor", ":")):
    ax.semilogx(horizons, errors[name].mean(axis=1), style, label=name)
ax.set_xticks(horizons, [f"{h:.0f}" for h in horizons], minor=False)
ax.set_xticks([], minor=True)
ax.set(xlabel="effective horizon 1/(1−γ) (steps)", ylabel="TV to Monte Carlo (mean of 3 queries)",
       title="future-state prediction error", ylim=(0, None))
ax.legend();

# %% [markdown]
# The dotted line is how far two independent Monte-Carlo estimates of the same size disagree:
# below it, differences are noise. The one-step model is better at short horizons: one or two
# steps of a good model are hard to beat. But its error grows with the horizon, while the
# classifier's stays roughly flat. Where
# does the rolled-out model go wrong? Look at the longest horizon for the first query:

# %%
s, a, g_long = queries[0], query_actions[0], config.gammas[-1]
truth = clearning.future_histogram(env.step, s, a, g_long, n_mc, gen)
rolled = clearning.future_histogram(clearning.model_step_fn(model), s, a, g_long, n_mc, gen)
direct, _ = precomputed.run_or_load(
    "part4_long_horizon_classifier",
    lambda: clearning.classifier_grid_density(clf, classifier_density_ratio, s, a, g_long, env))
right_room = {name: grid[10:].sum() for name, grid in
              [("Monte Carlo", truth), ("one-step model", rolled), ("classifier", direct)]}
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
# ## Summary
# * The successor representation $\mu^\pi(s)$ is the discounted distribution of future states.
#   It obeys a Bellman equation, so it can be solved for exactly
#   ($M = (1-\gamma)(I-\gamma P^\pi)^{-1}$) or learned by TD from samples, and it turns any state
#   reward into a value with one product: $V^\pi = M r / (1-\gamma)$.
# * Successor features $\psi^\pi = \mu^\pi{}^\top\phi$ evaluate a policy on every reward linear in
#   $\phi$ without relearning; GPI combines several policies and is never worse than any of them.
# * For continuous states, a classifier between future and marginal states is a multi-step
#   model: its odds are $p^\pi(s_f \mid s, a)/p(s_f)$ (C-learning).
# * A rolled-out one-step model compounds its per-step errors over the horizon $1/(1-\gamma)$;
#   a model of the future learned directly does not roll out, so it does not compound. It is tied
#   to one policy.
#
# ## Going further
# * **TD C-learning.** Our positives came from logged futures of the *same* policy (Monte Carlo).
#   C-learning proper bootstraps, as TD did for the SR: it reuses the classifier's own prediction
#   at $s_{t+1}$, which makes it off-policy (Eysenbach, Salakhutdinov & Levine, *C-Learning:
#   Learning to Achieve Goals via Recursive Classification*, ICLR 2021).
# * **γ-models** learn $p^\pi(s_f \mid s, a)$ as a generative model, trained with the same
#   bootstrapped target (Janner, Mordatch & Levine, *γ-Models*, NeurIPS 2020).
# * **Successor features and GPI** for transfer between tasks: Barreto et al., *Successor
#   Features for Transfer in Reinforcement Learning*, NeurIPS 2017. Try it: in the GPI demo,
#   which new tasks make GPI fall short of the optimal policy?
# * Open `course_lib/successor.py` and `course_lib/clearning.py`: both fit on a screen or two.
