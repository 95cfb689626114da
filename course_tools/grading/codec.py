"""Reading what came back from the sandbox: every byte of it is hostile data.

Two kinds of files come back from a submission's run, both written by processes the student
controls:

* **records** (``rec-*.pkl``, written by :mod:`course_tools.grading.record`): decoded by
  :func:`load_record`, an unpickler that accepts no classes at all, then :func:`decode`, which
  rebuilds arrays from raw bytes with a whitelisted dtype and enforces a :class:`Budget`
  (total bytes, number of items, nesting depth, integer size, string length and validity);
* the **cell report** (``cells.jsonl``, written by the pytest plugin): parsed line by line by
  :func:`read_cell_report`, which keeps only well-formed lines with the expected types.

Anything malformed raises :class:`BadRecord` (or is skipped, for the cell report); the grader
turns that into the submission's own ``error``, never the run's. Course types (a ``Batch``, a
replay buffer the student fills) come from the registry in ``course_lib.checks._recordable``.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from typing import Any

import numpy as np

from course_tools.grading.record import MAX_DEPTH, MAX_RECORD_BYTES, NP_DTYPES, TORCH_DTYPES, NotData, encode

__all__ = ["BadRecord", "Budget", "Unrecorded", "load_record", "decode", "refill", "fingerprint",
           "read_cell_report", "clean_text"]


class BadRecord(ValueError):
    """A record that cannot be decoded within the limits."""


class Budget:
    """What one record may cost the judge to decode."""

    def __init__(self, max_bytes: int = 4 * MAX_RECORD_BYTES, max_items: int = 2_000_000):
        self.bytes, self.items = max_bytes, max_items

    def take(self, n_bytes: int = 0, n_items: int = 1) -> None:
        self.bytes -= n_bytes
        self.items -= n_items
        if self.bytes < 0 or self.items < 0:
            raise BadRecord("the record is too large to check")


class Unrecorded:
    """Stands in, in the judge, for a result that was not plain data (a model, a generator...)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name}, which the grader cannot compare>"


def clean_text(text: Any, limit: int = 2000) -> str:
    """``text`` as a valid UTF-8 string of at most ``limit`` characters (lone surrogates replaced)."""
    if not isinstance(text, str):
        text = "" if text is None else repr(text) if not isinstance(text, bytes) else text.decode(
            "utf-8", "replace")
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    text = "".join(ch if ch in "\n\t" or ch.isprintable() else "\ufffd" for ch in text[: limit + 1])
    return text if len(text) <= limit else text[:limit] + " [...]"


