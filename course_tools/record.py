"""The grader's recording cell, in the student's kernel: what the student's function returned.

This file runs *inside the sandbox*, next to the student's code. The grader copies it into a
read-only folder of the sandbox and its check cells call :func:`produce`; it imports only the
handout's ``course_lib`` (never the instructor package, which the sandbox does not have).

Nothing here decides a grade. :func:`produce` runs the exercise's visible check with the
student's function wrapped in a :class:`_Recorder`, which writes down, in call order, what
every call returned (plain data: numbers, arrays, tensors, tuples...) or which exception it
raised; for hidden checks it only calls the student's function on argument lists that the
grader planned. The judge (:mod:`course_tools.replay`) decodes the record as hostile data and
replays the checks against it in a clean process.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CHECK_SEED", "produce"]

CHECK_SEED = 20240607
"""Global RNGs are seeded with this right before a check body runs, in the kernel and the judge."""
_NP_DTYPES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"}
_TORCH_DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
                 "float32", "float64", "complex64", "complex128"}


# -- plain-data encoding ------------------------------------------------------------------------
class _NotData(Exception):
    pass


def _encode(x: Any, depth: int = 0) -> Any:
    """``x`` as nested builtins (tuples tagged by their first item), or raise :class:`_NotData`."""
    if depth > 40:
        raise _NotData("nested too deeply")
    if x is None or type(x) in (bool, int, float, str, bytes):
        return x
    if type(x) is complex:
        return ("complex", x.real, x.imag)
    if isinstance(x, np.ndarray) and type(x) is np.ndarray or isinstance(x, np.generic):
        arr = np.asarray(x)
        code = arr.dtype.str[1:]
        if code not in _NP_DTYPES:
            raise _NotData(f"array of dtype {arr.dtype}")
        tag = "nd" if isinstance(x, np.ndarray) else "npscalar"
        return (tag, arr.dtype.newbyteorder("<").str, tuple(int(s) for s in arr.shape),
                np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
    if type(x).__module__.startswith("torch") and type(x).__name__ in ("Tensor", "Parameter"):
        import torch

        if x.layout != torch.strided:
            raise _NotData("sparse tensor")
        name = str(x.dtype).removeprefix("torch.")
        if name not in _TORCH_DTYPES:
            raise _NotData(f"tensor of dtype {x.dtype}")
        data = x.detach().cpu().contiguous()
        if name == "bfloat16":
            data = data.float()
        arr = data.numpy()
        return ("pt", name, tuple(int(s) for s in x.shape), arr.dtype.newbyteorder("<").str,
                arr.astype(arr.dtype.newbyteorder("<")).tobytes(), bool(x.requires_grad),
                x.grad_fn is not None)
    if _is_batch(x):
        return ("batch", [_encode(getattr(x, name), depth + 1) for name in _BATCH_FIELDS])
    if isinstance(x, tuple):
        return ("tuple", [_encode(v, depth + 1) for v in x])
    if isinstance(x, list):
        return ("list", [_encode(v, depth + 1) for v in x])
    if isinstance(x, dict):
        return ("dict", [(_encode(k, depth + 1), _encode(v, depth + 1)) for k, v in x.items()])
    raise _NotData(type(x).__name__)


_BATCH_FIELDS = ("obs", "act", "rew", "next_obs", "done")


def _is_batch(x: Any) -> bool:
    """``x`` is exactly ``course_lib.buffers.Batch`` (recorded field by field, as tensors)."""
    if type(x).__name__ != "Batch":
        return False
    from course_lib.buffers import Batch

    return type(x) is Batch


def _empty_buffers(args: tuple, kwargs: dict) -> list[tuple[int | str, Any]]:
    """The replay buffers among the arguments that are empty before the call (the call's outputs)."""
    from course_lib.buffers import ReplayBuffer

    found = [(i, a) for i, a in enumerate(args)] + list(kwargs.items())
    return [(key, a) for key, a in found if isinstance(a, ReplayBuffer) and len(a) == 0]



# -- recording, in the kernel -----------------------------------------------------------------
def _safe_str(err: BaseException) -> str:
    try:
        return str(err)[:2000]
    except Exception:  # noqa: BLE001
        return "(the exception's message could not be shown)"


class _Recorder:
    """Calls the student's function and appends each result (or exception) to ``calls``."""

    def __init__(self, fn: Callable, calls: list):
        self.fn, self.calls = fn, calls

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        outputs = _empty_buffers(args, kwargs)  # empty buffers passed in are outputs: record them
        try:
            out = self.fn(*args, **kwargs)
        except NotImplementedError as err:
            self.calls.append(("raise", "NotImplementedError", _safe_str(err)))
            raise
        except Exception as err:
            self.calls.append(("raise", type(err).__name__[:80], _safe_str(err)))
            raise
        try:
            filled = [(key, _encode(buf.all())) for key, buf in outputs]
        except _NotData:
            filled = []
        try:
            self.calls.append(("return", _encode(out), filled) if filled else ("return", _encode(out)))
        except _NotData:
            if callable(out):
                self.calls.append(("callable",))
                return _Recorder(out, self.calls)
            self.calls.append(("return", ("opaque", type(out).__name__[:60])))
        return out


class _GlobalRngs:
    """Seed Python's, NumPy's and torch's global RNGs for a check; restore them afterwards."""

    def __enter__(self):
        import torch

        self.saved = random.getstate(), np.random.get_state(), torch.get_rng_state()  # noqa: NPY002
        random.seed(CHECK_SEED)
        np.random.seed(CHECK_SEED)  # noqa: NPY002
        torch.manual_seed(CHECK_SEED)

    def __exit__(self, *exc):
        import torch

        random.setstate(self.saved[0])
        np.random.set_state(self.saved[1])  # noqa: NPY002
        torch.set_rng_state(self.saved[2])


def _target(obj: Any, run: dict) -> Any:
    from course_lib.checks._core import _MISSING

    if obj is _MISSING:
        run["fn"] = ("missing",)
        return _MISSING
    if callable(obj):
        run["fn"] = ("callable",)
        return _Recorder(obj, run["calls"])
    try:
        run["fn"] = ("value", _encode(obj))
    except _NotData:
        run["fn"] = ("value", ("opaque", type(obj).__name__[:60]))
    return obj


def produce(exercise_id: str, record_path: str, hidden_args: str | None = None) -> None:
    """Run in the kernel by the grader's cell: record the check's calls, then re-raise its verdict."""
    from course_lib.checks._core import _MISSING, EXERCISES, _user_namespace

    spec = EXERCISES[exercise_id]
    obj = _user_namespace().get(spec.name, _MISSING)
    record: dict = {"version": 1, "exercise": exercise_id}
    visible: dict = {"fn": None, "calls": [], "end": "started"}
    record["visible"] = visible
    outcome: BaseException | None = None
    try:
        with _GlobalRngs():
            spec.check(_target(obj, visible))
        visible["end"] = "finished"
    except KeyboardInterrupt:
        visible["end"] = "interrupted"
        _write(record_path, record)
        raise
    except Exception as err:  # the in-kernel verdict is not trusted; kept to re-raise
        visible["end"] = "finished" if isinstance(err, AssertionError) else f"error {type(err).__name__}"
        outcome = err
    if hidden_args:
        run: dict = {"fn": None, "calls": [], "end": "started"}
        record["hidden"] = run
        with open(hidden_args, "rb") as f:
            arg_lists = pickle.load(f)  # written by the grader
        target = _target(obj, run)
        try:
            if isinstance(target, _Recorder):
                for args, kwargs in arg_lists:
                    try:
                        target(*copy.deepcopy(args), **copy.deepcopy(kwargs))
                    except Exception:  # noqa: BLE001 - recorded; the judge decides
                        pass
            run["end"] = "finished"
        except KeyboardInterrupt:
            run["end"] = "interrupted"
            _write(record_path, record)
            raise
    _write(record_path, record)
    if outcome is not None:
        raise outcome


def _write(path: str, record: dict) -> None:
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        pickle.dump(record, f, protocol=4)
    os.replace(tmp, path)
