"""``python -m course_lib student|grade|validate|data``: the instructor's command, under its old name.

The instructor tools live in ``course_tools``, which students do not get; this alias exists only
in the instructor's copy of the course (the handout leaves it out).
"""

import sys

if __name__ == "__main__":
    try:
        from course_tools.__main__ import main
    except ImportError:
        sys.exit("course_lib has no command line in the student handout; the instructor's tools "
                 "are `python -m course_tools` in the course repository")
    sys.exit(main(prog="python -m course_lib"))
