"""What the kernel says about processes, read from ``/proc`` (Linux).

A reader returns ``None`` (or ``"0"``) instead of raising when the process is gone or ``/proc``
cannot be read. The mount table reader is
:func:`course_tools.grading.jail.mounts` (the standalone wrapper needs it too).
"""

from __future__ import annotations

import os

__all__ = ["proc_stat", "start_time", "pid_namespace"]


def proc_stat(pid: int | str) -> list[str] | None:
    """Fields 3... of /proc/<pid>/stat (index 0 is field 3, the state), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split()


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live process from a later one with its pid)."""
    fields = proc_stat(pid)
    return fields[19] if fields else None


def pid_namespace() -> str:
    """This process's PID namespace (a pid means something only within one)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"

