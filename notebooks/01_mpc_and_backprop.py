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
# 1. write a sampling planner, the random-shooting scorer, the CEM update and the CEM loop
#    itself, and swing up gymnasium's `Pendulum-v1` with MPC on a learned model, planned by your
#    code, in 600 real steps;
# 2. solve a small "math test" exactly to see why open-loop plans are not enough;
# 3. train a policy by backpropagating through the model (MBRL v2.0) at short and long horizons,
#    and see where it fails;
# 4. write the pathwise gradient of the return and the closed-loop product of Jacobians, then
#    use them to see why: exploding and vanishing products, an ill-conditioned optimisation,
#    what a second-order method and dynamic programming fix, and what they cannot.
#
# Each exercise sits where its idea is taught, and the cells after it run *your* function.

# %% [markdown] tags=["exercise-overview"]
# **Exercises in this notebook** (5, 12 points)
#
# | Exercise | What you write | Points | Where |
# |---|---|---|---|
# | 1.1 | `random_shooting_scores`: Random-shooting scores | 2 | 1. MBRL v1.5: plan with a learned model, replan at every step |
# | 1.2 | `cem_refit`: The CEM update | 1 | 1. MBRL v1.5: plan with a learned model, replan at every step |
# | 1.3 | `cem_plan`: The CEM planner | 4 | 1. MBRL v1.5: plan with a learned model, replan at every step |
# | 1.4 | `action_sequence_gradient`: The pathwise gradient of the return | 3 | 3. MBRL v2.0: backpropagate through the model |
# | 1.5 | `closed_loop_product`: The closed-loop Jacobian of T steps | 2 | 3. MBRL v2.0: backpropagate through the model |
#
# The cell `checks.status()` near the end of the notebook says which of them pass now: run it whenever you like.

# %% [markdown]
# ## Setup

# %%
import numpy as np
import torch

import course_lib as cl
from course_lib import buffers, envs, gradients, information, planning, precomputed, shooting
from course_lib.demos import part1, part1_v20

cl.live_figures()  # interactive figures (ipympl), or images redrawn in place without it (Colab)
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

# %% tags=["training"]
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
# candidate sequences at once. You write that first, then CEM's refit, then CEM itself.

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
from course_lib import checks  # (so that this cell also runs on its own)

checks.random_shooting_scores()


# %% [markdown]
# ### Exercise 1.2 · The CEM update (1 point)
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


# %% tags=["exercise:1.2", "points:1"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.cem_refit()


# %% [markdown]
# ### Exercise 1.3 · The CEM planner (4 points)
# Now the planner itself. Complete `cem_plan(step, obs, init_mean, cfg, generator)`: the
# cross-entropy method over action sequences from the state `obs`, which scores its samples
# with your `random_shooting_scores` and refits with your `cem_refit`.
#
# * `step` and `obs` as in 1.1; `init_mean`: tensor `(H, A)`, the mean to start from (MPC
#   passes its previous plan, shifted by one step: a *warm start*), or `None` for zeros;
# * `cfg`: a `planning.CEMConfig` with `horizon` $H$, `act_dim` $A$, `n_candidates` $N$,
#   `n_elite`, `n_iters`, `init_std`, `alpha` (smoothing), `min_std` and the bounds `low`, `high`;
# * `generator`: a `torch.Generator`; draw every random number from it;
# * returns the plan, a tensor `(H, A)` within `[low, high]`: the best sequence you have scored.
#
# Success: on toy models whose best plan is known, your plan finds it (with 2-d actions,
# beyond the bounds, and warm-started too), and MPC with your planner on the true pendulum
# swings it up from hanging down within 100 steps. From then on, your planner flies the
# pendulum on the learned model.
#
# <details><summary>Hint</summary>
#
# Start with `mean = init_mean` (or zeros) and `std = cfg.init_std` everywhere. Then
# `cfg.n_iters` times:
# 1. sample $N$ sequences `mean + std * eps` with `eps = torch.randn(N, H, A, generator=generator)`,
#    clipped to `[low, high]`;
# 2. score them with `random_shooting_scores` (inside `torch.no_grad()`), and keep the best
#    sequence seen so far;
# 3. refit: `new_mean, new_std = cem_refit(samples, scores, cfg.n_elite)`, then smooth,
#    `mean = alpha * mean + (1 - alpha) * new_mean`, the same for `std`, floored at `min_std`.
# </details>

