# %% [markdown]
# # 2 · Gradients through a model, and why long model rollouts drift
#
# Part 1 ended on a problem: backpropagating through many steps of a learned model multiplies
# many Jacobians, and the gradient explodes or vanishes. This part follows the lecture's way out
# and the next problem it runs into.
#
# **In this notebook you will**
# 1. write the two gradient estimators of an expectation, *likelihood ratio* (REINFORCE) and
#    *pathwise* (backprop), and check with them that both are unbiased (Exercises 2.1 and 2.2);
# 2. run your estimators through a chaotic system and watch the pathwise variance explode like
#    $e^{2\lambda T}$ while the likelihood-ratio variance stays put (slider: the number of steps $T$);
# 3. train a policy with REINFORCE entirely inside a learned Pendulum model (**MBRL v2.5**) and
#    compare the return the model promises with the return the real pendulum gives;
# 4. compute the **compounding model error** of the lecture's tightrope exactly (Exercise 2.3): the
#    gap of a $T$-step model rollout grows like $\epsilon T^2$, in the toy and with a learned model
#    (sliders: horizon $T$, model error $\epsilon$);
# 5. write MBRL v3.0's generator of **short rollouts branched from real states** (Exercise 2.4) and
#    see why they make the gap linear in $T$.
#
# Each exercise sits where its idea is taught, and the cells after it run *your* function; until
# it is done they show the solution's results and say so in one line.

# %% [markdown]
# ## Setup
# The widget backend, the course package, one seed. `gen` is the torch generator every sampling
# function below receives.

# %%
# %matplotlib widget
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib as cl
from course_lib import checks, compounding, estimators, policy_gradient, precomputed
from course_lib.demos import part2

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
# $g_i = f(x_i)\,\nabla_\mu \log p_\mu(x_i)$ with $x_i = \mu + \sigma\epsilon_i$, using only values of $f$.
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
checks.likelihood_ratio_grad()


# %% [markdown]
# ### Exercise 2.2 · The pathwise estimator (2 points)
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


# %% tags=["exercise:2.2", "points:2"]
checks.reparam_grad()

# %% [markdown]
# Now your two estimators on $f = \sin$, where the exact answer is $\cos(\mu)\,e^{-\sigma^2/2}$,
# with 100 000 draws:

# %%
mu, sigma = 0.4, 0.6
eps = torch.randn(100_000, generator=gen, dtype=torch.float64)


def mean_se_var(g):
    """The estimate (the mean of the per-draw estimates), its standard error, the variance per draw."""
    return float(g.mean()), float(g.std() / len(g) ** 0.5), float(g.var())


sin_estimates = precomputed.run_or_load("part2_sin_estimates", lambda: {
    "likelihood ratio": mean_se_var(likelihood_ratio_grad(torch.sin, mu, sigma, eps)),
    "pathwise": mean_se_var(reparam_grad(torch.sin, mu, sigma, eps))})
print(f"{'exact':>16}: {estimators.gaussian_sin_grad(mu, sigma):.4f}")
for name, (mean, se, var) in sin_estimates.items():
    print(f"{name:>16}: {mean:.4f} ± {se:.4f}   variance per draw {var:.3f}")

# %% [markdown]
# Both averages match the exact gradient within their standard errors. Which estimator has the
# smaller variance depends on the problem. The likelihood-ratio estimator multiplies $f$ by the
# score $\epsilon/\sigma$, so a narrow distribution makes it noisy:

# %%
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
#
# * Pathwise: $\frac{dx_T}{d\theta} = \prod_{t<T} f'(x_t)$, a product of $T$ Jacobians, as in
#   backprop through a learned model. Its size grows like $e^{\lambda T}$, where $\lambda$ is the
#   **Lyapunov exponent**, the average log-stretching per step.
# * Likelihood ratio: $x_T\,\epsilon_0/\sigma_0$, a number in $[0, 1]$ times a score that does not
#   depend on $T$. No Jacobian anywhere.
#
# $$\lambda = \lim_{T\to\infty} \frac{1}{T} \sum_{t<T} \log\lvert r(1 - 2x_t)\rvert,
# \qquad \mathrm{Var}\big[\hat g_{\text{pathwise}}\big] \sim e^{2\lambda T}.$$

# %%
lam = estimators.lyapunov_exponent(3.9, cl.utils.torch_generator(1))
print(f"Lyapunov exponent of the logistic map at r = 3.9: λ = {lam:.3f} per step")
print(f"(the same code at r = 4, where the exact value is ln 2 = {np.log(2):.3f}: "
      f"{estimators.lyapunov_exponent(4.0, gen):.3f})")

# %%
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

# %%
variance_demo = part2.EstimatorVarianceDemo(spread, lam)
variance_demo.show()

