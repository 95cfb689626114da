"""Interactive demos (slider + live plot), one module per notebook.

Each demo is a :class:`course_lib.widgets.LiveDemo`. :func:`static_images` lists them with
the file name of the static image of their default setting: ``assets/make_assets.py``
draws those images and ``python -m benchmarks`` times every demo's slider moves.
"""

from __future__ import annotations

from collections.abc import Callable


def static_images() -> dict[str, Callable[[], object]]:
    """Image file name (in ``assets/``) -> zero-argument factory of the demo it shows."""
    from course_lib.demos import welcome

    return {
        "welcome_discount.png": welcome.DiscountDemo,
    }