# %% tags=["solution:1.3"]
def cem_plan(step, obs: torch.Tensor, init_mean, cfg: planning.CEMConfig, generator) -> torch.Tensor:
    """CEM over action sequences from obs (O,); init_mean (H, A) or None -> the best plan (H, A)."""
    # BEGIN SOLUTION
    shape = (cfg.horizon, cfg.act_dim)
    mean = torch.zeros(shape) if init_mean is None else torch.as_tensor(init_mean).float().clone()
    std = torch.full(shape, cfg.init_std)
    best, best_score = mean.clamp(cfg.low, cfg.high), -float("inf")
    for _ in range(cfg.n_iters):
        noise = torch.randn(cfg.n_candidates, *shape, generator=generator)
        samples = (mean + std * noise).clamp(cfg.low, cfg.high)
        with torch.no_grad():
            scores = random_shooting_scores(step, obs, samples)
        i = int(scores.argmax())
        if scores[i] > best_score:
            best, best_score = samples[i], float(scores[i])
        new_mean, new_std = cem_refit(samples, scores, cfg.n_elite)
        mean = cfg.alpha * mean + (1 - cfg.alpha) * new_mean
        std = (cfg.alpha * std + (1 - cfg.alpha) * new_std).clamp_min(cfg.min_std)
    return best
    # END SOLUTION


# %% tags=["exercise:1.3", "points:4"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.cem_plan()

# %% [markdown]
# ### Your planners, side by side
# Random shooting scores its candidates with your `random_shooting_scores`; CEM is your
# `cem_plan`. Both plan from the same state (the pendulum hanging down) with the same number of
# model rollouts; we score each plan with the model and with the true dynamics.

# %% tags=["training"]
obs0 = envs.pendulum_obs(torch.tensor([np.pi, 0.0]))
budget = cfg.planner.n_candidates * cfg.planner.n_iters          # model rollouts per plan
shooting_cfg = planning.CEMConfig(n_candidates=budget)
plan_gen = cl.utils.torch_generator(1)                           # the planners' own random numbers


def plan_and_score():
    plans = {"random shooting": planning.random_shooting(
                 random_shooting_scores, model.mean_step, obs0, shooting_cfg, plan_gen),
             "CEM": cem_plan(model.mean_step, obs0, None, cfg.planner, plan_gen)}
    with torch.no_grad():  # each plan's return predicted by the model, and the real one
        return {name: [float(random_shooting_scores(step, obs0, plan[None])[0])
                       for step in (model.mean_step, envs.pendulum_step_obs)]
                for name, plan in plans.items()}


for name, (predicted, real) in precomputed.run_or_load("part1_two_planners", plan_and_score).items():
    print(f"{name:>15}: predicted return {predicted:7.2f}, real return {real:7.2f}")

# %% [markdown]
# ### MPC with periodic refits, live
# Now the whole loop, planned by your `cem_plan` (`planning.as_planner` only fixes its `cfg`
# and `generator`, so that MPC can call it as `planner(step, obs, init_mean)`): two MPC episodes
# of 200 real steps, refitting the model on all data every 100 steps. The figure below follows
# the episode as it runs: in blue the executed trajectory, in orange the plan the model
# predicted at the current step. After the run, drag the slider to see the plan made at any
# step. (While Exercise 1.1, 1.2 or 1.3 is unfinished, the figure shows the solution's run.)
#
# ![The last MPC episode of the solution's run, at step 25](../assets/part1_mpc_episode.png)
#
# *The picture shows the solution's run at step 25 of its second episode, for readers without
# a running kernel.*

# %% tags=["demo"]
live = part1.MPCEpisodeDemo(log=planning.EpisodeLog(), horizon=cfg.planner.horizon)
live.show()

# %% tags=["training"]
planner = planning.as_planner(cem_plan, cfg.planner, cl.utils.torch_generator(2))
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

# %% tags=["training"]
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

# %% tags=["demo"]
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

# %% tags=["demo"]
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

