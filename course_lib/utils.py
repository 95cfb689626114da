"""Small shared helpers: seeding and argument validation."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np

__all__ = ["seed_everything", "torch_generator", "require", "one_thread"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (or decorated function); restored after.

    The course's networks are tiny: a second thread barely speeds them up on a quiet laptop,
    and on a busy 2-core machine the threads' synchronisation makes them several times slower.
    One thread also makes a seeded run reproducible.
    """
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and torch, and return a fresh ``np.random.Generator``.

    Call it once at the top of a notebook. Functions that sample take an explicit
    generator (``rng`` for NumPy, ``generator`` for torch); the global seeds only make
    library code that does not (matplotlib jitter, torch initialisers) repeatable too.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 - seeds code that uses the global RNG
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch

        torch.manual_seed(int(seed))
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return np.random.default_rng(int(seed))


def torch_generator(seed: int):
    """A ``torch.Generator`` on the CPU seeded with ``seed``."""
    import torch

    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def require(condition: bool, name: str, expected: str, got: object) -> None:
    """Raise ``ValueError`` naming the argument, what was expected and what came in."""
    if not condition:
        raise ValueError(f"{name}: expected {expected}, got {got!r}")


def environment_report() -> dict[str, str]:
    """Versions of the packages the course needs, and torch's CPU thread count.

    Raises ``ImportError`` naming the missing package and the command that installs it.
    ipympl is optional: without it (Colab, say) the live figures are redrawn as images.
    """
    import importlib
    import platform

    report = {"python": platform.python_version()}
    for name in ("torch", "gymnasium", "numpy", "matplotlib", "ipywidgets", "ipympl"):
        try:
            report[name] = importlib.import_module(name).__version__
        except ImportError as err:
            if name == "ipympl":
                report[name] = "not installed (live figures are redrawn as images)"
                continue
            raise ImportError(
                f"the course needs the package {name!r}, which is not installed here; "
                "run `pip install -e .` in the course folder (or `make setup`) and restart the kernel"
            ) from err
    import torch

    report["torch threads"] = str(torch.get_num_threads())
    return report
