"""02_gradients_and_compounding_error: the live demos, drawn from data your functions made.

* ``EstimatorVarianceDemo``, ``PerStepVarianceDemo`` and the v2.5 plots live in
  :mod:`course_lib.demos.part2_gradients` and are re-exported here.
* ``CompoundingDemo``: sliders T and eps -> real vs model trajectories, and the gap against T and
  against eps on log-log axes (slopes 2 and 1 while eps T is small, saturation beyond). The toy's
  exact curve and its small-eps T approximation are :class:`ToyGaps`, a table of your
  ``tightrope_gap`` (Exercise 2.4).
* ``ModelErrorDemo``: sliders N (random transitions the model is fitted on) and T -> the learned
  model's own error after t steps and its sum over T steps, with the fitted slope (a committed sweep).
* ``BranchedDemo``: sliders k and eps -> the gap of short branched rollouts (linear in T) against
  one long rollout (quadratic), and the real/model state distributions the learner would see.
  Its branches come from ``branching.branch_table`` run with your ``branched_rollouts`` (2.5).

Everything a slider needs is computed before the demo is built (in the notebook, inside
``precomputed.run_or_load``, so an unfinished exercise shows the solution's data); ``update`` only
indexes and multiplies small precomputed arrays and never calls your code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from course_lib import branching, compounding, estimators, policy_gradient, precomputed
from course_lib.demos.part2_gradients import (
    EstimatorSpread,
    EstimatorVarianceDemo,
    PerStepVarianceDemo,
    estimator_spread,
    growth_rates,
    plot_gradient_spread,
    plot_seed_runs,
)
from course_lib.utils import one_thread, torch_generator
from course_lib.widgets import LiveDemo, Slider

__all__ = ["EstimatorSpread", "estimator_spread", "EstimatorVarianceDemo", "PerStepVarianceDemo",
           "growth_rates", "plot_gradient_spread", "plot_seed_runs", "ToyGaps", "toy_gaps", "CompoundingDemo",
           "ModelErrorDemo", "BranchedDemo", "default_rollouts", "STATIC_IMAGES"]

FLOOR = 1e-5
"""Gaps of exactly 0 are drawn here, below the visible part of the log axes."""

@dataclass
class ToyGaps:
    """The toy's gap on a grid, T = 1..T_max and every eps a slider can reach: exact and approximate."""

    eps: np.ndarray
    """(E,) increasing probabilities, 0 first."""
    gap: np.ndarray
    """(T_max, E) the exact G(T, eps) for T = 1..T_max."""
    approx: np.ndarray
    """(T_max, E) its small-eps T approximation."""

    def _interp(self, table: np.ndarray, T, eps) -> np.ndarray:
        T = np.clip(np.asarray(T, dtype=int), 1, table.shape[0])
        eps = np.clip(np.asarray(eps, dtype=np.float64), 0.0, 1.0)
        T, eps = np.broadcast_arrays(T, eps)
        grid = self.eps[1:]  # the positive grid values
        log_e, log_g = np.log(grid), np.log(np.maximum(table[:, 1:], 1e-300))
        x = np.log(np.maximum(eps, grid[0]))
        i = np.clip(np.searchsorted(log_e, x), 1, len(grid) - 1)
        w = np.clip((x - log_e[i - 1]) / (log_e[i] - log_e[i - 1]), 0.0, 1.0)
        inside = np.exp((1 - w) * log_g[T - 1, i - 1] + w * log_g[T - 1, i])
        inside = inside * np.minimum(1.0, eps / grid[0])  # below the grid: linear in eps
        return np.where(eps > 0, inside, table[T - 1, 0])

    def at(self, T: int | np.ndarray, eps: float | np.ndarray) -> np.ndarray:
        """The exact G at integer T (1..T_max) and any eps in [0, 1]: exact on the grid, log-log
        interpolated between grid points (0 at eps = 0). Returns the broadcast shape of T and eps."""
        return self._interp(self.gap, T, eps)

    def approx_at(self, T: int | np.ndarray, eps: float | np.ndarray) -> np.ndarray:
        """The approximation, the same way (exact for any power law in eps)."""
        return self._interp(self.approx, T, eps)


