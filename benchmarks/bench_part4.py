"""Part 4: the costly steps of the notebook, and the science numbers it reports.

The notebook's total time and every slider move are timed automatically (groups ``notebooks``
and ``demos``); these rows split the notebook's time by step and record the measured errors.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.core import Row

GROUP = "part4"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def rows() -> list[Row]:
    import torch

    from course_lib import clearning, dynamics, gridworld, pointmass, successor
    from course_lib.demos import part4
    from course_lib.utils import torch_generator
    from course_tools.references import part4 as ref

    out: list[Row] = []
    chain = successor.maze_chain(gridworld.DYNA_MAZE)
    P_pi = successor.policy_transition(chain.P, successor.shortest_path_policy(chain, 0.3))
    gamma = 0.9
    M = ref.sr_exact(P_pi, gamma)
    (M_td, _), sec = _timed(lambda: successor.learn_sr_td(ref.sr_td_update, P_pi, gamma, 5000,
                                                          np.random.default_rng(0)))
    out.append(Row(GROUP, "SR: TD learning on the maze, 5000 sweeps (235k transitions)", sec, "s", "",
                   f"max |M_TD - M| = {np.abs(M_td - M).max():.4f} (test: < 1e-2)"))
    V_err = np.abs(ref.value_from_sr(M, chain.reward, gamma)
                   - successor.policy_evaluation(P_pi, chain.reward, gamma)).max()
    out.append(Row(GROUP, "SR: max |V from SR - policy evaluation|", V_err, "", "< 1e-6"))
    _, sec = _timed(lambda: part4.sr_demo_data(ref.sr_exact, ref.value_from_sr))
    out.append(Row(GROUP, f"SR demo data: sr_exact and value_from_sr at {len(part4.SR_GAMMAS)} gammas",
                   sec, "s"))
    phi = successor.landmark_features(chain)
    base = [successor.optimal_policy(chain.P, phi[:, k], gamma) for k in range(phi.shape[1])]
    psi = np.stack([successor.successor_features(ref.sr_exact, chain.P, p, phi, gamma) for p in base])
    _, sec = _timed(lambda: part4.gpi_demo_data(ref.gpi_action, psi, base))
    out.append(Row(GROUP, f"GPI demo data: gpi_action on {len(part4.GPI_WEIGHTS) ** 4} weight vectors",
                   sec, "s"))

    gen = torch_generator(0)
    env = pointmass.PointMass()
    states, actions = pointmass.random_trajectories(env, env.sample_states(100, gen), 250, gen)
    config = clearning.CLearningConfig()
    (clf, _), sec = _timed(lambda: clearning.train_classifier(states, actions, config, gen))
    out.append(Row(GROUP, f"C-learning: classifier training, {config.n_steps} steps", sec, "s", "≈ a few s"))
    model_cfg = dynamics.EnsembleConfig(n_members=1, n_elites=1, hidden=config.hidden,
                                        n_layers=config.n_layers, max_epochs=30)
    (model, log), sec = _timed(lambda: clearning.fit_one_step_model(states, actions, model_cfg, gen))
    out.append(Row(GROUP, "one-step model training (same data and size)", sec, "s", "",
                   f"{log.epochs} epochs"))
    queries = torch.tensor([[-0.5, -0.3], [-0.15, 0.4], [0.5, 0.5]], dtype=torch.float64)
    acts = torch.tensor([[1.0, 0.0]] * 3, dtype=torch.float64)
    err, sec = _timed(lambda: clearning.future_prediction_errors(
        env, clf, ref.classifier_density_ratio, clearning.model_step_fn(model), queries, acts, config.gammas,
        10_000, gen))
    out.append(Row(GROUP, f"future-state errors: {len(config.gammas)} gammas x 3 queries x 10k samples",
                   sec, "s"))
    for i, g in enumerate(config.gammas):
        out.append(Row(GROUP, f"TV to Monte Carlo at gamma = {g} (horizon {1 / (1 - g):.0f})",
                       float(err["classifier"][i].mean()), "TV", "",
                       f"one-step model {err['one-step model'][i].mean():.3f}, "
                       f"MC noise floor {err['MC noise floor'][i].mean():.3f}"))
    return out
