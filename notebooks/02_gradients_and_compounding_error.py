# %% [markdown]
# # 2 · Gradients through a model, and why long model rollouts drift
#
# Part 1 ended on a problem: backpropagating through many steps of a learned model multiplies
# many Jacobians, and the gradient explodes or vanishes. This part follows the lecture's way out
# and the next problem it runs into.
#
# **In this notebook you will**
# 1. write the two gradient estimators of an expectation, *likelihood ratio* (REINFORCE) and
#    *pathwise* (backprop) (Exercises 2.1 and 2.2), and run them through a chaotic system: the
#    pathwise variance explodes like $e^{2\lambda T}$; the likelihood ratio's stays put while the
#    noise enters only at the start, and grows too, more slowly, once every step is noisy
#    (sliders: the number of steps $T$);
# 2. write the REINFORCE update (Exercise 2.3), measure its variance against backprop on the
#    Pendulum model, and train a policy with it entirely inside learned Pendulum models
#    (**MBRL v2.5**) fitted to eight different data sets: the return each model promises against
#    the return the real pendulum gives;
# 3. derive the **compounding model error** of the lecture's tightrope (Exercise 2.4): the gap of a
#    $T$-step model rollout grows like $\epsilon T^2$; check the assumption behind it on a learned
#    model, then measure a learned model's own error against $T$ and against the amount of data
#    (sliders: horizon $T$, model error $\epsilon$, data $N$);
# 4. write MBRL v3.0's generator of **short rollouts branched from real states** (Exercise 2.5) and
#    see why they make the gap linear in $T$.
#
# Each exercise sits where its idea is taught, and the cells after it run *your* function; until
# it is done they show the solution's results and say so in one line.

# %% [markdown] tags=["exercise-overview"]
# **Exercises in this notebook** (5, 13 points)
#
# | Exercise | What you write | Points | Where |
# |---|---|---|---|
# | 2.1 | `likelihood_ratio_grad`: The likelihood-ratio estimator | 2 | 1. Two ways to differentiate an expectation |
# | 2.2 | `reparam_grad`: The pathwise estimator | 1 | 1. Two ways to differentiate an expectation |
# | 2.3 | `reinforce_loss`: The REINFORCE update | 4 | 2. MBRL v2.5: policy gradient inside a learned model |
# | 2.4 | `tightrope_gap`: Derive the tightrope's gap | 3 | 3. Compounding error: $O(\epsilon T^2)$ |
# | 2.5 | `branched_rollouts`: Branched rollouts | 3 | 4. MBRL v3.0: short rollouts branched from real states |
#
# The cell `checks.status()` near the end of the notebook says which of them pass now: run it whenever you like.

# %% [markdown]
# ## Setup
# The widget backend, the course package, one seed. `gen` is the torch generator every sampling
# function below receives.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib as cl
from course_lib import branching, compounding, estimators, policy_gradient, precomputed
from course_lib.demos import part2

cl.live_figures()  # interactive figures (ipympl), or images redrawn in place without it (Colab)
rng = cl.seed_everything(0)
gen = cl.utils.torch_generator(0)


# %% [markdown]
# ## 1. Two ways to differentiate an expectation
# Take $J(\mu) = \mathbb{E}_{x \sim \mathcal{N}(\mu, \sigma^2)}[f(x)]$. Two identities give its gradient,
#
# $$\nabla_\mu J = \underbrace{\mathbb{E}\big[f(x)\,\nabla_\mu \log p_\mu(x)\big]}_{\text{likelihood ratio}}
# = \underbrace{\mathbb{E}_{\epsilon \sim \mathcal{N}(0,1)}\big[\nabla_\mu f(\mu + \sigma\epsilon)\big]}_{\text{pathwise}} .$$
#
# The **likelihood-ratio** (score-function) estimator only needs the *values* of $f$: $f$ can be a
# black box such as a simulator. In RL it is the policy gradient, REINFORCE. The **pathwise**
# (reparameterised) estimator differentiates *through* $f$: in RL it is backpropagation through
# the dynamics, Part 1's method. The lecture's point: the policy gradient is a gradient estimator
# for *any* stochastic computation graph, not only for RL.
#
# Each estimator turns one draw $x_i = \mu + \sigma\epsilon_i$ into one number $g_i$; the average
# of the $g_i$ estimates $\nabla_\mu J$. You write both.

# %% [markdown]
# ### Exercise 2.1 · The likelihood-ratio estimator (2 points)
# Complete `likelihood_ratio_grad(f, mu, sigma, eps)`: one estimate per draw of
# $\frac{d}{d\mu}\mathbb{E}_{x\sim\mathcal{N}(\mu,\sigma^2)}[f(x)]$ from the left-hand identity,
# using only values of $f$ at the draws $x_i = \mu + \sigma\epsilon_i$.
#
# * `f`: an elementwise torch function; `mu`, `sigma`: floats with $\sigma > 0$;
# * `eps`: torch tensor of shape `(N,)` of standard normal draws;
# * returns a torch tensor of shape `(N,)` (the estimate is its mean).
#
# Success: the check passes for $\sin$, $x^3$ with $\sigma = 2$, a tiny $\sigma$ and a single draw, and
# the mean of 200 000 of your estimates matches the exact gradient.
#
# <details><summary>Hint 1: the score</summary>
#
# $\log \mathcal{N}(x; \mu, \sigma^2) = -\frac{(x-\mu)^2}{2\sigma^2} - \log\sigma - \tfrac12\log 2\pi$.
# Differentiate it with respect to $\mu$ (not $x$).
# </details>
#
# <details><summary>Hint 2: the formula</summary>
#
# $g_i = f(x_i)\,\dfrac{x_i - \mu}{\sigma^2}$. Build `x` first, then one line.
# </details>

# %% tags=["solution:2.1"]
def likelihood_ratio_grad(f, mu: float, sigma: float, eps: torch.Tensor) -> torch.Tensor:
    """g_i = f(x_i) (x_i - mu) / sigma^2 with x_i = mu + sigma eps_i. eps: (N,) -> (N,)."""
    # BEGIN SOLUTION
    x = mu + sigma * eps
    return f(x) * (x - mu) / sigma**2
    # END SOLUTION


# %% tags=["exercise:2.1", "points:2"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.likelihood_ratio_grad()


# %% [markdown]
# ### Exercise 2.2 · The pathwise estimator (1 point)
# Complete `reparam_grad(f, mu, sigma, eps)`: one estimate per draw from the right-hand identity, by
# differentiating *through* $f$: $g_i = \frac{d}{d\mu} f(\mu + \sigma\,\epsilon_i)$. Do not work the
# derivative out by hand: let autograd do it, as backprop through a model would.
#
# * same arguments as in 2.1; returns a **detached** torch tensor of shape `(N,)`.
#
# Success: the same cases as 2.1 pass, and your result does not require grad.
#
# <details><summary>Hint</summary>
#
# Make a tensor holding one copy of $\mu$ per draw (`torch.full_like(eps, mu, requires_grad=True)`),
# build $x$ from it, and call `torch.autograd.grad(f(x).sum(), that_tensor)`: the gradient of the
# sum with respect to copy $i$ is $g_i$, because draw $i$ only depends on copy $i$.
# </details>

