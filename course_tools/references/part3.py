"""Reference answers of 03_dyna_mve_mbpo (to be moved out of course_lib)."""

from course_lib import dyna, mbpo, mve, sac
from course_tools.references import reference

reference("3.1")(dyna.planning_updates)
reference("3.2")(mbpo.mixed_batch)
reference("3.3")(mve.mve_target)
reference("3.4")(sac.soft_target)
# 3.5: the part 3 revision adds it
