"""01_mpc_and_backprop: the MPC episode, the math test, and exploding/vanishing BPTT gradients.

* :class:`MPCEpisodeDemo` - the planned trajectory vs the executed one at every step of an
  MPC episode; updated live while the episode runs, then scrubbed with a step slider.
* :class:`MathTestDemo` - expected return of open loop, MPC and closed loop on the math test.
* :class:`GradientPathologyDemo` - per-step gradient magnitudes ||dJ/da_t|| and the singular
  values of the Jacobian products over k steps, open loop and closed by the controller that
  flew the trajectory, against the horizon T and the pendulum's gravity gain (how curved the
  dynamics are). Its data, :func:`gradient_grid`, is computed once with your
  ``action_sequence_gradient`` (1.4) and ``closed_loop_product`` (1.5).

MBRL v2.0's horizon sweep, second-order methods and the LSTM comparison are in :mod:`part1_v20`.

The static images (``STATIC_IMAGES``) draw the solution's precomputed results.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from course_lib import envs, gradients, information, planning, precomputed
from course_lib.utils import one_thread
from course_lib.widgets import LiveDemo, Slider

__all__ = ["first_upright_step", "MPCEpisodeDemo", "MathTestDemo", "GradientPathologyDemo", "gradient_grid",
           "STATIC_IMAGES"]

EPISODE_LEN = 200


def _angle(obs: np.ndarray) -> np.ndarray:
    """Pendulum angle in [-pi, pi] (0 = upright) from observations (..., 3)."""
    return np.arctan2(obs[..., 1], obs[..., 0])


def _break_wraps(theta: np.ndarray) -> np.ma.MaskedArray:
    """Mask the points where a wrapped angle jumps between -pi and pi (no vertical lines)."""
    jump = np.zeros(theta.shape, dtype=bool)
    jump[1:] = np.abs(np.diff(theta)) > np.pi
    return np.ma.masked_array(theta, mask=jump)


def first_upright_step(log: planning.EpisodeLog, tol: float = 0.2, min_left: int = 40) -> int:
    """First step after which the pendulum stays within ``tol`` rad of upright (for >= 10 steps).

    Capped so that at least ``min_left`` steps of the episode remain.
    """
    up = np.abs(_angle(np.asarray(log.obs[:-1]))) < tol
    last = max(len(up) - min_left, 0)
    for t in range(last):
        if up[t : t + 10].all():
            return t
    return last


class MPCEpisodeDemo(LiveDemo):
    """Slider t -> the plan MPC made at step t (predicted by the model) and the executed path.

    Pass a :class:`planning.EpisodeLog` with ``plans`` (an empty one for a live run). During a
    live run, ``live_update(t, log)`` is the callback ``planning.mbrl_v15`` calls after each
    real step; ``show_episode(log)`` shows a finished episode (the precomputed one, while the
    planner's exercises are unfinished).
    """

    alt = ("Two panels over the real steps of an MPC episode, the pendulum's angle (left) and "
           "angular speed (right): the whole episode in grey, the part executed up to step t, and "
           "dashed the plan the model predicted at step t.")

    sliders = {"t": Slider(0, EPISODE_LEN - 1, 1, 25, "step t")}
    figsize = (8.0, 3.4)

    def __init__(self, log: planning.EpisodeLog, horizon: int = 15, every: int = 10):
        self.log = log
        self.horizon, self.every = horizon, every
        super().__init__()

    def build(self, fig):
        ax_th, ax_v = fig.subplots(1, 2)
        steps = np.arange(EPISODE_LEN + 1)
        for ax, ylabel, lim in ((ax_th, "angle θ (0 = upright)", (-3.5, 3.5)),
                                (ax_v, "angular speed θ̇", (-8.5, 8.5))):
            ax.axhline(0, color="gray", lw=0.8, ls=":")
            ax.set(xlim=(0, EPISODE_LEN + self.horizon), ylim=lim, xlabel="real step", ylabel=ylabel)
        zeros = np.zeros(len(steps))
        self.whole = [self.animated(ax.plot(steps, zeros, color="0.75", lw=1, label="whole episode")[0])
                      for ax in (ax_th, ax_v)]
        self.done = [self.animated(ax.plot(steps, zeros, color="C0", lw=1.5, label="executed up to t")[0])
                     for ax in (ax_th, ax_v)]
        self.plan = [self.animated(ax.plot(np.arange(self.horizon + 1), np.zeros(self.horizon + 1),
                                           color="C1", lw=2, ls="--", label="plan at step t (model)")[0])
                     for ax in (ax_th, ax_v)]
        self.now = [self.animated(ax.axvline(0, color="C3", lw=0.8)) for ax in (ax_th, ax_v)]
        ax_th.set_title("MPC: plan H steps ahead, execute one, replan")
        ax_th.legend(loc="lower right", fontsize=8)

    def update(self, t: int) -> str:
        log = self.log
        n = min(len(log.rewards), len(log.plans))
        if n == 0:
            return "waiting for the first step"
        t = int(min(max(t, 0), n - 1))
        obs, rewards = np.asarray(log.obs), np.asarray(log.rewards)
        th = _break_wraps(_angle(obs))
        for whole, done, y in zip(self.whole, self.done, (th, obs[:, 2]), strict=True):
            whole.set_data(np.arange(len(obs)), y)
            done.set_data(np.arange(t + 1), y[: t + 1])
        plan = log.plans[t]
        x = t + np.arange(plan.shape[0])
        for line, y in zip(self.plan, (_break_wraps(_angle(plan)), plan[:, 2]), strict=True):
            line.set_data(x, y)
        for line in self.now:
            line.set_xdata([t, t])
        return (f"step {t}: return so far {rewards[: t + 1].sum():.1f}, "
                f"episode return {rewards.sum():.1f} after {len(rewards)} steps")

    def live_update(self, t: int, log: planning.EpisodeLog) -> None:
        """Callback for a running episode: show step t, repainting every ``every`` steps."""
        self.log = log
        if t % self.every and t != EPISODE_LEN - 1:
            return
        self.push(t=t)

    def show_episode(self, log: planning.EpisodeLog) -> str:
        """Show a finished episode, at its last step (as a live run ends); returns the readout."""
        self.log = log
        return self.push(t=max(min(len(log.rewards), len(log.plans)) - 1, 0))


class MathTestDemo(LiveDemo):
    """Sliders: pop-quiz probability and number of possible questions -> three expected returns."""

    alt = ("A bar chart of the expected return of three agents on the math test: open loop, MPC that"
           " replans, and a closed-loop policy.")

    sliders = {"pop_quiz": Slider(0.0, 1.0, 0.05, 0.3, "pop-quiz probability"),
               "n_questions": Slider(1, 10, 1, 4, "possible questions K")}
    figsize = (6.5, 3.0)
    labels = ("open loop", "MPC (replanning)", "closed loop")

    def __init__(self) -> None:
        q, k = self.sliders["pop_quiz"], self.sliders["n_questions"]
        self.quiz = np.round(np.arange(q.min, q.max + q.step / 2, q.step), 6)
        self.ks = np.arange(int(k.min), int(k.max) + 1)
        self.values = np.array([[list(information.compare(information.math_test(int(n), pop_quiz=p)).values())
                                 for n in self.ks] for p in self.quiz])  # (Q, K, 3), all exact
        super().__init__()

    def build(self, fig):
        ax = fig.subplots()
        self.bars = ax.bar(self.labels, [0, 0, 0], color=["C0", "C1", "C2"])
        for bar in self.bars:
            self.animated(bar)
        self.text = self.animated(ax.text(0.02, 0.95, "", transform=ax.transAxes, va="top"))
        ax.axhline(0, color="gray", lw=0.8)
        ax.set(ylim=(-1.2, 2.6), ylabel="expected return", title="the math test, solved exactly")

    def update(self, pop_quiz: float, n_questions: int) -> str:
        i = int(np.argmin(np.abs(self.quiz - pop_quiz)))
        j = int(np.argmin(np.abs(self.ks - n_questions)))
        values = self.values[i, j]
        for bar, v in zip(self.bars, values, strict=True):
            bar.set_height(v)
        self.text.set_text("   ".join(f"{name.split(' (')[0]}: {v:+.2f}"
                                       for name, v in zip(self.labels, values, strict=True)))
        returns = "  ".join(f"{name}: {v:+.3f}" for name, v in zip(self.labels, values, strict=True))
        return f"pop quiz {self.quiz[i]:.2f}, K = {self.ks[j]}: {returns}"


GAINS = np.round(np.arange(0.0, 3.0 + 0.125, 0.25), 6)
"""Gravity gains of the gradient demo's slider (0 = flat dynamics, larger = more curved)."""


class _SideBySide:
    """G pendulums with gravity gains ``gains`` (G,) as one system: state (N, 2G), action (N, G).

    Speed limit removed. The reward is the sum of the G pendulums' rewards; as they do not
    interact, dJ/da_{t,g} of the sum is the gradient of pendulum g's own return.
    """

    def __init__(self, gains: torch.Tensor):
        self.n = len(gains)
        self.params = replace(envs.PENDULUM, g=envs.PENDULUM.g * gains, max_speed=math.inf)

    def blocks(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every pendulum: s (N, G, 2), a (N, G, 1) -> s' (N, G, 2), r (N, G)."""
        return envs.pendulum_step(s, a, self.params)

    def rows(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step, rows in (..., gain) blocks: s (k G, 2), a (k G, 1) -> s' (k G, 2), r (k G,)."""
        nxt, r = self.blocks(s.reshape(-1, self.n, 2), a.reshape(-1, self.n, 1))
        return nxt.reshape(-1, 2), r.reshape(-1)

    def __call__(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nxt, r = self.blocks(s.reshape(-1, self.n, 2), a.reshape(-1, self.n, 1))
        return nxt.reshape(-1, 2 * self.n), r.sum(-1)


def gradient_grid(gradient: gradients.GradientFn, product: gradients.ProductFn,
                  gains: np.ndarray = GAINS, t_max: int = 100, seed: int = 0) -> dict[str, np.ndarray]:
    """Gradients of the pendulum's return for every gravity gain and every horizon T <= t_max.

    For each gain, one trajectory of the pendulum held near upright (a PD controller plus small
    random torques chose the actions; seeded), speed limit removed, float64. The gradients are
    those of the open-loop problem: J_T as a function of the action sequence a_0..a_{T-1},
    computed by ``gradient(step, obs, actions)`` (Exercise 1.4) once per horizon T, with all the
    gains side by side as one system. The Jacobian products are ``product`` (Exercise 1.5).
    Returns ``gains`` (G,), ``grad`` (G, T, T): ||dJ_T/da_t|| in row T - 1 (zero for t >= T;
    float32, plenty for a log-scale plot and half the size), ``sv`` (G, T, 2): singular values
    of the open-loop products ds_k/ds_0 = A_{k-1} ... A_0 for k = 1..T, and ``sv_closed``
    (G, T, 2): those of the closed-loop products under the PD controller, (A + B K)_{k-1} ... .
    """
    g = torch.as_tensor(np.asarray(gains, dtype=np.float64))
    joint = _SideBySide(g)
    gen = torch.Generator().manual_seed(seed)
    noise = 0.3 * torch.randn(t_max, 1, generator=gen, dtype=torch.float64)
    s0 = torch.tensor([0.1, 0.0], dtype=torch.float64).expand(len(g), 2)
    s, states, acts = s0[None], [], []
    gain_k = torch.stack([-(15.0 * g + 9.0) / 3.0, torch.full_like(g, -2.0)], -1)  # (G, 2): du/ds
    feedback = []
    for t in range(t_max):  # PD control towards upright: theta'' = -9 theta - 6 theta_dot
        u = (s[0] * gain_k).sum(-1) + noise[t]
        states.append(s[0])
        acts.append(u.clamp(-2.0, 2.0)[:, None])
        feedback.append(gain_k * (u.abs() < 2.0)[:, None])  # a saturated torque does not react
        s, _ = joint.blocks(s, acts[-1][None])
    states, acts = torch.stack(states), torch.stack(acts)  # (T, G, 2), (T, G, 1)
    dpi = torch.stack(feedback)[:, :, None, :]  # (T, G, 1, 2)
    grad = torch.zeros(len(g), t_max, t_max, dtype=torch.float64)
    with one_thread():
        for T in range(1, t_max + 1):  # J_T of all G pendulums at once: obs (2G,), actions (T, G)
            dj = torch.as_tensor(gradient(joint, s0.reshape(-1), acts[:T, :, 0]), dtype=torch.float64)
            grad[:, T - 1, :T] = dj.reshape(T, len(g)).abs().T
        ds, da, _, _ = gradients.step_jacobians(joint.rows, states.reshape(-1, 2), acts.reshape(-1, 1))
        ds, da = ds.reshape(t_max, len(g), 2, 2), da.reshape(t_max, len(g), 2, 1)
        sv = torch.stack([gradients.product_singular_values(product, ds[:, i]) for i in range(len(g))])
        sv_closed = torch.stack([gradients.product_singular_values(product, ds[:, i], da[:, i], dpi[:, i])
                                 for i in range(len(g))])
    return {"gains": g.numpy(), "grad": grad.float().numpy(), "sv": sv.numpy(),
            "sv_closed": sv_closed.numpy()}


class GradientPathologyDemo(LiveDemo):
    """Sliders T and gravity gain -> ||dJ/da_t|| per step and singular values of the Jacobian product."""

    alt = ("Two log-scale panels against the time step: left, the size of the return's gradient with"
           " respect to each action; right, the largest and smallest singular values of the product "
           "of Jacobians, open and closed loop.")

    sliders = {"T": Slider(1, 100, 1, 60, "horizon T"),
               "gain": Slider(0.0, 3.0, 0.25, 1.0, "gravity gain (curvature)")}
    figsize = (8.5, 3.4)
    low, high = 1e-10, 1e14

    def __init__(self, grid: dict[str, np.ndarray]) -> None:
        """``grid``: what :func:`gradient_grid` returns (for t_max = 100)."""
        self.grid, self.gains = grid, np.asarray(grid["gains"])
        t_max = int(self.sliders["T"].max)
        if np.shape(grid["grad"])[1:] != (t_max, t_max) or np.shape(grid["sv"])[1:] != (t_max, 2) \
                or np.shape(grid["sv_closed"]) != np.shape(grid["sv"]):
            raise ValueError(f"grid: expected grad (G, {t_max}, {t_max}), sv and sv_closed (G, {t_max}, 2), "
                             f"got {np.shape(grid['grad'])}, {np.shape(grid['sv'])}, "
                             f"{np.shape(grid['sv_closed'])}")
        super().__init__()

    def build(self, fig):
        ax_g, ax_s = fig.subplots(1, 2)
        t_max = int(self.sliders["T"].max)
        x = np.arange(t_max)
        self.g_line = self.animated(ax_g.plot(x, np.ones(t_max), "o-", ms=2.5, color="C0")[0])
        self.g_bad = self.animated(ax_g.plot([], [], "x", color="C3", ms=7, mew=2,
                                             label="inf/NaN or off the chart")[0])
        ax_g.set(yscale="log", ylim=(self.low, self.high), xlim=(-1, t_max), xlabel="time step t",
                 ylabel=r"$\|\partial J/\partial a_t\|$", title="gradient for each action")
        ax_g.legend(loc="upper right", fontsize=8)
        k = np.arange(1, t_max + 1)
        self.s_max = self.animated(ax_s.plot(k, np.ones(t_max), color="C1", label="σ_max")[0])
        self.s_min = self.animated(ax_s.plot(k, np.ones(t_max), color="C2", label="σ_min")[0])
        self.c_max = self.animated(ax_s.plot(k, np.ones(t_max), color="C4", ls="--",
                                             label="σ_max, closed by the PD policy")[0])
        self.s_bad = self.animated(ax_s.plot([], [], "x", color="C3", ms=7, mew=2)[0])
        ax_s.axhline(1, color="gray", lw=0.8, ls=":")
        ax_s.set(yscale="log", ylim=(self.low, self.high), xlim=(0, t_max + 1), xlabel="steps k",
                 ylabel="singular values", title=r"singular values of $\partial s_k/\partial s_0$")
        ax_s.legend(loc="upper left", fontsize=8)

    def update(self, T: int, gain: float) -> str:
        T = int(T)
        i = int(np.argmin(np.abs(self.gains - gain)))
        g, bad_g = gradients.clip_for_log(self.grid["grad"][i, T - 1, :T], self.low, self.high)
        self.g_line.set_data(np.arange(T), g)
        self.g_bad.set_data(np.arange(T)[bad_g], g[bad_g])
        sv = self.grid["sv"][i, :T]
        smax, bad_max = gradients.clip_for_log(sv[:, 0], self.low, self.high)
        smin, bad_min = gradients.clip_for_log(sv[:, 1], self.low, self.high)
        k = np.arange(1, T + 1)
        self.s_max.set_data(k, smax)
        self.s_min.set_data(k, smin)
        closed_max = self.grid["sv_closed"][i, :T, 0]
        self.c_max.set_data(k, gradients.clip_for_log(closed_max, self.low, self.high)[0])
        bad = bad_max | bad_min
        self.s_bad.set_data(k[bad], smax[bad])
        raw = self.grid["grad"][i, T - 1, :T]
        ratio = raw[0] / raw[-1] if raw[-1] > 0 else math.inf
        cond = sv[-1, 0] / sv[-1, 1] if sv[-1, 1] > 0 else math.inf
        note = f"  [{int(bad_g.sum() + bad.sum())} points flagged]" if bad_g.any() or bad.any() else ""
        closed = self.grid["sv_closed"][i, T - 1, 0]
        return (f"T = {T}, gain {self.gains[i]:.2f}: ‖∂J/∂a_0‖ / ‖∂J/∂a_T-1‖ = {ratio:.2g}; "
                f"condition number {cond:.2g}; closed-loop σ_max = {closed:.2g}{note}")


def _precomputed_mpc_demo() -> MPCEpisodeDemo:
    """The last MPC episode of the solution's MBRL v1.5 run (precomputed), at the default step."""
    return MPCEpisodeDemo(precomputed.load("part1_mbrl_v15").episodes[-1])


def _precomputed_gradient_demo() -> GradientPathologyDemo:
    """The gradient demo on the solution's precomputed grid."""
    return GradientPathologyDemo(precomputed.load("part1_gradient_grid"))


STATIC_IMAGES = {"part1_mpc_episode.png": _precomputed_mpc_demo,
                 "part1_math_test.png": MathTestDemo,
                 "part1_gradients.png": _precomputed_gradient_demo}