# %% tags=["solution:2.2"]
def reparam_grad(f, mu: float, sigma: float, eps: torch.Tensor) -> torch.Tensor:
    """g_i = d f(mu + sigma eps_i) / d mu, by autograd. eps: (N,) -> (N,), detached."""
    # BEGIN SOLUTION
    mu_t = torch.full_like(eps, mu, requires_grad=True)
    (grad,) = torch.autograd.grad(f(mu_t + sigma * eps).sum(), mu_t)
    return grad
    # END SOLUTION


# %% tags=["exercise:2.2", "points:1"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.reparam_grad()

# %% [markdown]
# Now your two estimators on $f = \sin$, where the exact answer is $\cos(\mu)\,e^{-\sigma^2/2}$,
# with 100 000 draws. Next to each estimate: its standard error, $z$ = (estimate − exact) /
# standard error, and $p$, the probability that an *unbiased* estimator lands at least $|z|$
# standard errors away by chance.

# %% tags=["training"]
mu, sigma = 0.4, 0.6
eps = torch.randn(100_000, generator=gen, dtype=torch.float64)


def mean_se_var(g):
    """The estimate (the mean of the per-draw estimates), its standard error, the variance per draw."""
    return float(g.mean()), float(g.std() / len(g) ** 0.5), float(g.var())


sin_estimates = precomputed.run_or_load("part2_sin_estimates", lambda: {
    "likelihood ratio": mean_se_var(likelihood_ratio_grad(torch.sin, mu, sigma, eps)),
    "pathwise": mean_se_var(reparam_grad(torch.sin, mu, sigma, eps))})
exact = estimators.gaussian_sin_grad(mu, sigma)
print(f"{'exact':>16}: {exact:.4f}")
for name, (mean, se, var) in sin_estimates.items():
    z = (mean - exact) / se
    print(f"{name:>16}: {mean:.4f} ± {se:.4f}   z = {z:+.2f}, p = {math.erfc(abs(z) / 2**0.5):.2f}   "
          f"variance per draw {var:.3f}")

# %% [markdown]
# Neither average equals the exact gradient, and one standard error does not cover the gap: read
# the $z$ column. What the numbers show is that both misses are of a size an unbiased estimator
# produces by chance ($p$ is a few percent or more), not that either estimator is biased or exactly
# right. One batch cannot tell more; the check of Exercise 2.1 and the course's tests repeat the
# comparison with other draws.
#
# Which estimator has the smaller variance depends on the problem. The likelihood-ratio estimator
# multiplies $f$ by the score $\epsilon/\sigma$, so a narrow distribution makes it noisy:

# %% tags=["training"]
sigma_sweep = precomputed.run_or_load("part2_sigma_sweep", lambda: {
    s: (float(likelihood_ratio_grad(torch.sin, mu, s, eps[:20_000]).var()),
        float(reparam_grad(torch.sin, mu, s, eps[:20_000]).var())) for s in (1.0, 0.3, 0.1, 0.03)})
for s, (v_lr, v_pw) in sigma_sweep.items():
    print(f"sigma = {s:<5} Var[likelihood ratio] = {v_lr:9.3f}   Var[pathwise] = {v_pw:.4f}")

# %% [markdown]
# ### 1.2 Through $T$ steps of a chaotic system
# Now put a dynamical system between the parameter and the objective. Start at
# $x_0 = \theta + \sigma_0\epsilon_0$ and iterate the noisy logistic map
# $x_{t+1} = r\,x_t(1-x_t) + \text{noise}$ (folded back into $[0, 1]$), with $r = 3.9$, a chaotic
# setting; the objective is $J_T(\theta) = \mathbb{E}[x_T]$. It has the form of Section 1 with
# $\mu = \theta$, $\sigma = \sigma_0$ and $f_T(x_0) = x_T$ (each draw with its own noise), so
# `estimators.logistic_gradients` runs *your* two estimators on $f_T$ for every $T$ up to 30.
# Here $\theta$ moves only the start: the noise of the later steps does not depend on it.
#
# * Pathwise: $\frac{dx_T}{d\theta} = \prod_{t<T} f'(x_t)$, a product of $T$ Jacobians, as in
#   backprop through a learned model. Its size grows like $e^{\lambda T}$, where $\lambda$ is the
#   **Lyapunov exponent**, the average log-stretching per step.
# * Likelihood ratio: $x_T\,\epsilon_0/\sigma_0$, a number in $[0, 1]$ times the score of the one
#   draw that depends on $\theta$. No Jacobian anywhere.
#
# $$\lambda = \lim_{T\to\infty} \frac{1}{T} \sum_{t<T} \log\lvert r(1 - 2x_t)\rvert,
# \qquad \mathrm{Var}\big[\hat g_{\text{pathwise}}\big] \sim e^{2\lambda T}.$$

# %% tags=["demo"]
lam = estimators.lyapunov_exponent(3.9, cl.utils.torch_generator(1))
print(f"Lyapunov exponent of the logistic map at r = 3.9: λ = {lam:.3f} per step")
print(f"(the same code at r = 4, where the exact value is ln 2 = {np.log(2):.3f}: "
      f"{estimators.lyapunov_exponent(4.0, gen):.3f})")

# %% tags=["training"]
config = estimators.LogisticConfig()
spread = precomputed.run_or_load("part2_estimator_spread", lambda: part2.estimator_spread(
    *estimators.logistic_gradients(likelihood_ratio_grad, reparam_grad, config, cl.utils.torch_generator(0))))
T = np.arange(config.horizon + 1)
var_lr, var_path = spread.var_likelihood_ratio, spread.var_pathwise  # (T + 1,) each
slope = estimators.log_variance_slope(T[5:], var_path[5:])
print(f"pathwise: slope of log Var over T = 5..{T[-1]}: {slope:.2f} per step; 2λ = {2 * lam:.2f} "
      f"(ratio {slope / (2 * lam):.2f})")
print(f"likelihood ratio: Var between {var_lr[1:].min():.0f} and {var_lr[1:].max():.0f} for T = 1..{T[-1]}")
print(f"pathwise overtakes likelihood ratio at T = {T[1:][var_path[1:] > var_lr[1:]][0]}; at T = {T[-1]} it "
      f"needs {var_path[-1] / var_lr[-1]:.0e} times more samples for the same precision")