def _toy_eps_grid() -> np.ndarray:
    slider = CompoundingDemo.sliders["eps"]
    on_slider = 10.0 ** np.round(np.arange(slider.min, slider.max + slider.step / 2, slider.step), 10)
    return np.unique(np.r_[0.0, on_slider, CompoundingDemo.eps_grid, slider.value, 1.0])


def toy_gaps(tightrope_gap: Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]],
             t_max: int = 60) -> ToyGaps:
    """Tabulate ``tightrope_gap(T, eps) -> (exact, approx)`` (Exercise 2.4) for T = 1..t_max on the
    demo's eps grid."""
    eps = _toy_eps_grid()
    rows = [tightrope_gap(T, eps.copy()) for T in range(1, t_max + 1)]
    gap, approx = (np.stack([np.asarray(r[j], dtype=np.float64).reshape(eps.shape) for r in rows])
                   for j in (0, 1))
    return ToyGaps(eps, gap, approx)


@functools.lru_cache(maxsize=1)
def default_rollouts() -> compounding.MistakeRollouts:
    """The notebook's default setting: a model fitted to 3000 random transitions and its mistake
    rollouts (cached, so several demos in one process fit one model)."""
    model, _, _ = policy_gradient.fit_pendulum_model(policy_gradient.ModelDataConfig())
    with one_thread():
        return compounding.mistake_rollouts(model.mean_step)


def _local_slope(f, x: float, lo: float, hi: float) -> float:
    """d log f / d log x from points in [x/2, 2x] clipped to [lo, hi] (nan if f vanishes there)."""
    xs = np.geomspace(max(lo, x / 2), min(hi, x * 2), 5)
    ys = np.asarray(f(xs), dtype=float)
    return compounding.loglog_slope(xs, ys) if np.all(ys > 1e-200) else float("nan")