# %% [markdown]
# **Question.** Backprop through a model is exact differentiation. Why is it *worse* here than an
# estimator that never looks at a derivative?
#
# <details><summary>Answer</summary>
#
# Each per-sample pathwise gradient is the exact derivative of *one* noisy trajectory, and in a
# chaotic system those derivatives are astronomically large, with random signs, because nearby
# trajectories separate like $e^{\lambda T}$. Their average converges to the smooth gradient of
# the expectation only after a number of samples that grows like $e^{2\lambda T}$. The
# likelihood-ratio estimator never multiplies Jacobians: its variance is bounded by
# $\max f^2 / \sigma_0^2$ whatever $T$ is. The right panel shows it: the pathwise estimates move
# right by orders of magnitude as $T$ grows, the likelihood-ratio ones stay where they are.
# </details>

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
# We run one pass of the loop: 300 real transitions with random torques (one and a half
# episodes), a small ensemble fitted to them, then REINFORCE on rollouts of 100 steps sampled
# *only from the model*. The real pendulum is used only to evaluate the policy.

# %%
small_data = policy_gradient.ModelDataConfig(n_transitions=300)
model_small, _, fit_log = policy_gradient.fit_pendulum_model(small_data)
print(f"model fitted to {small_data.n_transitions} random transitions in {fit_log.epochs} epochs")

# %%
pg_gen = cl.utils.torch_generator(1)
policy = policy_gradient.GaussianPolicy(generator=pg_gen)
initial_policy = copy.deepcopy(policy)
pg_config = policy_gradient.PGConfig()
pg_log = policy_gradient.train_in_model(model_small.mean_step, policy, pg_config, pg_gen, progress=True)
for it, promised, real in zip(pg_log.iteration, pg_log.model_return, pg_log.real_return, strict=True):
    print(f"update {it:3d}: return over {pg_config.eval_horizon} steps promised by the model {promised:7.1f}, "
          f"real {real:7.1f}")

# %% [markdown]
# Now compare promise and reality step by step: from the same 256 start states, the cumulative
# return after $h$ steps in the model and in the real pendulum, for the policy before and after
# training.

# %%
obs0 = policy_gradient.pendulum_starts(256, gen)
results = {name: policy_gradient.model_vs_real_returns(model_small.mean_step, pi, obs0, 200)
           for name, pi in (("before training", initial_policy), ("after training", policy))}
for name, (model_ret, real_ret) in results.items():
    gap = np.abs(model_ret - real_ret).mean(0)
    print(f"{name}: after 200 steps the model promises {model_ret[:, -1].mean():.0f}, reality gives "
          f"{real_ret[:, -1].mean():.0f}; mean |gap| after 10 / 50 / 200 steps: "
          f"{gap[9]:.1f} / {gap[49]:.1f} / {gap[-1]:.1f}")

# %%
h = np.arange(1, 201)
fig, (ax_r, ax_g) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
for (name, (model_ret, real_ret)), color in zip(results.items(), ("C7", "C1"), strict=True):
    ax_r.plot(h, model_ret.mean(0), "--", color=color, label=f"{name}: model's promise")
    ax_r.plot(h, real_ret.mean(0), color=color, label=f"{name}: real")
    gap = np.abs(model_ret - real_ret).mean(0)
    ax_g.loglog(h, gap, color=color, label=name)
ax_g.loglog(h, gap[-1] * (h / h[-1]) ** 2, "k:", lw=1, label="∝ h² (through the last point)")
ax_r.set(xlabel="steps h", ylabel="return of the first h steps", title="promise vs reality")
ax_g.set(xlabel="steps h", ylabel="mean |model − real| return", title="the gap grows with the horizon")
ax_r.legend(fontsize=7)
ax_g.legend(fontsize=7)
plt.show()


# %% [markdown]
# **Question.** Two things make the model's promise drift from reality as the rollout gets longer.
# Which one does the "before training" curve show, and what does training add?
#
# <details><summary>Answer</summary>
#
# Even for a fixed policy, a model rollout compounds the model's errors: each small error puts
# the next prediction in a slightly wrong state, and the return gap grows faster than linearly
# with $h$ (compare with the $h^2$ reference). Training adds *exploitation*: the policy was
# optimised against the model, so wherever the model is wrong in its favour, REINFORCE finds it
# and goes there, into states the 300 random transitions never covered. Compare the two rows
# printed above: after training the gap is larger, and in this run the model's promise is far
# above the real return. That is why v2.5 "still fails with long model rollouts".
# </details>

# %% [markdown]
# ## 3. Compounding error: $O(\epsilon T^2)$
# ### 3.1 The tightrope
# The lecture's argument, the same as for distribution shift in imitation learning. At every step
# the model makes a mistake with probability $\epsilon$; after a mistake the rollout is in states
# the model was not trained on and it never comes back: the mistake is *absorbing*, like falling
# off a tightrope. The **gap** $G(T, \epsilon)$ is the expected number of steps $t = 1..T$ spent
# off the real trajectory. How does it grow with the horizon $T$?

