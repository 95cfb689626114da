"""Every notebook as a student meets it: JupyterLab in Chromium, run all, then drag every slider.

Notebooks and sliders are discovered at run time (``notebooks/*.ipynb``; every widget box on
the page that holds a slider and an ipympl figure), so a new notebook or demo is covered
without touching this file. Each notebook is run once (see ``conftest.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_tools import authoring
from tests.browser import harness
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import ROOT

pytestmark = pytest.mark.browser


def _demo_images(path) -> list[str]:
    """The demos' static images (``assets/<name>``) that a notebook shows."""
    from course_lib.demos import static_images

    names = set(static_images())
    found = []
    for cell in authoring.read_notebook(path).cells:
        if cell.cell_type == "markdown":
            for target in re.findall(r"!\[[^\]]*\]\(\.\./assets/([^)\s]+)\)", cell.source):
                if target in names and target not in found:
                    found.append(target)
    return found


def test_runs_top_to_bottom_without_an_error(notebook):
    problems = notebook.cell_problems()
    assert not problems, f"{notebook.name} (ran in {notebook.run_seconds:.0f} s):\n" + "\n".join(problems)


def test_every_live_demo_renders(notebook, request):
    path = request.node.callspec.params["notebook"]
    demos = notebook.demos()
    expected = _demo_images(path)
    assert len(demos) >= len(expected), (
        f"{notebook.name} shows the static images of {len(expected)} demos ({expected}) but only "
        f"{len(demos)} live demos (sliders + figure) rendered in JupyterLab")
    for d in demos:
        assert d["sliders"] and d["canvases"], d


def test_opening_the_notebook_does_not_mark_it_modified(notebook):
    """A notebook stored as JupyterLab writes it opens clean (no unsaved-changes dot)."""
    info = authoring.read_notebook(ROOT / "notebooks" / notebook.name).metadata.get("language_info", {})
    if notebook.name == "03_dyna_mve_mbpo.ipynb" and "mimetype" not in info:
        pytest.skip("Part 3 is rewritten on another branch: `python -m course_tools sources` normalises it")
    assert not notebook.dirty_on_open, (
        f"{notebook.name} is marked modified as soon as it opens: store it normalised "
        "(`python -m course_tools sources` rewrites it as JupyterLab saves it)")


def test_everything_fits_a_laptop_window(notebook):
    """At 1280x800 with the file browser open: no output area scrolls sideways, no figure,
    label or readout is cut off, and every readout fits one line."""
    assert notebook.page.viewport_size == harness.VIEWPORT
    notebook.demos()
    problems = notebook.fit_problems()
    assert not problems, f"{notebook.name} at 1280x800:\n" + "\n".join(problems)


def test_every_live_figure_and_image_says_what_it_shows(notebook):
    """Each live figure's canvas is an image with an aria-label; each image has alt text."""
    problems = []
    for demo in notebook.demos():
        for k, label in enumerate(notebook.aria(demo["index"])):
            if not label or label["role"] != "img" or len(label["label"]) < 30:
                problems.append(f"demo {demo['index']} (cell {demo['cell']}) figure {k}: {label}")
    for img in notebook.images():
        if not img["alt"]:
            problems.append(f"image {img['src']} has no alt text")
    assert not problems, f"{notebook.name}:\n" + "\n".join(problems)


def test_every_slider_moves_the_plot_and_the_readout(notebook, record_move):
    """Each slider, moved one step with the keyboard (then back): new pixels, new readout."""
    failures = []
    for demo in notebook.demos():
        for slider in demo["sliders"]:
            where = f"{notebook.name} demo {demo['index']} (cell {demo['cell']}) slider '{slider['label']}'"
            shot = None
            if slider["index"] == 0:
                shot = SCREENSHOTS / f"{Path(notebook.name).stem}_demo{demo['index']}.png"
            there = notebook.move(demo["index"], slider["index"], screenshot=shot)
            back = notebook.move(demo["index"], slider["index"],
                                 key="ArrowLeft" if there.key == "ArrowRight" else "ArrowRight")
            for move in (there, back):
                record_move(notebook.name, demo, move)
                if move.after["raw"] == move.before["raw"]:
                    failures.append(f"{where}: {move.key} did not change the value ({move.before['raw']})")
                    continue
                if move.pixels_changed < 10 or move.latency_ms is None:
                    failures.append(f"{where}: {move.key} to {move.after['raw']:g} did not change the "
                                    f"plot ({move.pixels_changed} pixels differ)")
                if not move.readout_ok:
                    failures.append(f"{where}: after {move.key} the readout does not print the new "
                                    f"value {move.after['raw']:g} (slider shows "
                                    f"{move.after['shown']!r}): {move.after['readout']!r}")
            if slider["index"] == 0:
                # Frames sent back to back: the browser drops one when the next comes before it
                # loaded. The picture must still end exactly where it started.
                lost = notebook.quick_there_and_back(demo["index"], slider["index"])
                if lost > 10:
                    failures.append(f"{where}: after two quick moves there and back, {lost} pixels "
                                    "differ from before (a frame was lost and the figure is stale)")
    assert not failures, "\n".join(failures)


def test_no_errors_in_the_browser_console_or_from_the_widgets(notebook):
    """Checked last, so errors logged while the sliders moved count too. Errors raised in a
    widget callback go to JupyterLab's log console, not to a cell: it is read as well."""
    errors = notebook.console_errors() + notebook.widget_log_errors()
    assert not errors, f"{notebook.name}: errors logged in the browser:\n" + "\n".join(errors)
