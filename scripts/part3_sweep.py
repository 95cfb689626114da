"""Sweeps behind the Part 3 notebook's plots: too long to run in class, so run once and committed.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/part3_sweep.py dyna
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/part3_sweep.py mbpo [--seeds 0 1 2]

Each writes a JSON file into course_lib/data/ with the command that produced it; the notebook
loads it through course_lib (``dyna.load_corruption_sweep``, ``mbpo.load_sweep``) and prints
that command beside the plot. Instructor-side: the MBPO runs take the exercises' pieces (the
learning step, which calls the branched rollout and the mixed batch, and the value target) from
``course_tools.references.part3``. Finished runs are cached in /tmp/part3_sweep_cache, so an
interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "course_lib" / "data"


def _command(argv: list[str]) -> str:
    return "nice -n 10 env OMP_NUM_THREADS=1 python scripts/part3_sweep.py " + shlex.join(argv)


def _write(name: str, payload: dict) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / name
    path.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e3:.0f} kB)")


def sweep_dyna(argv: list[str], n_runs: int = 30, n_steps: int = 3000, every: int = 50) -> None:
    """Dyna-Q on the Dyna maze: cumulative reward over real steps for n x corruption."""
    from course_lib import dyna
    from course_lib import gridworld as gw

    n_values = list(range(0, 51, 5))
    corruption = [round(c, 2) for c in np.arange(0, 1.0001, 0.05)]
    curves = []
    for n in n_values:
        t0 = time.perf_counter()
        configs = [dyna.DynaConfig(n_planning=n, corruption=c) for c in corruption]
        results = dyna.run_dyna(gw.DYNA_MAZE, configs, n_runs, np.random.default_rng(1000 + n),
                                n_steps=n_steps)
        curves.append([np.round(r.cumulative_reward.mean(0)[every - 1::every], 2).tolist() for r in results])
        print(f"n = {n:2d}: {time.perf_counter() - t0:.1f} s", flush=True)
    _write("part3_dyna_corruption.json", {
        "command": _command(argv), "maze": "DYNA_MAZE", "config": "DynaConfig() defaults (book Example 8.1)",
        "n_runs": n_runs, "n_planning": n_values, "corruption": corruption,
        "steps": list(range(every, n_steps + 1, every)), "cumulative_reward": curves})


def _mbpo_job(job: tuple[str, dict, dict, int]) -> tuple[str, dict]:
    """One training run (a worker process): name, config overrides, faults, seed -> name, its log."""
    import torch

    from course_lib import mbpo

    torch.set_num_threads(1)
    name, overrides, faults, seed = job
    cache = CACHE / f"{name}_s{seed}.json"
    if cache.exists():
        return f"{name}_s{seed}", json.loads(cache.read_text())
    cfg = mbpo_config(**overrides)
    log = mbpo.run(cfg, seed, progress=False, faults=mbpo.ModelFaults(**faults), **reference_pieces())
    r3 = lambda xs: [round(x, 3) for x in xs]  # noqa: E731
    out = {"steps": log.steps, "returns": [round(r, 1) for r in log.returns], "k": log.k,
           "model_mse": r3(log.model_mse), "trajectory_error": [r3(e) for e in log.trajectory_error],
           "step_error": [r3(e) for e in log.step_error], "seconds": round(log.seconds),
           "stopped": log.stopped}
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    print(f"{name}_s{seed}: {log.seconds:.0f} s, final return {log.returns[-1]:.0f}", flush=True)
    return f"{name}_s{seed}", out


CACHE = Path("/tmp/part3_sweep_cache")
NO_MODEL = {"use_model": False}
GROUPS = {  # name -> (config overrides, model faults); every run on every seed
    # the fair comparison: SAC at 1 update per real step, SAC at MBPO's 10, MBPO
    "sac_g1": ({**NO_MODEL, "updates_per_step": 1, "total_steps": 6000}, {}),
    "sac_g10": ({**NO_MODEL, "total_steps": 3000}, {}),
    "mbpo_g10": ({"total_steps": 3000}, {}),
    # a higher update ratio, both ways
    "sac_g20": ({**NO_MODEL, "updates_per_step": 20}, {}),
    "mbpo_g20": ({"updates_per_step": 20}, {}),
    # the real ratio (0.3 is mbpo_g10, 1.0 is sac_g10): 0.05 with rollouts every 250 steps or every step
    "rho0.05": ({"real_ratio": 0.05}, {}),
    "rho0.05_every_step": ({"real_ratio": 0.05, "rollout_every": 1, "rollout_starts": 40}, {}),
    "rho0.05_100k": ({"real_ratio": 0.05, "rollout_starts": 100_000}, {}),  # the paper's count per refit
    # the rollout length (the default 1 -> 4 schedule is mbpo_g10), with the learned model ...
    "k1": ({"k_schedule": (1, 1, 0, 0)}, {}),
    "k25": ({"k_schedule": (25, 25, 0, 0)}, {}),
    # ... and with a model of little data (fitted once, on the 250 random steps)
    "fit_once_k1": ({"k_schedule": (1, 1, 0, 0)}, {"fit_once": True}),
    "fit_once_k25": ({"k_schedule": (25, 25, 0, 0)}, {"fit_once": True}),
    # model bias: a model wrong about what the motor does
    "torque0.5": ({}, {"torque_error": 0.5}),
    "torque1.0": ({}, {"torque_error": 1.0}),
}
"""Runs last 2,000 real steps unless the overrides say otherwise."""


def reference_pieces() -> dict:
    """The exercises' pieces of ``mbpo.run``, from the instructor's references."""
    from course_lib import mbpo
    from course_tools.references import part3 as ref

    return {"learn": ref.mbpo_learn, "value_target": mbpo.mve_value_target(ref.mve_target)}


def mbpo_config(**overrides):
    """The sweep's configuration: the class-sized defaults of ``mbpo.MBPOConfig`` (2,000 real steps)
    with overrides."""
    import dataclasses

    from course_lib import mbpo

    overrides = {"total_steps": 2000, **overrides}
    if "k_schedule" in overrides:
        overrides["k_schedule"] = tuple(overrides["k_schedule"])
    return dataclasses.replace(mbpo.MBPOConfig(), **overrides)


def sweep_mbpo(argv: list[str], seeds: list[int], workers: int, groups: list[str]) -> None:
    """MBPO against SAC at equal update ratios, the real ratio, the rollout length, model bias."""
    from multiprocessing import Pool

    from course_lib import mbpo_tools

    jobs = [(name, *GROUPS[name], seed) for name in groups for seed in seeds]  # in priority order
    with Pool(workers) as pool:
        runs = dict(pool.imap_unordered(_mbpo_job, jobs))
    results = {name: {str(s): runs[f"{name}_s{s}"] for s in seeds} for name in groups}
    reach = {name: {s: mbpo_tools.steps_to_threshold(r["steps"], r["returns"]) for s, r in by_seed.items()}
             for name, by_seed in results.items()}
    _write("part3_mbpo_sweep.json", {
        "command": _command(argv), "threshold": -200.0, "seeds": seeds,
        "defaults": repr(mbpo_config()),
        "groups": {name: {"overrides": GROUPS[name][0], "faults": GROUPS[name][1]} for name in groups},
        "runs": results, "steps_to_threshold": reach})


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["dyna", "mbpo"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2, help="parallel training processes")
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS),
                        help="which runs (default: all)")
    args = parser.parse_args(argv)
    if args.what == "dyna":
        sweep_dyna(argv)
    else:
        sweep_mbpo(argv, args.seeds, args.workers, args.groups)


if __name__ == "__main__":
    main()