# %% tags=["training"]
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
# ### How far ahead can backpropagation look?
# Improving a 20-step return is not swinging the pendulum up: that takes longer than 20 steps
# ($1$ s), and a policy trained on $T$-step returns is only asked to look $T$ steps ahead. So
# train at longer horizons? We did, once and for all, because it takes minutes: for three
# seeds, MBRL v1.5 as above gave a learned model, and a policy was trained on it by BPTT at
# each horizon $T$, from the same initial weights and for the same number of updates (the
# compute per update grows with $T$). We measured the real return of 200-step episodes (the
# evaluation episodes of MPC) every 50 updates, and the gradient norm at every update.

# %% tags=["training"]
sweep = gradients.load_horizon_sweep()
print("committed data, made by:", sweep["command"])
final = sweep["real_return"].mean(-1)[:, :, -1]                  # (seeds, horizons)
per_step = sweep["objective"] / np.array(sweep["horizons"])[:, None]  # model return per step
print(f"real return after {sweep['eval_updates'][-1]} updates, seeds {sweep['seeds']}; "
      "model return per step, first update -> last 20; largest gradient norm:")
for j, T in enumerate(sweep["horizons"]):
    print(f"  T = {T:3d}: {np.round(final[:, j]).astype(int)}   {per_step[:, j, 0].mean():5.2f} -> "
          f"{per_step[:, j, -20:].mean():5.2f}   {sweep['grad_norm'][:, j].max():.2g}")
print("MPC (v1.5) on the same models:", np.round(sweep["mpc_return"].mean(-1)).astype(int))

# %% [markdown]
# Drag the horizon. Left: the real return while training at $T$, one line per seed, and MPC
# on the same models (dashed). Middle: the gradient norm $\|\partial J_T/\partial\theta\|$ at
# every update. Right: the return after the last update against $T$.
#
# ![The horizon sweep at T = 50](../assets/part1_bptt_horizons.png)

# %% tags=["training"]
horizon_demo = part1_v20.BPTTHorizonDemo(sweep)
horizon_demo.show()

# %% [markdown]
# What the sweep shows, as the table above prints it:
# * **short horizons are myopic.** With $T \le 10$ no seed swings up: the policy is
#   trained to do well over the next half second, and a swing-up takes several pumps, longer
#   than that.
# * **long horizons do not train.** From $T = 75$ on no seed swings up either, even the model
#   return per step ends lower than at $T$ = 20 to 50, and the gradient norms grow by orders
#   of magnitude (to inf at the longest horizon): the return is a long composition of the
#   model, and its gradient explodes.
# * **in between, it works, sometimes.** For $T$ of 20 to 50 some seeds swing up (not
#   all: one seed never does at any horizon, with this budget), while MPC on the very same
#   models swings up for every seed.
#
# MBRL v2.0 fails where the lecture says it does. The rest of the notebook explains why.

# %% [markdown]
# ### Where the gradient comes from
# Write $A_j = \frac{\partial f}{\partial s}(s_j, a_j)$ and
# $B_j = \frac{\partial f}{\partial a}(s_j, a_j)$ for the model's Jacobians, and
# $K_j = \frac{\partial \pi_\theta}{\partial s}(s_j)$ for the policy's. Nudge the action at step $t$
# and let the policy keep acting: the nudge moves $s_{t+1}$ by $B_t$, and each later state moves
# the next one *directly* and *through the action the policy takes there*, by the closed-loop
# Jacobian $\tilde A_j = A_j + B_j K_j$. So
#
# $$\frac{dJ}{da_t} = \frac{\partial r_t}{\partial a_t} + \sum_{k=t+1}^{T-1}
# \frac{d r_k}{d s_k}\, \tilde A_{k-1} \tilde A_{k-2} \cdots \tilde A_{t+1}\, B_t,
# \qquad \frac{d r_k}{d s_k} = \frac{\partial r}{\partial s} + \frac{\partial r}{\partial a} K_k,
# \qquad \nabla_\theta J = \sum_{t} \frac{dJ}{da_t}\, \frac{\partial \pi_\theta}{\partial \theta}(s_t),$$
#
# with the latest Jacobian on the left (the empty product, for $k = t + 1$, is the identity).
# Every reward $k > t$ reaches $a_t$ through a **product of Jacobians**. For an open-loop action
# sequence, as MPC plans, nothing reacts: $K = 0$ and $\tilde A_j = A_j$. You compute that
# gradient next, then the closed-loop product.