# %% [markdown]
# The fitted slope is a bit steeper than $2\lambda$, and that is expected: the variance averages
# the *square* of the product of Jacobians, and by Jensen's inequality
# $\frac1T\log\mathbb{E}\big[(dx_T/d\theta)^2\big] \ge 2\,\mathbb{E}\big[\frac1T\log\lvert dx_T/d\theta\rvert\big] = 2\lambda$:
# the rare trajectories that stretch the most dominate the average. The ratio printed above says
# by how much.
#
# Drag the slider: the left panel marks both variances at $T$ and fits the growth rate of the
# pathwise one from $T = 5$ up to $T$; the right panel shows the spread of the per-sample estimates.
#
# ![Variance of the two estimators through T logistic-map steps, default T = 15](../assets/part2_estimator_variance.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %% tags=["demo"]
variance_demo = part2.EstimatorVarianceDemo(spread, lam)
variance_demo.show()

# %% [markdown]
# **Question.** Backprop through a model is exact differentiation. Why is it *worse* here than an
# estimator that never looks at a derivative? And why does the likelihood ratio's variance not
# grow with $T$ *here*?
#
# <details><summary>Answer</summary>
#
# Each per-sample pathwise gradient is the exact derivative of *one* noisy trajectory, and in a
# chaotic system those derivatives are astronomically large, with random signs, because nearby
# trajectories separate like $e^{\lambda T}$. Their average converges to the smooth gradient of
# the expectation only after a number of samples that grows like $e^{2\lambda T}$. The
# likelihood-ratio estimator never multiplies Jacobians, and in this setting its variance is at
# most $\max f^2\,\mathbb{E}[\epsilon_0^2]/\sigma_0^2 = 1/\sigma_0^2$ whatever $T$ is, **because all
# the noise that depends on $\theta$ enters at $x_0$**: the score is that of a single draw. A
# stochastic policy is different: it draws a fresh action at every step, and its parameters shape
# every one of those draws. That is the next section.
# </details>

# %% [markdown]
# ### 1.3 Noise at every step: the case of a stochastic policy
# Keep the same map and the same draws, but let the parameter move the noise of **every** step,
# as a policy's parameters move every action: $a_t \sim \mathcal{N}(\mu, \sigma_a^2)$ and
# $x_{t+1} = \text{fold}\big(r\,x_t(1-x_t) + a_t\big)$, with $\mu = 0$ and $\sigma_a$ the noise
# level above, so the trajectories are those of Section 1.2. Now $J_T(\mu) = \mathbb{E}[x_T]$ and
# $\mu$ appears once in each step, so $dJ_T/d\mu$ is the sum over steps $s < T$ of the derivative
# with respect to step $s$'s mean alone, which is Section 1's problem with $f = $ "$x_T$ as a function
# of $a_s$". `estimators.per_step_gradients` calls *your* estimators once per step and adds them up:
#
# * likelihood ratio: $x_T \sum_{s<T} \xi_s/\sigma_a$, a sum of $T$ score terms, so its variance
#   should grow about linearly in $T$ (the terms are independent, each of variance
#   $\approx \mathbb{E}[x_T^2]/\sigma_a^2$);
# * pathwise: $\sum_{s<T} \prod_{s<t<T} f'(x_t)$, still products of Jacobians: $e^{2\lambda T}$ again.

# %% tags=["training"]
per_step = precomputed.run_or_load("part2_per_step_spread", lambda: part2.estimator_spread(
    *estimators.per_step_gradients(likelihood_ratio_grad, reparam_grad, config, cl.utils.torch_generator(0))))
v_lr, v_pw = per_step.var_likelihood_ratio, per_step.var_pathwise
p_lr, r_lr = part2.growth_rates(T[2:], v_lr[2:])
p_pw, r_pw = part2.growth_rates(T[5:], v_pw[5:])
print(f"likelihood ratio, T = 2..{T[-1]}: Var ~ T^{p_lr:.2f} (log-log fit); as an exponential, e^({r_lr:.3f} T)")
print(f"pathwise, T = 5..{T[-1]}:         Var ~ e^({r_pw:.2f} T) (semi-log fit; 2λ = {2 * lam:.2f}); "
      f"as a power, T^{p_pw:.1f}")
print(f"pathwise overtakes likelihood ratio at T = {T[1:][v_pw[1:] > v_lr[1:]][0]}")

# %% [markdown]
# Both variances grow now, at very different rates. The likelihood ratio's is a power of $T$ (a
# straight line on log-log axes, with the slope printed above); the pathwise one is exponential
# (a straight line on semi-log axes, and a curve that keeps bending upward on log-log axes). At
# short horizons the pathwise estimator wins by orders of magnitude (the score $1/\sigma_a$ is
# large when the noise is small); past the crossing printed above the likelihood ratio wins, and
# its advantage itself grows exponentially. Drag $T$: the dotted lines are the two fits up to $T$.
#
# ![Both estimators with noise at every step, semi-log and log-log, default T = 20](../assets/part2_per_step_variance.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %% tags=["demo"]
per_step_demo = part2.PerStepVarianceDemo(per_step, spread, lam)
per_step_demo.show()

# %% [markdown]
# ## 2. MBRL v2.5: policy gradient inside a learned model
# The lecture's fix: keep the model, but use it as a *simulator*, not as a differentiable function.
# Sample many trajectories in the model with the current policy and improve the policy with the
# likelihood-ratio gradient (REINFORCE with reward-to-go $G_{i,t}$ and a per-step baseline $b_t$):
#
# $$\nabla_\theta J \approx \frac{1}{N}\sum_{i=1}^{N}\sum_{t} \nabla_\theta \log \pi_\theta(a_{i,t} \mid s_{i,t})\,\big(G_{i,t} - b_t\big).$$
#
# ![The MBRL v2.5 loop, and a model rollout drifting away from the states the model was trained on](../assets/part2_v25_loop.svg)
#
# One pass of the loop: 300 real transitions with random torques (one and a half episodes), a small
# ensemble fitted to them, then REINFORCE on rollouts of 100 steps sampled *only from the model*.
# The real pendulum is used only to evaluate the policy. Here is the model:

# %% tags=["training"]
small_data = policy_gradient.ModelDataConfig(n_transitions=300)
model_small, _, fit_log = policy_gradient.fit_pendulum_model(small_data)
print(f"model fitted to {small_data.n_transitions} random transitions in {fit_log.epochs} epochs")

