"""Part 2: the costly steps of the notebook, and the science numbers it reports.

The notebook's total time and every slider move are timed automatically (groups ``notebooks``
and ``demos``); these rows split the notebook's time by step and record the measured rates and
slopes. The exercises' pieces are the instructor's references (``course_tools.references.part2``).
"""

from __future__ import annotations

import numpy as np

from benchmarks.core import Row, timed

GROUP = "part2"


def rows() -> list[Row]:
    from course_lib import branching, compounding, estimators, policy_gradient
    from course_lib.utils import torch_generator
    from course_tools.references import part2 as ref

    out: list[Row] = []
    estimators_ = (ref.likelihood_ratio_grad, ref.reparam_grad)
    config = estimators.LogisticConfig()
    (lr, path), sec = timed(lambda: estimators.logistic_gradients(*estimators_, config, torch_generator(0)))
    lam, sec_lam = timed(lambda: estimators.lyapunov_exponent(3.9, torch_generator(1)))
    T = np.arange(path.shape[0])
    slope = estimators.log_variance_slope(T[5:], path.var(1).numpy()[5:])
    out.append(Row(GROUP, "logistic map: both estimators, T = 0..30, 2000 samples", sec, "s", "",
                   f"Lyapunov exponent {sec_lam:.2f} s"))
    out.append(Row(GROUP, "pathwise log-variance slope / 2λ (noise at x₀)", slope / (2 * lam), "ratio",
                   "1 ± 0.2", f"slope {slope:.3f}, λ {lam:.4f}"))
    (lr, path), sec = timed(lambda: estimators.per_step_gradients(*estimators_, config, torch_generator(0)))
    out.append(Row(GROUP, "logistic map, noise at every step: both estimators (465 calls each)", sec, "s"))
    out.append(Row(GROUP, "noise at every step: likelihood-ratio Var ~ T^p, p", compounding.loglog_slope(
        T[2:], lr.var(1).numpy()[2:]), "power", "1 ± 0.2"))
    out.append(Row(GROUP, "noise at every step: pathwise log-variance slope / 2λ",
                   estimators.log_variance_slope(T[5:], path.var(1).numpy()[5:]) / (2 * lam), "ratio",
                   "1 ± 0.25"))

    (small, _, _), sec = timed(lambda: policy_gradient.fit_pendulum_model(
        policy_gradient.ModelDataConfig(n_transitions=300)))
    out.append(Row(GROUP, "fit model to 300 random transitions", sec, "s"))
    spread, sec = timed(lambda: estimators.pendulum_gradient_spread(
        small.mean_step, ref.reinforce_loss, estimators.SpreadConfig(), torch_generator(0)))
    H, keep = spread.horizons, spread.horizons >= 5
    p_lr = compounding.loglog_slope(H[keep], spread.var_reinforce[keep])
    p_pw = compounding.loglog_slope(H[keep], spread.var_pathwise[keep])
    out.append(Row(GROUP, "Pendulum model: REINFORCE vs pathwise spread, 1000 rollouts, T ≤ 100", sec, "s",
                   "", f"Var[REINFORCE] ~ T^{p_lr:.2f}, Var[pathwise] ~ T^{p_pw:.2f} (T = 5..100)"))
    runs, sec = timed(lambda: policy_gradient.v25_over_seeds(ref.reinforce_loss))
    gap = runs.model_return[:, -1] - runs.real_return[:, -1]
    out.append(Row(GROUP, "v2.5 over 8 data seeds: fit + 60 updates x 64 rollouts x 100 steps each", sec, "s",
                   "", "promised − real: " + ", ".join(f"{g:.0f}" for g in gap)))

    (model, _, _), sec = timed(lambda: policy_gradient.fit_pendulum_model(
        policy_gradient.ModelDataConfig()))
    out.append(Row(GROUP, "fit model to 3000 random transitions", sec, "s"))
    rollouts, sec = timed(lambda: compounding.mistake_rollouts(model.mean_step))
    out.append(Row(GROUP, "mistake rollouts: 61 x 48 model rollouts of 60 steps", sec, "s"))
    own, sec = timed(lambda: compounding.model_errors(model.mean_step))
    C, t = own.state_error.cumsum(), np.arange(1, 61)
    out.append(Row(GROUP, "learned model alone: summed state error slope, T = 2..20",
                   compounding.loglog_slope(t[1:20], C[1:20]), "slope", "T(T+1)/2: 1.86",
                   f"{sec:.2f} s; ε₁ {own.one_step:.4f}; slope T = 20..40: "
                   f"{compounding.loglog_slope(t[19:40], C[19:40]):.2f}"))
    table, sec = timed(lambda: branching.branch_table(ref.branched_rollouts, model.mean_step, rollouts, 15,
                                                         512, torch_generator(1)))
    out.append(Row(GROUP, "branch table: 16 x 512 branches of 15 steps", sec, "s"))

    cum, t_valid = rollouts.cum_off, compounding.model_horizon(rollouts)
    Ts = np.arange(4, t_valid + 1)
    es = np.geomspace(1e-4, 0.1 / t_valid, 10)
    out.append(Row(GROUP, f"injected mistakes: gap slope in T (ε = 1e-3, T = 4..{t_valid})",
                   compounding.loglog_slope(Ts, compounding.expected_gap(cum, Ts, 1e-3)), "slope",
                   "2 ± 0.2"))
    out.append(Row(GROUP, f"injected mistakes: gap slope in ε (T = {t_valid}, εT ≤ 0.1)",
                   compounding.loglog_slope(es, compounding.expected_gap(cum, t_valid, es)), "slope",
                   "1 ± 0.1"))
    Tb = np.arange(5, 61)
    out.append(Row(GROUP, "branched (k = 5, ε = 0.01): gap slope in T", compounding.loglog_slope(
        Tb, branching.branched_gap(table, Tb, 5, 0.01)), "slope", "1"))
    return out
