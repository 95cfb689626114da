"""Timing helpers and the row type of the benchmark table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """One line of the benchmark table."""

    group: str
    """Which part of the course it belongs to (used by --only)."""
    name: str
    """What was measured."""
    value: float
    """The measurement."""
    unit: str
    """Unit of ``value`` (s, ms, steps, ...)."""
    budget: str = ""
    """The target from the issue, for the reader (never asserted)."""
    detail: str = ""
    """Extra measured numbers (p95, seeds...)."""


def repeat_ms(fn: Callable[[], object], n: int = 30, warmup: int = 3) -> dict[str, float]:
    """Call ``fn`` ``warmup + n`` times; median and p95 of the last ``n`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95))}


class PeakMemory:
    """Samples the resident memory (RSS) of this process's descendants (a kernel and whatever it
    starts) every ``interval`` seconds in a thread; ``peak`` is the largest sum seen, in bytes.
    Shared pages count once per process, so the figure errs on the safe side for sizing a pod."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in me.children(recursive=True):
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_notebook(path: Path, timeout: int = 1200) -> tuple[float, int]:
    """Execute a notebook top to bottom in a fresh kernel (its folder as cwd): (wall seconds,
    peak RSS in bytes of the kernel and its children)."""
    import nbclient
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - t0
    return seconds, memory.peak


def run_notebook_seconds(path: Path, timeout: int = 1200) -> float:
    """Execute a notebook top to bottom in a fresh kernel (its folder as cwd); wall seconds."""
    return run_notebook(path, timeout)[0]


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """(what ``fn()`` returns, wall seconds it took)."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def version_rows(group: str, path: Path, budget: str) -> list[Row]:
    """A notebook top to bottom in a fresh kernel, as the instructor's version and then as the
    student's (stubs unfinished): wall seconds, and how many cells raised (check cells among them)."""
    import nbclient

    from course_tools import authoring

    rows = []
    for version in ("instructor", "student"):
        nb = authoring.read_notebook(path)
        nb = authoring.make_student(nb) if version == "student" else nb
        client = nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3", allow_errors=True,
                                         resources={"metadata": {"path": str(path.parent)}})
        _, seconds = timed(client.execute)
        errors = [c for c in nb.cells
                  if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)]
        checks = sum("exercise:" in " ".join(c.metadata.get("tags", [])) for c in errors)
        rows.append(Row(group, f"{path.stem} top to bottom, {version} version", seconds, "s", budget,
                        f"{len(errors)} cells raised ({checks} of them check cells)"))
    return rows
