"""Reference answers of 01_mpc_and_backprop (to be moved out of course_lib)."""

from course_lib import gradients, planning
from course_tools.references import reference

reference("1.1")(planning.rollout_returns)
reference("1.2")(planning.cem_refit)
reference("1.3")(gradients.action_sequence_gradient)
reference("1.4")(gradients.jacobian_product)
