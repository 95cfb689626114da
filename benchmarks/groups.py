"""The benchmark groups. Each part adds a function returning its rows and lists it in GROUPS."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.core import ROOT, Row, run_notebook_seconds


def notebooks() -> list[Row]:
    """Every instructor notebook, top to bottom, in a fresh kernel."""
    rows = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        seconds = run_notebook_seconds(path)
        budget = "" if path.name.startswith("00") else ("≤ 90 s" if path.name.startswith("03") else "≤ 60 s")
        rows.append(Row("notebooks", f"{path.stem}: top to bottom", seconds, "s", budget))
    return rows


def demos() -> list[Row]:
    """Every slider demo: kernel-side cost of one move (update artists + render), called directly."""
    import matplotlib

    matplotlib.use("Agg")
    import course_lib
    from course_lib.demos import static_images
    from course_lib.widgets import time_updates

    rows = []
    for image, factory in static_images().items():
        course_lib.seed_everything(0)
        demo = factory()
        t = time_updates(demo, n=40)
        rows.append(Row("demos", f"{type(demo).__name__} slider move ({image})", t["median_ms"],
                        "ms", "p95 ≤ 15 ms", f"p95 {t['p95_ms']:.2f} ms"))
    return rows


GROUPS: dict[str, Callable[[], list[Row]]] = {
    "demos": demos,
    "notebooks": notebooks,
}