# %% [markdown]
# ### Exercise 2.3 · The REINFORCE update (4 points)
# Complete `reinforce_loss(log_prob, rew, gamma)`: the *surrogate loss* whose gradient is minus the
# REINFORCE estimate above, so that `loss.backward()` and an optimiser step improve the policy.
#
# * `log_prob`: torch tensor `(B, H)`, $\log\pi_\theta(a_{i,t} \mid s_{i,t})$ of $B$ model rollouts of
#   $H$ steps; it carries the gradient with respect to the policy's parameters;
# * `rew`: torch tensor `(B, H)`, the rewards the model returned (plain numbers); `gamma`: the discount;
# * returns a scalar torch tensor: minus the **mean** over all $B H$ terms of $\log\pi$ times the
#   weight of that step, the reward-to-go discounted from step $t$ on, minus its mean over the
#   batch at the same step $t$.
#
# Success: the check passes for $\gamma = 0.9$, $1$ and $0$, for rewards shifted by a constant,
# for one step and for one rollout, and your loss carries the gradient (`requires_grad`).
# The cells after it train policies with it.
#
# <details><summary>Hint 1: the weights</summary>
#
# $G_{i,t} = \sum_{t' \ge t} \gamma^{t'-t} r_{i,t'}$ satisfies $G_{i,t} = r_{i,t} + \gamma\,G_{i,t+1}$:
# compute it with one loop over $t$ *backwards* (all rollouts at once). Then
# $b_t = \frac1B\sum_i G_{i,t}$ (`mean(0, keepdim=True)`).
# </details>
#
# <details><summary>Hint 2: the loss</summary>
#
# $L = -\frac{1}{BH}\sum_{i,t}\log\pi_\theta(a_{i,t} \mid s_{i,t})\,(G_{i,t} - b_t)$, i.e.
# `-(log_prob * (G - b)).mean()`. Only `log_prob` carries gradient; the weights are numbers.
# </details>

# %% tags=["solution:2.3"]
def reinforce_loss(log_prob: torch.Tensor, rew: torch.Tensor, gamma: float) -> torch.Tensor:
    """L = -mean_{i,t} log_prob[i,t] (G[i,t] - b[t]); G the discounted reward-to-go. (B, H), (B, H) -> ()."""
    # BEGIN SOLUTION
    reward_to_go, running = torch.zeros_like(rew), torch.zeros_like(rew[:, 0])
    for t in reversed(range(rew.shape[1])):
        running = rew[:, t] + gamma * running
        reward_to_go[:, t] = running
    advantage = reward_to_go - reward_to_go.mean(0, keepdim=True)
    return -(log_prob * advantage).mean()
    # END SOLUTION


# %% tags=["exercise:2.3", "points:4"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.reinforce_loss()

# %% [markdown]
# ### 2.1 How noisy is your gradient as the horizon grows?
# Section 1.3 on the Pendulum: a stochastic policy with noise at every step,
# $a_t = 2\tanh\big(w \cdot (\cos\theta, \sin\theta, \dot\theta, 1)\big) + \xi_t$ with $\xi_t \sim \mathcal{N}(0, 1)$,
# acting in the learned model above, at $w = 0$ (where training starts: the mean torque is 0). For
# $J_T(w) = \mathbb{E}\big[\sum_{t<T} r_t\big]$ we compare two per-rollout estimates of $dJ_T/dw$ over 1000
# rollouts: REINFORCE, the gradient of *your* loss ($\gamma = 1$), and the pathwise one, backprop of
# the return through $T$ steps of the model with $a_t$ reparameterised (Part 1's method).

# %% tags=["training"]
spread_pg = precomputed.run_or_load("part2_pendulum_spread", lambda: estimators.pendulum_gradient_spread(
    model_small.mean_step, reinforce_loss, estimators.SpreadConfig(), cl.utils.torch_generator(0)))
H_pg, fit = spread_pg.horizons, spread_pg.horizons >= 5
for name, var in (("REINFORCE", spread_pg.var_reinforce), ("pathwise", spread_pg.var_pathwise)):
    p, r = part2.growth_rates(H_pg[fit], var[fit])
    print(f"{name:>9}: Var from {var[0]:.3g} (T = 1) to {var[-1]:.3g} (T = {H_pg[-1]}); fit over "
          f"T = 5..{H_pg[-1]}: T^{p:.2f}, or e^({r:.3f} T)")
cross = H_pg[spread_pg.var_pathwise > spread_pg.var_reinforce]
print(f"pathwise is the less noisy one up to T = {H_pg[H_pg < cross[0]][-1] if len(cross) else H_pg[-1]}; "
      f"the gradient itself grows from |dJ/dw| = {np.linalg.norm(spread_pg.mean_reinforce[0]):.2f} to "
      f"{np.linalg.norm(spread_pg.mean_reinforce[-1]):.1f} (REINFORCE's estimate)")
part2.plot_gradient_spread(spread_pg)
plt.show()

# %% [markdown]
# With noise at every step, REINFORCE's variance grows with the horizon too, here as a power of
# $T$ (the fit above): each of the $T$ score terms is multiplied by a reward-to-go whose spread
# grows with the steps left. The pathwise variance grows faster (its fitted power is larger), and
# beyond the horizon printed above backprop is the noisier estimator. The Pendulum is not the
# logistic map, and over this range of $T$ the data cannot say whether the pathwise growth is a
# steep power or an exponential: the two fits are printed side by side. Both estimates also
# measure a gradient that grows with $T$ (right panel), so a growing variance is not the whole
# story of how many rollouts one needs; the *comparison* at equal $T$ is.

# %% [markdown]
# ### 2.2 Train inside the model, on eight data sets
# `policy_gradient.train_in_model` is the v2.5 loop with *your* loss: every update samples 64 start
# states, rolls the policy 100 steps in the model, takes $\log\pi$ of every action and one Adam step
# on `reinforce_loss`. We run it, from the same initial policy with the same random numbers, in
# models fitted to eight different sets of 300 random transitions (data seeds 0 to 7), and evaluate
# the mean policy every 10 updates over a full episode (200 steps), in the model and for real. This
# is the notebook's longest cell.

# %% tags=["training"]
seed_config = policy_gradient.SeedsConfig()
runs = precomputed.run_or_load("part2_v25_seeds", lambda: policy_gradient.v25_over_seeds(
    reinforce_loss, seed_config))
for i, seed in enumerate(runs.data_seeds):
    print(f"data seed {seed}: promised {runs.model_return[i, 0]:6.0f} → {runs.model_return[i, -1]:6.0f}, "
          f"real {runs.real_return[i, 0]:6.0f} → {runs.real_return[i, -1]:6.0f} after {runs.iteration[-1]} updates")
gap_after = runs.model_return[:, -1] - runs.real_return[:, -1]
print(f"promised − real after training: mean {gap_after.mean():.0f}, standard deviation {gap_after.std(ddof=1):.0f}, "
      f"from {gap_after.min():.0f} to {gap_after.max():.0f} over {len(gap_after)} data sets; the model "
      f"over-promises in {np.sum(gap_after > 0)} of them")
print(f"real return after training better than before in {np.sum(runs.real_return[:, -1] > runs.real_return[:, 0])} "
      f"of {len(gap_after)}; mean |model − real| return of {runs.gap.shape[-1]} steps larger after training "
      f"than before in {np.sum(runs.gap[1, :, -1] > runs.gap[0, :, -1])} of {len(gap_after)}")

# %% tags=["demo"]
part2.plot_seed_runs(runs)
plt.show()

