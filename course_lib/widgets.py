"""Live plots driven by sliders, fast enough to drag.

Every interactive demo of the course is a :class:`LiveDemo`. It builds its figure **once**
(under ``plt.ioff()``, so nothing is drawn twice), precomputes whatever is expensive, and on
a slider move only updates a few artists in place (``set_data``, ``set_ydata``...). Those
artists are *animated*: the static part of the figure (axes, ticks, labels, reference
lines) is rendered once and cached, and a move redraws only the animated artists on top of
the cached background and blits the result (matplotlib's blitting recipe). A full redraw of
a two-panel figure costs ~100 ms of text layout on a laptop core; a blit costs a few ms.
When a move must change the axes themselves, ``update`` calls :meth:`LiveDemo.full_redraw`.

With the ipympl backend the canvas is itself a widget. Without ipympl (Colab, a Jupyter
where it is not installed) each frame is a PNG shown in an ``ipywidgets.Image``: the sliders
work the same, each move sends a new picture. :func:`live_figures`, called in every notebook's
setup cell, picks the backend. Each demo can also save a static image
of its default setting (``save_static``), which the notebooks show beside the widget.

**How a frame reaches the browser.** ipympl's front end paints each PNG it receives through
one ``<img>`` element. When a second frame arrives before the first has loaded, the first
is dropped; ipympl's *diff* frames (only the pixels that changed) are then painted over a
picture that never arrived, and the figure stays blank or stale for good (this is what left
demos blank under *Run All*: the slider's first sync sent a diff right behind the first full
frame). So a live demo's canvas sends **whole frames only**, encoded fast: any frame that is
dropped is replaced by the next one. :meth:`LiveDemo.show` also paints the first frame at
once, so a figure shows while later cells still run.
"""

from __future__ import annotations

import html
import io
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["Slider", "LiveDemo", "live_figures", "time_updates", "fit_to_column", "fit_open_figures",
           "install_column_fit", "distinguish_lines",
           "COLUMN_WIDTH_PX", "COLORBLIND_SAFE"]

COLUMN_WIDTH_PX = 780
"""Widest figure, in CSS pixels: a notebook's output column is 848 px wide in a 1280 px
JupyterLab window with the file browser open (the browser suite checks that nothing in an
output area is cut off at that size)."""


def round_log_value(v: float) -> float:
    """A log slider's value as the readout and the text print it: two significant digits."""
    return float(f"{v:.2g}") if v > 0 else float(v)


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def live_figures(mode: str | None = None) -> str:
    """Choose how figures draw; every notebook's setup cell calls it (``%matplotlib`` by need).

    ``"ipympl"`` (JupyterLab, Binder, the hub): ``%matplotlib widget``, each live demo's
    canvas is an interactive widget. ``"image"`` (Colab, or ipympl not installed):
    ``%matplotlib inline``, each live demo redraws into an image widget. The default takes
    ipympl when it can be imported, except on Colab; ``COURSE_LIVE_FIGURES=image`` (or
    ``ipympl``) in the environment, or ``mode``, overrides. Returns the mode chosen.
    """
    import importlib.util
    import os

    mode = mode or os.environ.get("COURSE_LIVE_FIGURES") or (
        "ipympl" if importlib.util.find_spec("ipympl") is not None and not _in_colab() else "image")
    if mode not in ("ipympl", "image"):
        raise ValueError(f"live_figures: mode {mode!r} is not 'ipympl' or 'image'")
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.run_line_magic("matplotlib", "widget" if mode == "ipympl" else "inline")
        if mode == "image":
            print("Live figures are redrawn as images here (no ipympl): the sliders work the same.")
    return mode


