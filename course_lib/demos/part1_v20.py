"""01_mpc_and_backprop, MBRL v2.0: how far ahead BPTT can look, and what second-order methods buy.

* :class:`BPTTHorizonDemo` - slider T over the committed BPTT-horizon sweep
  (``scripts/part1_bptt_horizons.py``): the policy's real return during training and its gradient
  norms at horizon T, beside the final real return against T for every seed.
* :func:`plot_descent_vs_newton` - gradient ascent against Newton's method on the same action
  sequence problem (``shooting.descent_vs_newton``, driven by your gradient, Exercise 1.4).
* :func:`plot_bptt_gradients` - the gradient for each action of an open-loop sequence, by horizon.
* :func:`plot_closed_loop` - the largest singular value of the Jacobian products along a policy's
  rollout, open loop and closed by the policy (your ``closed_loop_product``, Exercise 1.5).
* :func:`lstm_comparison` and :func:`plot_lstm_comparison` - why an LSTM-style fix is not
  available to us (Jacobian products by your ``closed_loop_product``).

The static image (``STATIC_IMAGES``) draws the committed sweep.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import envs, gradients, planning
from course_lib.utils import one_thread
from course_lib.widgets import LiveDemo, Slider

__all__ = ["BPTTHorizonDemo", "plot_descent_vs_newton", "plot_closed_loop", "plot_bptt_gradients",
           "lstm_comparison", "plot_lstm_comparison", "STATIC_IMAGES"]

SEED_COLORS = ("C0", "C1", "C2", "C4", "C5")


class BPTTHorizonDemo(LiveDemo):
    """Slider T -> real return while training at horizon T, its gradient norms, and return vs T."""

    alt = ("Three panels for backpropagation through time with horizon T: the real return of each "
           "seed over training against MPC's, the gradient norms over training on a log scale, and "
           "the final return of every trained horizon.")

    sliders = {"T": Slider(5, 200, 5, 50, "horizon T")}
    figsize = (8.4, 3.3)
    g_low, g_high = 1e-3, 1e12

    def __init__(self, sweep: dict) -> None:
        """``sweep``: what :func:`course_lib.gradients.load_horizon_sweep` returns."""
        self.horizons = np.asarray(sweep["horizons"])
        self.seeds = list(sweep["seeds"])
        self.evals = np.asarray(sweep["eval_updates"])
        self.real = np.asarray(sweep["real_return"], dtype=np.float64).mean(-1)  # (S, H, E)
        self.grad = np.asarray(sweep["grad_norm"], dtype=np.float64)             # (S, H, U)
        self.mpc = np.asarray(sweep["mpc_return"], dtype=np.float64).mean(-1)    # (S,)
        super().__init__()

    def build(self, fig):
        ax_r, ax_g, ax_h = fig.subplots(1, 3)
        n_updates = self.grad.shape[-1]
        colors = SEED_COLORS[: len(self.seeds)]
        self.r_lines = [self.animated(ax_r.plot(self.evals, self.real[i, 0], "o-", ms=3, color=c,
                                                label=f"seed {s}")[0])
                        for i, (s, c) in enumerate(zip(self.seeds, colors, strict=True))]
        ax_r.axhline(self.mpc.mean(), color="gray", ls="--", lw=1, label="MPC, same models")
        ax_r.set(xlim=(0, n_updates), ylim=(-1900, 50), xlabel="BPTT updates",
                 ylabel="real return (200 steps)", title="real return while training at T")
        ax_r.legend(loc="lower right", fontsize=7)
        x = np.arange(n_updates)
        self.g_lines = [self.animated(ax_g.plot(x, self.grad[i, 0], lw=0.8, color=c)[0])
                        for i, c in enumerate(colors)]
        ax_g.set(yscale="log", ylim=(self.g_low, self.g_high), xlim=(0, n_updates), xlabel="BPTT updates",
                 ylabel=r"$\|\partial J_T/\partial\theta\|$", title="gradient norm at T")
        final = self.real[:, :, -1]
        for i, c in enumerate(colors):
            ax_h.plot(self.horizons, final[i], "o", ms=4, color=c)
        ax_h.plot(self.horizons, np.median(final, 0), "k-", lw=1.2, label="median over seeds")
        ax_h.axhline(self.mpc.mean(), color="gray", ls="--", lw=1)
        self.h_line = self.animated(ax_h.axvline(self.horizons[0], color="C3", lw=1))
        ax_h.set(xscale="log", ylim=(-1900, 50), xlabel="horizon T", ylabel="real return after training",
                 title="return after training")
        ax_h.legend(loc="lower left", fontsize=7)

    def update(self, T: int) -> str:
        j = int(np.argmin(np.abs(self.horizons - T)))
        for i, line in enumerate(self.r_lines):
            line.set_ydata(self.real[i, j])
        for i, line in enumerate(self.g_lines):
            line.set_ydata(gradients.clip_for_log(self.grad[i, j], self.g_low, self.g_high)[0])
        self.h_line.set_xdata([T, T])  # the slider's T; the curves are the nearest trained horizon's
        finals = ", ".join(f"{v:.0f}" for v in self.real[:, j, -1])
        nearest = "" if self.horizons[j] == T else f" (nearest trained: T = {self.horizons[j]})"
        return (f"T = {T}{nearest}: real return after {self.evals[-1]} updates {finals} "
                f"(MPC {self.mpc.mean():.0f}); gradient norm: median {np.median(self.grad[:, j]):.3g}, "
                f"max {np.nanmax(self.grad[:, j]):.3g}")


def plot_descent_vs_newton(results: dict[int, dict]) -> plt.Figure:
    """Optimality gap J* - J after each iteration, gradient ascent (lines) vs Newton (squares).

    ``results``: T -> :func:`course_lib.shooting.descent_vs_newton`'s output plus ``optimum`` (J*,
    by LQR). Gaps below 1e-12 are drawn at 1e-12.
    """
    fig, ax = plt.subplots(figsize=(6.8, 3.3), layout="constrained")
    for (T, r), c in zip(results.items(), ("C0", "C1", "C2", "C3", "C4"), strict=False):
        gap = np.maximum(r["optimum"] - np.asarray(r["descent"]), 1e-12)
        ax.plot(np.arange(len(gap)), gap, color=c, label=f"T = {T}, gradient ascent (κ = {r['kappa']:.1e})")
        gap_n = np.maximum(r["optimum"] - np.asarray(r["newton"]), 1e-12)
        ax.plot(np.arange(len(gap_n)), gap_n, "s--", color=c, ms=6, label=f"T = {T}, Newton")
    ax.set_xscale("symlog", linthresh=1)
    ax.set(yscale="log", xlim=(0, max(len(r["descent"]) for r in results.values())), xlabel="iteration",
           ylabel=r"$J^\star - J$", title="the same action-sequence problem, two optimisers")
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_closed_loop(curves: dict[str, np.ndarray]) -> plt.Figure:
    """sigma_max of the Jacobian product over k steps, one curve per name -> (T,) (log scale)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2), layout="constrained")
    for name, sv in curves.items():
        k = np.arange(1, len(sv) + 1)
        ax.plot(k, gradients.clip_for_log(sv, 1e-10, 1e14)[0], label=name)
    ax.axhline(1, color="gray", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="steps k", ylabel=r"$\sigma_{\max}(\partial s_k/\partial s_0)$",
           title="Jacobian products along the policy's own rollout")
    ax.legend(fontsize=8)
    return fig


