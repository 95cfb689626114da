"""Every live demo draws at its default and at every slider's extremes, without NaN or errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import course_lib
from course_lib.demos import static_images
from course_lib.widgets import LiveDemo, time_updates

DEMOS = static_images()


def _corners(demo: LiveDemo):
    names = list(demo.sliders)
    ends = []
    for s in demo.sliders.values():
        lo, hi = (10.0**s.min, 10.0**s.max) if s.log else (s.min, s.max)
        ends.append((lo, hi))
    for combo in itertools.product(*ends):
        yield dict(zip(names, combo, strict=True))


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_demo_draws_at_every_corner_of_its_sliders(name):
    course_lib.seed_everything(0)
    demo = DEMOS[name]()
    demo.fig.canvas.draw()
    for values in _corners(demo):
        text = demo.redraw(**values)
        assert isinstance(text, str) and text and "nan" not in text.lower(), (values, text)
        demo.fig.canvas.draw()
        for artist in demo._animated:
            if hasattr(artist, "get_ydata"):
                y = np.asarray(artist.get_ydata(), dtype=float)
                assert np.isfinite(y).all(), (name, values, artist)
    text = demo.redraw(**demo.defaults())
    assert text == demo.readout_text


def test_blitting_updates_only_animated_artists_and_timing_runs():
    demo = DEMOS["welcome_discount.png"]()
    t = time_updates(demo, n=5)
    assert t["median_ms"] > 0 and t["p95_ms"] >= t["median_ms"]
    assert demo._background is not None and demo._animated


def test_static_image_shows_animated_artists(tmp_path):
    demo = DEMOS["welcome_discount.png"]()
    path = demo.save_static(tmp_path / "x.png")
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    # the orange cumulative-weight curve (C1) is an animated artist: it must be in the image
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    orange = (np.abs(r - 1.0) < 0.05) & (np.abs(g - 0.5) < 0.05) & (b < 0.1)
    assert orange.sum() > 50
