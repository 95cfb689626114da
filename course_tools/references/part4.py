"""Reference answers of 04_successor_representations (to be moved out of course_lib)."""

from course_lib import clearning, successor
from course_tools.references import reference

reference("4.1")(successor.sr_exact)
reference("4.2")(successor.sr_td_update)
reference("4.3")(successor.value_from_sr)
reference("4.4")(successor.gpi_action)
reference("4.5")(clearning.density_ratio)
