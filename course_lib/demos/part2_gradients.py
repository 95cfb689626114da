"""02_gradients_and_compounding_error, sections 1 and 2: the estimators' variance and MBRL v2.5.

* ``EstimatorVarianceDemo``: slider T -> variance of the pathwise and likelihood-ratio gradient
  estimators through T steps of the noisy logistic map when the parameter only moves the start
  state, with the fitted growth rate next to 2 lambda. Data: :class:`EstimatorSpread`, made by your
  estimators (Exercises 2.1 and 2.2).
* ``PerStepVarianceDemo``: the same map when the parameter moves the noise of *every* step (a
  stochastic policy): both variances grow, on semi-log and log-log axes, with fitted rates.
* ``plot_gradient_spread``: REINFORCE (your loss, Exercise 2.3) against backprop through the
  learned Pendulum model, per-rollout variance against T.
* ``plot_seed_runs``: MBRL v2.5 with your REINFORCE over several data seeds: promise vs reality.

``course_lib.demos.part2`` re-exports everything here; its ``STATIC_IMAGES`` draws these demos.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import compounding, estimators, policy_gradient
from course_lib.widgets import LiveDemo, Slider

__all__ = ["EstimatorSpread", "estimator_spread", "EstimatorVarianceDemo", "PerStepVarianceDemo",
           "growth_rates", "plot_gradient_spread", "plot_seed_runs"]

SPREAD_BINS = np.linspace(-4, 16, 41)
"""Bins of log10 |per-sample estimate| in the estimator demo's histogram."""


@dataclass
class EstimatorSpread:
    """Both estimators through T = 0..T_max logistic-map steps, summarised for the demo."""

    var_likelihood_ratio: np.ndarray
    """(T_max + 1,) variance of the per-sample likelihood-ratio estimates at each T."""
    var_pathwise: np.ndarray
    """(T_max + 1,) variance of the per-sample pathwise estimates at each T."""
    hist_likelihood_ratio: np.ndarray
    """(T_max + 1, n_bins) histogram of log10 |likelihood-ratio estimate| at each T."""
    hist_pathwise: np.ndarray
    """(T_max + 1, n_bins) histogram of log10 |pathwise estimate| at each T."""
    bins: np.ndarray
    """(n_bins + 1,) edges of the histograms' bins."""


def estimator_spread(likelihood_ratio: torch.Tensor, pathwise: torch.Tensor) -> EstimatorSpread:
    """Variances and histograms of per-sample estimates, each (T_max + 1, N) as
    ``estimators.logistic_gradients`` and ``estimators.per_step_gradients`` return them."""
    bins = SPREAD_BINS

    def hist(g: torch.Tensor) -> np.ndarray:
        mag = np.log10(np.abs(g.numpy()).clip(1e-4, 1e16))
        return np.stack([np.histogram(m, bins)[0] for m in mag])

    return EstimatorSpread(likelihood_ratio.var(1).numpy(), pathwise.var(1).numpy(), hist(likelihood_ratio),
                           hist(pathwise), bins.copy())