def lstm_comparison(product: gradients.ProductFn, model_step: planning.StepFn, obs: np.ndarray,
                    actions: np.ndarray) -> dict[str, np.ndarray]:
    """Largest singular value of the Jacobian products along a real trajectory, three ways.

    Along obs (T, 3) and the actions taken there (T, 1): the Jacobians ds_{t+1}/ds_t of the
    true pendulum and of the learned model (their open-loop products over k = 1..T steps by
    ``product``, Exercise 1.5, with dpi = 0), and an LSTM-like recurrence designed to have the
    identity as Jacobian.
    Returns name -> sigma_max of the product over k steps, (T,).
    """
    o = torch.as_tensor(np.asarray(obs), dtype=torch.float64)
    a = torch.as_tensor(np.asarray(actions), dtype=torch.float64)

    def model64(x, u):
        nxt, r = model_step(x.float(), u.float())
        return nxt.double(), r.double()

    curves = {}
    with one_thread():
        for name, fn in (("true pendulum", envs.pendulum_step_obs), ("learned model", model64)):
            ds = gradients.step_jacobians(fn, o, a)[0]
            curves[name] = gradients.product_singular_values(product, ds)[:, 0].numpy()
    curves["LSTM-like (Jacobian = I)"] = np.ones(len(o))
    return curves


def plot_lstm_comparison(curves: dict[str, np.ndarray]) -> plt.Figure:
    """Why the LSTM fix is not ours to use: a faithful model inherits the real Jacobians.

    ``curves`` from :func:`lstm_comparison`. Left, the largest singular value of each Jacobian
    product over k steps; right, the average stretch per step, sigma_max^(1/k).
    """
    fig, (ax_p, ax_s) = plt.subplots(1, 2, figsize=(8.5, 3.2), layout="constrained")
    for (name, prod), c in zip(curves.items(), ("C0", "C1", "C2"), strict=False):
        k = np.arange(1, len(prod) + 1)
        clipped = gradients.clip_for_log(prod, 1e-10, 1e14)[0]
        ax_p.plot(k, clipped, color=c, label=name)
        ax_s.plot(k, clipped ** (1.0 / k), color=c, label=name)
    ax_p.set(yscale="log", xlabel="steps k", ylabel=r"$\sigma_{\max}$ of the product",
             title="Jacobian products along the real trajectory")
    ax_s.set(xlabel="steps k", ylabel=r"$\sigma_{\max}^{1/k}$", title="average stretch per step")
    ax_p.legend(fontsize=8)
    return fig


def plot_bptt_gradients(results: dict[int, np.ndarray], low: float = 1e-8, high: float = 1e12) -> plt.Figure:
    """Per-step gradient magnitudes ||dJ/da_t|| for several horizons T (log scale).

    results: T -> (T,) gradient norms. Non-finite or huge values are clipped and flagged.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.2), layout="constrained")
    flagged = 0
    for T, g in results.items():
        clipped, bad = gradients.clip_for_log(g, low, high)
        line = ax.plot(np.arange(len(g)), clipped, "o-", ms=2.5, label=f"T = {T}")[0]
        ax.plot(np.arange(len(g))[bad], clipped[bad], "x", color=line.get_color(), ms=8, mew=2)
        flagged += int(bad.sum())
    ax.set(yscale="log", xlabel="time step t", ylabel=r"$\|\partial J/\partial a_t\|$",
           title="gradient for each action, by horizon T")
    ax.legend(fontsize=8)
    if flagged:
        ax.text(0.02, 0.02, f"{flagged} inf/NaN or off-chart values clipped (×)", transform=ax.transAxes)
    return fig


def _sweep_demo() -> BPTTHorizonDemo:
    """The horizon demo on the committed sweep, at its default horizon."""
    return BPTTHorizonDemo(gradients.load_horizon_sweep())


STATIC_IMAGES = {"part1_bptt_horizons.png": _sweep_demo}
