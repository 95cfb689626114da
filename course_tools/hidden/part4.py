"""Hidden checks of 04_successor_representations: inputs from the grading seed, and new edge cases.

Never shipped to students and never run in their kernel: the grader plans the calls here, the
kernel only receives the argument lists (NumPy arrays, torch tensors and numbers), and the
judge replays the answers through these bodies.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib import gridworld, successor
from course_lib.checks.part4 import td_batch, toy_classifier
from course_tools.grading.hidden import HiddenChecker, hidden
from course_tools.references import part4 as ref


@hidden("4.1", reference=ref.psi_td_update)
def psi_td_update_unseen_batches(ck: HiddenChecker) -> None:
    """Random sizes, shuffled batches whose targets read pairs updated in the same batch, self-loops."""
    rng = ck.rng
    n, A, d = (int(v) for v in rng.integers(3, 8, size=3))
    psi, phi = rng.normal(size=(n, A, d)), rng.normal(size=(n, d))
    pairs = rng.permutation(n * A)[: max(2, n * A // 2)]
    s, a = pairs // A, pairs % A
    gamma, alpha = float(rng.uniform(0.5, 0.99)), float(rng.uniform(0.05, 0.9))
    all_pairs = rng.permutation(n * A)
    cases = {
        f"{len(s)} shuffled pairs of a {n} x {A} x {d} psi, each target reads another updated pair":
            (psi, phi, s, a, np.roll(s, 1), np.roll(a, 1), gamma, alpha),
        f"a full sweep in a random order, gamma = {gamma:.3f}, alpha = {alpha:.3f}":
            (psi, phi, all_pairs // A, all_pairs % A, rng.integers(0, n, n * A), rng.integers(0, A, n * A),
             gamma, alpha),
        "a single transition (s, a) -> (s, a) (a self-loop)":
            (psi, phi, s[:1], a[:1], s[:1], a[:1], gamma, alpha),
        "one-hot features of the maze (the SR), one pair":
            (np.zeros((47, 4, 47)), np.eye(47), np.array([15]), np.array([2]), np.array([16]), np.array([1]),
             0.9, 1.0),
    }
    for case, args in cases.items():
        got = ck.call(*args, case=case)
        ck.close(got, ref.psi_td_update(*args), case=case, atol=1e-10, tensor=False)


@hidden("4.2", reference=ref.reward_weights)
def reward_weights_unseen_data(ck: HiddenChecker) -> None:
    """Random sizes and ridges, nearly collinear features, one observation, the maze's landmark rewards."""
    rng = ck.rng
    N, d = int(rng.integers(10, 60)), int(rng.integers(2, 7))
    F = rng.normal(size=(N, d))
    corr = F.copy()
    corr[:, -1] = corr[:, 0] + 0.01 * rng.normal(size=N)  # nearly collinear: the ridge matters
    ridge = float(rng.uniform(0.05, 3.0))
    chain = successor.maze_chain(gridworld.DYNA_MAZE)
    phi = successor.landmark_features(chain)
    feats, r = successor.observe_rewards(chain, phi, rng.normal(size=4), 300, 0.5, rng)
    cases = {
        f"N = {N}, d = {d}, noisy rewards, ridge = {ridge:.2f}":
            (F, F @ rng.normal(size=d) + rng.normal(size=N), ridge),
        "two nearly collinear features, ridge = 0.5": (corr, corr @ rng.normal(size=d), 0.5),
        "a random walk of 300 steps on the maze, landmark features, ridge = 1": (feats, r, 1.0),
        "a single observation, ridge = 2": (F[:1], np.array([3.0]), 2.0),
    }
    for case, args in cases.items():
        got = ck.call(*args, case=case)
        ck.close(got, ref.reward_weights(*args), case=case, atol=1e-8, rtol=1e-7, tensor=False)


@hidden("4.3", reference=ref.gpi_action)
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


@hidden("4.4", reference=ref.classifier_density_ratio)
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


@hidden("4.5", reference=ref.td_classifier_loss)
def td_classifier_loss_unseen_batches(ck: HiddenChecker) -> None:
    """Random classifiers, batch sizes and discounts; a batch of one; s_rand equal to s_next."""
    gen = ck.torch_generator()
    B = int(ck.rng.integers(3, 30))
    clf = toy_classifier(gen, float(ck.rng.uniform(0.5, 3)))
    target = toy_classifier(gen, float(ck.rng.uniform(0.5, 4)))
    batch = td_batch(B, gen)
    same = td_batch(5, gen)
    same[4] = same[2].clone()  # the random state is the next state
    cases = {
        f"B = {B}, random gammas":
            (clf, target, *batch, torch.rand(B, generator=gen, dtype=torch.float64) * 0.99),
        "a batch of one, gamma = 0.98":
            (clf, target, *td_batch(1, gen), torch.full((1,), 0.98, dtype=torch.float64)),
        "the random state is the next state":
            (clf, target, *same, torch.full((5,), 0.8, dtype=torch.float64)),
        "the online and target classifiers are the same":
            (clf, clf, *batch, torch.full((B,), 0.9, dtype=torch.float64)),
    }
    for case, args in cases.items():
        got = ck.call(*args, case=case)
        ck.true(isinstance(got, torch.Tensor), case=case,
                problem=f"expected a torch tensor, got {type(got).__name__}.",
                hint="build the loss from torch operations so that gradients flow into clf.")
        ck.close(ck.scalar(got, case=case), float(ref.td_classifier_loss(*args)), case=case,
                 atol=1e-8, rtol=1e-6)
