"""Timing helpers and the row type of the benchmark table."""

from __future__ import annotations

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


def run_notebook_seconds(path: Path, timeout: int = 1200) -> float:
    """Execute a notebook top to bottom in a fresh kernel (its folder as cwd); wall seconds."""
    import nbclient
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0
