"""The grader's recording cells, in the student's kernel: what the student's function returned.

This file runs *inside the sandbox*, next to the student's code: the grader copies it into a
read-only folder there (as ``course_grader_record``) and each of its check cells calls
:func:`produce` (the visible check) or :func:`produce_hidden` (the hidden checks, in a cell of
their own with its own time allowance). It imports only the handout's ``course_lib``.

Nothing here decides a grade. The visible check runs with the student's function wrapped in a
:class:`Recorder`, which writes down, in call order, what every call returned (plain data) or
which exception it raised; for hidden checks the kernel only calls the student's function on
argument lists the grader planned. The judge (:mod:`course_tools.grading.judge`) decodes the
record as hostile data and replays the checks in a clean process. Records are capped in size:
a result too large to record counts as not comparable.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CHECK_SEED", "MAX_RECORD_BYTES", "GlobalRngs", "Recorder", "encode", "produce",
           "produce_hidden", "NotData", "tracking"]

CHECK_SEED = 20240607
"""Global RNGs are seeded with this right before a check body runs, in the kernel and the judge."""
MAX_RECORD_BYTES = 64 * 1024 * 1024
"""Largest record the kernel writes (and the judge reads); bigger results are not recorded."""
NP_DTYPES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"}
TORCH_DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
                "float32", "float64", "complex64", "complex128"}
MAX_DEPTH = 40


class NotData(Exception):
    """A value that is not plain data (or too large to record)."""


try:  # in the sandbox the grader puts it beside this file
    from course_grader_cases import tracking
except ImportError:  # in the grader and the judge
    from course_tools.grading.cases import tracking


def _registry():
    from course_lib.checks._recordable import CONTAINERS, STRUCTS

    return STRUCTS, CONTAINERS


class _Size:
    def __init__(self, limit: int):
        self.left = limit

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise NotData("too large to record")


def encode(x: Any, depth: int = 0, size: _Size | None = None) -> Any:
    """``x`` as nested builtins (tuples tagged by their first item), or raise :class:`NotData`."""
    size = size or _Size(MAX_RECORD_BYTES)
    if depth > MAX_DEPTH:
        raise NotData("nested too deeply")
    if x is None or type(x) in (bool, int, float):
        size.take(16)
        return x
    if type(x) in (str, bytes):
        size.take(len(x))
        return x
    if type(x) is complex:
        return ("complex", x.real, x.imag)
    if type(x) is np.ndarray or isinstance(x, np.generic):
        arr = np.asarray(x)
        code = arr.dtype.str[1:]
        if code not in NP_DTYPES:
            raise NotData(f"array of dtype {arr.dtype}")
        size.take(arr.nbytes)
        tag = "nd" if type(x) is np.ndarray else "npscalar"
        return (tag, arr.dtype.newbyteorder("<").str, tuple(int(s) for s in arr.shape),
                np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
    if type(x).__module__.startswith("torch") and type(x).__name__ in ("Tensor", "Parameter"):
        import torch

        if x.layout != torch.strided:
            raise NotData("sparse tensor")
        name = str(x.dtype).removeprefix("torch.")
        if name not in TORCH_DTYPES:
            raise NotData(f"tensor of dtype {x.dtype}")
        size.take(x.numel() * x.element_size())
        data = x.detach().cpu().contiguous()
        if name == "bfloat16":
            data = data.float()
        arr = data.numpy()
        return ("pt", name, tuple(int(s) for s in x.shape), arr.dtype.newbyteorder("<").str,
                arr.astype(arr.dtype.newbyteorder("<")).tobytes(), bool(x.requires_grad),
                x.grad_fn is not None)
    structs, _ = _registry()
    for tag, struct in structs.items():
        if type(x) is struct.cls:
            return ("struct", tag, [encode(getattr(x, f), depth + 1, size) for f in struct.fields])
    if type(x) is tuple:
        return ("tuple", [encode(v, depth + 1, size) for v in x])
    if type(x) is list:
        return ("list", [encode(v, depth + 1, size) for v in x])
    if type(x) is dict:
        return ("dict", [(encode(k, depth + 1, size), encode(v, depth + 1, size)) for k, v in x.items()])
    raise NotData(type(x).__name__)


def empty_containers(args: tuple, kwargs: dict) -> list[tuple[int | str, str, Any]]:
    """The registered containers among the arguments that are empty before the call: its outputs."""
    _, containers = _registry()
    found = list(enumerate(args)) + list(kwargs.items())
    out = []
    for key, value in found:
        for tag, container in containers.items():
            if isinstance(value, container.cls) and len(value) == 0:
                out.append((key, tag, value))
    return out


def safe_str(err: BaseException, limit: int = 2000) -> str:
    """The exception's message, at most ``limit`` characters, never raising."""
    try:
        return str(err)[:limit]
    except Exception:  # noqa: BLE001 - a hostile __str__
        return "(the exception's message could not be shown)"