# %% [markdown]
# Read the spread, not one run: the same algorithm, the same initial policy and the same random
# numbers give very different outcomes depending only on which 300 transitions the model saw. On
# some data sets the model ends up promising about what reality gives, or less; on others it
# promises returns that the real pendulum cannot give at all (Pendulum-v1's rewards are never
# positive) while the policy gets worse for real than it was before training. Eight data sets are
# enough to show that the outcome depends on the data, not to estimate how often each outcome
# happens.
#
# With your own `reinforce_loss` the numbers need not equal the solution's: two correct ways of
# computing the loss differ in the last floating-point digits, and 60 Adam steps on noisy
# gradients can turn that into visibly different policies. The spread across data sets is what
# to compare.

# %% [markdown]
# **Question.** Two things make the model's promise drift from reality as the rollout gets longer.
# Which one do the thin "before training" curves of the right panel show, and what does training add?
#
# <details><summary>Answer</summary>
#
# Even for a fixed policy, a model rollout compounds the model's errors: each small error puts
# the next prediction in a slightly wrong state, and the return gap grows with $h$. Training adds
# *exploitation*: the policy was optimised against the model, so wherever the model is wrong in
# its favour, REINFORCE finds it and goes there, into states the 300 random transitions never
# covered. Compare the thin and thick curves of each colour (the count printed above says on how
# many data sets training widened the gap), and the dots of the middle panel: where the model is
# exploitable, the promise ends far above reality. That is why v2.5 "still fails with long model
# rollouts".
# </details>

# %% [markdown]
# ## 3. Compounding error: $O(\epsilon T^2)$
# ### 3.1 The tightrope
# The lecture's argument, the same as for distribution shift in imitation learning. At every step
# the model makes a mistake with probability $\epsilon$; after a mistake the rollout is in states
# the model was not trained on and it never comes back: the mistake is *absorbing*, like falling
# off a tightrope. The **gap** $G(T, \epsilon)$ is the expected number of steps $t = 1..T$ spent
# off the real trajectory (the step of the mistake counts as off). How does it grow with the
# horizon $T$? You derive it.

# %% [markdown]
# ### Exercise 2.4 · Derive the tightrope's gap (3 points)
# From the tightrope model alone (independent mistakes with probability $\epsilon$ per step,
# absorbing), derive $G(T, \epsilon)$ and write it two ways in `tightrope_gap(T, eps)`, for many
# $\epsilon$ at once:
#
# * `exact`: the exact expected number of steps off, as a finite sum (no sampling, and no Python
#   loop over `eps`);
# * `approx`: its approximation while $\epsilon T \ll 1$, a polynomial in $\epsilon$ and $T$;
# * `T`: an int $\ge 1$; `eps`: a NumPy array of probabilities, of any shape; returns the tuple
#   `(exact, approx)`, each a NumPy array of the shape of `eps`.
#
# Success: both are right for $\epsilon = 0$ (the gap is 0, not NaN), $\epsilon = 1$, $T = 1$,
# $\epsilon T = 0.1$ with $T = 1000$ (where the two differ, slightly) and a 2-D array of $\epsilon$.
# The cells after it compare your formulas with a simulation and draw the demo's orange curves.
#
# <details><summary>Hint 1: one step at a time</summary>
#
# You are off at step $t$ if *any* of the steps $1..t$ went wrong: what is the probability that
# none did? The number of steps off is the sum over $t$ of the indicator "off at step $t$", and the
# expectation of a sum is the sum of the expectations.
# </details>
#
# <details><summary>Hint 2: small εT</summary>
#
# While $\epsilon t \ll 1$, $(1-\epsilon)^t \approx 1 - \epsilon t$ (the first two terms of the
# binomial expansion). Then you need $\sum_{t=1}^{T} t$.
# </details>
#
# <details><summary>Hint 3: the formulas and the code</summary>
#
# $G(T, \epsilon) = \sum_{t=1}^{T}\big[1-(1-\epsilon)^t\big] \approx \sum_{t=1}^{T}\epsilon t = \frac{\epsilon\,T(T+1)}{2}$.
# Broadcast `eps[..., None]` against `t = np.arange(1, T + 1)` and sum over the last axis. The
# closed form of the geometric sum divides by $\epsilon$: avoid it in code.
# </details>

# %% tags=["solution:2.4"]
def tightrope_gap(T: int, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exact, approx): expected steps off among 1..T, exactly and for eps T << 1, each of eps's shape."""
    # BEGIN SOLUTION
    t = np.arange(1, T + 1)
    exact = (1.0 - (1.0 - eps[..., None]) ** t).sum(-1)
    return exact, eps * T * (T + 1) / 2
    # END SOLUTION


# %% tags=["exercise:2.4", "points:3"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.tightrope_gap()

# %% [markdown]
# Your two formulas next to a simulation of the tightrope (20 000 runs with Bernoulli($\epsilon$)
# mistakes). While $\epsilon T \ll 1$ the gap is quadratic in $T$ and linear in $\epsilon$:
# $O(\epsilon T^2)$.

# %% tags=["training"]
toy_cases = [(10, 0.01), (100, 0.001), (100, 0.01), (100, 0.1)]
toy_exact = precomputed.run_or_load("part2_toy_exact", lambda: [
    tuple(float(g[0]) for g in tightrope_gap(T_, np.array([eps_]))) for T_, eps_ in toy_cases])
for (T_, eps_), (exact, approx) in zip(toy_cases, toy_exact, strict=True):
    simulated, se = compounding.simulate_toy_gap(T_, eps_, 20_000, rng)
    print(f"T = {T_:3d}, ε = {eps_:<5} (εT = {eps_ * T_:<4.2g}): exact {exact:7.3f}, simulated "
          f"{simulated:7.3f} ± {se:.3f}, small-εT approximation {approx:7.3f}")

# %% tags=["training"]
Ts_toy, es_toy = np.arange(1, 101), np.geomspace(1e-5, 1e-3, 10)
gap_T, gap_eps = precomputed.run_or_load("part2_toy_curves", lambda: (
    np.stack([tightrope_gap(T_, np.array([1e-3, 0.1]))[0] for T_ in Ts_toy]),  # (100, 2)
    tightrope_gap(100, es_toy)[0]))
print(f"slope in T, ε = 0.001, T = 5..100 (εT ≤ 0.1): {compounding.loglog_slope(Ts_toy[4:], gap_T[4:, 0]):.2f}")
print(f"slope in ε, T = 100, ε = 1e-5..1e-3: {compounding.loglog_slope(es_toy, gap_eps):.2f}")
print(f"slope in T, ε = 0.1, T = 50..100 (εT ≥ 5, saturated): {compounding.loglog_slope(Ts_toy[49:], gap_T[49:, 1]):.2f}")

