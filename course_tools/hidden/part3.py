"""Hidden checks of 03_dyna_mve_mbpo: inputs drawn from the grading seed, edge cases the visible
checks skip.

Never shipped to students and never run in their kernel: the grader plans the calls here, the
kernel only receives the argument lists, and the judge replays the answers through these bodies.
Inputs are picklable with the handout alone (``course_lib`` functions, ``course_lib.checks.toys``
and the toy systems of ``course_lib.checks.part3`` and ``course_lib.checks.part3_mbpo``).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from course_lib import envs, mve
from course_lib.checks.part3 import (
    HINT_PAIRS,
    _batch_ids,
    _id_buffer,
    _QuadraticCritic,
    _toy_model,
    _toy_policy,
    check_untouched,
)
from course_lib.checks.part3_mbpo import (
    _real_buffer,
    _rollout_policy,
    _ToyEnsemble,
    check_learn,
    check_rollout,
)
from course_lib.checks.toys import LinearPolicy, LinearSystem
from course_lib.mbpo import MBPOConfig, rollout_length
from course_lib.sac import SACConfig
from course_tools.grading.hidden import HiddenChecker, hidden
from course_tools.references import part3 as ref

# -- 3.1 ---------------------------------------------------------------------------------------


@hidden("3.1", reference=ref.dyna_q_planning_update)
def dyna_planning_unseen_tables(ck: HiddenChecker) -> None:
    """One observed pair (the draws cannot matter) on fresh tables, a self-loop, n = 0 with many pairs."""
    S, A = int(ck.rng.integers(4, 10)), int(ck.rng.integers(2, 6))
    Q0 = ck.rng.normal(size=(S, A)) * 3
    nxt = ck.rng.integers(0, S, size=(S, A))
    rew = ck.rng.normal(size=(S, A))
    s, a = int(ck.rng.integers(S)), int(ck.rng.integers(A))
    loop_next = nxt.copy()
    loop_next[s, a] = s
    n = int(ck.rng.integers(2, 12))
    alpha, gamma = float(ck.rng.uniform(0.05, 1.0)), float(ck.rng.uniform(0.0, 1.0))
    many = np.stack([ck.rng.integers(0, S, size=5), ck.rng.integers(0, A, size=5)], 1)
    cases = {
        f"{S} states x {A} actions, one pair, {n} updates, alpha = {alpha:.3f}, gamma = {gamma:.3f}":
            (Q0, nxt, rew, np.array([[s, a]]), n, alpha, gamma),
        f"a self-loop, {n} updates, alpha = 1 (each update overwrites Q)":
            (Q0, loop_next, rew, np.array([[s, a]]), n, 1.0, gamma),
        "gamma = 0: the target is the reward alone": (Q0, nxt, rew, np.array([[s, a]]), 3, alpha, 0.0),
        "n = 0 with 5 observed pairs: Q unchanged": (Q0, nxt, rew, many, 0, alpha, gamma),
    }
    for case, args in cases.items():
        seed = int(ck.rng.integers(2**31))
        got = ck.call(*args, np.random.default_rng(seed), case=case)
        want = ref.dyna_q_planning_update(args[0].copy(), *args[1:], np.random.default_rng(seed))
        check_untouched(ck, got, args[0], args[3], case=case)
        ck.close(got, want, case=case, atol=1e-9, tensor=False)


@hidden("3.1", reference=ref.dyna_q_planning_update)
def dyna_planning_converges_on_a_random_chain(ck: HiddenChecker) -> None:
    """Many random draws over a fresh chain of observed pairs reach the same fixed point as the reference."""
    L, A = int(ck.rng.integers(3, 6)), int(ck.rng.integers(2, 5))
    S = L + 1  # state L is terminal (never replayed; its values stay as given)
    Q0 = np.zeros((S, A))
    Q0[:L] = ck.rng.uniform(-0.5, 0.5, size=(L, A))  # unvisited actions keep these values
    actions = ck.rng.integers(0, A, size=L)
    nxt = ck.rng.integers(0, S, size=(S, A))
    nxt[np.arange(L), actions] = np.arange(1, L + 1)
    rew = ck.rng.uniform(-1, 1, size=(S, A))
    pairs = np.stack([np.arange(L), actions], 1)[ck.rng.permutation(L)]
    gamma = float(ck.rng.uniform(0.5, 0.95))
    case = f"a chain of {L} observed pairs, 6000 updates, gamma = {gamma:.3f}"
    seed = int(ck.rng.integers(2**31))
    got = ck.call(Q0, nxt, rew, pairs, 6000, 0.3, gamma, np.random.default_rng(seed), case=case)
    want = ref.dyna_q_planning_update(Q0.copy(), nxt, rew, pairs, 6000, 0.3, gamma,
                                      np.random.default_rng(seed + 1))
    check_untouched(ck, got, Q0, pairs, case=case)
    ck.close(got, want, case=case, atol=2e-3, tensor=False, hint=HINT_PAIRS)


# -- 3.3 ---------------------------------------------------------------------------------------

@hidden("3.3", reference=ref.mbpo_mixed_batch)
def mixed_batch_unseen_sizes(ck: HiddenChecker) -> None:
    """Fresh buffer sizes, batch sizes and real ratios; a model buffer smaller than its share."""
    n_real, n_model = int(ck.rng.integers(30, 300)), int(ck.rng.integers(600, 2000))
    real, model = _id_buffer(np.arange(1, n_real + 1)), _id_buffer(-np.arange(1, n_model + 1))
    size, ratio = int(ck.rng.integers(120, 400)), round(float(ck.rng.uniform(0.02, 0.6)), 3)
    small = _id_buffer(-np.arange(1, int(ck.rng.integers(2, 6))))
    odd = int(ck.rng.integers(3, 40))
    cases = {f"batch {size}, real ratio {ratio}": (real, model, size, ratio),
             f"batch {odd}, real ratio 0.5 (an odd batch size)": (real, model, odd, 0.5),
             "a model buffer of a few transitions (sampled with replacement)": (real, small, 50, 0.1),
             f"an empty model buffer, batch {odd}, real ratio 0.3: the whole batch is real":
                 (real, _id_buffer(np.array([])), odd, 0.3)}
    for case, (r, m, b, rho) in cases.items():
        gen_seed = int(ck.rng.integers(2**31))
        batch = ck.call(r, m, b, rho, torch.Generator().manual_seed(gen_seed), case=case)
        ids = _batch_ids(ck, batch, case, b)
        want_batch = ref.mbpo_mixed_batch(r, m, b, rho, torch.Generator().manual_seed(gen_seed))
        want = int((want_batch.rew > 0).sum())
        ck.true((ids > 0).sum() == want, case=case,
                problem=f"{(ids > 0).sum()} real rows, expected {want}.")
        if b - want >= 64 and len(m) > 100:
            ck.true(np.unique(ids[ids < 0]).size > 32 and ids.min() < -len(m) / 2, case=case,
                    problem="the model rows are not a uniform sample of the whole model buffer.")


# -- 3.4 ---------------------------------------------------------------------------------------

@hidden("3.4", reference=ref.mve_target)
def mve_target_unseen_models(ck: HiddenChecker) -> None:
    """Random horizons and discounts, the pendulum with another gravity, a 3-d linear model, B = 1."""
    gen = ck.torch_generator()
    B, H = int(ck.rng.integers(3, 40)), int(ck.rng.integers(2, 13))
    gamma = float(ck.rng.uniform(0.8, 0.999))
    pend = functools.partial(envs.pendulum_step, params=envs.PendulumParams(g=float(ck.rng.uniform(5, 15))))
    theta = torch.rand(B, 1, generator=gen, dtype=torch.float64) * 6 - 3
    s_pend = torch.cat([theta, torch.rand(B, 1, generator=gen, dtype=torch.float64) * 4 - 2], 1)
    linear = LinearSystem(torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.4,
                          torch.randn(3, 2, generator=gen, dtype=torch.float64))
    lin_policy = LinearPolicy(torch.randn(2, 3, generator=gen, dtype=torch.float64) * 0.5)
    r0 = torch.randn(B, generator=gen, dtype=torch.float64)
    critic = _QuadraticCritic(float(ck.rng.uniform(-2, 2)), float(ck.rng.uniform(-3, 3)))
    cases = {
        f"the pendulum, {B} states, H = {H}, gamma = {gamma:.3f}":
            (r0, s_pend, pend, mve.swing_policy, critic, gamma, H),
        f"a 3-d linear model with 2-d actions, H = {H}": (
            r0, torch.randn(B, 3, generator=gen, dtype=torch.float64), linear, lin_policy, critic, gamma, H),
        "one state, H = 1, gamma = 0.5": (r0[:1], s_pend[:1], pend, mve.swing_policy, critic, 0.5, 1),
        f"the toy model, H = {H + 5}, gamma = 1": (r0, torch.randn(B, 2, generator=gen, dtype=torch.float64),
                                                  _toy_model, _toy_policy, critic, 1.0, H + 5),
    }
    for case, args in cases.items():
        got = ck.call(*args, case=case)
        ck.close(got, ref.mve_target(*args), case=case, atol=1e-6, tensor=True)


# -- 3.2 ---------------------------------------------------------------------------------------

@hidden("3.2", reference=ref.mbpo_branched_rollout)
def branched_rollout_unseen_ensembles(ck: HiddenChecker) -> None:
    """Another number of members and dynamics, fresh n_starts and k, a linear policy, one step of one row."""
    gen = ck.torch_generator()
    real = _real_buffer(gen, int(ck.rng.integers(150, 300)))
    E, decay = int(ck.rng.integers(2, 7)), round(float(ck.rng.uniform(0.2, 0.9)), 3)
    n, k = int(ck.rng.integers(33, 90)), int(ck.rng.integers(2, 6))
    policy = LinearPolicy(torch.randn(1, 3, generator=gen) * 0.3)
    cases = {f"{E} members (s' = {decay} s + a + m), {n} rollouts of k = {k} steps":
                 (_ToyEnsemble(E, decay), policy, n, k),
             f"{E} members, a single step of one rollout": (_ToyEnsemble(E, decay), _rollout_policy, 1, 1)}
    for case, (ensemble, pi, n_starts, steps) in cases.items():
        seed = int(ck.rng.integers(2**31))
        check_rollout(ck, real, ensemble, pi, n_starts, steps, torch.Generator().manual_seed(seed), case=case)


# -- 3.5 ---------------------------------------------------------------------------------------

@hidden("3.5", reference=ref.mbpo_learn)
def mbpo_learn_unseen_schedules(ck: HiddenChecker) -> None:
    """Fresh refit and rollout periods, rollout counts, k schedules, update counts and real ratios."""
    every = int(ck.rng.integers(3, 8)) * 10
    config = MBPOConfig(model_every=2 * every, rollout_every=every,
                        rollout_starts=int(ck.rng.integers(5, 30)),
                        k_schedule=(1, int(ck.rng.integers(2, 6)), 2 * every, 6 * every),
                        updates_per_step=int(ck.rng.integers(1, 7)),
                        real_ratio=round(float(ck.rng.uniform(0.1, 0.9)), 2),
                        sac=SACConfig(batch_size=int(ck.rng.integers(16, 64))))
    late = 2 * every * int(ck.rng.integers(3, 6))
    cases = {f"t = {late}: refit and rollouts (k = {rollout_length(late, config.k_schedule)})": (late, False),
             f"t = {3 * every}: rollouts only": (3 * every, False),
             f"t = {3 * every + 1}: updates only, on an old model buffer": (3 * every + 1, True),
             f"t = {2 * every}: refit and rollouts at the start of the schedule": (2 * every, False)}
    for case, (t, prefilled) in cases.items():
        check_learn(ck, t, config, prefilled, case=case)
