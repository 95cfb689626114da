"""The autograder, one job a module.

* :mod:`.submissions`: the class's files, read as untrusted names and bytes;
* :mod:`.assemble`: the notebook the grader runs (the student's cells + recording cells);
* :mod:`.runner` and :mod:`.sandbox`: one run under nbval, isolated and limited: :mod:`.jail`
  (the standalone sandbox wrapper), :mod:`.cgroups` and :mod:`.cpuwatch` (whole-tree limits),
  :mod:`.procfs` (reading ``/proc``);
* :mod:`.record` (in the student's kernel) and :mod:`.codec` (reading it back, as hostile data);
  :mod:`.cases` (both sides): which cases failed, and lenient checks for exercises graded per case;
* :mod:`.hidden` and :mod:`.judge`: hidden checks, and replaying the checks in a clean process;
* :mod:`.scoring`: points from verdicts, all or nothing or per case (``partial``);
* :mod:`.integrity`: flags for the instructor (edited checks, instructor imports, identical answers);
* :mod:`.results`: grades, feedback, the gradebook and the output folder;
* :mod:`.one`: one submission, from its bytes to its row, in the student's terms;
* :mod:`.grader`: the whole class, one row per file, whatever happens.

``python -m course_tools grade ...`` is the command line (see the README).
"""

from course_tools.grading.grader import GradingRefused, default_hidden_dir, grade, grade_one, regrade, summary
from course_tools.grading.judge import JudgePool
from course_tools.grading.results import ExerciseResult, SubmissionResult, student_seed
from course_tools.grading.submissions import safe_id

__all__ = ["grade", "grade_one", "regrade", "summary", "GradingRefused", "default_hidden_dir",
           "JudgePool", "ExerciseResult", "SubmissionResult", "student_seed", "safe_id"]
