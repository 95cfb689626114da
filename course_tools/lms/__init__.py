"""Bridges to learning-management systems and the class's paperwork, one job a module.

* :mod:`.gradescope` builds a Gradescope autograder zip for one part; :mod:`.gradescope_run` is
  what runs inside Gradescope's container for each submission (``results.json``);
* :mod:`.canvas`: a Canvas "download submissions" zip into student ids, and the gradebook in
  Canvas's import format;
* :mod:`.roster`: the class list (LMS file names and ids to student ids, names, sections);
* :mod:`.policy`: late work and instructor overrides, kept beside the grades so regrades keep them;
* :mod:`.book`: the class gradebook (``gradebook.csv``) from grades, roster, late policy, overrides;
* :mod:`.csvio`: CSV files that spreadsheets and LMSs read correctly;
* :mod:`.report`: what went right and wrong across the class, for the instructor;
* :mod:`.cli`: the ``python -m course_tools gradescope|canvas|roster|gradebook|report`` commands.
"""
