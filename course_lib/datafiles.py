"""Data shipped with the course: precomputed results and the visible checks' answers.

Everything under ``course_lib/data`` is written by the instructor's tools when the handout is
made (``python -m course_tools data``) and only read here. Files are JSON, so a reader can
open them; arrays and tensors are stored as base64 of their raw little-endian bytes, which
keeps every float exact.

* ``data/precomputed/<key>.json``: what a demo shows while the exercise that drives it is
  unfinished (see :mod:`course_lib.precomputed`);
* ``data/answers/<exercise id>.json``: the expected answer of every visible-check case,
  computed with the instructor's reference implementation (see ``Checker.answer``).

Only plain data is decoded: numbers, strings, lists, tuples, dicts, NumPy arrays, torch
tensors, and dataclasses defined in ``course_lib`` itself.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DATA", "encode", "decode", "dumps", "loads", "save", "load"]

DATA = Path(__file__).resolve().parent / "data"
"""The folder that holds the course's data files."""

_TAG = "__course_data__"


def _array_to_json(arr: np.ndarray) -> dict:
    arr = np.array(arr, order="C", copy=True)  # (ascontiguousarray would make a 0-d array 1-d)
    little = arr.astype(arr.dtype.newbyteorder("<"))
    return {"dtype": little.dtype.str, "shape": list(arr.shape),
            "data": base64.b64encode(little.tobytes()).decode("ascii")}


def _array_from_json(d: dict) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    if dtype.kind not in "biufc":
        raise ValueError(f"course data: unsupported dtype {dtype}")
    raw = base64.b64decode(d["data"])
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(d["shape"])).astype(dtype.newbyteorder("="))


def encode(x: Any) -> Any:
    """``x`` as JSON-ready builtins (raises ``TypeError`` for anything that is not plain data)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        value = float(x)
        return value if np.isfinite(value) else {_TAG: "float", "repr": repr(value)}
    if isinstance(x, np.ndarray):
        return {_TAG: "ndarray", **_array_to_json(x)}
    if type(x).__module__.startswith("torch") and type(x).__name__ in ("Tensor", "Parameter"):
        import torch

        name = str(x.dtype).removeprefix("torch.")
        data = x.detach().cpu()
        if data.dtype == torch.bfloat16:
            data = data.float()
        return {_TAG: "tensor", "torch_dtype": name, **_array_to_json(data.numpy())}
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return {_TAG: "tuple", "items": [encode(v) for v in x]}
    if isinstance(x, list):
        return [encode(v) for v in x]
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x) and _TAG not in x:
            return {k: encode(v) for k, v in x.items()}
        return {_TAG: "dict", "items": [[encode(k), encode(v)] for k, v in x.items()]}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        cls = type(x)
        if not cls.__module__.startswith("course_lib."):
            raise TypeError(f"course data: only course_lib's dataclasses are stored, not {cls.__qualname__}")
        return {_TAG: "dataclass", "class": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(x, f.name)) for f in dataclasses.fields(x) if f.init}}
    raise TypeError(f"course data: cannot store a {type(x).__module__}.{type(x).__qualname__}")


def decode(x: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(x, list):
        return [decode(v) for v in x]
    if not isinstance(x, dict):
        return x
    tag = x.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in x.items()}
    if tag == "float":
        return float(x["repr"])
    if tag == "ndarray":
        return _array_from_json(x)
    if tag == "tensor":
        import torch

        t = torch.from_numpy(_array_from_json(x).copy())
        return t.to(getattr(torch, x["torch_dtype"]))
    if tag == "tuple":
        return tuple(decode(v) for v in x["items"])
    if tag == "dict":
        return {decode(k): decode(v) for k, v in x["items"]}
    if tag == "dataclass":
        module, _, qualname = x["class"].partition(":")
        if not module.startswith("course_lib."):
            raise ValueError(f"course data: refusing to build {x['class']}")
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        if not dataclasses.is_dataclass(cls):
            raise ValueError(f"course data: {x['class']} is not a dataclass")
        return cls(**{k: decode(v) for k, v in x["fields"].items()})
    raise ValueError(f"course data: unknown tag {tag!r}")


def dumps(obj: Any) -> str:
    """JSON text of ``obj`` (sorted keys, one line per top-level entry, so diffs stay readable)."""
    enc = encode(obj)
    if isinstance(enc, dict) and _TAG not in enc:
        body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in enc.items())
        return "{\n" + body + "\n}\n"
    return json.dumps(enc, sort_keys=True) + "\n"


def loads(text: str) -> Any:
    """Inverse of :func:`dumps`."""
    return decode(json.loads(text))


def save(path: str | Path, obj: Any) -> None:
    """Write ``obj`` to ``path`` atomically (instructor tools only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(dumps(obj), encoding="utf-8")
    os.replace(tmp, path)


def load(relative: str | Path) -> Any:
    """Read ``course_lib/data/<relative>``."""
    path = DATA / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"course data file {relative} is missing from {DATA}; the instructor builds it with "
            "`python -m course_tools data`")
    return loads(path.read_text(encoding="utf-8"))
