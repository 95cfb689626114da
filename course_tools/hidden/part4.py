"""Hidden checks of 04_successor_representations: inputs from the grading seed, and new edge cases.

Never shipped to students and never run in their kernel: the grader plans the calls here, the
kernel only receives the argument lists (NumPy arrays, torch tensors and numbers), and the
judge replays the answers through these bodies.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib import gridworld, successor
from course_tools.grading.hidden import HiddenChecker, hidden
from course_tools.references import part4 as ref


def _chain(rng: np.random.Generator, n: int, sparsity: float = 3.0) -> np.ndarray:
    """A random row-stochastic (n, n) matrix; a larger ``sparsity`` concentrates each row."""
    P = rng.random((n, n)) ** sparsity
    return P / P.sum(axis=1, keepdims=True)


@hidden("4.1", reference=ref.sr_exact)
def sr_exact_unseen_chains(ck: HiddenChecker) -> None:
    """Random chains of random sizes, an absorbing state, a far horizon, and the maze with another policy."""
    rng = ck.rng
    n, gamma = int(rng.integers(2, 13)), float(rng.uniform(0.2, 0.97))
    absorbing = _chain(rng, 5)
    absorbing[4] = np.eye(5)[4]  # state 4 never leaves: its SR row is e_4
    chain = successor.maze_chain(gridworld.DYNA_MAZE)
    eps = float(rng.uniform(0.0, 1.0))
    cases = {
        f"a random {n}-state chain, gamma = {gamma:.3f}": (_chain(rng, n), gamma),
        "a 5-state chain whose last state is absorbing, gamma = 0.95": (absorbing, 0.95),
        "a 4-state chain, gamma = 0.999 (a horizon of 1000 steps)": (_chain(rng, 4, 1.0), 0.999),
        f"the maze with the shortest-path policy at epsilon = {eps:.2f}, gamma = 0.8":
            (successor.policy_transition(chain.P, successor.shortest_path_policy(chain, eps)), 0.8),
    }
    for case, (P_pi, g) in cases.items():
        got = ck.call(P_pi, g, case=case)
        ck.close(got, ref.sr_exact(P_pi, g), case=case, atol=1e-7, tensor=False)


@hidden("4.2", reference=ref.sr_td_update)
def sr_td_update_unseen_batches(ck: HiddenChecker) -> None:
    """Batches in a shuffled order whose targets read rows updated in the same batch, and other M's."""
    rng = ck.rng
    n = int(rng.integers(4, 10))
    M = rng.normal(size=(n, n))  # not an SR: the update must not assume rows sum to 1
    s = rng.permutation(n)[: max(2, n // 2)]
    gamma, alpha = float(rng.uniform(0.5, 0.99)), float(rng.uniform(0.05, 0.9))
    cases = {
        f"{len(s)} rows of a random {n} x {n} matrix, shuffled, each target reads another updated row":
            (M, s, np.roll(s, 1), gamma, alpha),
        f"a full sweep in a random order, gamma = {gamma:.3f}, alpha = {alpha:.3f}":
            (rng.dirichlet(np.ones(n), size=n), rng.permutation(n), rng.integers(0, n, n), gamma, alpha),
        "a single transition s -> s (a self-loop)": (M, s[:1], s[:1], gamma, alpha),
        "a batch of one row whose next state is another row": (M, s[:1], s[1:2], 0.5, 1.0),
    }
    for case, (M0, s_b, s_next, g, a) in cases.items():
        got = ck.call(M0, s_b, s_next, g, a, case=case)
        ck.close(got, ref.sr_td_update(M0, s_b, s_next, g, a), case=case, atol=1e-10, tensor=False)


@hidden("4.3", reference=ref.value_from_sr)
def value_from_sr_unseen_rewards(ck: HiddenChecker) -> None:
    """Random sizes, discounts and rewards, an M whose rows are not distributions, and gamma = 0."""
    rng = ck.rng
    n, gamma = int(rng.integers(3, 15)), float(rng.uniform(0.1, 0.99))
    cases = {
        f"a random {n}-state SR, gamma = {gamma:.3f}":
            (ref.sr_exact(_chain(rng, n), gamma), rng.normal(size=n), gamma),
        "a general matrix M (rows not distributions), gamma = 0.6":
            (rng.normal(size=(5, 5)), rng.normal(size=5), 0.6),
        "gamma = 0 with a full M: V = M r": (rng.dirichlet(np.ones(4), size=4), rng.normal(size=4), 0.0),
        "rewards of very different sizes, gamma = 0.99":
            (ref.sr_exact(_chain(rng, 6), 0.99), rng.normal(size=6) * 10.0 ** rng.integers(-3, 4, size=6),
             0.99),
    }
    for case, (M, r, g) in cases.items():
        got = ck.call(M, r, g, case=case)
        ck.close(got, ref.value_from_sr(M, r, g), case=case, atol=1e-8, rtol=1e-8, tensor=False)


@hidden("4.4", reference=ref.gpi_action)
def gpi_action_unseen_shapes(ck: HiddenChecker) -> None:
    """Random numbers of policies, states, actions and features; a task where each policy wins somewhere."""
    rng = ck.rng
    K, n, A, d = (int(v) for v in rng.integers(2, 7, size=4))
    # policy k is best in the states s with s % K == k: GPI must switch policies from state to state
    switching = rng.normal(size=(K, n, A, d)) * 0.1
    for k in range(K):
        switching[k, k::K, :, 0] += 5.0 + rng.random((len(range(k, n, K)), A))
    cases = {
        f"K = {K}, n = {n}, A = {A}, d = {d}, random psi and w":
            (rng.normal(size=(K, n, A, d)), rng.normal(size=d)),
        f"{K} policies, each the best one in its own states": (switching, np.eye(d)[0]),
        "one feature (d = 1), a negative weight": (rng.normal(size=(3, 8, 5, 1)), np.array([-2.0])),
        "two actions, many policies (K = 9)": (rng.normal(size=(9, 6, 2, 3)), rng.normal(size=3)),
    }
    for case, (psi, w) in cases.items():
        got = ck.call(psi, w, case=case)
        q = ref.gpi_values(psi, w)
        arr = np.asarray(got)
        ck.true(arr.shape == (psi.shape[1],) and np.issubdtype(arr.dtype, np.integer)
                and ((arr >= 0) & (arr < psi.shape[2])).all(), case=case,
                problem=f"expected ({psi.shape[1]},) integer actions in 0..{psi.shape[2] - 1}, got "
                        f"{getattr(arr, 'dtype', type(got).__name__)} of shape {arr.shape}.")
        ck.close(q[np.arange(len(arr)), arr], q.max(axis=1), case=case + " (GPI value of your actions)",
                 atol=1e-9, rtol=0)


@hidden("4.5", reference=ref.classifier_density_ratio)
def classifier_density_ratio_unseen_logits(ck: HiddenChecker) -> None:
    """Random logits and prior odds, float64 logits beyond float32's reach, very negative logits, B = 1."""
    gen = ck.torch_generator()
    k = float(ck.rng.uniform(0.2, 8.0))
    cases = {
        f"20 random logits, {k:.2f} negatives per positive": (torch.randn(20, generator=gen) * 3, k),
        "float64 logits up to 40 (1 - C is 4e-18)":
            (torch.linspace(-40, 40, 9, dtype=torch.float64)
             + torch.rand(9, generator=gen, dtype=torch.float64), 2.0),
        "very negative logits: the future state is almost impossible":
            (-30 - 10 * torch.rand(4, generator=gen), 1.0),
        "a single logit (B = 1)": (torch.randn(1, generator=gen), float(ck.rng.integers(2, 10))),
    }
    for case, (logits, kk) in cases.items():
        got = ck.call(logits, kk, case=case)
        ck.close(got, ref.density_ratio_float64(logits, kk), case=case, atol=1e-30, rtol=1e-4, tensor=True)