class Recorder:
    """Calls the student's function and appends each result (or exception) to ``calls``."""

    def __init__(self, fn: Callable, calls: list, size: _Size):
        self.fn, self.calls, self.size = fn, calls, size

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        outputs = empty_containers(args, kwargs)
        try:
            out = self.fn(*args, **kwargs)
        except NotImplementedError as err:
            self.calls.append(("raise", "NotImplementedError", safe_str(err)))
            raise
        except Exception as err:
            self.calls.append(("raise", type(err).__name__[:80], safe_str(err)))
            raise
        _, containers = _registry()
        try:
            filled = [(key, tag, encode(containers[tag].dump(c), size=self.size)) for key, tag, c in outputs]
        except NotData:
            filled = []
        try:
            entry = ("return", encode(out, size=self.size))
            self.calls.append(entry + (filled,) if filled else entry)
        except NotData as why:
            if callable(out):
                self.calls.append(("callable",))
                return Recorder(out, self.calls, self.size)
            self.calls.append(("return", ("opaque", f"{type(out).__name__[:60]} ({safe_str(why, 60)})")))
        return out


class GlobalRngs:
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


def _target(obj: Any, run: dict, size: _Size) -> Any:
    from course_lib.checks._core import _MISSING

    if obj is _MISSING:
        run["fn"] = ("missing",)
        return _MISSING
    if callable(obj):
        run["fn"] = ("callable",)
        return Recorder(obj, run["calls"], size)
    try:
        run["fn"] = ("value", encode(obj, size=size))
    except NotData:
        run["fn"] = ("value", ("opaque", type(obj).__name__[:60]))
    return obj


def _student_object(exercise_id: str):
    from course_lib.checks._core import _MISSING, EXERCISES, _user_namespace

    spec = EXERCISES[exercise_id]
    return spec, _user_namespace().get(spec.name, _MISSING)


def _run_lenient(spec: Any, target: Any) -> None:
    from course_lib.checks._core import _MISSING, Checker

    if target is _MISSING:
        spec.check(_MISSING)  # raises the "no `name` is defined" message
    ck = tracking(Checker, lenient=True)(spec.id, spec.name, target)
    try:
        spec.body(ck)
    except AssertionError:
        raise
    except Exception:  # the aftermath of a failed case (e.g. unpacking no result)
        ck.finish()  # show the first failure instead, if there was one
        raise
    ck.finish()
    ck.passed()


def produce(exercise_id: str, record_path: str, lenient: bool = False) -> None:
    """The visible check, recorded: run it on the student's function, then re-raise its verdict.

    ``lenient``: the exercise is graded per case, so the check goes on after a failed case (the
    judge replays it the same way)."""
    spec, obj = _student_object(exercise_id)
    run: dict = {"fn": None, "calls": [], "end": "started"}
    record = {"version": 2, "exercise": exercise_id, "kind": "visible", "run": run}
    size = _Size(MAX_RECORD_BYTES)
    outcome: BaseException | None = None
    try:
        with GlobalRngs():
            target = _target(obj, run, size)
            _run_lenient(spec, target) if lenient else spec.check(target)
        run["end"] = "finished"
    except KeyboardInterrupt:
        run["end"] = "interrupted"
        _write(record_path, record)
        raise
    except Exception as err:  # the in-kernel verdict is not trusted; kept to re-raise
        run["end"] = "finished" if isinstance(err, AssertionError) else f"error {type(err).__name__}"
        outcome = err
    _write(record_path, record)
    if outcome is not None:
        raise outcome


def produce_hidden(exercise_id: str, record_path: str, args_path: str) -> None:
    """The hidden checks' calls, recorded: the student's function on the planned argument lists."""
    _, obj = _student_object(exercise_id)
    run: dict = {"fn": None, "calls": [], "end": "started"}
    record = {"version": 2, "exercise": exercise_id, "kind": "hidden", "run": run}
    size = _Size(MAX_RECORD_BYTES)
    with open(args_path, "rb") as f:
        arg_lists = pickle.load(f)  # written by the grader
    target = _target(obj, run, size)
    try:
        if isinstance(target, Recorder):
            for args, kwargs in arg_lists:
                try:
                    with GlobalRngs():
                        target(*copy.deepcopy(args), **copy.deepcopy(kwargs))
                except Exception:  # noqa: BLE001 - recorded; the judge decides
                    pass
        run["end"] = "finished"
    except KeyboardInterrupt:
        run["end"] = "interrupted"
        _write(record_path, record)
        raise
    _write(record_path, record)


def _write(path: str, record: dict) -> None:
    tmp = f"{path}.part"
    try:
        data = pickle.dumps(record, protocol=4)
    except Exception:  # noqa: BLE001 - e.g. a recursion error on a pathological value
        data = pickle.dumps({"version": 2, "exercise": record["exercise"], "kind": record["kind"],
                             "run": {"fn": ("callable",), "calls": [], "end": "error unrecordable"}})
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
