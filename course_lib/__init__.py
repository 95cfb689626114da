"""course_lib: the helper package behind the model-based policy learning notebooks.

Modules are named after the lecture's ideas (``planning``, ``dynamics``, ``gradients``,
``compounding``, ``dyna``, ``mbpo``, ``successor``, ...). Import them with a namespace::

    import course_lib as cl
    rng = cl.seed_everything(0)
    from course_lib import checks
"""

from course_lib.utils import seed_everything

__version__ = "0.1.0"
__all__ = ["seed_everything", "__version__"]
