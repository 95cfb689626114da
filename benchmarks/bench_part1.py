"""Part 1 numbers: one CEM planning call, one BPTT update, the MPC swing-up itself, and the notebook
top to bottom in both versions (instructor: solutions in; student: every exercise a stub, so every
demo falls back to its precomputed result).

The planner is the exercises' code: here, the instructor's references.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.core import ROOT, Row, repeat_ms, version_rows

GROUP = "part1"


def _cem_call_rows() -> list[Row]:
    import torch

    from course_lib import dynamics, planning
    from course_tools.references import part1 as ref

    cfg = planning.MBRLConfig()
    model = dynamics.DynamicsEnsemble(3, 1, cfg.model, torch.Generator().manual_seed(0))
    step = planning.frozen_mean_step(model)
    planner = planning.as_planner(ref.cem_plan, cfg.planner, torch.Generator().manual_seed(0))
    obs, plan = torch.zeros(3), torch.zeros(cfg.planner.horizon, 1)
    p = cfg.planner
    shape = f"H={p.horizon}, N={p.n_candidates}, {p.n_iters} iters, {cfg.model.n_members}x{cfg.model.hidden}"
    t = repeat_ms(lambda: planner(step, obs, plan), n=50)
    return [Row(GROUP, f"CEM planning call ({shape})", t["median_ms"], "ms", "≤ 20 ms",
                f"p95 {t['p95_ms']:.1f} ms, {torch.get_num_threads()} torch thread(s)")]


def _bptt_row() -> Row:
    import torch

    from course_lib import dynamics, gradients, planning

    model = dynamics.DynamicsEnsemble(3, 1, planning.MBRLConfig().model, torch.Generator().manual_seed(0))
    step = planning.frozen_mean_step(model, differentiable=True)
    gen = torch.Generator().manual_seed(0)
    policy = gradients.MLPPolicy(3, 1, hidden=32, generator=gen)
    starts = torch.randn(600, 3, generator=gen)
    cfg = gradients.BPTTConfig(horizon=20, n_updates=1, lr=1e-2)
    t = repeat_ms(lambda: gradients.train_policy_bptt(policy, step, starts, cfg, gen), n=20)
    return Row(GROUP, "BPTT policy update (T=20, batch 64)", t["median_ms"], "ms", "",
               f"p95 {t['p95_ms']:.1f} ms")


def _swing_up_row() -> Row:
    from course_lib import envs, planning, utils
    from course_tools.references import part1 as ref

    cfg = planning.MBRLConfig()
    means, seconds = [], []
    for seed in (0, 1, 2):
        t0 = time.perf_counter()
        env, _ = envs.make_pendulum(seed=seed)
        planner = planning.as_planner(ref.cem_plan, cfg.planner, utils.torch_generator(seed + 2))
        result = planning.mbrl_v15(env, cfg, planner, seed=seed, progress=False)
        returns = planning.evaluate_mpc(planner, planning.frozen_mean_step(result.final_model()))
        means.append(float(returns.mean()))
        seconds.append(time.perf_counter() - t0)
    return Row(GROUP, "MPC swing-up after 600 real steps: median over 3 seeds of the mean eval return",
               float(np.median(means)), "ret", "≥ -200",
               "seeds 0,1,2: " + ", ".join(f"{m:.1f}" for m in means)
               + f"; {np.mean(seconds):.0f} s per seed (train + 5 eval episodes)")


NOTEBOOK = ROOT / "notebooks" / "01_mpc_and_backprop.ipynb"


def rows() -> list[Row]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the notebook does (tiny tensors: one thread is faster)
    try:
        out = [*_cem_call_rows(), _bptt_row(), _swing_up_row()]
    finally:
        torch.set_num_threads(threads)
    return out + version_rows(GROUP, NOTEBOOK, "≤ 60 s")