# %% [markdown]
# ### Exercise 2.3 · The compounding gap of the tightrope (2 points)
# Complete `compounding_gap(T, eps)`: the exact $G(T, \epsilon)$, for many $\epsilon$ at once.
#
# * `T`: an int $\ge 1$; `eps`: a NumPy array of probabilities, of any shape;
# * returns a NumPy array of the same shape as `eps`;
# * exact, no sampling: $G$ is a sum of $T$ terms, and no Python loop over `eps` is needed.
#
# Success: the check passes for $\epsilon = 0$ (the gap is 0, not NaN), $\epsilon = 1$, $T = 1$,
# $\epsilon T = 0.1$ with $T = 1000$ (where the approximation $\epsilon T(T+1)/2$ is close but not
# exact) and a 2-D array of $\epsilon$.
#
# <details><summary>Hint 1</summary>
#
# You are off at step $t$ if *any* of the steps $1..t$ went wrong: what is the probability that
# none did? The expected number of steps off is the sum over $t$ of the probability of being off
# at step $t$ (linearity of expectation).
# </details>
#
# <details><summary>Hint 2: the formula</summary>
#
# $G(T, \epsilon) = \sum_{t=1}^{T}\big[1-(1-\epsilon)^t\big]$. Broadcast `eps[..., None]` against
# `t = np.arange(1, T + 1)` and sum over the last axis. The closed form
# $T - (1-\epsilon)\big(1-(1-\epsilon)^T\big)/\epsilon$ divides by $\epsilon$: avoid it.
# </details>

# %% tags=["solution:2.3"]
def compounding_gap(T: int, eps: np.ndarray) -> np.ndarray:
    """G(T, eps) = sum_{t=1}^T [1 - (1 - eps)^t], elementwise in eps (any shape)."""
    # BEGIN SOLUTION
    t = np.arange(1, T + 1)
    return (1.0 - (1.0 - eps[..., None]) ** t).sum(-1)
    # END SOLUTION


# %% tags=["exercise:2.3", "points:2"]
checks.compounding_gap()

# %% [markdown]
# Your gap next to a simulation of the tightrope (20 000 runs with Bernoulli($\epsilon$) mistakes)
# and the approximation $\epsilon T(T+1)/2$. While $\epsilon T \ll 1$, $1-(1-\epsilon)^t \approx \epsilon t$, so
#
# $$G(T, \epsilon) \approx \sum_{t=1}^{T} \epsilon t = \frac{\epsilon\,T(T+1)}{2}: \quad \text{quadratic in } T .$$
#
# Once $\epsilon T \gg 1$ nearly every rollout has failed early: $G \to T - (1-\epsilon)/\epsilon$,
# every extra step adds one step off (slope 1 in $T$), and $\epsilon$ stops mattering.

# %%
toy_cases = [(10, 0.01), (100, 0.001), (100, 0.01), (100, 0.1)]
toy_exact = precomputed.run_or_load("part2_toy_exact", lambda: [
    float(compounding_gap(T_, np.array([eps_]))[0]) for T_, eps_ in toy_cases])
for (T_, eps_), exact in zip(toy_cases, toy_exact, strict=True):
    simulated, se = compounding.simulate_toy_gap(T_, eps_, 20_000, rng)
    print(f"T = {T_:3d}, ε = {eps_:<5} (εT = {eps_ * T_:<4.2g}): exact {exact:7.3f}, simulated "
          f"{simulated:7.3f} ± {se:.3f}, εT(T+1)/2 = {eps_ * T_ * (T_ + 1) / 2:7.3f}")

# %%
Ts_toy, es_toy = np.arange(1, 101), np.geomspace(1e-5, 1e-3, 10)
gap_T, gap_eps = precomputed.run_or_load("part2_toy_curves", lambda: (
    np.stack([compounding_gap(T_, np.array([1e-3, 0.1])) for T_ in Ts_toy]),  # (100, 2)
    compounding_gap(100, es_toy)))
print(f"slope in T, ε = 0.001, T = 5..100 (εT ≤ 0.1): {compounding.loglog_slope(Ts_toy[4:], gap_T[4:, 0]):.2f}")
print(f"slope in ε, T = 100, ε = 1e-5..1e-3: {compounding.loglog_slope(es_toy, gap_eps):.2f}")
print(f"slope in T, ε = 0.1, T = 50..100 (εT ≥ 5, saturated): {compounding.loglog_slope(Ts_toy[49:], gap_T[49:, 1]):.2f}")

