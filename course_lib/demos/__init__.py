"""Interactive demos (slider + live plot), one module per notebook.

Each demo is a :class:`course_lib.widgets.LiveDemo`; ``assets/make_assets.py`` saves the
static image of its default setting, and ``python -m benchmarks`` times its updates.
"""