class CompoundingDemo(LiveDemo):
    """Sliders T and eps -> real vs model trajectories, gap vs T and gap vs eps (log-log)."""

    alt = ("Three panels: real and model rollouts of the pendulum's height with the model's mistakes"
           " marked; the gap between model and reality against the rollout horizon T; and the gap "
           "against the model error ε, both on log scales.")

    sliders = {"T": Slider(1, 60, 1, 20, "rollout horizon T"),
               "eps": Slider(-4, -0.5, 0.05, 0.005, "model error ε", log=True)}
    figsize = (12.0, 3.5)
    n_shown = 4

    eps_grid = np.geomspace(1e-4, 10**-0.5, 50)
    """The eps of the right panel's curves."""

    def __init__(self, rollouts: compounding.MistakeRollouts, toy: ToyGaps):
        self.r, self.toy = rollouts, toy
        self.cum = self.r.cum_off
        self.t_max = self.cum.shape[1]
        if toy.gap.shape[0] < self.t_max:
            raise ValueError(f"toy: expected gaps for T = 1..{self.t_max}, got T = 1..{toy.gap.shape[0]}")
        self.u = np.random.default_rng(3).random(self.n_shown)
        self.height_real = self.r.real[: self.n_shown, :, 0].numpy()  # cos(theta): 1 = upright
        self.height_model = self.r.model[:, : self.n_shown, :, 0].numpy()  # (T+1, n, T+1)
        self.Ts = np.arange(1, self.t_max + 1)
        self.gap0 = np.maximum(self.cum[-1], FLOOR)
        super().__init__()

    def build(self, fig):
        from matplotlib.collections import LineCollection

        ax_x, ax_t, ax_e = fig.subplots(1, 3)
        steps = np.arange(self.t_max + 1)
        for i in range(self.n_shown):
            ax_x.plot(steps, self.height_real[i], color="0.75", lw=2.5)
        self.model_lines = self.animated(LineCollection([], colors=[f"C{i}" for i in range(self.n_shown)],
                                                        linewidths=1.3, linestyles="--"))
        ax_x.add_collection(self.model_lines)
        self.mistakes = self.animated(ax_x.plot([], [], "kx", ms=8, mew=2)[0])
        ax_x.set(xlabel="step t", ylabel="height of the tip, cos θ", xlim=(0, self.t_max), ylim=(-1.6, 1.6),
                 title="real (grey) vs model (dashed); × = mistake")
        ax_t.loglog(self.Ts, self.gap0, color="0.5", lw=2, label="learned model alone (ε = 0)")
        self.gap_T = self.animated(ax_t.loglog(self.Ts, self.gap0, "C0", lw=2, label="learned model + ε")[0])
        self.toy_T = self.animated(ax_t.loglog(self.Ts, self.gap0, "C1--", lw=1.5, label="toy, exact")[0])
        self.ref_T = self.animated(ax_t.loglog(self.Ts, self.gap0, "k:", lw=1, label="toy, small εT")[0])
        self.mark_T = self.animated(ax_t.plot([], [], "ko", ms=5)[0])
        ax_t.set(xlabel="rollout horizon T", ylabel="gap: expected steps off", ylim=(2e-5, 100),
                 title="gap vs T at this ε")
        ax_t.legend(loc="upper left", fontsize=7)
        e = self.eps_grid
        self.gap_e = self.animated(ax_e.loglog(e, e, "C0", lw=2, label="learned model")[0])
        self.toy_e = self.animated(ax_e.loglog(e, e, "C1--", lw=1.5, label="toy, exact")[0])
        self.ref_e = self.animated(ax_e.loglog(e, e, "k:", lw=1, label="toy, small εT")[0])
        self.cap_e = self.animated(ax_e.axhline(1, color="C3", lw=1, label="T (every step off)"))
        self.mark_e = self.animated(ax_e.plot([], [], "ko", ms=5)[0])
        ax_e.set(xlabel="model error ε (mistakes per step)", ylim=(2e-5, 100), title="gap vs ε at this T")
        ax_e.legend(loc="upper left", fontsize=7)

    def update(self, T: int, eps: float) -> str:
        T, eps = int(np.clip(T, 1, self.t_max)), float(np.clip(eps, 0.0, 1.0))
        tau = compounding.sample_first_mistake(eps, self.u)
        idx = np.where(tau <= self.t_max, tau - 1, self.t_max).astype(int)
        steps = np.arange(T + 1)
        self.model_lines.set_segments(
            [np.column_stack([steps, self.height_model[j, i, : T + 1]]) for i, j in enumerate(idx)])
        hit = tau <= T
        at = tau[hit].astype(int)
        self.mistakes.set_data(at, self.height_model[idx[hit], np.flatnonzero(hit), at])
        gap_T = compounding.expected_gap(self.cum, self.Ts, eps)
        toy_T = self.toy.at(self.Ts, eps)  # your tightrope_gap, tabulated before the demo
        self.gap_T.set_ydata(np.maximum(gap_T, FLOOR))
        self.toy_T.set_ydata(np.maximum(toy_T, FLOOR))
        approx_T = self.toy.approx_at(self.Ts, eps)  # your small-eps T approximation
        self.ref_T.set_ydata(np.maximum(approx_T, FLOOR))
        gap = gap_T[T - 1]
        self.mark_T.set_data([T], [max(gap, FLOOR)])
        self.gap_e.set_ydata(np.maximum(compounding.expected_gap(self.cum, T, self.eps_grid), FLOOR))
        self.toy_e.set_ydata(np.maximum(self.toy.at(T, self.eps_grid), FLOOR))
        self.ref_e.set_ydata(np.maximum(self.toy.approx_at(T, self.eps_grid), FLOOR))
        self.cap_e.set_ydata([T, T])
        self.mark_e.set_data([max(eps, self.eps_grid[0])], [max(gap, FLOOR)])
        s_t = _local_slope(lambda ts: np.exp(np.interp(np.log(ts), np.log(self.Ts), np.log(gap_T + 1e-300))),
                           T, 1, T) if T > 1 else float("nan")
        s_e = _local_slope(lambda es: compounding.expected_gap(self.cum, T, es), eps, 1e-6, 1.0) if eps > 0 \
            else float("nan")
        slopes = ", ".join(f"{name} {s:.2f}" for name, s in (("in T", s_t), ("in ε", s_e)) if np.isfinite(s))
        return (f"T = {T}, ε = {eps:.2g} (εT = {eps * T:.2g}): gap {gap:.3g} steps off "
                f"(toy {toy_T[T - 1]:.3g}, small-εT {approx_T[T - 1]:.3g}, "
                f"model alone {self.cum[-1, T - 1]:.2g}); local slopes: {slopes or 'none (the gap is 0)'}")