@dataclass(frozen=True)
class Slider:
    """A slider's range and default (an IntSlider when all of them are ints)."""

    min: float
    """Smallest value."""
    max: float
    """Largest value."""
    step: float
    """Increment."""
    value: float
    """Default value (the one the static image shows)."""
    description: str = ""
    """Label shown left of the slider (defaults to the parameter name)."""
    log: bool = False
    """Use a log-scale slider (values are min..max in log10 units); it shows, and the demo
    receives, the value rounded to two significant digits (0.005, not 0.00501)."""

    @property
    def is_int(self) -> bool:
        ends = (self.min, self.max, self.step, self.value)
        return not self.log and all(float(x).is_integer() for x in ends)

    def make(self, name: str):
        import ipywidgets as w

        desc = self.description or name
        style = {"description_width": "initial"}
        layout = w.Layout(width="430px", max_width="100%")
        if self.log:  # two significant digits, as ``clean``: 0.005 (".2g"), 1100 (".2r", no exponent)
            fmt = ".2r" if 10.0**self.max >= 100 else ".2g"
            return w.FloatLogSlider(value=self.value, base=10, min=self.min, max=self.max,
                                    step=self.step, description=desc, style=style,
                                    layout=layout, continuous_update=True, readout_format=fmt)
        kind = w.IntSlider if self.is_int else w.FloatSlider
        cast = int if kind is w.IntSlider else float
        return kind(value=cast(self.value), min=cast(self.min), max=cast(self.max),
                    step=cast(self.step), description=desc, style=style, layout=layout,
                    continuous_update=True)

    def clean(self, value: Any) -> Any:
        """The value as ``update`` receives it (int, float, or a log value rounded)."""
        if self.log:
            return round_log_value(float(value))
        # rounded: the browser's slider may send back 0.9000000000000001 for 0.9
        return int(round(value)) if self.is_int else round(float(value), 10)


# Once per page: give every live demo's canvas role="img" and an aria-label (what the plot
# shows, then the current readout), kept up to date as the readout changes. ipywidgets has
# no way to set attributes on ipympl's <canvas>, so a small script does it.
_ARIA_JS = """
(() => {
  if (window.__courseAria) return;
  window.__courseAria = true;
  const label = (box) => {
    const alt = box.querySelector('.cl-demo-alt');
    const now = box.querySelector('.cl-demo-readout');
    const text = (alt ? alt.textContent.trim() : 'Live figure') +
                 (now && now.textContent.trim() ? ' Now: ' + now.textContent.trim() : '');
    box.querySelectorAll('.cl-demo-image img, img.cl-demo-image').forEach(img => {  // no ipympl
      if (img.getAttribute('alt') !== text) img.setAttribute('alt', text);
    });
    box.querySelectorAll('.jupyter-matplotlib-canvas-div').forEach(div => {
      const [image, ...overlays] = div.querySelectorAll('canvas');  // the picture, then the
      if (!image) return;                                           // mouse overlay
      if (image.getAttribute('aria-label') !== text) image.setAttribute('aria-label', text);
      if (image.getAttribute('role') !== 'img') image.setAttribute('role', 'img');
      overlays.forEach(c => c.setAttribute('aria-hidden', 'true'));
    });
  };
  let queued = false;
  const all = () => { queued = false; document.querySelectorAll('.cl-live-demo').forEach(label); };
  new MutationObserver(() => { if (!queued) { queued = true; requestAnimationFrame(all); } })
    .observe(document.body, {childList: true, subtree: true, characterData: true});
  all();
})();
"""


def _readout_html(text: str) -> str:
    """The readout line: wraps only between its "; "-separated parts, never inside a number."""
    parts = [html.escape(p) for p in text.split("; ")]
    spans = [f'<span style="white-space:nowrap">{p}{";" if i < len(parts) - 1 else ""}</span>'
             for i, p in enumerate(parts)]
    # the notebook's text font with figures of equal width: it fits more than a code font, and
    # the line does not jitter while a slider moves
    return ('<code class="cl-demo-readout" style="font-family: var(--jp-content-font-family); '
            f'font-variant-numeric: tabular-nums">{" ".join(spans)}</code>')


