"""The submission files of a class, read as what they are: untrusted names and bytes.

:func:`collect` turns the paths an instructor gives (files, or folders of ``*.ipynb``) into one
:class:`Submission` per file, never following a symbolic link and never blocking:

* a symlink, a FIFO, a device, a folder named ``x.ipynb``, a file that cannot be read, or one
  larger than the cap becomes a submission with a ``problem`` (its row says why, status
  ``invalid``), and its content is never read;
* every file gets a **safe id**: its name without ``.ipynb`` when that is short, valid UTF-8
  and made of letters, digits and ``._-@+``; otherwise a cleaned prefix plus ``~`` and a hash
  of the raw name, so odd or very long names still map back to their file (the row keeps its
  path);
* two files with the same id (``a/jo.ipynb`` and ``b/jo.ipynb``) are both an ``error`` naming
  both files: never a silent overwrite.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Submission", "collect", "safe_id", "display_path", "MAX_SUBMISSION_MB"]

MAX_SUBMISSION_MB = 32
"""Largest submission read by default (a notebook with every output rarely exceeds a few MB)."""
_ID_CHARS = "._-@+"
_SUFFIX = b".ipynb"


@dataclass
class Submission:
    """One submitted file: its id, where it is, its bytes (or why they were not read)."""

    student: str
    path: str
    """The path for people to read (odd bytes shown as escapes)."""
    raw_path: bytes
    data: bytes | None = None
    problem: str = ""
    status: str = ""
    """'' when readable, else 'invalid' (not a readable notebook file) or 'error' (a clash)."""


def display_path(raw: bytes) -> str:
    """``raw`` as text that is always valid UTF-8 (undecodable bytes as ``\\xNN``)."""
    return raw.decode("utf-8", "backslashreplace")


def safe_id(name: bytes) -> str:
    """The student id of a file named ``name`` (see the module docstring)."""
    stem = name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else name
    try:
        text = stem.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if (text and len(text) <= 80 and not text.startswith(".")
            and all(ch.isalnum() or ch in _ID_CHARS for ch in text)):
        return text
    shown = text if text is not None else stem.decode("utf-8", "replace")
    base = "".join(ch if ch.isalnum() or ch in _ID_CHARS else "_" for ch in shown)[:40].strip("._")
    return f"{base or 'student'}~{hashlib.sha256(stem).hexdigest()[:8]}"


def _read(raw: bytes, max_bytes: int) -> tuple[bytes | None, str]:
    flags = (os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_NOCTTY", 0))
    try:
        fd = os.open(raw, flags)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return None, "it is a symbolic link, not a notebook file: submit the file itself"
        return None, f"it could not be read ({errno.errorcode.get(err.errno, err.errno)})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            mode = st.st_mode
            kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
            return None, f"it is {kind}, not a notebook file"
        if st.st_size > max_bytes:
            return None, (f"it is too large ({st.st_size / 2**20:.1f} MB; the limit is "
                          f"{max_bytes / 2**20:g} MB): clear the outputs and submit again")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            return None, f"it is too large (the limit is {max_bytes / 2**20:g} MB)"
        return data, ""
    except OSError as err:
        return None, f"it could not be read ({errno.errorcode.get(err.errno, err.errno)})"
    finally:
        os.close(fd)


def _expand(inputs: list[str | Path | bytes]) -> list[bytes]:
    found: list[bytes] = []
    for item in inputs:
        raw = os.fsencode(item)
        try:
            is_dir = stat.S_ISDIR(os.stat(raw).st_mode)  # the instructor's own argument: followed
        except OSError:
            is_dir = False
        if not is_dir:
            found.append(raw)
            continue
        with os.scandir(raw) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(_SUFFIX))
        found += [os.path.join(raw, name) for name in names]
    return found


def collect(inputs: list[str | Path | bytes], max_mb: float = MAX_SUBMISSION_MB) -> list[Submission]:
    """One :class:`Submission` per file given or found in the folders given (see the module doc)."""
    subs = []
    for raw in _expand(inputs):
        data, problem = _read(raw, int(max_mb * 2**20))
        subs.append(Submission(safe_id(os.path.basename(raw)), display_path(raw), raw, data, problem,
                               "invalid" if problem else ""))
    by_id: dict[str, list[Submission]] = {}
    for sub in subs:
        by_id.setdefault(sub.student, []).append(sub)
    for student, same in by_id.items():
        if len(same) < 2:
            continue
        paths = ", ".join(s.path for s in same)
        for i, sub in enumerate(same):
            if i:
                sub.student = f"{student}~{hashlib.sha256(sub.raw_path).hexdigest()[:8]}"
            sub.data, sub.status = None, "error"
            sub.problem = (f"{len(same)} files have the student id {student!r}: {paths}; rename or "
                           "remove all but one and grade them again")
    return subs