# %% [markdown]
# ### Exercise 1.4 · The pathwise gradient of the return (3 points)
# For a fixed action sequence $a_0, \dots, a_{T-1}$, the return $J = \sum_{t=0}^{T-1} r(s_t, a_t)$
# with $s_{t+1} = f(s_t, a_t)$ is a differentiable function of the actions, and backpropagation
# through time gives $\partial J / \partial a_t$ for every $t$ at once. Complete
# `action_sequence_gradient(step, obs, actions)`, by autograd.
#
# * `step` as in 1.1 (the true pendulum `envs.pendulum_step`, a toy model or the learned model);
# * `obs`: tensor `(O,)`, the start state $s_0$; `actions`: tensor `(T, A)`;
# * returns a tensor `(T, A)` whose row $t$ is $\partial J / \partial a_t$.
#
# Success: the check passes on the pendulum (also near upright, where early actions matter
# most), on a linear toy model with 2-d actions, and for a single step. Your function then
# draws the gradient curves below, and drives gradient descent and Newton's method after them.
#
# <details><summary>Hint</summary>
#
# Make a copy of the actions that requires gradients
# (`actions.detach().clone().requires_grad_(True)`), roll the model forward from `obs` as a
# batch of one (`obs[None]`, `a[t][None]`), add *all* rewards into $J$ and call
# `torch.autograd.grad(J, a)`. Do not detach the state: the gradient of a late reward reaches
# an early action through it.
# </details>

# %% tags=["solution:1.4"]
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


# %% tags=["exercise:1.4", "points:3"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.action_sequence_gradient()

# %% [markdown]
# Your gradient on the learned model, from a real state where MPC was balancing the pendulum,
# with the actions MPC executed from there, for three horizons:

# %% tags=["training"]
log = result.episodes[-1]
t0 = part1.first_upright_step(log)
obs_t0 = torch.as_tensor(log.obs[t0])
executed = torch.as_tensor(np.array(log.actions[t0:]))
curves = precomputed.run_or_load("part1_bptt_curves", lambda: {
    T: torch.as_tensor(action_sequence_gradient(model_step, obs_t0, executed[:T])).norm(dim=-1).numpy()
    for T in (10, 40, len(executed))})
part1_v20.plot_bptt_gradients(curves);

# %% [markdown]
# Early actions get gradients many orders of magnitude larger than late ones: no single
# learning rate suits them all. The optimisation is **ill-conditioned**.
#
# ### What a second-order method does
# Take the cleanest case: the pendulum linearised at upright, $s_{t+1} = A s_t + B a_t$, with
# its own quadratic reward $-(\theta^2 + 0.1\,\dot\theta^2 + 0.001\,a^2)$ (and no torque limit).
# Then $J(a)$ is exactly quadratic, its Hessian $H = \partial^2 J/\partial a^2$ is a constant
# matrix, and its condition number $\kappa$ says how badly the directions disagree.
# **Gradient ascent** $a \leftarrow a + \eta\, \nabla J$ must take a step $\eta \le 1/L$ for the
# most curved direction ($L = |\lambda|_{\max}$; we even give it that best fixed step), and then
# crawls along the flattest one: it needs about $\kappa$ iterations. **Newton's method**
# $a \leftarrow a - H^{-1} \nabla J$ divides each direction by its own curvature: one step
# lands on the optimum of a quadratic. Both run on your gradient; the Hessian is its
# derivative, by finite differences ($2T$ more gradient calls per Newton step: the budgets
# differ, and the table says by how much). $J^\star$ is the optimum, which dynamic programming
# computes exactly (below).

# %% tags=["training"]
lq, s_near = shooting.upright_pendulum(), torch.tensor([0.2, 0.0], dtype=torch.float64)


def descent_and_newton(n_descent=200):
    out = {}
    for T in (5, 10, 20, 40):
        a0 = torch.zeros(T, 1, dtype=torch.float64)
        r = shooting.descent_vs_newton(action_sequence_gradient, lq, s_near, a0, n_descent=n_descent)
        a_lqr, gains = shooting.lqr(lq, s_near, T)   # dynamic programming, below
        out[T] = {**r, "optimum": shooting.sequence_return(lq, s_near, a_lqr), "lqr_actions": a_lqr,
                  "gains": gains}
    return out


