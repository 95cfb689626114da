"""``python -m course_lib lab|student|grade|validate|data``: the instructor's command, under its old name.

The instructor tools live in ``course_tools``, which students do not get; this alias exists only
in the instructor's copy of the course. The handout gets a student-only ``__main__.py`` instead
(``course_tools.handout.STUDENT_MAIN``), whose ``python -m course_lib lab`` opens the handout.
Here ``lab`` writes (or refreshes) the handout in ``student/`` and opens it, like ``make lab``.
"""

import sys

if __name__ == "__main__":
    try:
        from course_tools.__main__ import main
    except ImportError:
        sys.exit("course_lib has no command line in the student handout; the instructor's tools "
                 "are `python -m course_tools` in the course repository")
    sys.exit(main(prog="python -m course_lib"))
