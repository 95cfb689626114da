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
    from matplotlib.colors import to_rgb

    from course_lib.widgets import COLORBLIND_SAFE

    want = to_rgb(COLORBLIND_SAFE[1])
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    orange = (np.abs(r - want[0]) < 0.05) & (np.abs(g - want[1]) < 0.05) & (np.abs(b - want[2]) < 0.05)
    assert orange.sum() > 50


_IPYMPL_SCRIPT = r"""
import io, json
import matplotlib
matplotlib.use("module://ipympl.backend_nbagg")
import numpy as np
from PIL import Image
from course_lib.demos.welcome import DiscountDemo

demo = DiscountDemo()
canvas = demo.fig.canvas
sent = []
canvas.send = lambda content, buffers=None: sent.append((json.loads(content["data"]), buffers))
box = demo.show()
slider = box.children[0]
frames = lambda: [b[0] for m, b in sent if m["type"] == "binary"]
out = {"size": list(canvas._size), "fig_px": [float(x) for x in demo.fig.bbox.size],
       "frames_at_show": len(frames())}
slider.value = 0.9000000000000001   # the browser's echo of the default: nothing moved
out["frames_after_echo"] = len(frames())
slider.value = 0.95
slider.value = 0.955
out["frames_after_moves"] = len(frames())
out["modes"] = sorted({m.get("mode") for m, b in sent if m["type"] == "image_mode"} - {None})
out["diff_mode"] = canvas._current_image_mode
imgs = [np.asarray(Image.open(io.BytesIO(bytes(f)))) for f in frames()]
out["shapes"] = sorted({im.shape for im in imgs})
out["opaque"] = all((im[..., 3] == 255).all() for im in imgs)
draws = []
canvas.mpl_connect("draw_event", lambda e: draws.append(1))
canvas.handle_event({"type": "draw"})   # the browser asks for a frame: resent, not re-rendered
out["frames_after_request"] = len(frames())
out["full_draws_for_request"] = len(draws)
demo.push(gamma=0.8)
out["slider_after_push"] = slider.value
out["readout_after_push"] = box.children[1].value
print(json.dumps(out))
"""


def test_a_live_ipympl_canvas_paints_at_show_and_sends_whole_frames_only(tmp_path):
    """ipympl's browser side paints frames through one <img>: a frame that comes before the
    last one loaded replaces it. With *diff* frames the figure then stays blank or stale for
    good (what left demos blank under Run All), so a live demo sends whole frames only, paints
    its first one when shown, and does not repaint for the slider's echo of its own value."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _IPYMPL_SCRIPT], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["frames_at_show"] == 1 and out["size"] == out["fig_px"], out
    assert out["frames_after_echo"] == 1, out
    assert out["frames_after_moves"] == 3, out
    assert out["modes"] in ([], ["full"]) and out["diff_mode"] == "full", out
    h, w = round(out["fig_px"][1]), round(out["fig_px"][0])
    assert out["shapes"] == [[h, w, 4]] and out["opaque"], out
    assert out["frames_after_request"] == 4 and out["full_draws_for_request"] == 0, out
    assert out["slider_after_push"] == 0.8 and "γ = 0.800" in out["readout_after_push"], out


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_legend_entries_differ_in_line_style_or_marker_not_only_in_colour(name):
    """Colour-blind readers tell a panel's curves apart by their style as well."""
    course_lib.seed_everything(0)
    demo = DEMOS[name]()
    for k, ax in enumerate(demo.fig.axes):
        styles = [(str(ln.get_linestyle()), str(ln.get_marker())) for ln in ax.get_lines()
                  if not ln.get_label().startswith("_")]
        assert len(styles) == len(set(styles)), (name, k, styles)


def test_log_sliders_show_and_pass_the_rounded_value():
    """The ε slider shows 0.005 where the text says 0.005 (not 0.00501), and the demo gets 0.005."""
    from course_lib.widgets import Slider

    eps = Slider(-4, -0.5, 0.05, 0.005, "model error ε", log=True)
    n = Slider(2, 4, 0.05, 1000, "random transitions N", log=True)
    assert eps.clean(10**-2.3) == 0.005 and n.clean(10**3.05) == 1100
    assert eps.make("eps").readout_format == ".2g" and n.make("n").readout_format == ".2r"
