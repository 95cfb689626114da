"""The BPTT-horizon sweep behind the Part 1 notebook's v2.0 demo: too long to run in class.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/part1_bptt_horizons.py [--seeds 0 1 2]

For every seed: MBRL v1.5, with the reference CEM planner and the notebook's settings, gives a
learned pendulum model after 600 real steps (seed 0 is the notebook's own run). Then MBRL v2.0:
a policy trained by backpropagation through time through that model, from the same initial
weights, at every horizon T of ``HORIZONS``, each for the same number of updates. We log, per
update, the model objective J_T(theta) and the gradient norm, and every ``EVAL_EVERY`` updates
the policy's real return (5 Pendulum-v1 episodes of 200 steps, the evaluation seeds of MPC).
Writes course_lib/data/part1_bptt_horizons.json (with this command); the notebook loads it with
``gradients.load_horizon_sweep()``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HORIZONS = (5, 10, 20, 30, 50, 75, 100, 150, 200)
"""The horizons T of the sweep (model steps per imagined rollout)."""
N_UPDATES, EVAL_EVERY, LR, BATCH, HIDDEN = 400, 50, 1e-2, 64, 32


def _model_run(seed: int):
    """The learned model of MBRL v1.5 for ``seed``, as the notebook makes it (seed 0: the notebook's)."""
    import torch

    from course_lib import envs, planning, utils
    from course_tools.references import part1 as ref

    torch.set_num_threads(1)
    cfg = planning.MBRLConfig()
    env, _ = envs.make_pendulum(seed=seed)
    planner = planning.as_planner(ref.cem_plan, cfg.planner, utils.torch_generator(seed + 2))
    result = planning.mbrl_v15(env, cfg, planner, seed=seed, progress=False)
    mpc = planning.evaluate_mpc(planner, planning.frozen_mean_step(result.final_model()))
    return result, mpc


def _train(job: tuple[int, int, dict]) -> tuple[int, int, dict]:
    """One policy trained by BPTT at horizon T on the model of one seed (a worker process)."""
    import torch

    from course_lib import datafiles, gradients, planning, utils

    seed, horizon, state = job
    torch.set_num_threads(1)
    result = datafiles.loads(state["result"])
    step = planning.frozen_mean_step(result.final_model(), differentiable=True)
    gen = utils.torch_generator(seed)
    policy = gradients.MLPPolicy(3, 1, hidden=HIDDEN, generator=gen)
    real: list[np.ndarray] = []

    def evaluate(i: int, pol) -> None:
        if i % EVAL_EVERY == 0:
            real.append(gradients.evaluate_policy(pol, list(planning.EVAL_SEEDS)))

    t0 = time.perf_counter()
    cfg = gradients.BPTTConfig(horizon=horizon, n_updates=N_UPDATES, batch_size=BATCH, lr=LR)
    log = gradients.train_policy_bptt(policy, step, result.transitions.obs, cfg, gen, callback=evaluate)
    print(f"seed {seed}, T = {horizon:3d}: {time.perf_counter() - t0:5.1f} s, real return "
          f"{real[0].mean():7.1f} -> {real[-1].mean():7.1f}", flush=True)
    return seed, horizon, {"objective": np.array(log.objective, dtype=np.float32),
                           "grad_norm": np.array(log.grad_norm, dtype=np.float32),
                           "real": np.stack(real).astype(np.float32)}


def main(argv: list[str]) -> None:
    from course_lib import datafiles, gradients, planning

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    runs = {}
    for seed in args.seeds:
        result, mpc = _model_run(seed)
        runs[seed] = (datafiles.dumps(result), mpc)
        print(f"seed {seed}: model after {len(result.transitions)} real steps, MPC return {mpc.mean():.1f}",
              flush=True)
    jobs = [(seed, T, {"result": runs[seed][0]})
            for T in sorted(HORIZONS, reverse=True) for seed in args.seeds]  # longest first
    with ProcessPoolExecutor(args.jobs) as pool:
        done = {(s, T): out for s, T, out in pool.map(_train, jobs)}
    stack = lambda key: np.stack([np.stack([done[s, T][key] for T in HORIZONS]) for s in args.seeds])  # noqa: E731
    payload = {
        "command": "nice -n 10 env OMP_NUM_THREADS=1 python scripts/part1_bptt_horizons.py "
                   + shlex.join(argv),
        "seeds": list(args.seeds), "horizons": list(HORIZONS),
        "config": (f"BPTTConfig(n_updates={N_UPDATES}, batch_size={BATCH}, lr={LR}), "
                   f"MLPPolicy(hidden={HIDDEN}); models: MBRLConfig() defaults, reference CEM planner"),
        "eval_updates": list(range(0, N_UPDATES + 1, EVAL_EVERY)),
        "eval_seeds": list(planning.EVAL_SEEDS),
        "objective": stack("objective"),   # (seeds, horizons, updates): model return J_T per update
        "grad_norm": stack("grad_norm"),   # (seeds, horizons, updates): ||dJ/dtheta||
        "real_return": stack("real"),      # (seeds, horizons, evals, episodes): real 200-step returns
        "mpc_return": np.stack([runs[s][1] for s in args.seeds]),  # (seeds, episodes): MPC, same model
    }
    path = datafiles.DATA / gradients.HORIZON_SWEEP
    datafiles.save(path, payload)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1:])
