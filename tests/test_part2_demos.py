"""Part 2 demos: bad slider input (eps = 0, T = 1, the largest eps T) never raises or plots NaN."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import compounding, envs, estimators
from course_lib.demos import part2
from course_lib.utils import torch_generator
from course_lib.widgets import time_updates


def _finite(demo):
    demo.fig.canvas.draw()
    for artist in demo._animated:
        data = []
        if hasattr(artist, "get_xydata"):
            data.append(np.asarray(artist.get_xydata(), dtype=float))
        if hasattr(artist, "get_offsets"):
            data.append(np.asarray(artist.get_offsets(), dtype=float))
        if hasattr(artist, "get_segments"):
            data += [np.asarray(s, dtype=float) for s in artist.get_segments()]
        for d in data:
            assert np.isfinite(d).all(), (artist, d)


@pytest.fixture(scope="module")
def perfect():
    """Mistake rollouts of a *perfect* model (the true dynamics): the model alone is never off."""
    step = envs.pendulum_step_obs
    rollouts = compounding.mistake_rollouts(step, compounding.MistakeConfig(n_starts=16, horizon=60))
    return rollouts, compounding.branch_table(step, rollouts, 15, 200, torch_generator(0))


def test_compounding_demo_handles_zero_error_one_step_and_saturation(perfect):
    demo = part2.CompoundingDemo(perfect[0])
    for values in (dict(T=1, eps=0.0), dict(T=60, eps=0.0), dict(T=1, eps=1.0), dict(T=60, eps=10**-0.5),
                   dict(T=20, eps=1e-4)):
        text = demo.redraw(**values)
        assert "nan" not in text.lower() and "inf" not in text.lower(), (values, text)
        _finite(demo)
    assert "the gap is 0" in demo.update(T=30, eps=0.0)


def test_branched_demo_handles_zero_error_and_extremes(perfect):
    demo = part2.BranchedDemo(*perfect)
    for values in (dict(k=1, eps=0.0), dict(k=15, eps=1.0), dict(k=15, eps=1e-3)):
        text = demo.redraw(**values)
        assert "nan" not in text.lower(), (values, text)
        _finite(demo)


def test_estimator_demo_every_horizon_and_timing():
    config = estimators.LogisticConfig(n_samples=300)
    path, lr = estimators.logistic_gradients(config, torch_generator(0))
    demo = part2.EstimatorVarianceDemo(path, lr, lam=0.5)
    for T in range(1, config.horizon + 1):
        assert "nan" not in demo.redraw(T=T).lower()
    _finite(demo)
    t = time_updates(demo, n=5)
    assert t["p95_ms"] > 0
