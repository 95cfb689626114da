"""Small systems the checks feed to students' functions: exact, picklable, easy to reason about.

Checks (visible and hidden) pass these as the ``step`` / ``policy`` / ``model`` arguments of an
exercise. They are classes rather than closures so that the grader can send them to the
student's kernel as plain data. None of them is an answer to an exercise.
"""

from __future__ import annotations

import torch

__all__ = ["LinearSystem", "LinearPolicy", "ConstantPolicy"]


class LinearSystem:
    """s' = A s + B a and r = -(s^T s) - rho (a^T a): a step function ``(s (N, S), a (N, A)) -> (s', r)``."""

    def __init__(self, A: torch.Tensor, B: torch.Tensor, rho: float = 0.1):
        self.A, self.B, self.rho = A, B, float(rho)

    def __call__(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = -(s**2).sum(-1) - self.rho * (a**2).sum(-1)
        A, B = self.A.transpose(-1, -2).to(s.dtype), self.B.transpose(-1, -2).to(s.dtype)
        return s @ A + a.to(s.dtype) @ B, r

    def __repr__(self) -> str:
        return f"LinearSystem(state dim {self.A.shape[0]}, action dim {self.B.shape[1]})"


class LinearPolicy:
    """a = clip(K s + b, -limit, limit): a deterministic policy ``s (N, S) -> a (N, A)``."""

    def __init__(self, K: torch.Tensor, b: torch.Tensor | None = None, limit: float = 2.0):
        self.K, self.b, self.limit = K, b, float(limit)

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        a = s @ self.K.transpose(-1, -2).to(s.dtype)
        if self.b is not None:
            a = a + self.b.to(s.dtype)
        return a.clamp(-self.limit, self.limit)


class ConstantPolicy:
    """The same action ``a`` (A,) in every state."""

    def __init__(self, a: torch.Tensor):
        self.a = a

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        return self.a.to(s.dtype).expand(s.shape[0], -1)