# %% [markdown]
# **Saturation.** Summing the geometric series, $G = T - (1-\epsilon)\big(1-(1-\epsilon)^T\big)/\epsilon$.
# Once $\epsilon T \gg 1$, $(1-\epsilon)^T \approx 0$ and
#
# $$G(T, \epsilon) \to T - \frac{1-\epsilon}{\epsilon} = T + 1 - \frac{1}{\epsilon}:$$
#
# every extra step adds one step off (slope 1 in $T$) and $\epsilon$ stops mattering. The same from
# the first mistake $\tau$: it is geometric with mean $1/\epsilon$, and every step from $\tau$ on is
# off, $T - \tau + 1$ of them, hence $T + 1 - 1/\epsilon$. The shorthand $T - 1/\epsilon$ is one step
# short: it forgets that the step of the mistake is itself off. Your exact sum decides:

# %% tags=["training"]
saturation = precomputed.run_or_load("part2_toy_saturation", lambda: {
    e: float(tightrope_gap(1000, np.array([e]))[0][0]) for e in (0.5, 0.1, 0.02)})
for e, g in saturation.items():
    print(f"T = 1000, ε = {e:<4}: exact {g:9.4f}   T − (1 − ε)/ε = {1000 - (1 - e) / e:9.4f}   "
          f"T − 1/ε = {1000 - 1 / e:9.4f}")

# %% [markdown]
# **The same argument elsewhere.**
# * *Imitation learning* (where the lecture's tightrope comes from): a policy cloned from an
#   expert's states errs with probability $\epsilon$ on them, and one error takes it to states the
#   expert never showed, where it keeps erring: its expected cost over $T$ steps is
#   $O(\epsilon T^2)$ (Ross and Bagnell, 2010). **DAgger** (Ross, Gordon and Bagnell, 2011) has the
#   expert label the states the *learner* visits and retrains on them, so training and test
#   distributions match and the cost falls to $O(\epsilon T)$. The model-based counterparts: collect
#   new data with the current policy (the v1.0 → v1.5 loop of Part 1), and start model rollouts
#   from real states (v3.0, Section 4).
# * *MBPO's bound* (Janner et al., 2019) has the same form. The true return is at least the
#   model's return minus a penalty; for model rollouts as long as the task, the model-error part is
#   $2\gamma\,r_{\max}\,\epsilon_m/(1-\gamma)^2$, quadratic in the effective horizon $1/(1-\gamma)$:
#   the tightrope's $\epsilon T^2$ with $T \sim 1/(1-\gamma)$. For rollouts of $k$ steps branched from
#   real states, their model-error term grows only linearly in $k$, the form of Section 4's
#   $\epsilon T (k+1)/2$.

# %% [markdown]
# ### 3.2 Checking the assumption: a learned model with injected mistakes
# The argument assumes that a mistake is absorbing. Is it, for a learned Pendulum model? To find
# out we fit a model to 3000 random transitions (ten times the data of Section 2) and **inject**
# mistakes of a known rate: at every model step, with probability $\epsilon$, the predicted angular
# velocity is wrong by $\pm 3$ rad/s. The model rollout is **off** at step $t$ when its observation
# $(\cos\theta, \sin\theta, \dot\theta)$ is farther than 0.5 from the real one, started from the same
# state under the same random torques. We roll the model once for every possible step $\tau$ of the
# first mistake, so the expectation over mistakes is an exact sum:
#
# $$G(T,\epsilon) = \sum_{\tau=1}^{T} \epsilon(1-\epsilon)^{\tau-1} D_\tau(T) + (1-\epsilon)^T D_{\text{none}}(T),$$
#
# where $D_\tau(T)$ counts the steps off among $1..T$ when the first mistake is at $\tau$ (averaged
# over 48 start states). If mistakes are absorbing, $D_\tau(T) = T - \tau + 1$ and $G$ is the toy's
# **by construction**: this experiment cannot confirm the $\epsilon T^2$ law, only check its
# assumption (do kicks stay off?) and show where the learned model's own error $D_{\text{none}}$
# takes over. Section 3.3 measures that own error.

# %% tags=["training"]
model, buffer, fit_log = policy_gradient.fit_pendulum_model(policy_gradient.ModelDataConfig())
rollouts = compounding.mistake_rollouts(model.mean_step)
t_valid = compounding.model_horizon(rollouts)
print(f"model fitted to {len(buffer)} transitions; alone, it stays within 0.5 of reality for {t_valid} "
      f"steps on all {rollouts.off.shape[1]} start states")
print(f"after a mistake at step 1 the model is off on {rollouts.off[0].mean():.1%} of the next "
      f"{rollouts.off.shape[2]} steps (the assumption: absorbing means 100%)")

# %% tags=["training"]
toy = precomputed.run_or_load("part2_toy_gaps", lambda: part2.toy_gaps(tightrope_gap))  # yours, T = 1..60
cum = rollouts.cum_off
Ts = np.arange(4, t_valid + 1)
es = np.geomspace(1e-4, 0.1 / t_valid, 10)
print(f"slope in T (ε = 0.001, T = 4..{t_valid}): {compounding.loglog_slope(Ts, compounding.expected_gap(cum, Ts, 1e-3)):.2f}")
print(f"slope in ε (T = {t_valid}, ε = 1e-4..{es[-1]:.1e}, so εT ≤ 0.1): "
      f"{compounding.loglog_slope(es, compounding.expected_gap(cum, t_valid, es)):.2f}")
print(f"G / toy at T = {t_valid}, ε = 0.001: {compounding.expected_gap(cum, t_valid, 1e-3) / toy.at(t_valid, 1e-3):.3f}")
simulated, se = compounding.simulate_model_gap(rollouts, 40, 0.01, 20_000, rng)
print(f"check by sampling mistakes (T = 40, ε = 0.01): {simulated:.3f} ± {se:.3f}; exact sum "
      f"{compounding.expected_gap(cum, 40, 0.01):.3f}")

# %% [markdown]
# The fits start at $T = 4$ because $T(T+1)$ only looks like $T^2$ once $T$ is not tiny (its local
# slope is $(2T+1)/(T+1)$), and they stop where the learned model's own error begins.
#
# Drag the sliders. Left: four real trajectories (grey) and the model's (dashed), with the model's
# first mistake marked. Middle and right: the gap against $T$ and against $\epsilon$, for the learned
# model (blue) and the toy (orange: your `tightrope_gap`, tabulated for every slider value before
# the demo starts, exact dashed and small-$\epsilon T$ dotted). The readout prints the local slopes
# at the slider values.
#
# ![Compounding error demo at its default setting, T = 20 and ε = 0.005](../assets/part2_compounding.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %% tags=["demo"]
compounding_demo = part2.CompoundingDemo(rollouts, toy)
compounding_demo.show()