def _whole_frames(canvas: Any) -> None:
    """Make an ipympl canvas send whole frames, encoded fast (see the module docstring)."""
    from PIL import Image

    def get_diff_image():
        if not canvas._png_is_old:
            return None
        pixels = np.asarray(canvas.get_renderer().buffer_rgba())
        canvas.set_image_mode("full")  # never 'diff': a dropped frame must not matter
        canvas._force_full = False
        canvas._png_is_old = False
        with io.BytesIO() as png:
            Image.fromarray(pixels).save(png, format="png", compress_level=1)
            return png.getvalue()

    canvas.get_diff_image = get_diff_image


COLORBLIND_SAFE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
                   "#7F7F7F", "#000000", "#F0E442", "#999933")
"""The colour cycle of every live demo (Okabe and Ito's palette, in the hue order of
matplotlib's default: C0 blue, C1 orange, C2 green, C3 red, C4 purple...): colour-blind safe."""

_EXTRA_DASHES = ["-.", (0, (1, 1.5)), (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (8, 3)), (0, (3, 1, 1, 1))]
_EXTRA_MARKERS = ["s", "^", "D", "v", "P"]


def _cycle_colors_to(fig: plt.Figure, colors: tuple[str, ...]) -> None:
    """Lines and texts keep "C1"-style colours as given and look them up when drawn; pin
    them to ``colors`` (the patches and collections were converted when built)."""
    import re

    from matplotlib.lines import Line2D
    from matplotlib.text import Text

    def pin(c: Any) -> Any:
        if isinstance(c, str) and re.fullmatch(r"C\d+", c):
            return colors[int(c[1:]) % len(colors)]
        return c

    from matplotlib.collections import Collection

    def pin_all(c: Any) -> Any:
        if isinstance(c, str):
            return pin(c)
        if isinstance(c, (list, tuple)) and any(isinstance(x, str) for x in c):
            return [pin(x) for x in c]
        return c

    for artist in fig.findobj(lambda a: isinstance(a, (Line2D, Text, Collection))):
        if isinstance(artist, Collection):  # keeps its colours as given, re-read on some changes
            for attr, setter in (("_original_edgecolor", artist.set_edgecolor),
                                 ("_original_facecolor", artist.set_facecolor)):
                given = getattr(artist, attr, None)
                if pin_all(given) is not given:
                    setter(pin_all(given))
            continue
        artist.set_color(pin(artist.get_color()))
        if isinstance(artist, Line2D):
            artist.set_markerfacecolor(pin(artist.get_markerfacecolor()))
            artist.set_markeredgecolor(pin(artist.get_markeredgecolor()))


def distinguish_lines(fig: plt.Figure) -> None:
    """Within each panel, give lines that a legend tells apart by colour a line style (or a
    marker) of their own too, so the legend reads without colour. The first line of each
    style keeps it; legends already drawn are updated."""
    from matplotlib.lines import Line2D

    def blank(m: Any) -> bool:
        return m in (None, "", "None", " ", "none")

    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        used_styles = {str(ln.get_linestyle()) for ln in ax.get_lines()}
        used_markers = {str(ln.get_marker()) for ln in ax.get_lines()}
        groups: dict[tuple, list[Line2D]] = {}
        for ln in lines:
            key = (str(ln.get_linestyle()), str(ln.get_marker()))
            groups.setdefault(key, []).append(ln)
        restyled = {}
        for (style, marker), group in groups.items():
            for ln in group[1:]:
                if style in ("None", "none", " ", "") and not blank(marker):
                    new = next((m for m in _EXTRA_MARKERS if m not in used_markers), "o")
                    used_markers.add(new)
                    ln.set_marker(new)
                else:
                    new = next((d for d in _EXTRA_DASHES if str(d) not in used_styles), ":")
                    used_styles.add(str(new))
                    ln.set_linestyle(new)
                restyled[ln.get_label()] = ln
        legend = ax.get_legend()
        if legend is not None and restyled:
            for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=False):
                src = restyled.get(text.get_text())
                if src is not None and isinstance(handle, Line2D):
                    handle.set_linestyle(src.get_linestyle())
                    handle.set_marker(src.get_marker())