class _NoClasses(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D102
        raise pickle.UnpicklingError("records may not name classes")


def load_record(data: bytes) -> dict:
    """Parse a record file written in the kernel. Raises :class:`BadRecord` if it is malformed."""
    if not isinstance(data, bytes) or len(data) > MAX_RECORD_BYTES:
        raise BadRecord("the record is too large")
    try:
        rec = _NoClasses(io.BytesIO(data)).load()
    except RecursionError:
        raise BadRecord("the record is nested too deeply") from None
    except Exception as err:  # noqa: BLE001 - anything goes wrong with hostile bytes
        raise BadRecord(f"unreadable record ({type(err).__name__})") from None
    if type(rec) is not dict:
        raise BadRecord("malformed record")
    return rec


def _array(code: Any, shape: Any, data: Any, budget: Budget) -> np.ndarray:
    if type(code) is not str or code[:1] not in "<|" or code[1:] not in NP_DTYPES:
        raise BadRecord("bad array dtype")
    if type(shape) is not tuple or len(shape) > 32 or not all(type(s) is int and 0 <= s < 2**40
                                                               for s in shape):
        raise BadRecord("bad array shape")
    dtype = np.dtype(code)
    if type(data) is not bytes or len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise BadRecord("array data does not match its shape")
    budget.take(len(data))
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def decode(x: Any, budget: Budget | None = None, depth: int = 0) -> Any:
    """Inverse of :func:`course_tools.grading.record.encode`, validating everything."""
    budget = budget if budget is not None else Budget()
    budget.take()
    if depth > MAX_DEPTH + 2:
        raise BadRecord("the record is nested too deeply")
    if x is None or type(x) in (bool, float):
        return x
    if type(x) is int:
        if not -(2**63) <= x < 2**64:
            raise BadRecord("an integer in the record is too large")
        return x
    if type(x) is str:
        budget.take(len(x))
        return clean_text(x, limit=len(x)) if len(x) < 1_000_000 else clean_text(x, 1_000_000)
    if type(x) is bytes:
        budget.take(len(x))
        return x
    if type(x) is not tuple or not x or type(x[0]) is not str:
        raise BadRecord("malformed record")
    tag = x[0]
    try:
        return _decode_tagged(tag, x, budget, depth)
    except BadRecord:
        raise
    except (TypeError, ValueError, IndexError, OverflowError) as err:
        raise BadRecord(f"malformed record ({type(err).__name__})") from None


def _decode_tagged(tag: str, x: tuple, budget: Budget, depth: int) -> Any:
    if tag == "complex":
        return complex(float(x[1]), float(x[2]))
    if tag in ("nd", "npscalar"):
        _, code, shape, data = x
        arr = _array(code, shape, data, budget)
        return arr if tag == "nd" else arr.reshape(())[()]
    if tag == "pt":
        import torch

        _, name, shape, code, data, requires_grad, has_graph = x
        if name not in TORCH_DTYPES:
            raise BadRecord("bad tensor dtype")
        t = torch.from_numpy(_array(code, shape, data, budget).copy()).to(getattr(torch, name))
        if requires_grad is True and t.is_floating_point():
            t.requires_grad_(True)
            if has_graph is True:
                t = t.clone()  # a non-leaf with a grad_fn, like the student's result
        return t
    if tag in ("tuple", "list", "dict") and (len(x) != 2 or type(x[1]) is not list):
        raise BadRecord("malformed record")
    if tag in ("tuple", "list"):
        items = [decode(v, budget, depth + 1) for v in x[1]]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict":
        out = {}
        for kv in x[1]:
            if type(kv) is not tuple or len(kv) != 2:
                raise BadRecord("malformed record")
            key = decode(kv[0], budget, depth + 1)
            try:
                hash(key)
            except TypeError:
                raise BadRecord("a dictionary key in the record is not hashable") from None
            out[key] = decode(kv[1], budget, depth + 1)
        return out
    if tag == "struct":
        from course_lib.checks._recordable import STRUCTS

        if len(x) != 3 or x[1] not in STRUCTS or type(x[2]) is not list:
            raise BadRecord("malformed record")
        struct = STRUCTS[x[1]]
        fields = [decode(v, budget, depth + 1) for v in x[2]]
        if len(fields) != len(struct.fields) or not all(type(f).__module__.startswith("torch")
                                                        for f in fields):
            raise BadRecord("malformed record")
        return struct.cls(*fields)
    if tag == "opaque":
        name = clean_text(x[1], 60) if len(x) > 1 else "object"
        return Unrecorded(name or "object")
    raise BadRecord("unknown tag in the record")


def refill(filled: Any, args: tuple, kwargs: dict, budget: Budget) -> None:
    """Put the recorded contents of output containers into the judge's own empty containers.

    Only containers that are empty in the judge too are filled, so a record can never change an
    input the check built itself.
    """
    from course_lib.checks._recordable import CONTAINERS
    from course_tools.grading.record import empty_containers

    if type(filled) is not list:
        raise BadRecord("malformed record")
    outputs = {key: (tag, c) for key, tag, c in empty_containers(args, kwargs)}
    for item in filled:
        if type(item) is not tuple or len(item) != 3 or type(item[0]) not in (int, str):
            raise BadRecord("malformed record")
        key, tag, dumped = item
        if key not in outputs or outputs[key][0] != tag:
            continue
        value = decode(dumped, budget)
        CONTAINERS[tag].fill(outputs[key][1], value)


def _canonical(x: Any, depth: int = 0) -> Any:
    """Plain data for ``x``; objects that are not data reduce to their type's name."""
    try:
        return encode(x)
    except NotData:
        pass
    if isinstance(x, (tuple, list)) and depth < MAX_DEPTH:
        return (type(x).__name__, [_canonical(v, depth + 1) for v in x])
    if isinstance(x, dict) and depth < MAX_DEPTH:
        return ("dict", [(_canonical(k, depth + 1), _canonical(v, depth + 1)) for k, v in x.items()])
    return ("object", type(x).__module__, type(x).__qualname__)


def fingerprint(args: tuple, kwargs: dict) -> str:
    """A hash of a call's arguments (by value: pickles of tensors are not deterministic)."""
    data = _canonical((args, sorted(kwargs.items())))
    return hashlib.sha256(pickle.dumps(data, protocol=4)).hexdigest()


_OUTCOMES = {"passed", "failed", "skipped"}


def read_cell_report(data: bytes, max_lines: int = 100_000) -> list[dict]:
    """The well-formed lines of the plugin's cell report, each ``{"cell_num", "grader_id",
    "outcome", "error": None | {"ename", "evalue"}}`` with clean, capped strings."""
    records = []
    for line in data.splitlines()[:max_lines]:
        if len(line) > 64 * 1024:
            continue
        try:
            rec = json.loads(line.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            continue
        if type(rec) is not dict:
            continue
        num, gid, outcome, error = (rec.get(k) for k in ("cell_num", "grader_id", "outcome", "error"))
        if type(num) is not int or not 0 <= num < 1_000_000 or outcome not in _OUTCOMES:
            continue
        if gid is not None and (type(gid) is not str or len(gid) > 64):
            continue
        if error is not None:
            if type(error) is not dict:
                continue
            error = {"ename": clean_text(error.get("ename", ""), 80),
                     "evalue": clean_text(error.get("evalue", ""), 500)}
        records.append({"cell_num": num, "grader_id": gid, "outcome": outcome, "error": error})
    return records
