"""00_welcome: how the discount factor sets the horizon a return looks at."""

from __future__ import annotations

import numpy as np

from course_lib.widgets import LiveDemo, Slider

__all__ = ["DiscountDemo"]


class DiscountDemo(LiveDemo):
    """Slider gamma -> the weights gamma^t of future rewards and the effective horizon 1/(1-gamma)."""

    alt = ("Two line plots against the step t: left, the weight γ^t of the reward at step t, falling"
           " from 1; right, the share of the total weight on steps 0 to t, rising to 1. A dashed "
           "line marks the effective horizon 1/(1−γ).")

    sliders = {"gamma": Slider(0.5, 0.995, 0.005, 0.9, "discount γ")}
    horizon = 300

    def build(self, fig):
        self.t = np.arange(self.horizon)
        ax_w, ax_c = fig.subplots(1, 2)
        self.weights = self.animated(ax_w.plot(self.t, np.zeros(self.horizon), color="C0")[0])
        self.h_line_w = self.animated(ax_w.axvline(0, color="C3", ls="--", lw=1))
        ax_w.set(xlabel="step t", ylabel="weight γ^t", title="how much reward at step t counts",
                 ylim=(0, 1.05), xlim=(0, self.horizon))
        self.cum = self.animated(ax_c.plot(self.t, np.zeros(self.horizon), color="C1")[0])
        self.h_line_c = self.animated(
            ax_c.axvline(0, color="C3", ls="--", lw=1, label="effective horizon 1/(1−γ)"))
        ax_c.axhline(1 - np.exp(-1), color="gray", lw=0.8, ls=":")
        ax_c.set(xlabel="step t", ylabel="share of total weight", ylim=(0, 1.05),
                 xlim=(0, self.horizon), title="weight on steps 0..t")
        ax_c.legend(loc="lower right")

    def update(self, gamma: float) -> str:
        w = gamma**self.t
        share = (1 - gamma ** (self.t + 1))  # (1-γ) Σ_{k≤t} γ^k, exactly
        h = 1.0 / (1.0 - gamma)
        self.weights.set_ydata(w)
        self.cum.set_ydata(share)
        for line in (self.h_line_w, self.h_line_c):
            line.set_xdata([h, h])
        share_h = 1 - gamma ** np.ceil(h)
        return (f"γ = {gamma:.3f}: effective horizon 1/(1−γ) = {h:.1f} steps; "
                f"the first {int(np.ceil(h))} steps carry {share_h:.1%} of the weight")


STATIC_IMAGES = {"welcome_discount.png": DiscountDemo}