def fit_to_column(fig: plt.Figure, max_px: float = COLUMN_WIDTH_PX) -> plt.Figure:
    """Fit ``fig`` to ``max_px`` CSS pixels (at its dpi) so it never scrolls sideways.

    A row of three or more panels that would shrink by more than a fifth becomes two rows
    (the first half of the panels above, the rest below, each row's panels equally wide);
    any other figure is narrowed and constrained layout re-packs its panels.
    """
    w, h = fig.get_size_inches()
    # CSS pixels: ipympl multiplies the dpi by the screen's device pixel ratio
    max_w = max_px * getattr(fig.canvas, "device_pixel_ratio", 1) / fig.dpi
    if w <= max_w + 1e-9:
        return fig
    panels = [ax for ax in fig.axes if ax.get_subplotspec() is not None]
    grids = {id(ax.get_subplotspec().get_gridspec()) for ax in panels}
    if len(panels) >= 3 and len(grids) == 1 and w > 1.2 * max_w:
        gs = panels[0].get_subplotspec().get_gridspec()
        if gs.nrows == 1 and len(panels) == gs.ncols:
            top = math.ceil(len(panels) / 2)
            bottom = len(panels) - top
            cols = top * bottom
            grid = fig.add_gridspec(2, cols)
            for i, ax in enumerate(panels):
                row, k, n = (0, i, top) if i < top else (1, i - top, bottom)
                span = cols // n
                ax.set_subplotspec(grid[row, k * span:(k + 1) * span])
            fig.set_size_inches(max_w, min(1.75 * h, 6.0))
            return fig
    fig.set_size_inches(max_w, h)
    return fig


def fit_open_figures(max_px: float = COLUMN_WIDTH_PX) -> None:
    """Fit every open pyplot figure to the notebook column (see :func:`install_column_fit`)."""
    from matplotlib._pylab_helpers import Gcf

    for manager in Gcf.get_all_fig_managers():
        fit_to_column(manager.canvas.figure, max_px)


def install_column_fit() -> None:
    """In a notebook: after every cell, fit the figures it made to the notebook column.

    ipympl shows a figure at the end of its cell and sizes the browser's canvas when the view
    reports that it is ready, so a figure narrowed here shows narrowed. ``import course_lib``
    installs this once per kernel.
    """
    import sys

    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "_course_lib_column_fit", False):
        return

    def after_cell(*_args: Any) -> None:
        if "matplotlib.pyplot" in sys.modules:
            fit_open_figures()

    shell.events.register("post_execute", after_cell)
    shell._course_lib_column_fit = True


