"""The judge: replay a submission's recorded answers through the checks, in a clean process.

Anything that runs in the student's kernel can be forged by the student's code: the check
functions, ``course_lib.checks`` in ``sys.modules``, ``numpy.allclose``, ``AssertionError``,
IPython's exception handlers, the kernel's ``execute_reply``, the printed output. So the kernel
is only trusted to *produce values*, which the student controls anyway:

1. **record** (in the kernel, :func:`course_tools.record.produce`): the grader's cell runs the
   exercise's check with the student's function wrapped in a recorder; for hidden checks the
   kernel only calls the student's function on argument lists the grader planned
   (:func:`plan`), so hidden check code and its reference answers never enter the kernel;
2. **judge** (here, in a process started by the grader, never touched by student code):
   the *same* check body runs with this process's own ``course_lib.checks``; its ``Checker``
   gets a :class:`_Replayer` instead of the student's function, which hands back the recorded
   results in order. Visible checks compare with the answers shipped in ``course_lib/data``
   (built from the instructor's references); hidden checks (``course_tools/hidden``) compute
   theirs with the references. Records are read with an unpickler that accepts no classes at
   all, and every array is rebuilt from raw bytes with a whitelisted dtype.

Forging a record therefore gains nothing: to pass, the recorded results must be the right
answers to inputs the judge computes, which is solving the exercise. Check bodies are reused
unchanged; the only requirement is that everything a check needs from the student flows
through calls of the student's function (or its value) and is plain data, a
``buffers.Batch``, or an *empty* ``ReplayBuffer`` argument that the function fills (its
contents are recorded and put into the judge's own empty buffer; a buffer that is not empty in
the judge is an input and is never changed). ``tests/test_checks_all.py`` replays every check.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import io
import os
import pickle
import struct
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_lib.checks._core import Checker
from course_tools.record import (
    _BATCH_FIELDS,
    _NP_DTYPES,
    _TORCH_DTYPES,
    _empty_buffers,
    _encode,
    _GlobalRngs,
    _is_batch,
    _NotData,
    _safe_str,
)

__all__ = ["HiddenChecker", "hidden", "load_hidden", "plan", "judge", "HIDDEN"]

MAX_RECORD_BYTES = 256 * 1024 * 1024
"""Largest record file the judge reads; a bigger one counts as not produced."""


def _refill(filled: Any, args: tuple, kwargs: dict) -> None:
    """In the judge: put the recorded contents of output buffers into the judge's own empty buffers.

    Only buffers that are empty in the judge too are filled, so a record can never change an
    input the check built itself.
    """
    if type(filled) is not list:
        raise ValueError("malformed record")
    outputs = dict(_empty_buffers(args, kwargs))
    for item in filled:
        if type(item) is not tuple or len(item) != 2 or type(item[0]) not in (int, str):
            raise ValueError("malformed record")
        buf = outputs.get(item[0])
        batch = _decode(item[1])
        if buf is None or not _is_batch(batch):
            continue
        if len(batch):
            buf.add(batch.obs, batch.act, batch.rew, batch.next_obs, batch.done)


class Unrecorded:
    """Stands in, in the judge, for a result that was not plain data (a model, a generator...)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name}, which the grader cannot compare>"


def _decode(x: Any, depth: int = 0) -> Any:
    """Inverse of :func:`_encode`, validating everything (records are untrusted)."""
    if depth > 45:
        raise ValueError("record nested too deeply")
    if x is None or type(x) in (bool, int, float, str, bytes):
        return x
    if type(x) is not tuple or not x or type(x[0]) is not str:
        raise ValueError("malformed record")
    tag = x[0]
    if tag == "complex":
        return complex(float(x[1]), float(x[2]))
    if tag in ("nd", "npscalar"):
        _, code, shape, data = x
        arr = _array(code, shape, data)
        return arr if tag == "nd" else arr.reshape(())[()]
    if tag == "pt":
        import torch

        _, name, shape, code, data, requires_grad, has_graph = x
        if name not in _TORCH_DTYPES:
            raise ValueError("bad tensor dtype")
        t = torch.from_numpy(_array(code, shape, data).copy()).to(getattr(torch, name))
        if requires_grad and t.is_floating_point():
            t.requires_grad_(True)
            if has_graph:
                t = t.clone()  # a non-leaf with a grad_fn, like the student's result
        return t
    if tag in ("tuple", "list", "dict") and (len(x) != 2 or type(x[1]) is not list):
        raise ValueError("malformed record")
    if tag in ("tuple", "list"):
        items = [_decode(v, depth + 1) for v in x[1]]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict":
        if not all(type(kv) is tuple and len(kv) == 2 for kv in x[1]):
            raise ValueError("malformed record")
        return {_decode(k, depth + 1): _decode(v, depth + 1) for k, v in x[1]}
    if tag == "batch":
        from course_lib.buffers import Batch

        if len(x) != 2 or type(x[1]) is not list or len(x[1]) != len(_BATCH_FIELDS):
            raise ValueError("malformed record")
        fields = [_decode(v, depth + 1) for v in x[1]]
        if not all(type(f).__module__.startswith("torch") for f in fields):
            raise ValueError("malformed record")
        return Batch(*fields)
    if tag == "opaque":
        return type(str(x[1])[:60] or "object", (Unrecorded,), {})(str(x[1])[:60])
    raise ValueError(f"unknown record tag {tag!r}")


