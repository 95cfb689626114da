"""The benchmark groups.

``notebooks`` and ``demos`` cover every notebook and every slider demo automatically. A part
adds its own numbers in ``benchmarks/bench_<part>.py``, a module with ``GROUP = "<name>"`` and
``def rows() -> list[Row]``; it is picked up here.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.core import ROOT, Row, run_notebook


def notebooks() -> list[Row]:
    """Every instructor notebook, top to bottom, in a fresh kernel: its time, and the peak memory
    of the kernel and its children (what a JupyterHub pod must hold; README "pod sizes")."""
    rows, memory = [], []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        seconds, peak = run_notebook(path)
        budget = "" if path.name.startswith("00") else ("≤ 90 s" if path.name.startswith("03") else "≤ 60 s")
        rows.append(Row("notebooks", f"{path.stem}: top to bottom", seconds, "s", budget))
        memory.append(Row("notebooks", f"{path.stem}: peak memory (kernel + children)", peak / 2**20, "MB",
                          "", "RSS sampled every 50 ms"))
    return rows + memory


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


def _discover() -> dict[str, Callable[[], list[Row]]]:
    import importlib
    import pkgutil

    import benchmarks

    found: dict[str, Callable[[], list[Row]]] = {"demos": demos}
    for mod in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if mod.name.startswith("bench_"):
            module = importlib.import_module(f"benchmarks.{mod.name}")
            found[module.GROUP] = module.rows
    found["notebooks"] = notebooks
    return found


GROUPS: dict[str, Callable[[], list[Row]]] = _discover()
