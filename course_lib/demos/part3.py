"""03_dyna_mve_mbpo: model bias in Dyna, the MVE target's error against H, and MBPO under model error.

Every demo only indexes precomputed curves on a slider move: the Dyna grid and the MBPO
sweep come from committed sweep results (``scripts/part3_sweep.py``); the MVE errors come from
``mve.target_error_stats`` run once with the student's ``mve_target`` (Exercise 3.4) by the
notebook, before the demo is built (``precomputed.load("part3_mve_errors")`` is the solution's).
"""

from __future__ import annotations

import numpy as np

from course_lib import dyna, mbpo_tools, mve, precomputed
from course_lib.widgets import LiveDemo, Slider

__all__ = ["DynaCorruptionDemo", "MVEHorizonDemo", "MBPOModelErrorDemo"]


def _nearest(values: np.ndarray, x: float) -> int:
    return int(np.argmin(np.abs(np.asarray(values) - x)))


class DynaCorruptionDemo(LiveDemo):
    """Sliders n (planning steps) and model corruption -> Dyna-Q's cumulative reward on the Dyna maze."""

    alt = ("Two panels: episodes Dyna-Q completes over real steps with n planning steps on an exact "
           "and on a corrupted model, and the episodes completed at the end against the fraction of "
           "wrong model entries.")

    sliders = {
        "n_planning": Slider(0, 50, 5, 20, "planning steps n"),
        "corruption": Slider(0.0, 1.0, 0.05, 0.2, "model corruption"),
    }
    figsize = (9.0, 3.4)

    def __init__(self, sweep: dict | None = None) -> None:
        self.sweep = dyna.load_corruption_sweep() if sweep is None else sweep
        super().__init__()

    def build(self, fig):
        d = self.sweep
        self.n_values, self.corruption = np.array(d["n_planning"]), np.array(d["corruption"])
        self.steps, self.curves = np.array(d["steps"]), np.array(d["cumulative_reward"])  # (n, c, T)
        ax_t, ax_c = fig.subplots(1, 2)
        top = 1.05 * self.curves.max()
        ax_t.plot(self.steps, self.curves[0, 0], color="gray", lw=1.5, label="no planning (n = 0)")
        self.clean = self.animated(ax_t.plot(self.steps, self.curves[0, 0], color="C0", ls="--",
                                             label="n steps, exact model")[0])
        self.line = self.animated(ax_t.plot(self.steps, self.curves[0, 0], color="C3", lw=2,
                                            label="n steps, corrupted model")[0])
        ax_t.set(xlabel="real steps", ylabel="episodes completed", xlim=(0, self.steps[-1]), ylim=(0, top),
                 title=f"Dyna-Q on the Dyna maze ({d['n_runs']} runs)")
        ax_t.legend(loc="upper left", fontsize=8)
        final = self.curves[:, :, -1]
        ax_c.plot(self.corruption, final[0], color="gray", lw=1.5, label="n = 0")
        self.final_line = self.animated(ax_c.plot(self.corruption, final[0], color="C3", marker=".",
                                                  label="n from the slider")[0])
        self.marker = self.animated(ax_c.plot([0], [0], "o", color="k", ms=7)[0])
        ax_c.set(xlabel="fraction of model entries that are wrong",
                 ylabel=f"episodes in {self.steps[-1]} steps",
                 xlim=(-0.02, 1.02), ylim=(0, top), title="planning on a wrong model")
        ax_c.legend(loc="upper right", fontsize=8)

    def update(self, n_planning: int, corruption: float) -> str:
        i, j = _nearest(self.n_values, n_planning), _nearest(self.corruption, corruption)
        self.clean.set_ydata(self.curves[i, 0])
        self.line.set_ydata(self.curves[i, j])
        final = self.curves[:, :, -1]
        self.final_line.set_ydata(final[i])
        self.marker.set_data([self.corruption[j]], [final[i, j]])
        return (f"n = {self.n_values[i]}, {self.corruption[j]:.0%} of model entries wrong: "
                f"{final[i, j]:.0f} episodes in {self.steps[-1]} steps "
                f"(exact model: {final[i, 0]:.0f}; no planning: {final[0, 0]:.0f})")


