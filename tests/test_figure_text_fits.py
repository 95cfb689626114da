"""No text of a live demo's figure (title, axis label, tick label, legend, colour bar) is cut
off at the figure's edge, at the size the notebook shows it (fitted to the column).

The browser suite checks the page around a figure (no horizontal scroll, nothing clipped in the
output area); this checks inside the picture, which the page cannot see: constrained layout
makes room for labels vertically but lets a title or label wider than its axes run off the
figure's side.
"""

from __future__ import annotations

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

import course_lib
from course_lib.demos import static_images

IMAGES = static_images()


def cut_off_texts(fig: matplotlib.figure.Figure, tol_px: float = 1.0) -> list[str]:
    """What of ``fig``'s text reaches past its edges: each axes' title, its x and y axis (label
    and the tick labels drawn), its legend, and the figure's own texts and legends."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    parts = [(f"figure text {t.get_text()!r}", t) for t in fig.texts] + \
            [("figure legend", leg) for leg in fig.legends]
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        name = f"axes {i} ({ax.get_title() or ax.get_label() or 'untitled'})"
        parts += [(f"{name} title {t.get_text()!r}", t) for t in (ax.title, ax._left_title, ax._right_title)]
        parts += [(f"{name} x axis ({ax.get_xlabel()!r} or its tick labels)", ax.xaxis),
                  (f"{name} y axis ({ax.get_ylabel()!r} or its tick labels)", ax.yaxis)]
        if ax.get_legend() is not None:
            parts.append((f"{name} legend", ax.get_legend()))
    found = []
    for what, artist in parts:
        if not artist.get_visible() or isinstance(artist, Text) and not artist.get_text().strip():
            continue
        ext = artist.get_tightbbox(renderer) if hasattr(artist, "get_tightbbox") else None
        ext = ext if ext is not None else artist.get_window_extent(renderer)
        if ext is None or ext.width == 0:
            continue
        past = max(box.x0 - ext.x0, ext.x1 - box.x1, box.y0 - ext.y0, ext.y1 - box.y1)
        if past > tol_px:
            found.append(f"{what}: {past:.0f} px past the edge")
    return found


@pytest.mark.parametrize("name", sorted(IMAGES), ids=sorted(IMAGES))
def test_no_text_of_a_demo_figure_is_cut_off(name):
    course_lib.seed_everything(0)
    demo = IMAGES[name]()
    demo._apply(demo.defaults())
    assert not cut_off_texts(demo.fig), f"{name}: {cut_off_texts(demo.fig)}"


def test_a_long_title_is_caught():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(4, 2), layout="constrained")
    b.set_title("a title far wider than the little axes it sits on, running off the side")
    try:
        found = cut_off_texts(fig)
        assert len(found) == 1 and "a title far wider" in found[0], found
    finally:
        plt.close(fig)


@pytest.mark.parametrize("name", sorted(IMAGES), ids=sorted(IMAGES))
def test_each_static_image_is_drawn_at_its_demos_size(name):
    """The image beside a widget is redrawn when its demo's figure changes size (a stale one
    would show the old layout): ``python assets/make_assets.py NAME``."""
    from PIL import Image

    from tests.conftest import ROOT

    course_lib.seed_everything(0)
    fig = IMAGES[name]().fig
    want = tuple(round(x * 90) for x in fig.get_size_inches())  # save_static's dpi
    with Image.open(ROOT / "assets" / name) as im:
        assert im.size == want, (f"{name} is {im.size}, its demo draws {want}: "
                                 f"run python assets/make_assets.py {name}")
