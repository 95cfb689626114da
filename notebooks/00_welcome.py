# %% [markdown]
# # 0 · Welcome: the tools of this course
#
# This course follows one lecture on **model-based policy learning**, in four notebooks:
#
# | Part | Notebook | The question it answers |
# |---|---|---|
# | 1 | `01_mpc_and_backprop.ipynb` | MPC plans open-loop action sequences. Why not train a policy by backpropagating through the learned model? |
# | 2 | `02_gradients_and_compounding_error.ipynb` | Why do long model rollouts fail, and what do short ones buy us? |
# | 3 | `03_dyna_mve_mbpo.ipynb` | How do Dyna, MVE and MBPO use a model as a data generator for off-policy RL? |
# | 4 | `04_successor_representations.ipynb` | Can we model the *future state distribution* directly instead of rolling out one step at a time? |
#
# **In the next fifteen minutes you will**
# 1. check that your environment works (torch, gymnasium, widgets);
# 2. drag a slider that drives a live plot, the way every part of the course does;
# 3. write two short functions, see how they are checked, and watch the cells after them run
#    *your* code: that is how every exercise of the course works.

# %% [markdown] tags=["exercise-overview"]
# **Exercises in this notebook** (2, 5 points)
#
# | Exercise | What you write | Points | Where |
# |---|---|---|---|
# | 0.1 | `discounted_return`: Discounted return | 2 | 2. A slider that drives a live plot |
# | 0.2 | `rollout`: A batched rollout | 3 | 3. Progress bars and the Pendulum |
#
# The cell `checks.status()` near the end of the notebook says which of them pass now: run it whenever you like.

# %% [markdown]
# ## Setup
# Every notebook starts the same way: the widget backend for live plots, the course's helper
# package under a short name, and one seed for everything. Functions that draw random numbers
# take an explicit generator such as `rng`, so a rerun reproduces every number.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

import course_lib as cl
from course_lib import envs, precomputed
from course_lib.demos import welcome

cl.live_figures()  # interactive figures (ipympl), or images redrawn in place without it (Colab)
rng = cl.seed_everything(0)

# %% [markdown]
# ## 1. Is everything installed?
# The next cell prints the versions the course runs on. If it raises, its message tells you
# the command to run.

# %% tags=["demo"]
for package, version in cl.utils.environment_report().items():
    print(f"{package:>14}: {version}")

# %% [markdown]
# ## 2. A slider that drives a live plot
# The objective of every algorithm in this course is a discounted return,
#
# $$J = \sum_{t=0}^{T-1} \gamma^t r_t .$$
#
# The discount $\gamma$ decides how far into the future the return looks: the weights
# $\gamma^t$ fall off with a time constant of about $1/(1-\gamma)$ steps, the
# *effective horizon*. Drag the slider and watch both panels.
#
# ![The discount demo at its default setting, γ = 0.9](../assets/welcome_discount.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %% tags=["demo"]
discount_demo = welcome.DiscountDemo()
discount_demo.show()


# %% [markdown]
# **Question.** Model-based methods roll a learned model forward for some number of steps.
# Which slider setting makes a return depend on predictions more than 100 steps ahead?
#
# <details><summary>Answer</summary>
#
# With $\gamma = 0.99$ the effective horizon is 100 steps, and the steps beyond it still
# carry about a third of the weight (the readout prints the share for the first $1/(1-\gamma)$
# steps). In Part 2 you will see why predictions that far ahead are a problem when each
# model step is slightly wrong.
# </details>

# %% [markdown]
# ### How exercises work
# An exercise is a function to complete, placed where its idea is taught. In your version of the
# notebook its body is
#
# ```python
# # YOUR CODE HERE
# raise NotImplementedError("Exercise 0.1: your code here")
# ```
#
# Replace those two lines, run the cell, then run the **check cell** below it. A check cell
# tests your function on several cases, including edge cases, and either prints
# `Exercise 0.1 passed ...` or stops with a message saying which case failed, what was
# expected and what came back. Do not edit check cells: the grader puts back the original
# ones before it runs your notebook, and it also tries your function on inputs you have not seen.
#
# The cells after an exercise use your function. While it is unfinished they show the
# results of the course's solution instead, and say so in one line.

