"""Fixtures of the browser suite: one JupyterLab server and one Chromium for the whole session,
and each notebook opened and run **once** (a module-scoped fixture parametrized over
``notebooks/*.ipynb``, so pytest runs every test of a notebook before opening the next one).

Every fixture stops what it started in a ``finally``, so a failing test leaves no server,
kernel or browser behind. Slider latencies are written to ``build/browser/latency.json`` and
summarised at the end of the run; one screenshot per demo, taken right after a slider move,
goes to ``screenshots/browser/`` (git-ignored).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.browser import harness
from tests.conftest import NOTEBOOKS, ROOT

SCREENSHOTS = ROOT / "screenshots" / "browser"
LATENCY_JSON = ROOT / "build" / "browser" / "latency.json"
MOVES: list[dict] = []  # every slider move of the session (filled by the slider test)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable; skip (fail under CI=true) when it or Playwright is missing."""
    reason = harness.chromium_missing_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return harness.CHROMIUM


@pytest.fixture(scope="session")
def lab_server(chromium, tmp_path_factory):
    server = harness.LabServer(tmp_path_factory.mktemp("jupyterlab"), NOTEBOOKS)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium, tmp_path_factory):
    b = harness.Browser(tmp_path_factory.mktemp("chromium"))
    try:
        b.start()
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request, lab_server, browser):
    """A notebook opened in JupyterLab with every cell run (the kernel idle)."""
    run = harness.NotebookRun(lab_server, browser, request.param.name)
    try:
        run.open()
        run.run_all()
        yield run
    finally:
        run.close()


@pytest.fixture(scope="session")
def record_move():
    def record(notebook: str, demo: dict, move: harness.MoveResult) -> None:
        MOVES.append({"notebook": notebook, "demo": demo["index"], "cell": demo["cell"],
                      "slider": demo["sliders"][int(move.slider)]["label"], "key": move.key,
                      "latency_ms": move.latency_ms, "pixels_changed": move.pixels_changed,
                      "readout_ok": move.readout_ok})
    return record


def latency_summary(moves: list[dict]) -> dict:
    """Median and p95 of slider-to-pixels latency, over all moves and per notebook."""
    def stats(ms: list[float]) -> dict:
        return {"moves": len(ms), "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}

    ok = [m for m in moves if m["latency_ms"] is not None]
    out = {"all": stats([m["latency_ms"] for m in ok])} if ok else {}
    for name in sorted({m["notebook"] for m in ok}):
        out[name] = stats([m["latency_ms"] for m in ok if m["notebook"] == name])
    return out


def pytest_terminal_summary(terminalreporter):
    if not MOVES:
        return
    summary = latency_summary(MOVES)
    LATENCY_JSON.parent.mkdir(parents=True, exist_ok=True)
    LATENCY_JSON.write_text(json.dumps({"summary": summary, "moves": MOVES}, indent=1, ensure_ascii=False))
    tr = terminalreporter
    tr.section("slider-to-pixels latency (key press -> first frame with new pixels)")
    for name, s in summary.items():
        tr.write_line(f"{name:<40} {s['moves']:>3} moves  median {s['median_ms']:7.1f} ms  "
                      f"p95 {s['p95_ms']:7.1f} ms")
    tr.write_line(f"written to {LATENCY_JSON.relative_to(ROOT)}; screenshots in "
                  f"{SCREENSHOTS.relative_to(ROOT)}/")
