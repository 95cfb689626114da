"""Sweeps behind the Part 3 notebook's plots: too long to run in class, so run once and committed.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/part3_sweep.py dyna
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/part3_sweep.py mbpo [--seeds 0 1 2]

Each writes a JSON file into course_lib/data/ with the command that produced it; the notebook
loads it through course_lib (``dyna.load_corruption_sweep``, ``mbpo.load_sweep``) and prints
that command beside the plot. Instructor-side: the MBPO runs take the exercises' pieces (soft
target, mixed batch, branched rollout) from ``course_tools.references.part3``.
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


def _mbpo_job(job: tuple[str, dict, int]) -> tuple[str, dict]:
    """One training run (a worker process): name, config overrides, seed -> name, curve."""
    import torch

    from course_lib import mbpo

    torch.set_num_threads(1)
    name, overrides, seed = job
    cache = CACHE / f"{name}.json"
    if cache.exists():
        return name, json.loads(cache.read_text())
    cfg = mbpo_config(**overrides)
    log = mbpo.run(cfg, seed, progress=False, **reference_pieces())
    out = {"steps": log.steps, "returns": [round(r, 1) for r in log.returns], "k": log.k,
           "seconds": round(log.seconds), "stopped": log.stopped}
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    print(f"{name}: {log.seconds:.0f} s, final return {log.returns[-1]:.0f}", flush=True)
    return name, out


CACHE = Path("/tmp/part3_sweep_cache")
MBPO_STEPS, SAC_STEPS = 3000, 15000
K_VALUES = [1, 5, 25]
MODEL_ERRORS = [0.0, 0.5, 1.0]
K_ERROR = 0.5  # the k ablation is repeated with this injected model error
TORQUE_ERRORS = [0.0, 0.5, 1.0]
K_SAMPLED = [1, 25]  # the k ablation with rollouts that sample the elites' Gaussians (MBPO's way)


def reference_pieces() -> dict:
    """The exercises' pieces of ``mbpo.run``, from the instructor's references."""
    from course_tools.references import part3 as ref

    return {"soft_target": ref.sac_soft_target, "mixed_batch": ref.mbpo_mixed_batch,
            "branched_rollout": ref.mbpo_branched_rollout}


def mbpo_config(**overrides):
    """The sweep's configuration: the class-sized defaults of ``mbpo.MBPOConfig`` with overrides."""
    import dataclasses

    from course_lib import mbpo

    if "k_schedule" in overrides:
        overrides["k_schedule"] = tuple(overrides["k_schedule"])
    return dataclasses.replace(mbpo.MBPOConfig(), **overrides)


def sweep_mbpo(argv: list[str], seeds: list[int], workers: int) -> None:
    """MBPO vs SAC (same seeds), the rollout length k, and injected model error, on Pendulum-v1."""
    from multiprocessing import Pool

    from course_lib import mbpo

    jobs = []  # the main comparison first, then the ablations
    for seed in seeds:
        jobs.append((f"mbpo_s{seed}", {"total_steps": MBPO_STEPS}, seed))
        jobs.append((f"sac_s{seed}", {"total_steps": SAC_STEPS, "use_model": False, "updates_per_step": 1,
                                      "eval_every": 500}, seed))
    for k in K_VALUES:
        jobs += [(f"k{k}_s{s}", {"total_steps": MBPO_STEPS, "k_schedule": (k, k, 0, 0)}, s) for s in seeds]
    for err in MODEL_ERRORS[1:]:
        jobs += [(f"err{err}_s{s}", {"total_steps": MBPO_STEPS, "model_error": err}, s) for s in seeds]
    for err in TORQUE_ERRORS[1:]:
        jobs += [(f"torque{err}_s{s}", {"total_steps": MBPO_STEPS, "torque_error": err}, s) for s in seeds]
    for k in K_SAMPLED:
        jobs += [(f"k{k}_noise_s{s}", {"total_steps": MBPO_STEPS, "k_schedule": (k, k, 0, 0),
                                       "model_noise": True}, s) for s in seeds]
    for k in K_VALUES:
        jobs += [(f"k{k}_err{K_ERROR}_s{s}", {"total_steps": MBPO_STEPS, "k_schedule": (k, k, 0, 0),
                                               "model_error": K_ERROR}, s) for s in seeds]
    with Pool(workers) as pool:
        runs = dict(pool.imap_unordered(_mbpo_job, jobs))
    main = {m: {str(s): runs[f"{m}_s{s}"] for s in seeds} for m in ("mbpo", "sac")}
    to_threshold = {str(s): [mbpo.steps_to_threshold(runs[f"{m}_s{s}"]["steps"], runs[f"{m}_s{s}"]["returns"])
                             for m in ("mbpo", "sac")] for s in seeds}
    k_abl = {str(k): {str(s): runs[f"k{k}_s{s}"] for s in seeds} for k in K_VALUES}
    k_abl_err = {str(k): {str(s): runs[f"k{k}_err{K_ERROR}_s{s}"] for s in seeds} for k in K_VALUES}
    k_abl_noise = {str(k): {str(s): runs[f"k{k}_noise_s{s}"] for s in seeds} for k in K_SAMPLED}
    errors = {str(e): {str(s): runs[f"err{e}_s{s}"] if e else runs[f"mbpo_s{s}"] for s in seeds}
              for e in MODEL_ERRORS}
    torque = {str(e): {str(s): runs[f"torque{e}_s{s}"] if e else runs[f"mbpo_s{s}"] for s in seeds}
              for e in TORQUE_ERRORS}
    cfg = mbpo_config()
    _write("part3_mbpo_sweep.json", {
        "command": _command(argv), "threshold": -200.0, "seeds": seeds,
        "config": {"mbpo": repr(cfg), "mbpo_steps": MBPO_STEPS, "sac_steps": SAC_STEPS,
                   "sac_baseline": "same config, use_model=False, updates_per_step=1"},
        "main": main, "steps_to_threshold": to_threshold,
        "k_ablation": k_abl,
        "k_ablation_final": {k: round(float(np.mean([r["returns"][-1] for r in v.values()])), 1)
                             for k, v in k_abl.items()},
        "k_ablation_error": K_ERROR, "k_ablation_with_error": k_abl_err, "k_ablation_sampled": k_abl_noise,
        "model_error": errors, "torque_error": torque})


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["dyna", "mbpo"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2, help="parallel training processes")
    args = parser.parse_args(argv)
    if args.what == "dyna":
        sweep_dyna(argv)
    else:
        sweep_mbpo(argv, args.seeds, args.workers)


if __name__ == "__main__":
    main()
