"""Shared fixtures: paths, and a cache of student versions of the instructor notebooks."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

# Tests run two at a time (pytest -n 2) on a 2-core machine: one torch thread per process
# avoids oversubscription, which can make small torch ops 10x slower.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Every test starts on one torch thread, whatever an earlier test in this worker set."""
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