newton = precomputed.run_or_load("part1_newton", descent_and_newton)
for T, r in newton.items():
    n = len(r["descent"]) - 1
    print(f"T = {T:2d}: kappa = {r['kappa']:8.2g};  J* - J after {n} ascent steps: "
          f"{r['optimum'] - r['descent'][-1]:8.2g} ({n} gradient calls); after 1 Newton step: "
          f"{r['optimum'] - r['newton'][-1]:8.2g} ({2 * T + 1} gradient calls)")
part1_v20.plot_descent_vs_newton(newton);

# %% [markdown]
# The condition number grows exponentially with $T$, like the Jacobian products, and gradient
# ascent slows down with it: at the shortest horizons it converges, at the longest it has
# barely moved along the flattest directions after 200 steps. One Newton step
# closes the gap at every horizon here. Its gap is largest at the longest horizon, though: our
# Hessian is a finite-difference estimate, and solving with a matrix of condition number
# $\kappa$ can amplify its errors up to $\kappa$ times. Second-order information fixes the
# conditioning only as far as the Hessian is accurate.

# %% [markdown]
# ### Dynamic programming: the fix for action sequences, not for policies
# The **LQR** solves the same problem without ever forming $H$. It works backwards in time on
# the *value function* $V_t(s) = -s^\top P_t s$: at each step, the best action given the value
# of the next state, $a_t = K_t s_t$ with $K_t = -(R + B^\top P_{t+1} B)^{-1} B^\top P_{t+1} A$,
# and $P_t$ from $P_{t+1}$ (the Riccati recursion). That is $T$ small solves, well conditioned
# (each involves one step's $A$ and $B$, never a product of $T$ Jacobians), and the answer is
# exactly Newton's. On a nonlinear model, **DDP / iLQR** repeat this around the current
# trajectory, with Newton-like convergence.

# %% tags=["demo"]
for T, r in newton.items():
    gap = (r["lqr_actions"] - r["newton_actions"]).abs().max()
    K = r["gains"][:, 0].numpy().round(2)                       # (T, 2): K_t = (k_theta, k_theta_dot)
    print(f"T = {T:2d}: largest |a_LQR - a_Newton| = {gap:.2g};  gains K_0 = {K[0]}, K_T-2 = {K[-2]}, "
          f"K_T-1 = {K[-1] + 0}")

# %% [markdown]
# LQR and Newton agree to the precision of the finite differences (less of it as $\kappa$
# grows: it is Newton's Hessian that loses digits). And the answer is a **time-varying**
# feedback, one gain $K_t$ per step: the same gain far from the end, weaker near it, and zero
# at the last step, whose action only moves a state that earns nothing.
#
# Why not do the same for a policy? Dynamic programming works because each $a_t$ is a decision
# of its own stage: once $V_{t+1}$ is known, $a_t$ can be optimised alone, backwards, one stage
# at a time. A policy's parameters $\theta$ are shared by **every** stage: changing $\theta$
# to improve step $t$ also changes what the policy does at every other step, so there is no
# stage-by-stage recursion, and no LQR-like second-order method for $\theta$. Its Hessian couples
# all time steps, and first-order BPTT through products of Jacobians is what remains.

# %% [markdown]
# ### Exercise 1.5 · The closed-loop Jacobian of T steps (2 points)
# Back to the policy. Complete `closed_loop_product(ds, da, dpi)`: given the model's Jacobians
# and the policy's along $T$ steps, return $\partial s_T/\partial s_0$ when the policy acts at
# every step: how a small change of the start state moves the state $T$ steps later.
#
# * `ds`: tensor `(T, S, S)`, `ds[t]` $= A_t$; `da`: tensor `(T, S, A)`, `da[t]` $= B_t$;
#   `dpi`: tensor `(T, A, S)`, `dpi[t]` $= K_t$ (zeros for an open-loop sequence);
# * returns a tensor `(S, S)`; for $T = 0$ it is $\partial s_0/\partial s_0$.
#
# Success: the check passes open loop (the pendulum falling), closed by a stabilising feedback,
# for non-commuting random steps, with 3-d states and 2-d actions, $T = 1$ and $T = 0$. Your
# function then checks the formula above, and computes every Jacobian product that follows.
#
# <details><summary>Hint</summary>
#
# By the chain rule $\partial s_T/\partial s_0 = \tilde A_{T-1} \cdots \tilde A_1 \tilde A_0$ with
# $\tilde A_t = A_t + B_t K_t$: the latest Jacobian multiplies on the *left*. Start from the
# identity, the empty product, and multiply the $\tilde A_t$ in one at a time.
# </details>

