"""The instructor's side of the course: never shipped to students, never imported by ``course_lib``.

* ``references``: the exercises' reference implementations;
* ``hidden``: hidden checks, one module per notebook;
* ``authoring``: the exercise convention and the student version of a notebook;
* ``handout``: the complete student handout (notebooks, package, data, images, install files);
* ``data``: builds ``course_lib/data`` (visible-check answers, precomputed demo results);
* ``grading``: the autograder (one job a module; see its docstring);
* ``lms``: Gradescope's autograder zip, Canvas, rosters, late work and overrides, the class
  gradebook and the instructor's report;
* ``website`` (and ``site_pages``, ``site_search``, ``site_launch``, ``site_execute``): the static
  site;
* ``sources``: the notebooks' reviewable jupytext scripts.

Command line: ``python -m course_tools lab|student|validate|data|grade|gradebook|report|gradescope|canvas``
(``python -m course_lib`` is kept as an alias for instructors' scripts).
"""

__version__ = "0.2.0"