class MVEHorizonDemo(LiveDemo):
    """Sliders model error and critic error -> error of the H-step MVE target against H.

    ``errors``: what ``mve.target_error_stats(mve_target, model_errors)`` measured (model errors
    0, 0.05, ..., 0.5 in the notebook); the critic's error is added analytically, so a slider
    move never calls ``mve_target``.
    """

    alt = ("Left, the error of the H-step MVE target against H, with the model's and the critic's "
           "shares; right, a map of the best H for each model error and critic error.")

    sliders = {
        "model_error": Slider(0.0, 0.5, 0.05, 0.2, "model error ε (gravity)"),
        "critic_error": Slider(0.0, 1.0, 0.05, 0.3, "critic error δ"),
    }
    figsize = (9.0, 3.4)

    def __init__(self, errors: mve.TargetErrors) -> None:
        self.errors = errors
        super().__init__()

    def build(self, fig):
        te = self.errors
        self.eps, self.h = np.array(te.model_errors), np.array(te.horizons)
        self.deltas = np.round(np.arange(0, 1.0001, 0.05), 2)
        self.rmse = np.stack([te.rmse(d).numpy() for d in self.deltas])  # (delta, eps, H)
        ax_h, ax_map = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
        top = 1.05 * self.rmse.max()
        zeros = np.zeros(len(self.h))
        self.total = self.animated(ax_h.plot(self.h, zeros, color="C3", lw=2, label="MVE target y_H")[0])
        self.model_only = self.animated(ax_h.plot(self.h, zeros, color="C2", ls=":",
                                                  label="model error only (exact critic)")[0])
        self.critic_only = self.animated(ax_h.plot(self.h, zeros, color="C0", ls="--",
                                                   label="critic error only (exact model)")[0])
        self.best = self.animated(ax_h.plot([1], [0], "o", color="k", ms=7, label="best H")[0])
        ax_h.set(xlabel="expansion horizon H (H = 1: one-step target)", ylabel="target error / std(Q)",
                 xlim=(0.5, self.h[-1] + 0.5), ylim=(0, top), title="error of the H-step target")
        ax_h.legend(loc="upper right", fontsize=8)
        best_h = self.h[self.rmse.argmin(axis=2)]  # (delta, eps)
        im = ax_map.imshow(best_h, origin="lower", aspect="auto", cmap="viridis",
                           extent=(self.eps[0] - 0.025, self.eps[-1] + 0.025, -0.025, 1.025))
        fig.colorbar(im, ax=ax_map, label="best H")
        self.cursor = self.animated(ax_map.plot([0], [0], "s", mfc="none", mec="w", ms=9, mew=2)[0])
        ax_map.set(xlabel="model error ε", ylabel="critic error δ", title="the best horizon")

    def update(self, model_error: float, critic_error: float) -> str:
        i, d = _nearest(self.eps, model_error), _nearest(self.deltas, critic_error)
        curve = self.rmse[d, i]
        self.total.set_ydata(curve)
        self.model_only.set_ydata(self.rmse[0, i])
        self.critic_only.set_ydata(self.rmse[d, 0])
        b = int(curve.argmin())
        self.best.set_data([self.h[b]], [curve[b]])
        self.cursor.set_data([self.eps[i]], [self.deltas[d]])
        return (f"ε = {self.eps[i]:.2f}, δ = {self.deltas[d]:.2f}: one-step target error {curve[0]:.3f}; "
                f"best H = {self.h[b]} with error {curve[b]:.3f}; H = {self.h[-1]}: {curve[-1]:.3f}")