# %% tags=["solution:1.5"]
def closed_loop_product(ds: torch.Tensor, da: torch.Tensor, dpi: torch.Tensor) -> torch.Tensor:
    """(A_{T-1} + B_{T-1} K_{T-1}) ... (A_0 + B_0 K_0). ds (T,S,S), da (T,S,A), dpi (T,A,S) -> (S,S)."""
    # BEGIN SOLUTION
    product = torch.eye(ds.shape[-1], dtype=ds.dtype)
    for t in range(ds.shape[0]):
        product = (ds[t] + da[t] @ dpi[t]) @ product
    return product
    # END SOLUTION


# %% tags=["exercise:1.5", "points:2"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.closed_loop_product()

# %% [markdown]
# First, the formula. Along 40 steps of the trained policy on the learned model, from the
# balancing state above, we compute $dJ/da_t$ three ways: by autograd, by the formula with
# your closed-loop products, and by the same formula with $K = 0$ (forgetting that the policy
# reacts). Then the largest singular value of the products over $k$ steps, open loop
# ($\prod A_j$) and closed loop ($\prod \tilde A_j$), along the rollouts of the trained and of
# an untrained policy.

# %% tags=["training"]
untrained = gradients.MLPPolicy(3, 1, hidden=32, generator=cl.utils.torch_generator(5))


def closed_loop_study():
    jac = gradients.closed_loop_jacobians(policy, model_step, obs_t0.float(), 40)
    autograd = gradients.policy_action_gradient(policy, model_step, obs_t0.float(), 40)
    formula = gradients.chain_rule_action_gradients(closed_loop_product, jac)
    no_feedback = gradients.chain_rule_action_gradients(closed_loop_product,
                                                        {**jac, "dpi": torch.zeros_like(jac["dpi"])})
    out = {"autograd": autograd, "formula": formula, "no feedback": no_feedback, "curves": {}}
    for name, pol in (("trained", policy), ("untrained", untrained)):
        j = jac if pol is policy else gradients.closed_loop_jacobians(pol, model_step, obs_t0.float(), 40)
        out["curves"][f"{name} policy, open loop"] = gradients.product_singular_values(
            closed_loop_product, j["ds"])[:, 0].numpy()
        out["curves"][f"{name} policy, closed loop"] = gradients.product_singular_values(
            closed_loop_product, j["ds"], j["da"], j["dpi"])[:, 0].numpy()
    return out


study = precomputed.run_or_load("part1_closed_loop", closed_loop_study)
scale = study["autograd"].abs().max()
for name in ("formula", "no feedback"):
    diff = (study[name] - study["autograd"]).abs().max() / scale
    print(f"{name:>11}: largest difference from autograd {diff:.2g} (relative to the largest gradient)")
part1_v20.plot_closed_loop(study["curves"]);

# %% [markdown]
# The formula with your product is autograd's gradient; without the policy's feedback it is
# a different number. And the feedback decides whether the products explode: along the
# rollout of a policy that holds the pendulum up, its own reactions damp each perturbation, so
# the closed-loop products can stay bounded while the open-loop products of the same states
# explode; a policy that does not hold anything has closed-loop products that grow like the
# pendulum's own. Compare the two pairs of curves: the trained policy (100 updates at
# $T = 20$) and the untrained one. Training *starts* from a policy that does not stabilise,
# and a swing-up cannot be a contraction: it must amplify small pushes into a big swing. So
# the products BPTT multiplies grow with $T$ where it matters, as the horizon sweep's
# gradient norms did.

# %% [markdown]
# ### Explore: horizon and curvature
# The slider demo uses the true pendulum held near upright by a PD controller, with its
# gravity scaled by a *gain* (0 = no gravity: flat dynamics; larger = more curved, more
# unstable). Left: the gradient for each action of the open-loop sequence at horizon $T$, by
# your `action_sequence_gradient`. Right: the singular values of the Jacobian products over
# $k$ steps by your `closed_loop_product`, open loop, and closed by the PD controller (dashed).
# Both are computed once, when the cell runs (all gains side by side as one system); the
# sliders only look them up. Points that overflow the chart are clipped and marked ×.
#
# ![The gradient demo at its default setting, T = 60, gain 1](../assets/part1_gradients.png)

