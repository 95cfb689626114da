"""One notebook in JupyterLab's dark theme: its readouts, labels, figures and images stay legible.

The live figures and the static images carry their own opaque light background (matplotlib's
white), so their text keeps its contrast whatever the theme; the widgets' text follows the
theme's colours. Checked with WCAG contrast ratios: text against what is behind it, and inside
each figure and image, its darkest ink against its own background.
"""

from __future__ import annotations

import pytest

from tests.browser import harness
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

NOTEBOOK = "00_welcome.ipynb"


def test_the_welcome_notebook_is_legible_in_the_dark_theme(lab_server, browser):
    run = harness.NotebookRun(lab_server, browser, NOTEBOOK)
    try:
        run.open()
        run.set_theme(harness.DARK_THEME)
        run.run_all()
        assert not run.cell_problems()
        demos = run.demos()
        assert demos, "no live demo rendered"
        for d in demos:
            run.page.locator(f'[data-bt-demo="{d["index"]}"]').scroll_into_view_if_needed()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            run.page.screenshot(path=str(SCREENSHOTS / f"00_welcome_demo{d['index']}_dark.png"))
        results = run.contrast()
        kinds = {r["what"].split()[0] for r in results}
        assert {"demo", "image"} <= kinds, results
        bad = []
        for r in results:
            need = 4.5 if "text" in r["what"] or "figure" in r["what"] or "image" in r["what"] else 3.0
            if r["ratio"] < need:
                bad.append(f"{r['what']}: contrast {r['ratio']:.1f} < {need}")
            if "opaque" in r and r["opaque"] < 0.99:
                bad.append(f"{r['what']}: {1 - r['opaque']:.0%} of it is transparent (the dark page "
                           "shows through behind its lines and text)")
        assert not bad, "in JupyterLab Dark:\n" + "\n".join(bad)
    finally:
        try:
            if run.page is not None:
                run.set_theme(harness.LIGHT_THEME)
        finally:
            run.close()