def _array(code: Any, shape: Any, data: Any) -> np.ndarray:
    if type(code) is not str or code[:1] not in "<|" or code[1:] not in _NP_DTYPES:
        raise ValueError("bad array dtype")
    if type(shape) is not tuple or not all(type(s) is int and s >= 0 for s in shape):
        raise ValueError("bad array shape")
    dtype = np.dtype(code)
    if type(data) is not bytes or len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise ValueError("array data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


class _NoClasses(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D102
        raise pickle.UnpicklingError(f"records may not name classes ({module}.{name})")


def load_record(data: bytes) -> dict:
    """Parse a record file written in the kernel. Raises ``ValueError`` if it is malformed."""
    if len(data) > MAX_RECORD_BYTES:
        raise ValueError("record too large")
    try:
        rec = _NoClasses(io.BytesIO(data)).load()
    except Exception as err:  # noqa: BLE001 - anything goes wrong with hostile bytes
        raise ValueError(f"unreadable record ({type(err).__name__})") from None
    if type(rec) is not dict:
        raise ValueError("malformed record")
    return rec


# -- replaying, in the judge ------------------------------------------------------------------
class _Exhausted(BaseException):
    """The judge needs a result the kernel never recorded (not an Exception: checks don't catch it)."""


class _Diverged(BaseException):
    """A hidden check called the student's function with other arguments than planned."""


class _Replayer:
    """Stands in for the student's function: returns (or raises) the recorded results in order."""

    def __init__(self, calls: list, fingerprints: list[str] | None = None):
        self.calls, self.pos, self.fingerprints = calls, 0, fingerprints

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fingerprints is not None:
            planned = self.fingerprints[self.pos] if self.pos < len(self.fingerprints) else None
            if _fingerprint(args, kwargs) != planned:
                raise _Diverged
        if self.pos >= len(self.calls):
            raise _Exhausted
        entry = self.calls[self.pos]
        self.pos += 1
        if type(entry) is not tuple or not entry:
            raise ValueError("malformed record")
        if entry[0] == "return":
            if len(entry) == 3:
                _refill(entry[2], args, kwargs)
            return _decode(entry[1])
        if entry[0] == "callable":
            return self
        if entry[0] == "raise":
            name, msg = str(entry[1])[:80], str(entry[2])[:2000]
            if name == "NotImplementedError":
                raise NotImplementedError(msg)
            cls = type(name if name.isidentifier() else "Exception", (Exception,), {})
            raise cls(msg)
        raise ValueError("malformed record")


def _canonical(x: Any, depth: int = 0) -> Any:
    """Plain data for ``x``; objects that are not data reduce to their type's name."""
    try:
        return _encode(x)
    except _NotData:
        pass
    if isinstance(x, (tuple, list)) and depth < 40:
        return (type(x).__name__, [_canonical(v, depth + 1) for v in x])
    if isinstance(x, dict) and depth < 40:
        return ("dict", [(_canonical(k, depth + 1), _canonical(v, depth + 1)) for k, v in x.items()])
    return ("object", type(x).__module__, type(x).__qualname__)


def _fingerprint(args: tuple, kwargs: dict) -> str:
    """A hash of a call's arguments (by value: pickles of tensors are not deterministic)."""
    data = _canonical((args, sorted(kwargs.items())))
    return hashlib.sha256(pickle.dumps(data, protocol=4)).hexdigest()


def _judge_target(run: Any, fingerprints: list[str] | None = None) -> Any:
    from course_lib.checks._core import _MISSING

    if type(run) is not dict or type(run.get("fn")) is not tuple or type(run.get("calls")) is not list:
        raise ValueError("malformed record")
    kind = run["fn"][0]
    if kind == "missing":
        return _MISSING
    if kind == "callable":
        return _Replayer(run["calls"], fingerprints)
    if kind == "value":
        return _decode(run["fn"][1])
    raise ValueError("malformed record")


def _why_unfinished(end: Any, cell_timeout: float) -> str:
    if end == "interrupted":
        return (f"not graded: your code did not finish within the cell time limit "
                f"({cell_timeout:g} s), so the check could not see all its results")
    if isinstance(end, str) and end.startswith("error"):
        return f"not graded: the check could not run in your notebook ({end[6:]})"
    return "not graded: the check did not finish in your notebook"


def _run_judged(body: Callable[[Any], None], run: Any, cell_timeout: float,
                fingerprints: list[str] | None = None) -> tuple[bool, str]:
    """Run a check body against a recorded run; returns (passed, message)."""
    from course_lib.checks._core import CheckFailed

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")  # a missing name stays missing
    try:
        target = _judge_target(run, fingerprints)
        with _GlobalRngs():
            body(target)
        return True, "passed"
    except CheckFailed as err:
        return False, str(err)
    except _Exhausted:
        return False, _why_unfinished(run.get("end"), cell_timeout)
    except _Diverged:
        return False, ("the hidden check's inputs depend on your function's outputs, so it "
                       "could not be replayed; your outputs differ from the reference's")
    except (ValueError, pickle.UnpicklingError) as err:
        return False, f"not graded: the results recorded in your notebook are unusable ({err})"
    except Exception as err:  # noqa: BLE001 - e.g. a result that is not plain data
        return False, (f"the check could not use what your function returned "
                       f"({type(err).__name__}: {_safe_str(err)})")
    finally:
        if main is not None:
            sys.modules["__main__"] = main


# -- hidden checks --------------------------------------------------------------------------
class HiddenChecker(Checker):
    """A :class:`Checker` for hidden checks, with a seed the student cannot predict.

    Draw inputs from ``ck.rng`` (NumPy) or ``ck.torch_generator()``: the grader picks the seed
    per grading run and stores it in ``grades.json``.
    """

    def __init__(self, exercise_id: str, name: str, fn: Any, seed: int):
        super().__init__(exercise_id, name, fn)
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    def torch_generator(self):
        """A ``torch.Generator`` seeded from the run's seed."""
        import torch

        return torch.Generator().manual_seed(self.seed)


@dataclass(frozen=True)
class HiddenSpec:
    """One hidden check of an exercise."""

    exercise_id: str
    name: str
    """The check body's name (shown in the feedback)."""
    body: Callable[[HiddenChecker], None]
    reference: Callable[..., Any]
    """A correct answer, used to plan the argument lists the kernel is given."""


HIDDEN: dict[str, list[HiddenSpec]] = {}
"""Hidden checks loaded by :func:`load_hidden`, by exercise id."""


def hidden(exercise_id: str, *, reference: Callable[..., Any]) -> Callable:
    """Register a hidden check of exercise ``exercise_id`` (a body taking a HiddenChecker)."""

    def decorate(body: Callable[[HiddenChecker], None]) -> Callable[[HiddenChecker], None]:
        HIDDEN.setdefault(exercise_id, []).append(
            HiddenSpec(exercise_id, body.__name__, body, reference))
        return body

    return decorate


def load_hidden(folder: str | Path | None) -> dict[str, list[HiddenSpec]]:
    """Import every ``*.py`` of ``folder`` (hidden checks register themselves); returns HIDDEN."""
    HIDDEN.clear()
    if folder is None or not Path(folder).is_dir():
        return HIDDEN
    for path in sorted(Path(folder).glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"_course_hidden_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return HIDDEN


def hidden_fingerprint(folder: str | Path | None) -> str:
    """A hash of the hidden checks' source, so ``--resume`` regrades when they change."""
    h = hashlib.sha256()
    if folder is not None and Path(folder).is_dir():
        for path in sorted(Path(folder).glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _exercise_name(exercise_id: str) -> str:
    from course_lib.checks import EXERCISES

    return EXERCISES[exercise_id].name


def plan(hidden_dir: str | None, seed: int, exercise_ids: list[str]) -> dict:
    """For each exercise with hidden checks: the argument lists to give the kernel.

    Each hidden body runs with the reference answer as the student's function; the arguments
    of every call are collected (pickled for the kernel) with a fingerprint per call.
    """
    load_hidden(hidden_dir)
    out = {}
    for ex_id in exercise_ids:
        specs = HIDDEN.get(ex_id, [])
        if not specs:
            continue
        calls: list = []
        counts = []
        for hs in specs:
            before = len(calls)

            def collect(*args: Any, _ref=hs.reference, _calls=calls, **kwargs: Any) -> Any:
                _calls.append((copy.deepcopy(args), copy.deepcopy(kwargs)))
                return _ref(*args, **kwargs)

            ck = HiddenChecker(ex_id, _exercise_name(ex_id), collect, seed)
            with _GlobalRngs():
                hs.body(ck)
            counts.append(len(calls) - before)
        out[ex_id] = {"args": pickle.dumps(calls, protocol=4),
                      "fingerprints": [_fingerprint(a, k) for a, k in calls], "counts": counts}
    return out


def judge(exercise_id: str, record: bytes | None, hidden_plan: dict | None, seed: int,
          hidden_dir: str | None, cell_timeout: float = 60) -> list[dict]:
    """Decide every check of one exercise from the kernel's record (None if none was written).

    Returns one ``{"check", "kind", "passed", "message"}`` per check, visible check first.
    """
    from course_lib.checks import EXERCISES

    spec = EXERCISES.get(exercise_id)
    if spec is None:
        return [{"check": "?", "kind": "visible", "passed": False,
                 "message": f"grader error: no check is registered for exercise {exercise_id}"}]
    load_hidden(hidden_dir)
    specs = HIDDEN.get(exercise_id, []) if hidden_plan else []
    results = []
    try:
        rec = load_record(record) if record is not None else None
    except ValueError as err:
        rec, bad = None, str(err)
    else:
        bad = ""
    if rec is None:
        msg = (f"not graded: the results recorded in your notebook are unusable ({bad})" if bad
               else "not graded: its check did not run")
        return [{"check": spec.name, "kind": "visible", "passed": False, "message": msg}] + [
            {"check": hs.name, "kind": "hidden", "passed": False, "message": msg} for hs in specs]
    ok, msg = _run_judged(spec.check, rec.get("visible"), cell_timeout)
    results.append({"check": spec.name, "kind": "visible", "passed": ok, "message": msg})
    run = rec.get("hidden")
    start = 0
    for hs, count in zip(specs, hidden_plan["counts"] if hidden_plan else [], strict=False):
        fps = hidden_plan["fingerprints"][start:start + count]
        if type(run) is dict and type(run.get("calls")) is list:
            part = dict(run, calls=run["calls"][start:start + count])
        else:
            part = {"fn": ("callable",), "calls": [], "end": "missing"}
        start += count

        def body(target: Any, _hs=hs) -> None:
            from course_lib.checks._core import _MISSING

            if target is _MISSING:
                return spec.check(_MISSING)  # the same "no `name` is defined" message
            ck = HiddenChecker(exercise_id, spec.name, target, seed)
            _hs.body(ck)

        ok, msg = _run_judged(body, part, cell_timeout, fps)
        results.append({"check": hs.name, "kind": "hidden", "passed": ok,
                        "message": msg if not ok else "passed"})
    return results


def judge_many(requests: list[dict]) -> dict[str, list[dict]]:
    """:func:`judge` for several exercises of one submission (one fork of the judge server)."""
    return {r["exercise_id"]: judge(**r) for r in requests}


# -- the judge server -------------------------------------------------------------------------
def _serve() -> None:
    """Judge requests from the grader, each in a fresh fork of this preloaded process.

    Protocol on stdin/stdout: the grader sends ``len + pickle((func, kwargs, result_path,
    timeout))``; this process forks, the child writes ``pickle(result)`` to ``result_path``,
    and this process answers one line: ``ok``, ``timeout`` or ``crash <code>``.
    """
    import signal
    import time

    import course_lib.checks  # noqa: F401 - preload: every fork starts from this clean import
    import course_tools.replay as this  # not __main__: hidden checks register there

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        func, kwargs, result_path, timeout = pickle.loads(stdin.read(struct.unpack("<Q", head)[0]))
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                result = getattr(this, func)(**kwargs)
                with open(result_path, "wb") as f:
                    pickle.dump(result, f, protocol=4)
                code = 0
            except BaseException as err:  # noqa: BLE001
                with open(result_path + ".err", "w") as f:
                    f.write(f"{type(err).__name__}: {err}")
            finally:
                os._exit(code)
        deadline = time.monotonic() + timeout
        answer = b"timeout"
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                answer = b"ok" if code == 0 else f"crash {code}".encode()
                break
            time.sleep(0.005)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        stdout.write(answer + b"\n")
        stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
