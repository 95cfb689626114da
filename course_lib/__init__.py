"""course_lib: the helper package behind the model-based policy learning notebooks.

Modules are named after the lecture's ideas (``planning``, ``dynamics``, ``gradients``,
``compounding``, ``dyna``, ``mbpo``, ``successor``, ...). Import them with a namespace::

    import course_lib as cl
    rng = cl.seed_everything(0)
    from course_lib import checks
"""

from course_lib.utils import seed_everything


def _fit_figures_to_the_column() -> None:
    # in a notebook, every figure is kept within the notebook's column (course_lib.widgets);
    # cheap when there is no IPython: nothing is imported
    try:
        from IPython import get_ipython
    except ImportError:
        return
    if get_ipython() is not None:
        from course_lib.widgets import install_column_fit

        install_column_fit()


_fit_figures_to_the_column()


def live_figures(mode: str | None = None) -> str:
    """Interactive figures with ipympl, or images redrawn in place where it is missing (Colab).

    Each notebook's setup cell calls it; see :func:`course_lib.widgets.live_figures`."""
    from course_lib.widgets import live_figures as choose

    return choose(mode)

__version__ = "0.1.0"
__all__ = ["seed_everything", "live_figures", "__version__"]
