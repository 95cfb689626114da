"""Second-order shooting: gradient descent vs Newton on an action sequence, and LQR's dynamic programming.

*Shooting* optimises the return J(a_0, ..., a_{T-1}) over the actions directly, each action
reaching the reward through every later state. Near an unstable equilibrium the problem is
ill-conditioned: an early action moves every later state (its curvature grows like the squared
singular values of the Jacobian products), a late one barely moves anything (its curvature is
little more than the action cost). A fixed step of gradient descent must suit the most curved
direction, so it crawls along the flat ones: about kappa iterations for a condition number kappa.
Newton's step a <- a - H^{-1} g rescales every direction by its own curvature, and on a
quadratic problem it lands on the optimum in one step.

LQR solves the same linear-quadratic problem by *dynamic programming*: the Riccati recursion,
backwards in time, over the value function's Hessian P_t (a small S x S matrix per step), then
one forward pass. O(T) small solves instead of a (T A) x (T A) Hessian, no product of T
Jacobians ever formed, and the answer comes as feedback gains a_t = K_t s_t, one per time step.
DDP / iLQR repeat it around the current trajectory of a nonlinear system. It works because each
a_t is a decision of its own stage t; a policy's parameters theta are shared by every stage, so
there is no stage-by-stage recursion for them.

Every function takes the gradient of the return as an argument: yours, ``gradient(step, obs (O,),
actions (T, A)) -> dJ/da (T, A)`` (Exercise 1.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from course_lib import envs
from course_lib.gradients import GradientFn, StepFn, hessian, step_jacobians

__all__ = ["LinearQuadratic", "upright_pendulum", "sequence_return", "descent_vs_newton", "lqr"]


@dataclass(frozen=True)
class LinearQuadratic:
    """s' = A s + B a and r = -(s^T Q s + a^T R a), the reward of the state before the step.

    A step function ``(s (N, S), a (N, A)) -> (s' (N, S), r (N,))``; A (S, S), B (S, A), Q (S, S),
    R (A, A).
    """

    A: torch.Tensor
    B: torch.Tensor
    Q: torch.Tensor
    R: torch.Tensor

    def __call__(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = a.to(s.dtype)
        r = -((s @ self.Q.to(s.dtype)) * s).sum(-1) - ((a @ self.R.to(s.dtype)) * a).sum(-1)
        return s @ self.A.T.to(s.dtype) + a @ self.B.T.to(s.dtype), r


def upright_pendulum(params: envs.PendulumParams = envs.PENDULUM) -> LinearQuadratic:
    """Pendulum-v1 linearised at upright, (theta, theta_dot) = 0, with its own reward weights.

    A and B are the true step's Jacobians there (no torque or speed limit); Q = diag(1, 0.1) and
    R = 0.001, as in r = -(theta^2 + 0.1 theta_dot^2 + 0.001 u^2). float64.
    """
    zero = torch.zeros(1, 2, dtype=torch.float64)
    ds, da, _, _ = step_jacobians(lambda s, a: envs.pendulum_step(s, a, params), zero, zero[:, :1])
    return LinearQuadratic(ds[0], da[0], torch.diag(torch.tensor([1.0, 0.1], dtype=torch.float64)),
                           torch.tensor([[1e-3]], dtype=torch.float64))


def sequence_return(step: StepFn, obs: torch.Tensor, actions: torch.Tensor) -> float:
    """J = sum_t r(s_t, a_t) of one action sequence (T, A) from obs (O,)."""
    s, total = obs.reshape(1, -1), 0.0
    with torch.no_grad():
        for t in range(actions.shape[0]):
            s, r = step(s, actions[t].reshape(1, -1))
            total += float(r.reshape(()))
    return total


def descent_vs_newton(gradient: GradientFn, step: StepFn, obs: torch.Tensor, actions: torch.Tensor,
                      n_descent: int = 500, n_newton: int = 1) -> dict:
    """Gradient ascent and Newton's method on J(a) from the same actions (T, A), float64.

    Both use ``gradient`` (Exercise 1.4). Newton's Hessian is :func:`hessian`, by differences of
    the gradient (2 T A gradient calls per step); gradient ascent gets the best fixed step for a
    quadratic, 1 / L with L the largest |eigenvalue| of the Hessian at the start (so it is told
    the curvature too). Returns ``descent`` (n_descent + 1,) and ``newton`` (n_newton + 1,): J
    after each iteration; ``kappa``, the Hessian's condition number at the start; ``lr``; and the
    final actions of each, ``descent_actions`` and ``newton_actions`` (T, A).
    """
    obs, a0 = obs.detach().double(), actions.detach().double()
    grad = lambda a: torch.as_tensor(gradient(step, obs, a), dtype=torch.float64).reshape(a.shape)  # noqa: E731
    h0 = hessian(gradient, step, obs, a0)
    eig = torch.linalg.eigvalsh(h0).abs()
    lr = 1.0 / float(eig.max())
    a, descent = a0.clone(), [sequence_return(step, obs, a0)]
    for _ in range(n_descent):
        a = a + lr * grad(a)
        descent.append(sequence_return(step, obs, a))
    b, newton = a0.clone(), [descent[0]]
    for i in range(n_newton):
        h = h0 if i == 0 else hessian(gradient, step, obs, b)
        b = b - torch.linalg.solve(h, grad(b).reshape(-1)).reshape(b.shape)
        newton.append(sequence_return(step, obs, b))
    return {"descent": np.array(descent), "newton": np.array(newton), "lr": lr,
            "kappa": float(eig.max() / eig.min()), "descent_actions": a, "newton_actions": b}


def lqr(lq: LinearQuadratic, s0: torch.Tensor, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The optimal actions of a linear-quadratic problem by dynamic programming (finite-horizon LQR).

    The value of the state after the last step is V_T = 0 (no reward is earned there); for
    t = T-1, ..., 0, with V_{t+1}(s) = -s^T P s,
        K_t = -(R + B^T P B)^{-1} B^T P A,     P <- Q + A^T P A + A^T P B K_t,
    then forward from s0: a_t = K_t s_t, s_{t+1} = A s_t + B a_t. Returns actions (T, A) and the
    gains K (T, A, S).
    """
    A, B, Q, R = lq.A, lq.B, lq.Q, lq.R
    P, gains = torch.zeros_like(A), []
    for _ in range(horizon):
        K = -torch.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = Q + A.T @ P @ A + A.T @ P @ B @ K
        gains.append(K)
    gains = torch.stack(gains[::-1]) if gains else torch.zeros(0, B.shape[1], A.shape[0], dtype=A.dtype)
    s, actions = s0.to(A.dtype).reshape(-1), []
    for K in gains:
        actions.append(K @ s)
        s = A @ s + B @ actions[-1]
    actions = torch.stack(actions) if actions else torch.zeros(0, B.shape[1], dtype=A.dtype)
    return actions, gains
