"""Slider-to-pixels latency in a real browser: JupyterLab + Chromium, as a student drags.

For every notebook: open it in JupyterLab (``tests/browser/harness.py``), run all cells, then
press the arrow keys on every slider of every live demo, ``MOVES_PER_SLIDER`` times (right,
left, right...). One move's latency is the time from the key press to the first animation
frame whose canvas pixels differ: slider -> widget message -> kernel update + blit -> image
diff back -> canvas. Budget (issue 17): median ≤ 70 ms and p95 ≤ 110 ms for every notebook.
Needs Chromium (``make chromium``); the group is empty without it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.core import ROOT, Row

GROUP = "browser"
MOVES_PER_SLIDER = int(os.environ.get("BENCH_BROWSER_MOVES", "10"))


def measure(notebooks: list[Path] | None = None,
            moves_per_slider: int = MOVES_PER_SLIDER) -> dict[str, list[float]]:
    """Latencies in ms, by notebook name, of every slider move."""
    from tests.browser import harness

    notebooks = notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        server = harness.LabServer(Path(tmp) / "lab", notebooks)
        browser = harness.Browser(Path(tmp) / "chromium")
        try:
            server.start()
            browser.start()
            for path in notebooks:
                run = harness.NotebookRun(server, browser, path.name)
                try:
                    run.open()
                    run.run_all()
                    lat = out.setdefault(path.name, [])
                    for demo in run.demos():
                        for slider in demo["sliders"]:
                            key = None
                            for _ in range(moves_per_slider):
                                move = run.move(demo["index"], slider["index"], key=key)
                                if move.latency_ms is not None:
                                    lat.append(move.latency_ms)
                                key = "ArrowLeft" if move.key == "ArrowRight" else "ArrowRight"
                finally:
                    run.close()
        finally:
            browser.stop()
            server.stop()
    return out


def rows() -> list[Row]:
    from tests.browser import harness

    reason = harness.chromium_missing_reason()
    if reason:
        print(f"  browser: skipped ({reason})")
        return []
    latencies = measure()
    result = []
    every = [ms for v in latencies.values() for ms in v]
    for name, ms in [*latencies.items(), ("all notebooks", every)]:
        if not ms:
            continue
        result.append(Row(GROUP, f"{Path(name).stem}: slider move to new pixels (JupyterLab + Chromium)",
                          float(np.median(ms)), "ms", "median ≤ 70 ms, p95 ≤ 110 ms",
                          f"p95 {np.percentile(ms, 95):.0f} ms over {len(ms)} moves"))
    return result


if __name__ == "__main__":
    for r in rows():
        print(f"{r.name:<70} median {r.value:7.1f} ms  {r.detail}")
