"""The committed BPTT-horizon sweep (scripts/part1_bptt_horizons.py) and the notebook's reading of it.

MBRL v2.0 at equal budgets (400 updates) on three learned models: short horizons are myopic, long
ones do not train while their gradient norms explode, and in between some seeds swing up, where
MPC on the same models swings up for every seed. The live reproduction of one entry of the sweep
is in tests/test_part1_swingup.py (slow).
"""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import gradients

SWING_UP, HANGING = -400.0, -1000.0
"""A 200-step return above -400 means the pendulum got up; below -1000, it never did."""


@pytest.fixture(scope="module")
def sweep():
    return gradients.load_horizon_sweep()


def _final(sweep) -> dict[int, np.ndarray]:
    real = np.asarray(sweep["real_return"]).mean(-1)[:, :, -1]  # (seeds, horizons)
    return {T: real[:, j] for j, T in enumerate(sweep["horizons"])}


def test_the_sweep_is_complete_and_says_how_it_was_made(sweep):
    n_s, n_h = len(sweep["seeds"]), len(sweep["horizons"])
    assert "python scripts/part1_bptt_horizons.py" in sweep["command"]
    assert list(sweep["horizons"]) == sorted(sweep["horizons"]) and n_s >= 3
    n_updates = sweep["eval_updates"][-1]
    assert np.shape(sweep["objective"]) == np.shape(sweep["grad_norm"]) == (n_s, n_h, n_updates)
    assert np.shape(sweep["real_return"]) == (n_s, n_h, len(sweep["eval_updates"]), len(sweep["eval_seeds"]))
    assert np.shape(sweep["mpc_return"]) == (n_s, len(sweep["eval_seeds"]))


def test_short_horizons_are_myopic_and_long_ones_do_not_train(sweep):
    final = _final(sweep)
    for T, returns in final.items():
        if T <= 10 or T >= 75:
            assert (returns < HANGING).all(), (T, returns)


def test_long_horizons_end_with_a_worse_model_return_per_step_than_the_middle_ones(sweep):
    h = np.array(sweep["horizons"])
    end = (np.asarray(sweep["objective"])[:, :, -20:].mean((0, 2))) / h  # (horizons,)
    assert end[(h >= 20) & (h <= 50)].min() > end[h >= 75].max()


def test_in_between_some_seeds_swing_up_but_not_every_seed_at_any_horizon(sweep):
    final = _final(sweep)
    middle = np.stack([final[T] for T in final if 20 <= T <= 50])  # (horizons, seeds)
    assert (middle > SWING_UP).any()
    assert (middle.max(0) < HANGING).any()  # one seed never swings up, whatever the horizon
    assert (np.stack(list(final.values())).max(0) < HANGING).any()


def test_mpc_on_the_same_models_swings_up_for_every_seed(sweep):
    assert (np.asarray(sweep["mpc_return"]).mean(-1) > -200).all()


def test_gradient_norms_explode_with_the_horizon(sweep):
    grad = np.asarray(sweep["grad_norm"], dtype=np.float64)  # (seeds, horizons, updates)
    h = list(sweep["horizons"])
    largest = {T: np.nanmax(grad[:, j]) for j, T in enumerate(h)}
    median = {T: np.median(grad[:, j]) for j, T in enumerate(h)}
    assert largest[150] > 1e6 * largest[10] and not np.isfinite(largest[200])
    assert median[50] > 100 * median[5]
    assert all(largest[b] > largest[a] for a, b in zip(h[:4], h[1:5], strict=True))  # T = 5..50