# %% [markdown]
# ### Exercise 0.1 · Discounted return (2 points)
# Write `discounted_return(rewards, gamma)`: the return $J$ above of every trajectory in a batch.
#
# * `rewards`: NumPy array of shape `(B, T)`, the rewards of `B` trajectories of length `T`;
# * `gamma`: a float in $[0, 1]$;
# * returns: NumPy array of shape `(B,)`, one return per trajectory.
#
# Success: the check passes for a random batch, $\gamma = 0$, $\gamma = 1$, $T = 1$ and a long
# trajectory. No Python loop over the batch is needed.
#
# <details><summary>Hint</summary>
#
# The weights $\gamma^0, \gamma^1, \dots, \gamma^{T-1}$ form one vector
# (`gamma ** np.arange(T)`); a matrix–vector product applies it to every row at once.
# </details>

# %% tags=["solution:0.1"]
def discounted_return(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """J_b = sum_t gamma^t r_{b,t}. rewards: (B, T) -> (B,)."""
    # BEGIN SOLUTION
    discounts = gamma ** np.arange(rewards.shape[1])
    return rewards @ discounts
    # END SOLUTION


# %% tags=["exercise:0.1", "points:2"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.discounted_return()

# %% [markdown]
# ## 3. Progress bars and the Pendulum
# Long loops show a progress bar (`tqdm`). Here we run a few episodes of gymnasium's
# `Pendulum-v1` with random torques, the baseline every later part has to beat, and score
# them with your `discounted_return`.

# %% tags=["demo"]
env, _ = envs.make_pendulum(seed=0)
env.action_space.seed(0)
episode_rewards = []
for episode in tqdm(range(5), desc="random episodes"):
    obs, _ = env.reset(seed=episode)
    rewards, done = [], False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        rewards.append(reward)
        done = terminated or truncated
    episode_rewards.append(rewards)
episode_rewards = np.array(episode_rewards)  # (5, 200)

# %% tags=["training"]
random_returns = precomputed.run_or_load(
    "welcome_random_returns",
    lambda: {gamma: discounted_return(episode_rewards, gamma) for gamma in (0.9, 0.99, 1.0)})
for gamma, J in random_returns.items():
    print(f"gamma = {gamma:<4}: mean return of the random policy {J.mean():8.1f}")

# %% [markdown]
# Throughout the course we also use the pendulum's **true dynamics as a batched torch
# function**, `envs.pendulum_step(state, action)`: it steps thousands of states at once and it is
# differentiable. Here we replay 200 random torques through gymnasium and, at every step,
# compare `env.step` with the torch function applied to the env's own state.

# %% tags=["demo"]
env.reset(seed=123)
max_gap = 0.0
for u in rng.uniform(-2, 2, size=(200, 1)):
    state = torch.tensor(env.unwrapped.state, dtype=torch.float64)
    next_state, r_torch = envs.pendulum_step(state, torch.tensor(u))
    obs, reward, *_ = env.step(u.astype(np.float32))
    obs_gap = np.abs(envs.pendulum_obs(next_state).numpy() - obs).max()
    max_gap = max(max_gap, float(obs_gap), abs(float(r_torch) - reward))
print(f"largest gap between torch and gymnasium over 200 steps: {max_gap:.1e}")


# %% [markdown]
# ### Exercise 0.2 · A batched rollout (3 points)
# Every model-based method in this course rolls a model forward under a policy. Write
# `rollout(step, policy, state, T)`, which does that for a whole batch of start states at once.
#
# * `step(state, action) -> (next_state, reward)` is a model such as `envs.pendulum_step`:
#   `state` `(B, S)`, `action` `(B, A)`, `next_state` `(B, S)`, `reward` `(B,)`;
# * `policy(state) -> action` maps `(B, S)` to `(B, A)`;
# * `state`: tensor `(B, S)`, the start states; `T`: the number of steps;
# * returns `(states, rewards)`: `states` of shape `(B, T + 1, S)` with the start state first, and
#   `rewards` of shape `(B, T)`, where `rewards[:, t]` is the reward of the move from `states[:, t]`.
#
# Success: the check passes on the pendulum, a linear system with 2-d actions, $T = 1$, $T = 0$
# (no steps: only the start states, and an empty `(B, 0)` tensor of rewards) and a long rollout.
#
# <details><summary>Hint</summary>
#
# Keep two Python lists, append to them in a loop over time (not over the batch), and stack them
# along dimension 1 at the end. `torch.stack` of an empty list fails, so build the `T = 0`
# rewards with `torch.zeros(B, 0)`.
# </details>

# %% tags=["solution:0.2"]
def rollout(step, policy, state: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Roll `policy` through `step` for T steps. state (B, S) -> states (B, T+1, S), rewards (B, T)."""
    # BEGIN SOLUTION
    states, rewards = [state], []
    for _ in range(T):
        state, reward = step(state, policy(state))
        states.append(state)
        rewards.append(reward)
    if not rewards:
        return torch.stack(states, 1), torch.zeros(state.shape[0], 0, dtype=state.dtype)
    return torch.stack(states, 1), torch.stack(rewards, 1)
    # END SOLUTION


# %% tags=["exercise:0.2", "points:3"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.rollout()


# %% [markdown]
# ### Your rollout swings the pendulum
# The motor is too weak to lift the pendulum straight up: at most 2 units of torque against
# gravity's 5 at the horizontal. But torque *in the direction of motion* adds energy on every
# swing. Your `rollout` runs that policy and a motor that does nothing from 16 starts near the
# bottom, and your `discounted_return` scores them.

# %% tags=["training"]
def pump(state):
    """Full torque along the motion: adds energy to every swing."""
    return 2.0 * torch.sign(state[:, 1:2])


def do_nothing(state):
    return torch.zeros(state.shape[0], 1, dtype=state.dtype)


gen = cl.utils.torch_generator(0)
starts = torch.stack([np.pi + 0.2 * torch.randn(16, generator=gen, dtype=torch.float64),
                      0.5 * torch.randn(16, generator=gen, dtype=torch.float64)], -1)
swings = precomputed.run_or_load(
    "welcome_swings",
    lambda: {name: rollout(envs.pendulum_step, policy, starts, 200)
             for name, policy in {"pump": pump, "do nothing": do_nothing}.items()})

# %% tags=["training"]
fig, ax = plt.subplots(figsize=(6.5, 3), layout="constrained")
for (name, (states, _)), color in zip(swings.items(), ["C0", "C1"], strict=True):
    height = -torch.cos(states[..., 0])  # -1 at the bottom, +1 upright
    ax.plot(height.T.numpy(), color=color, lw=0.7, alpha=0.6)
    ax.plot([], color=color, label=name)
ax.set(xlabel="step t", ylabel="height of the tip", title="16 starts near the bottom")
ax.legend(loc="lower right")
plt.show()

# %% tags=["training"]
scores = precomputed.run_or_load(
    "welcome_swing_returns",
    lambda: {name: discounted_return(rewards.numpy(), 0.99) for name, (_, rewards) in swings.items()})
for name, (states, _) in swings.items():
    upright = (torch.cos(states[..., 0]) > 0.95).any(1).float().mean()
    print(f"{name:>10}: {upright:.0%} of the starts reach the top; "
          f"mean return (gamma = 0.99) {scores[name].mean():.1f}")

# %% [markdown]
# **Question.** Look at the pumped curves after they first reach the top. What happens
# there, and what would it take to stay up?
#
# <details><summary>Answer</summary>
#
# Pumping never stops: once over the top the pendulum keeps spinning, so it passes the upright
# position for an instant each turn and spends most steps far from it. Holding it upright needs
# a controller that looks ahead, which is what the planner of Part 1 does with a model.
# </details>

# %% [markdown]
# Which of this notebook's exercises pass now? `checks.status()` runs their visible checks again (quietly) and counts the points; run it whenever you like.

# %% tags=["demo"]
from course_lib import checks

checks.status()

# %% [markdown]
# ## Summary
# * Notebooks import one small package, `course_lib`; seeds and generators are explicit.
# * Live plots update in place when you drag a slider; a static image sits beside each.
# * Exercises: fill in the stub, run the check cell, read its message when it fails. The cells
#   after an exercise run your function; until it is done they show the solution's results.
#
# ## Going further
# * Open `course_lib/demos/welcome.py`: a live demo is a class with `build` (draw once) and
#   `update` (move artists). Write your own for $\gamma^t r_t$ with a reward sequence you choose.
# * Open `course_lib/precomputed.py`: the one function that lets a demo run your code or fall back
#   to the solution's results.
