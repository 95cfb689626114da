"""The sweep behind Part 2's "how much data?" demo: a learned Pendulum model's own rollout error
against the number of random transitions it is fitted on. Too long for class (a model per data
size and seed), so run once and committed:

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/part2_model_error.py

It writes course_lib/data/part2_model_error.json with the command that produced it; the notebook
loads it through ``compounding.load_model_error_sweep`` and prints that command beside the plot.
Each model is the notebook's (``policy_gradient.ModelDataConfig`` with another ``n_transitions``
and ``seed``), measured by ``compounding.model_errors`` on the notebook's real rollouts
(``compounding.MistakeConfig()``: 48 start states, 60 steps of random torques).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_TRANSITIONS = (100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000)
SEEDS = (0, 1, 2, 3, 4)


def main(argv: list[str] | None = None) -> None:
    from course_lib import compounding, datafiles, policy_gradient

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    args = parser.parse_args(argv)
    config = compounding.MistakeConfig()
    state, one_step, ret = [], [], []
    for n in N_TRANSITIONS:
        t0 = time.perf_counter()
        rows = []
        for seed in args.seeds:
            data = policy_gradient.ModelDataConfig(n_transitions=n, seed=seed)
            model, _, _ = policy_gradient.fit_pendulum_model(data)
            rows.append(compounding.model_errors(model.mean_step, config))
        state.append(np.stack([r.state_error for r in rows]))
        one_step.append([r.one_step for r in rows])
        ret.append(np.stack([r.return_error for r in rows]))
        print(f"N = {n:5d}: one-step error {np.mean(one_step[-1]):.4f}, {time.perf_counter() - t0:.1f} s",
              flush=True)
    command = "nice -n 10 env OMP_NUM_THREADS=1 python scripts/part2_model_error.py"
    if argv:
        command += " " + shlex.join(argv)
    path = datafiles.DATA / "part2_model_error.json"
    datafiles.save(path, {
        "command": command,
        "config": f"{config}; models: ModelDataConfig(n_transitions=N, seed=seed) defaults otherwise",
        "n_transitions": np.array(N_TRANSITIONS), "seeds": np.array(args.seeds),
        "state_error": np.stack(state).astype(np.float32),  # (N, S, T)
        "one_step": np.array(one_step),  # (N, S)
        "return_error": np.stack(ret).astype(np.float32),  # (N, S, T)
    })
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1:])
