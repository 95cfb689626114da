"""Sweeps behind the Part 3 notebook's plots: too long to run in class, so run once and committed.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/part3_sweep.py dyna
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/part3_sweep.py mbpo [--seeds 0 1 2]

Each writes a JSON file into course_lib/data/ with the command that produced it; the notebook
loads it through course_lib (``dyna.load_corruption_sweep``, ``mbpo.load_sweep``) and prints
that command beside the plot.
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


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["dyna", "mbpo"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.what == "dyna":
        sweep_dyna(argv)
    else:
        parser.error("the mbpo sweep is not written yet")


if __name__ == "__main__":
    main()
