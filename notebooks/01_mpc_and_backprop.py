# %% [markdown]
# # 1 · From MPC to backpropagating through a learned model
#
# Model-based RL v1.5 learns a dynamics model and *plans* with it: at every step it searches
# for a good action sequence, executes the first action and plans again. It works, but each
# plan is an **open-loop** sequence: it pretends that no new information will arrive. This
# notebook runs MPC on a learned pendulum model, shows exactly what open-loop planning costs,
# and then tries the obvious fix, a **policy** trained by backpropagating the model's return
# through time. That fix has a pathology of its own, and you will measure it.
#
# **In this notebook you will**
# 1. write the two pieces of a sampling planner, the random-shooting scorer and the CEM update,
#    and swing up gymnasium's `Pendulum-v1` with MPC built from them on a learned model, in 600
#    real steps;
# 2. solve a small "math test" exactly to see why open-loop plans are not enough;
# 3. write the pathwise gradient of the return and the product of Jacobians, then use them to
#    watch the gradients of a policy trained through the model (MBRL v2.0) explode and vanish
#    as the horizon grows.
#
# Each exercise sits where its idea is taught, and the cells after it run *your* function.

# %% [markdown]
# ## Setup

# %%
# %matplotlib widget
import numpy as np
import torch

import course_lib as cl
from course_lib import buffers, checks, envs, gradients, information, planning, precomputed
from course_lib.demos import part1

rng = cl.seed_everything(0)
gen = cl.utils.torch_generator(0)
torch.set_num_threads(1)  # our tensors are tiny: one thread is faster and leaves a core free

# %% [markdown]
# ## 1. MBRL v1.5: plan with a learned model, replan at every step
# A learned model $\hat f$ predicts the next state and the reward. MPC picks the action
# sequence with the best *predicted* return over a short horizon $H$,
#
# $$a^\star_{t:t+H} = \arg\max_{a_{t:t+H}} \sum_{k=t}^{t+H-1} \hat r(s_k, a_k),
# \qquad s_{k+1} = \hat f(s_k, a_k),$$
#
# executes only $a^\star_t$, observes the real next state and solves the problem again.
# Replanning corrects the model's mistakes before they pile up.
#
# The model is an ensemble of small MLPs that predict the normalised change of state and the
# reward (`course_lib.dynamics`). First, 200 steps of random torques and a first fit:

# %%
cfg = planning.MBRLConfig()
env, _ = envs.make_pendulum(seed=0)
buffer = buffers.ReplayBuffer(1000, obs_dim=3, act_dim=1)
buffers.collect(env, lambda obs: rng.uniform(-2, 2, size=1), cfg.random_steps, buffer, seed=0)
model = planning.fit_model(buffer, cfg.model, gen)
print(f"{len(buffer)} random transitions; ensemble of {cfg.model.n_members} MLPs "
      f"with {cfg.model.n_layers} hidden layers of {cfg.model.hidden}")


# %% [markdown]
# ### Two planners
# **Random shooting** samples $N$ action sequences uniformly and keeps the best.
# The **cross-entropy method (CEM)** samples from a Gaussian, keeps the `n_elite` best
# sequences (the *elites*), refits the Gaussian's mean and standard deviation to them, and
# repeats. With the same number of model rollouts, CEM concentrates its samples where the
# good sequences are. Both need one thing from the model: the predicted return of many
# candidate sequences at once. You write that first, then CEM's refit.

# %% [markdown]
# ### Exercise 1.1 · Random-shooting scores (2 points)
# Complete `random_shooting_scores(step, obs, actions)`: the model's predicted return, the
# objective above, of every candidate action sequence at once.
#
# * `step(obs (N, O), act (N, A)) -> (next_obs (N, O), reward (N,))` is the model;
# * `obs`: tensor `(O,)`, the current state, the same for all candidates;
# * `actions`: tensor `(N, H, A)`: $N$ candidate sequences of $H$ actions;
# * returns a tensor `(N,)` with $J_n = \sum_{k=0}^{H-1} \hat r(s_k, a_{n,k})$, where $s_0 =$ `obs`
#   and $s_{k+1} = \hat f(s_k, a_{n,k})$.
#
# Success: the check passes on the true pendulum, a linear toy model with 2-d actions,
# $H = 1$ and a single long candidate. One loop over the horizon, none over candidates. Your
# function then scores every plan below, and every MPC step of this notebook.
#
# <details><summary>Hint</summary>
#
# Start all $N$ candidates at the same state (`obs.expand(N, -1)` gives an `(N, O)` view), and
# at step $k$ feed the model the states *it predicted* together with `actions[:, k]`. Add up
# the rewards as you go.
# </details>

