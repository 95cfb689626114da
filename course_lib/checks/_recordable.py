"""The course's own types that checks pass to, or get back from, a student's function.

The grader records what a student's function returns as plain data (numbers, strings, arrays,
tensors, tuples, lists, dicts). Two course types travel too, registered here so that the
grader's recorder (in the student's kernel) and its judge (elsewhere) agree on them without
knowing the course:

* ``STRUCTS``: a value type recorded field by field, e.g. a ``buffers.Batch`` of tensors;
* ``CONTAINERS``: a container that a check passes *empty* and the student's function fills
  (Exercises 3.2 and 3.5 fill a model ``ReplayBuffer``): its contents are recorded after the call and
  put into the judge's own empty container when the call is replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from course_lib.buffers import Batch, ReplayBuffer

__all__ = ["Struct", "Container", "STRUCTS", "CONTAINERS"]


@dataclass(frozen=True)
class Struct:
    """A value type recorded as its fields, each of which must be a torch tensor."""

    cls: type
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Container:
    """A container a student's function fills: ``dump`` reads it, ``fill`` writes a dump back."""

    cls: type
    dump: Callable[[Any], Any]
    fill: Callable[[Any, Any], None]


def _fill_buffer(buffer: ReplayBuffer, batch: Batch) -> None:
    if len(batch):
        buffer.add(batch.obs, batch.act, batch.rew, batch.next_obs, batch.done)


STRUCTS: dict[str, Struct] = {
    "batch": Struct(Batch, ("obs", "act", "rew", "next_obs", "done")),
}
CONTAINERS: dict[str, Container] = {
    "replay_buffer": Container(ReplayBuffer, ReplayBuffer.all, _fill_buffer),
}