class ModelErrorDemo(LiveDemo):
    """Sliders N (data) and T -> the learned model's own error after t steps, its sum over T steps
    with the fitted log-log slope, and how both shrink with more data (committed sweep)."""

    alt = ("Three panels for a model trained on N transitions: its error at each step of a rollout, "
           "the summed error up to T with the εT(T+1)/2 line, and both against N on log scales.")

    sliders = {"n": Slider(2, 4, 0.05, 1000, "random transitions N", log=True),
               "T": Slider(4, 60, 1, 20, "fit the sum up to T")}
    figsize = (8.4, 3.3)
    fit_from = 2
    tol = 0.5

    def __init__(self, sweep: dict):
        self.n_grid = np.asarray(sweep["n_transitions"], dtype=float)
        self.err = np.asarray(sweep["state_error"], dtype=np.float64)  # (N, S, T)
        self.one_step = np.asarray(sweep["one_step"], dtype=np.float64).mean(1)  # (N,)
        self.mean = self.err.mean(1)  # (N, T)
        self.cum = self.mean.cumsum(-1)  # (N, T)
        self.t = np.arange(1, self.err.shape[-1] + 1)
        super().__init__()

    def build(self, fig):
        ax_e, ax_c, ax_n = fig.subplots(1, 3)
        t = self.t
        self.seed_lines = [self.animated(ax_e.loglog(t, t * 1e-3, color="C0", lw=0.6, alpha=0.5)[0])
                           for _ in range(self.err.shape[1])]
        self.err_line = self.animated(ax_e.loglog(t, t * 1e-3, "C0", lw=2, label="mean over seeds")[0])
        self.err_ref = self.animated(ax_e.loglog(t, t * 1e-3, "k:", lw=1,
                                                 label="ε₁ t (errors just add up)")[0])
        ax_e.axhline(self.tol, color="C3", lw=1, label=f"{self.tol} (the 'off' tolerance)")
        ax_e.set(xlabel="step t", ylabel="|model − real| observation", ylim=(1e-3, 10),
                 title="the model alone, after t steps")
        ax_e.legend(loc="upper left", fontsize=7)
        self.cum_line = self.animated(ax_c.loglog(t, t * 1.0, "C0", lw=2, label="summed error C(T)")[0])
        self.cum_fit = self.animated(ax_c.loglog(t, t * 1.0, "k", ls="--", lw=1.5, label="fit")[0])
        self.cum_ref = self.animated(ax_c.loglog(t, t * 1.0, "k:", lw=1, label="ε₁ T(T+1)/2")[0])
        self.cum_mark = self.animated(ax_c.plot([], [], "ko", ms=5)[0])
        ax_c.set(xlabel="rollout horizon T", ylabel="summed |model − real|, t = 1..T", ylim=(1e-3, 300),
                 title="summed over T steps")
        ax_c.legend(loc="upper left", fontsize=7)
        ax_n.loglog(self.n_grid, self.one_step, "C2o-", label="one-step error ε₁")
        self.n_cum = self.animated(ax_n.loglog(self.n_grid, self.one_step, "C0s-", label="C(T) / T²")[0])
        self.n_mark = self.animated(ax_n.axvline(self.n_grid[0], color="k", lw=1))
        ax_n.set(xlabel="random transitions N", ylabel="error", ylim=(1e-4, 1), title="more data")
        ax_n.legend(loc="lower left", fontsize=7)

    def update(self, n: float, T: int) -> str:
        i = int(np.argmin(np.abs(np.log(self.n_grid) - np.log(max(float(n), 1.0)))))
        T = int(np.clip(T, self.fit_from + 2, self.t[-1]))
        eps1, t = self.one_step[i], self.t
        for line, e in zip(self.seed_lines, self.err[i], strict=True):
            line.set_ydata(np.maximum(e, 1e-4))
        self.err_line.set_ydata(np.maximum(self.mean[i], 1e-4))
        self.err_ref.set_ydata(eps1 * t)
        cum = self.cum[i]
        self.cum_line.set_ydata(np.maximum(cum, 1e-4))
        self.cum_ref.set_ydata(eps1 * t * (t + 1) / 2)
        ts = t[self.fit_from - 1:T]
        slope, icpt = np.polyfit(np.log(ts), np.log(cum[ts - 1]), 1)
        self.cum_fit.set_data(ts, np.exp(icpt) * ts**slope)
        self.cum_mark.set_data([T], [cum[T - 1]])
        self.n_cum.set_ydata(self.cum[:, T - 1] / T**2)
        self.n_mark.set_xdata([float(n)] * 2)  # the slider's N; the curves are the nearest fitted size's
        ref_slope = compounding.loglog_slope(ts, ts * (ts + 1) / 2)
        off = np.flatnonzero(self.mean[i] > self.tol)
        nearest = "" if round(float(n)) == self.n_grid[i] else f" (nearest fitted: {self.n_grid[i]:.0f})"
        return (f"N = {float(n):.0f}{nearest}: ε₁ = {eps1:.4f}, C({T}) = {cum[T - 1]:.3g} vs "
                f"ε₁T(T+1)/2 = {eps1 * T * (T + 1) / 2:.3g}; slope {slope:.2f} (T(T+1)/2: {ref_slope:.2f}); "
                f"error > {self.tol} from step {off[0] + 1 if len(off) else 'never'}")