# %% tags=["solution:1.1"]
def random_shooting_scores(step, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Predicted return of each sequence. obs: (O,), actions: (N, H, A) -> (N,)."""
    # BEGIN SOLUTION
    s = obs.expand(actions.shape[0], -1)
    total = torch.zeros(actions.shape[0], dtype=actions.dtype)
    for k in range(actions.shape[1]):
        s, r = step(s, actions[:, k])
        total = total + r
    return total
    # END SOLUTION


# %% tags=["exercise:1.1", "points:2"]
checks.random_shooting_scores()


# %% [markdown]
# ### Exercise 1.2 · The CEM update (2 points)
# After scoring $N$ samples from its Gaussian, CEM refits the Gaussian to the best of them.
# Complete `cem_refit(samples, scores, n_elite)`.
#
# * `samples`: tensor `(N, H, A)`; `scores`: tensor `(N,)`, higher is better; `n_elite`: int in $1..N$;
# * returns `(mean, std)`, each a tensor `(H, A)`: the mean and the standard deviation, over
#   the samples, of the `n_elite` samples with the highest scores (the population std,
#   `correction=0`, or the sample std: both are accepted).
#
# Success: the check passes with 2-d actions, with every sample an elite, and when the best
# samples are the last ones.
#
# <details><summary>Hint</summary>
#
# `scores.topk(n_elite).indices` are the rows of the elites; average over axis 0.
# </details>

# %% tags=["solution:1.2"]
def cem_refit(samples: torch.Tensor, scores: torch.Tensor, n_elite: int):
    """Mean and std of the elites. samples: (N, H, A), scores: (N,) -> mean, std (H, A)."""
    # BEGIN SOLUTION
    elite = samples[scores.topk(n_elite).indices]
    return elite.mean(0), elite.std(0, correction=0)
    # END SOLUTION


# %% tags=["exercise:1.2", "points:2"]
checks.cem_refit()

# %% [markdown]
# ### Your planners, side by side
# Random shooting scores its candidates with your `random_shooting_scores`; CEM also refits
# with your `cem_refit`. Both plan from the same state (the pendulum hanging down) with the
# same number of model rollouts; we score each plan with the model and with the true dynamics.

# %%
obs0 = envs.pendulum_obs(torch.tensor([np.pi, 0.0]))
budget = cfg.planner.n_candidates * cfg.planner.n_iters          # model rollouts per plan
shooting_cfg = planning.CEMConfig(n_candidates=budget)
plan_gen = cl.utils.torch_generator(1)                           # the planners' own random numbers


def plan_and_score():
    plans = {"random shooting": planning.random_shooting(
                 random_shooting_scores, model.mean_step, obs0, shooting_cfg, plan_gen),
             "CEM": planning.cem_plan(random_shooting_scores, cem_refit, model.mean_step, obs0,
                                      cfg.planner, plan_gen)}
    with torch.no_grad():  # each plan's return predicted by the model, and the real one
        return {name: [float(random_shooting_scores(step, obs0, plan[None])[0])
                       for step in (model.mean_step, envs.pendulum_step_obs)]
                for name, plan in plans.items()}


for name, (predicted, real) in precomputed.run_or_load("part1_two_planners", plan_and_score).items():
    print(f"{name:>15}: predicted return {predicted:7.2f}, real return {real:7.2f}")

# %% [markdown]
# ### MPC with periodic refits, live
# Now the whole loop, planned by CEM with your two functions: two MPC episodes of 200 real
# steps, refitting the model on all data every 100 steps. The figure below follows the
# episode as it runs: in blue the executed trajectory, in orange the plan the model predicted
# at the current step. After the run, drag the slider to see the plan made at any step. (While
# Exercise 1.1 or 1.2 is unfinished, the figure shows the solution's run instead.)
#
# ![The last MPC episode of the solution's run, at step 25](../assets/part1_mpc_episode.png)
#
# *The picture shows the solution's run at step 25 of its second episode, for readers without
# a running kernel.*

# %%
live = part1.MPCEpisodeDemo(log=planning.EpisodeLog(), horizon=cfg.planner.horizon)
live.show()

# %%
planner = planning.cem_planner(random_shooting_scores, cem_refit, cfg.planner, cl.utils.torch_generator(2))
result = precomputed.run_or_load(
    "part1_mbrl_v15", lambda: planning.mbrl_v15(env, cfg, planner, seed=0, callback=live.live_update))
live.show_episode(result.episodes[-1])
print(f"real steps used: {len(result.transitions)}; model fitted {result.n_fits} times")
print("MPC training episodes:", [round(ep.ret, 1) for ep in result.episodes])

# %% [markdown]
# How good is MPC on the final model? Five fresh evaluation episodes with your planner,
# nothing learned any more; and random torques from the same start states, for comparison.
# (The best possible return depends on the start: a pendulum that starts hanging down must
# pay for the swing-up.)

# %%
final_model = result.final_model()
eval_returns = precomputed.run_or_load(
    "part1_eval_returns", lambda: planning.evaluate_mpc(planner, planning.frozen_mean_step(final_model)))
print("MPC on the learned model:", np.round(eval_returns, 1), f"mean {eval_returns.mean():.1f}")
scratch = buffers.ReplayBuffer(200, obs_dim=3, act_dim=1)
random_returns = [buffers.collect(env, lambda obs: rng.uniform(-2, 2, size=1), 200, scratch, seed=s,
                                  progress=False)[0] for s in planning.EVAL_SEEDS]
print("random torques, same starts:", np.round(random_returns, 1), f"mean {np.mean(random_returns):.1f}")

# %% [markdown]
# **Question.** In the live figure, the orange plan often ends somewhere else than where the
# pendulum really goes a few steps later. Why does MPC still work?
#
# <details><summary>Answer</summary>
#
# Only the first action of each plan is executed. The next plan starts from the *real*
# state, so a model error made $k$ steps ahead never gets the chance to accumulate: MPC
# only needs the model to rank action sequences correctly for the next few steps.
# </details>

# %% [markdown]
# ## 2. Why open loop is not enough: the math test
# Every plan MPC makes is an action *sequence*, chosen as if it will be executed blindly:
#
# $$\max_{a_1, \dots, a_H} \; \mathbb{E}\Big[\sum_t r(s_t, a_t)\Big]
# \quad\text{(open loop)} \qquad \text{vs.} \qquad
# \max_{\pi} \; \mathbb{E}_{a_t \sim \pi(a_t \mid s_t)}\Big[\sum_t r(s_t, a_t)\Big]
# \quad\text{(closed loop)}.$$
#
# A test: you may take it (then one of $K$ questions is revealed and you answer it: $+2$
# if right, $-1$ if wrong) or skip it (but a pop quiz still comes with probability 0.3).
# The question is only revealed *after* you commit. We solve this tiny MDP exactly.

# %%
mdp = information.math_test(n_questions=4, reward_right=2.0, penalty_wrong=1.0, pop_quiz=0.3)
for name, value in information.compare(mdp).items():
    print(f"{name:>17}: expected return {value:+.3f}")
value, sequence = information.open_loop_value(mdp)
print("best open-loop sequence:", [mdp.action_names[a] for a in sequence])

# %% [markdown]
# The open-loop plan must choose its answer before seeing the question, so it can only guess
# and it skips the test. MPC's first plan is that same open-loop plan, so MPC skips too; but
# when a pop quiz arrives anyway, MPC *replans after seeing the question* and answers right.
# Only a closed-loop policy, which knows it will get to react, takes the test on purpose.
#
# ![The math test at its default setting](../assets/part1_math_test.png)

# %%
math_demo = part1.MathTestDemo()
math_demo.show()

# %% [markdown]
# **Question.** Set the number of possible questions $K$ to 2. Why does the open-loop agent
# now take the test, and why is MPC as good as the closed-loop policy?
#
# <details><summary>Answer</summary>
#
# With two questions a blind guess is right half the time: $\tfrac12 \cdot 2 - \tfrac12
# \cdot 1 = 0.5 > 0$, so taking the test is worth it even open loop. Once MPC has taken it,
# it replans after seeing the question and answers right: the information arrives anyway,
# and replanning uses it. MPC only loses when information must be *sought*, which an
# open-loop plan never values.
# </details>
#
# **Conclusion.** To act well when information arrives later, optimise a **policy**
# $\pi(a \mid s)$ that maps what we observe to what we do, not a sequence of actions: that is
# the original RL objective, closed loop.

# %% [markdown]
# ## 3. MBRL v2.0: backpropagate through the model
# A policy $\pi_\theta$, the learned dynamics $\hat f$ and reward $\hat r$ form one
# differentiable computation graph, unrolled over $T$ steps:
#
# ![The v2.0 computation graph](../assets/part1_v2_graph.svg)
#
# $$J(\theta) = \sum_{t=0}^{T-1} \hat r(s_t, a_t), \quad a_t = \pi_\theta(s_t), \quad
# s_{t+1} = \hat f(s_t, a_t), \qquad \nabla_\theta J \text{ by backpropagation through time.}$$
#
# We train a small policy this way on the model from section 1, with start states taken
# from the real data and a short horizon $T = 20$, and compare its $T$-step return under
# the model with its $T$-step return under the true dynamics.

# %%
bptt_cfg = gradients.BPTTConfig(horizon=20, n_updates=100, lr=1e-2)
model_step = planning.frozen_mean_step(final_model, differentiable=True)
starts = result.transitions.obs
policy = gradients.MLPPolicy(3, 1, hidden=32, generator=gen)
test_starts = starts[torch.randperm(len(starts), generator=gen)[:200]]
with torch.no_grad():
    before = gradients.policy_return(policy, envs.pendulum_step_obs, test_starts, 20).mean()
bptt_log = gradients.train_policy_bptt(policy, model_step, starts, bptt_cfg, gen)
with torch.no_grad():
    after = gradients.policy_return(policy, envs.pendulum_step_obs, test_starts, 20).mean()
print(f"model return over T=20: {bptt_log.objective[0]:.1f} -> {np.mean(bptt_log.objective[-10:]):.1f}")
print(f"real return over T=20:  {before:.1f} -> {after:.1f}")

# %% [markdown]
# For a short horizon, backpropagating through the learned model improves the real
# objective. But a swing-up takes far more than 20 steps ($1$ s). What happens to the
# gradients as $T$ grows? The gradient for the policy and for each of its actions:

# %%
for T in (5, 10, 20, 40, 80):
    per_step, theta_norm = gradients.policy_action_gradients(policy, model_step, test_starts[:64], T)
    print(f"T = {T:3d}: |dJ/dθ| = {theta_norm:9.3g}   |dJ/da_0| = {per_step[0]:8.3g}   "
          f"|dJ/da_T-1| = {per_step[-1]:8.3g}")


# %% [markdown]
# ### Exercise 1.3 · The pathwise gradient of the return (3 points)
# Where do such gradients come from? Take the policy out of the picture: for a fixed action
# sequence $a_0, \dots, a_{T-1}$ (open loop, as MPC plans), the return
# $J = \sum_{t=0}^{T-1} r(s_t, a_t)$ with $s_{t+1} = f(s_t, a_t)$ is a differentiable function
# of the actions, and backpropagation through time gives $\partial J / \partial a_t$ for every
# $t$ at once. Complete `action_sequence_gradient(step, obs, actions)`, by autograd.
#
# * `step` as in 1.1 (the true pendulum `envs.pendulum_step`, a toy model or the learned model);
# * `obs`: tensor `(O,)`, the start state $s_0$; `actions`: tensor `(T, A)`;
# * returns a tensor `(T, A)` whose row $t$ is $\partial J / \partial a_t$.
#
# Success: the check passes on the pendulum (also near upright, where early actions matter
# most), on a linear toy model with 2-d actions, and for a single step. Your function then
# draws the gradient curves below, and the curvature after them.
#
# <details><summary>Hint</summary>
#
# Make a copy of the actions that requires gradients
# (`actions.detach().clone().requires_grad_(True)`), roll the model forward from `obs` as a
# batch of one (`obs[None]`, `a[t][None]`), add *all* rewards into $J$ and call
# `torch.autograd.grad(J, a)`. Do not detach the state: the gradient of a late reward reaches
# an early action through it.
# </details>

# %% tags=["solution:1.3"]
def action_sequence_gradient(step, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """dJ/da_t by backprop through the rollout. obs: (O,), actions: (T, A) -> (T, A)."""
    # BEGIN SOLUTION
    a = actions.detach().clone().requires_grad_(True)
    s, J = obs[None], 0.0
    for t in range(a.shape[0]):
        s, r = step(s, a[t][None])
        J = J + r.sum()
    (grad,) = torch.autograd.grad(J, a)
    return grad
    # END SOLUTION


# %% tags=["exercise:1.3", "points:3"]
checks.action_sequence_gradient()

# %% [markdown]
# Your gradient on the learned model, from a real state where MPC was balancing the pendulum,
# with the actions MPC executed from there, for three horizons:

# %%
log = result.episodes[-1]
t0 = part1.first_upright_step(log)
obs_t0 = torch.as_tensor(log.obs[t0])
executed = torch.as_tensor(np.array(log.actions[t0:]))
curves = precomputed.run_or_load("part1_bptt_curves", lambda: {
    T: torch.as_tensor(action_sequence_gradient(model_step, obs_t0, executed[:T])).norm(dim=-1).numpy()
    for T in (10, 40, len(executed))})
part1.plot_bptt_gradients(curves);

# %% [markdown]
# Early actions get gradients many orders of magnitude larger than late ones: no single
# learning rate suits them all. The optimisation is **ill-conditioned**, and it gets worse
# with $T$. The condition number of the Hessian $\partial^2 J / \partial a^2$ (on the true
# pendulum, from $\theta = 2$, for the all-zero action sequence), where the Hessian is the
# derivative of your gradient, by finite differences:

# %%
s_start = torch.tensor([2.0, 0.0], dtype=torch.float64)
kappas = precomputed.run_or_load("part1_hessian_conditions", lambda: {
    T: gradients.hessian_condition_number(action_sequence_gradient, envs.pendulum_step, s_start,
                                          torch.zeros(T, 1, dtype=torch.float64))
    for T in (1, 5, 10, 20, 40)})
for T, kappa in kappas.items():
    print(f"T = {T:3d}: condition number {kappa:9.3g}")


# %% [markdown]
# ### Products of Jacobians
# The chain rule explains it. The return reaches the action $a_t$ through every later state,
#
# $$\frac{\partial J}{\partial a_t} = \frac{\partial r_t}{\partial a_t} + \sum_{k>t}
# \frac{\partial r_k}{\partial s_k}\,\Big(\prod_{j=t+1}^{k-1}
# \frac{\partial s_{j+1}}{\partial s_j}\Big)\frac{\partial s_{t+1}}{\partial a_t},$$
#
# a sum of **products of Jacobians**. Near the upright position the pendulum is unstable:
# each Jacobian stretches one direction and squeezes another, so the products explode in
# one direction and vanish in the other, exactly like the gradients of an RNN trained by
# backpropagation through time. The product is the heart of the formula; you write it next.

# %% [markdown]
# ### Exercise 1.4 · The Jacobian of T steps (2 points)
# Given the one-step Jacobians $A_t = \partial s_{t+1}/\partial s_t$ for $t = 0, \dots, T-1$,
# complete `jacobian_product(jacobians)`: return $\partial s_T/\partial s_0$, which says how a
# small change of the start state moves the state $T$ steps later.
#
# * `jacobians`: tensor `(T, S, S)` with `jacobians[t]` $= A_t$;
# * returns a tensor `(S, S)`; for $T = 0$ it is $\partial s_0/\partial s_0$.
#
# Success: the check passes for non-commuting random matrices, the pendulum falling from
# near upright (a product that grows fast), $3 \times 3$ Jacobians, $T = 1$ and $T = 0$.
# Your function then computes every Jacobian product in the rest of the notebook.
#
# <details><summary>Hint</summary>
#
# By the chain rule $\partial s_T/\partial s_0 = A_{T-1} \cdots A_1 A_0$: the latest Jacobian
# multiplies on the *left*. Start from the identity, the empty product, and multiply the
# Jacobians in one at a time.
# </details>

# %% tags=["solution:1.4"]
def jacobian_product(jacobians: torch.Tensor) -> torch.Tensor:
    """A_{T-1} ... A_1 A_0. jacobians: (T, S, S) -> (S, S)."""
    # BEGIN SOLUTION
    product = torch.eye(jacobians.shape[-1], dtype=jacobians.dtype)
    for a in jacobians:
        product = a @ product
    return product
    # END SOLUTION


# %% tags=["exercise:1.4", "points:2"]
checks.jacobian_product()

# %% [markdown]
# Your product along the balancing part of MPC's last episode: the true pendulum's Jacobians
# in its state $(\theta, \dot\theta)$, at the states MPC visited and with the torques it
# applied, multiplied over the first $k$ steps. Watch one singular value explode while the
# other vanishes, and their product.

# %%
states = envs.pendulum_state(torch.as_tensor(np.array(log.obs[t0:-1]), dtype=torch.float64))
ds = gradients.step_jacobians(envs.pendulum_step, states, executed.double())[0]   # (T, 2, 2)
products = precomputed.run_or_load("part1_balancing_products", lambda: {
    k: torch.as_tensor(jacobian_product(ds[:k])) for k in (1, 10, 20, 40)})
for k, p in products.items():
    s_max, s_min = torch.linalg.svdvals(p.double()).tolist()
    print(f"k = {k:2d} steps: singular values {s_max:9.3g} and {s_min:9.3g} (product {s_max * s_min:.3f})")

# %% [markdown]
# ### Explore: horizon and curvature
# The slider demo uses the true pendulum held near upright, with its gravity scaled by a
# *gain* (0 = no gravity: flat dynamics; larger = more curved, more unstable). Left: the
# gradient for each action at horizon $T$, by your `action_sequence_gradient`. Right: the
# singular values of the Jacobian product over $k$ steps, by your `jacobian_product`. Both
# are computed once, when the cell runs (all gains side by side as one system); the sliders
# only look them up. Points that overflow the chart are clipped and marked ×.
#
# ![The gradient demo at its default setting, T = 60, gain 1](../assets/part1_gradients.png)

# %%
grid = precomputed.run_or_load(
    "part1_gradient_grid", lambda: part1.gradient_grid(action_sequence_gradient, jacobian_product))
gradient_demo = part1.GradientPathologyDemo(grid)
gradient_demo.show()

# %% [markdown]
# **Question.** Set the gain to 0. The gradients still grow for early actions; how fast,
# compared with gain 1? What does the right panel show?
#
# <details><summary>Answer</summary>
#
# Without gravity the Jacobian is a shear, $\begin{pmatrix}1 & \Delta t\\ 0 & 1\end{pmatrix}$;
# products of shears grow only linearly with $k$, so gradients grow polynomially. With
# gravity, near upright each step multiplies one direction by about
# $e^{\Delta t\sqrt{15 \cdot \text{gain}}}$: exponential growth, and the other direction shrinks at the
# same rate (the step preserves area, so $\sigma_{\max}\sigma_{\min} = 1$).
# </details>

# %% [markdown]
# ### Why not use an LSTM's trick?
# RNNs escape this pathology by *designing* the recurrence: an LSTM's cell state has a
# Jacobian close to the identity, so products of Jacobians neither explode nor vanish. We
# cannot do that: the recurrence is $\hat f$, and $\hat f$ has to match the real pendulum,
# Jacobians included. Along the real balancing trajectory, the true pendulum stretches one
# direction by a factor above 1 per step on average (right panel), and so does the learned
# model: their products (your `jacobian_product` again) grow together, exponentially (left
# panel). A recurrence with the identity Jacobian has perfect gradients, and it predicts a
# pendulum that never moves.

# %%
lstm_curves = precomputed.run_or_load("part1_lstm_comparison", lambda: part1.lstm_comparison(
    jacobian_product, model_step, np.array(log.obs[t0:-1]), np.array(log.actions[t0:])))
part1.plot_lstm_comparison(lstm_curves);

# %% [markdown]
# **Conclusion.** Backpropagating through long chains of a learned model behaves like naive
# BPTT in an RNN, and we are not free to fix the chain. Most practical model-based methods
# therefore use the model as a **simulator** that generates synthetic experience, and train
# the policy with derivative-free (model-free) RL on it. Part 2 explains how, and what
# long model rollouts cost.

# %% [markdown]
# ## Summary
# * MPC (MBRL v1.5) plans an open-loop action sequence on a learned model, executes its
#   first action and replans; with periodic refits it swings the pendulum up within 600
#   real steps. Your scorer and CEM update were its planner.
# * Open-loop plans ignore that information will arrive; replanning recovers part of the
#   loss, but only a closed-loop policy $\pi(a \mid s)$ values acting to get information.
# * Training that policy by backpropagating through the model (MBRL v2.0) works for short
#   horizons; for long ones the gradient is a sum of products of Jacobians that explode and
#   vanish, and the optimisation is ill-conditioned. Unlike an RNN designer, we cannot
#   choose the dynamics.
#
# ## Going further
# * In `course_lib/planning.py`, `cem_plan` calls your two functions, keeps the best sequence
#   it has seen and smooths its updates (`alpha`). Try `alpha = 0` or more iterations, and
#   time the planner.
# * MPC only needs a `planning.Planner`: a function `(step, obs, init_mean) -> plan`. Write
#   your own CEM loop with that signature and pass it to `planning.mbrl_v15`.
# * Replace `model_step` by `envs.pendulum_step_obs` in section 3: are the true dynamics'
#   gradients any better behaved than the learned model's?
# * Read about *PILCO* (Deisenroth & Rasmussen, 2011), which makes backpropagation through
#   a learned model work with Gaussian-process models and analytic moment matching.