# %% [markdown]
# ### 3.2 A learned model with injected mistakes
# Now the same measurement with a learned Pendulum model, fitted to 3000 random transitions (ten
# times the data of Section 2). To control the model error we **inject** it: at every model step,
# with probability $\epsilon$, the predicted angular velocity is wrong by $\pm 3$ rad/s. The model
# rollout is **off** at step $t$ when its observation $(\cos\theta, \sin\theta, \dot\theta)$ is
# farther than 0.5 from the real one, started from the same state under the same random torques.
# The gap is again the expected number of steps off. We roll the model once for every possible
# step $\tau$ of the first mistake, so the expectation over mistakes is an exact sum (no sampling
# noise in $\epsilon$):
#
# $$G(T,\epsilon) = \sum_{\tau=1}^{T} \epsilon(1-\epsilon)^{\tau-1} D_\tau(T) + (1-\epsilon)^T D_{\text{none}}(T),$$
#
# where $D_\tau(T)$ counts the steps off among $1..T$ when the first mistake is at $\tau$ (averaged
# over 48 start states). If mistakes are absorbing, $D_\tau(T) = T - \tau + 1$ and $G$ is the toy's.
# $D_{\text{none}}$ is the learned model's *own* error: zero as long as the model alone stays within
# 0.5 of reality.

# %%
model, buffer, fit_log = policy_gradient.fit_pendulum_model(policy_gradient.ModelDataConfig())
rollouts = compounding.mistake_rollouts(model.mean_step)
t_valid = compounding.model_horizon(rollouts)
print(f"model fitted to {len(buffer)} transitions; alone, it stays within 0.5 of reality for {t_valid} "
      f"steps on all {rollouts.off.shape[1]} start states")
print(f"after a mistake at step 1 the model is off on {rollouts.off[0].mean():.1%} of the next "
      f"{rollouts.off.shape[2]} steps (absorbing, as the argument assumes)")

# %%
toy = precomputed.run_or_load("part2_toy_gaps", lambda: part2.toy_gaps(compounding_gap))  # your G, T = 1..60
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
# model (blue) and the toy (orange: your `compounding_gap`, tabulated for every slider value
# before the demo starts), with the $\epsilon T^2/2$ reference. The readout prints the local
# slopes at the slider values.
#
# ![Compounding error demo at its default setting, T = 20 and ε = 0.005](../assets/part2_compounding.png)
#
# *The image above is the demo at its default setting, for readers without a running kernel.*

# %%
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
# ### Exercise 2.4 · Branched rollouts (3 points)
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

# %% tags=["solution:2.4"]
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


# %% tags=["exercise:2.4", "points:3"]
checks.branched_rollouts()

# %% [markdown]
# Your generator now makes the branches. We branch from 512 (trajectory, step) pairs of the real
# rollouts above, and measure the gap of $T$ model steps made from branches that start in the first
# $T - k$ real steps. To get every possible first-mistake step at once (an exact sum again),
# `compounding.branch_table` hands your function a batch whose "state" carries, per branch, one copy
# of the model's observation for every first-mistake step plus the indices needed to replay the real
# torques; your function treats it as any batch of states.

# %%
table = precomputed.run_or_load("part2_branch_table", lambda: compounding.branch_table(
    branched_rollouts, model.mean_step, rollouts, k_max=15, n_branches=512, generator=cl.utils.torch_generator(1)))
for k in (1, 5, 15):
    Tb = np.arange(k, 61)
    g = compounding.branched_gap(table, Tb, k, 0.01)
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

# %%
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
# Q-learning and off-policy actor-critic methods learn from transitions whatever distribution they
# came from: that is Part 3 (Dyna, MVE, MBPO).
# </details>

# %% [markdown]
# ## Summary
# * Two unbiased estimators of $\nabla_\theta\,\mathbb{E}[f]$: the likelihood ratio uses only values of
#   $f$; the pathwise one differentiates through it. Through a chaotic system the pathwise variance
#   grows like $e^{2\lambda T}$ while the likelihood ratio's stays bounded.
# * MBRL v2.5 trains a policy with policy gradients on model rollouts: no Jacobian products, but
#   the longer the rollout, the further the model's promise drifts from reality, and the policy
#   exploits the model's errors.
# * One mistake per step with probability $\epsilon$, absorbing, gives a gap of
#   $\epsilon T(T+1)/2 = O(\epsilon T^2)$ while $\epsilon T$ is small; it saturates at $T - 1/\epsilon$ beyond.
#   A learned model with injected mistakes follows the toy until its own error takes over.
# * MBRL v3.0 branches short rollouts of $k$ steps from real states: the gap of $T$ model steps is
#   about $\epsilon T(k+1)/2$, linear in $T$. The data is a mixture of real and model states, which
#   calls for off-policy learning: Part 3.
#
# ## Going further
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