class LiveDemo:
    """Base class: subclasses set ``sliders`` and implement ``build`` and ``update``.

    ``build`` creates the axes and artists, wrapping the ones ``update`` changes in
    :meth:`animated`; ``update(**values)`` moves them and returns a one-line readout.
    ``alt`` says in a sentence what the figure shows (the canvas's ``aria-label``).

    A figure wider than :data:`COLUMN_WIDTH_PX` is fitted to the notebook column when it is
    built: a row of three or more panels becomes two rows, a narrower figure is shrunk to
    the column's width.
    """

    sliders: Mapping[str, Slider] = {}
    figsize: tuple[float, float] = (7.2, 3.0)
    dpi: float = 100.0
    alt: str = ""

    def __init__(self) -> None:
        self._animated: list[Any] = []
        self._background = None
        self._full = True
        self._controls: dict[str, Any] = {}
        self._readout = None
        self._quiet = False
        self._values: dict[str, Any] | None = None
        self._image = None  # the image widget that shows the figure when there is no ipympl
        from cycler import cycler

        with plt.ioff(), plt.rc_context({"axes.prop_cycle": cycler(color=COLORBLIND_SAFE)}):
            self.fig = plt.figure(figsize=self.figsize, dpi=self.dpi, layout="constrained")
            self.build(self.fig)
        _cycle_colors_to(self.fig, COLORBLIND_SAFE)
        distinguish_lines(self.fig)
        self.fit_width()
        self.readout_text = self._apply(self.defaults())
        self.fig.canvas.mpl_connect("draw_event", self._on_draw)

    # -- to implement --------------------------------------------------------------------
    def build(self, fig: plt.Figure) -> None:
        """Create axes and artists once."""
        raise NotImplementedError

    def update(self, **values: Any) -> str:
        """Move the artists to the slider values; return a one-line readout."""
        raise NotImplementedError

    # -- provided ------------------------------------------------------------------------
    def animated(self, artist: Any) -> Any:
        """Mark ``artist`` as one that ``update`` changes (redrawn on every move)."""
        artist.set_animated(True)
        self._animated.append(artist)
        return artist

    def full_redraw(self) -> None:
        """Ask for a full redraw on this move (call from ``update`` after changing axes)."""
        self._full = True

    def defaults(self) -> dict[str, Any]:
        """Slider values of the default setting."""
        return {name: s.clean(s.value) for name, s in self.sliders.items()}

    @property
    def alt_text(self) -> str:
        """What the figure shows, in a sentence (``alt``, else the class docstring's first line)."""
        if self.alt:
            return self.alt
        doc = (type(self).__doc__ or "Live figure.").strip().splitlines()[0]
        return doc.replace("->", "shows").replace("gamma", "γ")

    def fit_width(self, max_px: float = COLUMN_WIDTH_PX) -> None:
        """Fit the figure to the notebook column (see :func:`fit_to_column`)."""
        fit_to_column(self.fig, max_px)

    def _on_draw(self, _event: Any) -> None:
        # After any full draw: cache the static background, then paint the animated artists.
        canvas = self.fig.canvas
        self._background = canvas.copy_from_bbox(self.fig.bbox)
        self._drawn_size = tuple(self.fig.bbox.size)
        for artist in self._animated:
            self.fig.draw_artist(artist)

    def _apply(self, values: Mapping[str, Any]) -> str:
        """Run ``update`` on cleaned slider values; remember them."""
        clean = {n: self.sliders[n].clean(v) if n in self.sliders else v for n, v in values.items()}
        self._values = clean
        return self.update(**clean)

    def redraw(self, **values: Any) -> str:
        """Update to ``values`` and repaint (what a slider move does).

        Only the animated artists are redrawn over the cached background, unless ``update``
        asked for a full redraw or changed an artist that is not animated.
        """
        self._full = False
        self.fig.stale = False
        text = self._apply(values)
        canvas = self.fig.canvas
        if self._full or self._background is None or self.fig.stale:
            canvas.draw()  # a full render; _on_draw caches the new background
        else:
            canvas.restore_region(self._background)
            for artist in self._animated:
                self.fig.draw_artist(artist)
            canvas.blit(self.fig.bbox)
        # A blitted figure is up to date: without this, IPython's post-execute hook (which
        # also runs after every widget message) would ask the browser for a full redraw.
        self.fig.stale = False
        if self._image is not None:
            self._image.value = self.png()
        return text

    def png(self) -> bytes:
        """The picture as it is now (background and animated artists), PNG-encoded: the frame
        the image widget shows when there is no ipympl."""
        from PIL import Image

        if self._background is None:
            self.fig.canvas.draw()
        pixels = np.asarray(self.fig.canvas.buffer_rgba())
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def push(self, **values: Any) -> str:
        """Update from a running cell (a training loop, say) and repaint at once.

        The readout and the sliders follow: they show the pushed values. The frame reaches
        the browser even while the cell, or a whole *Run All*, is still running.
        """
        self.readout_text = self.redraw(**values)
        self._sync_controls()
        return self.readout_text

    def _sync_controls(self) -> None:
        if self._readout is not None:
            self._readout.value = _readout_html(self.readout_text)
        self._quiet = True
        try:
            for name, control in self._controls.items():
                if self._values and name in self._values:
                    control.value = self._values[name]
        finally:
            self._quiet = False

    def show(self):
        """The widget: sliders, a readout line and the live figure."""
        import ipywidgets as w
        from IPython.display import Javascript, display

        controls = {name: s.make(name) for name, s in self.sliders.items()}
        readout = w.HTML(value=_readout_html(self.readout_text),
                         layout=w.Layout(max_width="100%"))
        alt = w.HTML(value=f'<span class="cl-demo-alt" style="position:absolute;width:1px;'
                           f'height:1px;overflow:hidden;clip-path:inset(50%)">'
                           f'{html.escape(self.alt_text)}</span>',
                     layout=w.Layout(height="0px", margin="0px"))
        self._controls, self._readout = controls, readout

        def on_change(_change: Any) -> None:
            if self._quiet:
                return
            values = {n: c.value for n, c in controls.items()}
            clean = {n: self.sliders[n].clean(v) for n, v in values.items()}
            if clean == self._values:  # the slider's own echo of its value: nothing moved
                return
            self.readout_text = self.redraw(**values)
            readout.value = _readout_html(self.readout_text)

        for c in controls.values():
            c.observe(on_change, names="value")
        canvas = self.fig.canvas
        if isinstance(canvas, w.DOMWidget):  # ipympl: the canvas is a widget
            canvas.header_visible = False
            canvas.footer_visible = False
            canvas.toolbar_visible = False
            canvas.resizable = False
            _whole_frames(canvas)

            def handle_draw(_event: Any) -> None:
                # The browser asks for a frame (its view is new, or it was resized): resend the
                # current picture when it is up to date, instead of a full render (~100 ms).
                if (self._background is not None and not self.fig.stale
                        and getattr(self, "_drawn_size", None) == tuple(self.fig.bbox.size)):
                    canvas._png_is_old = True
                    canvas.manager.refresh_all()
                else:
                    canvas.draw()

            canvas.handle_draw = handle_draw
            # Size the browser's canvas now and paint the first frame: the figure then shows
            # while later cells (a Run All) still run, before the view says it is ready.
            ratio = getattr(canvas, "device_pixel_ratio", 1) or 1
            w_px, h_px = self.fig.bbox.size
            canvas._size = (w_px / ratio, h_px / ratio)
            canvas.syncing_data_url = False
            canvas.draw()
            self.fig.stale = False
            view = canvas
        else:  # no ipympl (Colab, say): every frame is a PNG in an image widget
            self.fig.canvas.draw()
            self.fig.stale = False
            view = self._image = w.Image(value=self.png(), format="png",
                                         layout=w.Layout(max_width="100%", height="auto"))
            view.add_class("cl-demo-image")
        box = w.VBox([*controls.values(), readout, alt, view],
                     layout=w.Layout(max_width="100%", overflow="hidden"))
        box.add_class("cl-live-demo")
        from IPython import get_ipython

        if get_ipython() is not None:
            display(Javascript(_ARIA_JS))
        return box

    def save_static(self, path: str | Path, dpi: int = 90) -> Path:
        """Save the figure at its default setting (the image shown beside the widget)."""
        self._apply(self.defaults())
        for artist in self._animated:
            artist.set_animated(False)
        try:
            path = Path(path)
            self.fig.savefig(path, dpi=dpi, metadata={"Software": None})
        finally:
            for artist in self._animated:
                artist.set_animated(True)
        return path


def time_updates(demo: LiveDemo, n: int = 40, seed: int = 0) -> dict[str, float]:
    """Kernel-side cost of slider moves: update artists and render with Agg, n random moves.

    Each move is ``redraw`` (update + blit, or the full draw when the move needs one) on the
    Agg canvas. Returns median and p95 in milliseconds (the benchmark table's rows).
    """
    rng = np.random.default_rng(seed)
    times = []
    demo.fig.canvas.draw()  # the first full draw caches the background
    for _ in range(n):
        values = {}
        for name, s in demo.sliders.items():
            steps = int(round((s.max - s.min) / s.step))
            v = s.min + s.step * int(rng.integers(0, steps + 1))
            if s.log:
                v = 10.0**v
            elif s.is_int:
                v = int(v)
            values[name] = v
        t0 = time.perf_counter()
        demo.redraw(**values)
        times.append((time.perf_counter() - t0) * 1e3)
    arr = np.array(times)
    return {"median_ms": float(np.median(arr)), "p95_ms": float(np.percentile(arr, 95))}

