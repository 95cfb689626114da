"""Interactive demos (slider + live plot), one module per notebook.

Each demo is a :class:`course_lib.widgets.LiveDemo`. A demo module lists its demos in a
module-level ``STATIC_IMAGES`` dict (image file name in ``assets/`` -> zero-argument factory);
:func:`static_images` gathers them: ``assets/make_assets.py`` draws those images and
``python -m benchmarks`` times every demo's slider moves.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable


def static_images() -> dict[str, Callable[[], object]]:
    """Image file name (in ``assets/``) -> zero-argument factory of the demo it shows."""
    images: dict[str, Callable[[], object]] = {}
    for mod in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        for name, factory in getattr(module, "STATIC_IMAGES", {}).items():
            if name in images:
                raise RuntimeError(f"two demos save {name!r}")
            images[name] = factory
    return images
