"""Part 4: the costly steps of the notebook, and the science numbers it reports.

The notebook's total time and every slider move are timed automatically (groups ``notebooks``
and ``demos``); these rows split the notebook's time by step and record the measured errors.
"""

from __future__ import annotations

import numpy as np

from benchmarks.core import Row, timed

GROUP = "part4"


def rows() -> list[Row]:
    import torch

    from course_lib import clearning, clearning_td, dynamics, gridworld, pointmass, successor
    from course_lib.demos import part4
    from course_lib.utils import torch_generator
    from course_tools.references import part4 as ref

    out: list[Row] = []
    chain = successor.maze_chain(gridworld.DYNA_MAZE)
    pi = successor.shortest_path_policy(chain, 0.3)
    gamma = 0.9
    M = successor.sr_matrix(successor.policy_transition(chain.P, pi), gamma)
    mu = successor.sr_state_action(chain.P, M, gamma)
    (mu_td, _), sec = timed(lambda: successor.learn_psi_td(ref.psi_td_update, chain.P, pi, np.eye(chain.n),
                                                            gamma, 3000, np.random.default_rng(0)))
    out.append(Row(GROUP, "SR by psi-TD on the maze, 3000 sweeps (564k transitions)", sec, "s", "",
                   f"max |mu_TD - mu| = {np.abs(mu_td - mu).max():.4f} (test: < 1e-2)"))
    phi = successor.landmark_features(chain)
    base = [successor.optimal_policy(chain.P, phi[:, k], gamma) for k in range(phi.shape[1])]
    rng = np.random.default_rng(0)
    psi, sec = timed(lambda: np.stack([
        successor.learn_psi_td(ref.psi_td_update, chain.P, p, phi, gamma, 1000, rng)[0] for p in base]))
    out.append(Row(GROUP, "psi-TD of the 4 landmark policies, 1000 sweeps each", sec, "s"))
    w_new = np.array([-1.0, 1.0, 0.0, 1.0])
    feats, r = successor.observe_rewards(chain, phi, w_new, 2000, 0.5, rng)
    r_new = phi @ w_new
    value = lambda p: successor.policy_evaluation(successor.policy_transition(chain.P, p), r_new, gamma)  # noqa: E731
    V_gpi = value(successor.policy_table(ref.gpi_action(psi, ref.reward_weights(feats, r, 1.0)), 4))
    V_opt = value(successor.optimal_policy(chain.P, r_new, gamma))
    best_base = max(value(p).mean() for p in base)
    out.append(Row(GROUP, "new task: mean V of GPI (psi-TD + w regression) - optimal",
                   V_gpi.mean() - V_opt.mean(),
                   "", "≈ 0", f"best base policy {best_base - V_opt.mean():.3f}"))
    _, sec = timed(lambda: part4.gpi_demo_data(ref.gpi_action, psi, base))
    out.append(Row(GROUP, f"GPI demo data: gpi_action on {len(part4.GPI_WEIGHTS) ** 4} weight vectors",
                   sec, "s"))

    gen = torch_generator(0)
    env = pointmass.PointMass()
    states, actions = pointmass.random_trajectories(env, env.sample_states(100, gen), 250, gen)
    config = clearning.CLearningConfig()
    (clf, _), sec = timed(lambda: clearning.train_classifier(states, actions, config, gen))
    out.append(Row(GROUP, f"C-learning (Monte Carlo): classifier training, {config.n_steps} steps", sec, "s"))
    td_cfg = clearning_td.TDConfig()
    (td_clf, _), sec = timed(lambda: clearning_td.train_td_classifier(
        ref.td_classifier_loss, states, actions, pointmass.random_policy, config, td_cfg, gen))
    out.append(Row(GROUP, f"C-learning (TD): classifier training, {td_cfg.n_steps} steps", sec, "s"))
    model_cfg = dynamics.EnsembleConfig(n_members=1, n_elites=1, hidden=config.hidden,
                                        n_layers=config.n_layers, max_epochs=30)
    (model, log), sec = timed(lambda: clearning.fit_one_step_model(states, actions, model_cfg, gen))
    out.append(Row(GROUP, "one-step model training (same data and size)", sec, "s", "",
                   f"{log.epochs} epochs"))
    queries = torch.tensor([[-0.5, -0.3], [-0.15, 0.4], [0.5, 0.5]], dtype=torch.float64)
    acts = torch.tensor([[1.0, 0.0]] * 3, dtype=torch.float64)
    err, sec = timed(lambda: clearning.future_prediction_errors(
        env, {"MC": clf, "TD": td_clf}, ref.classifier_density_ratio, clearning.model_step_fn(model), queries,
        acts, config.gammas, 10_000, gen))
    out.append(Row(GROUP, f"future-state errors: {len(config.gammas)} gammas x 3 queries x 10k samples",
                   sec, "s"))
    for i, g in enumerate(config.gammas):
        out.append(Row(GROUP, f"TV to Monte Carlo at gamma = {g} (horizon {1 / (1 - g):.0f}), MC classifier",
                       float(err["MC"][i].mean()), "TV", "",
                       f"TD classifier {err['TD'][i].mean():.3f}, "
                       f"one-step model {err['one-step model'][i].mean():.3f}, "
                       f"MC noise floor {err['MC noise floor'][i].mean():.3f}"))
    goal = torch.tensor([0.4, 0.0], dtype=torch.float64)
    start = torch.tensor([[-0.4, 0.0]], dtype=torch.float64)
    controllers = {"random policy": pointmass.random_policy,
                   "greedy on the MC classifier": clearning_td.greedy_goal_policy(clf, goal, 0.9),
                   "greedy on the TD classifier": clearning_td.greedy_goal_policy(td_clf, goal, 0.9)}
    for name, policy in controllers.items():
        _, first = clearning_td.reach_goal(env, policy, start.expand(200, 2), goal, 100, gen)
        rate = float((first >= 0).double().mean())
        out.append(Row(GROUP, f"goal behind the wall reached, {name}", rate, "", "",
                       "200 episodes of 100 steps"))
    return out
