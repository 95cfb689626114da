"""Reference answers of 02_gradients_and_compounding_error (to be moved out of course_lib)."""

from course_lib import compounding, estimators
from course_tools.references import reference

reference("2.1")(estimators.likelihood_ratio_grad)
reference("2.2")(estimators.reparam_grad)
reference("2.3")(compounding.compounding_gap)
reference("2.4")(compounding.branched_rollouts)