class BranchedDemo(LiveDemo):
    """Sliders k and eps -> gap of T/k branches of k steps vs one T-step rollout, and the states."""

    alt = ("Three panels: the gap of branched rollouts against the number of model steps, the gap "
           "against the branch length k compared with one long rollout, and a scatter of model "
           "states on and off track.")

    sliders = {"k": Slider(1, 15, 1, 5, "branch length k"),
               "eps": Slider(-3, -0.5, 0.05, 0.01, "model error ε", log=True)}
    figsize = (12.0, 3.5)
    n_shown = 100

    def __init__(self, rollouts: compounding.MistakeRollouts, table: branching.BranchTable):
        self.r, self.table = rollouts, table
        self.cum = rollouts.cum_off
        self.t_max = self.cum.shape[1]
        self.k_max = table.off.shape[2]
        self.Ts = np.arange(1, self.t_max + 1)
        self.ks = np.arange(1, self.k_max + 1)
        rng = np.random.default_rng(4)
        n_table = table.off.shape[1]
        self.shown = rng.choice(n_table, min(self.n_shown, n_table), replace=False)
        self.u_branch = rng.random(len(self.shown))
        self.branch_xy = np.asarray(table.phase[:, self.shown], dtype=np.float64)  # (k_max+1, n, k_max, 2)
        self.branch_off = table.off[:, self.shown]  # (k_max+1, n, k_max)
        self.real_xy = self._phase(rollouts.real[:, 1:]).reshape(-1, 2)
        super().__init__()

    @staticmethod
    def _phase(obs: torch.Tensor) -> np.ndarray:
        return torch.stack([torch.atan2(obs[..., 1], obs[..., 0]), obs[..., 2]], -1).numpy()

    def build(self, fig):
        ax_t, ax_k, ax_s = fig.subplots(1, 3)
        ts = self.Ts * 1.0
        self.long_T = self.animated(ax_t.loglog(ts, ts, "C3", lw=2, label="one rollout of T steps")[0])
        self.branch_T = self.animated(ax_t.loglog(ts, ts, "C0", lw=2, label="T/k branches of k")[0])
        self.ref_long = self.animated(ax_t.loglog(ts, ts, "C3:", lw=1, label="εT(T+1)/2")[0])
        self.ref_branch = self.animated(ax_t.loglog(ts, ts, "C0:", lw=1, label="εT(k+1)/2")[0])
        ax_t.set(xlabel="model steps T", ylabel="gap: expected steps off", ylim=(1e-3, 100),
                 title="long rollouts vs branches")
        ax_t.legend(loc="upper left", fontsize=7)
        self.gap_k = self.animated(ax_k.plot(self.ks, self.ks * 1.0, "C0.-",
                                             label=f"branched, T = {self.t_max}")[0])
        self.ref_k = self.animated(ax_k.plot(self.ks, self.ks * 1.0, "k:", label="εT(k+1)/2")[0])
        self.mark_k = self.animated(ax_k.plot([], [], "ko", ms=6)[0])
        self.long_k = self.animated(ax_k.axhline(0, color="C3", lw=1.5,
                                                 label=f"one rollout of {self.t_max} steps"))
        ax_k.set(xlabel="branch length k", ylabel=f"gap over T = {self.t_max} model steps",
                 ylim=(0, 0.5 * self.t_max), xlim=(0.5, self.k_max + 0.5), title="gap vs k")
        ax_k.legend(loc="upper left", fontsize=7)
        ax_s.plot(*self.real_xy.T, ".", color="0.7", ms=2, label="real states")
        self.dots_on = self.animated(ax_s.plot([], [], "o", color="C0", ms=1.5,
                                               label="model, on track")[0])
        self.dots_off = self.animated(ax_s.plot([], [], "o", color="C3", ms=2.5,
                                                label="model, off track")[0])
        ax_s.set(xlabel="angle θ", ylabel="angular velocity θ̇", xlim=(-np.pi, np.pi), ylim=(-11, 11),
                 title="the learner's data: real + model")
        ax_s.legend(loc="upper right", fontsize=7, markerscale=3)

    def _sampled(self, eps: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """States (n k, 2) of the shown branches under sampled first mistakes, and their off flags."""
        tau = compounding.sample_first_mistake(eps, self.u_branch)
        idx = np.where(tau <= self.k_max, tau - 1, self.k_max).astype(int)
        rows = np.arange(len(self.shown))
        return self.branch_xy[idx, rows, :k].reshape(-1, 2), self.branch_off[idx, rows, :k].reshape(-1)

    def update(self, k: int, eps: float) -> str:
        k, eps = int(np.clip(k, 1, self.k_max)), float(np.clip(eps, 0.0, 1.0))
        T = self.t_max
        long_gap = compounding.expected_gap(self.cum, self.Ts, eps)
        self.long_T.set_ydata(np.maximum(long_gap, FLOOR))
        branch = long_gap.copy()  # fewer than k steps: one partial branch
        branch[k - 1:] = branching.branched_gap(self.table, self.Ts[k - 1:], k, eps)
        self.branch_T.set_ydata(np.maximum(branch, FLOOR))
        self.ref_long.set_ydata(np.maximum(eps * self.Ts * (self.Ts + 1) / 2, FLOOR))
        self.ref_branch.set_ydata(np.maximum(eps * self.Ts * (k + 1) / 2, FLOOR))
        by_k = branching.branched_gap_by_k(self.table, T, eps)
        self.gap_k.set_ydata(by_k)
        self.ref_k.set_ydata(eps * T * (self.ks + 1) / 2)
        self.mark_k.set_data([k], [by_k[k - 1]])
        self.long_k.set_ydata([long_gap[-1]] * 2)
        xy, off = self._sampled(eps, k)
        self.dots_on.set_data(*xy[~off].T)
        self.dots_off.set_data(*xy[off].T)
        return (f"k = {k}, ε = {eps:.2g}: {T / k:.3g} branches of {k} → gap "
                f"{by_k[k - 1]:.3g} (εT(k+1)/2 = {eps * T * (k + 1) / 2:.3g}); one rollout of {T} → "
                f"{long_gap[-1]:.3g} ({eps * T * (T + 1) / 2:.3g}); {off.mean():.0%} of states off")


def _estimator_image() -> EstimatorVarianceDemo:
    lam = estimators.lyapunov_exponent(3.9, torch_generator(1))
    return EstimatorVarianceDemo(precomputed.load("part2_estimator_spread"), lam)


def _per_step_image() -> PerStepVarianceDemo:
    lam = estimators.lyapunov_exponent(3.9, torch_generator(1))
    return PerStepVarianceDemo(precomputed.load("part2_per_step_spread"),
                               precomputed.load("part2_estimator_spread"), lam)


def _compounding_image() -> CompoundingDemo:
    return CompoundingDemo(default_rollouts(), precomputed.load("part2_toy_gaps"))


def _model_error_image() -> ModelErrorDemo:
    return ModelErrorDemo(compounding.load_model_error_sweep())


def _branched_image() -> BranchedDemo:
    return BranchedDemo(default_rollouts(), precomputed.load("part2_branch_table"))


STATIC_IMAGES = {
    "part2_estimator_variance.png": _estimator_image,
    "part2_per_step_variance.png": _per_step_image,
    "part2_compounding.png": _compounding_image,
    "part2_model_error.png": _model_error_image,
    "part2_branched.png": _branched_image,
}
"""The static images beside the widgets: each demo at its default setting, on the solution's data."""
