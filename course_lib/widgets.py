"""Live plots driven by sliders, fast enough to drag.

Every interactive demo of the course is a :class:`LiveDemo`. It builds its figure **once**
(under ``plt.ioff()``, so nothing is drawn twice), precomputes whatever is expensive, and on
a slider move only updates a few artists in place (``set_data``, ``set_ydata``...). Those
artists are *animated*: the static part of the figure (axes, ticks, labels, reference
lines) is rendered once and cached, and a move redraws only the animated artists on top of
the cached background and blits the result (matplotlib's blitting recipe). A full redraw of
a two-panel figure costs ~100 ms of text layout on a laptop core; a blit costs a few ms.
When a move must change the axes themselves, ``update`` calls :meth:`LiveDemo.full_redraw`.

With the ipympl backend (``%matplotlib widget``) the canvas is itself a widget; elsewhere
(static HTML, tests) the figure is a plain image. Each demo can also save a static image
of its default setting (``save_static``), which the notebooks show beside the widget.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["Slider", "LiveDemo", "time_updates"]


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
    """Use a log-scale slider (values are min..max in log10 units)."""

    def make(self, name: str):
        import ipywidgets as w

        desc = self.description or name
        style = {"description_width": "initial"}
        layout = w.Layout(width="420px")
        if self.log:
            return w.FloatLogSlider(value=self.value, base=10, min=self.min, max=self.max,
                                    step=self.step, description=desc, style=style,
                                    layout=layout, continuous_update=True)
        kind = w.IntSlider if all(float(x).is_integer() for x in
                                  (self.min, self.max, self.step, self.value)) else w.FloatSlider
        cast = int if kind is w.IntSlider else float
        return kind(value=cast(self.value), min=cast(self.min), max=cast(self.max),
                    step=cast(self.step), description=desc, style=style, layout=layout,
                    continuous_update=True)


class LiveDemo:
    """Base class: subclasses set ``sliders`` and implement ``build`` and ``update``.

    ``build`` creates the axes and artists, wrapping the ones ``update`` changes in
    :meth:`animated`; ``update(**values)`` moves them and returns a one-line readout.
    """

    sliders: Mapping[str, Slider] = {}
    figsize: tuple[float, float] = (8.0, 3.2)

    def __init__(self) -> None:
        self._animated: list[Any] = []
        self._background = None
        self._full = True
        with plt.ioff():
            self.fig = plt.figure(figsize=self.figsize, layout="constrained")
        self.build(self.fig)
        self.readout_text = self.update(**self.defaults())
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
        return {name: s.value for name, s in self.sliders.items()}

    def _on_draw(self, _event: Any) -> None:
        # After any full draw: cache the static background, then paint the animated artists.
        canvas = self.fig.canvas
        self._background = canvas.copy_from_bbox(self.fig.bbox)
        for artist in self._animated:
            self.fig.draw_artist(artist)

    def redraw(self, **values: Any) -> str:
        """Update to ``values`` and repaint (what a slider move does)."""
        self._full = False
        text = self.update(**values)
        canvas = self.fig.canvas
        if self._full or self._background is None:
            canvas.draw_idle()
        else:
            canvas.restore_region(self._background)
            for artist in self._animated:
                self.fig.draw_artist(artist)
            canvas.blit(self.fig.bbox)
        return text

    def push(self, **values: Any) -> str:
        """Update from a running cell (a training loop, say): repaint only if a view is live.

        While a cell runs, the kernel cannot hear from the browser. Until ipympl's view has
        told the kernel it is ready, a pushed image would break it (ipympl then shows a
        broken image), so before that this only moves the artists; the browser draws them when
        the cell ends. Afterwards every push reaches the screen at once.
        """
        ready = getattr(self.fig.canvas, "syncing_data_url", True) is False
        if not ready:
            self.readout_text = self.update(**values)
            return self.readout_text
        if self._background is None:
            self.readout_text = self.update(**values)
            self.fig.canvas.draw()
        else:
            self.readout_text = self.redraw(**values)
        return self.readout_text

    def show(self):
        """The widget: sliders, a readout line and the live figure."""
        import ipywidgets as w

        controls = {name: s.make(name) for name, s in self.sliders.items()}
        readout = w.HTML(value=f"<code>{self.readout_text}</code>")

        def on_change(_change: Any) -> None:
            text = self.redraw(**{n: c.value for n, c in controls.items()})
            readout.value = f"<code>{text}</code>"

        for c in controls.values():
            c.observe(on_change, names="value")
        canvas = self.fig.canvas
        if isinstance(canvas, w.DOMWidget):  # ipympl: the canvas is a widget
            canvas.header_visible = False
            canvas.footer_visible = False
            canvas.toolbar_visible = False
            view = canvas
        else:  # another backend: show the figure as an image in an output area
            view = w.Output()
            with view:
                from IPython.display import display

                display(self.fig)
        return w.VBox([*controls.values(), readout, view])

    def save_static(self, path: str | Path, dpi: int = 90) -> Path:
        """Save the figure at its default setting (the image shown beside the widget)."""
        self.update(**self.defaults())
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

    Each move is ``redraw`` (update + blit) on the Agg canvas, plus the full draw when the
    move asked for one. Returns median and p95 in milliseconds (the benchmark table's rows).
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
            elif all(float(x).is_integer() for x in (s.min, s.max, s.step, s.value)):
                v = int(v)
            values[name] = v
        t0 = time.perf_counter()
        demo.redraw(**values)
        if demo._full:
            demo.fig.canvas.draw()  # a full redraw was requested: pay for it here
        times.append((time.perf_counter() - t0) * 1e3)
    arr = np.array(times)
    return {"median_ms": float(np.median(arr)), "p95_ms": float(np.percentile(arr, 95))}
