"""03_dyna_mve_mbpo: model bias in Dyna, the MVE target's error against H, and MBPO under model error.

Every demo only indexes precomputed curves on a slider move: the Dyna grid and the MBPO
sweep come from committed sweep results (``scripts/part3_sweep.py``), the MVE errors are
computed once when the demo is built.
"""

from __future__ import annotations

import numpy as np

from course_lib import dyna
from course_lib.widgets import LiveDemo, Slider

__all__ = ["DynaCorruptionDemo"]


def _nearest(values: np.ndarray, x: float) -> int:
    return int(np.argmin(np.abs(np.asarray(values) - x)))


class DynaCorruptionDemo(LiveDemo):
    """Sliders n (planning steps) and model corruption -> Dyna-Q's cumulative reward on the Dyna maze."""

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
                 xlim=(-0.02, 1.02), ylim=(0, top), title="model bias: planning on a wrong model")
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


STATIC_IMAGES = {"part3_dyna_corruption.png": DynaCorruptionDemo}