# %% tags=["training"]
grid = precomputed.run_or_load(
    "part1_gradient_grid", lambda: part1.gradient_grid(action_sequence_gradient, closed_loop_product))
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
# same rate (the step preserves area, so $\sigma_{\max}\sigma_{\min} = 1$). The PD controller
# that flew the trajectory closes the loop into a contraction at every gain: the same states,
# with the controller's reactions counted, give products that shrink.
# </details>

# %% [markdown]
# ### Why not use an LSTM's trick?
# RNNs escape this pathology by *designing* the recurrence: an LSTM's cell state has a
# Jacobian close to the identity, so products of Jacobians neither explode nor vanish. We
# cannot do that: the recurrence is $\hat f$, and $\hat f$ has to match the real pendulum,
# Jacobians included. Along the real balancing trajectory, the true pendulum stretches one
# direction by a factor above 1 per step on average (right panel), and so does the learned
# model: their open-loop products (your `closed_loop_product` again, with $K = 0$) grow
# together, exponentially (left panel). A recurrence with the identity Jacobian has perfect
# gradients, and it predicts a pendulum that never moves.

# %% tags=["training"]
lstm_curves = precomputed.run_or_load("part1_lstm_comparison", lambda: part1_v20.lstm_comparison(
    closed_loop_product, model_step, np.array(log.obs[t0:-1]), np.array(log.actions[t0:])))
part1_v20.plot_lstm_comparison(lstm_curves);

# %% [markdown]
# **Conclusion.** Backpropagating through long chains of a learned model behaves like naive
# BPTT in an RNN, and we are not free to fix the chain. For action sequences, dynamic
# programming (LQR, DDP) is the second-order fix; for a policy's shared parameters there is
# none. Most practical model-based methods therefore use the model as a **simulator** that
# generates synthetic experience, and train the policy with derivative-free (model-free) RL on
# it. Part 2 explains how, and what long model rollouts cost.

# %% [markdown]
# Which of this notebook's exercises pass now? `checks.status()` runs their visible checks again (quietly) and counts the points; run it whenever you like.

# %% tags=["demo"]
from course_lib import checks

checks.status()

# %% [markdown]
# ## Summary
# * MPC (MBRL v1.5) plans an open-loop action sequence on a learned model, executes its
#   first action and replans; with periodic refits it swings the pendulum up within 600
#   real steps. Your scorer, CEM update and CEM loop were its planner.
# * Open-loop plans ignore that information will arrive; replanning recovers part of the
#   loss, but only a closed-loop policy $\pi(a \mid s)$ values acting to get information.
# * Training that policy by backpropagating through the model (MBRL v2.0) is myopic at short
#   horizons and does not train at long ones, where its gradients explode; in between it
#   works for some seeds. The gradient is a sum of products of closed-loop Jacobians that
#   explode and vanish, and the optimisation is ill-conditioned.
# * Newton's method fixes the conditioning of an action sequence, and dynamic programming
#   (LQR, DDP) computes that step stage by stage; a policy's parameters couple all stages, so
#   neither applies to them. Unlike an RNN designer, we cannot choose the dynamics.
#
# ## Going further
# * `course_lib.planning.as_planner` turns any `plan(step, obs, init_mean, cfg, generator)` into
#   MPC's planner. Try your `cem_plan` with `alpha = 0`, more iterations, or without keeping the
#   best sequence seen, and time it.
# * Regenerate the horizon sweep with other seeds or a lower learning rate
#   (`scripts/part1_bptt_horizons.py`): does gradient clipping rescue the long horizons?
# * Replace `model_step` by `envs.pendulum_step_obs` in section 3: are the true dynamics'
#   gradients any better behaved than the learned model's?
# * Read about *PILCO* (Deisenroth & Rasmussen, 2011), which makes backpropagation through
#   a learned model work with Gaussian-process models and analytic moment matching, and about
#   iLQR/DDP (Tassa, Erez & Todorov, 2012) for the dynamic-programming route.