# %% [markdown]
# **Question.** Set $\epsilon = 0.001$ and move $T$ past the model's own horizon (printed above).
# Then set $\epsilon = 0.1$. Why does the blue curve leave the $T^2$ line in each case, once upwards
# and once downwards?
#
# <details><summary>Answer</summary>
#
# At small $\epsilon$, beyond the model's own horizon the grey curve (the learned model with no
# injected mistake) takes over: its error is not a rare mistake but a slow drift that crosses the
# tolerance at nearly the same step for every start state, so the gap shoots up much faster than
# $T^2$, and in the right panel it no longer depends on $\epsilon$. At large $\epsilon$ the curve
# saturates: once $\epsilon T \gtrsim 1$ almost every rollout is already off, each extra step adds
# one step off (slope 1 in $T$), and the gap cannot exceed $T$ (the red cap in the right panel), so
# the slope in $\epsilon$ falls to 0. The $\epsilon T^2$ law is the regime in between:
# $\epsilon T \le 0.1$ and a model that is accurate by itself.
# </details>

# %% [markdown]
# ### 3.3 The real measurement: a learned model's own error, against the data it saw
# No injected mistakes now: a model's error is whatever fitting left. Roll the model alone from the
# 48 real start states under the same torques as reality, and measure $e_t$, the mean distance of
# its observation from the real one after $t$ steps, and $C(T) = \sum_{t \le T} e_t$, the error
# summed over a rollout of $T$ steps, the continuous cousin of the tightrope's steps off. The
# tightrope's argument predicts the form: if each step adds an error of about $\epsilon_1$ (the
# one-step error, measured on the real transitions) and the dynamics neither amplify nor heal it,
# $e_t \approx \epsilon_1 t$ and $C(T) \approx \epsilon_1 T(T+1)/2$: slope 2 on log-log axes, like
# the gap. Amplifying dynamics make it steeper, healing dynamics or a bounded state space flatter.
# First the model of Section 3.2:

# %% tags=["demo"]
own = compounding.model_errors(model.mean_step)
C = own.state_error.cumsum()
t_all = np.arange(1, len(C) + 1)
print(f"one-step error ε₁ = {own.one_step:.4f}; after 1 / 10 / 20 / 40 / 60 steps: "
      + " / ".join(f"{own.state_error[t - 1]:.3f}" for t in (1, 10, 20, 40, 60)))
for lo, hi in ((2, 20), (20, 40), (40, 60)):
    print(f"slope of log C(T) over T = {lo}..{hi}: {compounding.loglog_slope(t_all[lo - 1:hi], C[lo - 1:hi]):.2f} "
          f"(ε₁T(T+1)/2 alone: {compounding.loglog_slope(t_all[lo - 1:hi], t_all[lo - 1:hi] * (t_all[lo - 1:hi] + 1)):.2f})")

# %% [markdown]
# How does it depend on the amount of data? Fitting a model per data size and seed takes minutes,
# so that sweep was run once and committed (the command is printed); the notebook's own model
# above is one of its rows, and the cell checks that the committed row matches it.

# %% tags=["training"]
sweep = compounding.load_model_error_sweep()
print("sweep made with:", sweep["command"])
i3000 = list(sweep["n_transitions"]).index(3000)
print(f"committed row N = 3000, seed 0: ε₁ = {sweep['one_step'][i3000, 0]:.4f}, e_20 = "
      f"{sweep['state_error'][i3000, 0, 19]:.4f} (this notebook: {own.one_step:.4f}, {own.state_error[19]:.4f})")
n_seeds = len(sweep["seeds"])
for n, err, e1 in zip(sweep["n_transitions"], sweep["state_error"], sweep["one_step"], strict=True):
    s = [compounding.loglog_slope(t_all[1:20], e.cumsum()[1:20]) for e in err]
    late = compounding.loglog_slope(t_all[19:], err.mean(0).cumsum()[19:])
    print(f"N = {n:5d}: ε₁ = {e1.mean():.4f}; slope of log C over T = 2..20, {n_seeds} seeds: "
          f"{np.mean(s):.2f} (from {min(s):.2f} to {max(s):.2f}); C(20) / (ε₁·20·21/2) = "
          f"{err.mean(0)[:20].sum() / (e1.mean() * 210):.2f}; slope over T = 20..60: {late:.2f}")

# %% [markdown]
# What the measurement shows, read from the rows above. Over the first 20 steps the summed error
# grows with a slope close to that of $T(T+1)/2$ (printed beside it) for every data size, and it is
# of the size $\epsilon_1 T(T+1)/2$ predicts, within the factor printed in the last column: early
# on, a learned model's errors add up step after step, as the argument says. More data shrinks
# $\epsilon_1$, and with it $C$, but not the early slope. Later the slope departs from 2 (last
# column), both ways: with enough data it rises well above 2, the dynamics amplifying the errors;
# with little data the rollouts have already drifted about as far as a pendulum's bounded
# observation allows, and the slope falls below 2. So $\epsilon T^2$ describes the onset of
# compounding error, not its whole course. Drag $N$ and $T$: left, $e_t$ per seed (thin) and mean; middle, $C(T)$
# with the fit up to $T$; right, how $\epsilon_1$ and $C(T)/T^2$ fall with more data.
#
# ![The learned model's own error against the data size, default N = 1000 and T = 20](../assets/part2_model_error.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %% tags=["training"]
model_error_demo = part2.ModelErrorDemo(sweep)
model_error_demo.show()

# %% [markdown]
# ## 4. MBRL v3.0: short rollouts branched from real states
# "Long model rollouts are the enemy." MBRL v3.0 keeps them short: collect real trajectories now
# and then, sample start states from *anywhere* along them (late steps too, so the model's data
# covers the whole horizon), roll the model only $k$ steps from each, and train an off-policy
# learner on real and model data together. Each branch has gap $G(k, \epsilon)$; making $T$ model
# steps as $T/k$ branches gives
#
# $$G_{\text{branch}}(T, k, \epsilon) = \frac{T}{k}\,G(k, \epsilon) \approx \frac{\epsilon\,T(k+1)}{2}:
# \quad \text{linear in } T .$$
#
# ![Short model branches of k steps from states anywhere along real trajectories](../assets/part2_v30_branches.svg)

# %% [markdown]
# ### Exercise 2.5 · Branched rollouts (3 points)
# Complete `branched_rollouts(real_obs, step_fn, policy, k, n_branches, generator)`, MBRL v3.0's
# data generator: `n_branches` start states drawn uniformly from **all** real states (any
# trajectory, any step, late ones included), then `k` steps of the model under the policy from each.
#
# * `real_obs`: tensor `(N, L, obs_dim)`, `N` real trajectories of length `L`;
# * `step_fn(obs (B, obs_dim), act (B, act_dim)) -> (next_obs, reward)`: the model;
# * `policy(obs (B, obs_dim)) -> act (B, act_dim)`;
# * `generator`: a `torch.Generator`; every random draw uses it, so the same seed gives the same branches;
# * returns a tensor `(n_branches, k + 1, obs_dim)`: the start state, then the `k` model states.
#
# Success: the branches start at real states spread over all trajectories and all steps, every step
# is `step_fn(obs, policy(obs))`, $k = 0$ and a single branch work, and the generator decides the starts.
#
# <details><summary>Hint</summary>
#
# `real_obs.reshape(-1, obs_dim)` lists all $N L$ real states; `torch.randint(0, N * L, (n_branches,),
# generator=generator)` picks rows of it. Then a loop over the `k` steps (not over branches):
# `obs, _ = step_fn(obs, policy(obs))`, collecting the states, and `torch.stack(states, 1)`.
# </details>

