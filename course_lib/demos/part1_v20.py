"""01_mpc_and_backprop, MBRL v2.0: how far ahead BPTT can look, and what second-order methods buy.

* :class:`BPTTHorizonDemo` - slider T over the committed BPTT-horizon sweep
  (``scripts/part1_bptt_horizons.py``): the policy's real return during training and its gradient
  norms at horizon T, beside the final real return against T for every seed.
* :func:`plot_descent_vs_newton` - gradient ascent against Newton's method on the same action
  sequence problem (``shooting.descent_vs_newton``, driven by your gradient, Exercise 1.4).
* :func:`plot_closed_loop` - the largest singular value of the Jacobian products along a policy's
  rollout, open loop and closed by the policy (your ``closed_loop_product``, Exercise 1.5).

The static image (``STATIC_IMAGES``) draws the committed sweep.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from course_lib import gradients
from course_lib.widgets import LiveDemo, Slider

__all__ = ["BPTTHorizonDemo", "plot_descent_vs_newton", "plot_closed_loop", "STATIC_IMAGES"]

SEED_COLORS = ("C0", "C1", "C2", "C4", "C5")


class BPTTHorizonDemo(LiveDemo):
    """Slider T -> real return while training at horizon T, its gradient norms, and return vs T."""

    sliders = {"T": Slider(5, 200, 5, 50, "horizon T")}
    figsize = (10.5, 3.4)
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
                 title="after the last update, against T")
        ax_h.legend(loc="lower left", fontsize=7)

    def update(self, T: int) -> str:
        j = int(np.argmin(np.abs(self.horizons - T)))
        for i, line in enumerate(self.r_lines):
            line.set_ydata(self.real[i, j])
        for i, line in enumerate(self.g_lines):
            line.set_ydata(gradients.clip_for_log(self.grad[i, j], self.g_low, self.g_high)[0])
        self.h_line.set_xdata([self.horizons[j], self.horizons[j]])
        finals = ", ".join(f"{v:.0f}" for v in self.real[:, j, -1])
        return (f"T = {self.horizons[j]}: real return after {self.evals[-1]} updates, per seed: {finals} "
                f"(MPC: {self.mpc.mean():.0f}); median gradient norm {np.median(self.grad[:, j]):.3g}, "
                f"largest {np.nanmax(self.grad[:, j]):.3g}")


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


def _sweep_demo() -> BPTTHorizonDemo:
    """The horizon demo on the committed sweep, at its default horizon."""
    return BPTTHorizonDemo(gradients.load_horizon_sweep())


STATIC_IMAGES = {"part1_bptt_horizons.png": _sweep_demo}