class MBPOModelErrorDemo(LiveDemo):
    """Slider injected torque error of the model -> MBPO's evaluation return over real steps.

    From the committed sweep (``mbpo_tools.load_sweep()``): the model is asked about torque
    (1 - 2 error) a instead of a. Error 0 is MBPO as it is; the gray line is SAC at the same
    number of updates per real step, which never sees the model.
    """

    alt = ("Left, MBPO's evaluation return over real steps when its model gets the torque wrong, "
           "beside SAC without a model; right, the final return against the torque error.")

    sliders = {"torque_error": Slider(0.0, 1.0, 0.5, 0.5, "model's torque error")}
    figsize = (9.0, 3.4)
    runs = {0.0: "mbpo_g10", 0.5: "torque0.5", 1.0: "torque1.0"}

    def __init__(self, sweep: dict | None = None) -> None:
        self.sweep = mbpo_tools.load_sweep() if sweep is None else sweep
        super().__init__()

    def build(self, fig):
        d = self.sweep
        self.levels = np.array(list(self.runs))
        self.steps, _ = mbpo_tools.curves(d, self.runs[1.0])
        until = int(self.steps[-1])
        # (levels, seeds, evaluations)
        self.curves = np.array([mbpo_tools.curves(d, name, until)[1] for name in self.runs.values()])
        sac_steps, sac = mbpo_tools.curves(d, "sac_g10", until)
        ax, ax_f = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
        ax.plot(sac_steps, sac.mean(0), color="gray", label="SAC, same G, no model")
        ax.plot(self.steps, self.curves[0].mean(0), color="C0", ls="--", label="MBPO, learned model as is")
        self.seed_lines = [self.animated(ax.plot(self.steps, c, color="C3", lw=0.8, alpha=0.4)[0])
                           for c in self.curves[0]]
        self.line = self.animated(ax.plot(self.steps, self.curves[0].mean(0), color="C3", lw=2,
                                          label="MBPO, model with the torque error")[0])
        ax.axhline(d["threshold"], color="k", ls=":", lw=1)
        ax.set(xlabel="real environment steps", ylabel="evaluation return", ylim=(-1800, 0),
               xlim=(0, until), title=f"MBPO on Pendulum-v1 ({self.curves.shape[1]} seeds)")
        ax.legend(loc="lower right", fontsize=8)
        final = self.curves[:, :, -1]
        ax_f.errorbar(self.levels, final.mean(1), yerr=final.std(1), color="C3", marker="o", capsize=3)
        ax_f.axhline(sac[:, -1].mean(), color="gray", lw=1)
        self.marker = self.animated(ax_f.plot([0], [0], "o", color="k", ms=9)[0])
        ax_f.axhline(d["threshold"], color="k", ls=":", lw=1)
        ax_f.set(xlabel="torque error e (model: (1−2e)·a)",
                 ylabel=f"return after {until} steps", ylim=(-1800, 0), title="model bias")

    def update(self, torque_error: float) -> str:
        i = _nearest(self.levels, torque_error)
        for line, c in zip(self.seed_lines, self.curves[i], strict=True):
            line.set_ydata(c)
        mean = self.curves[i].mean(0)
        self.line.set_ydata(mean)
        self.marker.set_data([self.levels[i]], [mean[-1]])
        return (f"torque error {self.levels[i]:.2f} (model's torque gain {1 - 2 * self.levels[i]:+.1f}): "
                f"final return {mean[-1]:.0f} (no injected error: {self.curves[0].mean(0)[-1]:.0f}) "
                f"after {self.steps[-1]} real steps")


def _mve_horizon_demo() -> MVEHorizonDemo:
    """The MVE demo on the solution's errors (what the notebook shows with a finished Exercise 3.4)."""
    return MVEHorizonDemo(precomputed.load("part3_mve_errors"))


STATIC_IMAGES = {"part3_dyna_corruption.png": DynaCorruptionDemo, "part3_mve_horizon.png": _mve_horizon_demo,
                 "part3_mbpo_model_error.png": MBPOModelErrorDemo}