# %% tags=["solution:2.5"]
def branched_rollouts(real_obs: torch.Tensor, step_fn, policy, k: int, n_branches: int,
                      generator: torch.Generator) -> torch.Tensor:
    """Start states from anywhere in real_obs (N, L, o), then k model steps -> (n_branches, k + 1, o)."""
    # BEGIN SOLUTION
    n, length, obs_dim = real_obs.shape
    idx = torch.randint(0, n * length, (n_branches,), generator=generator)
    obs = real_obs.reshape(n * length, obs_dim)[idx]
    states = [obs]
    for _ in range(k):
        obs, _ = step_fn(obs, policy(obs))
        states.append(obs)
    return torch.stack(states, 1)
    # END SOLUTION


# %% tags=["exercise:2.5", "points:3"]
from course_lib import checks  # (so that this cell also runs on its own)

checks.branched_rollouts()

# %% [markdown]
# Your generator now makes the branches. We branch from 512 (trajectory, step) pairs of the real
# rollouts above, and measure the gap of $T$ model steps made from branches that start in the first
# $T - k$ real steps. To get every possible first-mistake step at once (an exact sum again),
# `branching.branch_table` hands your function a batch whose "state" carries, per branch, one copy
# of the model's observation for every first-mistake step plus the indices needed to replay the real
# torques; your function treats it as any batch of states.

# %% tags=["training"]
table = precomputed.run_or_load("part2_branch_table", lambda: branching.branch_table(
    branched_rollouts, model.mean_step, rollouts, k_max=15, n_branches=512, generator=cl.utils.torch_generator(1)))
for k in (1, 5, 15):
    Tb = np.arange(k, 61)
    g = branching.branched_gap(table, Tb, k, 0.01)
    print(f"k = {k:2d}: slope in T (T = {k}..60) {compounding.loglog_slope(Tb, g):.2f}; gap of 60 model steps "
          f"{g[-1]:.2f}, εT(k+1)/2 = {0.01 * 60 * (k + 1) / 2:.2f}")
print(f"one rollout of 60 steps: gap {compounding.expected_gap(cum, 60, 0.01):.2f}")

# %% [markdown]
# Drag $k$ and $\epsilon$. Left: the gap against the number of model steps $T$, one long rollout
# (red, slope 2 then saturating) against $T/k$ branches (blue, slope 1). Middle: the gap of 60
# model steps against $k$. Right: the states the learner sees, real (grey) and model (blue when
# still on the real trajectory, red when off).
#
# ![Branched rollouts demo at its default setting, k = 5 and ε = 0.01](../assets/part2_branched.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %% tags=["demo"]
branched_demo = part2.BranchedDemo(rollouts, table)
branched_demo.show()

# %% [markdown]
# **Question.** The learner now trains on a mixture: real states collected by older policies, and
# short model branches from them under the current policy. Why does that call for an *off-policy*
# learner such as Q-learning rather than REINFORCE?
#
# <details><summary>Answer</summary>
#
# REINFORCE needs states distributed as the *current* policy would visit them from the start of an
# episode. Branches start at real states that older policies reached, and only follow the current
# policy for $k$ steps, so the state distribution is a mixture that no single policy produces.
# Q-learning and off-policy actor-critic methods can learn from transitions whatever distribution
# they came from: their Bellman target only needs $(s, a, r, s')$ and the current policy's action at
# $s'$, not how $(s, a)$ was reached. That makes the mixture *usable*, not harmless. With function
# approximation the regression fits the states in proportion to how often they appear in the data,
# so the data distribution still decides where the learned $Q$ is accurate, and a mixture far from
# the states the current policy visits can leave $Q$ wrong exactly where the policy goes. That is
# why MBPO in Part 3 keeps a share of real data, discards old model data and keeps the branches
# short.
# </details>

# %% [markdown]
# Which of this notebook's exercises pass now? `checks.status()` runs their visible checks again (quietly) and counts the points; run it whenever you like.

# %% tags=["demo"]
from course_lib import checks

checks.status()

# %% [markdown]
# ## Summary
# * Two unbiased estimators of $\nabla_\theta\,\mathbb{E}[f]$: the likelihood ratio uses only values of
#   $f$; the pathwise one differentiates through it. Through a chaotic system the pathwise variance
#   grows like $e^{2\lambda T}$. The likelihood ratio's stays bounded only while the parameter moves
#   the noise of a single draw; with noise at every step, as for a stochastic policy, it grows too,
#   as a power of $T$, on the logistic map and on the Pendulum model.
# * MBRL v2.5 trains a policy with policy gradients on model rollouts: no Jacobian products, but
#   the longer the rollout, the further the model's promise drifts from reality, and the policy
#   exploits the model's errors, by an amount that depends strongly on the data the model saw.
# * One mistake per step with probability $\epsilon$, absorbing, gives a gap of
#   $\epsilon T(T+1)/2 = O(\epsilon T^2)$ while $\epsilon T$ is small; it approaches
#   $T - (1-\epsilon)/\epsilon$ beyond. Injected mistakes check that a learned model's mistakes are
#   absorbing; its own error, summed over a rollout, starts out growing like $T^2$ at every data
#   size, then departs from it.
# * MBRL v3.0 branches short rollouts of $k$ steps from real states: the gap of $T$ model steps is
#   about $\epsilon T(k+1)/2$, linear in $T$. The data is a mixture of real and model states, which
#   calls for off-policy learning: Part 3.
#
# ## Going further
# * In `estimators.SpreadConfig`, give the policy a feedback on the state (`weight_scale=1.0`) and
#   rerun Section 2.1: how do both variances grow now? Think about what a feedback policy does to
#   the effect of an early action on the rewards many steps later.
# * In `course_lib/compounding.py`, give the model's mistakes a chance to *heal* (a state-feedback
#   policy that brings both the real and the model pendulum upright): how does the slope in $T$
#   change when mistakes are no longer absorbing?
# * Replace the injected kicks by a small additive Gaussian error of size $\epsilon$ at every step and
#   measure the summed state error. Does it still grow like $\epsilon T^2$? (A random walk with steps
#   of size $\epsilon$ is about $\epsilon\sqrt{t}$ away after $t$ steps; a constant bias of $\epsilon$ per
#   step is $\epsilon t$ away.)
# * Parmas et al., *PIPPS: Flexible model-based policy search robust to the curse of chaos* (ICML
#   2018), studies the exploding pathwise variance and mixes the two estimators.
# * Janner et al., *When to trust your model: model-based policy optimization* (NeurIPS 2019),
#   bounds the return gap of branched rollouts: the theory behind MBPO in Part 3.