def growth_rates(T: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """(power p, rate r): least-squares fits Var ~ T^p (log-log) and Var ~ e^(r T) (semi-log)."""
    return compounding.loglog_slope(T, var), estimators.log_variance_slope(T, var)


class EstimatorVarianceDemo(LiveDemo):
    """Slider T -> Var of both estimators through T logistic-map steps, and their spread at T."""

    alt = ("Two panels: the variance of the pathwise and likelihood-ratio gradient estimators "
           "against the horizon T on a log scale, and histograms of both estimates at the chosen T.")

    sliders = {"T": Slider(1, 30, 1, 15, "horizon T")}
    figsize = (9.5, 3.3)
    fit_from = 5

    def __init__(self, spread: EstimatorSpread, lam: float):
        self.lam = float(lam)
        self.var_pw = np.asarray(spread.var_pathwise, dtype=float)
        self.var_lr = np.asarray(spread.var_likelihood_ratio, dtype=float)
        self.T = np.arange(len(self.var_pw))
        self.bins = np.asarray(spread.bins, dtype=float)
        self.hist = [np.asarray(spread.hist_pathwise), np.asarray(spread.hist_likelihood_ratio)]
        super().__init__()

    def build(self, fig):
        ax_v, ax_h = fig.subplots(1, 2)
        ax_v.semilogy(self.T[1:], self.var_pw[1:], "C0.-", lw=1, label="pathwise")
        ax_v.semilogy(self.T, self.var_lr, "C1.-", lw=1, label="likelihood ratio")
        t0 = self.fit_from
        ax_v.semilogy(self.T[t0:], self.var_pw[t0] * np.exp(2 * self.lam * (self.T[t0:] - t0)), color="gray",
                      ls="--", lw=1, label="slope 2λ")
        self.fit_line = self.animated(ax_v.plot([], [], color="k", ls=":", lw=2, label="fitted")[0])
        self.marks = self.animated(ax_v.plot([], [], "ko", ms=5)[0])
        ax_v.set(xlabel="steps T", ylabel="variance of dJ/dθ",
                 title="noise only at x₀: variance over 2000 samples",
                 ylim=(min(self.var_pw[1:].min(), self.var_lr.min()) / 3, self.var_pw.max() * 3))
        ax_v.legend(loc="upper left", fontsize=8)
        self.stairs = [self.animated(ax_h.stairs(np.zeros(len(self.bins) - 1), self.bins, color=c, lw=1.5,
                                                 label=name))
                       for c, name in (("C0", "pathwise"), ("C1", "likelihood ratio"))]
        ax_h.set(xlabel="log10 |per-sample estimate|", ylabel="samples", title="spread of the estimates at T",
                 ylim=(0, max(h[3:].max() for h in self.hist) * 1.1), xlim=(self.bins[0], self.bins[-1]))
        ax_h.legend(loc="upper right", fontsize=8)

    def update(self, T: int) -> str:
        T = int(np.clip(T, 1, self.T[-1]))
        for stairs, hist in zip(self.stairs, self.hist, strict=True):
            stairs.set_data(hist[T])
        self.marks.set_data([T, T], [self.var_pw[T], self.var_lr[T]])
        text = (f"T = {T}: Var[pathwise] = {self.var_pw[T]:.3g}, Var[likelihood ratio] = "
                f"{self.var_lr[T]:.3g}; ")
        if T >= self.fit_from + 2:
            ts = self.T[self.fit_from:T + 1]
            slope, icpt = np.polyfit(ts, np.log(self.var_pw[ts]), 1)
            self.fit_line.set_data(ts, np.exp(icpt + slope * ts))
            return text + (f"slope of log Var (T = {self.fit_from}..{T}) {slope:.2f} per step, "
                           f"2λ = {2 * self.lam:.2f}")
        self.fit_line.set_data([], [])
        return text + f"(the fit of log Var starts at T = {self.fit_from + 2}); 2λ = {2 * self.lam:.2f}"


class PerStepVarianceDemo(LiveDemo):
    """Slider T -> both variances when every step's noise depends on the parameter, with fits up to T."""

    alt = ("Two log-scale panels of the variance of the two gradient estimators against the horizon "
           "T when every step's noise depends on the parameter, with fitted power-law and "
           "exponential curves.")

    sliders = {"T": Slider(4, 30, 1, 20, "horizon T")}
    figsize = (10.0, 3.4)
    fit_lr_from, fit_pw_from = 2, 5

    def __init__(self, per_step: EstimatorSpread, start_only: EstimatorSpread, lam: float):
        self.lam = float(lam)
        self.var_pw = np.asarray(per_step.var_pathwise, dtype=float)
        self.var_lr = np.asarray(per_step.var_likelihood_ratio, dtype=float)
        self.var_lr0 = np.asarray(start_only.var_likelihood_ratio, dtype=float)
        self.T = np.arange(len(self.var_pw))
        super().__init__()

    def build(self, fig):
        axes = fig.subplots(1, 2)
        T, pos = self.T[1:], self.var_pw[1:] > 0
        self.fits = []
        for ax, logx in zip(axes, (False, True), strict=True):
            ax.set_yscale("log")
            if logx:
                ax.set_xscale("log")
            ax.plot(T[pos], self.var_pw[1:][pos], "C0.-", lw=1, label="pathwise")
            ax.plot(T, self.var_lr[1:], "C1.-", lw=1, label="likelihood ratio")
            ax.plot(T, self.var_lr0[1:], color="C1", ls="--", lw=1, alpha=0.5,
                    label="likelihood ratio, noise at x₀ only")
            self.fits.append([self.animated(ax.plot([], [], color=c, ls=":", lw=2)[0]) for c in ("C0", "C1")])
            self.fits[-1].append(self.animated(ax.plot([], [], "ko", ms=5)[0]))
            ax.set(xlabel="steps T" + (" (log scale)" if logx else ""), ylabel="variance of dJ/dμ",
                   ylim=(self.var_lr0[1:].min() / 3, self.var_pw.max() * 3))
        axes[0].set_title("semi-log: an exponential is a straight line", fontsize=10)
        axes[1].set_title("log-log: a power of T is a straight line", fontsize=10)
        axes[0].legend(loc="upper left", fontsize=7)

    def update(self, T: int) -> str:
        T = int(np.clip(T, self.fit_pw_from + 2, self.T[-1]))
        t_lr, t_pw = self.T[self.fit_lr_from:T + 1], self.T[self.fit_pw_from:T + 1]
        p_lr, c_lr = np.polyfit(np.log(t_lr), np.log(self.var_lr[t_lr]), 1)
        r_pw, c_pw = np.polyfit(t_pw, np.log(self.var_pw[t_pw]), 1)
        for pw_line, lr_line, marks in self.fits:
            pw_line.set_data(t_pw, np.exp(c_pw + r_pw * t_pw))
            lr_line.set_data(t_lr, np.exp(c_lr) * t_lr**p_lr)
            marks.set_data([T, T], [self.var_pw[T], self.var_lr[T]])
        ratio = self.var_pw[T] / self.var_lr[T]
        return (f"T = {T}: Var[LR] = {self.var_lr[T]:.3g} ~ T^{p_lr:.2f}; "
                f"Var[pathwise] = {self.var_pw[T]:.3g} ~ e^({r_pw:.2f} T) (2λ = {2 * self.lam:.2f}); "
                f"ratio {ratio:.2g}")


def plot_gradient_spread(spread: estimators.GradientSpread, fit_from: int = 5) -> plt.Figure:
    """Per-rollout variance of REINFORCE and pathwise estimates against T (log-log), with power fits
    from T = fit_from on, and the size of the gradient they estimate."""
    T = spread.horizons
    keep = T >= fit_from
    fig, (ax_v, ax_m) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    rows = ((spread.var_reinforce, spread.mean_reinforce, "C1", "REINFORCE (your loss)"),
            (spread.var_pathwise, spread.mean_pathwise, "C0", "pathwise (backprop)"))
    for var, mean, color, name in rows:
        p, c = np.polyfit(np.log(T[keep]), np.log(var[keep]), 1)
        ax_v.loglog(T, var, ".-", color=color, label=name)
        ax_v.loglog(T[keep], np.exp(c) * T[keep] ** p, ":", color=color, lw=2, label=f"fit: T^{p:.1f}")
        ax_m.loglog(T, np.linalg.norm(mean, axis=1), ".-", color=color, label=name)
    ax_v.set(xlabel="horizon T", ylabel="per-rollout variance (trace)",
             title="how noisy is one rollout's estimate")
    ax_m.set(xlabel="horizon T", ylabel="|mean estimate| of dJ_T/dw", title="the gradient both estimate")
    ax_v.legend(fontsize=7)
    ax_m.legend(fontsize=7)
    return fig


def plot_seed_runs(runs: policy_gradient.SeedRuns) -> plt.Figure:
    """MBRL v2.5 over data seeds: learning curves (promise dashed, reality solid), promise against
    reality after training (one dot per seed), and the gap of the first h steps, before and after."""
    fig, (ax_c, ax_s, ax_g) = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
    for i, seed in enumerate(runs.data_seeds):
        color = f"C{i}"
        ax_c.plot(runs.iteration, runs.model_return[i], "--", color=color)
        ax_c.plot(runs.iteration, runs.real_return[i], "-", color=color, label=f"data seed {seed}")
        ax_s.plot(runs.real_return[i, 0], runs.model_return[i, 0], "o", mfc="none", color=color)
        ax_s.plot(runs.real_return[i, -1], runs.model_return[i, -1], "o", color=color)
        h = np.arange(1, runs.gap.shape[-1] + 1)
        ax_g.loglog(h, runs.gap[0, i], color=color, lw=1, alpha=0.5)
        ax_g.loglog(h, runs.gap[1, i], color=color, lw=2)
    ends = np.concatenate([r[:, [0, -1]].ravel() for r in (runs.model_return, runs.real_return)])
    lo, hi = ends.min() - 150, ends.max() + 150
    ax_s.plot([lo, hi], [lo, hi], "k:", lw=1, label="promise = reality")
    ax_c.set(xlabel="REINFORCE updates", ylabel="return of the mean policy",
             title="promised (dashed) vs real (solid)")
    ax_s.set(xlabel="real return", ylabel="return the model promises", xlim=(lo, hi), ylim=(lo, hi),
             title="before (hollow) and after (filled) training")
    ax_g.set(xlabel="steps h", ylabel="mean |model − real| return of h steps",
             title="gap: before (thin) vs after (thick)")
    ax_c.legend(fontsize=7)
    ax_s.legend(fontsize=7, loc="upper left")
    return fig
