"""Part 2 demos: bad slider input (eps = 0, T = 1, the largest eps T) never raises or plots NaN."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import branching, compounding, envs, estimators
from course_lib.demos import part2
from course_lib.utils import torch_generator
from course_lib.widgets import time_updates
from course_tools.references import part2 as ref

ESTIMATORS = (ref.likelihood_ratio_grad, ref.reparam_grad)


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
    return rollouts, branching.branch_table(ref.branched_rollouts, step, rollouts, 15, 200,
                                              torch_generator(0))


def test_toy_gaps_are_exact_on_the_grid_and_close_between():
    toy = part2.toy_gaps(ref.tightrope_gap)
    assert toy.eps[0] == 0 and toy.gap.shape == toy.approx.shape == (60, len(toy.eps))
    assert (np.diff(toy.eps) > 0).all()
    np.testing.assert_allclose(toy.at(np.arange(1, 61)[:, None], toy.eps[None, :]), toy.gap, rtol=1e-12)
    for eps in (0.005, 1e-4, 0.0, 1.0, 10**-2.35, 2e-5, 0.0123):  # the default, the ends, off the grid
        for T in (1, 7, 60):
            exact, approx = ref.tightrope_gap(T, eps)
            np.testing.assert_allclose(toy.at(T, eps), exact, rtol=2e-3, atol=1e-12)
            np.testing.assert_allclose(toy.approx_at(T, eps), approx, rtol=1e-9, atol=1e-12)  # a power law
    assert toy.at(np.arange(1, 61), 0.01).shape == (60,)


def test_toy_gaps_come_from_the_function_given():
    calls = []

    def spy(T, eps):
        calls.append(T)
        return np.full(eps.shape, float(T)), np.full(eps.shape, 2.0 * T)

    toy = part2.toy_gaps(spy, t_max=5)
    assert calls == [1, 2, 3, 4, 5] and (toy.gap[:, 1] == np.arange(1, 6)).all()
    assert (toy.approx[:, 1] == 2 * np.arange(1, 6)).all()


def test_compounding_demo_handles_zero_error_one_step_and_saturation(perfect):
    demo = part2.CompoundingDemo(perfect[0], part2.toy_gaps(ref.tightrope_gap))
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
    lr, path = estimators.logistic_gradients(ESTIMATORS[0], ESTIMATORS[1], config, torch_generator(0))
    demo = part2.EstimatorVarianceDemo(part2.estimator_spread(lr, path), lam=0.5)
    for T in range(1, config.horizon + 1):
        assert "nan" not in demo.redraw(T=T).lower()
    _finite(demo)
    t = time_updates(demo, n=5)
    assert t["p95_ms"] > 0


def test_per_step_demo_every_horizon():
    config = estimators.LogisticConfig(n_samples=300)
    start = part2.estimator_spread(*estimators.logistic_gradients(*ESTIMATORS, config, torch_generator(0)))
    per_step = part2.estimator_spread(*estimators.per_step_gradients(*ESTIMATORS, config, torch_generator(0)))
    demo = part2.PerStepVarianceDemo(per_step, start, lam=0.5)
    for T in range(1, config.horizon + 1):
        text = demo.redraw(T=T)
        assert "nan" not in text.lower() and "inf" not in text.lower(), (T, text)
    _finite(demo)
    assert time_updates(demo, n=5)["p95_ms"] > 0


def test_model_error_demo_snaps_to_the_data_sizes_and_fits_up_to_T():
    sweep = compounding.load_model_error_sweep()
    demo = part2.ModelErrorDemo(sweep)
    for n, T in ((100, 4), (1e4, 60), (1000, 20), (150, 3), (2e3, 61)):
        text = demo.redraw(n=n, T=T)
        assert "nan" not in text.lower(), (n, T, text)
        _finite(demo)
    assert demo.redraw(n=140, T=20).startswith("N = 140 (nearest fitted: 100): ε₁ = ")
    assert demo.redraw(n=9000, T=20).startswith("N = 9000 (nearest fitted: 10000): ε₁ = ")
    assert demo.redraw(n=1000, T=20).startswith("N = 1000: ε₁ = ")


def test_static_images_need_only_the_handout_and_its_data():
    """The image factories run in a process that never imports the instructor's package: they draw
    the solution's precomputed data, not a reference implementation."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys\n"
            "from course_lib.demos import part2\n"
            "for name, factory in part2.STATIC_IMAGES.items():\n"
            "    text = factory().readout_text\n"
            "    assert 'nan' not in text.lower(), (name, text)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'course_tools'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"}, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
