"""TD (recursive) C-learning, and reaching goals with a learned future-state classifier.

Monte-Carlo C-learning (``clearning``) needs whole trajectories of the policy it models: its
positives are states the policy really visited Delta steps later. The recursive version of
Eysenbach, Salakhutdinov and Levine (2021) needs only transitions (s, a, s'). It uses our
convention p^pi(s_f | s, a) = sum_{k >= 1} (1 - gamma) gamma^(k-1) p(s_{t+k} = s_f | s, a), which
obeys a Bellman equation,

    p^pi(s_f | s, a) = (1 - gamma) p(s' = s_f | s, a) + gamma E_{s', a' ~ pi(s')}[p^pi(s_f | s', a')].

So a positive is, with weight 1 - gamma, the next state s'; and with weight gamma, a random
state s_f re-weighted by the classifier's own odds at the next step, w = C / (1 - C) at
(s', a', s_f) (an importance weight from the marginal to p^pi(. | s', a')). Negatives are
random states, as before. The next action a' is drawn from the policy being evaluated, not
from the data: the data can come from another policy (off-policy). The price is the one TD
always pays: the targets are the classifier's own predictions, so its errors feed back.

The loss on a batch is Exercise 4.5; ``train_td_classifier`` takes it as an argument.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch

from course_lib.clearning import CLearningConfig, FutureClassifier
from course_lib.pointmass import PointMass
from course_lib.utils import one_thread

__all__ = ["TDConfig", "train_td_classifier", "greedy_goal_policy", "reach_goal"]

Policy = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""``policy(s (B, 2), generator) -> a (B, 2)``."""
TDLoss = Callable[..., torch.Tensor]
"""``loss(clf, target_clf, s, a, s_next, a_next, s_rand, gamma) -> scalar``: TD C-learning's loss
on a batch (Exercise 4.5). States and actions (B, 2), gamma (B,)."""


@dataclass(frozen=True)
class TDConfig:
    """Training of the TD classifier (the network is the Monte-Carlo one's: ``CLearningConfig``)."""

    n_steps: int = 2000
    """Adam steps."""
    batch_size: int = 256
    """Transitions per step (each gives one next-state positive and one random state)."""
    lr: float = 1e-2
    """Initial learning rate (cosine-annealed to 0)."""
    tau: float = 0.05
    """Polyak rate of the target classifier that computes the odds w."""


def train_td_classifier(loss_fn: TDLoss, states: torch.Tensor, actions: torch.Tensor, policy: Policy,
                        net: CLearningConfig, config: TDConfig, generator: torch.Generator
                        ) -> tuple[FutureClassifier, list[float]]:
    """Fit a :class:`FutureClassifier` of ``policy`` by TD from logged transitions.

    states (N, T + 1, 2), actions (N, T, 2): any behaviour policy; only the pairs (s_t, a_t,
    s_t+1) are used. Each step samples a batch of transitions, a' = policy(s'), random states
    s_rand from all the logged states (the marginal) and gamma from ``net.gammas``, then takes
    an Adam step on ``loss_fn`` and moves the target classifier by Polyak averaging.
    Returns the classifier and the loss per step.
    """
    s_all = states[:, :-1].reshape(-1, 2).float()
    s_next_all = states[:, 1:].reshape(-1, 2).float()
    a_all = actions.reshape(-1, 2).float()
    flat = states.reshape(-1, 2).float()
    with torch.random.fork_rng():  # initial weights from ``generator``, global RNG untouched
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        clf = FutureClassifier(net)
    target = copy.deepcopy(clf).requires_grad_(False)
    opt = torch.optim.Adam(clf.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.n_steps)
    gammas = torch.tensor(net.gammas)
    losses = []
    with one_thread():
        for _ in range(config.n_steps):
            i = torch.randint(s_all.shape[0], (config.batch_size,), generator=generator)
            s, a, s_next = s_all[i], a_all[i], s_next_all[i]
            s_rand = flat[torch.randint(flat.shape[0], (config.batch_size,), generator=generator)]
            g = gammas[torch.randint(len(gammas), (config.batch_size,), generator=generator)]
            a_next = policy(s_next, generator)
            loss = loss_fn(clf, target, s, a, s_next, a_next, s_rand, g)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            with torch.no_grad():
                for p, p_t in zip(clf.parameters(), target.parameters(), strict=True):
                    p_t.lerp_(p, config.tau)
            losses.append(loss.item())
    return clf, losses


@torch.no_grad()
def _greedy_actions(clf: FutureClassifier, s: torch.Tensor, goal: torch.Tensor, gamma: torch.Tensor | float,
                    n_candidates: int, generator: torch.Generator) -> torch.Tensor:
    """argmax over n_candidates random actions of clf(s, a, goal, gamma), row by row. s, goal (B, 2)."""
    b = s.shape[0]
    cand = torch.rand(b, n_candidates, 2, generator=generator, dtype=s.dtype) * 2 - 1
    rep = lambda x: x[:, None].expand(b, n_candidates, *x.shape[1:]).reshape(b * n_candidates, *x.shape[1:])  # noqa: E731
    g = torch.as_tensor(gamma, dtype=torch.float32).expand(b)
    logits = clf(rep(s), cand.reshape(-1, 2), rep(goal), rep(g)).view(b, n_candidates)
    return cand[torch.arange(b), logits.argmax(dim=1)]


def greedy_goal_policy(clf: FutureClassifier, goal: torch.Tensor, gamma: float,
                       n_candidates: int = 16) -> Policy:
    """a = argmax over random candidate actions of the classifier's logit(s, a, goal, gamma).

    The classifier models a policy pi's future, so its odds are proportional to Q^pi(s, a) for
    the reward "be at the goal": this is one step of policy improvement on pi for that reward.
    """

    def act(s: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return _greedy_actions(clf, s, goal.expand(s.shape[0], 2), gamma, n_candidates, generator)

    return act


def reach_goal(env: PointMass, policy: Policy, s0: torch.Tensor, goal: torch.Tensor, n_steps: int,
               generator: torch.Generator, radius: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``policy`` from the states s0 (N, 2) for n_steps; an episode succeeds when it comes
    within ``radius`` of ``goal`` (2,). Returns the paths (N, n_steps + 1, 2) and the first
    step of success (N,) (-1 when never reached)."""
    path = [s0]
    with one_thread():
        for _ in range(n_steps):
            path.append(env.step(path[-1], policy(path[-1], generator), generator))
    paths = torch.stack(path, dim=1)
    hit = (paths - goal).norm(dim=-1) < radius  # (N, n_steps + 1)
    first = torch.where(hit.any(dim=1), hit.float().argmax(dim=1), torch.full((len(s0),), -1))
    return paths, first
