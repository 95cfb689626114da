"""Part 3: the course SAC's update speed against Stable-Baselines3's, MBPO vs SAC sample efficiency, and
the notebook's time, top to bottom.

* SAC speed: wall time of 1,000 gradient steps at SB3's default sizes (two hidden layers of
  256, batch 256, twin critics, automatic temperature) on Pendulum-v1's dimensions, for the
  course SAC (``SAC.update``) and SB3's ``SAC.train(gradient_steps=1000)``, both from a replay
  buffer of 10,000 random transitions, measured alternately (best of ``REPEATS``). SB3 is an
  optional benchmark dependency (``pip install -c constraints.txt -e ".[bench]"``); without it
  the SB3 rows are skipped with a note.
* Sample efficiency: real environment steps until the mean evaluation return stays >= -200,
  per learner and seed, read from the committed sweep (``course_lib/data/part3_mbpo_sweep.json``;
  its command is in each row's detail), and the final returns of its ablations.
* The notebook, instructor and student versions, in a fresh kernel each (budget 90 s).
"""

from __future__ import annotations

import time

from benchmarks.core import ROOT, Row, version_rows

GROUP = "part3"
REPEATS = 3
N_UPDATES = 1000
BUFFER = 10_000


def course_sac_seconds(n_updates: int = N_UPDATES) -> float:
    """Seconds for ``n_updates`` course-SAC updates at SB3's default sizes (sampling included)."""
    import torch

    from course_lib import sac
    from course_lib.buffers import ReplayBuffer
    gen = torch.Generator().manual_seed(0)
    buf = ReplayBuffer(BUFFER, 3, 1)
    buf.add(torch.randn(BUFFER, 3, generator=gen), torch.rand(BUFFER, 1, generator=gen) * 4 - 2,
            torch.randn(BUFFER, generator=gen), torch.randn(BUFFER, 3, generator=gen), torch.zeros(BUFFER))
    cfg = sac.SACConfig()  # 256 x 2, batch 256: SB3's defaults
    agent = sac.SAC(3, 1, cfg, gen)
    for _ in range(20):  # warm-up
        agent.update(buf.sample(cfg.batch_size, gen))
    t0 = time.perf_counter()
    for _ in range(n_updates):
        agent.update(buf.sample(cfg.batch_size, gen))
    return time.perf_counter() - t0


def sb3_sac_seconds(n_updates: int = N_UPDATES) -> float:
    """Seconds for SB3's ``SAC.train(gradient_steps=n_updates)`` at its defaults (sampling included)."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import configure

    rng = np.random.default_rng(0)
    model = SAC("MlpPolicy", gym.make("Pendulum-v1"), buffer_size=BUFFER, learning_starts=0, seed=0,
                device="cpu")
    model.set_logger(configure(None, []))
    rb = model.replay_buffer
    rb.observations[:, 0] = rng.normal(size=(BUFFER, 3))
    rb.next_observations[:, 0] = rng.normal(size=(BUFFER, 3))
    rb.actions[:, 0] = rng.uniform(-1, 1, size=(BUFFER, 1))
    rb.rewards[:, 0] = rng.normal(size=BUFFER)
    rb.dones[:] = 0
    rb.full, rb.pos = True, 0
    model.train(gradient_steps=20, batch_size=256)  # warm-up
    t0 = time.perf_counter()
    model.train(gradient_steps=n_updates, batch_size=256)
    return time.perf_counter() - t0


def sac_speed_rows() -> list[Row]:
    import torch

    try:
        import stable_baselines3  # noqa: F401
        have_sb3 = True
    except ImportError:
        have_sb3 = False
    ours, theirs = [], []
    for _ in range(REPEATS):  # alternate, so that load from elsewhere hits both alike
        ours.append(course_sac_seconds())
        if have_sb3:
            theirs.append(sb3_sac_seconds())
    threads = f"torch threads {torch.get_num_threads()}; best of {REPEATS}, alternating"
    rows = [Row(GROUP, "course SAC: 1,000 updates (256x2, batch 256)", 1e3 * min(ours), "ms",
                "≤ 0.8 SB3", f"runs {', '.join(f'{1e3 * t:.0f}' for t in ours)} ms; {threads}")]
    if have_sb3:
        rows.append(Row(GROUP, "SB3 SAC: train(gradient_steps=1000), defaults", 1e3 * min(theirs), "ms", "",
                        f"runs {', '.join(f'{1e3 * t:.0f}' for t in theirs)} ms; stable-baselines3 "
                        f"{stable_baselines3.__version__}"))
        rows.append(Row(GROUP, "course SAC time / SB3 SAC time", min(ours) / min(theirs), "ratio", "≤ 0.8"))
    else:
        rows.append(Row(GROUP, "SB3 SAC: skipped (stable-baselines3 not installed)", float("nan"), "ms", "",
                        'pip install -c constraints.txt -e ".[bench]" to measure it'))
    return rows


def sweep_rows() -> list[Row]:
    """Real steps until the return stays >= -200, per learner and seed, from the committed sweep."""
    from course_lib import mbpo_tools

    try:
        sweep = mbpo_tools.load_sweep()
    except FileNotFoundError:
        return [Row(GROUP, "MBPO/SAC steps to -200: no sweep results", float("nan"), "steps", "",
                    "run scripts/part3_sweep.py mbpo")]
    cmd, rows = sweep["command"], []
    labels = {"sac_g1": "SAC, G = 1", "sac_g10": "SAC, G = 10", "mbpo_g10": "MBPO, G = 10",
              "sac_g20": "SAC, G = 20", "mbpo_g20": "MBPO, G = 20"}
    for name, label in labels.items():
        reach = sweep["steps_to_threshold"].get(name, {})
        for seed, steps in sorted(reach.items()):
            rows.append(Row(GROUP, f"{label}: real steps to stay ≥ -200 (seed {seed})", _num(steps), "steps",
                            "", cmd))
    for name in ("rho0.05", "rho0.05_every_step", "rho0.05_100k", "k1", "k25", "fit_once_k1", "fit_once_k25",
                 "torque0.5", "torque1.0"):
        if name in sweep["runs"]:
            final = [run["returns"][-1] for run in sweep["runs"][name].values()]
            rows.append(Row(GROUP, f"MBPO {name}: mean final eval return", sum(final) / len(final), "return",
                            "", cmd))
    return rows


def _num(x) -> float:
    return float("nan") if x is None else float(x)


NOTEBOOK = ROOT / "notebooks" / "03_dyna_mve_mbpo.ipynb"


def rows() -> list[Row]:
    return sac_speed_rows() + sweep_rows() + version_rows(GROUP, NOTEBOOK, "≤ 90 s")
